"""Triggers and the pieces the backdoor poisons share: patterns, where they go, checks, planting.

A *pattern* is a tensor (C, h, w) or (1, h, w) in [0, 1] (one channel is used for every channel of
the images); it is stamped onto images (N, C, H, W) by replacing the pixels of an h x w box whose
top-left corner is (top, left). The default patch of BadNets and of the clean-label backdoor is a
checkerboard (1 on the pixels whose row + column is even, so its corners are white) whose side
scales with the image:

    side = max(3, round(min(H, W) / 8))      (8 and 16 px: 3; 28 and 32 px: 4; 64 px: 8)

A dirty-label backdoor (BadNets, blended, a trojan's retraining set) is planted the same way
(:func:`plant_backdoor`): ``choose_rows`` over ``source_rows`` (rows whose triggered label differs
from their own), the trigger stamped on those rows and their labels set to ``triggered_labels``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from advlab.core.errors import AdvlabError
from advlab.poisoning.base import Backdoor, PoisonedData, check_target, check_training_set, check_unit_range


def corner_side(height: int, width: int) -> int:
    """Side of the default square trigger for an image of height x width: max(3, round(min(H, W) / 8)),
    never more than the image's shorter side."""
    return min(max(3, round(min(height, width) / 8)), height, width)


def checkerboard(side: int) -> Tensor:
    """A (1, side, side) checkerboard of 0 and 1 whose corners (row + column even) are 1."""
    rows, columns = torch.arange(side)[:, None], torch.arange(side)[None, :]
    return ((rows + columns) % 2 == 0).float()[None]


def white_square(side: int) -> Tensor:
    """A (1, side, side) square of ones."""
    return torch.ones(1, side, side)


SHAPES = {"checker": checkerboard, "square": white_square}


def default_pattern(shape: str, side: int) -> Tensor:
    """The built-in pattern `shape` ("checker" or "square") of side `side`, (1, side, side): a fresh copy of
    the one built the first time (building it costs more than stamping a batch)."""
    return built_pattern(shape, side).clone()


@functools.lru_cache(maxsize=64)
def built_pattern(shape: str, side: int) -> Tensor:
    return SHAPES[shape](side)


def check_shape(shape: str, what: str) -> str:
    """A built-in pattern name, or an AdvlabError naming the valid ones."""
    if shape not in SHAPES:
        raise AdvlabError(f"{what}: unknown trigger {shape!r}; valid triggers are: {', '.join(SHAPES)}")
    return shape


def check_pattern(pattern, what: str) -> Tensor:
    """A float tensor (C, h, w) or (1, h, w) with every value in [0, 1], detached; else an AdvlabError."""
    if not isinstance(pattern, Tensor) or pattern.dim() != 3 or 0 in pattern.shape:
        shape = tuple(pattern.shape) if isinstance(pattern, Tensor) else type(pattern).__name__
        raise AdvlabError(f"{what}: a trigger pattern must be a tensor (C, h, w) or (1, h, w), got {shape}")
    pattern = pattern.detach().float()
    if not bool(torch.isfinite(pattern).all()) or float(pattern.min()) < 0 or float(pattern.max()) > 1:
        raise AdvlabError(f"{what}: a trigger pattern must lie in [0, 1], found values in "
                          f"[{float(pattern.min()):.3g}, {float(pattern.max()):.3g}]")
    return pattern


def check_fraction(name: str, value) -> float:
    """A number in (0, 1] (an alpha, an opacity, an amplitude), or an AdvlabError."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not 0 < value <= 1:
        raise AdvlabError(f"{name} must be a number in (0, 1], got {value!r}")
    return float(value)


def check_batch(images, what: str) -> Tensor:
    """Images (N, C, H, W), float, in [0, 1], or an AdvlabError."""
    if not isinstance(images, Tensor) or images.dim() != 4 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise AdvlabError(f"{what}: images must be a float tensor (N, C, H, W) in [0, 1], got {shape}")
    check_unit_range(images, f"{what}: images")
    return images


def check_channels(pattern: Tensor, images: Tensor, what: str) -> None:
    """The pattern has one channel or as many as the images, or an AdvlabError."""
    if pattern.shape[0] not in (1, images.shape[1]):
        raise AdvlabError(f"{what}: the trigger has {pattern.shape[0]} channels but the images have "
                          f"{images.shape[1]}; give it 1 or {images.shape[1]}")


def place(pattern: Tensor, images: Tensor, top: int | None, left: int | None, what: str) -> tuple[int, int]:
    """(top, left) of the pattern on the images: the given ones, or the bottom-right corner for None.
    An AdvlabError when the pattern does not fit or has the wrong number of channels."""
    check_channels(pattern, images, what)
    (h, w), (height, width) = pattern.shape[1:], images.shape[2:]
    top = height - h if top is None else top
    left = width - w if left is None else left
    if top < 0 or left < 0 or top + h > height or left + w > width:
        raise AdvlabError(f"{what}: a {h}x{w} trigger at (top={top}, left={left}) does not fit images of "
                          f"{height}x{width}")
    return top, left


def stamp(images: Tensor, pattern: Tensor, top: int, left: int) -> Tensor:
    """A copy of `images` (N, C, H, W) whose h x w box at (top, left) is the pattern (C or 1, h, w)."""
    stamped = images.clone()
    h, w = pattern.shape[1:]
    stamped[:, :, top:top + h, left:left + w] = pattern.to(images)
    return stamped


def box_mask(height: int, width: int, top: int, left: int, h: int, w: int) -> Tensor:
    """A bool (height, width) mask that is True on the h x w box at (top, left)."""
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[top:top + h, left:left + w] = True
    return mask


def check_pixel_option(name: str, value) -> int | None:
    """None or an integer >= 0 (a position), or an AdvlabError."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise AdvlabError(f"{name} must be None or an integer >= 0, got {value!r}")
    return value


def class_count(labels: Tensor) -> int:
    """The number of classes the labels show: their largest value + 1."""
    return int(labels.max()) + 1 if len(labels) else 0


def default_budget(rate: float | None, poisons: int | None, default_rate: float | None = None,
                   default_poisons: int | None = None) -> tuple[float | None, int | None]:
    """(rate, poisons) as given, or the poison's default budget when neither was given."""
    if rate is None and poisons is None:
        return default_rate, default_poisons
    return rate, poisons


def plant_backdoor(backdoor: Backdoor, images: Tensor, labels: Tensor, seed: int,
                   trigger: Callable[[Tensor], Tensor] | None = None) -> PoisonedData:
    """The dirty-label way: `choose_rows` over `source_rows`, the trigger stamped on those rows and
    their labels set to the triggered labels. images (N, C, H, W) in [0, 1], labels (N,) int64;
    `trigger` maps images to triggered images (default: ``backdoor.apply_trigger``)."""
    check_training_set(images, labels)
    classes = class_count(labels)
    if not backdoor.all_to_all:
        check_target(backdoor.target, classes)
    rows = backdoor.choose_rows(backdoor.source_rows(labels), len(labels), seed).to(labels.device)
    poisoned_images, poisoned_labels = images.clone(), labels.clone()
    if len(rows):
        if trigger is None:
            backdoor.stamp_rows(poisoned_images, rows)
        else:
            poisoned_images[rows] = trigger(images[rows])
        poisoned_labels[rows] = backdoor.triggered_labels(labels[rows], classes)
    return PoisonedData(poisoned_images, poisoned_labels, rows)


def check_model(model, what: str) -> nn.Module:
    """An nn.Module, or an AdvlabError."""
    if not isinstance(model, nn.Module):
        raise AdvlabError(f"{what}: model must be a torch.nn.Module (a trained classifier), got "
                          f"{type(model).__name__}")
    return model

