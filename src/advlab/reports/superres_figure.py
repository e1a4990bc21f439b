"""The super-resolution figure of Ledig et al. 2017 (fig. 2): one held-out photograph as bicubic | SRResNet | SRGAN |
original, each with its PSNR (dB) and SSIM in the caption, cropped to a detail so the texture can be judged."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from advlab.reports.plots import _figure, _save

CROP = 96  # pixels of the high-resolution image shown (a detail near the centre, as the paper's crops)


def detail(image: Tensor, crop: int = CROP) -> Tensor:
    """The central `crop` x `crop` pixels of a (1, C, H, W) image as (H', W', C) for imshow."""
    _, _, h, w = image.shape
    top, left = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
    part = image[0, :, top:top + crop, left:left + crop].clamp(0, 1)
    return part.permute(1, 2, 0).squeeze(-1).cpu()


def plot_superres_figure(entries: list[tuple[str, Tensor, dict]], original: Tensor, path) -> Path:
    """`entries`: (method, its (1, C, H, W) output, {"psnr", "ssim"}) in order; `original` the (1, C, H, W) truth."""
    fig, axes = _figure(1, len(entries) + 1, size=(2.4 * (len(entries) + 1), 2.8))
    panels = [(name, output, f"{row['psnr']:.2f} dB / {row['ssim']:.3f}") for name, output, row in entries]
    panels.append(("original", original, "PSNR / SSIM"))
    for ax, (name, image, caption) in zip(axes[0], panels):
        ax.imshow(detail(image).numpy(), cmap="gray" if image.shape[1] == 1 else None, vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_title(f"{name}\n{caption}", fontsize=9)
        ax.set_axis_off()
    return _save(fig, path)


__all__ = ["detail", "plot_superres_figure"]
