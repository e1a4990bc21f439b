"""EAD, the elastic-net attack: C&W's L2 attack with an L1 penalty, solved by FISTA with shrinkage.

Chen, Sharma, Zhang, Yi & Hsieh 2018, "EAD: Elastic-Net Attacks to Deep Neural Networks via Adversarial Examples"
(AAAI), sec. "EAD", eqs. 6-10 and Algorithm 1. The attack minimises over x in [0, 1]^p

    c * f(x) + ||x - x0||_2^2 + beta * ||x - x0||_1,   f(x) = max(max_{j != t} Z(x)_j - Z(x)_t, -kappa)

(f targeted; untargeted, max(Z(x)_y - max_{j != y} Z(x)_j, -kappa)), with g(x) = c f(x) +
||x - x0||_2^2 the smooth part, by FISTA (Algorithm 1): x(0) = y(0) = x0 and for k = 0, 1, ...

    x(k+1) = S_beta(y(k) - alpha_k grad g(y(k))),
    y(k+1) = x(k+1) + k / (k + 3) * (x(k+1) - x(k)),

S_beta the projected shrinkage-thresholding, per pixel: min(z - beta, 1) where z - x0 > beta, x0 where
|z - x0| <= beta, max(z + beta, 0) where z - x0 < -beta. The step alpha_k is the authors' square-root decay,
lr * (1 - k / steps)^(1/2). c is searched per image as in C&W (cw.py's ``next_constants``), every run from x0.

Among the adversarial iterates x(k) of the whole search each image keeps the one that is best by the decision
rule: "en", the least elastic-net distortion ||x - x0||_2^2 + beta ||x - x0||_1; "l1", the least L1 distortion
(the paper's elastic-net loss c f + distortion adds c f = -c kappa on an adversarial iterate: 0 at the default
kappa = 0). Images that never become adversarial are returned clean. Defaults are the paper's: beta = 1e-3,
kappa = 0, lr = 1e-2, 9 binary steps from c = 1e-3, 1000 iterations.

Peers: torchattacks' EADL1/EADEN keep the last iterate across binary steps (no restart from x0), start the
momentum at 1/4 and stop early; ART's ElasticNet zeroes the whole gradient (its L2 part too) on an image whose
margin already exceeds kappa, so an adversarial iterate is not pulled back towards x0.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.cw import next_constants
from advlab.attacks.losses import margin
from advlab.attacks.lp import batch_view
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError

DECISION_RULES = ("en", "l1")


class EAD(Attack):
    """EAD (Chen et al. 2018): ``EAD(model, beta=1e-3, decision_rule="en")(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        beta: the weight of the L1 term (and the shrinkage threshold).
        c: the initial trade-off constant between distortion and f (per image, then searched).
        kappa: the confidence: how far the margin must exceed zero.
        steps: FISTA iterations per binary-search step.
        binary_steps: runs of the binary search over c.
        lr: the initial step size alpha_0 (then square-root decay).
        decision_rule: which adversarial iterate is returned: "en" (least elastic-net distortion) or "l1".
        targeted: labels are target classes.
    """

    name = "ead"
    paper = "Chen et al. 2018, EAD: Elastic-Net Attacks to Deep Neural Networks via Adversarial Examples"
    norm = None  # minimises the elastic-net distortion itself
    norms = ("l1",)
    minimum_norm = True
    uses_clean_logits = False

    def __init__(self, model: nn.Module, beta: float = 1e-3, c: float = 1e-3, kappa: float = 0.0,
                 steps: int = 1000, binary_steps: int = 9, lr: float = 1e-2, decision_rule: str = "en",
                 targeted: bool = False):
        super().__init__(model, eps=None, targeted=targeted)
        self.beta = check_number(f"{self.name}: beta", beta)
        self.c = check_number(f"{self.name}: c", c, 0.0, strict=True)
        self.kappa = check_number(f"{self.name}: kappa", kappa)
        self.steps = check_int(f"{self.name}: steps", steps, 1)
        self.binary_steps = check_int(f"{self.name}: binary_steps", binary_steps, 1)
        self.lr = check_number(f"{self.name}: lr", lr, 0.0, strict=True)
        if decision_rule not in DECISION_RULES:
            raise AdvlabError(f"{self.name}: unknown decision_rule {decision_rule!r}; valid rules are: "
                              f"{', '.join(DECISION_RULES)}")
        self.decision_rule = decision_rule

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        n = len(images)
        const = torch.full((n,), self.c, dtype=images.dtype, device=images.device)
        lower, upper = torch.zeros_like(const), torch.full_like(const, float("inf"))
        best, best_distortion = images.clone(), torch.full_like(const, float("inf"))
        for _ in range(self.binary_steps):
            found = self.fista(images, labels, mask, const, best, best_distortion)
            const, lower, upper = next_constants(found, const, lower, upper)
        return best

    def fista(self, images: Tensor, labels: Tensor, mask: Tensor | None, const: Tensor, best: Tensor,
              best_distortion: Tensor) -> Tensor:
        """Algorithm 1 at the constants `const`; updates `best`/`best_distortion` in place.

        Returns which images were adversarial at some iterate of this run.
        """
        x, y = images.clone(), images.clone()
        found = torch.zeros(len(images), dtype=torch.bool, device=images.device)
        for k in range(self.steps):
            step = self.lr * (1 - k / self.steps) ** 0.5
            grad = self.smooth_gradient(y, images, labels, const)
            if mask is not None:
                grad = grad * mask
            x_next = shrink(y - step * grad, images, self.beta)
            y, x = x_next + k / (k + 3) * (x_next - x), x_next
            with torch.no_grad():
                success = margin(self.model(x), labels, self.targeted) > self.kappa
                distortion = self.distortion(x - images)
                better = success & (distortion < best_distortion)
                found |= success
                best_distortion.copy_(torch.where(better, distortion, best_distortion))
                best.copy_(torch.where(batch_view(better, best), x, best))
        return found

    def smooth_gradient(self, y: Tensor, images: Tensor, labels: Tensor, const: Tensor) -> Tensor:
        """grad of g(y) = c f(y) + ||y - x0||_2^2 (f written max(kappa - margin, 0): the same gradient)."""
        y = y.detach().requires_grad_(True)
        goal = margin(self.model(y), labels, self.targeted)
        loss = const * torch.clamp(self.kappa - goal, min=0.0) + (y - images).flatten(1).pow(2).sum(1)
        grad, = torch.autograd.grad(loss.sum(), y)
        return grad

    def distortion(self, delta: Tensor) -> Tensor:
        """The decision rule's measure of a perturbation, per image."""
        l1 = delta.flatten(1).abs().sum(1)
        if self.decision_rule == "l1":
            return l1
        return delta.flatten(1).pow(2).sum(1) + self.beta * l1


def shrink(z: Tensor, images: Tensor, beta: float) -> Tensor:
    """S_beta: z moved beta towards the clean image (to it within beta), projected onto [0, 1]."""
    difference = z - images
    shrunk = torch.where(difference > beta, (z - beta).clamp(max=1.0), images)
    return torch.where(difference < -beta, (z + beta).clamp(min=0.0), shrunk)
