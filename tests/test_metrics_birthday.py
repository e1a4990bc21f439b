"""Support size by the birthday paradox (advlab.metrics.birthday)."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.optimize import minimize_scalar
from scipy.stats import binom

from advlab.core.errors import AdvlabError
from advlab.data import load_digits_images
from advlab.metrics import distances as distances_module
from advlab.metrics.birthday import (
    LIKELIHOOD_DROP,
    birthday_estimate,
    birthday_support,
    calibrate_threshold,
    collision_probability,
    nearest_neighbours,
    sample_with_replacement,
)
from advlab.reports.grids import save_pair_grid


def stored_images(count: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(count, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def continuous(width: int = 5, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return lambda n: torch.rand(n, width, generator=generator, dtype=torch.float64)


def binomial_log_likelihood(support, sizes, trials, hits) -> float:
    """The model's log-likelihood written directly with scipy's binomial pmf."""
    return sum(binom.logpmf(d, t, collision_probability(s, support)) for s, t, d in zip(sizes, trials, hits))


def planted(size: int, hits_first: int, width: int = 4, seed: int = 0):
    """Distinct random rows, except that the first `hits_first` batches hold one exact copy."""
    generator, calls = torch.Generator().manual_seed(seed), []

    def sample(n):
        rows = torch.rand(n, width, generator=generator, dtype=torch.float64)
        if len(calls) < hits_first:
            rows[n - 1] = rows[0]
        calls.append(n)
        return rows

    return sample


# ---------------------------------------------------------------------- the estimate


@pytest.mark.parametrize("support", [100, 400, 1600])
def test_estimate_lands_within_factor_two_of_stored_support(support):
    result = birthday_support(sample_with_replacement(stored_images(support), seed=1))
    assert support / 2 <= result.support <= 2 * support
    assert result.low <= support <= result.high
    assert result.duplicates[-1] == result.trials  # the ladder climbed until duplicates were certain
    assert all(a < b for a, b in zip(result.batch_sizes, result.batch_sizes[1:]))


def test_near_copies_with_calibrated_threshold():
    digits = load_digits_images().data
    stored = digits[:300]
    generator = torch.Generator().manual_seed(3)
    draw = sample_with_replacement(stored, seed=3)

    def near_copies(n):
        return draw(n) + 0.01 * torch.randn(n, 1, 8, 8, generator=generator)

    threshold = calibrate_threshold(digits)
    assert 0.2 < threshold < 0.3  # a quarter of the digits' median nearest-neighbour distance (~1.0)
    assert birthday_support(near_copies, max_batch_size=256).support == math.inf  # noisy copies are never exact
    result = birthday_support(near_copies, threshold=threshold)
    assert 150 <= result.support <= 600
    assert 0 < result.closest_pairs.distances[0] < threshold


def test_no_duplicates_gives_infinite_support_and_a_lower_bound():
    result = birthday_support(continuous(), trials=5, max_batch_size=200)
    assert result.batch_sizes == (4, 6, 8, 11, 16, 23, 32, 45, 64, 91, 128, 181, 200)  # 4 sqrt(2)^k, capped
    assert result.duplicates == (0,) * 13
    assert result.support == math.inf and result.high == math.inf and result.rule_of_thumb is None
    exposure = sum(5 * s * (s - 1) / 2 for s in result.batch_sizes)
    assert result.low == pytest.approx(exposure / 1.920729, rel=1e-5)
    assert result.closest_pairs.distances[0] > 0


def test_collapsed_generator_gives_zero_support_and_an_upper_bound():
    result = birthday_support(lambda n: torch.zeros(n, 3), trials=4, start=16, growth=2)
    assert result.batch_sizes == (2, 4, 8, 16)  # halved down to 2: every batch had a duplicate
    assert result.duplicates == (4, 4, 4, 4)
    assert result.support == 0 and result.low == 0 and result.rule_of_thumb == 4
    drop = sum(4 * math.log(-math.expm1(-s * (s - 1) / 2 / result.high)) for s in result.batch_sizes)
    assert drop == pytest.approx(-LIKELIHOOD_DROP, abs=1e-8)


@pytest.mark.parametrize("size,trials,hits", [(10, 10, 3), (64, 20, 19), (2, 7, 1), (100, 1, 0), (30, 1, 1)])
def test_single_batch_size_matches_closed_form(size, trials, hits):
    estimate = birthday_estimate([size], trials, [hits])
    lam = size * (size - 1) / 2
    if hits == 0:
        assert estimate.support == math.inf
        return
    if hits == trials:
        assert estimate.support == 0
        return
    assert estimate.support == pytest.approx(-lam / math.log(1 - hits / trials), rel=1e-9)
    for edge in (estimate.low, estimate.high):  # the interval's ends sit 1.92 below the maximum
        fall = binomial_log_likelihood(estimate.support, [size], [trials], [hits]) - \
            binomial_log_likelihood(edge, [size], [trials], [hits])
        assert fall == pytest.approx(LIKELIHOOD_DROP, abs=1e-7)
    assert estimate.low < estimate.support < estimate.high


def test_several_sizes_match_a_direct_maximisation():
    sizes, trials, hits = [8, 16, 32, 64, 128], [10, 10, 12, 10, 10], [0, 1, 4, 7, 10]
    estimate = birthday_estimate(sizes, trials, hits)
    direct = minimize_scalar(lambda u: -binomial_log_likelihood(math.exp(u), sizes, trials, hits),
                             bounds=(0, 15), method="bounded", options={"xatol": 1e-10})
    assert estimate.support == pytest.approx(math.exp(direct.x), rel=1e-6)
    assert estimate.low < estimate.support < estimate.high


def test_counted_duplicates_reach_the_estimate():
    result = birthday_support(planted(10, 3), batch_sizes=[10], trials=10)
    assert result.duplicates == (3,) and result.batch_sizes == (10,)
    assert result.support == pytest.approx(-45 / math.log(0.7), rel=1e-9)
    assert result.rule_of_thumb is None


def test_ladder_shrinks_from_start_and_never_repeats_a_size():
    result = birthday_support(lambda n: torch.zeros(n, 3), trials=2, start=16)
    assert result.batch_sizes == (2, 3, 4, 6, 8, 11, 16)  # 16 / sqrt(2)^k, rounded
    fine = birthday_support(continuous(), trials=1, growth=1.05, max_batch_size=12)
    assert fine.batch_sizes == tuple(range(4, 13))


def test_rule_of_thumb_is_the_square_of_the_first_half_duplicated_size():
    result = birthday_support(sample_with_replacement(stored_images(200), seed=0), trials=10)
    first = next(s for s, d in zip(result.batch_sizes, result.duplicates) if 2 * d >= 10)
    assert result.rule_of_thumb == first**2


def test_same_seed_same_result():
    runs = [birthday_support(sample_with_replacement(stored_images(300), seed=5), trials=6) for _ in range(2)]
    assert runs[0].duplicates == runs[1].duplicates and runs[0].support == runs[1].support
    assert torch.equal(runs[0].closest_pairs.first, runs[1].closest_pairs.first)


# ---------------------------------------------------------------------- closest pairs


def test_nearest_neighbours_match_brute_force_in_blocks(monkeypatch):
    rows = torch.randn(57, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    distances = torch.cdist(rows, rows)
    distances.fill_diagonal_(math.inf)
    monkeypatch.setattr(distances_module, "CHUNK_ELEMENTS", 100)  # chunks of one row
    found, indices = nearest_neighbours(rows)
    assert torch.equal(indices, distances.argmin(1))
    assert torch.allclose(found, distances.min(1).values, atol=1e-12)


def test_planted_duplicates_come_first_at_distance_zero():
    generator = torch.Generator().manual_seed(0)

    def sample(n):
        images = torch.rand(n, 1, 4, 4, generator=generator)
        images[5] = images[2]
        images[9] = images[7] + 0.001
        return images

    result = birthday_support(sample, batch_sizes=[12], trials=1, top_pairs=3)
    first, second, distances = result.closest_pairs
    assert distances[0] == 0 and torch.equal(first[0], second[0])
    assert distances[1] == pytest.approx(0.001 * 4, rel=1e-5)  # 16 pixels off by 0.001: 0.001 * sqrt(16)
    assert distances[2] > 0.1 and len(distances) == 3
    assert result.duplicates == (1,)
    assert birthday_support(sample, batch_sizes=[12], trials=1, threshold=0.005).duplicates == (1,)


def test_identical_pairs_are_shown_once():
    result = birthday_support(sample_with_replacement(stored_images(3), seed=0), batch_sizes=[16], trials=4)
    first, second, distances = result.closest_pairs
    # every sample's nearest neighbour is a copy of itself: each stored image once, at distance 0
    assert len(distances) == 3 and (distances == 0).all() and torch.equal(first, second)
    assert len({tuple(image.flatten().tolist()) for image in first}) == 3


def test_embedding_space_finds_pairs_pixel_space_misses():
    generator = torch.Generator().manual_seed(0)

    def sample(n):  # the first coordinate repeats, the rest is noise
        rows = torch.rand(n, 8, generator=generator, dtype=torch.float64)
        rows[1, 0] = rows[0, 0]
        return rows

    pixel = birthday_support(sample, batch_sizes=[8], trials=5)
    feature = birthday_support(sample, batch_sizes=[8], trials=5, embed=lambda x: x[:, :1])
    assert pixel.duplicates == (0,) and feature.duplicates == (5,)
    assert feature.closest_pairs.first.shape[1:] == (8,)  # the samples, not their features, are kept
    assert feature.closest_pairs.distances[0] == 0


def test_calibrate_threshold_hand_case():
    points = torch.tensor([[0.0], [1.0], [3.0], [7.0]])  # nearest-neighbour distances 1, 1, 2, 4
    assert calibrate_threshold(points, fraction=1.0) == pytest.approx(1.5)  # median of 1, 1, 2, 4
    assert calibrate_threshold(points.numpy(), fraction=0.5) == pytest.approx(0.75)
    assert calibrate_threshold(points, fraction=1.0, embed=lambda x: 2 * x) == pytest.approx(3.0)


def test_sample_with_replacement_draws_stored_items_only():
    items = torch.arange(10.0).reshape(5, 2)
    draws = sample_with_replacement(items, seed=0)(200)
    assert draws.shape == (200, 2)
    assert set(draws[:, 0].tolist()) == {0.0, 2.0, 4.0, 6.0, 8.0}
    assert torch.equal(sample_with_replacement(items, seed=4)(9), sample_with_replacement(items, seed=4)(9))


def test_pair_grid_puts_each_pair_side_by_side(tmp_path):
    generator = torch.Generator().manual_seed(1)

    def sample(n):
        images = torch.rand(n, 1, 8, 8, generator=generator)
        images[3] = images[0]
        return images

    result = birthday_support(sample, batch_sizes=[6], trials=1, top_pairs=4)
    path = save_pair_grid(*result.closest_pairs[:2], tmp_path / "pairs.png", scale=1)
    grid = np.asarray(Image.open(path))
    # one row of 4 pairs, each 8 + 1 (white line) + 8 pixels wide, 4 pixels of padding around and between pairs
    assert grid.shape == (8 + 2 * 4, 4 * (17 + 4) + 4)
    assert np.array_equal(grid[4:12, 4:12], grid[4:12, 13:21])  # the exact copy, side by side
    assert (grid[4:12, 12] == 255).all()  # the line between the two halves of a pair
    assert not np.array_equal(grid[4:12, 25:33], grid[4:12, 34:42])  # the second pair: not a copy


def test_pair_grid_refuses_non_images(tmp_path):
    result = birthday_support(continuous(), batch_sizes=[4], trials=1)
    with pytest.raises(AdvlabError, match="not images"):
        save_pair_grid(*result.closest_pairs[:2], tmp_path / "pairs.png")


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize("sizes,words", [([1], "batch size must be an integer >= 2"), ([], "non-empty"),
                                         ([8, 8], "distinct"), ("16", "non-empty"), ([2.5], "integer >= 2")])
def test_bad_batch_sizes(sizes, words):
    with pytest.raises(AdvlabError, match=words):
        birthday_support(continuous(), batch_sizes=sizes)


@pytest.mark.parametrize("options,words", [
    ({"trials": 0}, "trials must be an integer >= 1"),
    ({"threshold": -0.1}, "threshold must be a number >= 0"),
    ({"top_pairs": 0}, "top_pairs"),
    ({"start": 64, "max_batch_size": 32}, "must not exceed max_batch_size"),
    ({"start": 1}, "start must be an integer >= 2"),
    ({"growth": 1}, "growth must be a number > 1"),
    ({"embed": 3}, "embed must be a callable"),
])
def test_bad_options(options, words):
    with pytest.raises(AdvlabError, match=words):
        birthday_support(continuous(), **options)


def test_bad_samplers():
    with pytest.raises(AdvlabError, match="sample must be a callable"):
        birthday_support(torch.zeros(4, 2))
    with pytest.raises(AdvlabError, match=r"sample\(8\): expected 8 samples"):
        birthday_support(lambda n: torch.rand(n - 1, 3), batch_sizes=[8])
    with pytest.raises(AdvlabError, match="earlier batches gave"):
        birthday_support(lambda n: torch.rand(n, n), batch_sizes=[4, 8], trials=1)
    with pytest.raises(AdvlabError, match="expected a NumPy array or torch tensor, found list"):
        birthday_support(lambda n: [0.0] * n, batch_sizes=[4])
    with pytest.raises(AdvlabError, match="NaN or inf"):
        birthday_support(lambda n: torch.full((n, 2), math.nan), batch_sizes=[4])
    with pytest.raises(AdvlabError, match=r"embed: expected features of shape \(4, d\)"):
        birthday_support(continuous(), batch_sizes=[4], embed=lambda x: x[:, 0])


def test_bad_counts_and_references():
    with pytest.raises(AdvlabError, match="cannot exceed trials"):
        birthday_estimate([4], 2, [3])
    with pytest.raises(AdvlabError, match="differ in length"):
        birthday_estimate([4, 8], 2, [1])
    with pytest.raises(AdvlabError, match="at least 2 real samples"):
        calibrate_threshold(torch.zeros(1, 3))
    with pytest.raises(AdvlabError, match="fraction must be a number > 0"):
        calibrate_threshold(torch.rand(5, 3), fraction=0)
    with pytest.raises(AdvlabError, match="items"):
        sample_with_replacement([1, 2, 3])
