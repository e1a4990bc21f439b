"""LiRA, the Likelihood Ratio Attack: a per-example test between the IN and OUT worlds of shadow models.

Carlini, Chien, Nasr, Song, Terzis & Tramer 2022, "Membership Inference Attacks From First Principles"
(IEEE S&P), Algorithm 1. For an example (x, y) the statistic is the logit-scaled confidence
phi = log(p_y / (1 - p_y)) (their eq. 4, :func:`advlab.privacy.victim.true_class_logit`), which is close to
Gaussian over the randomness of training. Shadow models trained with x (IN) and without it (OUT) give the
per-example Gaussians N(mu_in, sigma_in^2) and N(mu_out, sigma_out^2), and the score of the target's phi is

* online:  log N(phi; mu_in, sigma_in^2) - log N(phi; mu_out, sigma_out^2)  (the log likelihood ratio);
* offline: only OUT shadows (they need not be retrained per example). The paper's Algorithm 1 makes a
  one-sided test, 1 - Pr[Z > phi] with Z ~ N(mu_out, sigma_out^2) (``offline_test="cdf"``: the log of that
  normal CDF); the reference code (tensorflow/privacy ``research/mi_lira_2021/plot.py``,
  ``generate_ours_offline``) scores -log N(phi; mu_out, sigma_out^2) (``offline_test="pdf"``, the default
  here as the published curves come from it: how far from the OUT Gaussian, in either direction).

As in that reference code (``generate_ours``): mu is the median of the shadows' phi and sigma their standard
deviation (ddof 0), one Gaussian per augmentation query, and the score is the mean over the queries of the
per-query score; augmentation queries (``shift``, ``flip``; :mod:`advlab.privacy.membership.signals`) are
the same for shadows and target. With ``fix_variance`` every example shares one global sigma_in and one
sigma_out, the spread of all IN (and all OUT) confidences of the pool, the paper's choice for few shadows
(the reference code's online branch takes the IN spread for both; here each world keeps its own).
Deviations: the reference truncates every example to the smallest IN/OUT count over the pool (equal under
balanced membership, as advlab's shadows are); here each example uses all its shadows. sigma has a floor of
1e-12 (the reference adds 1e-30), so that shadows which agree exactly give a finite score.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from scipy.special import log_ndtr
from torch import Tensor

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.privacy.membership.base import DEFAULT_SHADOWS, MembershipAttack
from advlab.privacy.membership.signals import check_views, shadow_log_probabilities, view_log_probabilities
from advlab.privacy.victim import true_class_logit

OFFLINE_TESTS = ("pdf", "cdf")
LEAST_SHADOWS = 2  # a Gaussian's spread needs two confidences
SIGMA_FLOOR = 1e-12
PER_EXAMPLE_FROM = 64  # shadows from which per-example variances are the default (Carlini et al. 2022, sec. VI-A)
LOG_SQRT_TWO_PI = 0.5 * math.log(2 * math.pi)


def view_confidences(log_probabilities: Tensor, labels: Tensor) -> Tensor:
    """phi = log(p_y / (1 - p_y)) (..., A, N) of log-probabilities (..., A, N, K), float64."""
    flat = log_probabilities.reshape(-1, *log_probabilities.shape[-2:])
    phi = torch.stack([true_class_logit(view, labels) for view in flat])
    return phi.view(log_probabilities.shape[:-1])


def masked(values: np.ndarray, members: np.ndarray) -> np.ndarray:
    """The shadows' values (S, N, A) with NaN where `members` (S, N) is False."""
    return np.where(members[:, :, None], values, np.nan)


def gaussian(values: np.ndarray, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(median, standard deviation) (N, A) over the shadows where `members` (S, N) holds (Algorithm 1 with the
    reference code's median and ddof-0 spread)."""
    chosen = masked(values, members)
    return np.nanmedian(chosen, axis=0), np.nanstd(chosen, axis=0)


def global_spread(values: np.ndarray, members: np.ndarray) -> float:
    """The standard deviation of every value (S, N, A) where `members` (S, N) holds (fixed variance)."""
    return float(np.nanstd(masked(values, members)))


def normal_log_pdf(x: np.ndarray, mean: np.ndarray, sigma) -> np.ndarray:
    sigma = np.maximum(sigma, SIGMA_FLOOR)
    return -0.5 * ((x - mean) / sigma) ** 2 - np.log(sigma) - LOG_SQRT_TWO_PI


def normal_log_cdf(x: np.ndarray, mean: np.ndarray, sigma) -> np.ndarray:
    return log_ndtr((x - mean) / np.maximum(sigma, SIGMA_FLOOR))


class LiRA(MembershipAttack):
    """The Likelihood Ratio Attack of Carlini et al. 2022 (Algorithm 1); see the module docstring.

    Args:
        shadows: shadow models `fit` trains, each on a random half of the pool so that every pool example is
            IN half of them (16 as in the paper's smaller budgets; online needs >= 2 IN and 2 OUT per example).
        online: true: IN and OUT Gaussians per example (the likelihood ratio); false: the OUT Gaussian alone
            (offline), which also scores examples outside the pool.
        fix_variance: one global variance per world instead of a per-example one; unset: global with fewer than
            64 shadows, per-example from 64 on (Carlini et al. 2022, sec. VI-A: per-example variances need many
            shadows; with few, a global one is better).
        shift: query each image shifted by every offset up to `shift` pixels per axis, edges reflected
            ((2 shift + 1)^2 queries, shadows and target alike); 0 queries the image alone.
        flip: also query the left-right mirror images (the paper's CIFAR-10 queries; not for digits).
        offline_test: the offline score: "pdf" (-log N(phi; mu_out, sigma_out), the reference code's) or "cdf"
            (log Pr[Z <= phi], the paper's one-sided test).
    """

    name = "LiRA"
    needs_scores = True
    needs_shadows = True

    def __init__(self, shadows: int = DEFAULT_SHADOWS, online: bool = True, fix_variance: bool | None = None,
                 shift: int = 0, flip: bool = False, offline_test: Literal["pdf", "cdf"] = "pdf"):
        if offline_test not in OFFLINE_TESTS:
            raise AdvlabError(f"LiRA: unknown offline_test {offline_test!r}; valid tests are: "
                              f"{', '.join(OFFLINE_TESTS)}")
        self.shadows = check_int("LiRA: shadows", shadows, 1)
        self.shift, self.flip = check_views(shift, flip)
        self.online, self.offline_test = bool(online), offline_test
        self.fix_variance = None if fix_variance is None else bool(fix_variance)
        self.scores_any_example = not self.online

    def fit(self, train_fn, images: Tensor, labels: Tensor, seed: int = 0, progress: bool = True):
        least = 2 * LEAST_SHADOWS if self.online else LEAST_SHADOWS + 1  # balanced halves: S // 2 IN
        if self.shadows < least:
            raise AdvlabError(f"{self.requirement()}, so at least {least} shadows; got shadows={self.shadows}")
        return super().fit(train_fn, images, labels, seed, progress)

    def requirement(self) -> str:
        if self.online:
            return f"online LiRA needs at least {LEAST_SHADOWS} IN and {LEAST_SHADOWS} OUT shadow models per example"
        return f"offline LiRA needs at least {LEAST_SHADOWS} OUT shadow models per example"

    def learn_from_shadows(self) -> None:
        """Keep the shadows' confidences on the pool (S, N, A) and, for fix_variance, the global spreads."""
        log_probabilities = shadow_log_probabilities(self.shadow_set.models, self.pool_images, self.shift, self.flip)
        self.confidences = view_confidences(log_probabilities, self.pool_labels).permute(0, 2, 1).numpy()
        self.members = self.shadow_set.members.numpy()
        self.sigma_in = global_spread(self.confidences, self.members)
        self.sigma_out = global_spread(self.confidences, ~self.members)
        self.global_variance = (len(self.members) < PER_EXAMPLE_FROM if self.fix_variance is None
                                else self.fix_variance)

    def check_counts(self, members: np.ndarray) -> None:
        """Every example needs LEAST_SHADOWS OUT shadows (and IN ones online), or an AdvlabError."""
        worlds = {"IN": members.sum(0), "OUT": (~members).sum(0)} if self.online else {"OUT": (~members).sum(0)}
        for world, counts in worlds.items():
            if len(counts) and counts.min() < LEAST_SHADOWS:
                example = int(counts.argmin())
                raise AdvlabError(f"{self.requirement()}, but example {example} has {int(counts[example])} {world} "
                                  f"of {len(members)} shadows; train more shadows (e.g. 16)")

    def score(self, victim, images: Tensor, labels: Tensor, pool_rows: Tensor | None = None) -> Tensor:
        images, labels = self.check_examples(images, labels)
        victim = self.victim(victim)
        self.check_fitted()
        rows = self.pool_rows_of(len(images), pool_rows)
        target = view_confidences(view_log_probabilities(victim, images, self.shift, self.flip, self.name), labels)
        target = target.T.numpy()  # (N, A)
        if rows is None:  # examples no shadow saw: every shadow is OUT
            shadow = shadow_log_probabilities(self.shadow_set.models, images, self.shift, self.flip)
            confidences = view_confidences(shadow, labels).permute(0, 2, 1).numpy()
            members = np.zeros(confidences.shape[:2], dtype=bool)
        else:
            confidences, members = self.confidences[:, rows.numpy()], self.members[:, rows.numpy()]
        self.check_counts(members)
        return torch.from_numpy(self.likelihood_scores(target, confidences, members))

    def likelihood_scores(self, target: np.ndarray, confidences: np.ndarray, members: np.ndarray) -> np.ndarray:
        """Scores (N,) of the target's confidences (N, A) against the shadows' (S, N, A) with membership (S, N)."""
        mean_out, sigma_out = gaussian(confidences, ~members)
        if self.global_variance:
            sigma_out = self.sigma_out
        if self.online:
            mean_in, sigma_in = gaussian(confidences, members)
            if self.global_variance:
                sigma_in = self.sigma_in
            per_query = normal_log_pdf(target, mean_in, sigma_in) - normal_log_pdf(target, mean_out, sigma_out)
        elif self.offline_test == "pdf":
            per_query = -normal_log_pdf(target, mean_out, sigma_out)
        else:
            per_query = normal_log_cdf(target, mean_out, sigma_out)
        return per_query.mean(1)


__all__ = ["LiRA", "OFFLINE_TESTS"]
