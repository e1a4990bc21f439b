"""DCGAN generator and discriminator (Radford et al. 2016, sec. 3 and fig. 1).

The paper's architecture guidelines: strided convolutions instead of pooling, fractionally
strided (transposed) convolutions in G, batch normalisation in both networks except G's
output and D's input layers, ReLU in G with Tanh at the output, LeakyReLU(0.2) in D, and
weights initialised from N(0, 0.02). Both are parametrised here by the output `resolution`
(a power of two, at least 8: the stack grows from 4x4 by factors of 2), the number of image
`channels` and the `width` (channels of the layer next to the image; each step away from
the image doubles it).

Images are NCHW in [0, 1] at the boundary (DESIGN.md): G maps its Tanh output to [0, 1] and
D maps its input to [-1, 1] inside.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from advlab.core.errors import AdvlabError


def doublings(resolution: int, model: str = "DCGAN") -> int:
    """How many factor-2 upsamplings lead from 4x4 to `resolution`; an AdvlabError naming `model` otherwise."""
    steps = math.log2(resolution / 4) if isinstance(resolution, int) and resolution >= 8 else -1
    if steps < 1 or steps != int(steps):
        raise AdvlabError(f"{model} needs a resolution that is a power of two, at least 8; got {resolution!r}")
    return int(steps)


def init_dcgan_weights(module: nn.Module) -> None:
    """N(0, 0.02) for convolutions; N(1, 0.02) scale and zero shift for batch norm."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """z (N, z_dim) -> images (N, channels, resolution, resolution) in [0, 1]."""

    def __init__(self, z_dim: int = 64, resolution: int = 32, channels: int = 1, width: int = 64):
        super().__init__()
        self.z_dim = z_dim
        n = doublings(resolution)
        features = width * 2 ** (n - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, features, 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(features), nn.ReLU(True)]
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(features, features // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(features // 2), nn.ReLU(True)]
            features //= 2
        layers += [nn.ConvTranspose2d(features, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (self.net(z[:, :, None, None]) + 1) / 2


def normalisation(kind: str, features: int) -> nn.Module:
    """Batch norm (the paper), layer norm (for WGAN-GP's per-sample penalty) or none."""
    if kind == "batch":
        return nn.BatchNorm2d(features)
    if kind == "layer":
        return nn.GroupNorm(1, features)
    if kind == "none":
        return nn.Identity()
    raise AdvlabError(f"unknown normalisation {kind!r}; valid ones are: batch, layer, none")


class DCGANDiscriminator(nn.Module):
    """images (N, channels, resolution, resolution) in [0, 1] -> raw scores (N,)."""

    def __init__(self, resolution: int = 32, channels: int = 1, width: int = 64, norm: str = "batch"):
        super().__init__()
        n = doublings(resolution)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        features = width
        for _ in range(n - 1):
            layers += [nn.Conv2d(features, features * 2, 4, 2, 1, bias=False),
                       normalisation(norm, features * 2), nn.LeakyReLU(0.2, True)]
            features *= 2
        layers.append(nn.Conv2d(features, 1, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1).flatten()
