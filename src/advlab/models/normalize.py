"""Input normalisation as a layer, so that attacks can work in [0, 1] pixel space.

Attacks take images in [0, 1] (DESIGN.md) and their eps is measured there. A classifier that was
trained on standardised inputs, (x - mean) / std, gets this layer as its first module:

    model = nn.Sequential(Normalize(mean=[0.4914, 0.4822, 0.4465], std=[0.247, 0.243, 0.261]), net)

instead of feeding the attack normalised images (peers' users hit this again and again: an eps
of 8/255 in normalised space is not 8/255 in pixels, and clipping to [0, 1] there is wrong).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from advlab.core.errors import AdvlabError


class Normalize(nn.Module):
    """(x - mean) / std per channel of NCHW images (or per feature of (N, D) rows)."""

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]):
        super().__init__()
        mean_t = torch.as_tensor(mean, dtype=torch.float32).flatten()
        std_t = torch.as_tensor(std, dtype=torch.float32).flatten()
        if len(mean_t) != len(std_t) and min(len(mean_t), len(std_t)) != 1:
            raise AdvlabError(f"Normalize: mean has {len(mean_t)} values and std {len(std_t)}; give one "
                              "per channel, or one for all")
        if not (std_t > 0).all():
            raise AdvlabError(f"Normalize: std must be positive, got {std_t.tolist()}")
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t)

    def forward(self, x: Tensor) -> Tensor:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return (x - self.mean.view(shape)) / self.std.view(shape)

    def extra_repr(self) -> str:
        return f"mean={self.mean.tolist()}, std={self.std.tolist()}"
