"""Playback through a simulated room: gain, reverberation and SNR as drawn, differentiable, seeded."""

import dataclasses
import math

import pytest
import torch

from advlab.audio.room import RoomSimulation, reverberate
from advlab.core.errors import AdvlabError


def speechlike(n: int = 3, length: int = 8000, seed: int = 0) -> torch.Tensor:
    """Noise bursts under a syllable-rate envelope, peak 0.5."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(length) / 16000
    envelope = torch.sin(2 * math.pi * 4 * t).abs()
    waves = torch.randn(n, length, generator=g) * envelope
    return 0.5 * waves / waves.abs().amax(1, keepdim=True)


def test_gain_is_as_drawn_without_reverberation_or_noise():
    room = RoomSimulation(gain_db=(-6.0, 6.0), rt60=(0.0, 0.0), snr_db=(200.0, 200.0))
    x = speechlike()
    draw = room.draw(len(x), x.shape[1], torch.Generator().manual_seed(1))
    assert draw.impulses.shape == (3, 1) and torch.equal(draw.impulses, torch.ones(3, 1))
    out = room.apply(x, draw)
    measured = 20 * torch.log10(out.abs().amax(1) / x.abs().amax(1))
    assert torch.allclose(measured, draw.gain_db, atol=1e-3)
    assert draw.gain_db.min() >= -6 and draw.gain_db.max() <= 6 and draw.gain_db.std() > 0.1


def test_noise_is_at_the_drawn_snr_over_the_valid_samples():
    room = RoomSimulation(snr_db=(10.0, 30.0))
    x = speechlike()
    lengths = torch.tensor([8000, 6000, 3000])
    x = x * (torch.arange(8000)[None] < lengths[:, None])
    draw = room.draw(len(x), x.shape[1], torch.Generator().manual_seed(2))
    noisy = room.apply(x, draw, lengths)
    quiet = room.apply(x, dataclasses.replace(draw, noise=torch.zeros_like(draw.noise)), lengths)
    for row, length in enumerate(lengths.tolist()):
        signal, noise = quiet[row, :length], (noisy - quiet)[row, :length]
        snr = 10 * math.log10(float(signal.pow(2).mean() / noise.pow(2).mean()))
        assert snr == pytest.approx(float(draw.snr_db[row]), abs=1e-3)
    assert 10 <= draw.snr_db.min() and draw.snr_db.max() <= 30


def test_impulse_responses_decay_60_db_in_rt60_at_the_drawn_direct_to_reverberant_ratio():
    room = RoomSimulation(rt60=(0.1, 0.3), drr_db=(0.0, 10.0))
    draw = room.draw(4, 100, torch.Generator().manual_seed(3))
    h = draw.impulses.double()
    assert torch.allclose(h.pow(2).sum(1), torch.ones(4, dtype=torch.float64), atol=1e-5)  # unit energy
    drr = 10 * torch.log10(h[:, 0] ** 2 / h[:, 1:].pow(2).sum(1))
    assert torch.allclose(drr, draw.drr_db.double(), atol=1e-3)
    for row in range(4):
        tail = h[row, 1:].pow(2)
        remaining = tail.flip(0).cumsum(0).flip(0)  # Schroeder's backward integral
        edc = 10 * torch.log10(remaining / remaining[0])
        # the time the energy decay curve takes from -5 to -25 dB, times 3: the T20 estimate of RT60
        t5, t25 = int((edc > -5).sum()), int((edc > -25).sum())
        rt60 = 3 * (t25 - t5) / 16000
        assert rt60 == pytest.approx(float(draw.rt60[row]), rel=0.15)


def test_reverberation_is_a_causal_convolution():
    x = torch.zeros(1, 50)
    x[0, 10] = 1.0
    h = torch.tensor([[1.0, 0.5, -0.25]])
    out = reverberate(x, h)
    expected = torch.zeros(1, 50)
    expected[0, 10:13] = h[0]
    assert torch.allclose(out, expected, atol=1e-6)
    y = torch.randn(2, 300)
    g = torch.randn(2, 40)
    direct = torch.stack([torch.tensor([float((y[r, max(0, t - 39):t + 1].flip(0) * g[r, :min(40, t + 1)]).sum())
                                        for t in range(300)]) for r in range(2)])
    assert torch.allclose(reverberate(y, g), direct, atol=1e-4)


def test_the_simulation_is_differentiable_in_the_waveform():
    # noise negligible (its level is not differentiated), short rooms (gradcheck is slow on long ones)
    room = RoomSimulation(snr_db=(300.0, 300.0), rt60=(0.002, 0.004))
    x = (speechlike(2, 200) * 0.5).double().requires_grad_(True)
    generator_seed = 4

    def played(waves):
        return room.apply(waves, room.draw(2, 200, torch.Generator().manual_seed(generator_seed)))

    assert torch.autograd.gradcheck(played, (x,), eps=1e-6, atol=1e-4)
    waves = speechlike().requires_grad_(True)
    grad, = torch.autograd.grad(RoomSimulation()(waves, torch.Generator().manual_seed(0)).pow(2).sum(), waves)
    assert torch.isfinite(grad).all() and (grad.abs() > 0).float().mean() > 0.99


def test_seeded_draws_repeat_and_seeds_differ():
    room = RoomSimulation()
    x = speechlike()
    a = room(x, torch.Generator().manual_seed(5))
    b = room(x, torch.Generator().manual_seed(5))
    c = room(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("kwargs", [{"gain_db": (6.0, -6.0)}, {"rt60": (-0.1, 0.2)}, {"snr_db": (1.0,)},
                                    {"drr_db": "loud"}, {"sample_rate": 0}])
def test_bad_ranges_are_refused(kwargs):
    with pytest.raises(AdvlabError, match="room simulation"):
        RoomSimulation(**kwargs)
