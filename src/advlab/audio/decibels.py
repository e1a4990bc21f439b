"""Loudness in decibels, the distortion measure of audio adversarial examples.

Carlini & Wagner 2018, "Audio Adversarial Examples: Targeted Attacks on Speech-to-Text", sec. 3.2,
eq. (1): the loudness of a waveform x (samples in [-1, 1]) is its peak in decibels,

    dB(x) = max_i 20 log10 |x_i|,

and the distortion of a perturbation delta is measured relative to the audio it is added to,

    dB_x(delta) = dB(delta) - dB(x).

A bound dB_x(delta) <= tau (tau < 0; the paper's examples average -31 dB, "roughly the
difference between ambient noise in a quiet room and a person talking") is therefore an L-inf
bound on delta: |delta_i| <= max_j |x_j| * 10 ** (tau / 20), which :func:`amplitude_bound` gives.
Silence (an all-zero row) has dB = -inf.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from advlab.core.errors import AdvlabError


def decibels(x: Tensor) -> Tensor:
    """dB(x) = max_i 20 log10 |x_i| (eq. 1): () for a waveform (T,), (N,) for a batch (N, T); -inf for silence."""
    peak = x.detach().abs().amax(dim=-1)
    return 20.0 * torch.log10(peak)


def relative_decibels(delta: Tensor, x: Tensor) -> Tensor:
    """dB_x(delta) = dB(delta) - dB(x): how loud the perturbation is next to the audio, (N,) or ().

    -inf where delta is zero; a perturbation of peak 0.005 on audio of peak 0.5 is -40 dB.
    """
    return decibels(delta) - decibels(x)


def amplitude_bound(x: Tensor, db: float | Tensor) -> Tensor:
    """The L-inf bound a relative dB bound means: max|x| * 10 ** (db / 20), (N,) for x (N, T).

    `db` is one number or one per row (N,).
    """
    db = torch.as_tensor(db, dtype=x.dtype, device=x.device)
    return x.detach().abs().amax(dim=-1) * torch.pow(10.0, db / 20.0)


def check_db_bound(db, flag: str = "--db") -> float:
    """A dB bound must be a finite negative number (0 dB would let the perturbation be as loud as the speech)."""
    ok = isinstance(db, (int, float)) and not isinstance(db, bool) and math.isfinite(db)
    if not ok:
        raise AdvlabError(f"{flag} must be a number of decibels relative to the audio's peak, e.g. -30; got {db!r}")
    if db >= 0:
        raise AdvlabError(f"{flag} must be negative, e.g. -30 (decibels relative to the audio's peak: "
                          f"0 dB is as loud as the speech itself); got {db:g}")
    return float(db)
