"""Mode coverage on the 2-D Gaussian mixtures: modes covered and high-quality samples.

Definitions of Srivastava et al. 2017, "VEEGAN" (sec. 5.1), as used by Lin et al. 2018,
"PacGAN" (sec. 5, Table 1):

* a sample is *high quality* when it lies within ``threshold`` (3) standard deviations,
  in Euclidean distance, of its nearest mode; PacGAN's code uses a strict ``<``;
* a mode is *covered* when it is the nearest mode of at least one high-quality sample;
* the KL divergence compares the histogram of high-quality samples over the modes with
  the uniform distribution, KL(p || u) = sum_k p_k log(K p_k), natural log, 0 log 0 = 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from advlab.core.errors import AdvlabError
from advlab.data.toy2d import GaussianMixture2D, grid25, ring8

MIXTURES = {"ring8": ring8, "grid25": grid25}
ROWS_PER_CHUNK = 65536


@dataclass(frozen=True)
class ModeCoverage:
    """How well samples cover the modes of a 2-D mixture.

    Attributes:
        modes: number of modes covered.
        total_modes: number of modes of the mixture.
        high_quality: fraction of samples within ``threshold`` stds of their nearest mode.
        counts: per mode, the number of high-quality samples whose nearest mode it is.
        kl: KL(histogram of high-quality samples || uniform); log(total_modes) if none.
    """

    modes: int
    total_modes: int
    high_quality: float
    counts: tuple[int, ...]
    kl: float


def _as_points(points: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Validate (N, 2) finite points and return them as float64 on the CPU."""
    if isinstance(points, np.ndarray):
        if points.dtype.kind not in "iuf":
            raise AdvlabError(f"points: expected a numeric array, found dtype {points.dtype}")
        points = torch.from_numpy(points)
    if not isinstance(points, torch.Tensor):
        raise AdvlabError(f"points: expected a tensor or array, found {type(points).__name__}")
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] == 0:
        raise AdvlabError(f"points: expected shape (N, 2) with N > 0, found {tuple(points.shape)}")
    points = points.detach().to("cpu", torch.float64)
    if not torch.isfinite(points).all():
        raise AdvlabError("points: expected finite coordinates, found NaN or inf")
    return points


def _check_threshold(threshold: float) -> None:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise AdvlabError(f"threshold: expected a positive number, found {threshold!r}")


def _as_mixture(dataset: str | GaussianMixture2D) -> GaussianMixture2D:
    if isinstance(dataset, GaussianMixture2D):
        return dataset
    if dataset not in MIXTURES:
        raise AdvlabError(
            f"mode coverage: unknown dataset {dataset!r}; expected one of: {', '.join(MIXTURES)}"
        )
    return MIXTURES[dataset]()


def _nearest_modes(points: torch.Tensor, means: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of and Euclidean distance to the nearest mean for every point."""
    indices, distances = [], []
    for chunk in points.split(ROWS_PER_CHUNK):
        chunk_distances = (chunk[:, None, :] - means[None, :, :]).square().sum(-1).sqrt()
        distance, index = chunk_distances.min(dim=1)
        indices.append(index)
        distances.append(distance)
    return torch.cat(indices), torch.cat(distances)


def _kl_from_uniform(counts: torch.Tensor) -> float:
    """KL(counts / sum || uniform) in nats; log K when there are no counts."""
    total_modes = len(counts)
    if counts.sum() == 0:
        return math.log(total_modes)
    probabilities = counts[counts > 0].to(torch.float64) / counts.sum()
    return float((probabilities * torch.log(probabilities * total_modes)).sum())


@dataclass(frozen=True)
class LabelModes:
    """How predicted labels spread over ``total_modes`` discrete modes.

    Attributes:
        modes: number of modes that received at least one sample.
        total_modes: number of modes there are.
        counts: samples per mode.
        kl: KL(label histogram || uniform) in nats; 0 for a perfectly even spread.
    """

    modes: int
    total_modes: int
    counts: tuple[int, ...]
    kl: float


def label_modes(labels: torch.Tensor | np.ndarray, total_modes: int) -> LabelModes:
    """Modes covered and KL to uniform for integer ``labels`` in [0, total_modes).

    The image counterpart of :func:`mode_coverage`: on digits the modes are the 10 classes a
    feature classifier predicts; on stacked digits (Srivastava et al. 2017, sec. 5.2; Metz et
    al. 2017) the 1000 triples of digits.
    """
    labels = torch.as_tensor(labels).reshape(-1).to("cpu", torch.int64)
    if total_modes < 1:
        raise AdvlabError(f"total_modes must be >= 1, got {total_modes}")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= total_modes):
        raise AdvlabError(f"labels must lie in [0, {total_modes}), found {int(labels.min())}..{int(labels.max())}")
    counts = torch.bincount(labels, minlength=total_modes)
    return LabelModes(modes=int((counts > 0).sum()), total_modes=total_modes,
                      counts=tuple(int(count) for count in counts), kl=_kl_from_uniform(counts))


def mode_coverage(
    points: torch.Tensor | np.ndarray,
    dataset: str | GaussianMixture2D = "ring8",
    threshold: float = 3.0,
) -> ModeCoverage:
    """Count covered modes and high-quality samples of (N, 2) ``points`` (VEEGAN, PacGAN).

    Args:
        points: (N, 2) generated samples, tensor or array, finite.
        dataset: ``"ring8"``, ``"grid25"`` or a :class:`GaussianMixture2D`.
        threshold: how many standard deviations from a mode still count as high quality.
    """
    _check_threshold(threshold)
    points = _as_points(points)
    mixture = _as_mixture(dataset)
    means = mixture.means.detach().to("cpu", torch.float64)
    nearest, distance = _nearest_modes(points, means)
    is_high_quality = distance < float(threshold) * mixture.std
    counts = torch.bincount(nearest[is_high_quality], minlength=len(means))
    return ModeCoverage(
        modes=int((counts > 0).sum()),
        total_modes=len(means),
        high_quality=float(is_high_quality.double().mean()),
        counts=tuple(int(count) for count in counts),
        kl=_kl_from_uniform(counts),
    )
