"""Kernel Inception Distance: an unbiased estimate of the squared MMD between two feature sets.

Bińkowski et al. 2018, "Demystifying MMD GANs" (sec. 4, the Kernel Inception Distance), with the
cubic polynomial kernel k(x, y) = (x . y / d + 1)^3 on d-dimensional features. For subsets X and Y
of m samples each, the estimate of the squared maximum mean discrepancy (Gretton et al. 2012) is,
as in the paper's code and torch-fidelity, with the within-set sums over distinct pairs and the
cross sum over all m^2 pairs,

    MMD^2 = sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (m (m - 1))
            - 2 sum_{i, j} k(x_i, y_j) / m^2.

KID reports the mean and the (population) standard deviation of this estimate over ``subsets``
random subsets, each drawn without replacement (the subsets match torch-fidelity's only with its
arguments in advlab's order, real first: see `kid_subset_indices`). Everything runs in float64
with batched matmuls.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.metrics.inputs import Matrix, as_feature_pair

BATCH_ELEMENTS = 2**24  # float64 elements held per batch of subsets (about 128 MB per buffer)


class KID(NamedTuple):
    """Kernel Inception Distance over random subsets.

    Attributes:
        mean: mean of the unbiased MMD^2 estimates (can be slightly negative when the sets match).
        std: their standard deviation over subsets (ddof=0, as torch-fidelity reports it).
    """

    mean: float
    std: float


def kid(real_features: Matrix, fake_features: Matrix, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> KID:
    """KID between two feature sets.

    Args:
        real_features: (n_real, d) features of real samples.
        fake_features: (n_fake, d) features of generated samples, same d.
        subsets: number of random subsets (>= 1); default 100.
        subset_size: samples per subset (>= 2, at most min(n_real, n_fake)); default 1000.
        seed: seeds the subset draws (see :func:`kid_subset_indices`); default 0.

    Returns:
        KID(mean, std) of the unbiased MMD^2 estimates over the subsets.
    """
    real, fake = as_feature_pair(real_features, fake_features)
    real_indices, fake_indices = kid_subset_indices(len(real), len(fake), subsets, subset_size, seed)
    estimates = torch.cat([_unbiased_mmd2(real[torch.from_numpy(r)], fake[torch.from_numpy(f)])
                           for r, f in zip(*_batches(real_indices, fake_indices, real.shape[1]))])
    return KID(float(estimates.mean()), float(estimates.std(correction=0)))


def kid_subset_indices(n_real: int, n_fake: int, subsets: int, subset_size: int,
                       seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the random subsets: each row holds ``subset_size`` distinct indices.

    The draws alternate real, fake, real, ... from ``np.random.RandomState(seed)`` with
    ``choice(n, subset_size, replace=False)``. torch-fidelity (``metric_kid.kid_features_to_metric``)
    draws the same way but in the order of its own arguments, input1 then input2, and its usual call
    puts the generated samples first (``calculate_metrics(input1=generator, input2=real data)``).
    So the same seed picks the same subsets as torch-fidelity (default seed 2020) only when
    torch-fidelity is given the real features as input1 and the generated ones as input2; in its
    usual order the subsets differ, and so do the estimates, by subset-sampling noise alone (each
    estimate is symmetric in the two sets). The generator is this call's own; the global NumPy
    state is untouched.

    Args:
        n_real, n_fake: number of real and fake samples.
        subsets: number of subsets (>= 1).
        subset_size: samples per subset (>= 2, at most min(n_real, n_fake)).
        seed: integer in [0, 2**32).

    Returns:
        (real_indices, fake_indices): int64 arrays of shape (subsets, subset_size).
    """
    check_int("subsets", subsets, 1)
    check_int("subset_size", subset_size, 2)
    check_int("seed", seed, 0)
    if seed >= 2**32:
        raise AdvlabError(f"seed must be below 2**32 for KID's subset draws, got {seed}")
    if subset_size > min(n_real, n_fake):
        raise AdvlabError(f"KID subset_size {subset_size} is larger than the samples available "
                          f"(real: {n_real}, fake: {n_fake}); use subset_size <= {min(n_real, n_fake)}")
    rng = np.random.RandomState(seed)
    real_indices = np.empty((subsets, subset_size), dtype=np.int64)
    fake_indices = np.empty((subsets, subset_size), dtype=np.int64)
    for subset in range(subsets):
        real_indices[subset] = rng.choice(n_real, subset_size, replace=False)
        fake_indices[subset] = rng.choice(n_fake, subset_size, replace=False)
    return real_indices, fake_indices


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """k(x, y) = (x . y / d + 1)^3 for batches x (b, m, d) and y (b, p, d); returns (b, m, p)."""
    return (torch.bmm(x, y.transpose(1, 2)).div_(x.shape[-1]).add_(1)).pow_(3)


def _unbiased_mmd2(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The MMD^2 estimate of the module docstring for each of b subset pairs x, y of shape (b, m, d)."""
    m = x.shape[1]
    within = _sum_off_diagonal(polynomial_kernel(x, x)) + _sum_off_diagonal(polynomial_kernel(y, y))
    across = polynomial_kernel(x, y).sum(dim=(1, 2))
    return within / (m * (m - 1)) - 2 * across / (m * m)


def _sum_off_diagonal(kernel: torch.Tensor) -> torch.Tensor:
    return kernel.sum(dim=(1, 2)) - kernel.diagonal(dim1=1, dim2=2).sum(dim=1)


def _batches(real_indices: np.ndarray, fake_indices: np.ndarray, dims: int):
    """Split the subsets into batches whose gathered features and kernels fit in BATCH_ELEMENTS each."""
    subsets, size = real_indices.shape
    per_batch = max(1, BATCH_ELEMENTS // (size * max(dims, size)))
    starts = range(0, subsets, per_batch)
    return ([real_indices[s:s + per_batch] for s in starts], [fake_indices[s:s + per_batch] for s in starts])
