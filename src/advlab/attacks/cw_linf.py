"""The Carlini & Wagner Linf attack: a penalty on the pixels above tau, and tau shrunk while the attack succeeds.

Carlini & Wagner 2017, "Towards Evaluating the Robustness of Neural Networks", sec. VI.C ("Our L-infinity
attack"). The Linf norm's gradient moves one pixel at a time, so the attack minimises instead

    c * f(x') + sum_i max(|x'_i - x_i| - tau, 0),      x' = (tanh(w) + 1) / 2,

with Adam (f = max(kappa - margin, 0), the f_6 of cw.py), which penalises only the pixels above tau. After a
success, tau becomes min(tau, ||x' - x||_inf) * 0.9 and the attack runs again from its last solution ("warm
start"); it stops when a run fails (the last success is the result; the clean image when the first run, at
tau = 1, fails) or when tau falls below 1/256 (one grey level of an 8-bit image).

One run is the authors' ``doit`` (``doubling_search`` in cw.py): c starts at the value of the last success
(the first run at ``c``) and doubles after every ``steps`` Adam iterations without success, up to ``largest_c``;
as in the authors' code an iterate succeeds when its total loss is below 1e-4 c -- it is adversarial and its
pixels exceed tau by 1e-4 c in all -- and here it must also be adversarial (margin > kappa) outright.

Defaults are the authors' (li_attack.py): Adam at lr 5e-3, 1000 iterations per value of c, c from 1e-5 doubling
up to 20, tau shrunk by 0.9. ART's CarliniLInfMethod is a simplified variant: it restarts every c from the
clean image (no warm start), runs every c from ``initial_const`` to ``largest_const`` at each tau keeping the
smallest Linf, stops Adam when the loss is below 0.001, and stops shrinking tau after a tau that brought no
improvement.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.cw import doubling_search
from advlab.attacks.losses import margin
from advlab.attacks.lp import batch_view
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError

SMALLEST_TAU = 1.0 / 256  # the attack stops when tau falls below one grey level of an 8-bit image
PENALTY_TOLERANCE = 1e-4  # a run succeeds when the loss is below this share of c (the authors' test)


class CWLinf(Attack):
    """C&W Linf (Carlini & Wagner 2017): ``CWLinf(model, c=1e-5, steps=1000)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        c: the first run's trade-off constant (then each run starts from the last success's c).
        kappa: the confidence: how far the margin must exceed zero.
        steps: Adam iterations at one value of c before c doubles.
        lr: Adam's learning rate on w (tanh space).
        largest_c: a run fails when c reaches this value.
        decrease: tau shrinks by this factor after every success.
        targeted: labels are target classes.
    """

    name = "cw-linf"
    paper = "Carlini & Wagner 2017, Towards Evaluating the Robustness of Neural Networks"
    norm = None  # minimises the Linf norm itself
    norms = ("linf",)
    minimum_norm = True
    uses_clean_logits = False

    def __init__(self, model: nn.Module, c: float = 1e-5, kappa: float = 0.0, steps: int = 1000, lr: float = 5e-3,
                 largest_c: float = 20.0, decrease: float = 0.9, targeted: bool = False):
        super().__init__(model, eps=None, targeted=targeted)
        self.c = check_number(f"{self.name}: c", c, 0.0, strict=True)
        self.kappa = check_number(f"{self.name}: kappa", kappa)
        self.steps = check_int(f"{self.name}: steps", steps, 1)
        self.lr = check_number(f"{self.name}: lr", lr, 0.0, strict=True)
        self.largest_c = check_number(f"{self.name}: largest_c", largest_c, 0.0, strict=True)
        self.decrease = check_number(f"{self.name}: decrease", decrease, 0.0, strict=True)
        if self.decrease >= 1:
            raise AdvlabError(f"{self.name}: decrease must lie in (0, 1) for tau to shrink, got {decrease!r}")
        if self.largest_c <= self.c:
            raise AdvlabError(f"{self.name}: largest_c ({largest_c:g}) must exceed c ({c:g}), or no run can start")

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        n = len(images)
        const = torch.full((n,), self.c, dtype=images.dtype, device=images.device)
        tau = torch.ones_like(const)
        best = images.clone()
        active = torch.ones(n, dtype=torch.bool, device=images.device)
        while active.any():
            rows = active.nonzero()[:, 0]
            solved, solutions, found_c = doubling_search(
                self.objective(images[rows], labels[rows], tau[rows]), images[rows], best[rows],
                None if mask is None else mask[rows], const[rows], self.steps, self.lr, self.largest_c)
            done = rows[solved]
            best[done], const[done] = solutions[solved], found_c[solved]
            reached = (solutions[solved] - images[done]).flatten(1).abs().max(1).values
            tau[done] = torch.minimum(tau[done], reached) * self.decrease
            active[rows[~solved]] = False
            active &= tau > SMALLEST_TAU
        return best

    def objective(self, images: Tensor, labels: Tensor, tau: Tensor):
        """c f + the penalty above tau, and the authors' success test, for `doubling_search`."""

        def loss_and_goal(adversarial: Tensor, rows: Tensor, const: Tensor) -> tuple[Tensor, Tensor]:
            goal = margin(self.model(adversarial), labels[rows], self.targeted)
            above = (adversarial - images[rows]).abs() - batch_view(tau[rows], adversarial)
            loss = const * torch.clamp(self.kappa - goal, min=0.0) + above.clamp(min=0.0).flatten(1).sum(1)
            return loss, (goal > self.kappa) & (loss < PENALTY_TOLERANCE * const)

        return loss_and_goal
