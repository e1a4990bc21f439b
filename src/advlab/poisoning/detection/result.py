"""What a backdoor detector found (flagged rows or classes, scores, a threshold), and the checks detectors share.

Row detectors (spectral signatures, activation clustering, STRIP) flag rows of the images they were given;
class detectors (Neural Cleanse) flag classes. Either way :meth:`Detection.tpr` and :meth:`Detection.fpr`
measure the flags against a boolean truth mask of the same length (rows: the poisoned rows, e.g.
``PoisonedData.mask()``; classes: True on the backdoor's target). :meth:`Detection.summary` gives the
JSON-ready record (``flagged``, ``scores``, ``threshold`` and, when the truth is known, ``tpr``/``fpr``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from advlab.core.errors import AdvlabError
from advlab.poisoning.base import check_training_set

KINDS = ("rows", "classes")


@dataclass
class Detection:
    """A detector's verdict.

    Attributes:
        method: the detector's name ("spectral-signatures", "activation-clustering", "strip", "neural-cleanse").
        kind: "rows" (flags rows of the images given) or "classes" (flags classes).
        flagged: sorted int64 indices of the flagged rows or classes (CPU).
        size: how many rows or classes were judged (the length of a truth mask).
        scores: (size,) float, one per row or class; what it means and which side is suspicious is the
            detector's (its docstring says).
        threshold: the cut the flags come from, when there is one number (None when it differs per class).
        extras: the detector's other findings (per-class figures, reversed triggers, ...).
    """

    method: str
    kind: str
    flagged: Tensor
    size: int
    scores: Tensor
    threshold: float | None = None
    extras: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        self.flagged = torch.as_tensor(self.flagged, dtype=torch.int64).flatten().cpu().sort().values

    def mask(self) -> Tensor:
        """Bool (size,): True on the flagged rows or classes."""
        flags = torch.zeros(self.size, dtype=torch.bool)
        flags[self.flagged] = True
        return flags

    def check_truth(self, truth: Tensor) -> Tensor:
        truth = torch.as_tensor(truth).flatten().cpu()
        if truth.dtype != torch.bool or len(truth) != self.size:
            raise AdvlabError(f"the truth must be a boolean mask of the {self.size} {self.kind} judged, got "
                              f"{truth.dtype} of length {len(truth)}")
        return truth

    def tpr(self, truth: Tensor) -> float:
        """Share of the truly poisoned rows (or backdoored classes) that are flagged; nan if there are none."""
        truth = self.check_truth(truth)
        positives = int(truth.sum())
        return int((self.mask() & truth).sum()) / positives if positives else math.nan

    def fpr(self, truth: Tensor) -> float:
        """Share of the clean rows (or classes) that are flagged; nan if there are none."""
        truth = self.check_truth(truth)
        negatives = int((~truth).sum())
        return int((self.mask() & ~truth).sum()) / negatives if negatives else math.nan

    def summary(self, truth: Tensor | None = None) -> dict:
        """JSON-ready: method, kind, flagged, scores, threshold, the extras that are numbers, strings or tensors
        of at most one dimension (images such as reversed triggers are left out), and with `truth` the
        ``tpr`` and ``fpr`` (None where undefined)."""
        record = {"method": self.method, "kind": self.kind, "flagged": self.flagged.tolist(), "size": self.size,
                  "scores": plain(self.scores), "threshold": self.threshold}
        for key, value in self.extras.items():
            if isinstance(value, Tensor) and value.dim() > 1:
                continue
            record[key] = plain(value)
        if truth is not None:
            for name, rate in (("tpr", self.tpr(truth)), ("fpr", self.fpr(truth))):
                record[name] = None if math.isnan(rate) else rate
        return record


def plain(value):
    """`value` as JSON-ready numbers and lists (tensors to lists, nan and infinities to None)."""
    if isinstance(value, Tensor):
        value = value.detach().cpu().tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def check_inputs(model, images: Tensor, labels: Tensor) -> None:
    """A model (nn.Module) and a labelled set of images (N, C, H, W) in [0, 1] with N >= 1, or an AdvlabError."""
    if not isinstance(model, torch.nn.Module):
        raise AdvlabError(f"model must be a torch nn.Module classifier, got {type(model).__name__}")
    check_training_set(images, labels)
    if len(images) == 0:
        raise AdvlabError("no images to inspect")


def check_share(name: str, value) -> float:
    """A share in (0, 1], or an AdvlabError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise AdvlabError(f"{name} must be a share in (0, 1], got {value!r}")
    return float(value)


def class_rows(labels: Tensor, classes=None) -> dict[int, Tensor]:
    """{class: the row indices (CPU, int64) with that label} for `classes` (default: every label present, sorted);
    a class that no row has is an AdvlabError."""
    labels = labels.cpu()
    present = sorted(int(value) for value in labels.unique())
    if classes is None:
        classes = present
    for value in classes:
        if isinstance(value, bool) or not isinstance(value, int) or value not in present:
            raise AdvlabError(f"class {value!r} has no rows to inspect; the labels present are {present}")
    return {value: (labels == value).nonzero().flatten() for value in classes}


__all__ = ["Detection", "check_inputs", "check_share", "class_rows"]
