"""Thermometer encoding: a discretised input that a classifier is trained on.

Buckman, Roy, Raffel & Goodfellow 2018, "Thermometer Encoding: One Hot Way To Resist Adversarial
Examples" (ICLR), sec. 3. Each pixel value x in [0, 1] is quantised to one of ``l`` levels and written
as a thermometer code of ``l`` bits, the cumulative sum of its one-hot code:

    tau(x)_k = 1 if x >= k / l else 0,        k = 0, 1, ..., l - 1,

so a pixel in the level [j/l, (j+1)/l) lights bits 0..j (bit 0 is always lit; x = 1 lights all). An image
of C channels becomes C * l channels, channel c * l + k holding tau(x_c)_k (ART's layout). The classifier
behind it is trained on the encoded images (``advlab defend thermometer``: a new classifier with
C * l input channels); the paper's default is l = 16 levels.

ART's ``ThermometerEncoding`` lights bit k >= 1 when x > k/l (strictly): the two agree except at the l
thresholds themselves. The paper quantises by flooring, floor(l x) >= k, i.e. x >= k/l, which this file
follows; it matters on scikit-learn's digits, whose pixels are multiples of 1/16.

The encoding is a step function, so its gradient is zero almost everywhere: a gradient attack learns
nothing through it (the output stays in the autograd graph with a gradient of exactly zero). Athalye,
Carlini & Wagner 2018, "Obfuscated Gradients Give a False Sense of Security", sec. 5.2.1, break it with
BPDA whose backward pass is a soft thermometer -- each bit a ramp over the level below its threshold,

    tau_hat(x)_k = min(max(l * x - k + 1, 0), 1),     so that tau(x)_k = floor(tau_hat(x)_k)

(their code's form: the paper writes the unscaled min(max(x - k/l, 0), 1), ART's choice, which has
the same sign pattern of gradients but lights every bit below x). ``approximate`` is tau_hat; a
``Preprocessed`` model's ``bpda()`` twin uses it on the backward pass:
``tau_hat(x) + (tau(x) - tau_hat(x)).detach()``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError


class ThermometerEncoding(nn.Module):
    """images (N, C, H, W) in [0, 1] -> their thermometer code (N, C * levels, H, W) of 0s and 1s.

    Args:
        levels: quantisation levels l, the bits per pixel value (default 16, the paper's; at least 2).
    """

    randomized = False

    def __init__(self, levels: int = 16):
        super().__init__()
        self.levels = check_int("thermometer: levels", levels, 2)

    def forward(self, images: Tensor) -> Tensor:
        repeated, thresholds = self.expanded(images)
        code = (repeated >= thresholds).to(images.dtype)
        return repeated * 0 + code  # zero gradient, still in the graph (see the module docstring)

    def approximate(self, images: Tensor) -> Tensor:
        """Athalye et al.'s soft thermometer tau_hat(x)_k = min(max(l x - k + 1, 0), 1): differentiable, and
        floor(tau_hat) is the code."""
        repeated, thresholds = self.expanded(images)
        return (self.levels * (repeated - thresholds) + 1).clamp(0.0, 1.0)

    def expanded(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(each channel repeated `levels` times (N, C * l, H, W), the thresholds k / l of those channels)."""
        if images.ndim != 4:
            raise AdvlabError(f"thermometer: needs images (N, C, H, W), got shape {tuple(images.shape)}")
        channels = images.shape[1]
        thresholds = torch.arange(self.levels, device=images.device, dtype=images.dtype) / self.levels
        return images.clamp(0.0, 1.0).repeat_interleave(self.levels, 1), thresholds.repeat(channels).view(1, -1, 1, 1)

    def encoded_shape(self, sample_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape (C * l, H, W) of one encoded image of shape (C, H, W)."""
        channels, *rest = sample_shape
        return (channels * self.levels, *rest)

    def extra_repr(self) -> str:
        return f"levels={self.levels}"
