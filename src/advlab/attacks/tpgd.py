"""TPGD: PGD on the KL divergence from the clean prediction (TRADES' inner maximisation), no labels needed.

Zhang, Yu, Jiao, Xing, El Ghaoui & Jordan 2019, "Theoretically Principled Trade-off between Robustness and
Accuracy", sec. 4, Algorithm 1, lines 4-7: from x' = x + 0.001 N(0, I),

    x' <- Pi_{B(x, eps)}( x' + alpha * sign( grad_{x'} KL( f(x) || f(x') ) ) ),   `steps` times,

f the softmax output, f(x) held fixed (the clean pass the base class makes). The start is projected onto the
ball, [0, 1] and the mask like every iterate. The attack never reads the labels: it pushes the prediction away
from the model's own clean one, so ``TPGD(model)(images)`` works without them (given, they are only checked).

torchattacks' TPGD is the same loop (its KLDivLoss(reduction="sum") of log f(x') against f(x) is this KL); its
defaults, eps 8/255, alpha 2/255 and 10 steps, are advlab's (alpha = 2.5 eps / steps gives 2/255 there). The
TRADES defense (advlab.defenses.trades) runs this same inner loop, ``kl_ascent``, at every training step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.lp import linf_bounds, linf_step
from advlab.core.checks import check_int, check_number

START_SCALE = 0.001  # Algorithm 1: x' = x + 0.001 N(0, I)


def kl_divergence(clean_logits: Tensor, adversarial_logits: Tensor) -> Tensor:
    """KL(softmax(clean) || softmax(adversarial)) per row, (N,); >= 0, and 0 when the two agree."""
    clean_log_probs = F.log_softmax(clean_logits, dim=1)
    adversarial_log_probs = F.log_softmax(adversarial_logits, dim=1)
    return (clean_log_probs.exp() * (clean_log_probs - adversarial_log_probs)).sum(1)


def kl_ascent(model: nn.Module, images: Tensor, clean_logits: Tensor, eps: float, alpha: float, steps: int,
              generator: torch.Generator | None, mask: Tensor | None = None) -> Tensor:
    """Algorithm 1, lines 4-7: x' of (locally) largest KL(f(x) || f(x')) in the Linf ball, detached.

    `clean_logits` are f(x)'s logits (held fixed); the model's mode is the caller's (eval mode in both users).
    """
    images, clean_logits = images.detach(), clean_logits.detach()
    bounds = linf_bounds(images, eps, mask)
    noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    adversarial = torch.clamp(images + START_SCALE * noise, *bounds)
    for _ in range(steps):
        adversarial.requires_grad_(True)
        divergence = kl_divergence(clean_logits, model(adversarial)).sum()
        grad, = torch.autograd.grad(divergence, adversarial)
        adversarial = linf_step(adversarial.detach(), grad, alpha, bounds)
    return adversarial.detach()


class TPGD(Attack):
    """TPGD (Zhang et al. 2019): ``TPGD(model, eps=8/255, alpha=2/255, steps=10)(images)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: Linf budget, or a list of budgets.
        alpha: step size (default 2.5 * eps / steps: 2/255 at eps 8/255 and 10 steps).
        steps: sign-gradient steps on KL(f(x) || f(x')).
        seed: seed of the 0.001 N(0, I) start (None: torch's global generator).
    """

    name = "tpgd"
    paper = "Zhang et al. 2019, Theoretically Principled Trade-off between Robustness and Accuracy (TRADES)"
    norm = "linf"

    def __init__(self, model: nn.Module, eps=8 / 255, alpha: float | None = None, steps: int = 10,
                 seed: int | None = None):
        super().__init__(model, eps=eps, seed=seed)
        self.alpha = None if alpha is None else check_number(f"{self.name}: alpha", alpha, strict=True)
        self.steps = check_int(f"{self.name}: steps", steps, 1)

    def __call__(self, images: Tensor, labels: Tensor | None = None, mask: Tensor | None = None):
        """Adversarial images (a list for a list of eps); labels may be left out, the attack does not use them."""
        if labels is None and isinstance(images, Tensor) and images.ndim >= 1:
            labels = torch.zeros(len(images), dtype=torch.int64, device=images.device)
        return super().__call__(images, labels, mask)

    def step_size(self) -> float:
        return 2.5 * self.eps / self.steps if self.alpha is None else self.alpha

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        return kl_ascent(self.model, images, self.clean_logits, self.eps, self.step_size(), self.steps,
                         self.generator(images.device), mask)
