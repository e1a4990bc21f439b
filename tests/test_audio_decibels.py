"""The dB measure of Carlini & Wagner 2018 (eq. 1) on hand-made signals."""

import math

import pytest
import torch

from advlab.audio.decibels import amplitude_bound, check_db_bound, decibels, relative_decibels
from advlab.core.errors import AdvlabError


def sine(peak: float, seconds: float = 0.1, hz: float = 440.0, rate: int = 16000) -> torch.Tensor:
    t = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    wave = torch.sin(2 * math.pi * hz * t)
    return (peak * wave / wave.abs().max()).float()  # exactly `peak` at its maximum


def test_half_peak_sine_is_minus_6_02_db():
    assert float(decibels(sine(0.5))) == pytest.approx(20 * math.log10(0.5), abs=1e-5)
    assert float(decibels(sine(0.5))) == pytest.approx(-6.0206, abs=1e-4)
    assert float(decibels(sine(1.0))) == pytest.approx(0.0, abs=1e-6)


def test_perturbation_of_peak_0_005_on_a_half_peak_sine_is_minus_40_db():
    x = sine(0.5)
    delta = torch.zeros_like(x)
    delta[100], delta[7] = -0.005, 0.002  # the peak decides, whatever its sign
    assert float(relative_decibels(delta, x)) == pytest.approx(-40.0, abs=1e-4)


def test_batches_give_one_value_per_row_and_silence_is_minus_infinity():
    x = torch.stack([sine(0.5), sine(0.1), torch.zeros(1600)])
    db = decibels(x)
    assert db.shape == (3,)
    assert db[0] == pytest.approx(-6.0206, abs=1e-4) and db[1] == pytest.approx(-20.0, abs=1e-4)
    assert db[2] == -math.inf
    assert relative_decibels(torch.zeros(3, 1600), x)[0] == -math.inf


def test_amplitude_bound_is_the_linf_radius_of_a_db_bound():
    x = torch.stack([sine(0.5), sine(0.25)])
    bound = amplitude_bound(x, -40.0)
    assert torch.allclose(bound, torch.tensor([0.005, 0.0025]), rtol=1e-5)
    per_row = amplitude_bound(x, torch.tensor([-20.0, -6.0206]))
    assert torch.allclose(per_row, torch.tensor([0.05, 0.125]), rtol=1e-4)
    # a perturbation at exactly that peak measures the bound back
    delta = torch.zeros_like(x)
    delta[:, 3] = bound
    assert torch.allclose(relative_decibels(delta, x), torch.tensor([-40.0, -40.0]), atol=1e-4)


@pytest.mark.parametrize("bad", [0, 0.0, 3.0, 30])
def test_check_db_bound_refuses_zero_and_positive_bounds(bad):
    with pytest.raises(AdvlabError, match=r"--db must be negative, e\.g\. -30"):
        check_db_bound(bad)


@pytest.mark.parametrize("bad", [float("nan"), float("-inf"), "loud", True, None])
def test_check_db_bound_refuses_what_is_not_a_number(bad):
    with pytest.raises(AdvlabError, match="--eps-db must be a number"):
        check_db_bound(bad, "--eps-db")


def test_check_db_bound_accepts_negative_bounds():
    assert check_db_bound(-30) == -30.0 and isinstance(check_db_bound(-30), float)
    assert check_db_bound(-0.5) == -0.5
