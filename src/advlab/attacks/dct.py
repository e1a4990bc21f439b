"""The 2-D discrete cosine transform of image batches, for attacks that search low frequencies.

SimBA-DCT (Guo et al. 2019, sec. 3.2) and GeoDA (Rahmati et al. 2020, sec. 4) draw their search directions
from the low-frequency part of the orthonormal DCT-II basis: an image's content lives there, so a direction
spanned by a few low frequencies changes the prediction with far fewer queries than one drawn per pixel.

With the orthonormal DCT-II matrix D (``dct_matrix``, D D^T = I), an H x W channel x has coefficients
D_H x D_W^T, and x = D_H^T c D_W: ``dct_2d`` and ``idct_2d`` apply these over the last two axes of any batch,
so a basis image of frequency (u, v) is ``idct_2d`` of a one-hot coefficient and has L2 norm 1.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def dct_matrix(n: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """The orthonormal DCT-II matrix (n, n): D[k, i] = s_k cos(pi (2i + 1) k / (2n)), s_0 = sqrt(1/n), else
    sqrt(2/n)."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    matrix = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    matrix[0] /= math.sqrt(2.0)
    return matrix.to(device=device, dtype=dtype)


def dct_2d(images: Tensor) -> Tensor:
    """DCT-II coefficients of each (H, W) plane of `images` (..., H, W); orthonormal, so norms are kept."""
    rows = dct_matrix(images.shape[-2], images.device, images.dtype)
    cols = dct_matrix(images.shape[-1], images.device, images.dtype)
    return rows @ images @ cols.T


def idct_2d(coefficients: Tensor) -> Tensor:
    """The inverse of ``dct_2d``: the planes (..., H, W) whose coefficients these are."""
    rows = dct_matrix(coefficients.shape[-2], coefficients.device, coefficients.dtype)
    cols = dct_matrix(coefficients.shape[-1], coefficients.device, coefficients.dtype)
    return rows.T @ coefficients @ cols


def low_frequency_mask(height: int, width: int, ratio: float, device: torch.device | None = None) -> Tensor:
    """Bool (H, W): the frequencies (u, v) with u < ceil(ratio H) and v < ceil(ratio W), the low-frequency block
    SimBA-DCT and GeoDA sample from."""
    mask = torch.zeros(height, width, dtype=torch.bool, device=device)
    mask[:max(1, math.ceil(ratio * height)), :max(1, math.ceil(ratio * width))] = True
    return mask
