"""Auto-PGD: PGD with momentum and a step size that adapts itself, Linf and L2.

Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", sec. 3, Algorithm 1. From x(0) (a random point of the ball, as in the
authors' code) the first step is plain PGD with eta(0) = 2 eps; every later one adds momentum
(eq. 2, alpha = 0.75):

    z(k+1) = P_S(x(k) + eta(k) * step(grad f(x(k))))
    x(k+1) = P_S(x(k) + alpha (z(k+1) - x(k)) + (1 - alpha) (x(k) - x(k-1)))

where P_S projects onto the eps-ball, the box [0, 1] and the mask, and step() is the sign of the
gradient (Linf) or the gradient over its L2 norm (L2; the authors' follow-up, Croce & Hein 2021,
with projection onto the L2 ball and then the box, as in their code). At the checkpoints
w_j = ceil(p_j N_iter), p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06), an
image halves its step size and restarts from its best point x_max when

1. (eq. 4) the loss increased in fewer than rho (= 0.75) of the steps since the last checkpoint, or
2. its step size and best loss f_max are both unchanged since the last checkpoint.

The objective f is the cross-entropy or the DLR loss (eq. 6; targeted: the targeted DLR of sec. 4
with the true class taken as the clean prediction, since a targeted attack is given only the
targets). An image that reached its goal at some iterate returns its first such iterate; the
others return their best point x_max. With ``restarts`` > 1 each further random start attacks only
the images no earlier one fooled, and keeps the point of highest loss for the rest.

AutoAttack's APGD-T (their ``APGDAttack_targeted``) uses the target only to steer the loss: an iterate
counts as soon as it leaves the true class, whichever class it lands in. ``misclassify=True`` does that
(the true class is the clean prediction), so an image pushed into a third class on the way to its target
is kept, not traded for the point of highest targeted loss.

For a randomised model ``eot_draws`` > 1 averages the loss, and so its gradient, over that many forward
passes at every iterate (Expectation over Transformation, Athalye et al. 2018, sec. 4.3, as AutoAttack's
rand version does with 20 draws); an iterate's success is judged on the mean of the draws' logits.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.losses import cross_entropy_objective, dlr_objective
from advlab.attacks.lp import batch_view, check_norm, linf_bounds, normalize_l2, project_l2, unit_noise
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError

LOSSES = ("ce", "dlr")
FIRST_CHECKPOINT, CHECKPOINT_SHRINK, CHECKPOINT_LEAST = 0.22, 0.03, 0.06


def checkpoints(steps: int) -> list[int]:
    """The iterations w_j = ceil(p_j * steps) at which the step size is reconsidered (w_0 = 0 excluded)."""
    fractions, before, current = [], 0.0, FIRST_CHECKPOINT
    while current <= 1.0:
        fractions.append(current)
        before, current = current, current + max(current - before - CHECKPOINT_SHRINK, CHECKPOINT_LEAST)
    points = sorted({math.ceil(round(p * steps, 9)) for p in fractions})
    return [w for w in points if 0 < w <= steps]


def should_halve(increases: Tensor, since: int, rho: float, step_size: Tensor, last_step_size: Tensor,
                 f_max: Tensor, last_f_max: Tensor) -> Tensor:
    """Per image, at a checkpoint: halve the step size (and restart from x_max)? Condition 1 (eq. 4): the loss
    increased in fewer than rho of the `since` steps since the last checkpoint; condition 2: the step size and
    the best loss are both unchanged since then."""
    oscillating = increases < rho * since
    stalled = (step_size == last_step_size) & (f_max <= last_f_max)
    return oscillating | stalled


class APGD(Attack):
    """APGD (Croce & Hein 2020): ``APGD(model, eps=0.1, steps=100, loss="dlr")(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: radius of the ball (Linf or L2), or a list of radii.
        steps: iterations per restart (N_iter).
        norm: ``"linf"`` or ``"l2"``.
        loss: ``"ce"`` (cross-entropy) or ``"dlr"`` (Difference of Logits Ratio; >= 3 classes,
            targeted >= 4).
        restarts: random starts; later ones only for images not yet fooled.
        rho: the share of loss-increasing steps below which the step size is halved.
        momentum: the weight alpha of the new step against the previous one.
        targeted: labels are target classes.
        misclassify: targeted only: an iterate succeeds when it leaves the true class (the clean
            prediction), not only when it reaches the target (AutoAttack's APGD-T).
        eot_draws: forward passes whose losses (and gradients) are averaged at every iterate, for a
            randomised model (1: a deterministic model).
        seed: seed of the random starts (None: torch's global generator).
    """

    name = "apgd"
    paper = ("Croce & Hein 2020, Reliable evaluation of adversarial robustness with an ensemble of diverse "
             "parameter-free attacks")
    norms = ("linf", "l2")

    def __init__(self, model: nn.Module, eps=8 / 255, steps: int = 100, norm: str = "linf", loss: str = "ce",
                 restarts: int = 1, rho: float = 0.75, momentum: float = 0.75, targeted: bool = False,
                 misclassify: bool = False, eot_draws: int = 1, seed: int | None = None):
        super().__init__(model, eps=eps, targeted=targeted, seed=seed)
        self.steps = check_int(f"{self.name}: steps", steps, 1)
        self.norm = check_norm(norm, self.name)
        if loss not in LOSSES:
            raise AdvlabError(f"{self.name}: unknown loss {loss!r}; valid losses are: {', '.join(LOSSES)}")
        self.loss = loss
        self.restarts = check_int(f"{self.name}: restarts", restarts, 1)
        self.rho = check_number(f"{self.name}: rho", rho)
        self.momentum = check_number(f"{self.name}: momentum", momentum)
        if self.rho > 1 or self.momentum > 1:
            raise AdvlabError(f"{self.name}: rho and momentum must lie in [0, 1], got {rho} and {momentum}")
        if misclassify and not targeted:
            raise AdvlabError(f"{self.name}: misclassify=True is for a targeted attack (untargeted success is "
                              "already leaving the true class)")
        self.misclassify = bool(misclassify)
        self.eot_draws = check_int(f"{self.name}: eot_draws", eot_draws, 1)

    # ------------------------------------------------------------------ objective

    def objective(self, logits: Tensor, labels: Tensor, truth: Tensor) -> Tensor:
        """Per-image loss to ascend; `labels` are the targets when targeted, `truth` the clean predictions."""
        if self.loss == "ce":
            return cross_entropy_objective(logits, labels, self.targeted)
        if self.targeted:
            return dlr_objective(logits, truth, targeted=True, targets=labels)
        return dlr_objective(logits, labels)

    def gradient(self, x: Tensor, labels: Tensor, truth: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """(gradient, loss, success) at x, from one forward and one backward per EOT draw."""
        x = x.detach().requires_grad_(True)
        grad, loss, logits = torch.zeros_like(x), torch.zeros(len(x), dtype=x.dtype, device=x.device), 0.0
        for _ in range(self.eot_draws):
            draw = self.model(x)
            draw_loss = self.objective(draw, labels, truth)
            grad += torch.autograd.grad(draw_loss.sum(), x)[0]
            loss, logits = loss + draw_loss.detach(), logits + draw.detach()
        grad, loss, logits = grad / self.eot_draws, loss / self.eot_draws, logits / self.eot_draws
        if mask is not None:
            grad = grad * mask
        return grad, loss, self.succeeded(logits, labels, truth)

    def succeeded(self, logits: Tensor, labels: Tensor, truth: Tensor) -> Tensor:
        """Per image: the goal reached, or with `misclassify` the true class left."""
        return logits.argmax(1) != truth if self.misclassify else self.goal(logits, labels)

    def check_classes(self) -> None:
        classes = self.clean_logits.shape[1]
        least = 4 if self.targeted else 3
        if self.loss == "dlr" and classes < least:
            kind = "targeted DLR" if self.targeted else "DLR"
            raise AdvlabError(f"{self.name}: the {kind} loss needs at least {least} classes, the model has "
                              f"{classes}; use loss='ce'")

    # ------------------------------------------------------------------ geometry

    def project(self, x: Tensor, images: Tensor, bounds: tuple[Tensor, Tensor] | None) -> Tensor:
        """Onto the eps-ball, [0, 1] and the mask (the mask: zero gradients and starts keep it for L2)."""
        if self.norm == "linf":
            return torch.clamp(x, *bounds)
        return (images + project_l2(x - images, self.eps)).clamp(0.0, 1.0)

    def move(self, x: Tensor, grad: Tensor, step_size: Tensor) -> Tensor:
        """x + eta * sign(grad) (Linf) or x + eta * grad / ||grad||_2 (L2), before projection."""
        direction = grad.sign() if self.norm == "linf" else normalize_l2(grad)
        return x + batch_view(step_size, x) * direction

    def random_start(self, images: Tensor, mask: Tensor | None, bounds, generator) -> Tensor:
        """A random point on the sphere of radius eps (the authors' start), projected."""
        return self.project(images + self.eps * unit_noise(images, self.norm, mask, generator), images, bounds)

    # ------------------------------------------------------------------ the attack

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        self.check_classes()
        truth = self.clean_logits.argmax(1)
        generator = self.generator(images.device)
        result, fooled, best_loss = self.ascend(images, labels, truth, mask, generator)
        for _ in range(self.restarts - 1):
            left = (~fooled).nonzero().flatten()
            if len(left) == 0:
                break
            part_mask = None if mask is None else mask[left]
            found, reached, loss = self.ascend(images[left], labels[left], truth[left], part_mask, generator)
            take = reached | (loss > best_loss[left])
            result[left[take]] = found[take]
            best_loss[left] = torch.maximum(best_loss[left], loss)
            fooled[left] = reached
        return result

    def ascend(self, images: Tensor, labels: Tensor, truth: Tensor, mask: Tensor | None,
               generator: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor]:
        """One run of Algorithm 1. Returns (points, reached, best loss): the first iterate that
        reached the goal where one did, the best point x_max elsewhere."""
        n, eps = len(images), self.eps
        bounds = linf_bounds(images, eps, mask) if self.norm == "linf" else None
        x = self.random_start(images, mask, bounds, generator)
        grad, loss, reached = self.gradient(x, labels, truth, mask)
        first_success, ever = x.clone(), reached.clone()
        x_max, grad_max, f_max = x.clone(), grad.clone(), loss.clone()
        step_size = torch.full((n,), 2 * eps, dtype=images.dtype, device=images.device)
        last_step_size, last_f_max = step_size.clone(), f_max.clone()
        increases = torch.zeros(n, dtype=torch.int64, device=images.device)
        marks, previous_mark = checkpoints(self.steps), 0
        x_before = x
        for k in range(self.steps):
            z = self.project(self.move(x, grad, step_size), images, bounds)
            if k == 0:
                x_next = z
            else:
                x_next = self.project(x + self.momentum * (z - x) + (1 - self.momentum) * (x - x_before),
                                      images, bounds)
            x_before, x = x, x_next
            grad, new_loss, reached = self.gradient(x, labels, truth, mask)
            increases += new_loss > loss
            loss = new_loss
            newly = reached & ~ever
            first_success[newly] = x[newly]
            ever |= reached
            better = loss > f_max
            x_max[better], grad_max[better], f_max[better] = x[better], grad[better], loss[better]
            if k + 1 in marks:
                halve = should_halve(increases, k + 1 - previous_mark, self.rho, step_size, last_step_size, f_max,
                                     last_f_max)
                last_step_size, last_f_max = step_size.clone(), f_max.clone()
                step_size = torch.where(halve, step_size / 2, step_size)
                x[halve], grad[halve], loss[halve] = x_max[halve], grad_max[halve], f_max[halve]
                increases.zero_()
                previous_mark = k + 1
        return torch.where(batch_view(ever, images), first_success, x_max), ever, f_max
