"""The ResNet generator of CycleGAN (Zhu et al. 2017, "Unpaired image-to-image translation using cycle-consistent
adversarial networks", appendix 7.2), after Johnson, Alahi & Fei-Fei 2016 ("Perceptual losses for real-time style
transfer and super-resolution").

In the paper's notation (``ck`` a k-filter convolution; ``c7s1-k`` 7x7 stride 1; ``dk`` 3x3 stride 2 downsampling;
``Rk`` a residual block of two 3x3 k-filter convolutions; ``uk`` a 3x3 fractionally strided convolution with
stride 1/2; each followed by instance norm and ReLU except the last):

    c7s1-64, d128, d256, R256 x blocks, u128, u64, c7s1-3 (then tanh)

Reflection padding keeps the borders free of artefacts (the 7x7 layers and every residual convolution pad by
reflection; the stride-2 layers pad with zeros, as the reference code does). The paper uses 9 residual blocks for
256x256 training images and 6 for 128x128 and below (:func:`default_blocks`). Weights start from N(0, 0.02) and
biases from 0, as the authors' code initialises them (``init_type="normal"``, gain 0.02).

Images are [0, 1] at the boundary (advlab's convention): the input is mapped to [-1, 1] inside, and the tanh output
back to [0, 1] by (tanh + 1) / 2. Height and width must be multiples of 4 (two stride-2 layers) and at least 8
(reflection padding of the 2x2 bottleneck). One output pixel sees a window of `receptive_field` (blocks) pixels:
169 with 9 blocks, less than the paper's 256 px images.
"""

from __future__ import annotations

from torch import Tensor, nn

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError

NORMS = ("instance", "batch", "none")
INIT_STD = 0.02
MIN_SIDE, SIDE_MULTIPLE = 8, 4


def default_blocks(image_size: int) -> int:
    """Residual blocks for square training images of side ``image_size``: 6 up to 128 px, 9 above (the paper's
    6 at 128x128 and 9 at 256x256 and higher resolutions)."""
    check_int("image_size", image_size, 1)
    return 6 if image_size <= 128 else 9


def receptive_field(blocks: int) -> int:
    """Side in pixels of the input window one output pixel sees: 25 + 16 blocks (73 with 3 blocks, 121 with 6,
    169 with 9): each residual 3x3 convolution at a quarter of the resolution widens it by 8 pixels."""
    check_int("blocks", blocks, 0)
    return 25 + 16 * blocks


def _norm(kind: str, channels: int) -> nn.Module:
    """Instance norm without affine parameters or running statistics (the reference setting), batch norm, or none."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


class ResidualBlock(nn.Module):
    """R-k: x + (reflect-pad 1, conv3x3, norm, ReLU, reflect-pad 1, conv3x3, norm)(x); (N, k, h, w) -> same."""

    def __init__(self, channels: int, norm: str, bias: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), _norm(norm, channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), _norm(norm, channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Images (N, in_channels, H, W) in [0, 1] -> images (N, out_channels, H, W) in [0, 1].

    Args:
        in_channels: channels of the input images (1 gray, 3 colour).
        out_channels: channels of the output images.
        width: filters of the first layer (the paper's 64); the layers use width, 2 width, 4 width.
        blocks: residual blocks at 4 width (9 for 256 px, 6 for 128 px and below: :func:`default_blocks`).
        norm: ``"instance"`` (CycleGAN's), ``"batch"`` or ``"none"``; convolutions carry a bias unless batch norm
            follows them.
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = 64, blocks: int = 9,
                 norm: str = "instance") -> None:
        super().__init__()
        check_int("in_channels", in_channels, 1)
        check_int("out_channels", out_channels, 1)
        check_int("width", width, 1)
        check_int("blocks", blocks, 0)
        if norm not in NORMS:
            raise AdvlabError(f"unknown norm {norm!r} for ResnetGenerator; valid norms are: {', '.join(NORMS)}")
        self.in_channels, self.out_channels = in_channels, out_channels
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7, bias=bias),
                                   _norm(norm, width), nn.ReLU(True)]
        for scale in (1, 2):  # d128, d256
            layers += [nn.Conv2d(width * scale, width * scale * 2, 3, stride=2, padding=1, bias=bias),
                       _norm(norm, width * scale * 2), nn.ReLU(True)]
        layers += [ResidualBlock(4 * width, norm, bias) for _ in range(blocks)]
        for scale in (4, 2):  # u128, u64
            layers += [nn.ConvTranspose2d(width * scale, width * scale // 2, 3, stride=2, padding=1,
                                          output_padding=1, bias=bias),
                       _norm(norm, width * scale // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(_init_weights)

    def forward(self, images: Tensor) -> Tensor:
        _check_input(images, self.in_channels)
        return (self.net(images * 2 - 1) + 1) / 2


def _check_input(images: Tensor, channels: int) -> None:
    """Refuse images of the wrong channel count or a size the two stride-2 layers cannot undo."""
    if images.ndim != 4 or images.shape[1] != channels:
        raise AdvlabError(f"ResnetGenerator expects (N, {channels}, H, W) images, got shape {tuple(images.shape)}")
    height, width = images.shape[-2:]
    if min(height, width) < MIN_SIDE or height % SIDE_MULTIPLE or width % SIDE_MULTIPLE:
        raise AdvlabError(f"ResnetGenerator needs height and width that are multiples of {SIDE_MULTIPLE} and at "
                          f"least {MIN_SIDE}, got {height}x{width}; resize the images (e.g. image_size 32, 128, 256)")


def _init_weights(module: nn.Module) -> None:
    """N(0, 0.02) convolution weights and zero biases; batch-norm scales N(1, 0.02) (the authors' 'normal' init)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, INIT_STD)
        nn.init.zeros_(module.bias)


__all__ = ["ResnetGenerator", "default_blocks", "receptive_field"]
