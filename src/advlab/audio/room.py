"""Playback through a room: the random transformation of an over-the-air audio attack (EOT).

An adversarial example that is played through a loudspeaker and recorded again reaches the model
changed: louder or quieter, smeared by the room's reverberation, under background noise.
Expectation over Transformation (Athalye, Engstrom, Ilyas & Kwok 2018, eq. 1) makes the attack
robust to such a distribution T by minimising E_{t~T}[loss(t(x + delta))]; Qin, Carlini, Cottrell,
Goodfellow & Raffel 2019 ("Imperceptible, Robust, and Targeted Adversarial Examples for Automatic
Speech Recognition", sec. 6, eq. 5) do this for audio with simulated room impulse responses
t(x) = x * r. One draw t here is

    t(x) = g * (x * h) + n,

* g: a gain, 20 log10 g uniform in ``gain_db`` (the playback volume);
* h: a synthetic room impulse response: the direct path h_0 followed by a tail of Gaussian noise
  under an exponential envelope exp(-3 ln(10) k / (rt60 * rate)) that has decayed by 60 dB after
  rt60 seconds (Sabine's reverberation time; the statistical model of late reverberation,
  Polack 1988), with rt60 uniform in ``rt60`` and the direct-to-reverberant energy ratio uniform
  in ``drr_db`` (0-10 dB: a talker a metre or two from the microphone), scaled to unit energy;
  an rt60 of 0 is no reverberation (h = [1]);
* n: white Gaussian noise at a signal-to-noise ratio uniform in ``snr_db`` (relative to the
  power of g (x * h) over each row's valid samples).

The convolution is done with FFTs; everything is differentiable in the waveform. Draws come from
the generator passed in, so a seeded generator repeats them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from advlab.core.errors import AdvlabError

DECAY_60DB = 3.0 * math.log(10.0)  # ln(10^3): the amplitude envelope's exponent at rt60 (-60 dB of energy)


@dataclass
class Room:
    """One draw of the playback transformation per row (tensors on the generator's device)."""

    gain_db: Tensor  # (N,)
    rt60: Tensor  # (N,) seconds
    drr_db: Tensor  # (N,) direct-to-reverberant energy ratio
    snr_db: Tensor  # (N,)
    impulses: Tensor  # (N, L) unit-energy room impulse responses, h_0 the direct path
    noise: Tensor  # (N, T) standard Gaussian noise, scaled to the drawn SNR when applied


class RoomSimulation:
    """Random playback through a room (gain, reverberation, noise): ``RoomSimulation()(waves, generator)``.

    Args:
        gain_db: range of the playback gain in dB (uniform).
        rt60: range of the reverberation time in seconds (uniform); (0, 0) turns reverberation off.
        snr_db: range of the signal-to-noise ratio of the added white noise in dB (uniform).
        drr_db: range of the direct-to-reverberant energy ratio in dB (uniform).
        sample_rate: the waveforms' sample rate (sets the impulse responses' length in samples).
    """

    def __init__(self, gain_db: tuple[float, float] = (-6.0, 6.0), rt60: tuple[float, float] = (0.05, 0.3),
                 snr_db: tuple[float, float] = (20.0, 40.0), drr_db: tuple[float, float] = (0.0, 10.0),
                 sample_rate: int = 16000):
        self.gain_db = check_range("gain_db", gain_db)
        self.rt60 = check_range("rt60", rt60, least=0.0)
        self.snr_db = check_range("snr_db", snr_db)
        self.drr_db = check_range("drr_db", drr_db)
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
            raise AdvlabError(f"room simulation: sample_rate must be a positive integer, got {sample_rate!r}")
        self.sample_rate = sample_rate

    def __call__(self, waves: Tensor, generator: torch.Generator, lengths: Tensor | None = None) -> Tensor:
        """waves (N, T) played through N freshly drawn rooms -> (N, T); `lengths` (N,) valid samples."""
        return self.apply(waves, self.draw(len(waves), waves.shape[-1], generator), lengths)

    def draw(self, n: int, length: int, generator: torch.Generator) -> Room:
        """n rooms for waveforms of `length` samples, drawn from `generator` (on its device)."""
        device = generator.device
        gain_db, rt60, drr_db, snr_db = (uniform(n, bounds, generator) for bounds in
                                         (self.gain_db, self.rt60, self.drr_db, self.snr_db))
        taps = math.ceil(self.rt60[1] * self.sample_rate)
        k = torch.arange(1, taps + 1, device=device, dtype=torch.float32)
        rate = DECAY_60DB / (rt60[:, None] * self.sample_rate).clamp_min(1e-12)
        tail = torch.randn(n, taps, generator=generator, device=device) * torch.exp(-rate * k)
        tail = tail * (k <= rt60[:, None] * self.sample_rate)  # each row's response ends at its own rt60
        tail_energy = tail.pow(2).sum(1, keepdim=True)
        want = torch.pow(10.0, -drr_db[:, None] / 10.0)  # tail energy for a direct path of energy 1
        tail = torch.where(tail_energy > 0, tail * torch.sqrt(want / tail_energy.clamp_min(1e-30)), tail)
        impulses = torch.cat([torch.ones(n, 1, device=device), tail], 1)
        impulses = impulses / impulses.pow(2).sum(1, keepdim=True).sqrt()
        noise = torch.randn(n, length, generator=generator, device=device)
        return Room(gain_db, rt60, drr_db, snr_db, impulses, noise)

    def apply(self, waves: Tensor, room: Room, lengths: Tensor | None = None) -> Tensor:
        """t(x) = g (x * h) + n for the drawn `room`; differentiable in `waves` (N, T)."""
        valid = valid_mask(waves, lengths)
        played = reverberate(waves, room.impulses.to(waves.dtype)) * torch.pow(10.0, room.gain_db / 20.0)[:, None]
        noise = room.noise.to(waves.dtype)
        with torch.no_grad():  # the noise level follows the drawn SNR; it is not part of the signal's gradient
            count = valid.sum(1).clamp_min(1)
            signal_power = (played * valid).pow(2).sum(1) / count
            noise_power = (noise * valid).pow(2).sum(1) / count
            scale = torch.sqrt(signal_power / torch.pow(10.0, room.snr_db / 10.0) / noise_power.clamp_min(1e-30))
        return played + noise * scale[:, None]


def reverberate(waves: Tensor, impulses: Tensor) -> Tensor:
    """Causal linear convolution of each row of waves (N, T) with its impulse response (N, L), cut to T."""
    length = waves.shape[-1]
    size = 1 << (length + impulses.shape[-1] - 1 - 1).bit_length()
    spectrum = torch.fft.rfft(waves, size) * torch.fft.rfft(impulses, size)
    return torch.fft.irfft(spectrum, size)[..., :length]


def valid_mask(waves: Tensor, lengths: Tensor | None) -> Tensor:
    """(N, T) 1.0 on each row's valid samples (all of them without `lengths`)."""
    if lengths is None:
        return torch.ones_like(waves)
    positions = torch.arange(waves.shape[-1], device=waves.device)
    return (positions[None, :] < lengths.to(waves.device)[:, None]).to(waves.dtype)


def uniform(n: int, bounds: tuple[float, float], generator: torch.Generator) -> Tensor:
    low, high = bounds
    return low + (high - low) * torch.rand(n, generator=generator, device=generator.device)


def check_range(name: str, bounds, least: float | None = None) -> tuple[float, float]:
    """A (low, high) pair of finite numbers with low <= high (and low >= `least`)."""
    try:
        low, high = (float(value) for value in bounds)
    except (TypeError, ValueError):
        raise AdvlabError(f"room simulation: {name} must be a (low, high) pair of numbers, got {bounds!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low > high or (least is not None and low < least):
        floor = "" if least is None else f", low >= {least:g}"
        raise AdvlabError(f"room simulation: {name} must be a (low, high) pair with low <= high{floor}; "
                          f"got {bounds!r}")
    return low, high
