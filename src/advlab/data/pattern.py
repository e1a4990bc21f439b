"""One image a user hands in as a file -- a backdoor trigger, a blend key -- as a tensor (C, H, W) in [0, 1].

A ``.npy`` array ((H, W), (C, H, W) or (H, W, C) with C in {1, 3}; uint8 or floats in [0, 1]; never
unpickled) or an image file PIL reads (PNG, JPEG, ...; greyscale stays one channel, anything else RGB).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from advlab.core.errors import AdvlabError
from advlab.data.image_folder import decode_image
from advlab.data.npy import _images, _load_array


def load_pattern(path: str | Path) -> Tensor:
    """The image at `path` as a float tensor (C, H, W) in [0, 1]; anything else is an AdvlabError."""
    path = Path(path)
    if not path.is_file():
        raise AdvlabError(f"{path}: pattern file not found")
    if path.suffix.lower() == ".npy":
        array = _load_array(path)
        if array.ndim not in (2, 3):
            raise AdvlabError(f"{path}: a pattern is one image, (H, W), (C, H, W) or (H, W, C); found shape "
                              f"{array.shape}")
        return _images(path, array[np.newaxis])[0]
    pixels = decode_image(path)
    return torch.from_numpy(np.ascontiguousarray(pixels[np.newaxis] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)))


__all__ = ["load_pattern"]
