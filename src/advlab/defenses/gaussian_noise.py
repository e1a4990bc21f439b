"""Gaussian noise augmentation: the base classifier of randomized smoothing.

Cohen, Rosenfeld & Kolter 2019, "Certified Adversarial Robustness via Randomized Smoothing",
sec. 3.2 (and sec. 4, "training"): the smoothed classifier g(x) = argmax_c P(f(x + e) = c),
e ~ N(0, sigma^2 I), is only as good as the base classifier f is on noisy images, so f is
trained with the cross-entropy on x + e, a fresh e for every image at every step:

    min_theta E_{(x, y), e ~ N(0, sigma^2 I)} [ CE(f(x + e), y) ].

The noisy images are NOT clipped to [0, 1]: PREDICT and CERTIFY query f at x + e unclipped, and
the certified radius sigma * Phi^-1(p_A) (Theorem 1) holds for exactly that Gaussian; a base
classifier trained on clipped noise would be trained on another distribution than the one it
is certified on (Cohen et al.'s code does not clip either).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.checks import check_number
from advlab.defenses.robust_training import TrainingObjective, TrainingStep


def add_noise(images: Tensor, sigma: float, generator: torch.Generator | None) -> Tensor:
    """images + sigma N(0, I), unclipped."""
    noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    return images + sigma * noise


class GaussianNoiseTraining(TrainingObjective):
    """CE(f(x + e), y), e ~ N(0, sigma^2 I).

    Args:
        sigma: the noise's standard deviation (> 0); train with the sigma you will certify with.
    """

    name = "noise"
    evaluation_key = "test_noisy_accuracy"

    def __init__(self, sigma: float):
        self.sigma = check_number(f"{self.name}: sigma", sigma, strict=True)
        self.evaluation_label = f"Gaussian noise (sigma {self.sigma:g})"

    def loss(self, model: nn.Module, images: Tensor, labels: Tensor, generator: torch.Generator) -> TrainingStep:
        noisy = add_noise(images, self.sigma, generator)
        logits = model(noisy)
        return TrainingStep(F.cross_entropy(logits, labels), logits, noisy)

    def evaluation_inputs(self, model: nn.Module, images: Tensor, labels: Tensor, seed: int) -> Tensor:
        generator = torch.Generator(device=images.device).manual_seed(seed)
        return add_noise(images, self.sigma, generator)

    def options(self) -> dict:
        return {"sigma": self.sigma}
