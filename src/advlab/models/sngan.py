"""SNGAN's "standard CNN" generator and discriminator (Miyato et al. 2018, Table 3), for small images.

The paper's networks for 32x32 images:

    G: z (128) -> dense -> 4x4x512 -> [4x4 stride-2 deconv, BN, ReLU] to 8x8x256, 16x16x128,
       32x32x64 -> 3x3 stride-1 conv to the image channels -> Tanh
    D: image -> 3x3 conv 64 -> 4x4 s2 conv 64 -> 3x3 conv 128 -> 4x4 s2 conv 128 -> 3x3 conv 256
       -> 4x4 s2 conv 256 -> 3x3 conv 512 -> dense -> 1, every conv followed by LeakyReLU(0.1),
       spectral norm on every layer (eq. 8), no batch norm.

G is a DCGAN generator with batch norm (the authors' code also normalises and rectifies the
dense layer's output, as here); only D is spectrally normalised. Like advlab's DCGAN, both are
scaled to `resolution` by the number of factor-2 steps from a 4x4 to 7x7 start
(advlab.models.dcgan.ladder: 4x4 for 32, 7x7 for MNIST's 28): G has
one deconvolution and D one (4x4 stride-2, 3x3) pair per step, and `width` is the channels of
the layer next to the image, doubling at each step away from it (width 64 at resolution 32 is
Table 3 exactly). Weights start from N(0, 0.02) as in the authors' code.

Images are NCHW in [0, 1] at the boundary: G maps its Tanh output to [0, 1], D maps its input
to [-1, 1] inside and returns a raw score per image (N,), for the hinge loss (eq. 16/17) or any
other advlab GAN loss.
"""

from __future__ import annotations

import torch
from torch import nn

from advlab.core.checks import check_int
from advlab.models.dcgan import ladder
from advlab.models.spectral_norm import apply_spectral_norm


def init_normal_weights(module: nn.Module) -> None:
    """N(0, 0.02) weights for convolutions and dense layers; N(1, 0.02) scale and zero shift for batch norm."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class SNGANGenerator(nn.Module):
    """z (N, z_dim) -> images (N, channels, resolution, resolution) in [0, 1] (Table 3a).

    Args:
        z_dim: noise dimension (default 128, the paper's).
        resolution: output size, 4 to 7 times a power of two, >= 8 (default 32; 28 for MNIST).
        channels: image channels (default 3).
        width: channels of the last feature map; 2**k times that k steps from the image (default 64).
    """

    def __init__(self, z_dim: int = 128, resolution: int = 32, channels: int = 3, width: int = 64):
        super().__init__()
        self.z_dim = check_int("z_dim", z_dim, 1)
        start, n = ladder(resolution, "SNGAN")
        check_int("channels", channels, 1)
        check_int("width", width, 1)
        features = width * 2**n
        layers: list[nn.Module] = [nn.Linear(z_dim, features * start**2, bias=False),
                                   nn.Unflatten(1, (features, start, start)),
                                   nn.BatchNorm2d(features), nn.ReLU(True)]
        for _ in range(n):
            layers += [nn.ConvTranspose2d(features, features // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(features // 2), nn.ReLU(True)]
            features //= 2
        layers += [nn.Conv2d(features, channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_normal_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (self.net(z) + 1) / 2


class SNGANDiscriminator(nn.Module):
    """images (N, channels, resolution, resolution) in [0, 1] -> raw scores (N,) (Table 3b).

    Args:
        resolution: input size, 4 to 7 times a power of two, >= 8 (default 32; 28 for MNIST).
        channels: image channels (default 3).
        width: channels of the first convolution; doubled by each step towards 4x4 (default 64).
    """

    def __init__(self, resolution: int = 32, channels: int = 3, width: int = 64):
        super().__init__()
        start, n = ladder(resolution, "SNGAN")
        check_int("channels", channels, 1)
        check_int("width", width, 1)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.1, True)]
        features = width
        for _ in range(n):
            layers += [nn.Conv2d(features, features, 4, 2, 1), nn.LeakyReLU(0.1, True),
                       nn.Conv2d(features, features * 2, 3, 1, 1), nn.LeakyReLU(0.1, True)]
            features *= 2
        layers += [nn.Flatten(), nn.Linear(features * start**2, 1)]
        self.net = nn.Sequential(*layers)
        self.apply(init_normal_weights)
        apply_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1).flatten()
