"""Pictures of melodies: a grid of piano rolls (one row per melody, its bars side by side with their chords), and the
evaluation's histograms and statistics of generated, training, held-out and random melodies.

Melodies are (n, bars, 16, 128) piano rolls in {0, 1} (advlab.data.melodies' form). Every function draws on its own
Agg figure and returns the PNG's path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from advlab.reports.plots import _save

PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SOURCE_COLOURS = {"generated": "#d62728", "training": "#1f77b4", "held_out": "#2ca02c", "random": "#7f7f7f"}


def pitch_window(melodies: torch.Tensor, margin: int = 2, least: int = 24) -> tuple[int, int]:
    """(low, high) MIDI pitches to show: the notes' range with a margin, at least `least` semitones (C3-B4 when the
    melodies are silent)."""
    used = melodies.reshape(-1, melodies.shape[-1]).amax(dim=0).nonzero().flatten()
    if used.numel() == 0:
        return 48, 48 + least - 1
    low, high = int(used.min()) - margin, int(used.max()) + margin
    if high - low + 1 < least:
        centre = (low + high) // 2
        low, high = centre - least // 2, centre - least // 2 + least - 1
    return max(low, 0), min(high, melodies.shape[-1] - 1)


def plot_melody_grid(melodies: torch.Tensor, path, titles: Sequence[str] | None = None,
                     chords: Sequence[Sequence[str]] | None = None) -> Path:
    """One row per melody: its bars left to right as a piano roll (time across, pitch up), bar lines, the chord
    of each bar above it. `melodies` (n, bars, 16, 128) or one melody (bars, 16, 128)."""
    melodies = torch.as_tensor(melodies).detach().float().cpu()
    if melodies.dim() == 3:
        melodies = melodies[None]
    n, bars, steps, _ = melodies.shape
    low, high = pitch_window(melodies)
    fig = Figure(figsize=(min(2.0 + 1.1 * bars, 18.0), 0.4 + 1.45 * n), layout="constrained")
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    for i, ax in enumerate(axes):
        roll = melodies[i].reshape(bars * steps, -1)[:, low:high + 1].numpy().T  # (pitches, time)
        ax.imshow(roll, origin="lower", aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest",
                  extent=(0, bars * steps, low - 0.5, high + 0.5))
        for b in range(1, bars):
            ax.axvline(b * steps, color="#888", linewidth=0.7)
        octaves = [p for p in range(low, high + 1) if p % 12 == 0]
        ax.set_yticks(octaves, [f"C{p // 12 - 1}" for p in octaves], fontsize=7)
        ax.set_xticks([])
        ax.set_xlim(0, bars * steps)
        if titles is not None and i < len(titles):
            ax.set_ylabel(titles[i], fontsize=8)
        if chords is not None and i < len(chords):
            for b, name in enumerate(list(chords[i])[:bars]):
                ax.text(b * steps + 0.5, high + 0.4, name, fontsize=7, va="top", color="#1f4e99")
    return _save(fig, path)


def plot_histograms(histograms: dict[str, np.ndarray], path, labels: Sequence[str], title: str,
                    xlabel: str) -> Path:
    """Grouped bars: one colour per source (generated, training, held_out, random), one group per label."""
    fig = Figure(figsize=(7.5, 3.4), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / max(len(histograms), 1)
    x = np.arange(len(labels))
    for k, (source, values) in enumerate(histograms.items()):
        ax.bar(x + (k - (len(histograms) - 1) / 2) * width, np.asarray(values, dtype=float), width,
               label=source.replace("_", "-"), color=SOURCE_COLOURS.get(source))
    ax.set_xticks(x, list(labels), fontsize=8)
    ax.set(title=title, xlabel=xlabel, ylabel="share")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_statistics(table: dict[str, dict[str, float]], path, statistics: Sequence[str]) -> Path:
    """One small panel per statistic, one bar per source: how generated and random melodies stand beside the
    training and held-out ones."""
    columns = min(4, max(len(statistics), 1))
    rows = -(-len(statistics) // columns) or 1
    fig = Figure(figsize=(3.0 * columns, 2.3 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    sources = list(table)
    for ax, name in zip(axes, statistics):
        values = [table[s].get(name) for s in sources]
        heights = [float(v) if isinstance(v, (int, float)) else np.nan for v in values]
        ax.bar(range(len(sources)), heights, color=[SOURCE_COLOURS.get(s, "#555") for s in sources])
        ax.set_xticks(range(len(sources)), [s.replace("_", "-") for s in sources], fontsize=7, rotation=20)
        ax.set_title(name.replace("_", " "), fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    for ax in axes[len(statistics):]:
        ax.set_visible(False)
    return _save(fig, path)


__all__ = ["PITCH_NAMES", "plot_histograms", "plot_melody_grid", "plot_statistics", "pitch_window"]
