"""Support size by the birthday paradox: how many distinct things can a generator make?

Arora & Zhang 2017, "Do GANs learn the distribution? Some theory and empirics" (sec. 2), and
Arora, Risteski & Zhang 2018 (ICLR), "Do GANs learn the distribution?": if a batch of s samples
from a distribution with support size N holds a duplicate with good probability, then N is about
s². advlab makes the rule of thumb a measurement:

* **The birthday formula.** s draws, uniform over N outcomes, hold at least one duplicate pair
  with probability ``P(s) = 1 - exp(-s(s-1) / 2N)`` (the Poisson form of the birthday paradox;
  the exact ``1 - prod_{i<s} (1 - i/N)`` is a little higher when s is not small against N, so
  the estimate runs a few per cent low for tiny N). For a non-uniform generator the same formula
  holds with 1/N replaced by the collision probability sum_i p_i², so the estimate is the
  *effective* support 1 / sum_i p_i² (the exponential of the Rényi-2 entropy), which is N for a
  uniform one and smaller for a skewed one.
* **Trials.** At each batch size s, ``trials`` batches are drawn; a batch *has a duplicate* when
  its closest pair lies within ``threshold`` (Euclidean distance on the flattened samples, "pixel
  space", or on ``embed(samples)``, "feature space"). D_s of T_s batches did.
* **Maximum likelihood.** D_s ~ Binomial(T_s, P(s)), so with θ = 1/N and λ_s = s(s-1)/2 the
  log-likelihood is ``l(θ) = sum_s D_s log(1 - exp(-λ_s θ)) - (T_s - D_s) λ_s θ``, concave in θ
  (log(1 - e^-x) is concave): its maximum is the one root of the score, found by Brent's
  method on log θ. With a single batch size it is the closed form N̂ = -λ / log(1 - D/T).
  The 95% interval is the likelihood-ratio set {N: 2 (l_max - l(N)) <= 3.84} (chi², 1 dof).
  No duplicate anywhere: l grows as N → inf, so N̂ = inf and the set is [low, inf) with
  low = sum_s T_s λ_s / 1.92. Duplicates in every batch: l grows as N → 0, N̂ = 0, and only
  ``high`` says something (the generator's support is below it).
* **The ladder.** By default the batch size starts at ``start`` (4) and grows by ``growth``
  (sqrt(2): 4, 6, 8, 11, 16, 23, 32, ...) until every trial at a size has a duplicate (larger
  batches then add almost no information) or ``max_batch_size`` (4096) is reached; when already
  every batch of the first size has a duplicate, it shrinks towards 2 instead. A trial at size s
  carries Fisher information x² e^-x / (1 - e^-x) about log N, x = λ_s / N, largest near x = 1.6;
  a sqrt(2) ladder puts about two sizes where it is high, so it reaches a given precision with
  fewer samples than doubling (in simulation, sqrt(2) with 10 trials missed the factor of 2 as
  rarely as doubling with 20, with ~40% fewer samples). Small sizes cost almost nothing, and
  starting low keeps a tiny support from being seen only at sizes where every batch has a
  duplicate. The likelihood does not depend on this stopping rule.
* **How close.** Simulated on generators replaying N stored items uniformly (200 seeds each, the
  defaults): N̂ fell within a factor of 2 of N in 800 of 800 runs for N = 50, 200, 2000, 20000
  (worst |log2(N̂/N)| 0.79, median 0.14-0.20), and the interval covered N in 93-96% of them
  (10 trials: 798/800 within 2x). The Poisson form makes N̂ run low for small N (median N̂/N 0.90
  at N = 50, 0.97 at 200, 1.0 from 2000 on): the exact collision probability is higher when s
  is not small against N.
* **The rule of thumb** N ≈ s² at the smallest batch size at which at least half the trials had a
  duplicate (the paper's form), reported for comparison. P(s) = 1/2 at s² ≈ 2 ln 2 N = 1.39 N, and
  the ladder lands between that and ``growth`` times that batch size, so s² overestimates N by a
  factor of about 1.4 to 2.8 (more with doubling).

The threshold: exact copies are at distance 0, the default, which is what a generator that
replays stored images gives. A trained GAN makes near-copies, so the threshold needs a scale:
:func:`calibrate_threshold` sets it to ``fraction`` (default 0.25) of the median distance from a
real sample to its nearest other real sample, so a "duplicate" is a pair much closer than
two typical distinct real images (on scikit-learn's digits, no two distinct images of the 1797
are that close). Arora & Zhang judged their top pairs by eye; :func:`advlab.reports.grids.save_pair_grid` draws the
closest pairs found so that a person can do the same.

Randomness belongs to ``sample``: seed it there (:func:`sample_with_replacement` takes a seed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from scipy.optimize import brentq
from scipy.stats import chi2

from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator
from advlab.metrics.distances import pairwise_chunks
from advlab.metrics.inputs import as_real_tensor

LIKELIHOOD_DROP = float(chi2.ppf(0.95, 1)) / 2  # 1.92: half the 95% point of chi² with 1 dof
LOG_THETA_RANGE = (-60.0, 20.0)  # initial bracket for log(1/N); widened when needed
EXP_CAP = 700.0  # exp overflows float64 past ~709

Sampler = Callable[[int], torch.Tensor]
Embedding = Callable[[torch.Tensor], torch.Tensor]


class SupportEstimate(NamedTuple):
    """The maximum-likelihood support size and its 95% likelihood-ratio interval."""

    support: float
    low: float
    high: float


class ClosestPairs(NamedTuple):
    """The closest pairs found, closest first: ``first[i]`` and ``second[i]`` at ``distances[i]``.

    ``first`` and ``second`` are (k, ...) samples as ``sample`` returned them (on the CPU);
    ``distances`` is (k,) float64, in the space the duplicates were looked for in.
    """

    first: torch.Tensor
    second: torch.Tensor
    distances: torch.Tensor


@dataclass(frozen=True)
class BirthdaySupport:
    """The birthday-paradox estimate of a generator's support size.

    Attributes:
        support: the maximum-likelihood support size N̂; inf when no batch had a duplicate,
            0 when every batch had one.
        low, high: the 95% likelihood-ratio interval; with no duplicate ``high`` is inf and
            ``low`` a lower bound only; with duplicates everywhere ``low`` is 0.
        batch_sizes: the batch sizes drawn, ascending.
        trials: batches drawn at each size.
        duplicates: per batch size, how many of the trials had a duplicate.
        median_closest: per batch size, the median over trials of the closest-pair distance
            (to see how far from ``threshold`` the batches were).
        rule_of_thumb: s² at the smallest batch size where at least half the trials had a
            duplicate, or None.
        threshold: the distance at or below which a pair counted as a duplicate.
        closest_pairs: the closest pairs over all batches, for a person to judge.
    """

    support: float
    low: float
    high: float
    batch_sizes: tuple[int, ...]
    trials: int
    duplicates: tuple[int, ...]
    median_closest: tuple[float, ...]
    rule_of_thumb: int | None
    threshold: float
    closest_pairs: ClosestPairs


# ---------------------------------------------------------------------- the likelihood


def collision_probability(batch_size: int, support: float) -> float:
    """P(duplicate) = 1 - exp(-s(s-1) / 2N) for a batch of s draws from N equally likely outcomes."""
    if support == math.inf:
        return 0.0
    return -math.expm1(-batch_size * (batch_size - 1) / (2 * support)) if support > 0 else 1.0


def _check_counts(batch_sizes: Sequence[int], trials: int | Sequence[int], duplicates: Sequence[int]):
    sizes = [check_int("batch size", s, 2) for s in batch_sizes]
    if not sizes:
        raise AdvlabError("batch_sizes must name at least one batch size")
    totals = [trials] * len(sizes) if isinstance(trials, int) and not isinstance(trials, bool) else list(trials)
    totals = [check_int("trials", t, 1) for t in totals]
    hits = [check_int("duplicates", d, 0) for d in duplicates]
    if not len(sizes) == len(totals) == len(hits):
        raise AdvlabError(f"batch_sizes, trials and duplicates differ in length: {len(sizes)}, {len(totals)}, "
                          f"{len(hits)}")
    if any(d > t for d, t in zip(hits, totals)):
        raise AdvlabError("duplicates cannot exceed trials at any batch size")
    lam = np.array([s * (s - 1) / 2 for s in sizes], dtype=np.float64)
    return lam, np.array(totals, dtype=np.float64), np.array(hits, dtype=np.float64)


def _log_likelihood(log_theta: float, lam: np.ndarray, totals: np.ndarray, hits: np.ndarray) -> float:
    """l(θ) = sum_s D_s log(1 - exp(-λ_s θ)) - (T_s - D_s) λ_s θ, at θ = exp(log_theta)."""
    x = lam * math.exp(log_theta)
    with np.errstate(divide="ignore"):
        hit_terms = np.where(hits > 0, hits * np.log(-np.expm1(-x)), 0.0)
    return float(hit_terms.sum() - ((totals - hits) * x).sum())


def _score(log_theta: float, lam: np.ndarray, totals: np.ndarray, hits: np.ndarray) -> float:
    """dl / dlog θ = sum_s D_s x_s / (e^x_s - 1) - (T_s - D_s) x_s with x_s = λ_s θ; decreasing."""
    x = lam * math.exp(log_theta)
    hit_terms = np.where(x < EXP_CAP, x / np.expm1(np.minimum(x, EXP_CAP)), 0.0)
    return float((hits * hit_terms).sum() - ((totals - hits) * x).sum())


def _root(function: Callable[[float], float], low: float, high: float) -> float:
    """A root of an increasing-or-decreasing ``function`` on log θ, widening [low, high] until it brackets."""
    for _ in range(60):
        if function(low) * function(high) <= 0:
            return float(brentq(function, low, high, xtol=1e-12, rtol=1e-12))
        low, high = low - 10.0, high + 10.0
    raise AdvlabError("birthday estimate: the likelihood has no root in a reasonable range")  # pragma: no cover


def birthday_estimate(
    batch_sizes: Sequence[int], trials: int | Sequence[int], duplicates: Sequence[int]
) -> SupportEstimate:
    """Maximum-likelihood support size from duplicate counts, with a 95% likelihood-ratio interval.

    Model: at batch size s, each of T_s batches holds a duplicate with probability
    1 - exp(-s(s-1)/2N), independently; D_s did (module docstring).

    Args:
        batch_sizes: the batch sizes s, each >= 2.
        trials: batches per size, one int for all sizes or one per size (>= 1).
        duplicates: per size, the number D_s of batches that had a duplicate (0 <= D_s <= T_s).

    Returns:
        SupportEstimate(support, low, high): N̂ (inf when no D_s > 0, 0 when every D_s = T_s)
        and the interval {N: 2 (l_max - l(N)) <= 3.84}.
    """
    lam, totals, hits = _check_counts(batch_sizes, trials, duplicates)
    if hits.sum() == 0:
        return SupportEstimate(math.inf, float((totals * lam).sum()) / LIKELIHOOD_DROP, math.inf)
    if (hits == totals).all():
        # l increases towards θ = inf (N = 0) where it reaches 0; high solves l(θ) = -1.92
        edge = _root(lambda t: _log_likelihood(t, lam, totals, hits) + LIKELIHOOD_DROP, *LOG_THETA_RANGE)
        return SupportEstimate(0.0, 0.0, math.exp(-edge))
    best = _root(lambda t: _score(t, lam, totals, hits), *LOG_THETA_RANGE)
    level = _log_likelihood(best, lam, totals, hits) - LIKELIHOOD_DROP

    def drop(t: float) -> float:
        return _log_likelihood(t, lam, totals, hits) - level

    large_theta = _root(drop, best, LOG_THETA_RANGE[1])
    small_theta = _root(drop, LOG_THETA_RANGE[0], best)
    return SupportEstimate(math.exp(-best), math.exp(-large_theta), math.exp(-small_theta))


# ---------------------------------------------------------------------- closest pairs


def nearest_neighbours(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's nearest other row: (distances (n,), indices (n,)), Euclidean, self excluded.

    The squared distances come in row chunks (:func:`advlab.metrics.distances.pairwise_chunks`, never the
    whole n x n matrix); only the nearest index is kept, and its distance is recomputed as |a - b| so that
    exact copies come out at exactly 0.

    Args:
        rows: (n, d) float tensor, n >= 2, on any device.
    """
    indices = torch.empty(len(rows), dtype=torch.int64, device=rows.device)
    for chunk, squared in pairwise_chunks(rows, rows):
        own = torch.arange(len(squared), device=rows.device)
        squared[own, chunk.start + own] = math.inf
        indices[chunk] = squared.argmin(1)
    return (rows - rows[indices]).norm(dim=1), indices


def _as_rows(values, count: int, name: str) -> torch.Tensor:
    """``values`` (count, ...) as (count, d) float64 rows on their own device; AdvlabError otherwise."""
    values = as_real_tensor(values, name)
    if values.ndim == 0 or values.shape[0] != count or values.numel() == 0:
        raise AdvlabError(f"{name}: expected {count} samples of shape ({count}, ...), got shape {tuple(values.shape)}")
    rows = values.detach().reshape(count, -1).to(torch.float64)
    if not torch.isfinite(rows).all():
        raise AdvlabError(f"{name}: {int((~torch.isfinite(rows)).any(1).sum())} of {count} samples hold NaN or inf")
    return rows


def _embedded(samples: torch.Tensor, embed: Embedding | None, name: str) -> torch.Tensor:
    """The rows duplicates are looked for in: flattened samples, or ``embed(samples)``."""
    count = len(samples)
    if embed is None:
        return _as_rows(samples, count, name)
    with torch.no_grad():
        features = embed(samples)
    if isinstance(features, (torch.Tensor, np.ndarray)) and features.ndim != 2:
        raise AdvlabError(f"embed: expected features of shape ({count}, d), got shape {tuple(features.shape)}")
    return _as_rows(features, count, "embed")


def calibrate_threshold(reference, fraction: float = 0.25, embed: Embedding | None = None) -> float:
    """A duplicate threshold on the scale of real data: ``fraction`` x the median nearest-neighbour distance.

    The distance is the one :func:`birthday_support` uses (Euclidean on flattened samples, or on
    ``embed(samples)``), between each real sample and its nearest other real sample; the median
    falls as the reference set grows, so calibrate with about as many real samples as you have
    (a few thousand). With the default 0.25, none of the 1797 scikit-learn digits has another
    digit that close.

    Args:
        reference: (n, ...) real samples, n >= 2 (images (n, C, H, W) or rows).
        fraction: > 0, multiplies the median nearest-neighbour distance (default 0.25).
        embed: optional callable mapping (n, ...) samples to (n, d) features.

    Returns:
        The threshold, a float >= 0.
    """
    fraction = check_number("fraction", fraction, 0.0, strict=True)
    count = len(reference) if isinstance(reference, (torch.Tensor, np.ndarray)) and reference.ndim > 0 else 0
    if count < 2:
        raise AdvlabError("reference: expected at least 2 real samples of shape (n, ...)")
    if isinstance(reference, np.ndarray):
        reference = torch.from_numpy(np.ascontiguousarray(reference))
    rows = _embedded(reference, embed, "reference")
    distances, _ = nearest_neighbours(rows)
    return fraction * float(np.median(distances.cpu().numpy()))


class _PairKeeper:
    """The ``capacity`` closest pairs offered so far, without repeating a pair of identical samples."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.pairs: list[tuple[float, torch.Tensor, torch.Tensor]] = []

    def _seen(self, first: torch.Tensor, second: torch.Tensor) -> bool:
        return any((torch.equal(first, a) and torch.equal(second, b)) or (torch.equal(first, b) and
                                                                          torch.equal(second, a))
                   for _, a, b in self.pairs)

    def offer(self, distance: float, first: torch.Tensor, second: torch.Tensor) -> None:
        full = len(self.pairs) >= self.capacity
        if (full and distance >= self.pairs[-1][0]) or self._seen(first, second):
            return
        self.pairs.append((distance, first.cpu().clone(), second.cpu().clone()))
        self.pairs.sort(key=lambda pair: pair[0])
        del self.pairs[self.capacity :]

    def offer_batch(self, samples: torch.Tensor, distances: torch.Tensor, indices: torch.Tensor) -> None:
        """Offer the batch's closest pairs (each row with its nearest neighbour), closest first."""
        taken: set[tuple[int, int]] = set()
        for i in torch.argsort(distances, stable=True).tolist():
            j = int(indices[i])
            key = (min(i, j), max(i, j))
            if key in taken:
                continue
            if len(taken) >= self.capacity:
                break
            taken.add(key)
            self.offer(float(distances[i]), samples[key[0]], samples[key[1]])

    def result(self) -> ClosestPairs:
        if not self.pairs:  # pragma: no cover - every batch has at least one pair
            raise AdvlabError("no pairs were drawn")
        return ClosestPairs(torch.stack([a for _, a, _ in self.pairs]), torch.stack([b for _, _, b in self.pairs]),
                            torch.tensor([d for d, _, _ in self.pairs], dtype=torch.float64))


# ---------------------------------------------------------------------- drawing batches


class _Trials:
    """Draws batches from ``sample``, checks them, and counts the ones that hold a duplicate."""

    def __init__(self, sample: Sampler, embed: Embedding | None, threshold: float, trials: int, keeper: _PairKeeper):
        self.sample, self.embed, self.threshold, self.trials, self.keeper = sample, embed, threshold, trials, keeper
        self.sample_shape: tuple[int, ...] | None = None
        self.width: int | None = None
        self.duplicates: dict[int, int] = {}
        self.median_closest: dict[int, float] = {}

    def _draw(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            samples = self.sample(size)
        name = f"sample({size})"
        if isinstance(samples, np.ndarray):
            samples = torch.from_numpy(np.ascontiguousarray(samples))
        rows = _as_rows(samples, size, name)
        if self.sample_shape is None:
            self.sample_shape = tuple(samples.shape[1:])
        elif tuple(samples.shape[1:]) != self.sample_shape:
            raise AdvlabError(f"{name}: samples of shape {tuple(samples.shape[1:])}, earlier batches gave "
                              f"{self.sample_shape}")
        if self.embed is not None:
            rows = _embedded(samples, self.embed, name)
            if self.width is not None and rows.shape[1] != self.width:
                raise AdvlabError(f"embed: features of width {rows.shape[1]}, earlier batches gave {self.width}")
            self.width = rows.shape[1]
        return samples.detach(), rows

    def run(self, size: int) -> int:
        """Draw ``trials`` batches of ``size``; return how many had a pair within the threshold."""
        closest = []
        for _ in range(self.trials):
            samples, rows = self._draw(size)
            distances, indices = nearest_neighbours(rows)
            closest.append(float(distances.min()))
            self.keeper.offer_batch(samples, distances, indices)
        self.duplicates[size] = sum(distance <= self.threshold for distance in closest)
        self.median_closest[size] = float(np.median(closest))
        return self.duplicates[size]


def _check_batch_sizes(batch_sizes: Sequence[int]) -> list[int]:
    if isinstance(batch_sizes, (str, bytes)) or not isinstance(batch_sizes, Sequence) or not batch_sizes:
        raise AdvlabError(f"batch_sizes must be a non-empty list of integers >= 2, got {batch_sizes!r}")
    sizes = [check_int("batch size", size, 2) for size in batch_sizes]
    if len(set(sizes)) != len(sizes):
        raise AdvlabError(f"batch_sizes must be distinct, got {list(batch_sizes)}")
    return sorted(sizes)


def _rung(start: int, growth: float, step: int, below: int, above: int) -> int:
    """Batch size ``round(start * growth**step)``, kept strictly between ``below`` and ``above`` and >= 2."""
    return max(2, below + 1, min(above - 1, round(start * growth**step)))


def _climb(trials: _Trials, start: int, growth: float, max_batch_size: int) -> None:
    """The adaptive ladder: sizes ``start * growth**k`` for k = 0, 1, ... until every trial has a duplicate
    or ``max_batch_size``; for k = -1, -2, ... down to 2 instead when every trial at ``start`` has one."""
    size, step = start, 0
    if trials.run(size) == trials.trials:
        while size > 2 and trials.duplicates[size] == trials.trials:
            step -= 1
            size = _rung(start, growth, step, 1, size)
            trials.run(size)
        return
    while trials.duplicates[size] < trials.trials and size < max_batch_size:
        step += 1
        size = min(_rung(start, growth, step, size, max_batch_size + 1), max_batch_size)
        trials.run(size)


def birthday_support(
    sample: Sampler,
    batch_sizes: Sequence[int] | None = None,
    trials: int = 20,
    threshold: float = 0.0,
    embed: Embedding | None = None,
    top_pairs: int = 16,
    start: int = 4,
    growth: float = math.sqrt(2),
    max_batch_size: int = 4096,
) -> BirthdaySupport:
    """Estimate a generator's support size by the birthday paradox (module docstring).

    Args:
        sample: callable ``n -> samples``, a tensor (n, ...) (images (n, C, H, W) or rows (n, d));
            called without gradients. Seed it yourself (see :func:`sample_with_replacement`).
        batch_sizes: the batch sizes to draw (each >= 2, distinct); default None, the adaptive ladder:
            ``start`` growing by ``growth`` up to ``max_batch_size`` until every trial has a duplicate
            (shrinking towards 2 when the first size already has them all).
        trials: batches drawn per batch size (default 20; 10 gives a 95% interval about 2x as wide).
        threshold: a pair within this Euclidean distance is a duplicate (default 0: exact copies);
            see :func:`calibrate_threshold` for near-copies.
        embed: optional callable mapping samples (n, ...) to features (n, d): look for duplicates in
            feature space instead of pixel space.
        top_pairs: how many closest pairs to keep for :attr:`BirthdaySupport.closest_pairs` (default 16).
        start: first batch size of the adaptive ladder (default 4).
        growth: ratio of successive batch sizes of the ladder, > 1 (default sqrt(2): 4, 6, 8, 11, 16, 23, ...).
        max_batch_size: largest batch size of the adaptive ladder (default 4096).

    Returns:
        BirthdaySupport with the estimate, its 95% interval, the counts per batch size, the rule of
        thumb and the closest pairs.
    """
    trials = check_int("trials", trials, 1)
    threshold = check_number("threshold", threshold, 0.0)
    top_pairs = check_int("top_pairs", top_pairs, 1)
    if not callable(sample):
        raise AdvlabError(f"sample must be a callable n -> samples, got {type(sample).__name__}")
    if embed is not None and not callable(embed):
        raise AdvlabError(f"embed must be a callable samples -> features, got {type(embed).__name__}")
    draws = _Trials(sample, embed, threshold, trials, _PairKeeper(top_pairs))
    if batch_sizes is None:
        start, max_batch_size = check_int("start", start, 2), check_int("max_batch_size", max_batch_size, 2)
        growth = check_number("growth", growth, 1.0, strict=True)
        if start > max_batch_size:
            raise AdvlabError(f"start ({start}) must not exceed max_batch_size ({max_batch_size})")
        _climb(draws, start, growth, max_batch_size)
    else:
        for size in _check_batch_sizes(batch_sizes):
            draws.run(size)
    sizes = tuple(sorted(draws.duplicates))
    duplicates = tuple(draws.duplicates[size] for size in sizes)
    estimate = birthday_estimate(sizes, trials, duplicates)
    half = [size for size, hits in zip(sizes, duplicates) if 2 * hits >= trials]
    return BirthdaySupport(
        support=estimate.support, low=estimate.low, high=estimate.high, batch_sizes=sizes, trials=trials,
        duplicates=duplicates, median_closest=tuple(draws.median_closest[size] for size in sizes),
        rule_of_thumb=half[0] ** 2 if half else None, threshold=threshold, closest_pairs=draws.keeper.result())


def sample_with_replacement(items, seed: int = 0) -> Sampler:
    """A generator whose support you set: ``n -> n`` rows of ``items`` drawn uniformly with replacement.

    Args:
        items: (N, ...) tensor, the N stored samples (images or rows).
        seed: seeds the sampler's own torch.Generator.

    Returns:
        A callable ``n -> (n, ...)`` tensor on the device of ``items``.
    """
    if not isinstance(items, torch.Tensor) or items.ndim == 0 or len(items) == 0:
        raise AdvlabError("items: expected a non-empty tensor of shape (N, ...)")
    generator = make_generator(check_int("seed", seed, 0), items.device)
    count = len(items)

    def sample(n: int) -> torch.Tensor:
        return items[torch.randint(count, (n,), generator=generator, device=items.device)]

    return sample
