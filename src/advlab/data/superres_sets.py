"""Super-resolution data: (low-resolution, high-resolution) patches for training, whole images for evaluation.

SRResNet and SRGAN (Ledig et al. 2017, sec. 3.1 and 4.1) learn from pairs made by bicubic downscaling of
high-resolution photographs (factor r = 4 in the paper) and are evaluated on whole images (Set5, Set14, BSD100).
Nothing is downloaded: the built-in set ``"photos"`` is made of the photographs scikit-image ships, and any folder
of the user's photographs works the same way.

* ``photos``: training patches come from ``TRAIN_PHOTOS`` (14 of scikit-image's bundled photographs: rocket,
  hubble_deep_field, immunohistochemistry, retina, stereo_motorcycle (its left view), moon, brick, grass, gravel,
  cell, clock, page, text, microaneurysms); the fixed held-out set, five images like Set5, is ``TEST_PHOTOS``
  (astronaut, camera, chelsea, coffee, coins; camera and coins are gray) -- training never sees them. scikit-image's
  ``cat`` is ``chelsea`` under another name, so it is in neither list; synthetic images (colorwheel, logo,
  checkerboard, binary_blobs, horse) are left out. Gray photographs become RGB by repeating the channel.
* a folder: every image in it (searched recursively, read by :mod:`advlab.data.image_folder`'s decoder), one
  channel when every image is gray, else RGB. Every tenth image counting back from the last in sorted order (the
  last, the eleventh from last, ...) is held out when the folder has two or more; the rest give training patches.
  :func:`load_superres_test` on a folder returns all of its images whole.

Low resolution: ``torch.nn.functional.interpolate(mode="bicubic", antialias=True)``, which equals PIL's BICUBIC on
float data (Keys' cubic with a = -0.5, the kernel widened by the factor when shrinking; checked to 2e-7). MATLAB's
``imresize``, used to make the paper's inputs, has the same kernel and antialiasing but treats the border
differently (it mirrors the image; PIL and torch renormalise the kernel's weights inside it), so inputs differ
slightly within a few pixels of the edges. Images are first cropped to a multiple of the
scale (the bottom and right rows go, MATLAB's ``modcrop``), downscaled whole, and patches are cut at matching
positions (a low-resolution patch at (y, x) goes with the high-resolution patch at (r y, r x)), so a patch has no
border effect of its own. Values stay float (no 8-bit rounding of the inputs).

Training patches are drawn uniformly: a photograph uniformly, then a position uniformly, then one of the 8 flips and
quarter turns (the dihedral augmentation of EDSR, Lim et al. 2017; the paper samples from 350k ImageNet images and
needs none). Their default size is 48 px at high resolution (12 px at r = 4), CPU-friendly; the paper uses 96 px.
The held-out patches (``ImagePairs.held_out``, ``HELD_OUT_PATCHES`` of them, without flips) are drawn with a fixed
seed whatever ``seed`` is, so every run is measured on the same patches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.data.image_folder import IMAGE_EXTENSIONS, decode_image, find_image_files, with_channels
from advlab.data.image_pairs import ImagePairs

SCALES = (2, 4, 8)
BUILTIN = "photos"
TRAIN_PHOTOS = ("rocket", "hubble_deep_field", "immunohistochemistry", "retina", "stereo_motorcycle", "moon",
                "brick", "grass", "gravel", "cell", "clock", "page", "text", "microaneurysms")
TEST_PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "coins")
DEFAULT_PATCH = 48
DEFAULT_COUNT = 4096
HELD_OUT_PATCHES = 256
HELD_OUT_SEED = 0
HOLD_OUT_EVERY = 10
SSIM_WINDOW = 11  # scikit-image's Gaussian window at sigma 1.5 (advlab.metrics.image_quality)


# ---------------------------------------------------------------------- resizing


def check_scale(scale: int) -> int:
    """`scale` if it is 2, 4 or 8 (whole sub-pixel stages of 2x), else AdvlabError."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale not in SCALES:
        raise AdvlabError(f"scale must be 2, 4 or 8 (sub-pixel stages of 2x), got {scale!r}")
    return scale


def modcrop(images: Tensor, scale: int) -> Tensor:
    """(..., H, W) cropped to (..., H - H mod scale, W - W mod scale): the bottom rows and right columns go."""
    height, width = images.shape[-2:]
    return images[..., :height - height % scale, :width - width % scale]


def bicubic_downscale(high: Tensor, scale: int) -> Tensor:
    """(N, C, H, W) in [0, 1] -> (N, C, H/scale, W/scale): antialiased bicubic (PIL's BICUBIC), clamped to [0, 1].

    H and W must be multiples of `scale` (see :func:`modcrop`)."""
    check_scale(scale)
    height, width = high.shape[-2:]
    if height % scale or width % scale:
        raise AdvlabError(f"image size {height}x{width} is not a multiple of the scale {scale}; crop it first")
    low = F.interpolate(high, size=(height // scale, width // scale), mode="bicubic", align_corners=False,
                        antialias=True)
    return low.clamp(0.0, 1.0)


def bicubic_upscale(low: Tensor, scale: int) -> Tensor:
    """The baseline of every super-resolution table: (N, C, h, w) in [0, 1] -> (N, C, scale h, scale w) by bicubic
    interpolation (Keys' a = -0.5, as MATLAB's imresize and PIL), clamped to [0, 1]."""
    check_scale(scale)
    height, width = low.shape[-2:]
    high = F.interpolate(low, size=(height * scale, width * scale), mode="bicubic", align_corners=False,
                         antialias=True)
    return high.clamp(0.0, 1.0)


# ---------------------------------------------------------------------- the photographs


def builtin_photo(name: str) -> Tensor:
    """scikit-image's bundled photograph `name` as (3, H, W) float32 in [0, 1] (gray repeated to RGB)."""
    import skimage.data

    pixels = getattr(skimage.data, name)()
    if isinstance(pixels, tuple):  # stereo_motorcycle: (left, right, disparity)
        pixels = pixels[0]
    pixels = np.asarray(pixels, dtype=np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(with_channels(pixels, 3)))


def _folder_images(root: Path) -> tuple[list[Tensor], list[str]]:
    """Every image under `root` as (C, H, W) float32, C = 1 when all are gray, else 3; with their relative paths."""
    if not root.is_dir():
        found = "a file" if root.exists() else "nothing there"
        raise AdvlabError(f"{root}: expected a built-in set ({BUILTIN!r}) or a directory of photographs, "
                          f"found {found}")
    files = find_image_files(root)
    if not files:
        raise AdvlabError(f"{root}: no images found (looked recursively for {', '.join(IMAGE_EXTENSIONS)})")
    arrays = [decode_image(path) for path in files]
    channels = 1 if all(pixels.ndim == 2 for pixels in arrays) else 3
    images = [torch.from_numpy(np.ascontiguousarray(with_channels(pixels, channels))) for pixels in arrays]
    return images, [path.relative_to(root).as_posix() for path in files]


def held_out_rows(count: int) -> list[int]:
    """The held-out images of a folder of `count` (sorted): every tenth counting back from the last, none of one."""
    return [] if count < 2 else list(range(count - 1, -1, -HOLD_OUT_EVERY))


def _photo_sets(name_or_path: str | Path) -> tuple[list[Tensor], list[str], list[Tensor], list[str], str]:
    """(training images, their names, held-out images, their names, the set's name)."""
    if str(name_or_path) == BUILTIN:
        return ([builtin_photo(n) for n in TRAIN_PHOTOS], list(TRAIN_PHOTOS),
                [builtin_photo(n) for n in TEST_PHOTOS], list(TEST_PHOTOS), BUILTIN)
    root = Path(name_or_path).expanduser()
    images, names = _folder_images(root)
    held = set(held_out_rows(len(images)))
    keep = [i for i in range(len(images)) if i not in held]
    return ([images[i] for i in keep], [names[i] for i in keep], [images[i] for i in sorted(held)],
            [names[i] for i in sorted(held)], root.resolve().name)


# ---------------------------------------------------------------------- patches


def _pairs(images: list[Tensor], names: list[str], scale: int, patch: int) -> list[tuple[Tensor, Tensor]]:
    """Each image cropped to a multiple of `scale` and downscaled whole: (low, high), each (C, h, w)."""
    pairs = []
    for image, name in zip(images, names):
        height, width = image.shape[-2:]
        if min(height, width) < patch:
            raise AdvlabError(f"{name}: {width}x{height} is smaller than one {patch}-pixel patch; pass a smaller "
                              "patch size or leave this image out")
        high = modcrop(image, scale)
        pairs.append((bicubic_downscale(high[None], scale)[0], high))
    return pairs


def dihedral(image: Tensor, code: int) -> Tensor:
    """One of the 8 symmetries of the square on (C, H, W): `code` mod 4 quarter turns, then a left-right flip
    when `code` >= 4."""
    turned = torch.rot90(image, code % 4, dims=(-2, -1))
    return turned.flip(-1) if code >= 4 else turned


def draw_patches(pairs: list[tuple[Tensor, Tensor]], patch: int, scale: int, count: int,
                 generator: torch.Generator, augment: bool) -> tuple[Tensor, Tensor]:
    """`count` aligned patch pairs: low (count, C, patch/scale, patch/scale), high (count, C, patch, patch).

    Per patch: an image uniformly, a low-resolution position uniformly, and (when `augment`) a dihedral symmetry."""
    small = patch // scale
    images = torch.randint(len(pairs), (count,), generator=generator)
    uniforms = torch.rand(count, 2, generator=generator, dtype=torch.float64)
    codes = torch.randint(8, (count,), generator=generator) if augment else torch.zeros(count, dtype=torch.long)
    channels = pairs[0][0].shape[0]
    low = torch.empty(count, channels, small, small)
    high = torch.empty(count, channels, patch, patch)
    for k in range(count):
        low_image, high_image = pairs[int(images[k])]
        y = int(uniforms[k, 0] * (low_image.shape[-2] - small + 1))
        x = int(uniforms[k, 1] * (low_image.shape[-1] - small + 1))
        low[k] = dihedral(low_image[:, y:y + small, x:x + small], int(codes[k]))
        high[k] = dihedral(high_image[:, y * scale:(y + small) * scale, x * scale:(x + small) * scale],
                           int(codes[k]))
    return low, high


def _check_patch(patch: int | None, scale: int) -> int:
    patch = DEFAULT_PATCH if patch is None else check_int("patch", patch, 1)
    if patch % scale:
        raise AdvlabError(f"patch size {patch} is not a multiple of the scale {scale}; pass a patch such as "
                          f"{max(scale, patch - patch % scale)}")
    return patch


def load_superres(name_or_path: str | Path = BUILTIN, scale: int = 4, patch: int | None = None,
                  count: int = DEFAULT_COUNT, seed: int = 0) -> ImagePairs:
    """Training patches for super-resolution: ImagePairs(a=low, b=high, paired=True, scale=scale).

    Args:
        name_or_path: ``"photos"`` (scikit-image's bundled photographs, see the module docstring) or a folder of
            photographs.
        scale: the factor r, 2, 4 or 8.
        patch: high-resolution patch side in pixels, a multiple of `scale`; default 48 (12 px low resolution at
            r = 4). The paper uses 96.
        count: training patches drawn (with the flips and turns); 4096 by default (113 MB at 48 px RGB).
        seed: seeds the draws of the training patches (not the held-out ones, which are fixed).

    Returns:
        an :class:`ImagePairs` with ``a`` (count, C, patch/scale, patch/scale), ``b`` (count, C, patch, patch),
        ``held_out`` the ``HELD_OUT_PATCHES`` patches of the held-out images (None for a folder of one image).
    """
    check_scale(scale)
    patch = _check_patch(patch, scale)
    check_int("count", count, 1)
    train, train_names, test, test_names, name = _photo_sets(name_or_path)
    if not train:
        raise AdvlabError(f"{name_or_path}: no training images left after holding out {len(test)}")
    low, high = draw_patches(_pairs(train, train_names, scale, patch), patch, scale, count,
                             torch.Generator().manual_seed(seed), augment=True)
    held_out = None
    if test:
        held_low, held_high = draw_patches(_pairs(test, test_names, scale, patch), patch, scale, HELD_OUT_PATCHES,
                                           torch.Generator().manual_seed(HELD_OUT_SEED), augment=False)
        held_out = ImagePairs(held_low, held_high, f"{name}-held-out", paired=True, scale=scale)
    return ImagePairs(low, high, name, paired=True, held_out=held_out, scale=scale)


def _test_images(name_or_path: str | Path, held_out_only: bool) -> tuple[list[Tensor], list[str]]:
    if str(name_or_path) == BUILTIN:
        return [builtin_photo(n) for n in TEST_PHOTOS], list(TEST_PHOTOS)
    images, names = _folder_images(Path(name_or_path).expanduser())
    if not held_out_only:
        return images, names
    rows = sorted(held_out_rows(len(images)))
    if not rows:
        raise AdvlabError(f"{name_or_path}: a folder of one image holds none out; evaluate on another folder")
    return [images[i] for i in rows], [names[i] for i in rows]


def load_superres_test(name_or_path: str | Path = BUILTIN, scale: int = 4,
                       held_out_only: bool = False) -> list[tuple[Tensor, Tensor]]:
    """Whole images for evaluation, like Set5/Set14: [(low (1, C, H/scale, W/scale), high (1, C, H, W)), ...].

    ``"photos"`` gives ``TEST_PHOTOS`` (never used for training); a folder gives all of its images in sorted order
    (:func:`superres_test_names` names them), or with `held_out_only` only those :func:`load_superres` held out of
    training (every tenth counting back from the last) -- the images to report for a run trained on that folder.
    Each is cropped to a multiple of `scale` and downscaled whole. Each side must be at least 2 scale + 11 pixels:
    the evaluation removes a `scale`-pixel border and SSIM needs its 11-pixel window.
    """
    check_scale(scale)
    images, names = _test_images(name_or_path, held_out_only)
    smallest = 2 * scale + SSIM_WINDOW
    pairs = []
    for image, name in zip(images, names):
        high = modcrop(image, scale)
        if min(high.shape[-2:]) < smallest:
            raise AdvlabError(f"{name}: {image.shape[-1]}x{image.shape[-2]} is too small to evaluate at scale "
                              f"{scale}; each side needs at least {smallest} pixels")
        pairs.append((bicubic_downscale(high[None], scale), high[None]))
    return pairs


def superres_test_names(name_or_path: str | Path = BUILTIN, held_out_only: bool = False) -> list[str]:
    """The names of :func:`load_superres_test`'s images, in its order (photo names, or paths within the folder)."""
    if str(name_or_path) == BUILTIN:
        return list(TEST_PHOTOS)
    root = Path(name_or_path).expanduser()
    if not root.is_dir():
        return _folder_images(root)[1]  # the same error as load_superres_test
    files = find_image_files(root)
    if not files:
        raise AdvlabError(f"{root}: no images found (looked recursively for {', '.join(IMAGE_EXTENSIONS)})")
    names = [path.relative_to(root).as_posix() for path in files]
    return [names[i] for i in sorted(held_out_rows(len(names)))] if held_out_only else names


__all__ = ["BUILTIN", "DEFAULT_COUNT", "DEFAULT_PATCH", "HELD_OUT_PATCHES", "SCALES", "TEST_PHOTOS", "TRAIN_PHOTOS",
           "bicubic_downscale", "bicubic_upscale", "builtin_photo", "check_scale", "dihedral", "draw_patches",
           "held_out_rows", "load_superres", "load_superres_test", "modcrop", "superres_test_names"]
