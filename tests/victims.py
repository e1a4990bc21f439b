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
    optimizer = torch.optim.Adam(model.parameters(), 2e-3)
    for _ in range(EPOCHS):
        shuffled = train[torch.randperm(len(train), generator=generator)]
        for start in range(0, len(shuffled), 64):
            rows = shuffled[start:start + 64]
            loss = F.cross_entropy(model(digits.data[rows]), digits.labels[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    torch.set_num_threads(threads)
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return Victim(model, digits.data[test], digits.labels[test], digits.data[train], digits.labels[train])
