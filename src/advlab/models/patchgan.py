"""The PatchGAN discriminator of pix2pix (Isola et al. 2017, sec. 3.2.2 and appendix 6.1.2), used by CycleGAN too.

D classifies each N x N patch of an image as real or fake and is run convolutionally across the image, so it
models only high frequencies (L1 handles the low ones) and has fewer parameters than a whole-image D. The 70 x 70
discriminator is C64-C128-C256-C512 followed by a convolution to one channel: Ck is a 4x4 convolution with k
filters, normalisation and LeakyReLU(0.2); no normalisation on C64. As in the reference code, the first
``layers`` convolutions have stride 2 and the last Ck and the output convolution stride 1, all with padding 1;
channels are ``width * min(2**i, 8)``. ``layers`` = 1, 2, 3, 4 give patches of 16, 34, 70 and 142 pixels
(`receptive_field`; the paper's 1x1 "PixelGAN" and 286 x 286 "ImageGAN" are other geometries).

``norm="batch"`` is pix2pix's; ``norm="instance"`` (no affine parameters) is CycleGAN's (Zhu et al. 2017, sec. 4).
Input [0, 1] images (for pix2pix the channel-concatenated (x, y) pair), mapped to [-1, 1] inside; output one logit
per patch, (N, 1, h, w).
"""

from __future__ import annotations

from torch import Tensor, nn

from advlab.core.errors import AdvlabError
from advlab.models.unet import init_weights

KERNEL, PADDING = 4, 1
NORMS = ("batch", "instance", "none")


def conv_geometry(layers: int) -> list[tuple[int, int]]:
    """(kernel, stride) of each convolution of a `layers`-layer PatchGAN, input to output."""
    return [(KERNEL, 2)] * layers + [(KERNEL, 1), (KERNEL, 1)]


def receptive_field(layers: int = 3) -> int:
    """Side in pixels of the input window one output logit sees: r <- (r - 1) * stride + kernel, from the output
    back to the input (70 for layers=3, 34 for 2, 16 for 1, 142 for 4)."""
    field = 1
    for kernel, stride in reversed(conv_geometry(layers)):
        field = (field - 1) * stride + kernel
    return field


def _norm(kind: str, features: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(features)
    return nn.InstanceNorm2d(features) if kind == "instance" else nn.Identity()


class PatchDiscriminator(nn.Module):
    """(N, in_channels, H, W) [0, 1] -> (N, 1, h, w) logits, one per `receptive_field(layers)`-pixel patch.

    Args:
        in_channels: channels of the input (pix2pix: input channels + output channels).
        width: filters of the first layer (64 in the paper).
        layers: stride-2 layers (3: the 70 x 70 PatchGAN).
        norm: "batch" (pix2pix), "instance" (CycleGAN) or "none".
    """

    def __init__(self, in_channels: int, width: int = 64, layers: int = 3, norm: str = "batch"):
        super().__init__()
        if not isinstance(layers, int) or layers < 1:
            raise AdvlabError(f"PatchGAN layers must be a positive integer, got {layers!r}")
        if norm not in NORMS:
            raise AdvlabError(f"PatchGAN norm must be one of {', '.join(NORMS)}, got {norm!r}")
        self.layers = layers
        bias = norm != "batch"
        geometry = conv_geometry(layers)
        modules: list[nn.Module] = []
        features = in_channels
        for i, (kernel, stride) in enumerate(geometry[:-1]):
            out = width * min(2 ** i, 8)
            modules.append(nn.Conv2d(features, out, kernel, stride, PADDING, bias=bias or i == 0))
            if i > 0:
                modules.append(_norm(norm, out))
            modules.append(nn.LeakyReLU(0.2))
            features = out
        kernel, stride = geometry[-1]
        modules.append(nn.Conv2d(features, 1, kernel, stride, PADDING))
        self.net = nn.Sequential(*modules)
        self.apply(init_weights)

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.layers)

    @property
    def min_size(self) -> int:
        """The smallest input side with at least one output: each stride-2 layer halves (floor), each stride-1
        layer takes one pixel off, so 3 * 2**layers (24 for the 70 x 70 PatchGAN)."""
        return 3 * 2 ** self.layers

    def forward(self, images: Tensor) -> Tensor:
        if min(images.shape[-2:]) < self.min_size:
            raise AdvlabError(f"a {self.layers}-layer PatchGAN needs images of at least {self.min_size} x "
                              f"{self.min_size} pixels, got {tuple(images.shape[-2:])}; use fewer layers")
        return self.net(images * 2 - 1)
