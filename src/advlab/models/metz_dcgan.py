"""The stacked-MNIST DCGAN with a weak discriminator (Metz et al. 2017, sec. 3.3; Lin et al. 2018, Table 3).

Metz et al.'s "Unrolled Generative Adversarial Networks" (ICLR 2017) measure mode collapse on stacked MNIST with
a DCGAN whose discriminator is made small on purpose -- 1/4 or 1/2 of the generator's size -- so that an
ordinary GAN collapses (their Table 2: 30.6 of 1,000 modes with D at 1/4 of G) and unrolling has something to
fix. Lin et al.'s PacGAN (NeurIPS 2018, sec. 5.2, Table 3) packs that same discriminator: with D at 1/4 of G
their DCGAN covers 78.5 modes and PacDCGAN2 484.5 (D at 1/2: 487.7 and 840.7), means over 50 runs of 500,000
steps of 128.

The networks follow the authors' published code for that table (the DCGAN-tensorflow shapes of its
``unrolled_GAN_experiment``):

* G: z (256) -> linear to 4x4x(8w) -> batch norm, ReLU -> three 3x3 transposed convolutions of stride 2 to
  7x7x(4w), 14x14x(2w), 28x28x(w), each with batch norm and ReLU -> a 3x3 convolution to the image's
  channels -> Tanh; w = 8 in the paper (64, 32, 16, 8 channels).
* D: three 3x3 convolutions of stride 2 (28 -> 14 -> 7 -> 4) with w, 2w and 4w channels, each followed by batch
  norm -- the first layer too, unlike Radford et al.'s guideline -- and LeakyReLU(0.3), then a linear score;
  w = 2 is "D is 1/4 of G" (2, 4, 8 channels) and w = 4 "D is 1/2 of G".

Weights start from N(0, 0.02) with zero biases, as in that code. The networks work at 28x28 only; images are
NCHW in [0, 1] at the boundary (DESIGN.md): G maps its Tanh output to [0, 1] and D maps its input to [-1, 1].
"""

from __future__ import annotations

import torch
from torch import nn

from advlab.core.errors import AdvlabError

SIDE = 28  # the one resolution: 4 -> 7 -> 14 -> 28
START = 4
PAPER_G_WIDTH = 8  # G's last hidden layer in the authors' code
QUARTER_D_WIDTH = 2  # D's first layer for "D is 1/4 size of G" (4 for "1/2 size")


def check_side(resolution: int) -> None:
    """Refuse any resolution but 28 in one line."""
    if resolution != SIDE:
        raise AdvlabError(f"metz-dcgan is the 28x28 stacked-MNIST DCGAN of Metz et al. 2017; it cannot make "
                          f"{resolution}x{resolution} images (use --data mnist or stacked-mnist at their own size, "
                          "or dcgan)")


def init_normal(module: nn.Module) -> None:
    """N(0, 0.02) weights and zero biases for convolutions and linear layers; batch norm keeps scale 1, shift 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)


def up_block(features_in: int, features_out: int, output_padding: int) -> list[nn.Module]:
    """A 3x3 transposed convolution of stride 2 with batch norm and ReLU (4 -> 7 without output padding, then
    7 -> 14 -> 28 with one)."""
    return [nn.ConvTranspose2d(features_in, features_out, 3, 2, 1, output_padding),
            nn.BatchNorm2d(features_out), nn.ReLU(True)]


class MetzGenerator(nn.Module):
    """z (N, z_dim) -> images (N, channels, 28, 28) in [0, 1]."""

    def __init__(self, z_dim: int = 256, resolution: int = SIDE, channels: int = 3, width: int = PAPER_G_WIDTH):
        super().__init__()
        check_side(resolution)
        self.z_dim = z_dim
        self.project = nn.Linear(z_dim, 8 * width * START * START)
        self.net = nn.Sequential(
            nn.BatchNorm2d(8 * width), nn.ReLU(True),
            *up_block(8 * width, 4 * width, 0), *up_block(4 * width, 2 * width, 1), *up_block(2 * width, width, 1),
            nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh())
        self.apply(init_normal)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        start = self.project(z).view(len(z), -1, START, START)
        return (self.net(start) + 1) / 2


class MetzDiscriminator(nn.Module):
    """images (N, channels, 28, 28) in [0, 1] -> raw scores (N,)."""

    def __init__(self, resolution: int = SIDE, channels: int = 3, width: int = QUARTER_D_WIDTH):
        super().__init__()
        check_side(resolution)
        layers: list[nn.Module] = []
        features_in = channels
        for features in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(features_in, features, 3, 2, 1), nn.BatchNorm2d(features), nn.LeakyReLU(0.3, True)]
            features_in = features
        self.net = nn.Sequential(*layers)
        self.score = nn.Linear(4 * width * START * START, 1)
        self.apply(init_normal)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(self.net(x * 2 - 1).flatten(1)).flatten()


__all__ = ["MetzDiscriminator", "MetzGenerator"]
