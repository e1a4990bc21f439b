"""Plots of the GAN evaluation report: quality over steps, precision against recall, samples per mode, and
convergence against quality (the losses beside FID, with their Spearman correlation).

The figures follow plots.py: each draws on its own matplotlib Figure (Agg, no pyplot), writes a PNG,
creating parent folders, and returns its path, or returns None and writes nothing when there is nothing to
plot. Eval records are read from metrics.jsonl records ({"kind": "eval", "step": ..., "fid": ...}); a missing
or non-finite value leaves that point out, and a step logged twice keeps its last record.

* Quality over steps: FID (with the real-vs-real FID of two halves of the real sample as a yardstick) and
  KID with a band of one standard deviation over its subsets (Bińkowski et al. 2018, sec. 3); improved
  precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020); modes covered.
* Precision against recall: one labelled point per evaluation or run; the ideal generator sits at (1, 1).
* Samples per mode against the uniform expectation N/K. Up to 100 modes: one bar per mode, missing modes
  marked. More (1000 for stacked digits): the counts sorted, and a heatmap with rows of a power of ten modes
  (10 x 100 for 1000: row = first digit, column = last two), missing modes in red.
* Convergence against quality: D and G losses over steps with FID on a second axis, and each loss (mean
  since the previous evaluation) against FID, with Spearman's rho (advlab.metrics.oscillation).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.ticker import MaxNLocator

from advlab.core.errors import AdvlabError
from advlab.metrics.oscillation import convergence_vs_quality, loss_at_evaluations
from advlab.reports.plots import D_COLOR, G_COLOR, _curve, _figure, _is_number, _save, _series

FID_COLOR, KID_COLOR, YARDSTICK_COLOR = "tab:purple", "tab:green", "grey"
PRDC_COLORS = {"precision": "tab:blue", "recall": "tab:orange", "density": "tab:green", "coverage": "tab:red"}
MISSING_COLOR = "#d62728"
MODE_CMAP = LinearSegmentedColormap.from_list("advlab_modes", ["#deebf7", "#08306b"])  # light to dark blue
MAX_BAR_MODES = 100
MAX_LABELS = 12
MAX_TICK_LABELS = 25


def _eval_series(records, key: str) -> tuple[np.ndarray, np.ndarray]:
    return _series(records, key, kind="eval")


def _has(records, key: str) -> bool:
    return _eval_series(records, key)[0].size > 0


def _markers(ax, steps: np.ndarray, values: np.ndarray, label: str, color: str, linestyle: str = "-"):
    """One eval metric against step: points joined by lines."""
    return ax.plot(steps, values, marker="o", linestyle=linestyle, color=color, markersize=4, linewidth=1.4,
                   label=label)[0]


# ---------------------------------------------------------------- quality over steps


def _kid_band(ax, records) -> list:
    """KID with a one-std band (kid_std) when logged; returns the legend handles."""
    steps, kid = _eval_series(records, "kid")
    std_steps, std = _eval_series(records, "kid_std")
    both = np.isin(steps, std_steps)
    handle = _markers(ax, steps, kid, "KID (band: ± std)" if both.any() else "KID", KID_COLOR)
    if both.any():
        spread = std[np.searchsorted(std_steps, steps[both])]
        ax.fill_between(steps[both], kid[both] - spread, kid[both] + spread, color=KID_COLOR, alpha=0.2, linewidth=0)
    ax.set_ylabel("KID", color=KID_COLOR)
    return [handle]


def _distance_panel(ax, records) -> None:
    """FID (left axis) and KID (right axis, or left without FID) against step."""
    handles = []
    if _has(records, "fid"):
        handles.append(_markers(ax, *_eval_series(records, "fid"), "FID", FID_COLOR))
        steps, real = _eval_series(records, "real_fid")
        if steps.size:
            handles.append(_markers(ax, steps, real, "FID real vs real", YARDSTICK_COLOR, linestyle="--"))
        ax.set_ylabel("FID", color=FID_COLOR)
    if _has(records, "kid"):
        handles += _kid_band(ax.twinx() if handles else ax, records)
    ax.set(title="Distance to the real data (lower is better)", xlabel="step")
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, loc="best", fontsize=8)


def _prdc_panel(ax, records) -> None:
    """Precision, recall, density and coverage against step; [0, 1] axis, wider when density exceeds 1."""
    top = 1.0
    for key, color in PRDC_COLORS.items():
        steps, values = _eval_series(records, key)
        if steps.size:
            _markers(ax, steps, values, key, color)
            top = max(top, float(values.max()))
    ax.axhline(1.0, color=YARDSTICK_COLOR, linestyle=":", linewidth=0.8)
    ax.set(title="Fidelity and diversity (higher is better)", xlabel="step", ylim=(-0.02, top * 1.05 + 0.02))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)


def _modes_panel(ax, records) -> None:
    """Modes covered against step, with the total (dashed) and the real sample's count (dotted)."""
    steps, modes = _eval_series(records, "modes")
    _markers(ax, steps, modes, "generated", D_COLOR)
    totals = _eval_series(records, "total_modes")[1]
    real_steps, real = _eval_series(records, "real_modes")
    if real_steps.size:
        _markers(ax, real_steps, real, "real sample", YARDSTICK_COLOR, linestyle=":")
    title = "Modes covered"
    if totals.size:
        ax.axhline(totals[-1], color="grey", linestyle="--", linewidth=0.8, label=f"all {totals[-1]:g}")
        ax.set_ylim(-0.02 * totals[-1], totals[-1] * 1.05 + 0.5)
        title = f"Modes covered (of {totals[-1]:g})"
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(title=title, xlabel="step")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)


def plot_quality_over_steps(records: list[dict], path) -> Path | None:
    """Evaluation figures against step, one panel each for what the eval records hold.

    Panels: FID (+ real_fid yardstick) and KID with a kid_std band on a second axis; precision, recall,
    density, coverage; modes (of total_modes, + real_modes). Returns the PNG path, or None (writing
    nothing) when no eval record has any of fid, kid, precision, recall, density, coverage or modes.
    """
    panels = []
    if _has(records, "fid") or _has(records, "kid"):
        panels.append(_distance_panel)
    if any(_has(records, key) for key in PRDC_COLORS):
        panels.append(_prdc_panel)
    if _has(records, "modes"):
        panels.append(_modes_panel)
    if not panels:
        return None
    fig, axes = _figure(1, len(panels), size=(4.6 * len(panels), 3.8))
    for ax, draw in zip(axes.flat, panels):
        draw(ax, records)
    return _save(fig, path)


# ---------------------------------------------------------------- precision against recall


def _pr_point(label, precision, recall) -> tuple[str, float, float]:
    for name, value in (("precision", precision), ("recall", recall)):
        if not _is_number(value) or not 0 <= value <= 1:
            raise AdvlabError(f"{name} of point {label!r} must be a number in [0, 1], got {value!r}")
    return str(label), float(precision), float(recall)


def _pr_points(points) -> list[tuple[str, float, float]]:
    if isinstance(points, Mapping):
        items = [(label, *pair) if isinstance(pair, tuple | list) else (label, pair) for label, pair in points.items()]
    elif isinstance(points, Iterable) and not isinstance(points, str | bytes):
        items = list(points)
    else:
        raise AdvlabError(f"points: expected (label, precision, recall) triples, got {type(points).__name__}")
    checked = []
    for item in items:
        if not isinstance(item, tuple | list) or len(item) != 3:
            raise AdvlabError(f"points: expected (label, precision, recall) triples, got {item!r}")
        checked.append(_pr_point(*item))
    return checked


def precision_recall_points(records: list[dict]) -> list[tuple[str, float, float]]:
    """("step N", precision, recall) of every eval record holding both, in step order."""
    steps, precision = _eval_series(records, "precision")
    recall_steps, recall = _eval_series(records, "recall")
    by_step = dict(zip(recall_steps, recall))
    return [(f"step {step:.0f}", p, by_step[step]) for step, p in zip(steps, precision) if step in by_step]


def _labelled(count: int) -> set[int]:
    """Indices of at most MAX_LABELS points to label, evenly spaced, always the first and the last."""
    if count <= MAX_LABELS:
        return set(range(count))
    return {round(i * (count - 1) / (MAX_LABELS - 1)) for i in range(MAX_LABELS)}


def plot_precision_recall(points, path, title: str = "Precision against recall", connect: bool = False) -> Path | None:
    """Precision (y) against recall (x) in the unit square, each point labelled; the ideal corner marked.

    Args:
        points: (label, precision, recall) triples, or a mapping label -> (precision, recall); values in
            [0, 1]. ``precision_recall_points(records)`` makes them from eval records.
        path: PNG to write.
        title: figure title.
        connect: join the points in order (a run's trajectory over steps); colours always run from dark
            (first) to light (last).

    Returns:
        The PNG path, or None (writing nothing) without points. With more than 12 points, 12 evenly spaced
        ones (always the first and last) carry labels.
    """
    points = _pr_points(points)
    if not points:
        return None
    labels, precision, recall = zip(*points)
    fig, axes = _figure(size=(5.4, 5.0))
    ax = axes[0, 0]
    colors = [f"C{i % 10}" for i in range(len(points))] if not connect else \
        [tuple(c) for c in MODE_CMAP(np.linspace(1.0, 0.35, len(points)))]
    if connect and len(points) > 1:
        ax.plot(recall, precision, color="grey", linewidth=0.8, alpha=0.6, zorder=1)
    ax.scatter(recall, precision, c=colors, s=36, edgecolors="black", linewidths=0.5, zorder=2)
    for i in sorted(_labelled(len(points))):
        right = recall[i] > 0.75  # label to the left of points near the right edge
        ax.annotate(labels[i], (recall[i], precision[i]), textcoords="offset points", xytext=(-6 if right else 6, 4),
                    ha="right" if right else "left", fontsize=8, zorder=4,
                    bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 0.5})
    ax.scatter([1], [1], marker="*", s=220, color="gold", edgecolors="black", linewidths=0.7, zorder=3,
               clip_on=False)
    ax.annotate("ideal", (1, 1), textcoords="offset points", xytext=(-32, -14), fontsize=8)
    ax.set(xlim=(0, 1.02), ylim=(0, 1.02), aspect="equal", xlabel="recall (diversity)",
           ylabel="precision (fidelity)", title=title)
    ax.grid(alpha=0.3)
    return _save(fig, path)


# ---------------------------------------------------------------- samples per mode


def _counts(counts) -> np.ndarray:
    if isinstance(counts, torch.Tensor):
        counts = counts.detach().cpu().double().numpy()
    try:
        array = np.asarray(counts, dtype=np.float64)
    except (TypeError, ValueError):
        raise AdvlabError(f"counts: expected a sequence of numbers, got {type(counts).__name__}") from None
    if array.ndim != 1:
        raise AdvlabError(f"counts: expected one count per mode (1-D), got shape {array.shape}")
    if not np.isfinite(array).all() or (array < 0).any():
        raise AdvlabError("counts: expected finite counts >= 0")
    return array


def _summary(counts: np.ndarray) -> str:
    covered = int((counts > 0).sum())
    return f"{covered} of {counts.size} modes covered, {counts.sum():g} samples"


def _uniform_line(ax, counts: np.ndarray) -> None:
    ax.axhline(counts.sum() / counts.size, color="black", linestyle="--", linewidth=1.0,
               label=f"uniform: N/K = {counts.sum() / counts.size:.3g}")


def _mode_bars(ax, counts: np.ndarray) -> None:
    """One bar per mode in mode order; missing modes marked with a red cross on the axis."""
    modes = np.arange(counts.size)
    ax.bar(modes, counts, width=0.8, color=D_COLOR, label="samples")
    missing = modes[counts == 0]
    if missing.size:
        ax.plot(missing, np.zeros(missing.size), "x", color=MISSING_COLOR, markersize=8, mew=2, clip_on=False,
                label=f"missing ({missing.size})")
    _uniform_line(ax, counts)
    if counts.size <= MAX_TICK_LABELS:
        ax.set_xticks(modes)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    top = max(float(counts.max()), counts.sum() / counts.size, 1.0)
    ax.set(xlabel="mode", ylabel="samples", xlim=(-0.7, counts.size - 0.3), ylim=(0, top * 1.25))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper center", ncols=3, fontsize=8)  # in the headroom above the bars


def _sorted_counts(ax, counts: np.ndarray) -> None:
    """Counts sorted from the most to the least sampled mode, against the uniform expectation."""
    ranked = np.sort(counts)[::-1]
    ax.fill_between(np.arange(1, ranked.size + 1), ranked, step="mid", color=D_COLOR, alpha=0.8, label="samples")
    _uniform_line(ax, counts)
    covered = int((counts > 0).sum())
    if covered < counts.size:
        ax.axvline(covered + 0.5, color=MISSING_COLOR, linewidth=1.0, label=f"missing beyond ({counts.size - covered})")
    ax.set(xlabel="modes ranked by count", ylabel="samples", xlim=(0.5, ranked.size + 0.5))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)


def _heat_shape(count: int) -> tuple[int, int]:
    """(rows, columns): columns the smallest power of ten >= sqrt(count)."""
    columns = 10 ** math.ceil(math.log10(math.sqrt(count)))
    return math.ceil(count / columns), columns


def _mode_heatmap(ax, fig, counts: np.ndarray) -> None:
    """Counts laid out row by row; missing modes red, cells past the last mode blank."""
    rows, columns = _heat_shape(counts.size)
    grid = np.full(rows * columns, np.nan)
    grid[: counts.size] = counts
    cmap = MODE_CMAP.with_extremes(under=MISSING_COLOR, bad="white")
    top = max(float(counts.max()), 1.0)
    image = ax.imshow(np.ma.masked_invalid(grid.reshape(rows, columns)), cmap=cmap, vmin=min(0.5, top / 2),
                      vmax=top, aspect="auto", interpolation="nearest",
                      extent=(-0.5, columns - 0.5, rows - 0.5, -0.5))
    missing = (counts == 0).any()
    fig.colorbar(image, ax=ax, label="samples (red: none)" if missing else "samples", extend="min" if missing
                 else "neither", pad=0.01)
    ax.set(xlabel=f"mode mod {columns}", ylabel=f"mode // {columns}")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=min(rows, 10)))


def plot_mode_histogram(counts, path, title: str = "Samples per mode") -> Path | None:
    """Samples per mode against the uniform expectation N/K.

    Args:
        counts: (K,) samples per mode (sequence, array or tensor of finite numbers >= 0), e.g.
            LabelModes.counts or ModeCoverage.counts.
        path: PNG to write.
        title: figure title; the number of covered modes and samples is appended.

    Returns:
        The PNG path, or None (writing nothing) for K = 0. K <= 100: a bar per mode; larger K: the counts
        sorted beside a heatmap of all modes (10 x 100 for 1000), missing modes in red.
    """
    counts = _counts(counts)
    if counts.size == 0:
        return None
    if counts.size <= MAX_BAR_MODES:
        fig, axes = _figure(size=(max(5.0, min(12.0, 2.5 + 0.25 * counts.size)), 3.8))
        _mode_bars(axes[0, 0], counts)
    else:
        fig, axes = _figure(2, 1, size=(10.0, 7.0))
        _sorted_counts(axes[0, 0], counts)
        _mode_heatmap(axes[1, 0], fig, counts)
    fig.suptitle(f"{title}: {_summary(counts)}")
    return _save(fig, path)


# ---------------------------------------------------------------- convergence against quality


def _rho_text(entry: dict) -> str:
    if entry["rho"] is None:
        return f"ρ undefined ({entry['pairs']} evaluations)" if entry["pairs"] < 3 else "ρ undefined (constant)"
    return f"ρ = {entry['rho']:+.2f} (p = {entry['p_value']:.2g}, n = {entry['pairs']})"


def _loss_label(name: str, entry: dict) -> str:
    """'D loss', with the oscillation period when there is one."""
    oscillation = entry["oscillation"]
    if oscillation is None or oscillation["period"] is None:
        return name
    return f"{name} (period ≈ {oscillation['period']:.3g} steps, amplitude {oscillation['amplitude']:.2g})"


def _losses_and_quality(ax, records, stats: dict, quality: str) -> None:
    """Losses (raw faint, smoothed) on the left axis and the quality figure on a twin right axis."""
    for key, name, color in (("d_loss", "D loss", D_COLOR), ("g_loss", "G loss", G_COLOR)):
        _curve(ax, *_series(records, key), _loss_label(name, stats[key]), color)
    twin = ax.twinx()
    _markers(twin, *_eval_series(records, quality), quality.upper(), FID_COLOR)
    twin.set_ylabel(quality.upper(), color=FID_COLOR)
    ax.set(xlabel="step", ylabel="loss", title=f"Losses and {quality.upper()} over training")
    ax.grid(alpha=0.3)
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=3, fontsize=8)  # under the axes


def _loss_against_quality(ax, records, stats: dict, quality: str) -> None:
    """Each loss averaged since the previous evaluation against the quality figure, joined in step order."""
    for key, name, color, marker in (("d_loss", "D", D_COLOR, "o"), ("g_loss", "G", G_COLOR, "^")):
        _, losses, qualities = loss_at_evaluations(records, key, quality)
        if losses.size:
            ax.plot(losses, qualities, marker=marker, color=color, linewidth=0.6, markersize=5,
                    label=f"{name}: {_rho_text(stats[key])}")
    ax.set(xlabel="mean loss since the previous evaluation", ylabel=quality.upper(),
           title=f"Spearman rank correlation with {quality.upper()}")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)


def plot_convergence_vs_quality(records: list[dict], path, quality: str = "fid") -> Path | None:
    """Convergence against quality: D/G losses over steps with ``quality`` (FID) on a twin axis, and each
    loss (mean since the previous evaluation) against it, with Spearman's rho and p in the legend.

    Returns the PNG path, or None (writing nothing) without a d_loss/g_loss train record or without an
    eval record holding ``quality``.
    """
    has_loss = any(_series(records, key)[0].size for key in ("d_loss", "g_loss"))
    if not has_loss or not _has(records, quality):
        return None
    stats = convergence_vs_quality(records, quality)
    fig, axes = _figure(1, 2, size=(12.0, 4.4))
    _losses_and_quality(axes[0, 0], records, stats, quality)
    _loss_against_quality(axes[0, 1], records, stats, quality)
    return _save(fig, path)
