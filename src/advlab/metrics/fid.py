"""Fréchet Inception Distance: the Fréchet distance between Gaussians fitted to two feature sets.

Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to a local Nash
equilibrium" (sec. "Fréchet Inception Distance"), define, for Gaussians N(mu1, S1) and N(mu2, S2)
fitted to the real and generated features,

    d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2}).

The means are sample means and the covariances unbiased sample covariances (divided by n - 1),
as ``np.cov`` and pytorch-fid compute them. Everything runs in float64 on the CPU.

The trace of the matrix square root is computed without forming (S1 S2)^{1/2}; see
:func:`frechet_distance` for the method and why it was chosen.
"""

from __future__ import annotations

import numpy as np
import torch

from advlab.core.errors import AdvlabError
from advlab.metrics.inputs import Matrix, as_feature_pair, as_features, as_real_tensor

SYMMETRY_TOLERANCE = 1e-5  # largest |S - S^T| allowed, relative to the largest |S|


def feature_statistics(features: Matrix) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of a feature matrix, in float64.

    Args:
        features: (n, d) NumPy array or torch tensor, n >= 2, all finite.

    Returns:
        (mu, sigma): NumPy float64 arrays of shapes (d,) and (d, d); sigma divides by n - 1,
        like ``np.cov(features, rowvar=False)``.
    """
    mu, sigma = _statistics(_at_least_two_rows(as_features(features, "features"), "features"))
    return mu.numpy(), sigma.numpy()


def frechet_distance(mu1: Matrix, sigma1: Matrix, mu2: Matrix, sigma2: Matrix) -> float:
    """Fréchet distance d^2 between N(mu1, sigma1) and N(mu2, sigma2).

    Method: tr((S1 S2)^{1/2}) is the sum of the square roots of the eigenvalues of S1 S2. For any
    factor F with F F^T = S1, the matrix F^T S2 F has the same eigenvalues as S2 F F^T = S2 S1, and
    it is symmetric positive semi-definite, so ``torch.linalg.eigvalsh`` returns them as real
    numbers. F is the Cholesky factor of S1 when S1 is clearly positive definite (the cheapest
    choice), and otherwise the symmetric square root S1^{1/2} = V diag(sqrt(w)) V^T from ``eigh``
    (as V diag(sqrt(w)), which gives the same eigenvalues), which exists for every singular S1;
    covariances of n <= d samples always are singular. Eigenvalues that rounding cannot tell from 0
    (below d * eps * the largest, as in numpy's ``matrix_rank``), negative ones included, are set to
    0 before the square root: mere clamping at 0 would keep noise whose square roots, ~1e-8 each,
    add up to a visible bias when n < d.

    Why: ``scipy.linalg.sqrtm`` (pytorch-fid's choice) runs a complex Schur decomposition of the
    non-symmetric product S1 S2, leaves spurious imaginary parts, and fails on singular products
    unless an offset is added to the diagonals. The symmetric route stays real, changes no input,
    is exact to rounding for singular covariances, and costs one Cholesky (or eigh), two matmuls
    and one eigenvalues-only eigh: several times faster.

    Args:
        mu1, mu2: (d,) means (NumPy arrays or torch tensors).
        sigma1, sigma2: (d, d) symmetric positive semi-definite covariances.

    Returns:
        d^2 as a Python float, >= 0 (a rounding result just below 0 is returned as 0).
    """
    mu1, mu2 = _as_mean(mu1, "mu1"), _as_mean(mu2, "mu2")
    if mu1.shape != mu2.shape:
        raise AdvlabError(f"mu1 and mu2 differ in length: {mu1.shape[0]} vs {mu2.shape[0]}")
    dims = mu1.shape[0]
    sigma1, sigma2 = _as_covariance(sigma1, "sigma1", dims), _as_covariance(sigma2, "sigma2", dims)
    return _frechet(mu1, sigma1, mu2, sigma2)


def fid(real_features: Matrix, fake_features: Matrix) -> float:
    """FID between two feature sets (e.g. Inception pool3 features of real and generated images).

    Args:
        real_features: (n_real, d) features, n_real >= 2.
        fake_features: (n_fake, d) features from the same network, n_fake >= 2.

    Returns:
        The Fréchet distance between Gaussians fitted to the two sets (see :func:`frechet_distance`).
    """
    real, fake = as_feature_pair(real_features, fake_features)
    mu1, sigma1 = _statistics(_at_least_two_rows(real, "real features"))
    mu2, sigma2 = _statistics(_at_least_two_rows(fake, "fake features"))
    return _frechet(mu1, sigma1, mu2, sigma2)


def _statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased covariance of a float64 (n, d) tensor: the Gram matrix of the centred data."""
    mean = features.mean(dim=0)
    return mean, _gram(features - mean).div_(len(features) - 1)


def _gram(columns: torch.Tensor) -> torch.Tensor:
    """X^T X for X of shape (n, d), exactly symmetric: NumPy hands ``X.T @ X`` to BLAS's symmetric rank-k
    update (syrk), which computes one triangle and mirrors it -- half the flops of a general matmul."""
    array = columns.numpy()
    return torch.from_numpy(array.T @ array)


def _frechet(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    difference = mu1 - mu2
    distance = difference.dot(difference) + sigma1.trace() + sigma2.trace() - 2 * _trace_sqrt_product(sigma1, sigma2)
    return max(float(distance), 0.0)  # d^2 >= 0; rounding can leave about -1e-13 for identical inputs


def _trace_sqrt_product(sigma1: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """tr((S1 S2)^{1/2}) as the sum of sqrt(eig(F^T S2 F)) with F F^T = S1."""
    factor = _square_root_factor(sigma1)
    middle = factor.T @ sigma2 @ factor
    eigenvalues = torch.linalg.eigvalsh((middle + middle.T) / 2)
    return _zero_below_rank_tolerance(eigenvalues).sqrt().sum()


def _square_root_factor(sigma: torch.Tensor) -> torch.Tensor:
    """F with F F^T = sigma: the Cholesky factor when sigma is clearly positive definite, else V sqrt(w)."""
    lower, info = torch.linalg.cholesky_ex(sigma)
    if int(info) == 0:
        pivots = lower.diagonal().square()
        if bool(pivots.min() > _rank_tolerance(pivots.max(), len(sigma))):
            return lower
    eigenvalues, eigenvectors = torch.linalg.eigh(sigma)
    return eigenvectors * _zero_below_rank_tolerance(eigenvalues).sqrt()


def _zero_below_rank_tolerance(eigenvalues: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of a PSD matrix, with those rounding cannot tell from 0 (and negative ones) set to 0.

    Clamping at 0 alone would keep rounding noise of size eps * largest, whose square roots
    (sqrt(eps) ~ 1e-8 relative) add up to a visible positive bias when many eigenvalues are 0.
    """
    tolerance = _rank_tolerance(eigenvalues.abs().max(), len(eigenvalues))
    return torch.where(eigenvalues > tolerance, eigenvalues, torch.zeros_like(eigenvalues))


def _rank_tolerance(largest: torch.Tensor, dims: int) -> torch.Tensor:
    """The threshold below which an eigenvalue is rounding noise: d * eps * largest (as numpy's matrix_rank)."""
    return largest * dims * torch.finfo(torch.float64).eps


def _at_least_two_rows(features: torch.Tensor, name: str) -> torch.Tensor:
    if len(features) < 2:
        raise AdvlabError(f"{name}: FID needs at least 2 samples to estimate a covariance, got {len(features)}")
    return features


def _as_tensor(values: Matrix, name: str) -> torch.Tensor:
    return as_real_tensor(values, name).to("cpu", torch.float64)


def _as_mean(values: Matrix, name: str) -> torch.Tensor:
    mean = _as_tensor(values, name)
    if mean.ndim != 1 or mean.shape[0] == 0:
        raise AdvlabError(f"{name}: expected a mean vector of shape (d,) with d >= 1, found {tuple(mean.shape)}")
    if not torch.isfinite(mean).all():
        raise AdvlabError(f"{name}: holds NaN or inf")
    return mean


def _as_covariance(values: Matrix, name: str, dims: int) -> torch.Tensor:
    sigma = _as_tensor(values, name)
    if sigma.shape != (dims, dims):
        raise AdvlabError(f"{name}: expected a covariance of shape ({dims}, {dims}) to match the means, "
                          f"found {tuple(sigma.shape)}")
    if not torch.isfinite(sigma).all():
        raise AdvlabError(f"{name}: holds NaN or inf")
    asymmetry, scale = float((sigma - sigma.T).abs().max()), float(sigma.abs().max())
    if asymmetry > SYMMETRY_TOLERANCE * scale:
        raise AdvlabError(f"{name}: a covariance must be symmetric, but |S - S^T| reaches {asymmetry:.3g} "
                          f"(largest entry {scale:.3g})")
    return (sigma + sigma.T) / 2
