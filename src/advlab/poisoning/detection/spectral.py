"""Spectral signatures: poisoned rows stand out along the top singular vector of their class's representations.

Tran, Li & Madry 2018, "Spectral signatures in backdoor attacks" (NeurIPS), Algorithm 1: for each
label y, take the representations R(x_i) of the rows labelled y, centre them (R_hat = mean_i R(x_i)),
stack M = [R(x_i) - R_hat]_i, let v be the top right singular vector of M, score each row
tau_i = ((R(x_i) - R_hat) . v)^2, and remove the rows with the 1.5 epsilon highest scores, epsilon an upper
bound on the poisons; they then retrain on the rest (not done here). Their sec. 3 (spectral separability) is
why it works: a poisoned sub-population far enough from the clean one in representation space dominates the
top singular direction.

Here ``rate`` is epsilon as a share of each class's rows, as in their experiments (5% or 10% poisons in the
target class) and IBM ART's ``expected_pp_poison``: every class flags its ceil(multiplier x rate x n_y)
highest scores (multiplier 1.5). An all-to-one backdoor poisoning a share r of a K-class training set puts
about r K / (1 + r K) of the target class's rows in the poison (r = 5%, K = 10: a third), so give that.

One deviation, the ``score`` option: the paper's tau_i ("squared") ranks both ends of v alike, which is harmless
when the poisons are a few percent of their class but at a third of it lets the far tail of the clean rows
outrank poisons (the clean mass sits at -epsilon |d| along v, the poisons at (1 - epsilon) |d|). The default
"oriented" score is the projection itself, p_i = (R(x_i) - R_hat) . v, with v's sign chosen so that the third
moment of p is positive (a minority far from the rest lies on the + side): the same ranking as tau_i for the
poisons' side, without the clean tail. Measured on the tests' 16 px digits victim (BadNets at 5%, a third of
the target class, rate given as that third): 95% of the poisons flagged with "oriented", 71% with "squared".

When the rate is unknown (``rate=None``, the default) the cut is a robust outlier rule per class instead:
flag the rows whose score lies more than ``cut`` robust standard deviations (1.4826 x MAD, the MAD scaled to
a normal standard deviation) above the class's median score (cut 3). It needs no rate but misses poisons when
they are a large share of the class, as the MAD then grows with them (same victim: 67% of the poisons at a
0.8% false-positive rate). The representation is the penultimate layer's by default
(advlab.models.representations), never the logits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.models.representations import representations
from advlab.poisoning.detection.result import Detection, check_inputs, check_share, class_rows

MULTIPLIER = 1.5  # Algorithm 1: remove 1.5 epsilon
MAD_SCALE = 1.4826  # the MAD of a normal distribution times this is its standard deviation
CUT = 3.0
SCORES = ("oriented", "squared")


def top_direction_projections(features: Tensor) -> Tensor:
    """(n,) projections of the centred rows of `features` (n, d) on their top right singular vector v, with v
    pointing to the longer tail (positive third moment: a minority far from the rest lies on the + side)."""
    centred = features.double() - features.double().mean(0)
    _, _, right = torch.linalg.svd(centred, full_matrices=False)
    projections = centred @ right[0]
    if float(projections.pow(3).sum()) < 0:
        projections = -projections
    return projections.float()


def top_share(scores: Tensor, share: float, multiplier: float) -> Tensor:
    """Bool mask of the ceil(multiplier x share x n) highest `scores` (n,), at most n."""
    count = min(len(scores), math.ceil(multiplier * share * len(scores) - 1e-9))
    flags = torch.zeros(len(scores), dtype=torch.bool)
    flags[scores.argsort(descending=True, stable=True)[:count]] = True
    return flags


def mad_outliers(projections: Tensor, cut: float) -> Tensor:
    """Bool mask of the `projections` (n,) more than `cut` robust standard deviations above their median."""
    deviations = projections - projections.median()
    spread = MAD_SCALE * deviations.abs().median()
    if spread == 0:
        return torch.zeros(len(projections), dtype=torch.bool)
    return deviations > cut * spread


def spectral_signatures(model: nn.Module, images: Tensor, labels: Tensor, rate: float | None = None,
                        multiplier: float = MULTIPLIER, cut: float = CUT, score: str = "oriented",
                        layer: str | None = None,
                        classes: Sequence[int] | None = None, batch: int | None = None) -> Detection:
    """Flag the training rows whose representation lies far along their class's top singular direction.

    Args:
        model: the classifier trained on (images, labels); never modified.
        images: the training images (N, C, H, W) in [0, 1], on the model's device.
        labels: their labels (N,) int64, as trained on (the poisons carry the target's label).
        rate: the expected share of poisons among a poisoned class's rows (Tran et al.'s epsilon); each class
            flags its ceil(multiplier x rate x n_y) highest scores. None (default): unknown, flag each class's
            MAD outliers instead (see cut).
        multiplier: how many times the rate to flag (default 1.5, Algorithm 1).
        cut: with rate None, flag scores more than cut robust standard deviations (1.4826 MAD) above the class
            median (default 3).
        score: "oriented" (default: the signed projection on v, v pointing to the longer tail) or "squared"
            (the paper's tau_i, its square).
        layer: name of the module whose output is the representation (default: the penultimate layer).
        classes: the labels to inspect (default: every label present); rows of other labels are never flagged.
        batch: images per forward pass (default: advlab.core.batching.images_per_pass, cache-sized on a CPU).

    Returns:
        Detection of kind "rows": flagged rows, scores (N,) per `score` (higher is more suspicious; 0 for rows
        not inspected), threshold None; extras ``class_thresholds`` {class: lowest
        flagged score or None}, ``class_flagged`` {class: count}, ``rate``, ``multiplier``, ``cut``, ``score``.
    """
    check_inputs(model, images, labels)
    if rate is not None:
        rate = check_share("rate", rate)
    multiplier = check_number("multiplier", multiplier, 0.0, strict=True)
    cut = check_number("cut", cut, 0.0, strict=True)
    if batch is not None:
        check_int("batch", batch, 1)
    if score not in SCORES:
        raise AdvlabError(f"score must be one of {', '.join(SCORES)}, got {score!r}")
    groups = class_rows(labels, classes)
    features = representations(model, images, layer, batch).cpu()
    scores = torch.zeros(len(labels))
    flags = torch.zeros(len(labels), dtype=torch.bool)
    thresholds: dict[int, float | None] = {}
    for label, rows in groups.items():
        if len(rows) < 2:
            thresholds[label] = None
            continue
        projections = top_direction_projections(features[rows])
        scores[rows] = projections.square() if score == "squared" else projections
        chosen = top_share(scores[rows], rate, multiplier) if rate is not None else mad_outliers(scores[rows], cut)
        flags[rows[chosen]] = True
        thresholds[label] = float(scores[rows][chosen].min()) if bool(chosen.any()) else None
    counts = {label: int(flags[rows].sum()) for label, rows in groups.items()}
    return Detection("spectral-signatures", "rows", flags.nonzero().flatten(), len(labels), scores, None,
                     {"class_thresholds": thresholds, "class_flagged": counts, "rate": rate,
                      "multiplier": multiplier, "cut": cut, "score": score})


__all__ = ["spectral_signatures"]
