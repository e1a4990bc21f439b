"""A digit judge for the slow GAN tests: a small CNN that is confident on digits and not on digit-less noise.

Trained on real digits with a uniform target on pixel-scrambled ones (outlier exposure, Hendrycks et al. 2019),
so that being confident means "has a digit's shape": without it, uniform noise was classified with p >= 0.9
anywhere from 10% to 65% of the time on 8x8 digits, depending on the classifier's seed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def scrambled(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image's pixels in a random order: a digit's intensities without its shape."""
    flat = images.flatten(1)
    order = torch.argsort(torch.rand(flat.shape, generator=generator), dim=1)
    return flat.gather(1, order).view_as(images)


def train_judge(images: torch.Tensor, labels: torch.Tensor, train_rows: int, seed: int = 0,
                epochs: int = 20) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """(CNN in eval mode, held-out images, held-out labels): the first `train_rows` of a seeded permutation
    train it, the rest are held out."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(images), generator=generator)
    train, test = order[:train_rows], order[train_rows:]
    size = images.shape[-1]
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * (size // 4) ** 2, 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(epochs):
        shuffled = train[torch.randperm(len(train), generator=generator)]
        for start in range(0, len(shuffled), 100):
            batch = shuffled[start:start + 100]
            outliers = net(scrambled(images[batch], generator))
            loss = F.cross_entropy(net(images[batch]), labels[batch]) \
                - 0.5 * F.log_softmax(outliers, dim=1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return net.eval(), images[test], labels[test]


@torch.no_grad()
def judge(net: nn.Module, images: torch.Tensor, confidence: float) -> tuple[float, torch.Tensor]:
    """(fraction with max softmax >= confidence, predicted class of every image)."""
    top, predicted = F.softmax(net(images), dim=1).max(dim=1)
    return (top >= confidence).float().mean().item(), predicted


CONFIDENCE = 0.9  # "confident": a maximum softmax probability of at least this
MIN_GAN_CONFIDENT, MAX_NOISE_CONFIDENT, MIN_MARGIN, MIN_CLASSES = 0.40, 0.05, 0.30, 8


def assert_draws_digits(net: nn.Module, fake: torch.Tensor, noise: torch.Tensor, what: str) -> None:
    """A GAN's samples are confident digits far more often than noise, over most classes: at least
    MIN_GAN_CONFIDENT of them, at most MAX_NOISE_CONFIDENT of the noise, MIN_MARGIN apart, MIN_CLASSES classes."""
    gan_confident, predicted = judge(net, fake, CONFIDENCE)
    noise_confident, _ = judge(net, noise, CONFIDENCE)
    classes = int(torch.bincount(predicted, minlength=10).gt(0).sum())
    print(f"{what}: p >= {CONFIDENCE}: GAN {gan_confident:.3f}, noise {noise_confident:.3f}; GAN classes {classes}/10")
    assert noise_confident <= MAX_NOISE_CONFIDENT
    assert gan_confident >= MIN_GAN_CONFIDENT
    assert gan_confident >= noise_confident + MIN_MARGIN
    assert classes >= MIN_CLASSES
