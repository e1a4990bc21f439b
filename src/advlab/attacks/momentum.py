"""The iterate the momentum family shares (MI, NI, SI-NI, VMI, VNI, DI, TI-FGSM): Linf sign steps on an
accumulated, normalised gradient.

Dong, Liao, Pang, Su, Zhu, Hu & Li 2018, "Boosting Adversarial Attacks with Momentum", Algorithm 1,
eqs. (6)-(7): starting at x_0 = x with g_0 = 0, for t = 0 .. T - 1

    g_{t+1} = mu * g_t + grad_x J(x_t, y) / ||grad_x J(x_t, y)||_1,
    x_{t+1} = Clip_{x, eps}( x_t + alpha * sign(g_{t+1}) ),

with alpha = eps / T (T = 10) and mu = 1 (the norm: see "The normalisation" below). The family's members
change one part of this loop each, and ``MomentumIterative`` gives each part a hook:

* ``look_ahead`` — the point the gradient is taken at (NI, VNI: x_t + alpha * mu * g_t, Nesterov);
* ``gradient`` — what is normalised and accumulated (SI: the mean over scaled copies; VMI, VNI: the
  gradient plus the previous step's variance v_t; DI: the gradient through a random resize-and-pad);
* ``smooth`` — a filter on that gradient before the normalisation (TI: a Gaussian convolution).

J is the cross-entropy (targeted: minus the cross-entropy to the target, so every member ascends). The
result is the last iterate. Every iterate is projected onto the feasible box: the eps-ball, [0, 1] and,
with a mask, the pixels that may change; the gradient is zeroed outside the mask before it is normalised,
so the momentum (and any look-ahead along it) lives on the free pixels only.

The normalisation. The papers write grad / ||grad||_1; the authors' code (MI, NI, VT and TI alike) divides by
the mean absolute value, ||grad||_1 / d for d pixels, and so does torchattacks. advlab follows the code: for
MI, DI, TI and VMI the two give the same iterates (g_t differs by the constant factor d, and only its sign is
used), but the Nesterov look-ahead x_t + alpha * mu * g_t of NI, SI-NI and VNI is not scale-free. With the L1
norm every entry of g_t is about t / d, so the look-ahead moves a pixel by about alpha * t / d: nothing at all
on ImageNet's d = 268,203; on 8x8 digits NI-FGSM then changes 3 % of MI-FGSM's pixels and none of its
predictions (measured on the tests' SmallCNN at eps 0.1, 360 images). With the mean, the look-ahead moves
pixels by about alpha per step of momentum, the jump ahead the NI paper describes. With a mask the mean is
over the free pixels (so the look-ahead keeps its size on a small mask). ART's MomentumIterativeMethod uses
the L1 norm; for MI that gives the same images.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.losses import input_gradient
from advlab.attacks.lp import TINY, batch_view, linf_bounds, linf_step, lp_norm
from advlab.core.checks import check_int, check_number

PAPER_EPS = 16 / 255  # the budget of the MI, NI, VT and TI papers' ImageNet experiments
PAPER_STEPS = 10  # T of the same experiments; alpha = eps / T


def normalize_mean_abs(x: Tensor, mask: Tensor | None) -> Tensor:
    """Each sample divided by its mean absolute value over the free pixels (all without a mask; zero stays
    zero): the authors' ``grad / reduce_mean(abs(grad))``, ||x||_1 / d."""
    free = x[0].numel() if mask is None else batch_view(mask.flatten(1).sum(1).clamp(min=1), x)
    return x * free / batch_view(lp_norm(x, 1.0) + TINY, x)


class MomentumIterative(Attack):
    """MI-FGSM's loop with hooks for the family (see the module docstring); MIFGSM is this with no hook changed.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: Linf budget, or a list of budgets.
        alpha: step size (default eps / steps, the papers' choice: T steps reach the edge of the ball).
        steps: iterations T.
        decay: momentum decay factor mu (0: no momentum).
        targeted: labels are target classes.
        seed: seed of the attack's random draws, where it makes any (None: torch's global generator).
    """

    name = "momentum-iterative"
    norm = "linf"
    uses_clean_logits = False

    def __init__(self, model: nn.Module, eps=PAPER_EPS, alpha: float | None = None, steps: int = PAPER_STEPS,
                 decay: float = 1.0, targeted: bool = False, seed: int | None = None):
        super().__init__(model, eps=eps, targeted=targeted, seed=seed)
        self.alpha = None if alpha is None else check_number(f"{self.name}: alpha", alpha, strict=True)
        self.steps = check_int(f"{self.name}: steps", steps, 1)
        self.decay = check_number(f"{self.name}: decay", decay)

    def step_size(self) -> float:
        return self.eps / self.steps if self.alpha is None else self.alpha

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        generator = self.generator(images.device)
        bounds, alpha = linf_bounds(images, self.eps, mask), self.step_size()
        adversarial, momentum = images, torch.zeros_like(images)
        self.begin(images)
        for _ in range(self.steps):
            point = self.look_ahead(adversarial, momentum, alpha)
            grad = self.smooth(self.gradient(point, adversarial, labels, mask, generator))
            if mask is not None:
                grad = grad * mask
            momentum = self.decay * momentum + normalize_mean_abs(grad, mask)
            adversarial = linf_step(adversarial, momentum, alpha, bounds)
        return adversarial

    # ------------------------------------------------------------------ the hooks

    def begin(self, images: Tensor) -> None:
        """Reset any state kept between steps (VMI's variance)."""

    def look_ahead(self, adversarial: Tensor, momentum: Tensor, alpha: float) -> Tensor:
        """Where the gradient is taken: at the iterate itself."""
        return adversarial

    def gradient(self, point: Tensor, adversarial: Tensor, labels: Tensor, mask: Tensor | None,
                 generator: torch.Generator | None) -> Tensor:
        """What is normalised and accumulated: grad J at `point`."""
        return self.loss_gradient(point, labels, generator)

    def smooth(self, grad: Tensor) -> Tensor:
        """A filter on the gradient before its normalisation: none."""
        return grad

    def loss_gradient(self, point: Tensor, labels: Tensor, generator: torch.Generator | None) -> Tensor:
        """grad_x J(x, y) at `point` (J ascended: cross-entropy, or minus the cross-entropy to the target)."""
        return input_gradient(self.model, point, labels, self.targeted)[0]


class NesterovLookAhead:
    """Mixin: the gradient at x_t + alpha * mu * g_t (Lin et al. 2020, eq. 8)."""

    def look_ahead(self, adversarial: Tensor, momentum: Tensor, alpha: float) -> Tensor:
        return adversarial + alpha * self.decay * momentum
