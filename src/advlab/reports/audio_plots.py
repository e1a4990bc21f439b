"""Pictures of audio: waveforms of clean and adversarial utterances with their perturbation, their spectrograms on
one decibel scale, and a recogniser's transcriptions of held-out utterances.

Waveforms come as the house's audio batches: ``(N, T)`` float tensors (or arrays) in [-1, 1], zero-padded on the
right, with ``lengths (N,)`` valid samples per row; only the valid samples are drawn. Loudness is measured as
Carlini & Wagner (2018, "Audio Adversarial Examples", eq. 1) measure it: dB(x) = max_i 20 log10 |x_i|, and a
perturbation's loudness relative to its utterance is dB_x(delta) = dB(delta) - dB(x).

Spectrograms are short-time Fourier magnitudes (scipy.signal.spectrogram: 25 ms Hann windows every 10 ms, the
speech front-end's framing) in dB relative to the clean utterance's strongest bin, so the clean, adversarial and
perturbation panels of one utterance share a colour scale and a -30 dB perturbation looks 30 dB darker. Every
function draws on its own Agg figure (no pyplot) and returns the PNG's path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from scipy.signal import spectrogram as scipy_spectrogram

from advlab.reports.plots import _save

MAX_ROWS = 4  # utterances in a waveform or spectrogram figure
MAX_TRANSCRIPTIONS = 6  # utterances in a transcription figure
FLOOR_DB = -90.0  # the colour scale's bottom, dB below the clean utterance's strongest bin
WINDOW_SECONDS, HOP_SECONDS = 0.025, 0.010
CLEAN_COLOUR, ADVERSARIAL_COLOUR, PERTURBATION_COLOUR = "#1f77b4", "#ff7f0e", "#d62728"
RIGHT, WRONG = "#1a7f37", "#c62828"
CMAP = "magma"

Title = str | tuple[str, str] | Sequence[str]


def as_rows(waves, lengths) -> list[np.ndarray]:
    """The valid samples of each row of `waves` (N, T) (or one wave (T,)) as float64 arrays."""
    array = torch.as_tensor(waves).detach().cpu().double().numpy()
    if array.ndim == 1:
        array = array[None]
    if lengths is None:
        sizes = [array.shape[1]] * array.shape[0]
    else:
        sizes = [int(n) for n in torch.as_tensor(lengths).detach().cpu().reshape(-1).tolist()]
    return [row[:max(0, min(size, row.shape[0]))] for row, size in zip(array, sizes)]


def peak_db(wave: np.ndarray) -> float:
    """dB(x) = max_i 20 log10 |x_i| (Carlini & Wagner 2018, eq. 1); -inf for silence."""
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def relative_db(delta: np.ndarray, clean: np.ndarray) -> float:
    """dB_x(delta) = dB(delta) - dB(x); -inf when delta is silent, nan when the clean audio is."""
    quiet, loud = peak_db(delta), peak_db(clean)
    if quiet == -math.inf:
        return -math.inf
    return quiet - loud if loud > -math.inf else math.nan


def format_db(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return "silent" if value == -math.inf else f"{value:.1f} dB"


def words(transcript) -> str:
    """A transcript (tuple of words, or a string) as one quoted string; an empty one as (nothing)."""
    text = transcript if isinstance(transcript, str) else " ".join(str(w) for w in transcript)
    return f'"{text}"' if text.strip() else "(nothing)"


def _title_pair(title) -> tuple[str | None, str | None, str | None]:
    """(row label, clean title, adversarial title) of one entry of `titles`: a string labels the row; a pair
    (before, after) gives the transcriptions of the clean and the adversarial audio; a triple (label, before,
    after) both."""
    if title is None:
        return None, None, None
    if isinstance(title, str):
        return title, None, None
    parts = list(title)
    label = str(parts.pop(0)) if len(parts) == 3 else None
    before, after = parts[:2]
    return label, f"heard {words(before)}", f"heard {words(after)}"


def spectrogram_db(wave: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frequencies in Hz (F,), frame times in s (K,), 20 log10 |STFT| (F, K)): 25 ms Hann windows every 10 ms,
    the FFT the next power of two; a wave shorter than one window is zero-padded to one."""
    window = max(16, round(WINDOW_SECONDS * sample_rate))
    hop = max(1, round(HOP_SECONDS * sample_rate))
    if wave.size < window:
        wave = np.pad(wave, (0, window - wave.size))
    nfft = 1 << (window - 1).bit_length()
    freqs, times, magnitude = scipy_spectrogram(wave, fs=sample_rate, window="hann", nperseg=window,
                                                noverlap=window - hop, nfft=nfft, mode="magnitude")
    return freqs, times, 20 * np.log10(np.maximum(magnitude, 1e-12))


def _spectrogram_panel(ax, wave: np.ndarray, sample_rate: int, reference: float):
    """Draw `wave`'s spectrogram in dB relative to `reference` (dB) on `ax`; returns the image."""
    freqs, times, db = spectrogram_db(wave, sample_rate)
    hop = HOP_SECONDS
    extent = (float(times[0]) - hop / 2, float(times[-1]) + hop / 2, 0.0, float(freqs[-1]) / 1000)
    image = ax.imshow(db - reference, origin="lower", aspect="auto", cmap=CMAP, vmin=FLOOR_DB, vmax=0.0,
                      extent=extent, interpolation="nearest")
    ax.tick_params(labelsize=7)
    return image


def _bound_amplitudes(bound_db, clean_rows: list[np.ndarray]) -> list[float | None]:
    if bound_db is None:
        return [None] * len(clean_rows)
    bounds = [float(b) for b in torch.as_tensor(bound_db).detach().cpu().reshape(-1).tolist()]
    amplitudes = []
    for clean, bound in zip(clean_rows, bounds):
        peak = float(np.max(np.abs(clean))) if clean.size else 0.0
        amplitudes.append(peak * 10 ** (bound / 20) if math.isfinite(bound) else None)
    return amplitudes + [None] * (len(clean_rows) - len(amplitudes))


def waveform_figure(clean, adversarial, lengths, sample_rate: int, titles: Sequence[Title] | None, path,
                    bound_db=None) -> Path:
    """Waveforms of up to four utterances, one row each, and below each its perturbation.

    The upper panel overlays the clean (blue) and adversarial (orange) waveforms and the perturbation
    delta = adversarial - clean (red) on the signal's scale, so the perturbation's size beside the speech is seen;
    the lower panel shows the perturbation alone, zoomed to its own scale, with its peak relative to the clean
    peak (dB_x(delta), Carlini & Wagner 2018 eq. 1) in the legend and, given `bound_db` (N,), the amplitude that
    bound allows (max|x| 10^(bound/20)) as dashed lines.

    Args:
        clean, adversarial: (N, T) waveforms in [-1, 1], zero-padded on the right.
        lengths: (N,) valid samples per row.
        sample_rate: samples per second (the time axis).
        titles: one per utterance: a string labels its row; a pair (before, after) of transcriptions gives
            'heard "..." -> heard "..."'.
        path: where the PNG goes (parents made).
        bound_db: optional (N,) dB bounds the perturbations were held to.
    """
    clean_rows, adversarial_rows = as_rows(clean, lengths), as_rows(adversarial, lengths)
    n = min(len(clean_rows), MAX_ROWS)
    bounds = _bound_amplitudes(bound_db, clean_rows)
    fig = Figure(figsize=(9.0, 0.3 + 2.75 * n), layout="constrained")
    grid = fig.add_gridspec(2 * n, 1, height_ratios=[2.2, 1.0] * n)
    for i in range(n):
        x, adv = clean_rows[i], adversarial_rows[i]
        delta = adv - x
        seconds = np.arange(x.size) / sample_rate
        top, bottom = fig.add_subplot(grid[2 * i]), fig.add_subplot(grid[2 * i + 1])
        # the adversarial wave under the clean one: orange shows only where the two differ
        top.plot(seconds, adv, color=ADVERSARIAL_COLOUR, linewidth=0.7, label="adversarial")
        top.plot(seconds, x, color=CLEAN_COLOUR, linewidth=0.5, label="clean")
        top.plot(seconds, delta, color=PERTURBATION_COLOUR, linewidth=0.5, label="perturbation")
        loudest = max(np.max(np.abs(x), initial=0.0), np.max(np.abs(adv), initial=0.0)) or 1.0
        top.set_ylim(-1.1 * loudest, 1.5 * loudest)  # headroom for the legend above the speech
        label, before, after = _title_pair(titles[i] if titles is not None and i < len(titles) else None)
        heard = f"clean {before}  \u2192  adversarial {after}" if before else ""
        top.set_title(" \u2014 ".join(text for text in (label, heard) if text), fontsize=9, loc="left")
        top.legend(fontsize=7, loc="upper right", ncol=3, framealpha=0.85)
        top.tick_params(labelsize=7, labelbottom=False)
        top.grid(alpha=0.25)
        bottom.plot(seconds, delta, color=PERTURBATION_COLOUR, linewidth=0.5,
                    label=f"perturbation alone: peak {format_db(relative_db(delta, x))} re the clean peak")
        quiet = max(np.max(np.abs(delta), initial=0.0), bounds[i] or 0.0) or 1.0
        if bounds[i] is not None:
            bottom.axhline(bounds[i], color="#333", linestyle="--", linewidth=0.8,
                           label=f"bound {float(torch.as_tensor(bound_db).reshape(-1)[i]):.1f} dB")
            bottom.axhline(-bounds[i], color="#333", linestyle="--", linewidth=0.8)
        bottom.set_ylim(-1.15 * quiet, 2.0 * quiet)
        bottom.legend(fontsize=7, loc="upper right", ncol=2, framealpha=0.85)
        bottom.tick_params(labelsize=7)
        bottom.grid(alpha=0.25)
        top.set_xlim(0, max(x.size, 1) / sample_rate)
        bottom.set_xlim(top.get_xlim())
        if i == n - 1:
            bottom.set_xlabel("time (s)", fontsize=8)
    return _save(fig, path)


def spectrogram_figure(clean, adversarial, lengths, sample_rate: int, titles: Sequence[Title] | None,
                       path) -> Path:
    """Spectrograms of up to four utterances, one row each: clean | adversarial | perturbation, on one colour
    scale per figure (dB relative to each utterance's strongest clean bin, down to -90 dB).

    Args:
        clean, adversarial: (N, T) waveforms in [-1, 1], zero-padded on the right.
        lengths: (N,) valid samples per row.
        sample_rate: samples per second.
        titles: one per utterance: a string heads its row; a pair (before, after) of transcriptions titles the
            clean and adversarial panels 'heard "..."'; a triple (label, before, after) does both.
        path: where the PNG goes (parents made).
    """
    clean_rows, adversarial_rows = as_rows(clean, lengths), as_rows(adversarial, lengths)
    n = min(len(clean_rows), MAX_ROWS)
    fig = Figure(figsize=(11.0, 0.5 + 2.3 * n), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1.0, 0.07], wspace=0.0)
    rows = np.atleast_1d(left.subfigures(n, 1, hspace=0.0)) if n else []
    image = None
    for i, row in enumerate(rows):
        x, adv = clean_rows[i], adversarial_rows[i]
        delta = adv - x
        reference = float(spectrogram_db(x, sample_rate)[2].max())
        label, before, after = _title_pair(titles[i] if titles is not None and i < len(titles) else None)
        if label:
            row.suptitle(label, fontsize=9, x=0.01, ha="left")
        panel_titles = (f"clean: {before}" if before else "clean",
                        f"adversarial: {after}" if after else "adversarial",
                        f"perturbation ({format_db(relative_db(delta, x))})")
        axes = row.subplots(1, 3, sharey=True)
        for ax, wave, text in zip(axes, (x, adv, delta), panel_titles):
            image = _spectrogram_panel(ax, wave, sample_rate, reference)
            ax.set_title(text, fontsize=8.5)
        axes[0].set_ylabel("kHz", fontsize=8)
        if i == n - 1:
            for ax in axes:
                ax.set_xlabel("time (s)", fontsize=8)
    if image is not None:
        bar = right.colorbar(image, cax=right.add_axes((0.05, 0.08, 0.3, 0.84)))
        bar.set_label("dB re the clean utterance's strongest bin", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    return _save(fig, path)


def transcription_figure(waves, lengths, sample_rate: int, references: Sequence, hypotheses: Sequence,
                         path) -> Path:
    """Spectrograms of up to six held-out utterances (two columns; no more than there are transcripts), each
    titled 'heard: <hypothesis>' and 'said: <reference>', green when the recogniser heard what was said and red
    otherwise: the picture the training loop draws to follow a recogniser.

    Args:
        waves: (N, T) waveforms in [-1, 1], zero-padded on the right; lengths: (N,) valid samples per row.
        references, hypotheses: per utterance a transcript (tuple of words or a string).
        path: where the PNG goes (parents made).
    """
    rows = as_rows(waves, lengths)[:min(MAX_TRANSCRIPTIONS, len(references), len(hypotheses))]
    n = len(rows)
    columns = 1 if n <= 1 else 2
    lines = max(1, -(-n // columns))
    fig = Figure(figsize=(4.6 * columns + 0.8, 0.3 + 2.2 * lines), layout="constrained")
    axes = fig.subplots(lines, columns, squeeze=False)
    image = None
    for i, ax in enumerate(axes.ravel()):
        if i >= n:
            ax.set_visible(False)
            continue
        reference = float(spectrogram_db(rows[i], sample_rate)[2].max())
        image = _spectrogram_panel(ax, rows[i], sample_rate, reference)
        said, heard = words(references[i]), words(hypotheses[i])
        ax.set_title(f"heard: {heard}\nsaid: {said}", fontsize=8.5, loc="left",
                     color=RIGHT if said == heard else WRONG)
        if i % columns == 0:
            ax.set_ylabel("kHz", fontsize=8)
        if i >= n - columns:
            ax.set_xlabel("time (s)", fontsize=8)
    if image is not None:
        bar = fig.colorbar(image, ax=axes, shrink=0.9, pad=0.01)
        bar.set_label("dB re the utterance's strongest bin", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    return _save(fig, path)


__all__ = ["as_rows", "peak_db", "relative_db", "spectrogram_db", "spectrogram_figure", "transcription_figure",
           "waveform_figure"]
