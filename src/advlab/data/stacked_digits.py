"""Stacked digits: three handwritten digits as the three channels of one image, 1000 modes.

The "stacked MNIST" of Metz et al. 2017, "Unrolled Generative Adversarial Networks" (sec. 3.3), and
Srivastava et al. 2017, "VEEGAN" (sec. 5.2), built from scikit-learn's 8x8 digits so nothing is downloaded:
each image stacks three digits, drawn independently and uniformly from the 1797 digits, as its R, G and B
channels. Its class is the triple of digits (a, b, c), numbered ``100 a + 10 b + c``, so the data have
10^3 = 1000 equally likely modes; a generator's mode coverage is counted by classifying each channel
(:func:`advlab.metrics.stacked_modes.stacked_mode_coverage`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from advlab.core.checks import check_int
from advlab.data.digits import load_digits_images
from advlab.data.resize import check_image_size, resize_images
from advlab.data.tensor_data import TensorData

STACKED_CHANNELS = 3
STACKED_MODES = 10**STACKED_CHANNELS


def stack_labels(digits: Tensor, base: int = 10) -> Tensor:
    """Per-channel classes (N, C) -> the C-digit number they spell in `base`, (N,) int64 in [0, base^C):
    digit triples give the stacked labels ``100 a + 10 b + c``."""
    place_values = base ** torch.arange(digits.shape[1] - 1, -1, -1, device=digits.device)
    return (digits.to(torch.int64) * place_values).sum(dim=1)


def load_stacked_digits(image_size: int | None = None, count: int = 10000, seed: int = 0) -> TensorData:
    """Draw `count` stacked-digit images.

    Args:
        image_size: resize to (image_size, image_size); default the digits' own 8.
        count: number of images.
        seed: seeds the draw of the digits (a dedicated generator; the global RNG is untouched).

    Returns:
        TensorData "stacked-digits": data float32 (count, 3, s, s) in [0, 1], channel k holding digit
        ``rows[:, k]`` of scikit-learn's digits; labels int64 (count,) = 100 a + 10 b + c.
    """
    check_image_size(image_size)
    check_int("count", count, 1)
    check_int("seed", seed, 0)
    digits = load_digits_images()
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randint(len(digits), (count, STACKED_CHANNELS), generator=generator)
    images = digits.data[rows].squeeze(2)  # (count, 3, 1, 8, 8) -> (count, 3, 8, 8)
    if image_size is not None:
        images = resize_images(images, image_size)
    return TensorData(images.contiguous(), stack_labels(digits.labels[rows]), "stacked-digits")


__all__ = ["STACKED_MODES", "load_stacked_digits", "stack_labels"]
