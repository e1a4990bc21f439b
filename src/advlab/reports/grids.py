"""Image grids: tile a batch of NCHW images in [0, 1] into one picture and save it as a PNG.

A small stand-in for ``torchvision.utils.make_grid``/``save_image`` (advlab does not depend
on torchvision). Images tile row by row, ``nrow`` images per row, with ``padding`` pixels of
``pad_value`` around and between them, so an (N, C, H, W) batch with ``R = ceil(N / nrow)``
rows gives a (C, R*(H+p)+p, nrow*(W+p)+p) grid.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError


def _check_images(images) -> None:
    """Raise AdvlabError unless ``images`` is a non-empty (N, C, H, W) tensor with C in {1, 3}."""
    if not isinstance(images, torch.Tensor):
        raise AdvlabError(f"expected a torch.Tensor of images, got {type(images).__name__}")
    shape = tuple(images.shape)
    if len(shape) != 4 or shape[1] not in (1, 3) or min(shape) < 1:
        raise AdvlabError(
            f"expected images of shape (N, C, H, W) with C in {{1, 3}} and N, H, W >= 1, "
            f"got {shape}"
        )


def make_grid(
    images: torch.Tensor, nrow: int | None = None, padding: int = 2, pad_value: float = 1.0
) -> torch.Tensor:
    """Tile images (N, C, H, W) into one (C, H', W') float tensor.

    ``nrow`` is the number of images per row (default ceil(sqrt(N)), capped at N);
    ``padding`` pixels of ``pad_value`` (default white) surround every image.
    """
    _check_images(images)
    n, c, h, w = images.shape
    per_row = min(check_int("nrow", nrow or math.ceil(math.sqrt(n)), 1), n)
    pad = check_int("padding", padding, 0)
    rows = math.ceil(n / per_row)
    size = (c, rows * (h + pad) + pad, per_row * (w + pad) + pad)
    grid = torch.full(size, float(pad_value), dtype=torch.float32, device=images.device)
    for i, image in enumerate(images.detach()):
        row, col = divmod(i, per_row)
        y, x = pad + row * (h + pad), pad + col * (w + pad)
        grid[:, y : y + h, x : x + w] = image
    return grid


def _to_pil(grid: torch.Tensor, scale: int) -> Image.Image:
    """Convert a (C, H, W) grid in [0, 1] to an 8-bit Pillow image, upscaled ``scale`` times."""
    pixels = (torch.nan_to_num(grid.cpu(), nan=0.0).clamp(0, 1) * 255).round().to(torch.uint8)
    pixels = pixels.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
    array = np.ascontiguousarray(pixels.permute(1, 2, 0).numpy())
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)


def save_image_grid(
    images: torch.Tensor, path, nrow: int | None = None, padding: int = 2, scale: int = 1
) -> Path:
    """Write ``make_grid(images, nrow, padding)`` as a PNG (grey for C=1, RGB for C=3).

    Values are clamped to [0, 1] and rounded to 8 bits; ``scale`` is an integer
    nearest-neighbour upscaling factor (8x8 digits are tiny). Creates parent folders and
    returns the path.
    """
    scale = check_int("scale", scale, 1)
    image = _to_pil(make_grid(images, nrow, padding), scale)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


PAIRS_PER_ROW = 4


def save_pair_grid(first: torch.Tensor, second: torch.Tensor, path, scale: int = 4) -> Path:
    """Save image pairs as a PNG: ``first[i]`` and ``second[i]`` side by side (split by a thin white line),
    PAIRS_PER_ROW pairs per row with a wider gap between pairs, in order (left to right, top to bottom).

    For the closest pairs of a birthday-paradox test (``advlab.metrics.birthday``), which a person judges.

    Args:
        first, second: (k, C, H, W) images in [0, 1], C in {1, 3}.
        path: the PNG to write (folders are created).
        scale: integer upscaling for small images (default 4).
    """
    shape = tuple(first.shape[1:])
    if len(shape) != 3 or shape[0] not in (1, 3) or tuple(second.shape) != tuple(first.shape):
        raise AdvlabError(f"pair grid: the samples have shape {shape}, not images (C, H, W) with C in {{1, 3}}; "
                          "a pair grid needs image samples")
    split = torch.ones(len(first), shape[0], shape[1], 1)
    side_by_side = torch.cat([first.float().cpu(), split, second.float().cpu()], dim=-1)
    return save_image_grid(side_by_side, path, nrow=min(PAIRS_PER_ROW, len(side_by_side)), padding=4, scale=scale)


COMPARISON_TILE = 96  # small images are enlarged (nearest neighbour) to at least this many pixels per side
TITLE_HEIGHT = 14


def as_tiles(images: torch.Tensor, size: tuple[int, int], channels: int) -> torch.Tensor:
    """`images` (N, C, H, W) in [0, 1] at `size` (nearest neighbour, so a low-resolution input shows its pixels)
    and with `channels` channels (gray repeated to RGB)."""
    _check_images(images)
    images = images.detach().float().cpu()
    if tuple(images.shape[-2:]) != size:
        images = torch.nn.functional.interpolate(images, size=size, mode="nearest-exact")
    return images.expand(-1, channels, -1, -1) if images.shape[1] != channels else images


def save_comparison_grid(columns: list[tuple[str, torch.Tensor]], path, padding: int = 2) -> Path:
    """Save titled columns of images side by side: row i shows example i of every column (input, output, target;
    bicubic, SRResNet, SRGAN, original, ...). Columns of different sizes or channels are brought to the largest
    size (nearest neighbour) and to RGB when any column is in colour; tiles are enlarged to at least
    COMPARISON_TILE pixels. Creates parent folders and returns the path.

    Args:
        columns: (title, (k, C, H, W) images in [0, 1], C in {1, 3}), every column with the same k.
    """
    if not columns or len({len(images) for _, images in columns}) != 1:
        raise AdvlabError("a comparison grid needs at least one column and the same number of images in each")
    size = (max(images.shape[-2] for _, images in columns), max(images.shape[-1] for _, images in columns))
    channels = 3 if any(images.shape[1] == 3 for _, images in columns) else 1
    tiles = torch.stack([as_tiles(images, size, channels) for _, images in columns], dim=1)  # (k, cols, C, H, W)
    scale = max(1, math.ceil(COMPARISON_TILE / max(size)))
    grid = _to_pil(make_grid(tiles.flatten(0, 1), nrow=len(columns), padding=padding), scale).convert("RGB")
    titled = Image.new("RGB", (grid.width, grid.height + TITLE_HEIGHT), "white")
    titled.paste(grid, (0, TITLE_HEIGHT))
    draw, step = ImageDraw.Draw(titled), (size[1] + padding) * scale
    for i, (title, _) in enumerate(columns):
        draw.text((padding * scale + i * step + 2, 1), title[: max(4, step // 6)], fill="black")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    titled.save(path, format="PNG")
    return path
