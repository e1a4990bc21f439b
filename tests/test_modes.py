"""Tests for advlab.metrics.modes: modes covered, high-quality samples and KL (VEEGAN/PacGAN)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from advlab.core.errors import AdvlabError
from advlab.data import GaussianMixture2D, grid25, ring8
from advlab.metrics import ModeCoverage, mode_coverage


def test_exact_ring_means_cover_all_modes_uniformly():
    result = mode_coverage(ring8().means)
    assert result == ModeCoverage(modes=8, total_modes=8, high_quality=1.0, counts=(1,) * 8, kl=0.0)


def test_four_of_eight_ring_modes():
    means = ring8().means
    points = torch.cat([means[[0, 2, 4, 6]]] * 3)  # 3 points on each of 4 modes
    result = mode_coverage(points, "ring8")
    assert result.modes == 4 and result.total_modes == 8
    assert result.high_quality == 1.0
    assert result.counts == (3, 0, 3, 0, 3, 0, 3, 0)
    assert result.kl == pytest.approx(math.log(2))


def test_points_far_from_every_mode():
    points = torch.tensor([[0.0, 0.0], [5.0, 5.0], [0.5, 0.5]])  # 0.5 from the ring at best
    result = mode_coverage(points, "ring8")
    assert result.modes == 0 and result.high_quality == 0.0
    assert result.counts == (0,) * 8
    assert result.kl == pytest.approx(math.log(8))


def test_mixed_quality_fraction_and_histogram():
    means = ring8().means
    points = torch.cat([means[[1, 1, 1, 5]], torch.zeros(4, 2)])  # 4 good, 4 at the centre
    result = mode_coverage(points, "ring8")
    assert result.high_quality == 0.5 and result.modes == 2
    assert result.counts == (0, 3, 0, 0, 0, 1, 0, 0)
    p = np.array([0.75, 0.25])
    assert result.kl == pytest.approx(float(np.sum(p * np.log(p * 8))))


@pytest.mark.parametrize(("make", "name"), [(ring8, "ring8"), (grid25, "grid25")])
def test_three_std_threshold(make, name):
    mixture = make()
    mode = mixture.means[3].double()
    direction = torch.tensor([0.6, 0.8], dtype=torch.float64)  # unit length, not axis-aligned
    inside = mode + 2.9 * mixture.std * direction
    outside = mode + 3.1 * mixture.std * direction
    assert mode_coverage(inside[None], name).counts[3] == 1
    assert mode_coverage(outside[None], name).modes == 0
    assert mode_coverage(outside[None], name, threshold=3.2).modes == 1
    both = mode_coverage(torch.stack([inside, outside]), name)
    assert both.high_quality == 0.5 and both.modes == 1


def test_grid25_all_modes_and_subsets():
    means = grid25().means
    assert mode_coverage(means, "grid25") == ModeCoverage(25, 25, 1.0, (1,) * 25, 0.0)
    corners = torch.tensor([[-4.0, -4.0], [4.0, 4.0], [-4.0, 4.0], [4.0, -4.0], [3.0, 3.0]])
    result = mode_coverage(corners, "grid25")  # (3, 3) lies between modes: not high quality
    assert result.modes == 4 and result.high_quality == pytest.approx(0.8)
    assert result.kl == pytest.approx(math.log(25 / 4))
    assert sum(result.counts) == 4


def test_samples_from_the_mixture_score_as_expected():
    # in 2-D, P(|offset| < 3 std) = 1 - exp(-9 / 2) ~ 0.9889 for an isotropic Gaussian
    mixture = grid25()
    result = mode_coverage(mixture.sample(20_000, torch.Generator().manual_seed(0)), mixture)
    assert result.modes == 25
    assert result.high_quality == pytest.approx(1 - math.exp(-4.5), abs=0.005)
    assert result.kl < 0.01


def test_numpy_and_torch_agree():
    points = ring8().sample(500, torch.Generator().manual_seed(2)) * 1.01
    from_torch = mode_coverage(points)
    from_numpy = mode_coverage(points.numpy())
    from_numpy64 = mode_coverage(points.numpy().astype(np.float64))
    assert from_torch == from_numpy == from_numpy64
    assert 0 < from_torch.high_quality < 1


def test_custom_mixture_object():
    mixture = GaussianMixture2D("pair", torch.tensor([[0.0, 0.0], [10.0, 0.0]]), std=1.0)
    result = mode_coverage(torch.tensor([[0.5, 0.0], [9.0, 2.0], [5.0, 0.0]]), mixture)
    assert result.counts == (1, 1) and result.total_modes == 2
    assert result.high_quality == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("points", "words"),
    [
        (torch.zeros(4, 3), r"\(N, 2\)"),
        (torch.zeros(4), r"\(N, 2\)"),
        (torch.zeros(0, 2), r"N > 0"),
        (torch.tensor([[0.0, float("nan")]]), "NaN"),
        (np.array([[np.inf, 0.0]]), "finite"),
        ([[1.0, 0.0]], "tensor or array"),
    ],
)
def test_bad_points_rejected(points, words):
    with pytest.raises(AdvlabError, match=words):
        mode_coverage(points)


def test_bad_dataset_and_threshold_rejected():
    with pytest.raises(AdvlabError, match="ring8.*grid25"):
        mode_coverage(torch.zeros(1, 2), "digits")
    for threshold in (0, -1.0, float("nan"), "three"):
        with pytest.raises(AdvlabError, match="threshold"):
            mode_coverage(torch.zeros(1, 2), threshold=threshold)
