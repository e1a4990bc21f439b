"""Bit-depth reduction: a feature squeezer of Xu, Evans & Qi 2018 ("Feature Squeezing", sec. 3.1).

Each pixel in [0, 1] is quantised to ``bits`` bits, i.e. to 2^b equally spaced levels:

    t(x) = round(x * (2^b - 1)) / (2^b - 1).

1 bit binarises the image at 0.5 (the paper's squeezer for MNIST); 8 bits keeps what an 8-bit
image file keeps. torch.round has a gradient of exactly zero, so t(x) stays in the autograd graph
but a gradient attack through it sees nothing: the gradient is obfuscated, not absent from danger
(Athalye, Carlini & Wagner 2018, sec. 4.1; ``advlab.attacks.BPDA`` attacks it with the identity).
"""

from __future__ import annotations

from torch import Tensor, nn

from advlab.core.errors import AdvlabError

MAX_BITS = 8


class BitDepth(nn.Module):
    """images in [0, 1] -> the same images quantised to ``bits`` bits per pixel (1..8, default 3)."""

    randomized = False

    def __init__(self, bits: int = 3):
        super().__init__()
        if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= MAX_BITS:
            raise AdvlabError(f"bit-depth: bits must be an integer in 1..{MAX_BITS}, got {bits!r}")
        self.bits = bits
        self.levels = 2 ** bits - 1

    def forward(self, images: Tensor) -> Tensor:
        return (images.clamp(0.0, 1.0) * self.levels).round() / self.levels

    def extra_repr(self) -> str:
        return f"bits={self.bits}"
