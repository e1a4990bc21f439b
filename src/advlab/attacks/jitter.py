"""Jitter: PGD on the distance between a noisy, scaled softmax and the one-hot label.

Schwinn, Raab, Nguyen, Zanca & Eskofier 2021, "Exploring Misclassifications of Robust Neural Networks to
Enhance Adversarial Attacks", sec. 4. Robust models are often over- or under-confident, which flattens the
cross-entropy; the Jitter loss rescales the logits z by their Linf norm, jitters the softmax with Gaussian noise
and measures the Euclidean distance to the one-hot label y:

    z_hat = softmax(alpha * z / ||z||_inf),
    L = || z_hat + N(0, sigma^2 I) - y ||_2,
    L = L / ||x' - x||_2   for an image the model already misclassifies,

alpha = 10 and sigma = 0.1. Dividing the loss of a fooled image by the size of its perturbation makes the
ascent shrink the perturbation while the image stays fooled (the authors' code divides by the L2 norm in the
Linf threat model too, ``jitter_loss(norm=2)``; an image at x' = x is not divided). The loss is ascended by
Linf PGD (x + alpha_pgd * sign(grad), projected onto the ball, [0, 1] and the mask) from a uniform random start;
as the authors' code (AutoAttack's APGD, in which they run this loss, 100 iterations) does, each image returns
its latest misclassified iterate, else its last one -- with the shrinking term the last iterate of a fooled
image can step back across the boundary.

torchattacks' Jitter departs from the paper in three places, followed here by the paper: it takes the mean
squared error (MSE over the classes) instead of the distance, and divides by the Linf norm of the perturbation
instead of the L2 norm -- both change the ascent direction of the fooled images (for the others the sign of the
gradient is the same) -- and it returns the last iterate, so an image fooled on the way and pushed back is
returned unfooled. Its optimiser, PGD with a uniform random start, is kept; its default of 10 steps is the
``steps=10`` of its bench row, while the default here is the paper's 100 iterations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.lp import TINY, batch_view, linf_bounds, linf_step, lp_norm, random_linf
from advlab.core.checks import check_int, check_number


def jitter_loss(logits: Tensor, labels: Tensor, perturbation: Tensor, scale: float, std: float,
                generator: torch.Generator | None) -> Tensor:
    """The Jitter loss per image, (N,): larger is better for the attacker."""
    scaled = F.softmax(scale * logits / logits.abs().amax(1, keepdim=True).clamp(min=TINY), dim=1)
    if std > 0:
        scaled = scaled + std * torch.randn(scaled.shape, generator=generator, device=scaled.device,
                                            dtype=scaled.dtype)
    distance = lp_norm(scaled - F.one_hot(labels, logits.shape[1]).to(scaled.dtype), 2)
    size = lp_norm(perturbation, 2)
    shrink = (logits.argmax(1) != labels) & (size > 0)
    return torch.where(shrink, distance / size.clamp(min=TINY), distance)


class Jitter(Attack):
    """Jitter (Schwinn et al. 2021): ``Jitter(model, eps=8/255, steps=100)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: Linf budget, or a list of budgets.
        alpha: PGD step size (default 2.5 * eps / steps).
        steps: PGD iterations (the paper's 100).
        scale: alpha of the paper, the logits' scale after their division by their Linf norm.
        std: sigma of the Gaussian noise added to the scaled softmax (0: none).
        random_start: start at a uniform random point of the ball (else at the image).
        seed: seed of the random start and the noise (None: torch's global generator).
    """

    name = "jitter"
    paper = "Schwinn et al. 2021, Exploring Misclassifications of Robust Neural Networks to Enhance Adversarial Attacks"
    norm = "linf"
    uses_clean_logits = False

    def __init__(self, model: nn.Module, eps=8 / 255, alpha: float | None = None, steps: int = 100,
                 scale: float = 10.0, std: float = 0.1, random_start: bool = True, seed: int | None = None):
        super().__init__(model, eps=eps, seed=seed)
        self.alpha = None if alpha is None else check_number(f"{self.name}: alpha", alpha, strict=True)
        self.steps = check_int(f"{self.name}: steps", steps, 1)
        self.scale = check_number(f"{self.name}: scale", scale, strict=True)
        self.std = check_number(f"{self.name}: std", std)
        self.random_start = bool(random_start)

    def step_size(self) -> float:
        return 2.5 * self.eps / self.steps if self.alpha is None else self.alpha

    def gradient(self, x: Tensor, images: Tensor, labels: Tensor,
                 generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """(grad of the summed Jitter loss at x, logits at x): one forward and one backward."""
        x = x.detach().requires_grad_(True)
        logits = self.model(x)
        loss = jitter_loss(logits, labels, x - images, self.scale, self.std, generator)
        grad, = torch.autograd.grad(loss.sum(), x)
        return grad, logits.detach()

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        generator = self.generator(images.device)
        bounds = linf_bounds(images, self.eps, mask)
        x = random_linf(images, self.eps, bounds, generator) if self.random_start else images
        kept = x.clone()
        ever = torch.zeros(len(images), dtype=torch.bool, device=images.device)
        for _ in range(self.steps):
            grad, logits = self.gradient(x, images, labels, generator)
            fooled = logits.argmax(1) != labels
            kept, ever = torch.where(batch_view(fooled, x), x, kept), ever | fooled
            x = linf_step(x, grad, self.step_size(), bounds)
        fooled = self.predict(x).argmax(1) != labels
        kept, ever = torch.where(batch_view(fooled, x), x, kept), ever | fooled
        return torch.where(batch_view(ever, x), kept, x)
