"""Tests for advlab.metrics.oscillation: loss oscillation, Spearman rank correlation, convergence vs quality."""

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats

from advlab.core.errors import AdvlabError
from advlab.metrics.oscillation import (
    Oscillation,
    convergence_vs_quality,
    detrend,
    loss_at_evaluations,
    loss_oscillation,
    rank_correlation,
)
from advlab.reports import read_metrics

SINE_HALF_RANGE = math.sin(0.45 * math.pi)  # half the 5-95% range of A sin(.) is A sin(0.45 pi) ~ 0.988 A


def noisy_sine(period: float, amplitude: float, noise: float, seed: int, steps=None):
    """A sine of ``period`` steps on a decaying trend plus Gaussian noise, logged every 10 steps."""
    steps = np.arange(0, 10000, 10.0) if steps is None else steps
    rng = np.random.default_rng(seed)
    values = (amplitude * np.sin(2 * np.pi * steps / period + 0.3) + noise * rng.standard_normal(steps.size)
              + 1.0 + 0.5 * np.exp(-steps / 2000))
    return steps, values


# ---------------------------------------------------------------- loss_oscillation


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("period", [70.0, 250.0, 1300.0])
def test_sine_plus_noise_gives_its_period(period, seed):
    steps, values = noisy_sine(period, 1.5, 0.15, seed)
    found = loss_oscillation(values, steps)
    assert found.period is not None and abs(found.period / period - 1) < 0.1
    assert found.n == 1000 and found.mean == pytest.approx(values.mean())


def test_pure_sine_amplitude_is_the_closed_form():
    steps = np.arange(4000.0)
    found = loss_oscillation(2.0 * np.sin(2 * np.pi * steps / 40), steps)
    assert found.period == pytest.approx(40.0, rel=1e-3)
    assert found.amplitude == pytest.approx(2.0 * SINE_HALF_RANGE, rel=1e-3)
    assert found.mean == pytest.approx(0.0, abs=1e-9)
    # whole periods of A sin(2 pi t / P) over [0, T]: cov(t, x) = -A P / (2 pi), var(t) = T^2 / 12
    assert found.trend == pytest.approx(-2.0 * 40 / (2 * math.pi) / (4000**2 / 12) * 1000, rel=0.01)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noisy_sine_amplitude_close_to_a(seed):
    steps, values = noisy_sine(250.0, 1.5, 0.05 * 1.5, seed)  # the trend is removed, small noise adds little
    assert loss_oscillation(values, steps).amplitude == pytest.approx(1.5 * SINE_HALF_RANGE, rel=0.03)


def test_subsampled_and_uneven_steps_give_period_in_steps():
    rng = np.random.default_rng(3)
    even, values = noisy_sine(500.0, 1.0, 0.1, 0, steps=np.arange(0, 20000, 10.0))
    kept = np.sort(rng.choice(even.size, 1500, replace=False))  # a quarter of the records lost at random
    assert loss_oscillation(values[kept], even[kept]).period == pytest.approx(500.0, rel=0.1)
    scaled = loss_oscillation(values, even * 3)  # logged every 30 steps instead of 10: periods scale
    assert scaled.period == pytest.approx(3 * loss_oscillation(values, even).period)


@pytest.mark.parametrize("seed", range(10))
def test_white_noise_has_no_period(seed):
    values = np.random.default_rng(seed).standard_normal(600)
    found = loss_oscillation(values)
    assert found.period is None
    # half the 5-95% range of N(0, 1) is 1.645 (the moving average removes a little of the variance)
    assert found.amplitude == pytest.approx(stats.norm.ppf(0.95), rel=0.12)


@pytest.mark.parametrize("noise", [0.0, 0.05])
@pytest.mark.parametrize("curve", ["exponential", "linear", "reciprocal"])
def test_monotone_decreasing_curve_has_no_period_and_negative_trend(curve, noise):
    steps = np.arange(0, 5000, 10.0)
    values = {"exponential": 2 * np.exp(-steps / 1500), "linear": 3 - 0.0004 * steps,
              "reciprocal": 1 / (1 + steps / 100)}[curve]
    values = values + noise * np.random.default_rng(0).standard_normal(steps.size)
    found = loss_oscillation(values, steps)
    assert found.period is None and found.trend < 0


def test_trend_is_the_least_squares_slope_per_1000_steps():
    steps = np.arange(100, 3100, 20.0)
    found = loss_oscillation(5 - 0.002 * steps, steps)
    assert found.trend == pytest.approx(-2.0) and found.amplitude == pytest.approx(0.0, abs=1e-12)


def test_tensor_input_and_json_fields():
    found = loss_oscillation(torch.linspace(1, 0, 50))
    assert isinstance(found, Oscillation)
    assert json.loads(json.dumps(found.to_dict())) == {"amplitude": found.amplitude, "period": None,
                                                        "mean": pytest.approx(0.5), "trend": found.trend, "n": 50}


def test_detrend_removes_a_periodic_component_exactly():
    t = np.arange(200.0)
    for period in (6, 7):  # even periods use the centred 2 x p average
        residual = detrend(np.sin(2 * np.pi * t / period) + 0.01 * t, period)
        expected = np.sin(2 * np.pi * t / period)[period // 2: 200 - period // 2]
        np.testing.assert_allclose(residual, expected, atol=1e-9)


@pytest.mark.parametrize("values, steps, message", [
    ([], None, "empty"),
    ([1.0, float("nan"), 2.0, 3.0], None, "finite"),
    ([1.0, float("inf"), 2.0, 3.0], None, "finite"),
    ([1.0, 2.0, 3.0], None, "at least 4"),
    ([[1.0, 2.0], [3.0, 4.0]], None, "1-D"),
    (["a", "b", "c", "d"], None, "numbers"),
    ([1.0, 2.0, 3.0, 4.0], [0, 1, 2], "4 steps"),
    ([1.0, 2.0, 3.0, 4.0], [0, 2, 2, 3], "increasing"),
])
def test_bad_series_is_a_one_line_error(values, steps, message):
    with pytest.raises(AdvlabError, match=message) as error:
        loss_oscillation(values, steps)
    assert "\n" not in str(error.value)


# ---------------------------------------------------------------- rank_correlation


def test_spearman_matches_the_hand_computed_value_and_scipy():
    x, y = [1, 2, 3, 4, 5], [2, 1, 4, 3, 5]
    rho, p = rank_correlation(x, y)
    assert rho == pytest.approx(1 - 6 * 4 / (5 * (25 - 1)))  # 1 - 6 sum d^2 / (n (n^2 - 1)) = 0.8
    t = 0.8 * math.sqrt(3 / (1 - 0.8**2))
    assert p == pytest.approx(2 * stats.t.sf(t, 3))
    assert (rho, p) == pytest.approx(tuple(stats.spearmanr(x, y)))


def test_spearman_with_ties_uses_mean_ranks():
    # ranks (1, 2.5, 2.5, 4) against (1, 3, 2, 4): Pearson = 4.5 / sqrt(4.5 * 5) = 3 / sqrt(10)
    assert rank_correlation([1, 2, 2, 3], [1, 3, 2, 4]).rho == pytest.approx(3 / math.sqrt(10))


def test_monotone_relations_give_plus_and_minus_one():
    x = np.linspace(-2, 3, 12)
    assert rank_correlation(x, np.exp(x)).rho == pytest.approx(1.0)
    assert rank_correlation(torch.tensor(x), torch.tensor(-(x**3))).rho == pytest.approx(-1.0)


@pytest.mark.parametrize("x, y", [([], []), ([1.0], [2.0]), ([1.0, 2.0], [2.0, 1.0]),
                                  ([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]), ([1.0, 2.0, 3.0], [5.0, 5.0, 5.0])])
def test_undefined_correlation_is_nan_not_an_error(x, y):
    rho, p = rank_correlation(x, y)
    assert math.isnan(rho) and math.isnan(p)


@pytest.mark.parametrize("x, y, message", [([1, 2, 3], [1, 2], "paired"), ([1, 2, float("nan")], [1, 2, 3], "finite")])
def test_bad_pairs_are_an_error(x, y, message):
    with pytest.raises(AdvlabError, match=message):
        rank_correlation(x, y)


# ---------------------------------------------------------------- convergence_vs_quality


def run_records(evals: bool = True, fid=None) -> list[dict]:
    """Train records every 10 steps for 2000 steps; eval every 200 steps with a falling FID.

    D loss falls with training (rank correlation +1 with FID), G loss rises (-1); both oscillate with
    a period of 100 steps.
    """
    records = []
    for step in range(10, 2010, 10):
        wave = 0.2 * math.sin(2 * math.pi * step / 100)
        records.append({"kind": "train", "step": step, "d_loss": 1.5 - step / 4000 + wave,
                        "g_loss": 0.5 + step / 4000 - wave, "d_real": 0.6})
        if evals and step % 200 == 0:
            records.append({"kind": "eval", "step": step,
                            "fid": (300 / (1 + step / 200)) if fid is None else fid(step), "modes": 8})
    return records


def test_convergence_vs_quality_correlations_and_oscillation():
    result = convergence_vs_quality(run_records())
    assert result["quality"] == "fid" and result["evaluations"] == 10
    assert result["d_loss"]["rho"] == pytest.approx(1.0) and result["g_loss"]["rho"] == pytest.approx(-1.0)
    assert result["d_loss"]["pairs"] == 10 and result["d_loss"]["note"] is None
    assert 0 <= result["d_loss"]["p_value"] < 1e-6
    for loss in ("d_loss", "g_loss"):
        oscillation = result[loss]["oscillation"]
        assert oscillation["period"] == pytest.approx(100, rel=0.1) and oscillation["n"] == 200
    assert result["d_loss"]["oscillation"]["trend"] == pytest.approx(-0.25, abs=0.02)
    json.dumps(result, allow_nan=False)


def test_loss_is_averaged_over_the_train_records_since_the_previous_eval():
    records = [{"kind": "eval", "step": 5, "fid": 99.0},  # nothing trained yet: left out
               {"step": 10, "d_loss": 1.0}, {"kind": "train", "step": 20, "d_loss": 3.0},
               {"kind": "eval", "step": 20, "fid": 50.0},
               {"kind": "train", "step": 30, "d_loss": 5.0}, {"kind": "eval", "step": 30, "kid": 0.1},
               {"kind": "train", "step": 40, "d_loss": float("nan")}, {"kind": "train", "step": 40, "d_loss": 7.0},
               {"kind": "eval", "step": 40, "fid": 40.0}]
    steps, losses, fids = loss_at_evaluations(records, "d_loss")
    np.testing.assert_array_equal(steps, [20, 40])
    np.testing.assert_allclose(losses, [2.0, 6.0])  # (1 + 3) / 2 and (5 + 7) / 2: the kid-only eval is no boundary
    np.testing.assert_array_equal(fids, [50.0, 40.0])


def test_run_without_evaluations_has_no_correlation():
    result = convergence_vs_quality(run_records(evals=False))
    assert result["evaluations"] == 0
    for loss in ("d_loss", "g_loss"):
        assert result[loss]["rho"] is None and result[loss]["p_value"] is None and result[loss]["pairs"] == 0
        assert "no eval record" in result[loss]["note"] and result[loss]["oscillation"] is not None


def test_too_few_or_constant_evaluations_say_why():
    few = [r for r in run_records() if r["kind"] == "train" or r["step"] <= 400]
    assert "only 2" in convergence_vs_quality(few)["d_loss"]["note"]
    constant = convergence_vs_quality(run_records(fid=lambda step: 12.5))
    assert constant["d_loss"]["rho"] is None and "constant" in constant["d_loss"]["note"]
    json.dumps(constant, allow_nan=False)


def test_short_run_has_no_oscillation_but_does_not_fail():
    records = [{"kind": "train", "step": s, "d_loss": 1.0 / s, "g_loss": s} for s in (1, 2, 3)]
    result = convergence_vs_quality(records + [{"kind": "eval", "step": 3, "fid": 10.0}])
    assert result["d_loss"]["oscillation"] is None and result["d_loss"]["pairs"] == 1


def test_records_from_a_metrics_file(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in run_records()))
    result = convergence_vs_quality(read_metrics(tmp_path), quality="fid")
    assert result["d_loss"]["rho"] == pytest.approx(1.0)
    by_modes = convergence_vs_quality(read_metrics(tmp_path), quality="modes")  # constant: undefined
    assert by_modes["evaluations"] == 10 and by_modes["g_loss"]["rho"] is None


@pytest.mark.parametrize("records, quality, message", [
    ({"kind": "train"}, "fid", "list of metrics.jsonl records"),
    ([{"kind": "train", "step": 1}, "oops"], "fid", "record 1"),
    (42, "fid", "list of metrics.jsonl records"),
    ([], "", "name of an eval metric"),
])
def test_bad_records_are_an_error(records, quality, message):
    with pytest.raises(AdvlabError, match=message):
        convergence_vs_quality(records, quality)


def test_quasi_periodic_oscillation_is_found():
    """GAN losses cycle with a drifting period: here 300 steps +- 15%, on white noise."""
    steps = np.arange(0, 30000, 10.0)
    drift = 1 + 0.15 * np.sin(2 * np.pi * steps / 7000)
    phase = np.cumsum(2 * np.pi * 10 / (300 * drift))
    values = 0.3 * np.sin(phase) + 0.1 * np.random.default_rng(0).standard_normal(steps.size)
    assert loss_oscillation(values, steps).period == pytest.approx(300, rel=0.15)


def test_red_noise_rarely_shows_a_period():
    """AR(1) noise with phi = 0.5 has no period; the Bartlett band and the repeat test keep most away."""
    found = 0
    for seed in range(20):
        shocks = np.random.default_rng(seed).standard_normal(1000)
        values = np.zeros(1000)
        for t in range(1, 1000):
            values[t] = 0.5 * values[t - 1] + shocks[t]
        found += loss_oscillation(values).period is not None
    assert found <= 2
