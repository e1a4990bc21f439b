"""Training plots for run reports.

Losses, mean discriminator outputs, gradient norms and evaluation metrics against step (from
``metrics.jsonl`` records), and the 2-D picture a person reads for mode collapse: real and
generated points over the discriminator's output on a grid.

Every function draws on its own ``matplotlib.figure.Figure`` rendered by the Agg canvas (no
pyplot, so no global backend switch and no figure left open), writes a PNG, creating parent
folders, and returns its path. Noisy curves are drawn raw and faint, with a moving average on
top. Records with a missing or non-finite value are left out of that curve; a step logged twice
(a resumed run) keeps its last record.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from advlab.core.errors import AdvlabError

D_COLOR, G_COLOR = "tab:blue", "tab:orange"
REAL_COLOR, FAKE_COLOR = "#1565c0", "#e65100"
# White to mid grey: dark enough to read D, light enough that the points stay visible.
HEAT_CMAP = LinearSegmentedColormap.from_list("advlab_heat", ["#ffffff", "#d9d9d9", "#6e6e6e"])
# Keys not worth a panel of their own: bookkeeping, spreads and the real-data yardsticks
EVAL_SKIP = frozenset({"step", "kind", "total_modes", "kid_std", "kid_subset", "inception_score_std", "real_fid",
                       "real_inception_score", "real_modes", "real_kl", "support_low", "support_high",
                       "support_low_features", "support_high_features"})
MAX_POINTS = 5000
DPI = 110


def smooth(values, window: int) -> np.ndarray:
    """Centred moving average of ``values`` (same length; the window shrinks at both ends).

    ``window <= 1`` returns a float copy. Non-finite values spread to their neighbours, so
    drop them first.
    """
    x = np.asarray(values, dtype=float).ravel()
    window = int(window)
    if window <= 1 or x.size == 0:
        return x.copy()
    sums = np.concatenate([[0.0], np.cumsum(x)])
    idx = np.arange(x.size)
    lo = np.maximum(idx - window // 2, 0)
    hi = np.minimum(idx - window // 2 + window, x.size)
    return (sums[hi] - sums[lo]) / (hi - lo)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _series(records, key: str, kind: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of ``key`` over records of ``kind``, sorted by step, last record wins."""
    points = {}
    for record in records:
        step, value = record.get("step"), record.get(key)
        if record.get("kind", "train") == kind and _is_number(step) and _is_number(value):
            points[step] = float(value)
    steps = sorted(points)
    return np.array(steps, dtype=float), np.array([points[s] for s in steps], dtype=float)


def _figure(nrows: int = 1, ncols: int = 1, size=(7.0, 4.0)):
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _save(fig: Figure, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")
    return path


def _curve(ax, steps: np.ndarray, values: np.ndarray, label: str, color: str) -> bool:
    """Draw values raw (faint) and smoothed; False when there is nothing to draw."""
    if steps.size == 0:
        return False
    window = max(1, steps.size // 20)
    if window > 1:
        ax.plot(steps, values, color=color, alpha=0.25, linewidth=0.8)
    marker = "o" if steps.size == 1 else None
    ax.plot(steps, smooth(values, window), color=color, linewidth=1.6, label=label, marker=marker)
    return True


def _decorate(ax, title: str, ylabel: str, drawn: bool) -> None:
    ax.set(title=title, xlabel="step", ylabel=ylabel)
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(loc="best")
    else:
        ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes)


def _train_plot(records, curves, title: str, ylabel: str, logy: bool = False):
    """One axes with a curve per (key, label, colour); returns (figure, axes, drew_any)."""
    fig, axes = _figure()
    ax = axes[0, 0]
    drawn = [_curve(ax, *_series(records, key), label, color) for key, label, color in curves]
    if logy and any(drawn):
        ax.set_yscale("log", nonpositive="mask")
    _decorate(ax, title, ylabel, any(drawn))
    return fig, ax, any(drawn)


def plot_losses(records: list[dict], path) -> Path:
    """Discriminator and generator loss against step (train records)."""
    curves = [("d_loss", "D loss", D_COLOR), ("g_loss", "G loss", G_COLOR)]
    fig, _, _ = _train_plot(records, curves, "Discriminator and generator loss", "loss")
    return _save(fig, path)


SERIES_COLUMNS = 3


def plot_train_series(records: list[dict], path, skip: tuple[str, ...] = ("step", "time")) -> Path:
    """Every numeric statistic of the train records against step, one small panel each (image-to-image games
    record their own: pix2pix's g_l1, CycleGAN's cycle_a, SRGAN's content, ...)."""
    keys = sorted({key for record in records if record.get("kind", "train") == "train" for key, value in
                   record.items() if key not in skip and _is_number(value)})
    rows = max(1, math.ceil(len(keys) / SERIES_COLUMNS))
    fig, axes = _figure(rows, SERIES_COLUMNS, size=(3.2 * SERIES_COLUMNS, 2.4 * rows))
    for index, ax in enumerate(axes.flat):
        if index >= len(keys):
            ax.set_axis_off()
            continue
        drawn = _curve(ax, *_series(records, keys[index]), keys[index], G_COLOR)
        _decorate(ax, keys[index], "", drawn)
    return _save(fig, path)


def plot_discriminator_outputs(records: list[dict], path) -> Path:
    """Mean D(x) on real data against mean D(G(z)) on generated data, over steps.

    When every value lies in [0, 1] (probabilities from a sigmoid loss) the axis is fixed to
    [0, 1] with a dashed line at 0.5, where D can no longer tell the two apart.
    """
    curves = [("d_real", "D(x), real", REAL_COLOR), ("d_fake", "D(G(z)), generated", FAKE_COLOR)]
    fig, ax, drawn = _train_plot(records, curves, "Mean discriminator output", "D output")
    values = np.concatenate([_series(records, key)[1] for key in ("d_real", "d_fake")])
    if drawn and values.min() >= 0 and values.max() <= 1:
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
        ax.set_ylim(-0.02, 1.02)
    return _save(fig, path)


def plot_grad_norms(records: list[dict], path) -> Path:
    """Gradient norms of D and G parameters against step, log y axis."""
    curves = [("grad_norm_d", "D", D_COLOR), ("grad_norm_g", "G", G_COLOR)]
    fig, _, _ = _train_plot(records, curves, "Gradient norm", "L2 norm", logy=True)
    return _save(fig, path)


def _eval_panel(ax, evals: list[dict], key: str) -> None:
    """One eval metric against step; ``modes`` gets a dashed line at ``total_modes``."""
    steps, values = _series(evals, key, kind="eval")
    ax.plot(steps, values, "o-", color=D_COLOR, markersize=4, linewidth=1.4)
    ax.set(title=key, xlabel="step")
    ax.grid(alpha=0.3)
    totals = _series(evals, "total_modes", kind="eval")[1]
    if key == "modes" and totals.size:
        ax.axhline(totals[-1], color="grey", linestyle="--", linewidth=0.8)
        ax.set_ylim(-0.3, totals[-1] + 0.7)
        ax.set_title(f"modes (of {totals[-1]:g})")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def plot_eval(records: list[dict], path) -> Path | None:
    """One panel per numeric eval key (not step/kind/total_modes) against step.

    Returns None, writing nothing, when there is no eval record with a numeric key.
    """
    evals = [r for r in records if r.get("kind") == "eval"]
    keys = list(dict.fromkeys(k for r in evals for k, v in r.items() if k not in EVAL_SKIP
                              and _is_number(v)))
    if not keys:
        return None
    ncols = min(3, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    fig, axes = _figure(nrows, ncols, size=(3.6 * ncols, 2.9 * nrows))
    for ax, key in zip(axes.flat, keys):
        _eval_panel(ax, evals, key)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    return _save(fig, path)


def _array(values, name: str, ndim: int) -> np.ndarray:
    """A float NumPy copy of a tensor/array, or AdvlabError if it has the wrong rank."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
    array = np.asarray(values, dtype=float)
    if array.ndim != ndim:
        raise AdvlabError(f"{name} must have {ndim} dimension(s), got shape {array.shape}")
    return array


def _points(values, name: str) -> np.ndarray:
    """(N, 2) points, thinned evenly to at most MAX_POINTS."""
    points = _array(values, name, 2)
    if points.shape[1] != 2:
        raise AdvlabError(f"{name} points must have shape (N, 2), got {points.shape}")
    return points[:: max(1, math.ceil(len(points) / MAX_POINTS))]


def _heatmap(ax, fig, hx, hy, heat, label: str) -> None:
    """Draw the heat grid with a colour bar; [0, 1] data keep a fixed [0, 1] scale."""
    finite = heat[np.isfinite(heat)]
    bounded = finite.size > 0 and finite.min() >= 0 and finite.max() <= 1
    limits = {"vmin": 0.0, "vmax": 1.0} if bounded else {}
    mesh = ax.pcolormesh(hx, hy, heat, shading="auto", cmap=HEAT_CMAP, **limits)
    fig.colorbar(mesh, ax=ax, label=label, shrink=0.85)


def _scatter(ax, points: np.ndarray, label: str, color: str) -> None:
    ax.scatter(points[:, 0], points[:, 1], s=5, alpha=0.45, color=color, linewidths=0,
               label=f"{label} ({len(points)})")


def _note_outside(ax, points: np.ndarray, hx: np.ndarray, hy: np.ndarray) -> None:
    """Say how many generated points fall outside the drawn area (a diverging generator)."""
    inside = ((points[:, 0] >= hx.min()) & (points[:, 0] <= hx.max())
              & (points[:, 1] >= hy.min()) & (points[:, 1] <= hy.max()))
    if (~inside).any():
        ax.text(0.02, 0.02, f"{int((~inside).sum())} generated points outside the view",
                transform=ax.transAxes, fontsize=8, color=FAKE_COLOR,
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})


def plot_points_over_heatmap(real, fake, heat_x, heat_y, heat, path, title: str = "",
                             heat_label: str = "D(x)") -> Path:
    """Real (N, 2) and generated (M, 2) points over ``heat`` (H, W), sampled at x ``heat_x``
    (W,) and y ``heat_y`` (H,), with a colour bar and legend; square aspect, view = heat grid.
    """
    real, fake = _points(real, "real"), _points(fake, "fake")
    hx, hy = _array(heat_x, "heat_x", 1), _array(heat_y, "heat_y", 1)
    heat = _array(heat, "heat", 2)
    if heat.shape != (hy.size, hx.size) or min(heat.shape) < 1:
        raise AdvlabError(f"heat must have shape (len(heat_y), len(heat_x)) = "
                          f"({hy.size}, {hx.size}), got {heat.shape}")
    fig, axes = _figure(size=(6.2, 5.2))
    ax = axes[0, 0]
    _heatmap(ax, fig, hx, hy, heat, heat_label)
    _scatter(ax, real, "real", REAL_COLOR)
    _scatter(ax, fake, "generated", FAKE_COLOR)
    ax.set(xlim=(hx.min(), hx.max()), ylim=(hy.min(), hy.max()), aspect="equal", title=title)
    legend = ax.legend(loc="upper right", markerscale=2.5, framealpha=0.9, fontsize=9)
    for handle in legend.legend_handles:
        handle.set_alpha(1.0)
    _note_outside(ax, fake, hx, hy)
    return _save(fig, path)
