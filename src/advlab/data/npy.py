"""Loading a NumPy ``.npy`` array of images or 2-D points.

Format: NumPy's NEP 1, "A simple file format for NumPy arrays". The file is always read
with ``np.load(path, allow_pickle=False)``: object arrays and pickle files are refused,
never unpickled, because unpickling a file can run arbitrary code (DESIGN.md, Conventions).

Accepted shapes:

* (N, 2): points, any finite numbers;
* (N, H, W): grayscale images -> (N, 1, H, W);
* (N, C, H, W) with C in {1, 3}: images, channels first, kept as they are;
* (N, H, W, C) with C in {1, 3}: images, channels last -> (N, C, H, W).

A 4-D array whose second axis is 1 or 3 is read as channels first. Image pixels are
uint8 (divided by 255) or floats already in [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from advlab.core.errors import AdvlabError
from advlab.data.resize import check_image_size, resize_images
from advlab.data.tensor_data import TensorData

IMAGE_CHANNELS = (1, 3)
UINT8_MAX = 255.0
ACCEPTED_SHAPES = "(N, 2) points, (N, H, W), (N, C, H, W) or (N, H, W, C) images with C in {1, 3}"


def _load_array(path: Path) -> np.ndarray:
    """``np.load`` without pickles; every failure becomes an ``AdvlabError``."""
    if not path.is_file():
        raise AdvlabError(f"{path}: .npy file not found (or not a regular file)")
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as error:
        if "pickle" not in str(error) and "Object arrays" not in str(error):
            raise AdvlabError(f"{path}: cannot read this as a .npy array ({error})") from error
        raise AdvlabError(
            f"{path}: expected a plain numeric .npy array, found an object array, a pickle "
            "or some other non-.npy file (refused: advlab never unpickles user files)"
        ) from error
    except (OSError, EOFError) as error:
        raise AdvlabError(f"{path}: cannot read this as a .npy array ({error})") from error
    if isinstance(loaded, np.lib.npyio.NpzFile):
        loaded.close()
        raise AdvlabError(f"{path}: expected a single .npy array, found an .npz archive")
    return loaded


def _points(path: Path, array: np.ndarray) -> torch.Tensor:
    """(N, 2) finite real numbers -> float32."""
    if array.dtype.kind not in "iuf":
        raise AdvlabError(f"{path}: expected numeric points, found dtype {array.dtype}")
    points = torch.from_numpy(array.astype(np.float32))
    if not torch.isfinite(points).all():
        raise AdvlabError(f"{path}: expected finite point coordinates, found NaN or inf")
    return points


def _to_nchw(path: Path, array: np.ndarray) -> np.ndarray:
    """Any accepted image layout -> (N, C, H, W)."""
    if array.ndim == 3:
        return array[:, np.newaxis]
    if array.ndim == 4 and array.shape[1] in IMAGE_CHANNELS:
        return array
    if array.ndim == 4 and array.shape[3] in IMAGE_CHANNELS:
        return array.transpose(0, 3, 1, 2)
    raise AdvlabError(f"{path}: expected {ACCEPTED_SHAPES}, found shape {array.shape}")


def _images(path: Path, array: np.ndarray) -> torch.Tensor:
    """Images as uint8 or floats in [0, 1] -> (N, C, H, W) float32 in [0, 1]."""
    nchw = np.ascontiguousarray(_to_nchw(path, array))
    if nchw.dtype == np.uint8:
        return torch.from_numpy(nchw).to(torch.float32) / UINT8_MAX
    if nchw.dtype.kind != "f":
        raise AdvlabError(
            f"{path}: expected uint8 or float image pixels, found dtype {nchw.dtype}"
        )
    images = torch.from_numpy(nchw.astype(np.float32))
    if not torch.isfinite(images).all():
        raise AdvlabError(f"{path}: expected finite pixel values in [0, 1], found NaN or inf")
    low, high = images.min().item(), images.max().item()
    if low < 0.0 or high > 1.0:
        raise AdvlabError(
            f"{path}: expected float pixel values in [0, 1], found values in [{low}, {high}]"
        )
    return images


def load_npy(path: str | Path, image_size: int | None = None) -> TensorData:
    """Load a .npy array as points (N, 2) or images (N, C, H, W) float32 in [0, 1]."""
    check_image_size(image_size)
    path = Path(path)
    array = _load_array(path)
    if array.ndim == 0 or array.shape[0] == 0:
        raise AdvlabError(
            f"{path}: expected {ACCEPTED_SHAPES} with N > 0, found shape {array.shape}"
        )
    if array.ndim == 2 and array.shape[1] == 2:
        if image_size is not None:
            raise AdvlabError(f"{path}: image_size given, but the file holds 2-D points")
        return TensorData(_points(path, array), None, path.stem)
    images = _images(path, array)
    if image_size is not None:
        images = resize_images(images, image_size)
    return TensorData(images, None, path.stem)
