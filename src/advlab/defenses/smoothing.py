"""Randomized smoothing: a classifier with a certified L2 radius (Cohen, Rosenfeld & Kolter 2019).

Cohen et al., "Certified adversarial robustness via randomized smoothing", ICML 2019. From a base
classifier f the smoothed classifier is (eq. 1)

    g(x) = argmax_c  P( f(x + delta) = c ),     delta ~ N(0, sigma^2 I),

and if the top class c_A has probability at least p_A_lower > 1/2, g predicts c_A everywhere within
the L2 radius R = sigma * Phi^-1(p_A_lower) of x (Theorem 1 with p_B = 1 - p_A). g cannot be evaluated
exactly, so both procedures of the paper (sec. 3.2, "Pseudocode for certification and prediction")
estimate it from Monte Carlo counts of f on noisy copies of x (``sample_counts``) and are allowed to
abstain (``ABSTAIN``):

* PREDICT(f, sigma, x, n, alpha): counts of n samples, top two n_A, n_B; return c_A when the two-sided
  binomial test BinomPValue(n_A, n_A + n_B, 1/2) <= alpha, else abstain. g's prediction is then wrong
  with probability at most alpha (Proposition 1).
* CERTIFY(f, sigma, x, n0, n, alpha): n0 samples select c_A; n fresh samples count n_A; p_A_lower is
  the one-sided (1 - alpha) Clopper-Pearson lower confidence bound on P(f(x + delta) = c_A), the
  alpha-quantile of Beta(n_A, n - n_A + 1); if p_A_lower > 1/2 return (c_A, sigma * Phi^-1(p_A_lower)),
  else abstain. A returned radius is wrong with probability at most alpha (Proposition 2).

With n samples, even unanimous counts give p_A_lower = alpha ** (1 / n), so the largest radius CERTIFY
can return is ``max_radius(sigma, n, alpha)`` = sigma * Phi^-1(alpha ** (1 / n)), and an n with
alpha ** (1 / n) <= 1/2 (n <= log2(1 / alpha)) can only abstain: such n are refused. So are n for
which PREDICT can only abstain (2 * 2 ** -n > alpha). The noise is not clipped to [0, 1], as in the
paper: the certificate is about the function g on R^d.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy.stats import beta, binomtest, norm
from torch import Tensor, nn

from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating

ABSTAIN = -1  # the prediction of PREDICT and CERTIFY when they abstain


# ---------------------------------------------------------------------- the statistics (no model involved)


def check_sigma(sigma) -> float:
    return check_number("sigma", sigma, 0.0, strict=True)


def check_alpha(alpha) -> float:
    """alpha, the failure probability, must lie strictly between 0 and 1."""
    ok = isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and math.isfinite(alpha)
    if not ok or not 0 < alpha < 1:
        raise AdvlabError(f"alpha must be a number in (0, 1), got {alpha!r}")
    return float(alpha)


def minimum_certify_samples(alpha: float) -> int:
    """The least n for which CERTIFY can certify at all: alpha ** (1 / n) > 1/2."""
    n = max(1, math.floor(math.log2(1 / check_alpha(alpha))))
    while alpha ** (1 / n) <= 0.5:
        n += 1
    return n


def minimum_predict_samples(alpha: float) -> int:
    """The least n for which PREDICT can answer at all: unanimous counts, p-value 2 * 2 ** -n <= alpha."""
    n = max(1, math.floor(math.log2(2 / check_alpha(alpha))))
    while min(1.0, 2 * 0.5 ** n) > alpha:
        n += 1
    return n


def check_certify_samples(n, alpha: float) -> int:
    """n estimation samples, refused when CERTIFY could only abstain with them."""
    check_int("n", n, 1)
    least = minimum_certify_samples(alpha)
    if n < least:
        raise AdvlabError(f"n = {n} noise samples cannot certify at alpha = {alpha:g}: even unanimous counts give "
                          f"p_A_lower = alpha ** (1 / n) = {alpha ** (1 / n):.3f}, not above 1/2, so CERTIFY could "
                          f"only abstain; use n >= {least}")
    return n


def check_predict_samples(n, alpha: float) -> int:
    """n samples, refused when PREDICT could only abstain with them."""
    check_int("n", n, 1)
    least = minimum_predict_samples(alpha)
    if n < least:
        raise AdvlabError(f"n = {n} noise samples cannot predict at alpha = {alpha:g}: even unanimous counts give "
                          f"the binomial p-value 2 * 2 ** -n = {min(1.0, 2 * 0.5 ** n):.3g} > alpha, so PREDICT "
                          f"could only abstain; use n >= {least}")
    return n


def lower_confidence_bound(count: int, n: int, alpha: float) -> float:
    """One-sided (1 - alpha) Clopper-Pearson lower bound on a binomial proportion: Beta(alpha; count, n - count + 1)."""
    if count == 0:
        return 0.0
    return float(beta.ppf(alpha, count, n - count + 1))


def certified_radius(p_lower: float, sigma: float) -> float:
    """sigma * Phi^-1(p_lower), the L2 radius of Theorem 1 (with p_B = 1 - p_A)."""
    return float(sigma * norm.ppf(p_lower))


def max_radius(sigma: float, n: int, alpha: float) -> float:
    """The largest radius CERTIFY can return with n samples: unanimous counts, p_A_lower = alpha ** (1 / n)."""
    return certified_radius(alpha ** (1 / n), sigma)


def top_two(counts: Tensor) -> tuple[int, int, int]:
    """(class with the most counts, its count, the runner-up's count); ties go to the lower class index."""
    order = torch.sort(counts, descending=True, stable=True).indices
    runner_up = int(counts[order[1]]) if len(counts) > 1 else 0
    return int(order[0]), int(counts[order[0]]), runner_up


def predict_from_counts(counts: Tensor, alpha: float) -> tuple[int, float]:
    """PREDICT's decision on fixed counts: (c_A or ABSTAIN, the p-value of BinomPValue(n_A, n_A + n_B, 1/2))."""
    top, n_top, n_runner_up = top_two(counts)
    p_value = float(binomtest(n_top, n_top + n_runner_up, 0.5).pvalue)
    return (top if p_value <= alpha else ABSTAIN), p_value


def certify_from_counts(chosen: int, counts: Tensor, alpha: float, sigma: float) -> tuple[int, float, float]:
    """CERTIFY's decision for the selected class `chosen` and estimation counts: (c_A or ABSTAIN, radius, p_A_lower)."""
    n = int(counts.sum())
    p_lower = lower_confidence_bound(int(counts[chosen]), n, alpha)
    if p_lower > 0.5:
        return chosen, certified_radius(p_lower, sigma), p_lower
    return ABSTAIN, 0.0, p_lower


# ---------------------------------------------------------------------- the smoothed classifier


@dataclass(frozen=True)
class Prediction:
    """PREDICT's answer for one image."""

    prediction: int  # the class, or ABSTAIN
    p_value: float
    counts: Tensor  # (classes,) counts of f over the n noisy copies

    @property
    def abstained(self) -> bool:
        return self.prediction == ABSTAIN


@dataclass(frozen=True)
class Certificate:
    """CERTIFY's answer for one image."""

    prediction: int  # c_A, or ABSTAIN
    radius: float  # certified L2 radius; 0.0 when abstaining
    p_lower: float  # the Clopper-Pearson lower bound on P(f(x + delta) = c_A)
    selected: int  # c_A, chosen from the selection counts (also when abstaining)
    selection_counts: Tensor  # (classes,) counts of the n0 selection samples
    counts: Tensor  # (classes,) counts of the n estimation samples

    @property
    def abstained(self) -> bool:
        return self.prediction == ABSTAIN


class SmoothedClassifier:
    """g(x) = argmax_c P(f(x + delta) = c), delta ~ N(0, sigma^2 I), estimated by Monte Carlo.

    Args:
        classifier: the base classifier f, images (N, C, H, W) -> logits (N, classes).
        sigma: the standard deviation of the Gaussian noise (> 0), in pixel units of [0, 1] images.
        seed: seeds the noise generator (on the classifier's device); ``reseed`` starts it again.
    """

    def __init__(self, classifier: nn.Module, sigma: float, seed: int = 0):
        self.classifier = classifier
        self.sigma = check_sigma(sigma)
        parameter = next(classifier.parameters(), None)
        self.device = parameter.device if parameter is not None else torch.device("cpu")
        self.generator = torch.Generator(device=self.device)
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self.generator.manual_seed(check_int("seed", seed, 0))

    @torch.no_grad()
    def sample_counts(self, image: Tensor, num: int, batch: int) -> Tensor:
        """Counts (classes,) int64 of f's top class on `num` noisy copies of `image` (C, H, W), `batch` at a time."""
        check_int("num", num, 1)
        check_int("batch", batch, 1)
        if image.ndim != 3:
            raise AdvlabError(f"smoothing works on one image (C, H, W) at a time, got shape {tuple(image.shape)}")
        image = image.to(self.device)
        counts = None
        with evaluating(self.classifier):
            for start in range(0, num, batch):
                size = min(batch, num - start)
                noise = torch.randn((size, *image.shape), generator=self.generator, device=self.device,
                                    dtype=image.dtype)
                logits = self.classifier(image.unsqueeze(0) + self.sigma * noise)
                found = torch.bincount(logits.argmax(1), minlength=logits.shape[1]).cpu()
                counts = found if counts is None else counts + found
        return counts

    def predict(self, image: Tensor, n: int, alpha: float, batch: int) -> Prediction:
        """PREDICT (Cohen et al. 2019, sec. 3.2): c_A unless BinomPValue(n_A, n_A + n_B, 1/2) > alpha."""
        check_alpha(alpha)
        check_predict_samples(n, alpha)
        counts = self.sample_counts(image, n, batch)
        prediction, p_value = predict_from_counts(counts, alpha)
        return Prediction(prediction, p_value, counts)

    def certify(self, image: Tensor, n0: int, n: int, alpha: float, batch: int) -> Certificate:
        """CERTIFY (Cohen et al. 2019, sec. 3.2): c_A from n0 samples, its radius from n fresh ones, or abstain."""
        check_alpha(alpha)
        check_int("n0", n0, 1)
        check_certify_samples(n, alpha)
        selection = self.sample_counts(image, n0, batch)
        chosen = int(selection.argmax())
        counts = self.sample_counts(image, n, batch)
        prediction, radius, p_lower = certify_from_counts(chosen, counts, alpha, self.sigma)
        return Certificate(prediction, radius, p_lower, chosen, selection, counts)


__all__ = ["ABSTAIN", "Certificate", "Prediction", "SmoothedClassifier", "certified_radius", "certify_from_counts",
           "check_alpha", "check_certify_samples", "check_predict_samples", "check_sigma", "lower_confidence_bound",
           "max_radius", "minimum_certify_samples", "minimum_predict_samples", "predict_from_counts"]
