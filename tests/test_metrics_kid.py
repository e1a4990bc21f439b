"""KID: a loop-based unbiased MMD^2 on the same subsets, subset draws, behaviour under shifts, errors."""

import importlib

import numpy as np
import pytest
import torch
from helpers import raises_one_line

from advlab.metrics.kid import KID, kid, kid_subset_indices

# The package re-exports the function kid(), which hides the submodule's attribute name.
kid_module = importlib.import_module("advlab.metrics.kid")


def loop_mmd2(x, y):
    """torch-fidelity's 'unbiased' MMD^2 with k(a, b) = (a.b / d + 1)^3, written pair by pair."""
    m, d = x.shape

    def k(a, b):
        return (float(np.dot(a, b)) / d + 1) ** 3

    within_x = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    within_y = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    across = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return (within_x + within_y) / (m * (m - 1)) - 2 * across / (m * m)


def gaussian(rng, n, d, shift=0.0):
    return rng.normal(size=(n, d)) + shift


def test_equals_loop_mmd_on_the_same_subsets():
    rng = np.random.default_rng(0)
    real, fake = gaussian(rng, 40, 6), gaussian(rng, 35, 6, shift=0.4)
    real_rows, fake_rows = kid_subset_indices(40, 35, subsets=5, subset_size=15, seed=3)
    estimates = [loop_mmd2(real[r], fake[f]) for r, f in zip(real_rows, fake_rows)]
    result = kid(real, fake, subsets=5, subset_size=15, seed=3)
    assert isinstance(result, KID)
    assert result.mean == pytest.approx(np.mean(estimates), rel=1e-12)
    assert result.std == pytest.approx(np.std(estimates), rel=1e-9)


def test_one_full_subset_needs_no_sampling():
    rng = np.random.default_rng(1)
    real, fake = gaussian(rng, 25, 4), gaussian(rng, 25, 4, shift=0.3) * 1.2
    result = kid(real, fake, subsets=1, subset_size=25)
    assert result.mean == pytest.approx(loop_mmd2(real, fake), rel=1e-12)
    assert result.std == 0


def test_subset_indices_are_distinct_seeded_and_in_torch_fidelity_order():
    real_rows, fake_rows = kid_subset_indices(50, 30, subsets=4, subset_size=30, seed=2020)
    assert real_rows.shape == fake_rows.shape == (4, 30)
    assert all(len(set(row)) == 30 for row in np.concatenate([real_rows, fake_rows]))
    assert real_rows.max() < 50 and fake_rows.max() < 30 and min(real_rows.min(), fake_rows.min()) >= 0
    rng = np.random.RandomState(2020)  # per subset, real then fake, from RandomState(seed)
    for r, f in zip(real_rows, fake_rows):
        assert np.array_equal(r, rng.choice(50, 30, replace=False))
        assert np.array_equal(f, rng.choice(30, 30, replace=False))
    again = kid_subset_indices(50, 30, subsets=4, subset_size=30, seed=2020)
    other = kid_subset_indices(50, 30, subsets=4, subset_size=30, seed=2021)
    assert np.array_equal(again[0], real_rows) and not np.array_equal(other[0], real_rows)


def torch_fidelity_kid(features_1, features_2, subsets, subset_size, seed):
    """torch-fidelity's metric_kid.kid_features_to_metric, transcribed: per subset it draws from input1, then from
    input2, with one RandomState(rng_seed), and reports the mean and np.std of the unbiased MMD^2."""
    rng = np.random.RandomState(seed)
    estimates = []
    for _ in range(subsets):
        f1 = features_1[rng.choice(len(features_1), subset_size, replace=False)]
        f2 = features_2[rng.choice(len(features_2), subset_size, replace=False)]
        estimates.append(loop_mmd2(f1, f2))
    return np.mean(estimates), np.std(estimates)


def test_subsets_match_torch_fidelity_only_with_the_real_features_as_its_input1():
    """The docstring's claim: kid(real, fake, seed=s) is torch-fidelity's KID with input1=real, input2=fake and
    rng_seed=s; in torch-fidelity's usual order (input1 the generated samples) the subsets, and the figure, differ."""
    rng = np.random.default_rng(6)
    real, fake = gaussian(rng, 40, 5), gaussian(rng, 40, 5, shift=0.3)
    ours = kid(real, fake, subsets=4, subset_size=12, seed=2020)
    real_first = torch_fidelity_kid(real, fake, 4, 12, 2020)
    usual_order = torch_fidelity_kid(fake, real, 4, 12, 2020)
    assert (ours.mean, ours.std) == pytest.approx(real_first, rel=1e-9)
    assert ours.mean != pytest.approx(usual_order[0], rel=1e-6)


def test_same_distribution_is_near_zero_and_shift_raises_it():
    rng = np.random.default_rng(2)
    real, same = gaussian(rng, 600, 16), gaussian(rng, 600, 16)
    values = [kid(real, gaussian(rng, 600, 16, shift), subsets=20, subset_size=200).mean for shift in (0.2, 0.5, 1.0)]
    matched = kid(real, same, subsets=20, subset_size=200)
    assert values[0] < values[1] < values[2]
    assert abs(matched.mean) < 0.1 * values[0]  # -0.005 against 0.128 for a shift of 0.2
    assert matched.std > 0


def test_batches_give_the_unbatched_result(monkeypatch):
    rng = np.random.default_rng(3)
    real, fake = gaussian(rng, 60, 8), gaussian(rng, 60, 8, shift=0.2)
    whole = kid(real, fake, subsets=7, subset_size=20, seed=5)
    monkeypatch.setattr(kid_module, "BATCH_ELEMENTS", 20 * 20 * 3)  # three subsets per batch
    batched = kid(real, fake, subsets=7, subset_size=20, seed=5)
    assert batched.mean == pytest.approx(whole.mean, rel=1e-13) and batched.std == pytest.approx(whole.std, rel=1e-9)


def test_torch_and_float32_inputs():
    rng = np.random.default_rng(4)
    real, fake = gaussian(rng, 30, 5).astype(np.float32), gaussian(rng, 30, 5, 0.5).astype(np.float32)
    from_numpy = kid(real, fake, subsets=3, subset_size=10)
    assert kid(torch.from_numpy(real), torch.from_numpy(fake), subsets=3, subset_size=10) == from_numpy


def test_bad_arguments_raise_one_line_errors():
    rng = np.random.default_rng(5)
    real, fake = gaussian(rng, 50, 4), gaussian(rng, 30, 4)
    raises_one_line(lambda: kid(real, fake, subset_size=1000), "subset_size 1000", "real: 50", "fake: 30")
    raises_one_line(lambda: kid(real, fake, subset_size=31), "subset_size 31", "<= 30")
    raises_one_line(lambda: kid(real, fake, subset_size=1), "subset_size", ">= 2")
    raises_one_line(lambda: kid(real, fake, subsets=0, subset_size=10), "subsets", ">= 1")
    raises_one_line(lambda: kid(real, fake, subset_size=10, seed=-1), "seed")
    raises_one_line(lambda: kid(real, gaussian(rng, 30, 5), subset_size=10), "differ in width")
