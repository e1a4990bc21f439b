"""kNN label sanitisation against label flipping.

Paudice, Muñoz-González & Lupu 2018, "Label Sanitization against Label Flipping Poisoning Attacks"
(ECML PKDD workshops; arXiv:1803.00992), sec. 4, the kNN-based defence: for every training point,
look at the labels of its k nearest neighbours among the other training points; if the most common
of them holds at least a share eta of the k (the confidence threshold), give the point that label.
Points in a region where their own label is rare -- as flipped labels are, unless the attacker
flips a whole neighbourhood -- take the label of the region, while points near a genuine class
boundary, whose neighbours disagree, keep theirs.

Distances are Euclidean, in input space (the flattened images) or in a representation the caller
gives (``features``, one row per point, e.g. a network's penultimate activations). Every point is
judged against the labels as they were given (one pass: a relabelling does not feed into its
neighbours' votes). Ties in the vote go to the smaller label; a tie can only reach the threshold when
eta <= 0.5.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from advlab.core.errors import AdvlabError
from advlab.metrics.inputs import check_neighbours

CHUNK_ROWS = 1024  # query rows per distance block: 1024 x N distances at a time


def knn_sanitize(images: Tensor, labels: Tensor, k: int = 10, eta: float = 0.5,
                 features: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Sanitised labels and the rows whose label changed: ``(new_labels (N,), changed_rows (M,))``.

    Args:
        images: the training images (N, C, H, W) (any (N, ...) tensor); their distances when no features.
        labels: their labels (N,), integer classes >= 0.
        k: neighbours that vote for each point (the point itself excluded); 1 <= k <= N - 1. Default 10.
        eta: confidence threshold in (0, 1]: a point takes the most common neighbour label when at least
            eta * k of its neighbours hold it. Default 0.5.
        features: a representation (N, ...) to measure distances in instead of the images (e.g. penultimate
            activations); default None.

    Returns:
        new_labels, int64 (N,) on the labels' device, and changed_rows, the sorted long indices where
        new_labels differs from labels.
    """
    check_labels(labels)
    points = neighbour_space(images if features is None else features, len(labels),
                             "images" if features is None else "features")
    k = check_neighbours(k, len(points), "knn_sanitize")
    check_eta(eta)
    neighbours = nearest_neighbours(points, k)
    votes = labels.to(points.device)[neighbours]
    counts = torch.zeros(len(points), int(labels.max()) + 1, dtype=torch.long, device=points.device)
    counts.scatter_add_(1, votes, torch.ones_like(votes))
    top_count, top_label = counts.max(1)  # max returns the first, i.e. smallest, label of a tie
    confident = top_count >= math.ceil(eta * k - 1e-9)
    new_labels = torch.where(confident, top_label, labels.to(points.device)).to(labels.device)
    changed_rows = (new_labels != labels).nonzero().flatten()
    return new_labels, changed_rows


def neighbour_space(values, rows: int, name: str) -> Tensor:
    """`values` (N, ...) flattened to finite floating rows (N, D), or an AdvlabError naming `name`."""
    if not isinstance(values, Tensor) or values.dim() < 2 or len(values) != rows:
        raise AdvlabError(f"knn_sanitize: {name} must be a tensor (N, ...) with one row per label ({rows}), got "
                          f"shape {tuple(getattr(values, 'shape', ()))}")
    points = values.detach().flatten(1)
    points = points if points.dtype.is_floating_point else points.float()
    if not bool(torch.isfinite(points).all()):
        raise AdvlabError(f"knn_sanitize: {name} hold NaN or inf")
    return points


def check_labels(labels) -> None:
    """Labels (N,) of integer classes >= 0, or an AdvlabError."""
    if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.dtype.is_floating_point or \
            labels.dtype == torch.bool or (len(labels) and int(labels.min()) < 0):
        raise AdvlabError("knn_sanitize: labels must be a tensor (N,) of integer classes >= 0")


def check_eta(eta) -> None:
    """A confidence threshold in (0, 1], or an AdvlabError."""
    ok = isinstance(eta, (int, float)) and not isinstance(eta, bool) and math.isfinite(eta)
    if not ok or not 0 < eta <= 1:
        raise AdvlabError(f"knn_sanitize: eta must be a share in (0, 1], got {eta!r}")


def nearest_neighbours(points: Tensor, k: int) -> Tensor:
    """Indices (N, k) of each row's k nearest other rows of points (N, D), nearest first (Euclidean)."""
    found = []
    for first in range(0, len(points), CHUNK_ROWS):
        block = points[first:first + CHUNK_ROWS]
        distances = torch.cdist(block, points)
        own = torch.arange(first, first + len(block), device=points.device)
        distances[torch.arange(len(block), device=points.device), own] = float("inf")
        found.append(distances.topk(k, dim=1, largest=False, sorted=True).indices)
    return torch.cat(found)
