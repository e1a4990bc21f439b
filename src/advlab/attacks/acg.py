"""Auto-Conjugate Gradient (ACG): APGD's step-size schedule with conjugate-gradient search directions, Linf.

Yamamura, Sato, Tateishi, Ishii, Ikeda, Iwamoto, Kitani & Ito 2022, "Diversified Adversarial Attacks based on
Conjugate Gradient Method", sec. 3, Algorithm 1. From x(0) the first step follows the gradient; every later one
follows the conjugate direction s(k):

    y(k-1)  = grad f(x(k)) - grad f(x(k-1))
    beta(k) = <grad f(x(k)), y(k-1)> / <s(k-1), y(k-1)>          (Hestenes-Stiefel)
    s(k)    = grad f(x(k)) + beta(k) s(k-1)
    x(k+1)  = P_S(x(k) + eta(k) sign(s(k)))

where P_S projects onto the eps-ball, the box [0, 1] and the mask. The step size eta starts at 2 eps and is
halved at APGD's checkpoints (Croce & Hein 2020, advlab.attacks.apgd: ``checkpoints``, ``should_halve``); an
image whose step is halved restarts from its best point x_max, with the gradients and the direction it had
there, so the next beta is computed as if the search had stayed at x_max. Unlike APGD there is no momentum.

beta is the Hestenes-Stiefel formula as the authors' code (yamamura-k/ACG, ``getBeta(method="HS")``) and ART's
``get_beta`` evaluate it, and like the authors' code (``use_clamp: True`` in their configs) it is clipped at 0,
so that a negative beta never turns the search back against its previous direction; where <s, y> is 0 (the
gradient did not change), beta is 0 and the step is a plain gradient step. The authors start the first run at
the centre of the feasible box (``initial_point: center``) and every restart at a random point
(``restart_point: random``); ``start="random"`` starts the first run at a random point too (ART's choice).

The objective f is the cross-entropy or the DLR loss (APGD's, targeted versions included). An image that
reached its goal at some iterate returns its first such iterate; the others return their best point x_max.
With ``restarts`` > 1 each further start attacks only the images no earlier one fooled.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.apgd import APGD, checkpoints, should_halve
from advlab.attacks.lp import TINY, batch_view, linf_bounds
from advlab.core.errors import AdvlabError

STARTS = ("center", "random")


def hestenes_stiefel(grad: Tensor, previous_grad: Tensor, previous_direction: Tensor) -> Tensor:
    """beta(k) per image, (N,): <g_k, g_k - g_{k-1}> / <s_{k-1}, g_k - g_{k-1}>, clipped at 0; 0 where the
    denominator vanishes."""
    change = (grad - previous_grad).flatten(1)
    numerator = (grad.flatten(1) * change).sum(1)
    denominator = (previous_direction.flatten(1) * change).sum(1)
    safe = denominator.abs() > TINY
    beta = numerator / torch.where(safe, denominator, torch.ones_like(denominator))
    return torch.where(safe, beta, torch.zeros_like(beta)).clamp(min=0.0)


class ACG(APGD):
    """ACG (Yamamura et al. 2022): ``ACG(model, eps=8/255, steps=100)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: radius of the Linf ball, or a list of radii.
        steps: iterations per restart (N_iter).
        loss: ``"ce"`` (cross-entropy) or ``"dlr"`` (Difference of Logits Ratio; >= 3 classes, targeted >= 4).
        restarts: starts; later ones begin at random points and attack only the images not yet fooled.
        rho: the share of loss-increasing steps below which the step size is halved.
        start: where the first run begins: ``"center"`` of the feasible box (the authors' choice) or a
            ``"random"`` point of the ball's surface (ART's).
        targeted: labels are target classes.
        seed: seed of the random starts (None: torch's global generator).
    """

    name = "acg"
    paper = "Yamamura et al. 2022, Diversified Adversarial Attacks based on Conjugate Gradient Method"
    norms = ("linf",)

    def __init__(self, model: nn.Module, eps=8 / 255, steps: int = 100, loss: str = "ce", restarts: int = 1,
                 rho: float = 0.75, start: str = "center", targeted: bool = False, seed: int | None = None):
        if start not in STARTS:
            raise AdvlabError(f"{self.name}: unknown start {start!r}; valid starts are: {', '.join(STARTS)}")
        super().__init__(model, eps=eps, steps=steps, norm="linf", loss=loss, restarts=restarts, rho=rho,
                         momentum=1.0, targeted=targeted, seed=seed)
        self.start = start
        self.runs = 0

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        self.runs = 0
        return super().perturb(images, labels, mask)

    def starting_point(self, images: Tensor, mask: Tensor | None, bounds, generator) -> Tensor:
        """The centre of the feasible box for the first run (with start="center"), a random point otherwise."""
        first = self.runs == 0
        self.runs += 1
        if first and self.start == "center":
            return (bounds[0] + bounds[1]) / 2
        return self.random_start(images, mask, bounds, generator)

    def ascend(self, images: Tensor, labels: Tensor, truth: Tensor, mask: Tensor | None,
               generator: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor]:
        """One run of Algorithm 1. Returns (points, reached, best loss): the first iterate that reached the
        goal where one did, the best point x_max elsewhere."""
        n = len(images)
        bounds = linf_bounds(images, self.eps, mask)
        x = self.starting_point(images, mask, bounds, generator)
        grad, loss, reached = self.gradient(x, labels, truth, mask)
        first_success, ever = x.clone(), reached.clone()
        previous_grad, direction = grad.clone(), grad.clone()
        best = {"x": x.clone(), "grad": grad.clone(), "previous_grad": grad.clone(), "direction": grad.clone()}
        f_max = loss.clone()
        step_size = torch.full((n,), 2 * self.eps, dtype=images.dtype, device=images.device)
        last_step_size, last_f_max = step_size.clone(), f_max.clone()
        increases = torch.zeros(n, dtype=torch.int64, device=images.device)
        marks, previous_mark = checkpoints(self.steps), 0
        for k in range(self.steps):
            if k > 0:
                beta = hestenes_stiefel(grad, previous_grad, direction)
                direction = grad + batch_view(beta, grad) * direction
            x = self.project(self.move(x, direction, step_size), images, bounds)
            previous_grad = grad
            grad, new_loss, reached = self.gradient(x, labels, truth, mask)
            increases += new_loss > loss
            loss = new_loss
            newly = reached & ~ever
            first_success[newly] = x[newly]
            ever |= reached
            better = loss > f_max
            f_max[better] = loss[better]
            for key, value in (("x", x), ("grad", grad), ("previous_grad", previous_grad), ("direction", direction)):
                best[key][better] = value[better]
            if k + 1 in marks:
                halve = should_halve(increases, k + 1 - previous_mark, self.rho, step_size, last_step_size, f_max,
                                     last_f_max)
                last_step_size, last_f_max = step_size.clone(), f_max.clone()
                step_size = torch.where(halve, step_size / 2, step_size)
                back = batch_view(halve, x)
                x, grad = torch.where(back, best["x"], x), torch.where(back, best["grad"], grad)
                previous_grad = torch.where(back, best["previous_grad"], previous_grad)
                direction = torch.where(back, best["direction"], direction)
                loss = torch.where(halve, f_max, loss)
                increases.zero_()
                previous_mark = k + 1
        return torch.where(batch_view(ever, images), first_success, best["x"]), ever, f_max
