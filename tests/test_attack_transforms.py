"""The differentiable transformations of advlab.attacks.transforms: identities, hand-computed cases, gradients."""

import math

import pytest
import torch

from advlab.attacks.transforms import (
    DEFAULT_RANGES,
    IDENTITY,
    TRANSFORMS,
    TransformDistribution,
    adjust_brightness,
    adjust_contrast,
    gaussian_blur,
    gaussian_noise,
    rescale,
    rotate,
    translate,
)
from advlab.core.errors import AdvlabError


def images(n=3, channels=2, height=9, width=9, seed=0):
    return torch.rand(n, channels, height, width, generator=torch.Generator().manual_seed(seed))


def identity_ranges():
    return {name: (IDENTITY[name], IDENTITY[name]) for name in TRANSFORMS}


def test_identity_parameters_give_the_identity():
    x = images()
    for out in (rotate(x, 0.0), rescale(x, 1.0), translate(x, 0.0), adjust_brightness(x, 0.0),
                adjust_contrast(x, 1.0), gaussian_blur(x, 0.0), gaussian_noise(x, 0.0)):
        assert out.shape == x.shape
        assert (out - x).abs().max() < 1e-6
    everything = TransformDistribution(TRANSFORMS, identity_ranges(), torch.Generator().manual_seed(0))
    assert (everything.sample(x) - x).abs().max() < 1e-6


def test_rotating_by_90_degrees_is_rot90():
    x = images(height=10, width=10)
    assert torch.allclose(rotate(x, 90.0)[..., 1:-1, 1:-1], torch.rot90(x, 1, (2, 3))[..., 1:-1, 1:-1], atol=1e-5)
    assert torch.allclose(rotate(x, -90.0)[..., 1:-1, 1:-1], torch.rot90(x, -1, (2, 3))[..., 1:-1, 1:-1], atol=1e-5)
    # per-image angles: each image gets its own
    angles = torch.tensor([0.0, 90.0, 180.0])
    turned = rotate(x, angles)
    for k in range(3):
        assert torch.allclose(turned[k], torch.rot90(x[k], k, (1, 2)), atol=1e-5)


def test_rotation_of_a_rectangle_by_180_degrees_flips_both_axes():
    x = images(height=6, width=10)  # pixel units, so a non-square image really turns
    assert torch.allclose(rotate(x, 180.0), x.flip(-1).flip(-2), atol=1e-5)


def test_translation_by_one_pixel_shifts_the_image():
    x = images(n=1, height=8, width=10)
    right = translate(x, torch.tensor([[1 / 10, 0.0]]))
    assert torch.allclose(right[..., 1:], x[..., :-1], atol=1e-5)
    assert right[..., 0].abs().max() < 1e-6  # zeros come in from outside
    down = translate(x, torch.tensor([[0.0, 2 / 8]]))
    assert torch.allclose(down[..., 2:, :], x[..., :-2, :], atol=1e-5)


def test_zooming_by_two_halves_a_ramp_about_the_centre():
    # a horizontal ramp, value = column index / 10; zoom 2 about the centre (3.5) maps output
    # column j to input column 3.5 + (j - 3.5) / 2, and bilinear sampling of a ramp is exact
    ramp = (torch.arange(8.0) / 10).expand(1, 1, 8, 8)
    zoomed = rescale(ramp, 2.0)
    expected = (3.5 + (torch.arange(8.0) - 3.5) / 2) / 10
    assert torch.allclose(zoomed[0, 0, 2:6, :], expected.expand(4, 8), atol=1e-6)


def test_blur_keeps_a_constant_image_and_matches_the_gaussian_weights():
    constant = torch.full((2, 3, 7, 7), 0.3)
    blurred = gaussian_blur(constant, torch.tensor([0.5, 2.0]))
    assert torch.allclose(blurred, constant, atol=1e-6)
    impulse = torch.zeros(1, 1, 11, 11)
    impulse[0, 0, 5, 5] = 1.0
    out = gaussian_blur(impulse, 1.0)
    weights = torch.tensor([math.exp(-k * k / 2) for k in range(-3, 4)])
    weights = weights / weights.sum()
    assert torch.allclose(out[0, 0, 2:9, 2:9], weights[:, None] * weights[None, :], atol=1e-6)
    assert float(out.sum()) == pytest.approx(1.0, abs=1e-6)


def test_brightness_and_contrast_by_hand():
    x = torch.tensor([0.1, 0.3, 0.5, 0.9]).view(1, 1, 2, 2)
    assert torch.allclose(adjust_brightness(x, 0.2), torch.tensor([0.3, 0.5, 0.7, 1.0]).view(1, 1, 2, 2))
    mean = 0.45
    expected = (mean + 0.5 * (x - mean)).clamp(0, 1)
    assert torch.allclose(adjust_contrast(x, 0.5), expected)


def test_noise_has_the_requested_spread():
    grey = torch.full((2, 1, 64, 64), 0.5)
    noisy = gaussian_noise(grey, torch.tensor([0.05, 0.1]), torch.Generator().manual_seed(0))
    spread = (noisy - grey).flatten(1).std(1)
    assert torch.allclose(spread, torch.tensor([0.05, 0.1]), rtol=0.05)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_gradients_flow_through_every_transform(name):
    x = (0.2 + 0.6 * images()).requires_grad_(True)
    distribution = TransformDistribution((name,), generator=torch.Generator().manual_seed(0))
    out = distribution.sample(x, samples=2)
    weights = torch.rand(out.shape, generator=torch.Generator().manual_seed(1))
    grad, = torch.autograd.grad((out * weights).sum(), x)
    assert grad is not None and grad.abs().sum() > 0
    assert torch.isfinite(grad).all()


def test_sampling_is_reproducible_and_stays_in_range():
    x = images()
    first = TransformDistribution(TRANSFORMS, generator=torch.Generator().manual_seed(3)).sample(x, 4)
    again = TransformDistribution(TRANSFORMS, generator=torch.Generator().manual_seed(3)).sample(x, 4)
    other = TransformDistribution(TRANSFORMS, generator=torch.Generator().manual_seed(4)).sample(x, 4)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert first.shape == (12, 2, 9, 9) and first.min() >= 0 and first.max() <= 1


def test_samples_are_image_major_and_drawn_per_copy():
    x = images()
    same = TransformDistribution(("rotate",), {"rotate": (0.0, 0.0)}).sample(x, 3)
    for i in range(3):
        for j in range(3):
            assert torch.allclose(same[3 * i + j], x[i], atol=1e-6)
    turned = TransformDistribution(("rotate",), generator=torch.Generator().manual_seed(0)).sample(x, 3)
    assert not torch.allclose(turned[0], turned[1])  # each copy has its own angle


def test_draws_lie_in_the_ranges_and_specs_set_ranges():
    distribution = TransformDistribution(("rotate:-30:30", "translate", "noise"), {"noise": (0.1, 0.2)},
                                         torch.Generator().manual_seed(0))
    assert distribution.names == ("rotate", "translate", "noise")
    drawn = distribution.draw(2000, torch.device("cpu"))
    assert drawn["rotate"].min() >= -30 and drawn["rotate"].max() <= 30 and drawn["rotate"].max() > 25
    assert drawn["translate"].shape == (2000, 2)
    low, high = DEFAULT_RANGES["translate"]
    assert drawn["translate"].min() >= low and drawn["translate"].max() <= high
    assert drawn["noise"].min() >= 0.1 and drawn["noise"].max() <= 0.2
    assert TransformDistribution("blur, noise").names == ("blur", "noise")


@pytest.mark.parametrize("names, ranges, words", [
    (("rotate", "sheer"), None, "unknown transform 'sheer'; valid transforms are: rotate, scale, translate"),
    (("rotate", "rotate"), None, "given twice"),
    (("rotate:30:-30",), None, "low <= high"),
    (("rotate:a:b",), None, "name:low:high"),
    (("scale",), {"scale": (0.0, 1.0)}, "scale: the range must start at >="),
    (("blur",), {"blur": (-1.0, 1.0)}, "blur: the range must start at >="),
    (("noise",), {"noise": (0.0, float("nan"))}, "finite"),
    (("rotate",), {"blur": (0.0, 1.0)}, "not among the transforms"),
])
def test_bad_names_and_ranges_are_refused(names, ranges, words):
    with pytest.raises(AdvlabError, match=words):
        TransformDistribution(names, ranges)


def test_bad_sample_counts_are_refused():
    distribution = TransformDistribution(("rotate",))
    for samples in (0, -2, 1.5):
        with pytest.raises(AdvlabError, match="samples must be an integer >= 1"):
            distribution.sample(images(), samples)
