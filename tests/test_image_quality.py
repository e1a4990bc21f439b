"""PSNR and SSIM with the super-resolution protocol: Y of YCbCr (MATLAB's rgb2ycbcr), a border crop, scikit-image."""

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from advlab.core.errors import AdvlabError
from advlab.metrics.image_quality import psnr, psnr_per_image, rgb_to_y, ssim, ssim_per_image


def fixed_pair(channels=3, size=24, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(2, channels, size, size + 4, generator=generator, dtype=torch.float64)
    noise = 0.1 * torch.randn(x.shape, generator=generator, dtype=torch.float64)
    return x, (x + noise).clamp(0, 1)


@pytest.mark.parametrize(("colour", "expected"), [
    ((0, 0, 0), 16), ((1, 1, 1), 235), ((1, 0, 0), 16 + 65.481), ((0, 1, 0), 16 + 128.553),
    ((0, 0, 1), 16 + 24.966), ((0.5, 0.5, 0.5), 16 + 0.5 * 219)])
def test_y_channel_at_known_colours(colour, expected):
    image = torch.tensor(colour, dtype=torch.float64).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert torch.allclose(rgb_to_y(image) * 255, torch.full((1, 1, 2, 2), float(expected), dtype=torch.float64))


def test_gray_images_pass_through_the_y_conversion():
    gray = torch.rand(2, 1, 5, 5)
    assert rgb_to_y(gray) is gray


def test_psnr_by_hand_on_a_tiny_example():
    x = torch.zeros(1, 1, 2, 2)
    y = x.clone()
    y[0, 0, 0, 0] = 0.1  # MSE = 0.01 / 4
    assert psnr(x, y, y_channel=False) == pytest.approx(10 * math.log10(1 / 0.0025))
    rgb_x, rgb_y = x.expand(1, 3, 2, 2), y.expand(1, 3, 2, 2)  # gray as RGB: Y differs by 219/255 of 0.1
    assert psnr(rgb_x, rgb_y) == pytest.approx(10 * math.log10(1 / ((0.1 * 219 / 255) ** 2 / 4)))


def test_psnr_of_identical_images_is_infinite():
    x = torch.rand(1, 3, 8, 8)
    assert math.isinf(psnr(x, x.clone()))


@pytest.mark.parametrize("crop", [0, 3])
def test_psnr_equals_scikit_image_on_the_y_channel_with_a_crop(crop):
    x, y = fixed_pair()
    ours = psnr_per_image(x, y, crop=crop)
    weights = np.array([65.481, 128.553, 24.966]) / 255
    for index in range(2):
        a = 16 / 255 + np.tensordot(weights, x[index].numpy(), axes=1)
        b = 16 / 255 + np.tensordot(weights, y[index].numpy(), axes=1)
        if crop:
            a, b = a[crop:-crop, crop:-crop], b[crop:-crop, crop:-crop]
        assert float(ours[index]) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0), abs=1e-10)
    assert psnr(x, y, crop=crop) == pytest.approx(float(ours.mean()))


def test_rgb_psnr_and_ssim_equal_scikit_image_over_channels():
    x, y = fixed_pair()
    a, b = x[0].permute(1, 2, 0).numpy(), y[0].permute(1, 2, 0).numpy()
    assert float(psnr_per_image(x, y, y_channel=False)[0]) == pytest.approx(
        peak_signal_noise_ratio(a, b, data_range=1.0), abs=1e-10)
    expected = structural_similarity(a, b, data_range=1.0, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False)
    assert float(ssim_per_image(x, y, y_channel=False)[0]) == pytest.approx(expected, abs=1e-10)


def test_ssim_equals_scikit_image_with_wang_settings_on_y_with_a_crop():
    x, y = fixed_pair(size=30)
    weights = np.array([65.481, 128.553, 24.966]) / 255
    a = (16 / 255 + np.tensordot(weights, x[1].numpy(), axes=1))[2:-2, 2:-2]
    b = (16 / 255 + np.tensordot(weights, y[1].numpy(), axes=1))[2:-2, 2:-2]
    expected = structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False)
    assert float(ssim_per_image(x, y, crop=2)[1]) == pytest.approx(expected, abs=1e-10)
    # the settings matter: scikit-image's defaults (7x7 uniform window, sample covariance) give another value
    assert abs(structural_similarity(a, b, data_range=1.0) - expected) > 1e-5
    assert ssim(x, x.clone()) == pytest.approx(1.0)
    assert ssim(x, y, crop=2) < 1.0


def test_gray_images_are_compared_as_they_are():
    x, y = fixed_pair(channels=1)
    a, b = x[0, 0].numpy(), y[0, 0].numpy()
    assert float(psnr_per_image(x, y)[0]) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0))


def test_bad_inputs_are_one_clear_error():
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(AdvlabError, match="differ in shape"):
        psnr(x, torch.rand(1, 3, 16, 15))
    with pytest.raises(AdvlabError, match="crop"):
        psnr(x, x, crop=8)
    with pytest.raises(AdvlabError, match="SSIM needs"):
        ssim(x, x, crop=3)
    with pytest.raises(AdvlabError, match=r"\(N, C, H, W\)"):
        psnr(x[0], x[0])
