"""Reading the IDX files MNIST (and Fashion-MNIST, KMNIST, EMNIST) ship in.

Format as specified on Yann LeCun's MNIST page ("THE IDX FILE FORMAT"):

* a 4-byte magic number: two zero bytes, a type code, and the number of dimensions;
  type codes 0x08 unsigned byte, 0x09 signed byte, 0x0B short (2 bytes), 0x0C int
  (4 bytes), 0x0D float (4 bytes), 0x0E double (8 bytes);
* one big-endian unsigned 32-bit size per dimension;
* the data, big-endian, in C order (last index changes fastest).

Files may be gzip-compressed, as distributed; that is recognised by the gzip magic
bytes 0x1f 0x8b, not by the file name.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np
import torch

from advlab.core.errors import AdvlabError
from advlab.data.resize import check_image_size, resize_images
from advlab.data.tensor_data import TensorData

GZIP_MAGIC = b"\x1f\x8b"
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
UINT8_MAX = 255.0


def _read_bytes(path: Path) -> bytes:
    """The file's content, decompressed if it starts with the gzip magic bytes."""
    if not path.is_file():
        raise AdvlabError(f"{path}: IDX file not found (or not a regular file)")
    raw = path.read_bytes()
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise AdvlabError(
            f"{path}: starts like a gzip file but cannot be decompressed ({error})"
        ) from error


def _parse_header(path: Path, content: bytes) -> tuple[np.dtype, tuple[int, ...], int]:
    """Return (dtype, dims, header length) from the magic number and the dimension sizes."""
    if len(content) < 4:
        raise AdvlabError(
            f"{path}: truncated header: expected at least 4 bytes of magic number, "
            f"found {len(content)} bytes"
        )
    if content[0:2] != b"\x00\x00":
        raise AdvlabError(
            f"{path}: bad magic number: expected an IDX file starting with two zero bytes, "
            f"found bytes {content[0:4].hex(' ')}"
        )
    type_code, ndim = content[2], content[3]
    if type_code not in IDX_DTYPES:
        known = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
        raise AdvlabError(
            f"{path}: unknown IDX type code 0x{type_code:02X} (expected one of {known})"
        )
    header_length = 4 + 4 * ndim
    if len(content) < header_length:
        raise AdvlabError(
            f"{path}: truncated header: expected {header_length} bytes for {ndim} dimension "
            f"sizes, found {len(content)} bytes"
        )
    dims = tuple(int(size) for size in np.frombuffer(content, ">u4", count=ndim, offset=4))
    return IDX_DTYPES[type_code], dims, header_length


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (raw or gzipped) into a native-endian array of its stored shape."""
    path = Path(path)
    content = _read_bytes(path)
    dtype, dims, header_length = _parse_header(path, content)
    expected_bytes = math.prod(dims) * dtype.itemsize
    found_bytes = len(content) - header_length
    if found_bytes != expected_bytes:
        problem = "payload too short" if found_bytes < expected_bytes else "extra bytes after data"
        raise AdvlabError(
            f"{path}: {problem}: dims {dims} of {dtype.itemsize}-byte items need "
            f"{expected_bytes} bytes, found {found_bytes} bytes"
        )
    payload = np.frombuffer(content, dtype, offset=header_length).reshape(dims)
    return payload.astype(dtype.newbyteorder("="))


def _images_from_array(path: Path, array: np.ndarray) -> torch.Tensor:
    """(N, H, W) uint8 or float in [0, 1] -> (N, 1, H, W) float32 in [0, 1]."""
    if array.ndim != 3 or array.shape[0] == 0:
        raise AdvlabError(
            f"{path}: expected images of shape (N, H, W) with N > 0, found shape {array.shape}"
        )
    if array.dtype == np.uint8:
        images = torch.from_numpy(array).to(torch.float32) / UINT8_MAX
    elif array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or array.min() < 0.0 or array.max() > 1.0:
            raise AdvlabError(
                f"{path}: expected float pixel values in [0, 1], found values in "
                f"[{np.nanmin(array)}, {np.nanmax(array)}] (or NaN/inf)"
            )
        images = torch.from_numpy(array).to(torch.float32)
    else:
        raise AdvlabError(
            f"{path}: expected uint8 (0x08) or float (0x0D, 0x0E) pixels, found {array.dtype}"
        )
    return images.unsqueeze(1).contiguous()


def _labels_from_array(path: Path, array: np.ndarray, images_path: Path, num_images: int) -> torch.Tensor:
    """A 1-D integer array with one entry per image of `images_path` -> (N,) int64."""
    if array.ndim != 1:
        raise AdvlabError(
            f"{path}: expected labels of shape ({num_images},) to match the images of {images_path}, "
            f"found shape {array.shape}"
        )
    if len(array) != num_images:
        raise AdvlabError(
            f"{path} holds {len(array)} labels but {images_path} holds {num_images} images: an IDX "
            f"label file needs one label per image (expected shape ({num_images},), found {array.shape})"
        )
    if array.dtype.kind not in "iu":
        raise AdvlabError(f"{path}: expected integer labels, found {array.dtype}")
    return torch.from_numpy(array.astype(np.int64))


def load_idx_images(
    path: str | Path,
    labels_path: str | Path | None = None,
    image_size: int | None = None,
) -> TensorData:
    """Load (N, H, W) IDX images as (N, 1, H, W) float32 in [0, 1], optionally with labels.

    uint8 pixels are divided by 255; float pixels must already lie in [0, 1]. With
    ``image_size``, images are resized to (image_size, image_size).
    """
    check_image_size(image_size)
    path = Path(path)
    images = _images_from_array(path, read_idx(path))
    labels = None
    if labels_path is not None:
        labels_path = Path(labels_path)
        labels = _labels_from_array(labels_path, read_idx(labels_path), path, len(images))
    if image_size is not None:
        images = resize_images(images, image_size)
    return TensorData(images, labels, path.name)
