"""SAGAN generator and discriminator (Zhang et al. 2018, "Self-Attention Generative Adversarial Networks").

SAGAN's two ideas on a DCGAN-shaped stack for small images (Radford et al. 2016; the paper's
ImageNet networks are residual, this is the shape of its small-image ablations):

* a self-attention block (sec. 3, eqs. 1-3; advlab.models.self_attention) after the layer whose
  feature map is `attention_at` x `attention_at`, in both networks;
* spectral normalisation (Miyato et al. 2018) on every layer of BOTH networks (sec. 4.1:
  conditioning G helps too), attention convolutions included.

G: z -> SxS transposed convolution, BN, ReLU -> [4x4 stride-2 transposed convolution, BN, ReLU]
up to resolution/2 -> 4x4 stride-2 transposed convolution to the image channels -> Tanh.
D: [4x4 stride-2 convolution, LeakyReLU(0.1)] from the image down to SxS -> SxS convolution to
one score; no batch norm. S is the start side (advlab.models.dcgan.ladder: 4 for 32x32 images,
7 for MNIST's 28x28). Both networks' feature maps are S, 2S, ..., resolution/2 pixels
square (4, 8, 16 at 32; 7, 14 at 28), the values `attention_at` may take; the default is
resolution/2, the largest feature map below the output (8 for 16x16 images). `width` is the
channels next to the image, doubling at each step away from it, as in advlab's DCGAN; weights start from N(0, 0.02).

The paper trains with the hinge loss and the two time-scale update rule (Adam, beta1 = 0,
beta2 = 0.9, learning rates 1e-4 for G and 4e-4 for D); those belong to the trainer's config.
Images are NCHW in [0, 1] at the boundary; D returns a raw score per image (N,).
"""

from __future__ import annotations

import torch
from torch import nn

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.models.dcgan import ladder
from advlab.models.self_attention import SelfAttention
from advlab.models.sngan import init_normal_weights
from advlab.models.spectral_norm import apply_spectral_norm


def attention_size(attention_at: int | None, resolution: int, model: str) -> int:
    """The feature-map size for the attention block: `attention_at`, checked, or resolution // 2."""
    start, steps = ladder(resolution, model)
    sizes = [start * 2**k for k in range(steps)]
    if attention_at is None:
        return sizes[-1]
    if isinstance(attention_at, bool) or not isinstance(attention_at, int) or attention_at not in sizes:
        raise AdvlabError(f"attention_at must be a feature map size the {model} reaches at resolution {resolution}: "
                          f"one of {', '.join(map(str, sizes))}; got {attention_at!r}")
    return attention_at


class HasAttention:
    """Mixin for a network whose `net` holds one SelfAttention block: `.attention` is that block."""

    @property
    def attention(self) -> SelfAttention:
        return next(m for m in self.net if isinstance(m, SelfAttention))


class SAGANGenerator(HasAttention, nn.Module):
    """z (N, z_dim) -> images (N, channels, resolution, resolution) in [0, 1].

    Args:
        z_dim: noise dimension (default 128, the paper's).
        resolution: output size, 4 to 7 times a power of two, >= 8 (default 32; 28 for MNIST).
        channels: image channels (default 3).
        width: channels of the last feature map; 2**k times that k steps from the image (default 64).
        attention_at: size of the feature map followed by self-attention, one of S, 2S, ...,
            resolution/2 (default resolution/2).
    """

    def __init__(self, z_dim: int = 128, resolution: int = 32, channels: int = 3, width: int = 64,
                 attention_at: int | None = None):
        super().__init__()
        self.z_dim = check_int("z_dim", z_dim, 1)
        start, n = ladder(resolution, "SAGAN generator")
        self.attention_at = attention_size(attention_at, resolution, "SAGAN generator")
        check_int("channels", channels, 1)
        check_int("width", width, 1)
        features, size = width * 2 ** (n - 1), start
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, features, start, 1, 0, bias=False),
                                   nn.BatchNorm2d(features), nn.ReLU(True)]
        while True:
            if size == self.attention_at:
                layers.append(SelfAttention(features))
            if size * 2 == resolution:
                break
            layers += [nn.ConvTranspose2d(features, features // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(features // 2), nn.ReLU(True)]
            features, size = features // 2, size * 2
        layers += [nn.ConvTranspose2d(features, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_normal_weights)
        apply_spectral_norm(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (self.net(z[:, :, None, None]) + 1) / 2


class SAGANDiscriminator(HasAttention, nn.Module):
    """images (N, channels, resolution, resolution) in [0, 1] -> raw scores (N,).

    Args:
        resolution: input size, 4 to 7 times a power of two, >= 8 (default 32; 28 for MNIST).
        channels: image channels (default 3).
        width: channels of the first convolution; doubled by each step towards 4x4 (default 64).
        attention_at: size of the feature map followed by self-attention, one of S, 2S, ...,
            resolution/2 (default resolution/2).
    """

    def __init__(self, resolution: int = 32, channels: int = 3, width: int = 64, attention_at: int | None = None):
        super().__init__()
        start = ladder(resolution, "SAGAN discriminator")[0]
        self.attention_at = attention_size(attention_at, resolution, "SAGAN discriminator")
        check_int("channels", channels, 1)
        check_int("width", width, 1)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.1, True)]
        features, size = width, resolution // 2
        while True:
            if size == self.attention_at:
                layers.append(SelfAttention(features))
            if size == start:
                break
            layers += [nn.Conv2d(features, features * 2, 4, 2, 1), nn.LeakyReLU(0.1, True)]
            features, size = features * 2, size // 2
        layers.append(nn.Conv2d(features, 1, start, 1, 0))
        self.net = nn.Sequential(*layers)
        self.apply(init_normal_weights)
        apply_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1).flatten()
