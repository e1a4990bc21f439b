"""Projected gradient descent, Linf and L2, with a random start and restarts.

Madry, Makelov, Schmidt, Tsipras & Vladu 2018, "Towards Deep Learning Models Resistant to
Adversarial Attacks", sec. 2.1, eq. (2): for the Linf ball S of radius eps,

    x^{t+1} = Pi_{x + S}( x^t + alpha * sign(grad_x L(theta, x^t, y)) ),

started at a uniform random point of the ball (sec. 3, "random restarts"); for L2 the step is the
normalised gradient, alpha * g / ||g||_2, and the projection rescales into the L2 ball. Every
iterate is also projected into [0, 1] and onto the mask. L is the cross-entropy (ascended;
targeted: the cross-entropy to the target, descended). Following the paper the result is the
last iterate. With ``restarts`` > 1 each further restart attacks only the images no earlier
restart fooled, and an image keeps the first restart that fooled it (else the last one).

The default step, alpha = 2.5 * eps / steps, lets the iterates cross the ball from a corner
(the rule of Madry et al.'s ``robustness`` library).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.losses import input_gradient
from advlab.attacks.lp import check_norm, l2_step, linf_bounds, linf_step, random_l2, random_linf
from advlab.core.checks import check_int, check_number


class PGD(Attack):
    """PGD (Madry et al. 2018): ``PGD(model, eps=0.1, alpha=0.01, steps=40)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: radius of the ball (Linf or L2), or a list of radii.
        alpha: step size (default 2.5 * eps / steps).
        steps: gradient steps per restart.
        norm: ``"linf"`` or ``"l2"``.
        random_start: start at a uniform random point of the ball (else at the image).
        restarts: independent random starts; later ones only for images not yet fooled.
        targeted: labels are target classes.
        seed: seed of the random starts (None: torch's global generator).
    """

    name = "pgd"
    paper = "Madry et al. 2018, Towards Deep Learning Models Resistant to Adversarial Attacks"
    norms = ("linf", "l2")
    uses_clean_logits = False

    def __init__(self, model: nn.Module, eps=8 / 255, alpha: float | None = None, steps: int = 10,
                 norm: str = "linf", random_start: bool = True, restarts: int = 1,
                 targeted: bool = False, seed: int | None = None):
        super().__init__(model, eps=eps, targeted=targeted, seed=seed)
        self.alpha = None if alpha is None else check_number(f"{self.name}: alpha", alpha)
        self.steps = check_int(f"{self.name}: steps", steps, 0)
        self.norm = check_norm(norm, self.name)
        self.random_start = bool(random_start)
        self.restarts = check_int(f"{self.name}: restarts", restarts, 1)

    def iterations(self) -> int:
        """Gradient steps per restart at the current eps."""
        return self.steps

    def step_size(self) -> float:
        if self.alpha is not None:
            return self.alpha
        return 2.5 * self.eps / max(self.iterations(), 1)

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        generator = self.generator(images.device)
        best = self.ascend(images, labels, mask, generator)
        if self.restarts == 1:
            return best
        best = best.clone()
        fooled = self.reached(best, labels)
        for _ in range(self.restarts - 1):
            left = (~fooled).nonzero().flatten()
            if len(left) == 0:
                break
            part_mask = None if mask is None else mask[left]
            best[left] = self.ascend(images[left], labels[left], part_mask, generator)
            fooled[left] = self.reached(best[left], labels[left])
        return best

    def ascend(self, images: Tensor, labels: Tensor, mask: Tensor | None,
               generator: torch.Generator | None) -> Tensor:
        """One run of PGD from a (random) start: the last iterate."""
        alpha, eps = self.step_size(), self.eps
        if self.norm == "linf":
            bounds = linf_bounds(images, eps, mask)
            adversarial = random_linf(images, eps, bounds, generator) if self.random_start else images
            for _ in range(self.iterations()):
                adversarial = linf_step(adversarial, self.gradient(adversarial, labels, generator), alpha, bounds)
            return adversarial
        adversarial = random_l2(images, eps, mask, generator) if self.random_start else images
        for _ in range(self.iterations()):
            grad = self.gradient(adversarial, labels, generator)
            adversarial = l2_step(adversarial, images, grad, alpha, eps, mask)
        return adversarial

    def gradient(self, adversarial: Tensor, labels: Tensor, generator: torch.Generator | None) -> Tensor:
        """The ascent direction's source: grad_x of the cross-entropy objective (EOT overrides it)."""
        return input_gradient(self.model, adversarial, labels, self.targeted)[0]
