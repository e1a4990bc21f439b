"""Precision and recall, density and coverage: k-nearest-neighbour manifolds of two feature sets.

Every sample of a set gets a ball around it whose radius is the distance to its k-th nearest
neighbour in the same set (the sample itself excluded); the union of the balls estimates the
set's manifold.

* Improved precision and recall (Kynkäänniemi et al., "Improved Precision and Recall Metric for
  Assessing Generative Models", NeurIPS 2019, Sec. 2, eqs. 1-2): ``f(x, S) = 1`` when x lies in the
  ball of at least one member of S (eq. 1); precision = mean over fake samples of f(fake, real),
  recall = mean over real samples of f(real, fake) (eq. 2).
* Density and coverage (Naeem et al., "Reliable Fidelity and Diversity Metrics for Generative
  Models", ICML 2020, Sec. 3), with balls around the N real samples X_i only:
  ``density = 1 / (k M) * sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))]`` over the M fake samples Y_j,
  ``coverage = 1 / N * sum_i 1[exists j: Y_j in B(X_i, NND_k(X_i))]``.

Conventions (those of Naeem et al.'s reference code, the ``prdc`` package): a ball is open (a sample
is inside when its distance is strictly less than the radius, so a ball of radius 0 holds nothing)
and the k-th neighbour excludes the sample itself but counts its duplicates. Kynkäänniemi et al.'s
eq. 1 writes ``<=`` (closed balls, as torch-fidelity computes); the two differ only for a sample
exactly on a ball's boundary (ties, duplicates).

``prdc`` gives all four from one walk over the distances, with a k for each pair (see there).

The work is in float64, in chunks of rows: squared distances by ``|a|^2 + |b|^2 - 2 a.b`` clamped at
0 (as scikit-learn computes them) are compared with squared radii; at most CHUNK_ELEMENTS distances
(or one row, if longer) are held at once, whatever the number of samples, and never a matrix of
square roots.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from advlab.metrics.distances import pairwise_chunks
from advlab.metrics.inputs import Matrix, as_feature_pair, check_neighbours


class PrecisionRecall(NamedTuple):
    """Share of fake samples inside the real manifold, and of real samples inside the fake one."""

    precision: float
    recall: float


class DensityCoverage(NamedTuple):
    """Mean number of real balls per fake sample over k, and share of real balls holding a fake sample."""

    density: float
    coverage: float


def precision_recall(real_features: Matrix, fake_features: Matrix, k: int = 3) -> PrecisionRecall:
    """Improved precision and recall of fake samples against real ones (Kynkäänniemi et al. 2019).

    Args:
        real_features: (n_real, d) NumPy array or torch tensor, n_real >= k + 1.
        fake_features: (n_fake, d) NumPy array or torch tensor, n_fake >= k + 1.
        k: neighbourhood size: each ball reaches the k-th nearest other sample of its set (default 3,
            the paper's choice).

    Returns:
        PrecisionRecall(precision, recall), floats in [0, 1]: precision is the share of fake samples
        inside at least one real ball, recall the share of real samples inside at least one fake ball.

    Raises:
        AdvlabError: different widths, fewer than k + 1 samples in a set, NaN or inf, a bad k.
    """
    real, fake = checked_sets(real_features, fake_features, k)
    real_radii2, fake_radii2 = kth_neighbour_radii2(real, k), kth_neighbour_radii2(fake, k)
    fake_in_real = torch.zeros(len(fake), dtype=torch.bool)
    real_in_fake = torch.empty(len(real), dtype=torch.bool)
    for rows, distances2 in pairwise_chunks(real, fake):
        fake_in_real |= any_along(inside_balls(distances2, real_radii2[rows, None]), dim=0)
        real_in_fake[rows] = any_along(inside_balls(distances2, fake_radii2[None, :]), dim=1)
    return PrecisionRecall(share(fake_in_real), share(real_in_fake))


def density_coverage(real_features: Matrix, fake_features: Matrix, k: int = 5) -> DensityCoverage:
    """Density and coverage of fake samples against real ones (Naeem et al. 2020).

    Args:
        real_features: (n_real, d) NumPy array or torch tensor, n_real >= k + 1.
        fake_features: (n_fake, d) NumPy array or torch tensor, n_fake >= k + 1.
        k: neighbourhood size of the real balls (default 5, the paper's choice).

    Returns:
        DensityCoverage(density, coverage): density = mean over fake samples of the number of real
        balls holding it, divided by k (about 1 when fake matches real; unbounded above); coverage =
        share of real balls that hold at least one fake sample, in [0, 1].

    Raises:
        AdvlabError: different widths, fewer than k + 1 samples in a set, NaN or inf, a bad k.
    """
    real, fake = checked_sets(real_features, fake_features, k)
    real_radii2 = kth_neighbour_radii2(real, k)
    balls_per_fake = torch.zeros(len(fake), dtype=torch.int64)
    real_ball_used = torch.empty(len(real), dtype=torch.bool)
    for rows, distances2 in pairwise_chunks(real, fake):
        inside = inside_balls(distances2, real_radii2[rows, None])
        balls_per_fake += inside.sum(dim=0)
        real_ball_used[rows] = any_along(inside, dim=1)
    return DensityCoverage(float(balls_per_fake.double().mean()) / k, share(real_ball_used))


class PRDC(NamedTuple):
    """All four: precision and recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020)."""

    precision: float
    recall: float
    density: float
    coverage: float


def prdc(real_features: Matrix, fake_features: Matrix, k_precision: int = 3, k_density: int = 5) -> PRDC:
    """precision_recall(k=k_precision) and density_coverage(k=k_density) in one walk over the distances.

    Computed apart, the two walk the real-to-real and the real-to-fake distances twice each; here every
    distance is computed once: the real balls of both sizes come from one k-nearest-neighbour search, and
    each chunk of real-to-fake distances serves all four figures. The values are exactly the two functions'.

    Args:
        real_features: (n_real, d) NumPy array or torch tensor, n_real > max(k_precision, k_density).
        fake_features: (n_fake, d) NumPy array or torch tensor, n_fake > k_precision.
        k_precision: precision and recall's neighbourhood size (default 3, Kynkäänniemi et al.'s).
        k_density: density and coverage's (default 5, Naeem et al.'s; the ``prdc`` package uses one k for all).

    Raises:
        AdvlabError: as precision_recall and density_coverage.
    """
    real, fake = as_feature_pair(real_features, fake_features)
    k_precision = check_neighbours(k_precision, len(real), "real features")
    k_density = check_neighbours(k_density, len(real), "real features")
    check_neighbours(k_precision, len(fake), "fake features")
    real_pr2, real_dc2 = kth_neighbour_radii2(real, (k_precision, k_density))
    fake_radii2 = kth_neighbour_radii2(fake, k_precision)
    fake_in_real = torch.zeros(len(fake), dtype=torch.bool)
    real_in_fake = torch.empty(len(real), dtype=torch.bool)
    balls_per_fake = torch.zeros(len(fake), dtype=torch.int64)
    real_ball_used = torch.empty(len(real), dtype=torch.bool)
    for rows, distances2 in pairwise_chunks(real, fake):
        fake_in_real |= any_along(inside_balls(distances2, real_pr2[rows, None]), dim=0)
        real_in_fake[rows] = any_along(inside_balls(distances2, fake_radii2[None, :]), dim=1)
        inside = inside_balls(distances2, real_dc2[rows, None])
        balls_per_fake += inside.sum(dim=0)
        real_ball_used[rows] = any_along(inside, dim=1)
    return PRDC(share(fake_in_real), share(real_in_fake), float(balls_per_fake.double().mean()) / k_density,
                share(real_ball_used))


def checked_sets(real_features: Matrix, fake_features: Matrix, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sets as float64 (n, d) tensors of the same width, each with more than k samples."""
    real, fake = as_feature_pair(real_features, fake_features)
    check_neighbours(k, len(real), "real features")
    check_neighbours(k, len(fake), "fake features")
    return real, fake


def kth_neighbour_radii2(points: torch.Tensor, k: int | tuple[int, ...]) -> torch.Tensor:
    """(n,) squared distance from each point to its k-th nearest other point of the same set; for a tuple of
    k, (len(k), n): one row per k, from one search."""
    ks = (k,) if isinstance(k, int) else tuple(k)
    radii2 = torch.empty(len(ks), len(points), dtype=points.dtype)
    for rows, distances2 in pairwise_chunks(points, points):
        own = torch.arange(len(distances2))
        distances2[own, own + rows.start] = -torch.inf  # the point itself: the smallest, column 0 once sorted
        nearest = distances2.topk(max(ks) + 1, dim=1, largest=False, sorted=True).values
        radii2[:, rows] = nearest[:, list(ks)].T
    return radii2[0] if isinstance(k, int) else radii2


def inside_balls(distances2: torch.Tensor, radii2: torch.Tensor) -> torch.Tensor:
    """Bool mask: a distance strictly below its ball's radius (open balls; radii2 broadcasts)."""
    return distances2 < radii2


def any_along(flags: torch.Tensor, dim: int) -> torch.Tensor:
    """``flags.any(dim)``, as a max over bytes: on CPU, torch's bool any is tens of times slower."""
    return flags.view(torch.uint8).amax(dim=dim).bool()


def share(flags: torch.Tensor) -> float:
    """Share of True entries."""
    return float(flags.double().mean())
