"""PSNR and SSIM as super-resolution papers report them (Ledig et al. 2017, sec. 4.1 and Table 2).

The protocol of the SRGAN paper (and of SRCNN, VDSR, EDSR, ...): both images are turned into the luminance Y of
YCbCr as MATLAB's ``rgb2ycbcr`` does (ITU-R BT.601, "studio swing")::

    Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255        R, G, B in [0, 1]  ->  Y in [16/255, 235/255]

a border of ``crop`` pixels (the scale factor) is removed from every side, and the figures are computed on what is
left with scikit-image:

* PSNR = 10 log10(1 / MSE), ``skimage.metrics.peak_signal_noise_ratio(data_range=1)``;
* SSIM (Wang et al. 2004, eq. 13) with the paper's settings: an 11x11 Gaussian window of sigma 1.5
  (``gaussian_weights=True, sigma=1.5``), population covariances (``use_sample_covariance=False``), K1 = 0.01,
  K2 = 0.03, ``data_range=1``.

Users who compute PSNR on RGB instead get lower figures than the papers print (ESRGAN issue #46); ``y_channel=False``
gives the RGB figures on purpose (PSNR over all channels, SSIM the mean over channels). Gray images (one channel)
pass through unchanged. Y is not rounded to 8 bits.

Images are float (N, C, H, W) in [0, 1]; ``psnr``/``ssim`` return the mean over the batch, ``psnr_per_image``/
``ssim_per_image`` one float64 per image. Identical images have an infinite PSNR.
"""

from __future__ import annotations

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch import Tensor

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError

Y_OFFSET = 16.0 / 255.0
Y_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)  # ITU-R BT.601 as MATLAB's rgb2ycbcr
SSIM_SIGMA = 1.5
SSIM_WINDOW = 11  # scikit-image's Gaussian window at sigma 1.5: 2 * round(3.5 sigma) + 1


def rgb_to_y(images: Tensor) -> Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> (N, 1, H, W) luminance Y in [16/255, 235/255] (MATLAB's rgb2ycbcr);
    (N, 1, H, W) gray images are returned unchanged."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise AdvlabError(f"images: expected (N, 1, H, W) or (N, 3, H, W), found shape {tuple(images.shape)}")
    if images.shape[1] == 1:
        return images
    weights = torch.tensor(Y_WEIGHTS, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return Y_OFFSET + (images * weights).sum(1, keepdim=True)


def _prepared(x: Tensor, y: Tensor, crop: int, y_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    """Both batches as float64 (N, H', W', C') arrays: Y or RGB, the border cropped."""
    for name, images in (("x", x), ("y", y)):
        if not isinstance(images, Tensor) or images.ndim != 4 or images.numel() == 0:
            raise AdvlabError(f"{name}: expected a non-empty (N, C, H, W) tensor, found "
                              f"{tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__}")
    if x.shape != y.shape:
        raise AdvlabError(f"images to compare differ in shape: {tuple(x.shape)} and {tuple(y.shape)}")
    check_int("crop", crop, 0)
    height, width = x.shape[-2:]
    if 2 * crop >= min(height, width):
        raise AdvlabError(f"crop {crop} removes the whole {height}x{width} image; crop less than half a side")
    arrays = []
    for images in (x, y):
        images = images.detach().to("cpu", torch.float64)
        if y_channel:
            images = rgb_to_y(images)
        if crop:
            images = images[..., crop:-crop, crop:-crop]
        arrays.append(images.permute(0, 2, 3, 1).numpy())
    return arrays[0], arrays[1]


def psnr_per_image(x: Tensor, y: Tensor, crop: int = 0, y_channel: bool = True) -> Tensor:
    """PSNR in dB of each image pair, (N,) float64 (see the module docstring for the protocol).

    Args:
        x, y: (N, C, H, W) in [0, 1], the same shape (which is the reference does not matter).
        crop: pixels removed from every border first (the scale factor in the paper's protocol).
        y_channel: compare the Y channel of YCbCr (RGB images); False compares all channels.
    """
    first, second = _prepared(x, y, crop, y_channel)
    with np.errstate(divide="ignore"):
        values = [peak_signal_noise_ratio(a, b, data_range=1.0) for a, b in zip(first, second)]
    return torch.tensor(values, dtype=torch.float64)


def ssim_per_image(x: Tensor, y: Tensor, crop: int = 0, y_channel: bool = True) -> Tensor:
    """SSIM of each image pair, (N,) float64, with Wang et al.'s settings (module docstring).

    Args:
        x, y: (N, C, H, W) in [0, 1], the same shape; after the crop each side needs at least 11 pixels.
        crop: pixels removed from every border first.
        y_channel: compare the Y channel of YCbCr (RGB images); False averages SSIM over the channels.
    """
    first, second = _prepared(x, y, crop, y_channel)
    if min(first.shape[1:3]) < SSIM_WINDOW:
        raise AdvlabError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after the {crop}-pixel "
                          f"crop, found {first.shape[2]}x{first.shape[1]}")
    values = [structural_similarity(a, b, data_range=1.0, channel_axis=-1, gaussian_weights=True, sigma=SSIM_SIGMA,
                                    use_sample_covariance=False) for a, b in zip(first, second)]
    return torch.tensor(values, dtype=torch.float64)


def psnr(x: Tensor, y: Tensor, crop: int = 0, y_channel: bool = True) -> float:
    """Mean PSNR in dB over the batch (:func:`psnr_per_image`)."""
    return float(psnr_per_image(x, y, crop, y_channel).mean())


def ssim(x: Tensor, y: Tensor, crop: int = 0, y_channel: bool = True) -> float:
    """Mean SSIM over the batch (:func:`ssim_per_image`)."""
    return float(ssim_per_image(x, y, crop, y_channel).mean())


__all__ = ["psnr", "psnr_per_image", "rgb_to_y", "ssim", "ssim_per_image"]
