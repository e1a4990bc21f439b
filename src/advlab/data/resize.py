"""Resizing images for models that want a size other than the data's.

Bilinear interpolation with antialiasing (``torch.nn.functional.interpolate``,
``antialias=True``), so shrinking averages pixels instead of aliasing; the result is
clamped back into [0, 1] because interpolation can overshoot slightly.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from advlab.core.errors import AdvlabError


def resize_images(images: Tensor, size: int) -> Tensor:
    """Resize (N, C, H, W) images in [0, 1] to (N, C, size, size); unchanged if already so."""
    check_image_size(size)
    if tuple(images.shape[-2:]) == (size, size):
        return images
    resized = F.interpolate(
        images, size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )
    return resized.clamp(0.0, 1.0)


def check_image_size(image_size: int | None) -> None:
    """Raise ``AdvlabError`` unless ``image_size`` is ``None`` or a positive int."""
    if image_size is None:
        return
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size <= 0:
        raise AdvlabError(f"image_size: expected a positive integer, found {image_size!r}")
