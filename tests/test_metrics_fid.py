"""FID: agreement with pytorch-fid's formula, closed forms for Gaussians, statistics, singular cases, errors."""

import importlib

import numpy as np
import pytest
import scipy.linalg
import torch
from helpers import raises_one_line

from advlab.metrics.fid import feature_statistics, fid, frechet_distance

# The package re-exports the function fid(), which hides the submodule's attribute name.
fid_module = importlib.import_module("advlab.metrics.fid")


def pytorch_fid_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """The formula of pytorch-fid's calculate_frechet_distance: scipy's sqrtm of S1 S2, with a diagonal
    offset eps when the product is singular and the imaginary part dropped when it is negligible."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)  # pytorch-fid passes disp=False, deprecated in SciPy 1.17
    if not np.isfinite(covmean).all():
        offset = np.eye(len(sigma1)) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        assert np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3)
        covmean = covmean.real
    diff = mu1 - mu2
    return diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def correlated_features(rng, n, d, shift=0.0, scale=1.0):
    mixing = rng.normal(size=(d, d)) / np.sqrt(d) + np.eye(d)
    return scale * rng.normal(size=(n, d)) @ mixing + shift


def numpy_statistics(features):
    return features.mean(axis=0), np.cov(features, rowvar=False)


def random_orthogonal(rng, d):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diagonal(r))


@pytest.mark.parametrize("d", [8, 64, 256])
def test_agrees_with_pytorch_fid_formula(d):
    rng = np.random.default_rng(d)
    real = correlated_features(rng, 4 * d, d)
    fake = correlated_features(rng, 3 * d, d, shift=0.1, scale=1.3)
    (mu1, sigma1), (mu2, sigma2) = numpy_statistics(real), numpy_statistics(fake)
    expected = pytorch_fid_distance(mu1, sigma1, mu2, sigma2)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-6)
    assert fid(real, fake) == pytest.approx(expected, rel=1e-6)


def test_float32_tensors_give_the_numpy_result():
    rng = np.random.default_rng(0)
    real, fake = correlated_features(rng, 200, 16).astype(np.float32), correlated_features(rng, 150, 16, 0.2)
    from_numpy = fid(real, fake.astype(np.float32))
    from_torch = fid(torch.from_numpy(real), torch.from_numpy(fake.astype(np.float32)))
    assert from_torch == from_numpy
    assert from_numpy == pytest.approx(pytorch_fid_distance(*numpy_statistics(real.astype(np.float64)),
                                                            *numpy_statistics(fake.astype(np.float32)
                                                                              .astype(np.float64))), rel=1e-6)


def test_identical_sets_give_zero():
    rng = np.random.default_rng(1)
    features = correlated_features(rng, 500, 64, shift=3.0)
    assert abs(fid(features, features)) < 1e-8
    mu, sigma = feature_statistics(features)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8


def test_diagonal_gaussians_match_the_closed_form():
    rng = np.random.default_rng(2)
    mu1, mu2 = rng.normal(size=32), rng.normal(size=32)
    a, b = rng.uniform(0.1, 3, size=32), rng.uniform(0.1, 3, size=32)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_commuting_covariances_match_the_closed_form():
    rng = np.random.default_rng(3)
    rotation = random_orthogonal(rng, 24)
    a, b = rng.uniform(0.1, 3, size=24), rng.uniform(0.1, 3, size=24)
    sigma1, sigma2 = rotation @ np.diag(a) @ rotation.T, rotation @ np.diag(b) @ rotation.T
    mu1, mu2 = rng.normal(size=24), np.zeros(24)
    expected = np.sum(mu1 ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-10)


def test_singular_covariance_matches_the_closed_form():
    # S1 has rank 10 of 24, so the Cholesky factor fails and the symmetric square root is used.
    rng = np.random.default_rng(4)
    rotation = random_orthogonal(rng, 24)
    a = np.concatenate([rng.uniform(0.5, 2, size=10), np.zeros(14)])
    b = rng.uniform(0.5, 2, size=24)
    sigma1, sigma2 = rotation @ np.diag(a) @ rotation.T, rotation @ np.diag(b) @ rotation.T
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(np.zeros(24), sigma1, np.zeros(24), sigma2) == pytest.approx(expected, rel=1e-10)
    assert frechet_distance(np.zeros(24), sigma2, np.zeros(24), sigma1) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("n", [2, 10, 64])
def test_fewer_samples_than_dimensions_give_the_nuclear_norm_value(n):
    # With S1 = A^T A and S2 = B^T B, tr((S1 S2)^{1/2}) is the sum of the singular values of B A^T.
    rng = np.random.default_rng(n)
    real, fake = rng.normal(size=(n, 64)), rng.normal(size=(n, 64)) * 1.5 + 0.3
    a = (real - real.mean(0)) / np.sqrt(n - 1)
    b = (fake - fake.mean(0)) / np.sqrt(n - 1)
    nuclear = np.linalg.svd(b @ a.T, compute_uv=False).sum()
    expected = np.sum((real.mean(0) - fake.mean(0)) ** 2) + np.sum(a ** 2) + np.sum(b ** 2) - 2 * nuclear
    value = fid(real, fake)
    assert np.isfinite(value) and value >= 0
    assert value == pytest.approx(expected, rel=1e-9)
    assert 0 <= fid(real, real) < 1e-8


def test_statistics_equal_numpy_mean_and_cov():
    rng = np.random.default_rng(5)
    features = correlated_features(rng, 40, 700, shift=2.0).astype(np.float32)  # more columns than one strip
    mu, sigma = feature_statistics(features)
    assert isinstance(mu, np.ndarray) and mu.dtype == np.float64 and mu.shape == (700,)
    assert sigma.dtype == np.float64 and sigma.shape == (700, 700)
    np.testing.assert_allclose(mu, features.astype(np.float64).mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(features.astype(np.float64), rowvar=False), rtol=0, atol=1e-12)
    assert np.array_equal(sigma, sigma.T)
    mu_t, sigma_t = feature_statistics(torch.from_numpy(features))
    assert np.array_equal(mu, mu_t) and np.array_equal(sigma, sigma_t)


def test_gram_is_exactly_symmetric_and_equals_one_matmul():
    columns = torch.from_numpy(np.random.default_rng(6).normal(size=(9, 10)))
    gram = fid_module._gram(columns)
    torch.testing.assert_close(gram, columns.T @ columns, rtol=1e-14, atol=1e-14)
    assert torch.equal(gram, gram.T)


def test_bad_inputs_raise_one_line_errors():
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(20, 5)), rng.normal(size=(20, 6))
    raises_one_line(lambda: fid(real, fake), "differ in width", "5", "6")
    with_nan = real.copy()
    with_nan[3, 2] = np.nan
    raises_one_line(lambda: fid(with_nan, real), "real features", "NaN")
    raises_one_line(lambda: fid(real, real[:1]), "fake features", "at least 2 samples", "got 1")
    raises_one_line(lambda: feature_statistics(real[:1]), "at least 2 samples")
    raises_one_line(lambda: fid(real[0], real), "shape (n, d)")
    mu, sigma = feature_statistics(real)
    raises_one_line(lambda: frechet_distance(mu, sigma, mu[:4], sigma), "mu1 and mu2 differ in length", "5 vs 4")
    raises_one_line(lambda: frechet_distance(mu[None], sigma, mu[None], sigma), "mu1", "shape (d,)")
    raises_one_line(lambda: frechet_distance(mu, sigma[:4, :4], mu, sigma), "sigma1", "(5, 5)", "(4, 4)")
    raises_one_line(lambda: frechet_distance(mu, sigma, mu, sigma[0]), "sigma2", "(5, 5)")
    bad_sigma = sigma.copy()
    bad_sigma[0, 0] = np.inf
    raises_one_line(lambda: frechet_distance(mu, bad_sigma, mu, sigma), "sigma1", "NaN or inf")
    skewed = sigma.copy()
    skewed[0, 1] += 0.5
    raises_one_line(lambda: frechet_distance(mu, sigma, mu, skewed), "sigma2", "symmetric")
    raises_one_line(lambda: frechet_distance(mu.astype(str), sigma, mu, sigma), "mu1", "numeric")
    raises_one_line(lambda: frechet_distance(list(mu), sigma, mu, sigma), "mu1", "list")
