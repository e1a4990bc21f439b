"""What the shadow-model attacks read off a model: its log-probabilities under augmentation queries.

Carlini et al. 2022 (sec. 5.2, "augmentation queries", and their reference code ``inference.py``) query
each example under the training augmentations, the target and the shadows alike, and fit one Gaussian per
augmentation: for CIFAR-10 the image and its mirror, optionally shifted by up to a few pixels with the
edges reflected. :func:`augmented_views` makes those views (for digits: shifts, no flips);
:func:`view_log_probabilities` queries a victim on all of them at once, and
:func:`shadow_log_probabilities` does so for every shadow model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.privacy.victim import Victim, module_victim


def check_views(shift, flip) -> tuple[int, bool]:
    """(shift, flip) checked: an integer >= 0 and a bool."""
    if not isinstance(flip, bool):
        raise AdvlabError(f"flip must be true or false, got {flip!r}")
    return check_int("shift", shift, 0), flip


def augmented_views(images: Tensor, shift: int = 0, flip: bool = False) -> list[Tensor]:
    """The views of `images` (N, C, H, W) a model is queried on: the images (and their left-right mirrors with
    `flip`), each shifted by every (dy, dx) in [-shift, shift]^2 with the edges reflected ((2 shift + 1)^2 views
    each; the unshifted images come first)."""
    shift, flip = check_views(shift, flip)
    height, width = images.shape[-2:]
    if shift >= min(height, width):
        raise AdvlabError(f"shift must be smaller than the image side ({min(height, width)} pixels), got {shift}")
    mirrors = [images, images.flip(-1)] if flip else [images]
    offsets = sorted(((dy, dx) for dy in range(-shift, shift + 1) for dx in range(-shift, shift + 1)),
                     key=lambda offset: offset != (0, 0))
    views = []
    for mirror in mirrors:
        padded = F.pad(mirror, (shift, shift, shift, shift), mode="reflect") if shift else mirror
        views += [padded[..., shift + dy:shift + dy + height, shift + dx:shift + dx + width] for dy, dx in offsets]
    return views


def view_log_probabilities(victim: Victim, images: Tensor, shift: int, flip: bool, attack: str) -> Tensor:
    """log p(k | view) (A, N, K) float64 of every augmented view of `images` (one batch of A x N queries); an
    AdvlabError naming `attack` when the victim gives labels only."""
    views = augmented_views(images, shift, flip)
    log_probabilities = victim.log_probabilities(torch.cat(views), attack)
    return log_probabilities.view(len(views), len(images), -1)


def shadow_log_probabilities(models: list[nn.Module], images: Tensor, shift: int, flip: bool) -> Tensor:
    """log p(k | view) (S, A, N, K) float64 of every shadow model on every view of `images`."""
    return torch.stack([view_log_probabilities(module_victim(model), images, shift, flip, "shadow model")
                        for model in models])


__all__ = ["augmented_views", "check_views", "shadow_log_probabilities", "view_log_probabilities"]
