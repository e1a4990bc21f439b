"""Convergence against quality: how a loss curve oscillates, and whether the losses track FID.

GAN losses seldom settle; simultaneous gradient play circles around the equilibrium (Mescheder et al. 2018,
"Which Training Methods for GANs do actually Converge?", sec. 2, the Dirac-GAN). This module measures that
cycling in a logged loss and asks, by rank correlation, whether the losses say anything about sample quality.

A series x_1..x_n logged at steps s_1..s_n is measured on an even grid of spacing Δ = median(s_{i+1} - s_i)
(the logging interval; linear interpolation fills gaps and uneven steps, and the grid is coarsened to at most
4n points), and periods in steps are (period in grid samples) x Δ. Evenly logged series are used as they are.

* ``mean``: the mean of x.
* ``trend``: the least-squares slope of x on s, times 1000 (loss change per 1000 steps).
* Detrending, as in the classical additive decomposition x_t = m_t + s_t + e_t (Brockwell & Davis,
  "Introduction to Time Series and Forecasting", 3rd ed. 2016, sec. 1.5.2, Method 1): the slow trend m_t is the
  centred moving average over one period p (for even p, the 2 x p average with half weights at both ends),
  which cancels a p-periodic component exactly; the residual r_t = x_t - m_t is kept only where the whole
  window fits, so there is no edge effect. As p is unknown at first, a first pass detrends with a window of
  n/10 samples (at least 3), finds p, and a second pass detrends with the window p. Without a significant
  period the first pass's residual is the one measured.
* ``amplitude``: half the 5-95% inter-percentile range of r. For a sine of amplitude A that is
  A sin(0.45 pi) ~ 0.988 A; for Gaussian noise of std sigma, 1.645 sigma; a few loss spikes hardly move it.
* ``period``: the lag of the first peak of the sample autocorrelation rho_k of r (the biased estimate
  rho_k = sum_t r_t r_{t+k} / sum_t r_t^2 of mean-removed r, Brockwell & Davis sec. 1.4.1) after its first
  zero crossing k_0 and before lag N/2 (a peak is the top of a run of positive rho_k), refined by a parabola
  through the three lags around it. The peak must rise above the band 2 sqrt((1 + 2 sum_{j<k_0} rho_j^2) / N)
  (Bartlett's large-lag standard error, Box, Jenkins & Reinsel, "Time Series Analysis", sec. 2.1.6; 2/sqrt(N)
  for white noise), and three more tests must pass: the oscillation repeats (rho at twice the period exceeds
  half the band, when that lag exists); Fisher's g test (Fisher 1929, "Tests of significance in harmonic
  analysis", Proc. R. Soc. A 125) on the periodogram I_k of r,
  g = max_k I_k / sum_k I_k over the Fourier frequencies 0 < k < N/2, rejects white noise at the 1% level
  (p bounded by m (1 - g)^(m-1), the first term of Fisher's exact sum, over m frequencies); and the
  periodogram's peak agrees with the ACF: within one Fourier bin of N/period, or periods within 25% (GAN
  losses oscillate quasi-periodically, with a broad spectral peak). Otherwise the period is None (white noise,
  a monotone curve). Measured false positives: white noise 2 in 300 series, AR(1) noise with phi = 0.5 / 0.9 /
  0.99 2% / 11% / 8% (n = 1000). Periods longer than about n/4 samples (fewer than four cycles in the log)
  may go undetected.

The rank correlation is Spearman's rho (Spearman 1904): Pearson's correlation of the ranks (ties take
their mean rank), with the two-sided p-value of scipy.stats.spearmanr (t distribution with n - 2 degrees
of freedom). ``convergence_vs_quality`` pairs each evaluation's quality figure with the mean loss of the
train records logged since the previous evaluation.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from scipy import stats

from advlab.core.errors import AdvlabError
from advlab.core.runs import clean

MAX_GRID_FACTOR = 4  # an uneven series is resampled onto at most this many times n points
ROUNDING = 1e-9  # a residual this small relative to the values is rounding error, not an oscillation
MIN_POINTS = 4  # a series shorter than this has no trend or spread worth reporting
MIN_RESIDUAL = 8  # fewest detrended samples in which a period is searched for
FIRST_WINDOW_FRACTION = 10  # first-pass moving average: n / 10 samples
FISHER_ALPHA = 0.01
BIN_TOLERANCE = 1.0  # ACF and periodogram frequencies must agree within this many Fourier bins,
PERIOD_TOLERANCE = 0.25  # or their periods within this fraction (quasi-periodic GAN losses have a broad peak)
PERCENTILES = (5.0, 95.0)
LOSSES = ("d_loss", "g_loss")


@dataclass(frozen=True)
class Oscillation:
    """How a logged series oscillates around its slow trend.

    Attributes:
        amplitude: half the 5-95% inter-percentile range of the detrended series (0.988 A for A sin(wt)).
        period: dominant period in steps, or None when there is no significant oscillation.
        mean: mean of the series.
        trend: least-squares slope per 1000 steps (negative: the series falls).
        n: number of points.
    """

    amplitude: float
    period: float | None
    mean: float
    trend: float
    n: int

    def to_dict(self) -> dict:
        """The fields as a JSON-able dict."""
        return dataclasses.asdict(self)


class RankCorrelation(NamedTuple):
    """Spearman's rho and its two-sided p-value; both NaN when undefined (n < 3 or a constant input)."""

    rho: float
    p_value: float


# ---------------------------------------------------------------- input checks


def _as_series(values, name: str, allow_empty: bool = False) -> np.ndarray:
    """A 1-D float64 NumPy copy of a sequence, array or tensor; AdvlabError if not 1-D, empty or non-finite."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    try:
        series = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise AdvlabError(f"{name}: expected a sequence of numbers, got {type(values).__name__}") from None
    if series.ndim != 1:
        raise AdvlabError(f"{name}: expected a 1-D series, got shape {series.shape}")
    if series.size == 0 and not allow_empty:
        raise AdvlabError(f"{name}: the series is empty")
    if not np.isfinite(series).all():
        raise AdvlabError(f"{name}: expected finite numbers, found NaN or inf")
    return series.copy()


def _as_steps(steps, n: int) -> np.ndarray:
    if steps is None:
        return np.arange(n, dtype=np.float64)
    steps = _as_series(steps, "steps")
    if steps.size != n:
        raise AdvlabError(f"steps: expected {n} steps, one per value, got {steps.size}")
    if (np.diff(steps) <= 0).any():
        raise AdvlabError("steps: expected strictly increasing steps")
    return steps


# ---------------------------------------------------------------- detrending and period


def detrend(values: np.ndarray, window: int) -> np.ndarray:
    """x_t minus its centred moving average over ``window`` samples, where the whole window fits.

    For even ``window`` the average spans window + 1 samples with half weights at both ends, so it stays
    centred. Returns n - 2 * (window // 2) residuals (aligned with values[window // 2 : n - window // 2]).
    """
    half = window // 2
    sums = np.concatenate([[0.0], np.cumsum(values)])
    averages = (sums[window:] - sums[:-window]) / window
    if window % 2 == 0:
        averages = (averages[:-1] + averages[1:]) / 2
    return values[half: values.size - half] - averages


def autocorrelation(residual: np.ndarray) -> np.ndarray:
    """Biased sample autocorrelation rho_0..rho_{N-1} of mean-removed ``residual`` (rho_0 = 1; zeros if constant)."""
    centred = residual - residual.mean()
    size = 1 << int(2 * centred.size - 1).bit_length()
    spectrum = np.fft.rfft(centred, size)
    covariance = np.fft.irfft(spectrum * spectrum.conj(), size)[: centred.size]
    return covariance / covariance[0] if covariance[0] > 0 else np.zeros_like(covariance)


def _first_zero(acf: np.ndarray) -> int | None:
    """The first lag k in (0, N/2) with rho_k <= 0, or None."""
    below = np.flatnonzero(acf[1: acf.size // 2] <= 0)
    return int(below[0]) + 1 if below.size else None


def bartlett_band(acf: np.ndarray, zero: int) -> float:
    """2 x Bartlett's large-lag standard error of rho_k, 2 sqrt((1 + 2 sum_{j<zero} rho_j^2) / N): the band a
    lag beyond the correlated lags ``zero`` stays inside when there is no oscillation (2/sqrt(N), white noise)."""
    return 2 * math.sqrt((1 + 2 * float((acf[1:zero] ** 2).sum())) / acf.size)


def _acf_period(acf: np.ndarray, zero: int, threshold: float) -> tuple[float, float] | None:
    """(lag, ACF there) of the first ACF peak above ``threshold`` after lag ``zero``, below lag N/2.

    A peak is the maximum of a positive lobe (a run of lags with rho_k > 0), so jitter around zero makes no
    peak; the lag is refined by a parabola through its neighbours. None when no lobe reaches ``threshold``.
    """
    max_lag = acf.size // 2
    positive = (acf[:max_lag] > 0) & (np.arange(max_lag) > zero)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], positive.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2]):
        lag = start + int(np.argmax(acf[start:stop]))
        if acf[lag] > threshold and lag < max_lag - 1:
            return _refine(acf, lag), float(acf[lag])
    return None


def _repeats(acf: np.ndarray, period: float, band: float) -> bool:
    """The oscillation comes back: rho at twice the period exceeds half the band (when that lag exists)."""
    lag = round(2 * period)
    return lag >= acf.size or acf[lag] > band / 2


def _refine(acf: np.ndarray, lag: int) -> float:
    """The vertex of the parabola through (lag - 1, lag, lag + 1), kept within half a lag of ``lag``."""
    left, mid, right = acf[lag - 1], acf[lag], acf[lag + 1]
    curvature = left - 2 * mid + right
    shift = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
    return lag + float(np.clip(shift, -0.5, 0.5))


def _periodogram_peak(residual: np.ndarray) -> tuple[int, float]:
    """(Fourier index k of the highest ordinate for 0 < k < N/2, Fisher's p-value bound for it)."""
    ordinates = np.abs(np.fft.rfft(residual - residual.mean())) ** 2
    inner = ordinates[1: (residual.size - 1) // 2 + 1]
    total = inner.sum()
    if inner.size < 2 or total <= 0:
        return 0, 1.0
    g = inner.max() / total
    m = inner.size
    return int(np.argmax(inner)) + 1, float(min(1.0, m * (1.0 - g) ** (m - 1)))


def _agree(acf_frequency: float, peak: int) -> bool:
    """ACF and periodogram agree: frequencies (in Fourier bins) within one bin or periods within 25%."""
    return abs(acf_frequency - peak) <= BIN_TOLERANCE or abs(acf_frequency / peak - 1) <= PERIOD_TOLERANCE


def dominant_period(residual: np.ndarray) -> float | None:
    """Dominant period, in samples, of a detrended series, or None when the tests of the module docstring fail."""
    n = residual.size
    if n < MIN_RESIDUAL or np.ptp(residual) == 0:
        return None
    acf = autocorrelation(residual)
    zero = _first_zero(acf)
    if zero is None:
        return None
    band = bartlett_band(acf, zero)
    found = _acf_period(acf, zero, band)
    if found is None or not _repeats(acf, found[0], band):
        return None
    period = found[0]
    peak, p_value = _periodogram_peak(residual)
    if p_value >= FISHER_ALPHA or not _agree(n / period, peak):
        return None
    return period


def _residual_and_period(values: np.ndarray, spacing: float) -> tuple[np.ndarray, float | None]:
    """The two detrending passes of the module docstring: (final residual, period in steps or None)."""
    n = values.size
    first_window = max(3, n // FIRST_WINDOW_FRACTION)
    residual = detrend(values, first_window)
    if np.ptp(residual) <= ROUNDING * np.abs(values).max():
        return residual, None  # a straight line: what is left is rounding error
    period = dominant_period(residual)
    if period is None:
        return residual, None
    second = detrend(values, max(2, round(period)))
    refined = dominant_period(second)
    return second, (refined if refined is not None else period) * spacing


def even_grid(values: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, float]:
    """(values linearly interpolated onto an even grid from steps[0] to steps[-1], its spacing).

    The spacing is the median step spacing, widened when the grid would exceed MAX_GRID_FACTOR x n points.
    Evenly spaced steps come back unchanged.
    """
    gaps = np.diff(steps)
    spacing = float(np.median(gaps))
    if np.allclose(gaps, spacing, rtol=1e-9, atol=0):
        return values, spacing
    span = float(steps[-1] - steps[0])
    count = min(int(round(span / spacing)) + 1, MAX_GRID_FACTOR * values.size)
    grid = np.linspace(steps[0], steps[-1], count)
    return np.interp(grid, steps, values), span / (count - 1)


def loss_oscillation(values, steps=None) -> Oscillation:
    """Oscillation statistics of a logged series (definitions in the module docstring).

    Args:
        values: (n,) sequence, array or tensor of finite numbers, n >= 4 (a loss per logged step).
        steps: (n,) strictly increasing steps of the values; default 0..n-1 (periods then in samples).
            Uneven steps are interpolated onto an even grid at their median spacing.

    Returns:
        Oscillation(amplitude, period, mean, trend, n): amplitude is half the 5-95% inter-percentile range
        of the detrended series; period in steps, or None without a significant oscillation; trend is the
        least-squares slope per 1000 steps.

    Raises:
        AdvlabError: empty, non-finite, too short or not 1-D values; steps of another length or not increasing.
    """
    series = _as_series(values, "values")
    if series.size < MIN_POINTS:
        raise AdvlabError(f"values: need at least {MIN_POINTS} points to measure an oscillation, got {series.size}")
    steps = _as_steps(steps, series.size)
    residual, period = _residual_and_period(*even_grid(series, steps))
    low, high = np.percentile(residual, PERCENTILES)
    slope = np.polyfit(steps - steps.mean(), series, 1)[0]
    return Oscillation(amplitude=float((high - low) / 2), period=None if period is None else float(period),
                       mean=float(series.mean()), trend=float(slope * 1000), n=int(series.size))


# ---------------------------------------------------------------- rank correlation


def rank_correlation(x, y) -> RankCorrelation:
    """Spearman's rank correlation of two paired series.

    Args:
        x, y: (n,) sequences, arrays or tensors of finite numbers, the same length.

    Returns:
        RankCorrelation(rho, p_value): rho in [-1, 1] and its two-sided p-value (scipy.stats.spearmanr).
        Both are NaN, not an error, when rho is undefined: fewer than 3 pairs or a constant series.

    Raises:
        AdvlabError: non-finite values, not 1-D, or x and y of different lengths.
    """
    x, y = _as_series(x, "x", allow_empty=True), _as_series(y, "y", allow_empty=True)
    if x.size != y.size:
        raise AdvlabError(f"x and y must be paired: got {x.size} and {y.size} values")
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return RankCorrelation(math.nan, math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.spearmanr(x, y)
    return RankCorrelation(float(result.statistic), float(result.pvalue))


# ---------------------------------------------------------------- metrics.jsonl records


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def record_series(records, key: str, kind: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of ``key`` over records of ``kind`` (a record without "kind" is a train record),
    sorted by step; a step logged twice (a resumed run) keeps its last value; missing or non-finite values
    are left out."""
    points = {}
    for record in _check_records(records):
        step, value = record.get("step"), record.get(key)
        if record.get("kind", "train") == kind and _number(step) and _number(value):
            points[step] = float(value)
    steps = sorted(points)
    return np.array(steps, dtype=np.float64), np.array([points[s] for s in steps], dtype=np.float64)


def _check_records(records) -> list:
    if isinstance(records, dict | str | bytes) or not hasattr(records, "__iter__"):
        raise AdvlabError(f"records: expected a list of metrics.jsonl records, got {type(records).__name__}")
    records = list(records)
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise AdvlabError(f"records: record {i} is a {type(record).__name__}, not a JSON object")
    return records


def loss_at_evaluations(records, loss: str, quality: str = "fid") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair each evaluation's quality figure with the loss around it.

    Args:
        records: metrics.jsonl records (dicts with "kind" and "step").
        loss: train key to average, e.g. "d_loss".
        quality: eval key, e.g. "fid".

    Returns:
        (steps, losses, qualities), each (k,): the steps of eval records with a finite ``quality``, the mean
        ``loss`` of the train records logged after the previous such evaluation up to this one (inclusive),
        and the quality figures. Evaluations with no train record in their window are left out.
    """
    records = _check_records(records)
    train_steps, train_values = record_series(records, loss)
    eval_steps, eval_values = record_series(records, quality, kind="eval")
    previous = -math.inf
    kept = []
    for step, value in zip(eval_steps, eval_values):
        window = (train_steps > previous) & (train_steps <= step)
        if window.any():
            kept.append((step, float(train_values[window].mean()), value))
        previous = step
    steps, losses, qualities = (np.array(column, dtype=np.float64) for column in zip(*kept)) if kept else \
        (np.empty(0), np.empty(0), np.empty(0))
    return steps, losses, qualities


def _correlation_entry(records: list, loss: str, quality: str) -> dict:
    """rho, p_value, pairs and, when rho is None, a note saying why."""
    _, losses, qualities = loss_at_evaluations(records, loss, quality)
    rho, p_value = rank_correlation(losses, qualities)
    note = None
    if losses.size == 0:
        note = f"no eval record with {quality!r} after a train record with {loss!r}"
    elif losses.size < 3:
        note = f"only {losses.size} evaluation(s) with {quality!r}; a rank correlation needs 3"
    elif not math.isfinite(rho):
        note = f"{loss} or {quality} is constant across evaluations; rho is undefined"
    return {"rho": clean(float(rho)), "p_value": clean(float(p_value)), "pairs": int(losses.size),
            "note": note}


def convergence_vs_quality(records, quality: str = "fid") -> dict:
    """Oscillation of the D and G losses and their rank correlation with a quality metric over evaluations.

    Args:
        records: metrics.jsonl records, e.g. from advlab.reports.read_metrics(run_dir).
        quality: the eval key to correlate with (default "fid"; lower is better).

    Returns:
        A JSON-able dict: {"quality": quality, "evaluations": number of eval records with a finite quality,
        "d_loss": entry, "g_loss": entry}, where each entry is {"oscillation": Oscillation.to_dict() or None
        (fewer than 4 train records), "rho", "p_value": Spearman's rho and p-value between the loss averaged
        since the previous evaluation and the quality, or None with "note" saying why (no evaluations, fewer
        than 3, a constant series), "pairs": evaluations paired}.
    """
    records = _check_records(records)
    if not isinstance(quality, str) or not quality:
        raise AdvlabError(f"quality: expected the name of an eval metric such as 'fid', got {quality!r}")
    result: dict = {"quality": quality, "evaluations": int(record_series(records, quality, "eval")[0].size)}
    for loss in LOSSES:
        steps, values = record_series(records, loss)
        oscillation = loss_oscillation(values, steps).to_dict() if values.size >= MIN_POINTS else None
        result[loss] = {"oscillation": oscillation, **_correlation_entry(records, loss, quality)}
    return result
