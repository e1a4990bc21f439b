"""The handwritten digits shipped with scikit-learn (``sklearn.datasets.load_digits``).

1797 grayscale 8x8 images of the digits 0-9 from the UCI "Optical Recognition of
Handwritten Digits" data set (Alpaydin & Kaynak 1998); pixel values are counts 0..16,
scaled here to [0, 1] by dividing by 16. No download: the data ship with scikit-learn.
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits

from advlab.data.resize import check_image_size, resize_images
from advlab.data.tensor_data import TensorData

DIGITS_MAX_VALUE = 16.0


def load_digits_images(image_size: int | None = None) -> TensorData:
    """Return the digits as (1797, 1, 8, 8) float32 in [0, 1] (or resized) with int64 labels."""
    check_image_size(image_size)
    bunch = load_digits()
    images = torch.from_numpy(bunch.images).to(torch.float32).unsqueeze(1) / DIGITS_MAX_VALUE
    if image_size is not None:
        images = resize_images(images, image_size)
    labels = torch.from_numpy(bunch.target).to(torch.int64)
    return TensorData(images.contiguous(), labels, "digits")
