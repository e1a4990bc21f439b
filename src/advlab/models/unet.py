"""The U-Net generator of pix2pix (Isola et al. 2017, "Image-to-image translation with conditional adversarial
networks", sec. 3.2.1 and appendix 6.1.1).

An encoder-decoder with skip connections between mirrored layers: layer i of the encoder is concatenated to layer
n - i of the decoder, so low-level information (edges, positions) can shuttle across the bottleneck.

* Encoder (appendix 6.1.1): C64-C128-C256-C512-C512-C512-C512-C512, where Ck is a 4x4 convolution of stride 2 with
  k filters, batch norm and LeakyReLU(0.2); no batch norm on the first layer (C64), and none on the innermost one
  either (the reference code's choice, which lets pix2pix train with a batch of 1 on a 1x1 bottleneck). Channels
  are ``width * 2**i`` capped at ``8 * width``.
* Decoder: CD512-CD512-CD512-C512-C256-C128-C64 (with the skips the inputs of each layer double), each a 4x4
  transposed convolution of stride 2, batch norm, ReLU; "CD" layers add dropout 0.5 (the first three decoder
  layers) -- pix2pix's only source of noise, applied at training *and* test time (sec. 3.1). The last layer maps
  to ``out_channels`` with a Tanh. (The reference code puts the three dropout layers after the innermost decoder
  layer and only for 8 or more down-samplings, so its 32 px U-Net has none; advlab follows the paper's text, the
  first three decoder layers at every depth.)
* Weights from N(0, 0.02) and zero biases (sec. 6.2 and the reference code), batch-norm scales from N(1, 0.02).

``depth`` (the number of stride-2 layers) defaults to what brings ``image_size`` down to 1x1 (8 for 256 x 256, the
paper's unet_256; 5 for 32 x 32), capped at 8. Inputs of any size are padded (edge replication, centred) to a
multiple of ``2**depth`` and the output cropped back, so 28 x 28 MNIST or odd sizes pass through unchanged in shape.

Images are [0, 1] at the boundary (DESIGN.md): the input is mapped to [-1, 1] inside; ``output="image"`` returns
(tanh + 1) / 2 in [0, 1], ``output="tanh"`` the raw tanh in [-1, 1] (AdvGAN, Xiao et al. 2018, uses it as a
perturbation direction).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.errors import AdvlabError
from advlab.models.dcgan import init_dcgan_weights

MAX_DEPTH = 8
DROPOUT_LAYERS = 3  # the first three decoder layers are "CD" layers (appendix 6.1.1)
OUTPUTS = ("image", "tanh")
NORMS = ("batch", "instance")


def default_depth(image_size: int) -> int:
    """Stride-2 layers that bring ``image_size`` to 1x1 (ceil(log2)), at least 2 and at most 8 (unet_256)."""
    return max(2, min(MAX_DEPTH, math.ceil(math.log2(max(image_size, 2)))))


def init_weights(module: nn.Module) -> None:
    """pix2pix's initialisation (sec. 6.2): convolution weights from N(0, 0.02) and zero biases, batch-norm scales
    from N(1, 0.02) and zero shifts; apply with ``model.apply(init_weights)``."""
    init_dcgan_weights(module)
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and module.bias is not None:
        nn.init.zeros_(module.bias)


def _norm(kind: str, features: int) -> nn.Module:
    """Batch norm (pix2pix) or instance norm without affine parameters (CycleGAN's choice)."""
    return nn.BatchNorm2d(features) if kind == "batch" else nn.InstanceNorm2d(features)


class _SkipBlock(nn.Module):
    """One encoder layer, everything inside it, and its mirrored decoder layer: x -> cat(x, up(inner(down(x))))."""

    def __init__(self, outer: int, inner: int, inner_block: nn.Module | None, *, down_norm: bool, up_norm: bool,
                 dropout: float, norm: str):
        super().__init__()
        bias = norm == "instance"  # batch norm's shift makes a convolution bias redundant
        down: list[nn.Module] = [nn.LeakyReLU(0.2), nn.Conv2d(outer, inner, 4, 2, 1, bias=bias)]
        if down_norm:
            down.append(_norm(norm, inner))
        up_in = inner if inner_block is None else 2 * inner
        up: list[nn.Module] = [nn.ReLU(), nn.ConvTranspose2d(up_in, outer, 4, 2, 1, bias=bias or not up_norm)]
        if up_norm:
            up.append(_norm(norm, outer))
        if dropout > 0:
            up.append(nn.Dropout(dropout))
        self.down = nn.Sequential(*down)
        self.inner = inner_block if inner_block is not None else nn.Identity()
        self.up = nn.Sequential(*up)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, self.up(self.inner(self.down(x)))], dim=1)


class UNetGenerator(nn.Module):
    """(N, in_channels, H, W) [0, 1] -> (N, out_channels, H, W): [0, 1] images or [-1, 1] tanh values.

    Args:
        in_channels: channels of the input images.
        out_channels: channels of the output images.
        image_size: the side the network is built for; sets the default depth.
        width: filters of the first layer (64 in the paper); layer i has ``width * min(2**i, 8)``.
        depth: number of stride-2 down-sampling layers (and of up-sampling layers); default: enough to bring
            ``image_size`` to 1x1, capped at 8.
        dropout: dropout probability of the first three decoder layers (0.5 in the paper; 0 turns it off).
        output: "image" for (tanh + 1) / 2 in [0, 1], "tanh" for the raw tanh in [-1, 1].
        norm: "batch" (pix2pix) or "instance".
    """

    def __init__(self, in_channels: int, out_channels: int, image_size: int, width: int = 64,
                 depth: int | None = None, dropout: float = 0.5, output: str = "image", norm: str = "batch"):
        super().__init__()
        depth = default_depth(image_size) if depth is None else depth
        if not isinstance(depth, int) or not 2 <= depth <= 12:
            raise AdvlabError(f"U-Net depth must be an integer from 2 to 12, got {depth!r}")
        if output not in OUTPUTS:
            raise AdvlabError(f"U-Net output must be one of {', '.join(OUTPUTS)}, got {output!r}")
        if norm not in NORMS:
            raise AdvlabError(f"U-Net norm must be one of {', '.join(NORMS)}, got {norm!r}")
        if not 0.0 <= dropout < 1.0:
            raise AdvlabError(f"U-Net dropout must lie in [0, 1), got {dropout!r}")
        self.depth, self.output = depth, output
        channels = [width * min(2 ** i, 8) for i in range(depth)]  # encoder layer i's filters
        block: nn.Module | None = None
        for i in range(depth - 1, 0, -1):  # from the innermost layer outwards; layer 0 is the outermost
            decoder_index = depth - 1 - i  # 0 for the first decoder layer
            block = _SkipBlock(channels[i - 1], channels[i], block, down_norm=i < depth - 1,
                               up_norm=True, dropout=dropout if decoder_index < DROPOUT_LAYERS else 0.0, norm=norm)
        self.first = nn.Conv2d(in_channels, channels[0], 4, 2, 1)  # C64 without norm
        self.inner = block
        self.last = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(2 * channels[0], out_channels, 4, 2, 1), nn.Tanh())
        self.apply(init_weights)

    def forward(self, images: Tensor) -> Tensor:
        height, width = images.shape[-2:]
        multiple = 2 ** self.depth
        pad_h, pad_w = -height % multiple, -width % multiple
        x = images * 2 - 1
        if pad_h or pad_w:
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), mode="replicate")
        y = self.last(self.inner(self.first(x)))
        y = y[..., pad_h // 2:pad_h // 2 + height, pad_w // 2:pad_w // 2 + width]
        return y if self.output == "tanh" else (y + 1) / 2
