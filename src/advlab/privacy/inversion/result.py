"""What a model-inversion attack returns: the images it made for the classes it was asked about."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from advlab.core.errors import AdvlabError


@dataclass(frozen=True)
class Inversion:
    """The attack's images and how it got them, one row per requested label, on the CPU.

    Attributes:
        images: (N, C, H, W) in [0, 1], the inverted images.
        labels: (N,) int64, the class each image was made for.
        losses: (N,) float, the attack's own objective at the image it kept (lower is better for the attacker:
            MI-Face's cost c(x), GMI's L_prior + lambda L_id).
        steps: (N,) int64, the gradient steps taken for each image (for GMI: per restart).
    """

    images: Tensor
    labels: Tensor
    losses: Tensor
    steps: Tensor

    def __len__(self) -> int:
        return len(self.labels)


def check_labels(labels, classes: int, attack: str) -> Tensor:
    """`labels` as a non-empty (N,) int64 CPU tensor of classes in [0, classes); else an AdvlabError naming `attack`."""
    labels = torch.as_tensor(labels).flatten()
    if not len(labels) or labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise AdvlabError(f"{attack}: give one or more integer class labels to invert, got {labels.tolist()}")
    labels = labels.long().cpu()
    outside = labels[(labels < 0) | (labels >= classes)]
    if len(outside):
        raise AdvlabError(f"{attack}: class {int(outside[0])} is outside the victim's classes 0..{classes - 1}")
    return labels


__all__ = ["Inversion", "check_labels"]
