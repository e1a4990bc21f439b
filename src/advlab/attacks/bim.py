"""The basic iterative method (iterative FGSM).

Kurakin, Goodfellow & Bengio 2016, "Adversarial examples in the physical world", sec. 2.2:

    X_0 = X,   X_{N+1} = Clip_{X, eps}{ X_N + alpha * sign(grad_X J(X_N, y_true)) },

with alpha = 1 (of 255) per step and min(eps + 4, 1.25 eps) steps, eps in 0..255 units: enough
steps to reach the edge of the ball and a few more. It is PGD (Madry et al. 2018) without the
random start, in Linf, so it is written as that: the same steps, started at the image. The
defaults here are the paper's, translated to [0, 1] images: alpha = 1/255 and
steps = ceil(min(255 eps + 4, 1.25 * 255 eps)).

Given fewer steps than the paper's rule (``BIM(model, eps=0.3, steps=10)``), 1/255 per step could never
move a pixel further than steps / 255 while the result is reported at eps; the default step then spreads
the paper's total distance over the given steps (``kurakin_alpha``), and an explicit ``alpha`` whose
steps cannot reach eps (alpha * steps < eps) is refused.
"""

from __future__ import annotations

import math

from torch import nn

from advlab.attacks.pgd import PGD
from advlab.core.errors import AdvlabError


def kurakin_steps(eps: float) -> int:
    """The paper's step count for a budget eps in [0, 1] units (at least 1)."""
    scaled = 255 * eps
    return max(1, math.ceil(min(scaled + 4, 1.25 * scaled)))


def kurakin_alpha(eps: float, steps: int) -> float:
    """The step size that covers the paper's total distance, kurakin_steps(eps) / 255, in `steps` steps:
    1/255 at the paper's own step count; larger for fewer steps, so that BIM still reaches the edge of the
    eps-ball (with 1/255 per step, `steps` steps could never move a pixel further than steps / 255)."""
    return kurakin_steps(eps) / 255 / steps


class BIM(PGD):
    """BIM / I-FGSM (Kurakin et al. 2016): ``BIM(model, eps=0.1)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: Linf budget, or a list of budgets.
        alpha: step size (default: 1/255, the paper's, at the paper's step count; with ``steps`` given,
            ``kurakin_alpha(eps, steps)``, the paper's total distance spread over them). Refused when
            alpha * steps < eps: the iterates could not reach the edge of the ball the result is reported at.
        steps: iterations (default: the paper's rule, for each eps).
        targeted: labels are target classes.
    """

    name = "bim"
    paper = "Kurakin, Goodfellow & Bengio 2016, Adversarial examples in the physical world"
    norms = ("linf",)

    def __init__(self, model: nn.Module, eps=8 / 255, alpha: float | None = None, steps: int | None = None,
                 targeted: bool = False):
        super().__init__(model, eps=eps, alpha=alpha, steps=0 if steps is None else steps, norm="linf",
                         random_start=False, restarts=1, targeted=targeted)
        self.steps = steps
        if self.alpha is not None:
            for value in self.eps_values():
                reach = self.alpha * self.iterations_at(value)
                if reach < value - 1e-12:
                    raise AdvlabError(f"{self.name}: alpha {self.alpha:g} x {self.iterations_at(value)} steps moves "
                                      f"a pixel at most {reach:.4g}, less than eps {value:g}; give more steps, a "
                                      "larger alpha, or leave alpha out (the paper's distance spread over the steps)")

    def iterations_at(self, eps: float) -> int:
        return kurakin_steps(eps) if self.steps is None else self.steps

    def iterations(self) -> int:
        return self.iterations_at(self.eps)

    def step_size(self) -> float:
        if self.alpha is not None:
            return self.alpha
        return 1 / 255 if self.steps is None else kurakin_alpha(self.eps, self.steps)
