"""The ROC curves of membership inference attacks on log-log axes (Carlini et al. 2022, sec. III-B, fig. 1).

Membership attacks are judged at low false-positive rates, so both axes are logarithmic: a curve at chance is
the diagonal TPR = FPR, and the TPR at 0.1% and 1% FPR (the figures of membership.json) are marked on every
curve. A log axis has no zero: ROC points at FPR 0 (or TPR 0) are drawn at the axis' left (lower) edge, half
the smallest rate the examples can show, and the picture says so. Drawn as advlab.reports.plots does (a
matplotlib Figure on the Agg canvas, no pyplot).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from advlab.privacy.membership.roc import REPORTED_FPRS, MembershipROC
from advlab.reports.plots import _figure, _save

CHANCE_COLOR, MARK_COLOR = "tab:grey", "#555555"
MARKERS = {"tpr_at_0.1%_fpr": "o", "tpr_at_1%_fpr": "s"}


def edge(rates: list[np.ndarray], reported: tuple[float, ...] = ()) -> float:
    """Half the smallest positive rate among `rates` and `reported`: where a rate of 0 is drawn."""
    positive = [float(values[values > 0].min()) for values in rates if (values > 0).any()]
    return min([*positive, *reported, 1.0]) / 2


def save_roc_figure(rocs: dict[str, MembershipROC], path, title: str = "membership inference") -> Path:
    """One log-log ROC curve per attack (legend: AUC and TPR at 0.1% / 1% FPR), the diagonal, the reported
    FPRs as dotted lines with each curve's TPR there marked; a PNG at `path`."""
    fig, axes = _figure(size=(6.4, 5.2))
    ax = axes[0, 0]
    left = edge([roc.fpr for roc in rocs.values()], tuple(REPORTED_FPRS.values()))
    bottom = edge([roc.tpr for roc in rocs.values()], (left,))
    ax.plot([bottom, 1], [bottom, 1], color=CHANCE_COLOR, linestyle="--", linewidth=1, label="chance")
    for rate in REPORTED_FPRS.values():
        ax.axvline(rate, color=MARK_COLOR, linestyle=":", linewidth=0.8)
    for name, roc in rocs.items():
        draw_curve(ax, name, roc, left, bottom)
    ax.set(xscale="log", yscale="log", xlim=(left, 1), ylim=(bottom, 1.05), title=title,
           xlabel="false-positive rate (dotted: 0.1% and 1%; a rate of 0 is drawn at the axis' edge)",
           ylabel="true-positive rate")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize="small", title="attack: AUC, TPR at 0.1% / 1% FPR",
              title_fontsize="small")
    return _save(fig, path)


def draw_curve(ax, name: str, roc: MembershipROC, left: float, bottom: float) -> None:
    """The attack's ROC through its points, rates of 0 moved to the edges, and its TPR at each reported FPR."""
    figures = roc.summary()
    label = (f"{name}: {figures['auc']:.3f}, {100 * figures['tpr_at_0.1%_fpr']:.1f}% / "
             f"{100 * figures['tpr_at_1%_fpr']:.1f}%")
    line, = ax.plot(np.maximum(roc.fpr, left), np.maximum(roc.tpr, bottom), linewidth=1.5, label=label)
    for key, rate in REPORTED_FPRS.items():
        ax.plot([rate], [max(figures[key], bottom)], marker=MARKERS[key], color=line.get_color(), markersize=5)


__all__ = ["save_roc_figure"]
