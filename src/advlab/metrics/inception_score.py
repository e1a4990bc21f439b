"""Inception Score: how confident and how varied a classifier's predictions on generated samples are.

Salimans et al. 2016, "Improved techniques for training GANs" (sec. 4):

    IS = exp(E_x KL(p(y|x) || p(y))),

where p(y|x) is the classifier's class distribution for sample x and p(y) its mean over the
samples. As in the paper's code (and torch-fidelity, without its shuffling), the N samples are cut
into ``splits`` consecutive parts with boundaries i * N // splits; each part gets its own p(y) and
its own score, and the mean and (population) standard deviation of the scores are reported.
KL uses natural logarithms and 0 log 0 = 0. Everything runs in float64.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.metrics.inputs import Matrix, as_features

SIMPLEX_TOLERANCE = 1e-3  # how far a row of probabilities may sum from 1


class InceptionScore(NamedTuple):
    """Inception Score over splits.

    Attributes:
        mean: mean of the per-split scores, between 1 and the number of classes.
        std: their standard deviation (ddof=0, as the original code and torch-fidelity report it).
    """

    mean: float
    std: float


def inception_score(probabilities: Matrix, splits: int = 10) -> InceptionScore:
    """Inception Score from class probabilities p(y|x).

    Args:
        probabilities: (N, C) rows on the probability simplex (non-negative, summing to 1 within
            1e-3), e.g. softmax(logits) of an Inception network on N generated images.
        splits: number of consecutive parts the N rows are cut into (1 <= splits <= N); default 10.

    Returns:
        InceptionScore(mean, std) over the splits.
    """
    probabilities = as_features(probabilities, "probabilities")
    _check_simplex(probabilities)
    return _score(probabilities, splits)


def inception_score_from_logits(logits: Matrix, splits: int = 10) -> InceptionScore:
    """Inception Score from classifier logits; the softmax is taken in float64.

    Args:
        logits: (N, C) unnormalised class scores.
        splits: as in :func:`inception_score`.

    Returns:
        InceptionScore(mean, std) over the splits.
    """
    return _score(torch.softmax(as_features(logits, "logits"), dim=1), splits)


def _score(probabilities: torch.Tensor, splits: int) -> InceptionScore:
    count = len(probabilities)
    check_int("splits", splits, 1)
    if splits > count:
        raise AdvlabError(f"splits ({splits}) must not exceed the number of samples ({count})")
    scores = torch.stack([_split_score(probabilities[i * count // splits:(i + 1) * count // splits])
                          for i in range(splits)])
    return InceptionScore(float(scores.mean()), float(scores.std(correction=0)))


def _split_score(conditional: torch.Tensor) -> torch.Tensor:
    """exp of the mean over rows of KL(p(y|x) || p(y)), with p(y) the mean row of this split."""
    marginal = conditional.mean(dim=0, keepdim=True)
    kl = torch.special.xlogy(conditional, conditional) - torch.special.xlogy(conditional, marginal)
    return kl.sum(dim=1).mean().exp()


def _check_simplex(probabilities: torch.Tensor) -> None:
    lowest = float(probabilities.min())
    if lowest < 0:
        raise AdvlabError(f"probabilities: found a negative entry ({lowest:.3g}); pass softmax(logits), not logits")
    sums = probabilities.sum(dim=1)
    worst = int((sums - 1).abs().argmax())
    if abs(float(sums[worst]) - 1) > SIMPLEX_TOLERANCE:
        raise AdvlabError(f"probabilities: row {worst} sums to {float(sums[worst]):.6g}, not 1 "
                          f"(within {SIMPLEX_TOLERANCE:g}); pass softmax(logits), not logits")
