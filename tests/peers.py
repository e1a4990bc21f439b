"""The peers advlab is checked against (the `bench` extra; `make test` installs them).

torchattacks takes the model as it is; ART wants its PyTorchClassifier wrapper, built here once
for every test, with clip values [0, 1] like advlab's attacks.
"""

from __future__ import annotations

import torch
from torch import nn


def art_classifier(model: nn.Module, sample_shape: tuple[int, ...], classes: int):
    """ART's wrapper of `model` for images of `sample_shape` in [0, 1]."""
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(model=model, loss=nn.CrossEntropyLoss(), input_shape=tuple(sample_shape),
                             nb_classes=classes, clip_values=(0.0, 1.0), device_type="cpu")


def art_attack_images(attack, images: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
    """Run an ART evasion attack on torch images; ART works in NumPy, so convert both ways."""
    y = None if targets is None else targets.numpy()
    return torch.from_numpy(attack.generate(x=images.numpy(), y=y)).to(images.dtype)


def robust_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(images).argmax(1) == labels).double().mean())
