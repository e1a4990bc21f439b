"""The attribute-accuracy chart of a text-to-image evaluation: per attribute, how often the attribute classifier reads
back from the samples what their captions asked, between chance (a generator that ignores the text) and the real
held-out images (the ceiling)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from advlab.reports.plots import _figure, _save

BARS = (("chance", "chance (text ignored)", "#bbbbbb"), ("samples", "samples", "#1f77b4"),
        ("real", "real held-out images", "#2ca02c"))


def plot_attribute_accuracy(attributes: dict[str, dict[str, float]], path) -> Path:
    """Grouped bars: for each attribute, {"chance", "samples", "real"} accuracies in [0, 1]."""
    names = list(attributes)
    fig, axes = _figure(1, 1, size=(max(5.0, 0.9 * len(names) + 2), 3.6))
    ax = axes[0][0]
    positions = np.arange(len(names))
    width = 0.8 / len(BARS)
    for i, (key, label, colour) in enumerate(BARS):
        values = [attributes[name].get(key, float("nan")) for name in names]
        ax.bar(positions + (i - 1) * width, values, width, label=label, color=colour)
    ax.set_xticks(positions, [name.replace("_", " ") for name in names], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.2)
    ax.set_ylabel("read back as asked")
    ax.set_title("Attributes of samples for held-out captions", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", ncol=len(BARS), frameon=False)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


__all__ = ["plot_attribute_accuracy"]
