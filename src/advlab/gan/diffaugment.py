"""DiffAugment: differentiable augmentation of D's inputs (Zhao et al. 2020, sec. 3).

"Differentiable augmentation for data-efficient GAN training" augments *both* the real and the
generated images with the same random family T before D sees them, and lets G's gradient pass
through T (eq. 3 and 4 of sec. 3; fig. 4):

    L_D = f(D(T(x))) + f(-D(T(G(z)))),     L_G = f(-D(T(G(z))))

Augmenting only the real images would teach G the augmented distribution; augmenting both and
differentiating through T does not (sec. 3.1-3.2). The policies are those of the paper and its
reference code; each sample draws its own parameters:

* ``color``: brightness (add b), then saturation (scale the deviation from the per-pixel
  channel mean by s), then contrast (scale the deviation from the image mean by c), with
  b ~ U[-0.25, 0.25], s ~ U[0, 2], c ~ U[0.5, 1.5];
* ``translation``: shift by whole pixels, up to 1/8 of the height and width (rounded) in each
  direction, each shift equally likely; pixels shifted in from outside are 0;
* ``cutout``: set to 0 a square of half the height and width (rounded), its centre uniform over
  the image so that it may be cut by the border, as in the reference code.

Augment before packing (PacGAN), so that each sample draws its own parameters.

Conventions. The reference code works on images in [-1, 1]; here images are in [0, 1], so its
brightness range U[-0.5, 0.5] becomes U[-0.25, 0.25] (the same shift relative to the range;
saturation and contrast do not depend on it). Padding and cutout fill with 0, black in [0, 1]
(mid-grey in the reference's [-1, 1]). Values pushed out of [0, 1] by the colour transforms are
kept, not clamped, as in the paper's code: clamping would cut the gradient there.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from advlab.core.errors import AdvlabError

TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2
BRIGHTNESS_RANGE = 0.25


def _uniform(images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One U[0, 1) number per image, shaped (N, 1, 1, 1) to broadcast over C, H, W."""
    device = generator.device if generator is not None else images.device
    draws = torch.rand(images.shape[0], generator=generator, device=device)
    return draws.to(images.device, images.dtype).view(-1, 1, 1, 1)


def _integers(low: int, high: int, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One integer in [low, high) per image, shaped (N, 1)."""
    device = generator.device if generator is not None else images.device
    draws = torch.randint(low, high, (images.shape[0],), generator=generator, device=device)
    return draws.to(images.device).view(-1, 1)


def adjust_brightness(images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """x + b, b ~ U[-0.25, 0.25] per image."""
    return images + (_uniform(images, generator) - 0.5) * (2 * BRIGHTNESS_RANGE)


def adjust_saturation(images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """(x - m) * s + m with m the mean over channels at each pixel, s ~ U[0, 2] per image."""
    mean = images.mean(dim=1, keepdim=True)
    return (images - mean) * (_uniform(images, generator) * 2) + mean


def adjust_contrast(images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """(x - m) * c + m with m the mean of the whole image, c ~ U[0.5, 1.5] per image."""
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - mean) * (_uniform(images, generator) + 0.5) + mean


def translate(images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Shift each image by (dy, dx) whole pixels, |dy| <= round(H / 8), |dx| <= round(W / 8); 0 fills in.

    The pixel at (y, x) moves to (y + dy, x + dx); pixels moved past the border are dropped.
    """
    n, channels, height, width = images.shape
    max_dy, max_dx = int(height * TRANSLATION_RATIO + 0.5), int(width * TRANSLATION_RATIO + 0.5)
    dy = _integers(-max_dy, max_dy + 1, images, generator)
    dx = _integers(-max_dx, max_dx + 1, images, generator)
    source_rows = (torch.arange(height, device=images.device) - dy)[:, :, None]  # (N, H, 1)
    source_cols = (torch.arange(width, device=images.device) - dx)[:, None, :]  # (N, 1, W)
    inside = (source_rows >= 0) & (source_rows < height) & (source_cols >= 0) & (source_cols < width)
    flat_index = source_rows.clamp(0, height - 1) * width + source_cols.clamp(0, width - 1)  # (N, H, W)
    flat_index = flat_index.view(n, 1, height * width).expand(n, channels, height * width)
    moved = images.reshape(n, channels, height * width).gather(2, flat_index).view(n, channels, height, width)
    return moved * inside.unsqueeze(1).to(images.dtype)


def cut_out(images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Zero a round(H / 2) x round(W / 2) rectangle per image, its centre uniform, clipped by the border.

    As in the reference code, the centre row is uniform on {0, ..., H - (size mod 2)} and the
    rectangle spans rows centre - size // 2 ... centre - size // 2 + size - 1 (columns likewise).
    """
    _, _, height, width = images.shape
    cut_height, cut_width = int(height * CUTOUT_RATIO + 0.5), int(width * CUTOUT_RATIO + 0.5)
    top = _integers(0, height + 1 - cut_height % 2, images, generator) - cut_height // 2
    left = _integers(0, width + 1 - cut_width % 2, images, generator) - cut_width // 2
    rows = torch.arange(height, device=images.device)
    cols = torch.arange(width, device=images.device)
    in_rows = (rows >= top) & (rows < top + cut_height)  # (N, H)
    in_cols = (cols >= left) & (cols < left + cut_width)  # (N, W)
    cut = in_rows[:, :, None] & in_cols[:, None, :]
    return images * (~cut).unsqueeze(1).to(images.dtype)


Transform = Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]
POLICIES: dict[str, tuple[Transform, ...]] = {
    "color": (adjust_brightness, adjust_saturation, adjust_contrast),
    "translation": (translate,),
    "cutout": (cut_out,),
}


def parse_policy(policy: str) -> tuple[str, ...]:
    """The policy's names in order, after checking each; "" means no augmentation.

    Args:
        policy: comma-separated names from ``color``, ``translation``, ``cutout``.

    Returns:
        the names, stripped of spaces, e.g. ("color", "translation", "cutout").
    """
    if not isinstance(policy, str):
        raise AdvlabError(f"DiffAugment policy must be a string such as 'color,translation,cutout', got {policy!r}")
    names = tuple(name.strip() for name in policy.split(",")) if policy.strip() else ()
    for name in names:
        if name not in POLICIES:
            raise AdvlabError(f"unknown DiffAugment policy {name!r} in {policy!r}; valid names (comma-separated): "
                              f"{', '.join(POLICIES)}")
    return names


def diff_augment(images: torch.Tensor, policy: str = "color,translation,cutout",
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the policy's random transforms to a batch, differentiably (Zhao et al. 2020, sec. 3).

    Args:
        images: (N, C, H, W) float images in [0, 1].
        policy: comma-separated names, applied in order: ``color`` (brightness, saturation,
            contrast), ``translation`` (up to 1/8 of the size, zero padding), ``cutout`` (a square
            of half the size set to 0); "" returns the images unchanged.
        generator: draws every random parameter, one set per image; None uses torch's global
            generator. It may live on another device than the images (the draws are moved).

    Returns:
        (N, C, H, W) augmented images, differentiable with respect to `images`. The colour
        transforms may leave [0, 1]; those values are kept, as in the paper.
    """
    names = parse_policy(policy)
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        found = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise AdvlabError(f"DiffAugment expects float images of shape (N, C, H, W), got {found}")
    for name in names:
        for transform in POLICIES[name]:
            images = transform(images, generator)
    return images
