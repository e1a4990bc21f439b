"""advlab.attacks.dct: the orthonormal DCT-II of image planes, checked against SciPy's."""

import numpy as np
import scipy.fft
import torch

from advlab.attacks.dct import dct_2d, dct_matrix, idct_2d, low_frequency_mask


def test_matrix_is_orthonormal():
    matrix = dct_matrix(7, dtype=torch.float64)
    assert torch.allclose(matrix @ matrix.T, torch.eye(7, dtype=torch.float64), atol=1e-12)


def test_transform_is_scipy_s_orthonormal_dct_and_inverts():
    images = torch.rand(2, 3, 8, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    coefficients = dct_2d(images)
    expected = scipy.fft.dctn(images.numpy(), axes=(-2, -1), norm="ortho")
    assert np.allclose(coefficients.numpy(), expected, atol=1e-12)
    assert torch.allclose(idct_2d(coefficients), images, atol=1e-12)
    assert torch.allclose(coefficients.flatten(1).norm(dim=1), images.flatten(1).norm(dim=1))


def test_low_frequency_mask_keeps_the_top_left_block():
    mask = low_frequency_mask(8, 6, 0.25)
    assert mask.sum() == 2 * 2 and mask[:2, :2].all()
    assert low_frequency_mask(4, 4, 0.01).sum() == 1  # at least the constant
