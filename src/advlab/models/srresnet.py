"""SRResNet, the generator of SRGAN, and SRGAN's discriminator (Ledig et al. 2017, "Photo-realistic single image
super-resolution using a generative adversarial network", fig. 4).

Generator (fig. 4, top), on a low-resolution image of h x w:

    9x9 conv (width) + PReLU ............................................ the "head", kept for the long skip
    `blocks` x residual block: 3x3 conv, BN, PReLU, 3x3 conv, BN, + input   (He et al. 2016; Gross & Wilber 2016)
    3x3 conv + BN, + the head's output (the long skip)
    log2(scale) x sub-pixel stage: 3x3 conv to 4 width channels, PixelShuffle(2), PReLU   (Shi et al. 2016)
    9x9 conv to `channels`

The paper feeds LR images in [0, 1] and trains against HR images in [-1, 1]; here the input is the [0, 1] image as
it is, and the last convolution's output y is mapped to [0, 1] by (tanh(y) + 1) / 2, i.e. the [-1, 1] image of the
paper through tanh, rescaled to advlab's range. PReLUs have one slope per channel (0.25 at first).

Initialisation (the paper gives none): PyTorch's defaults, except that the scale of the last batch norm of every
residual block and of the one before the long skip starts at 0 (Goyal et al. 2017, "zero gamma"), so a fresh
network is the shallow head -> sub-pixel upsampler -> tail and the residual branches grow in as they learn. With
4 blocks of width 32 at scale 2 this took the held-out photographs from 0.9 dB below bicubic to 0.5 dB above it
after the same 1500 Adam steps (advlab's measurement); any trained weights load as before.

Discriminator (fig. 4, bottom), on an HR image (given in [0, 1], fed as 2x - 1 as the paper's HR range): eight 3x3
convolutions of width, width, 2 width, 2 width, 4 width, 4 width, 8 width, 8 width channels with strides 1, 2, 1, 2,
..., batch norm after all but the first, LeakyReLU(0.2) after each; then a dense layer of 1024, LeakyReLU(0.2), a
dense layer of 1. The paper's 96 px patches leave a 6x6 map before the dense layers; an adaptive average pooling to
6x6 keeps exactly that at 96 px and lets any patch size work (at 48 px each of the 3x3 values is repeated 2x2).
It returns logits (the sigmoid of the paper is in the loss).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from advlab.core.checks import check_int
from advlab.data.superres_sets import bicubic_upscale, check_scale

DISCRIMINATOR_POOL = 6  # the 6x6 map of the paper's 96 px patches after four stride-2 convolutions
DENSE = 1024


class ResidualBlock(nn.Module):
    """3x3 conv, BN, PReLU, 3x3 conv, BN, plus the input: (N, width, h, w) -> same."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.PReLU(width),
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))
        nn.init.zeros_(self.body[-1].weight)  # zero gamma: the block starts as the identity

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SubPixelUpsample(nn.Sequential):
    """One 2x stage (Shi et al. 2016): 3x3 conv to 4 width channels, PixelShuffle(2), PReLU.

    PixelShuffle(2) moves channel 4c + 2i + j of the convolution's output to pixel (2y + i, 2x + j) of channel c.
    """

    def __init__(self, width: int):
        super().__init__(nn.Conv2d(width, 4 * width, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(width))


class SRResNet(nn.Module):
    """The SRResNet generator: (N, channels, h, w) in [0, 1] -> (N, channels, scale h, scale w) in [0, 1].

    Args:
        channels: image channels (3 for RGB, 1 for gray).
        scale: upscaling factor, 2, 4 (the paper's) or 8: log2(scale) sub-pixel stages.
        blocks: residual blocks (the paper's B = 16).
        width: feature channels (the paper's 64).
    """

    def __init__(self, channels: int = 3, scale: int = 4, blocks: int = 16, width: int = 64):
        super().__init__()
        self.channels, self.scale = check_int("channels", channels, 1), check_scale(scale)
        self.blocks, self.width = check_int("blocks", blocks, 1), check_int("width", width, 1)
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, padding=4), nn.PReLU(width))
        self.body = nn.Sequential(*(ResidualBlock(width) for _ in range(blocks)))
        self.body_end = nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))
        nn.init.zeros_(self.body_end[-1].weight)  # zero gamma: the long skip alone at first
        self.upsample = nn.Sequential(*(SubPixelUpsample(width) for _ in range(int(math.log2(scale)))))
        self.tail = nn.Conv2d(width, channels, 9, padding=4)

    def forward(self, low: Tensor) -> Tensor:
        features = self.head(low)
        features = features + self.body_end(self.body(features))
        return (torch.tanh(self.tail(self.upsample(features))) + 1) / 2


class SRDiscriminator(nn.Module):
    """SRGAN's discriminator: (N, channels, H, W) in [0, 1], any H and W -> logits (N,).

    Args:
        channels: image channels.
        width: channels of the first convolution (the paper's 64; 8 width at the last).
    """

    def __init__(self, channels: int = 3, width: int = 64):
        super().__init__()
        check_int("channels", channels, 1)
        check_int("width", width, 1)
        layers: list[nn.Module] = []
        previous = channels
        for index, multiple in enumerate((1, 1, 2, 2, 4, 4, 8, 8)):
            layers.append(nn.Conv2d(previous, multiple * width, 3, stride=1 + index % 2, padding=1))
            if index:
                layers.append(nn.BatchNorm2d(multiple * width))
            layers.append(nn.LeakyReLU(0.2))
            previous = multiple * width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(DISCRIMINATOR_POOL)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(previous * DISCRIMINATOR_POOL ** 2, DENSE),
                                  nn.LeakyReLU(0.2), nn.Linear(DENSE, 1))

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.pool(self.features(images * 2 - 1))).squeeze(1)


__all__ = ["ResidualBlock", "SRDiscriminator", "SRResNet", "SubPixelUpsample", "bicubic_upscale"]
