"""mixup and CutMix: data-augmentation baselines, NOT adversarial defenses.

Both pair every image x_A of a minibatch with x_B, the image a random permutation of the minibatch puts in its
place, draw lambda ~ Beta(alpha, alpha) once per minibatch (as both authors' codes do) and train on a mixed
image with the correspondingly mixed target, whose cross-entropy is lambda CE(f(x~), y_A) + (1 - lambda)
CE(f(x~), y_B). They regularise; they have no threat model, and are here as baselines for the robust
objectives (mixup is reported to help a little against FGSM; neither is trained against an attack).

mixup -- Zhang, Cisse, Dauphin & Lopez-Paz 2018, "mixup: Beyond Empirical Risk Minimization" (ICLR), eq. (1):

    x~ = lambda x_A + (1 - lambda) x_B,   y~ = lambda y_A + (1 - lambda) y_B.

alpha = 1 (lambda uniform on [0, 1]) is the paper's choice on CIFAR-10 (sec. 3.2) and the default of the
authors' CIFAR code; ImageNet used 0.1-0.4. Small images such as MNIST and the 8x8 digits are closer to
CIFAR's regime, so 1 is the default here.

CutMix -- Yun, Han, Oh, Chun, Choe & Yoo 2019, "CutMix: Regularization Strategy to Train Strong Classifiers
with Localizable Features" (ICCV), eq. (1)-(2):

    x~ = M * x_A + (1 - M) * x_B,   y~ = lambda y_A + (1 - lambda) y_B,

M a binary mask that is 0 in a box B = (r_x, r_y, r_w, r_h), r_x ~ U(0, W), r_y ~ U(0, H) its centre,
r_w = W sqrt(1 - lambda), r_h = H sqrt(1 - lambda) its size (rounded down to whole pixels), clipped to the
image; alpha = 1 (the paper's). As in the authors' code, lambda is then set to the share of pixels that
really come from x_A (1 - |B| / (W H) after clipping), so that the label matches the image; unlike the
authors' CIFAR script (which mixes a minibatch with probability 0.5) every minibatch is mixed, as eq. (1) reads.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.checks import check_number
from advlab.defenses.robust_training import TrainingObjective, TrainingStep

ALPHA = 1.0  # both papers' alpha on CIFAR-sized images


def beta_draw(alpha: float, generator: torch.Generator) -> float:
    """lambda ~ Beta(alpha, alpha), reproducible from `generator` (NumPy's Beta sampler, seeded from it)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def partners(count: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """The row each row is mixed with: a random permutation of the minibatch."""
    return torch.randperm(count, generator=generator, device=generator.device).to(device)


def mixed_loss(logits: Tensor, labels: Tensor, partner: Tensor, weight: float) -> Tensor:
    """lambda CE(logits, y_A) + (1 - lambda) CE(logits, y_B): the cross-entropy against y~."""
    return weight * F.cross_entropy(logits, labels) + (1 - weight) * F.cross_entropy(logits, labels[partner])


def cut_box(height: int, width: int, weight: float, generator: torch.Generator) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the box of eq. (2): centre uniform over the pixels, size H sqrt(1 - lambda)
    by W sqrt(1 - lambda) rounded down, clipped to the image."""
    side = math.sqrt(1 - weight)
    cut_height, cut_width = int(height * side), int(width * side)
    centre = torch.randint(0, height * width, (1,), generator=generator, device=generator.device)
    row, column = divmod(int(centre), width)
    top, left = row - cut_height // 2, column - cut_width // 2
    return (max(top, 0), min(top + cut_height, height), max(left, 0), min(left + cut_width, width))


class Mixup(TrainingObjective):
    """CE(f(x~), y~), x~ and y~ the convex combination of two images and their labels (not a defense).

    Args:
        alpha: lambda ~ Beta(alpha, alpha) (> 0; 1, the paper's CIFAR-10 value, draws lambda uniformly).
    """

    name = "mixup"

    def __init__(self, alpha: float = ALPHA):
        self.alpha = check_number(f"{self.name}: alpha", alpha, strict=True)

    def loss(self, model: nn.Module, images: Tensor, labels: Tensor, generator: torch.Generator) -> TrainingStep:
        weight = beta_draw(self.alpha, generator)
        partner = partners(len(images), generator, images.device)
        mixed = weight * images + (1 - weight) * images[partner]
        logits = model(mixed)
        return TrainingStep(mixed_loss(logits, labels, partner, weight), logits, mixed)

    def options(self) -> dict:
        return {"mixup_alpha": self.alpha}


class CutMix(TrainingObjective):
    """CE(f(x~), y~), x~ = x_A with a box pasted from x_B, y~ weighted by the pixels' shares (not a defense).

    Args:
        alpha: lambda ~ Beta(alpha, alpha) sets the box's area (> 0; the paper's 1).
    """

    name = "cutmix"

    def __init__(self, alpha: float = ALPHA):
        self.alpha = check_number(f"{self.name}: alpha", alpha, strict=True)

    def loss(self, model: nn.Module, images: Tensor, labels: Tensor, generator: torch.Generator) -> TrainingStep:
        drawn = beta_draw(self.alpha, generator)
        partner = partners(len(images), generator, images.device)
        height, width = images.shape[-2:]
        top, bottom, left, right = cut_box(height, width, drawn, generator)
        mixed = images.clone()
        mixed[..., top:bottom, left:right] = images[partner][..., top:bottom, left:right]
        weight = 1 - (bottom - top) * (right - left) / (height * width)  # the share of x_A's pixels
        logits = model(mixed)
        return TrainingStep(mixed_loss(logits, labels, partner, weight), logits, mixed)

    def options(self) -> dict:
        return {"cutmix_alpha": self.alpha}
