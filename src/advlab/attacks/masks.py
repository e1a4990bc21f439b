"""Masks for physical-world attacks: where on the image the attacker may paint.

Any attack's ``mask=`` argument takes one of these bool tensors (H, W) (True = may change); it
broadcasts over the batch and the channels.

* ``rectangle_mask`` and ``stickers_mask`` — the sticker masks of RP2: Eykholt, Evtimov,
  Fernandes, Li, Rahmati, Xiao, Prakash, Kohno & Song 2018, "Robust Physical-World Attacks on
  Deep Learning Visual Classification" (the perturbation is confined by a mask M_x to a few
  black-and-white rectangles on a stop sign, so that it can be printed as stickers);
* ``eyeglass_mask`` — the eyeglass frame of Sharif, Bhagavatula, Bauer & Reiter 2016, "Accessorize
  to a Crime" (the perturbation is confined to the frame of a pair of glasses worn on the face):
  two elliptical rims joined by a bridge, optionally with the temples (arms) running to the
  image's sides, scaled to the image and symmetric left/right;
* ``random_blocks_mask`` — a given number of square blocks drawn at random from a grid, for
  occlusion-style experiments with a known count of free pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator


def check_size(h: int, w: int, what: str) -> tuple[int, int]:
    return check_int(f"{what}: height", h, 1), check_int(f"{what}: width", w, 1)


def rectangle_mask(h: int, w: int, top: int, left: int, height: int, width: int) -> Tensor:
    """True on the rectangle rows top..top+height-1, columns left..left+width-1 of an (h, w) image."""
    h, w = check_size(h, w, "rectangle_mask")
    mask = torch.zeros(h, w, dtype=torch.bool)
    top, left, height, width = check_box((top, left, height, width), h, w, "rectangle_mask")
    mask[top:top + height, left:left + width] = True
    return mask


def check_box(box, h: int, w: int, what: str) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a non-empty rectangle that lies inside the (h, w) image."""
    try:
        top, left, height, width = box
    except (TypeError, ValueError):
        raise AdvlabError(f"{what}: a box is (top, left, height, width), got {box!r}") from None
    top, left = check_int(f"{what}: top", top, 0), check_int(f"{what}: left", left, 0)
    height, width = check_int(f"{what}: height", height, 1), check_int(f"{what}: width", width, 1)
    if top + height > h or left + width > w:
        raise AdvlabError(f"{what}: the box (top={top}, left={left}, height={height}, width={width}) does not fit "
                          f"an image of {h}x{w}")
    return top, left, height, width


def stickers_mask(h: int, w: int, boxes: Sequence[tuple[int, int, int, int]]) -> Tensor:
    """The union of rectangles (top, left, height, width): RP2's stickers."""
    h, w = check_size(h, w, "stickers_mask")
    if isinstance(boxes, (str, bytes)) or not isinstance(boxes, Sequence) or len(boxes) == 0:
        raise AdvlabError("stickers_mask: give at least one box (top, left, height, width)")
    mask = torch.zeros(h, w, dtype=torch.bool)
    for box in boxes:
        top, left, height, width = check_box(box, h, w, "stickers_mask")
        mask[top:top + height, left:left + width] = True
    return mask


def eyeglass_mask(h: int, w: int, eye_row: float = 0.4, eye_distance: float = 0.5, lens_width: float = 0.36,
                  lens_height: float = 0.24, thickness: float = 0.06, temples: bool = False) -> Tensor:
    """An eyeglass frame: two elliptical rims joined by a bridge (and the temples, with `temples`).

    All sizes are fractions of the image: the rims are centred on row ``eye_row * h``, their
    centres ``eye_distance * w`` apart; each rim's outer ellipse is ``lens_width * w`` by
    ``lens_height * h`` and the frame is ``thickness * min(h, w)`` thick (at least one pixel). The left
    half is drawn and mirrored, so the mask is exactly symmetric left/right.
    """
    h, w = check_size(h, w, "eyeglass_mask")
    for name, value in (("eye_row", eye_row), ("eye_distance", eye_distance), ("lens_width", lens_width),
                        ("lens_height", lens_height), ("thickness", thickness)):
        check_number(f"eyeglass_mask: {name}", value, 0.0, strict=True)
        if value > 1:
            raise AdvlabError(f"eyeglass_mask: {name} is a fraction of the image and must lie in (0, 1], got {value}")
    if eye_distance < lens_width:
        raise AdvlabError(f"eyeglass_mask: the rims overlap: eye_distance ({eye_distance}) must be at least "
                          f"lens_width ({lens_width})")
    if eye_distance + lens_width > 1:
        raise AdvlabError(f"eyeglass_mask: the frame is wider than the image: eye_distance + lens_width = "
                          f"{eye_distance + lens_width:g} > 1")
    rows = torch.arange(h, dtype=torch.float64)[:, None] + 0.5
    columns = torch.arange(w, dtype=torch.float64)[None, :] + 0.5
    centre_row, centre_column = eye_row * h, w / 2 - eye_distance * w / 2
    half_width, half_height = lens_width * w / 2, lens_height * h / 2
    band = max(thickness * min(h, w), 1.0)
    outer = ((columns - centre_column) / half_width) ** 2 + ((rows - centre_row) / half_height) ** 2 <= 1
    inner_w, inner_h = max(half_width - band, 1e-9), max(half_height - band, 1e-9)
    inner = ((columns - centre_column) / inner_w) ** 2 + ((rows - centre_row) / inner_h) ** 2 < 1
    rim = outer & ~inner
    bar = (rows - (centre_row - half_height / 3)).abs() <= max(band / 2, 0.5)  # a little above the middle
    bridge = bar & (columns >= centre_column + half_width - band) & (columns <= w / 2)
    left = rim | bridge
    if temples:
        left = left | (bar & (columns <= centre_column - half_width + band))
    mask = left & (columns <= w / 2)
    mask = mask | mask.flip(-1)
    if not mask.any():
        raise AdvlabError(f"eyeglass_mask: the frame has no pixels in an image of {h}x{w}; make it larger")
    return mask


def random_blocks_mask(h: int, w: int, blocks: int, size: int, seed: int | None = None) -> Tensor:
    """`blocks` distinct squares of side `size`, picked at random among the cells of a grid of
    such squares laid from the top-left corner: exactly blocks * size**2 True pixels."""
    h, w = check_size(h, w, "random_blocks_mask")
    blocks = check_int("random_blocks_mask: blocks", blocks, 1)
    size = check_int("random_blocks_mask: size", size, 1)
    grid_rows, grid_columns = h // size, w // size
    if blocks > grid_rows * grid_columns:
        raise AdvlabError(f"random_blocks_mask: {blocks} blocks of {size}x{size} do not fit an image of {h}x{w} "
                          f"(room for {grid_rows * grid_columns})")
    generator = None if seed is None else make_generator(seed, torch.device("cpu"))
    cells = torch.randperm(grid_rows * grid_columns, generator=generator)[:blocks]
    mask = torch.zeros(h, w, dtype=torch.bool)
    for cell in cells.tolist():
        top, left = (cell // grid_columns) * size, (cell % grid_columns) * size
        mask[top:top + size, left:left + size] = True
    return mask
