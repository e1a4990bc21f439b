"""R+FGSM: a random sign step, then a gradient sign step with what is left of the budget.

Tramèr, Kurakin, Papernot, Goodfellow, Boneh & McDaniel 2018, "Ensemble Adversarial Training: Attacks and
Defenses", sec. 4.1, eq. (7): a single-step attack that first steps off the data point, where the loss surface of
an adversarially trained model is curved (gradient masking), with alpha < eps:

    x' = x + alpha * sign(N(0, I)),
    x_adv = x' + (eps - alpha) * sign(grad_{x'} J(x', y_true)),

alpha = eps / 2 in the paper. Both steps are clipped to [0, 1] and the mask; the total move is at most eps, so the
result is in the ball. Targeted: the gradient step descends the cross-entropy to the target.

``steps`` > 1 is an iterative variant (not in the paper): `steps` sign-gradient steps of ``step_size`` each from
x', projected onto the eps-ball; by default step_size = (eps - alpha) / steps, the paper's single step of
eps - alpha split evenly. torchattacks' RFGSM is that iterative variant with its ``alpha`` for both the random
step and every gradient step (defaults eps 8/255, alpha 2/255, 10 steps): ``RFGSM(eps, alpha=a, steps=s,
step_size=a)`` here. torchattacks' RFGSM with steps=1 is the paper's attack only when alpha = eps / 2 (its single
gradient step is alpha, not eps - alpha).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.losses import input_gradient
from advlab.attacks.lp import linf_bounds, linf_step
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError


class RFGSM(Attack):
    """R+FGSM (Tramèr et al. 2018): ``RFGSM(model, eps=8/255)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: Linf budget, or a list of budgets.
        alpha: size of the random sign step, at most eps (default eps / 2, the paper's).
        steps: gradient sign steps after it (1: the paper's attack; more: an iterative variant, as torchattacks').
        step_size: size of each gradient step (default (eps - alpha) / steps: the paper's eps - alpha in all).
        targeted: labels are target classes.
        seed: seed of the random step's Gaussian draw (None: torch's global generator).
    """

    name = "r-fgsm"
    paper = "Tramèr et al. 2018, Ensemble Adversarial Training: Attacks and Defenses"
    norm = "linf"
    uses_clean_logits = False

    def __init__(self, model: nn.Module, eps=8 / 255, alpha: float | None = None, steps: int = 1,
                 step_size: float | None = None, targeted: bool = False, seed: int | None = None):
        super().__init__(model, eps=eps, targeted=targeted, seed=seed)
        self.alpha = None if alpha is None else check_number(f"{self.name}: alpha", alpha)
        self.steps = check_int(f"{self.name}: steps", steps, 1)
        self.step_size = None if step_size is None else check_number(f"{self.name}: step_size", step_size)
        for value in self.eps_values():
            if self.alpha is not None and self.alpha > value:
                raise AdvlabError(f"{self.name}: alpha {self.alpha:g} is larger than eps {value:g}; the random step "
                                  "alone would leave the ball (the paper takes alpha = eps / 2)")

    def random_size(self) -> float:
        return self.eps / 2 if self.alpha is None else self.alpha

    def gradient_size(self) -> float:
        return (self.eps - self.random_size()) / self.steps if self.step_size is None else self.step_size

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        generator = self.generator(images.device)
        bounds = linf_bounds(images, self.eps, mask)
        noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
        adversarial = torch.clamp(images + self.random_size() * noise.sign(), *bounds)
        for _ in range(self.steps):
            grad = input_gradient(self.model, adversarial, labels, self.targeted)[0]
            adversarial = linf_step(adversarial, grad, self.gradient_size(), bounds)
        return adversarial
