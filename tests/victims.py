"""Victim classifiers for the attack tests, trained once per test session.

The digits of scikit-learn (8x8, in [0, 1]), split 80/20 with a fixed seed; a SmallCNN
(99% held-out accuracy) and an MLPClassifier (98%), 20 epochs of Adam each, one CPU thread:
about 4 s and 0.5 s here. Everything is seeded, so every session trains the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from advlab.data import load_digits_images
from advlab.models import MLPClassifier, SmallCNN

SEED = 0
TRAIN_SHARE = 0.8
EPOCHS = 20


@dataclass
class Victim:
    model: nn.Module
    images: torch.Tensor  # held-out images (N, 1, 8, 8) in [0, 1]
    labels: torch.Tensor  # held-out labels (N,)
    train_images: torch.Tensor
    train_labels: torch.Tensor


def fit(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epochs: int, generator: torch.Generator,
        batch: int = 64, lr: float = 2e-3) -> nn.Module:
    """`model` trained with Adam (`lr`) and cross-entropy for `epochs` passes over (images, labels) in minibatches of
    `batch`, shuffled by `generator`; returned in eval mode."""
    optimizer = torch.optim.Adam(model.parameters(), lr)
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        for first in range(0, len(order), batch):
            rows = order[first:first + batch]
            loss = F.cross_entropy(model(images[rows]), labels[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def train_small_cnn(images: torch.Tensor, labels: torch.Tensor, epochs: int, seed: int = 0, **sizes) -> nn.Module:
    """A SmallCNN (of `sizes`: image_size, width, hidden) seeded by `seed` and fitted to (images, labels)."""
    torch.manual_seed(seed)
    model = SmallCNN(image_size=images.shape[-1], **sizes)
    return fit(model, images, labels, epochs, torch.Generator().manual_seed(seed))


def ones_and_sevens_split() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Digits 1 vs 7 (361 images), split by a fixed permutation: 100 training, 100 validation, 161 test rows
    (Biggio et al. 2012's setting, scaled to scikit-learn's digits), as {part: (images, labels)}."""
    digits = load_digits_images()
    keep = (digits.labels == 1) | (digits.labels == 7)
    images, labels = digits.data[keep], digits.labels[keep]
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    parts = {"train": order[:100], "validation": order[100:200], "test": order[200:]}
    return {part: (images[rows], labels[rows]) for part, rows in parts.items()}


def train_digits_victim(kind: str = "cnn", seed: int = SEED) -> Victim:
    digits = load_digits_images()
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(digits.data), generator=generator)
    cut = int(TRAIN_SHARE * len(order))
    train, test = order[:cut], order[cut:]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = SmallCNN() if kind == "cnn" else MLPClassifier()
    fit(model, digits.data[train], digits.labels[train], EPOCHS, generator)
    torch.set_num_threads(threads)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return Victim(model, digits.data[test], digits.labels[test], digits.data[train], digits.labels[train])
