"""A grid of images under captions: one row per caption (text to image: the samples a caption asked for; the real
images beside them), the caption written above its row.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from advlab.core.errors import AdvlabError
from advlab.reports.grids import _to_pil, as_tiles, make_grid

CAPTION_HEIGHT = 14
MIN_TILE = 64  # small images are enlarged (nearest neighbour) to at least this many pixels per side


def save_caption_grid(rows: list[tuple[str, torch.Tensor]], path, padding: int = 2) -> Path:
    """Save each (caption, (k, C, H, W) images in [0, 1]) as a row of images with the caption above it; rows of
    fewer images are left blank at the end. Creates parent folders and returns the path."""
    if not rows or any(len(images) == 0 for _, images in rows):
        raise AdvlabError("a caption grid needs at least one row, each with at least one image")
    size = tuple(rows[0][1].shape[-2:])
    channels = 3 if any(images.shape[1] == 3 for _, images in rows) else 1
    per_row = max(len(images) for _, images in rows)
    scale = max(1, math.ceil(MIN_TILE / max(size)))
    pictures = []
    for caption, images in rows:
        tiles = as_tiles(images, size, channels)
        if len(tiles) < per_row:
            tiles = torch.cat([tiles, torch.ones(per_row - len(tiles), *tiles.shape[1:])])
        strip = _to_pil(make_grid(tiles, nrow=per_row, padding=padding), scale).convert("RGB")
        titled = Image.new("RGB", (strip.width, strip.height + CAPTION_HEIGHT), "white")
        titled.paste(strip, (0, CAPTION_HEIGHT))
        width_in_chars = max(8, strip.width // 6)
        ImageDraw.Draw(titled).text((padding * scale + 2, 2), caption[:width_in_chars], fill="black")
        pictures.append(titled)
    sheet = Image.new("RGB", (pictures[0].width, sum(p.height for p in pictures)), "white")
    top = 0
    for picture in pictures:
        sheet.paste(picture, (0, top))
        top += picture.height
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, format="PNG")
    return path


__all__ = ["save_caption_grid"]
