"""DCGAN generator and discriminator (Radford et al. 2016, sec. 3 and fig. 1).

The paper's architecture guidelines: strided convolutions instead of pooling, fractionally
strided (transposed) convolutions in G, batch normalisation in both networks except G's
output and D's input layers, ReLU in G with Tanh at the output, LeakyReLU(0.2) in D, and
weights initialised from N(0, 0.02). Both are parametrised here by the output `resolution`,
the number of image `channels` and the `width` (channels of the layer next to the image; each
step away from the image doubles it). The stack grows by factors of 2 from a start of 4 to 7
pixels (`ladder`): 32 = 4 x 2^3 as in the paper, and 28 = 7 x 2^2, MNIST at its own size from
the 7x7 start of the classic MNIST DCGANs (the first transposed convolution's kernel is the
start side, as is the discriminator's last convolution's).

Images are NCHW in [0, 1] at the boundary (DESIGN.md): G maps its Tanh output to [0, 1] and
D maps its input to [-1, 1] inside.
"""

from __future__ import annotations

import torch
from torch import nn

from advlab.core.errors import AdvlabError

START_SIDES = range(4, 8)  # the feature maps' first side: 4 (32 = 4 x 8) to 7 (28 = 7 x 4, MNIST)


def ladder(resolution: int, model: str = "DCGAN") -> tuple[int, int]:
    """(start, steps) with resolution = start * 2**steps, start in 4..7 and steps >= 1 (the most doublings).

    An AdvlabError naming `model` for any other resolution (odd, under 8, or a start above 7).
    """
    valid = isinstance(resolution, int) and not isinstance(resolution, bool) and resolution >= 8
    steps = (resolution & -resolution).bit_length() - 1 if valid else 0
    while valid and steps > 0 and resolution >> steps < START_SIDES.start:
        steps -= 1
    if not valid or steps < 1 or resolution >> steps not in START_SIDES:
        raise AdvlabError(f"{model} needs a resolution of 4 to 7 pixels times a power of two, at least 8 "
                          f"(8, 12, 14, 16, 28, 32, 64, ...); got {resolution!r}")
    return resolution >> steps, steps


def doublings(resolution: int, model: str = "DCGAN") -> int:
    """How many factor-2 upsamplings lead from the start side (`ladder`) to `resolution`."""
    return ladder(resolution, model)[1]


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
        start, n = ladder(resolution)
        features = width * 2 ** (n - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, features, start, 1, 0, bias=False),
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
        start, n = ladder(resolution)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        features = width
        for _ in range(n - 1):
            layers += [nn.Conv2d(features, features * 2, 4, 2, 1, bias=False),
                       normalisation(norm, features * 2), nn.LeakyReLU(0.2, True)]
            features *= 2
        layers.append(nn.Conv2d(features, 1, start, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1).flatten()
