"""The ROC curve of a membership inference attack, and its TPR at a fixed low FPR.

Carlini et al. 2022, "Membership Inference Attacks From First Principles" (sec. III-B): an attack is judged
by its true-positive rate at a low false-positive rate (0.1%, 1%) on a log-log ROC, not by accuracy or AUC
alone. :func:`membership_roc` sweeps every threshold over the scores (higher = more likely a member): one ROC
point per distinct score, tied scores entering together, as scikit-learn's ``roc_curve`` with
``drop_intermediate=False``; the AUC is the trapezoidal area under those points (``roc_auc_score``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from advlab.core.errors import AdvlabError

REPORTED_FPRS = {"tpr_at_0.1%_fpr": 0.001, "tpr_at_1%_fpr": 0.01}  # the keys of membership.json
FPR_TOLERANCE = 1e-12  # 9 / 900 is 1% up to float rounding


@dataclass(frozen=True)
class MembershipROC:
    """ROC points in order of decreasing threshold: `fpr`, `tpr` (float64, from 0 to 1) and `thresholds`
    (the first is +inf: nobody flagged); `auc` the area under them."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float

    def tpr_at(self, fpr: float) -> float:
        """The TPR at the largest ROC point whose FPR is <= `fpr`, i.e. the best TPR of a threshold that keeps
        the false positives within the budget, read off as the LiRA paper does (its reference code,
        ``plot.py``'s ``do_plot``, takes the last point with FPR strictly below; the two differ only where a
        point lies exactly on `fpr`). tpr_at(0) is the share of members flagged before the first non-member."""
        if not 0 <= fpr <= 1:
            raise AdvlabError(f"a false-positive rate lies in [0, 1], got {fpr!r}")
        within = np.flatnonzero(self.fpr <= fpr + FPR_TOLERANCE)
        return float(self.tpr[within[-1]])

    def summary(self) -> dict[str, float]:
        """{"auc", "tpr_at_0.1%_fpr", "tpr_at_1%_fpr"} as plain floats (the keys of membership.json)."""
        return {"auc": self.auc, **{key: self.tpr_at(rate) for key, rate in REPORTED_FPRS.items()}}


def as_numpy(values, name: str) -> np.ndarray:
    """A 1-D NumPy array from a tensor, an array or a list."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim != 1:
        raise AdvlabError(f"{name} must be one value per example (1-D), got shape {array.shape}")
    return array


def check_roc_inputs(scores, is_member) -> tuple[np.ndarray, np.ndarray]:
    """(scores float64, is_member bool) of equal length, finite scores, both members and non-members."""
    scores = as_numpy(scores, "membership scores").astype(np.float64)
    is_member = as_numpy(is_member, "membership labels")
    if len(scores) != len(is_member):
        raise AdvlabError(f"{len(scores)} membership scores for {len(is_member)} membership labels; give one each")
    if not np.isfinite(scores).all():
        raise AdvlabError("membership scores contain NaN or infinite values; an attack's scores must be finite")
    if not np.isin(is_member, (0, 1)).all():
        raise AdvlabError("membership labels must be True (member) or False (non-member)")
    is_member = is_member.astype(bool)
    if is_member.all() or not is_member.any():
        raise AdvlabError("an ROC curve needs both members and non-members among the examples, got "
                          f"{int(is_member.sum())} members of {len(is_member)}")
    return scores, is_member


def membership_roc(scores, is_member) -> MembershipROC:
    """The ROC of `scores` (N,) (higher = more likely a member) against the truth `is_member` (N,) bool."""
    scores, is_member = check_roc_inputs(scores, is_member)
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_members = scores[order], is_member[order]
    last_of_each_score = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(scores) - 1]
    true_positives = np.cumsum(sorted_members)[last_of_each_score]
    false_positives = last_of_each_score + 1 - true_positives
    tpr = np.r_[0.0, true_positives / is_member.sum()]
    fpr = np.r_[0.0, false_positives / (~is_member).sum()]
    thresholds = np.r_[np.inf, sorted_scores[last_of_each_score]]
    return MembershipROC(fpr, tpr, thresholds, float(np.trapezoid(tpr, fpr)))


__all__ = ["REPORTED_FPRS", "MembershipROC", "membership_roc"]
