"""Memorisation of a generator: is each generated sample a copy of a training image?

For each generated sample x̂ the nearest training image t(x̂) and the nearest held-out real image h(x̂)
(Euclidean distance on flattened pixels, or on ``embed(x)`` features) give the *copy ratio*

    r(x̂) = ||x̂ - t(x̂)|| / ||x̂ - h(x̂)||.

A generator that learned the distribution lands as close to unseen real images as to its training images
(r around 1 or above); one that copies lands on a training image (r near 0). This is the distance-ratio test of
Carlini et al. 2023, "Extracting Training Data from Diffusion Models" (sec. 5, eq. 1 divides the distance to the
nearest training image by the distances to its other neighbours, and their CIFAR-10 experiments flag a sample
as memorised when the ratio is below 1/3); here the denominator is the nearest *held-out* real image, as in the
memorisation checks of Meehan et al. 2020 ("A Non-Parametric Test to Detect Data-Copying in Generative Models",
which also compare generated-to-train against held-out-to-train distances). A sample with r < ``threshold``
(default 1/3) is flagged as a copy.

Nearest-neighbour distances fall as a reference set grows, so the ratio compares like with like only when the
two sets are about the same size: by default (``balance=True``) the larger of the training and held-out sets is
subsampled (seeded) to the size of the smaller. The birthday-paradox support estimate
(:func:`advlab.metrics.birthday.birthday_support`, Arora & Zhang 2017) can be computed beside it: a generator
that replays 64 images has a support of about 64.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from advlab.attacks.base import check_images
from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator
from advlab.metrics.birthday import BirthdaySupport, birthday_support
from advlab.metrics.distances import pairwise_chunks

DEFAULT_THRESHOLD = 1 / 3  # Carlini et al. 2023, sec. 5 (CIFAR-10)
Embedding = Callable[[Tensor], Tensor]


def nearest_in(queries: Tensor, reference: Tensor) -> tuple[Tensor, Tensor]:
    """Each query row's nearest reference row: (distances (n,), indices (n,)), Euclidean.

    Squared distances come in chunks (:func:`advlab.metrics.distances.pairwise_chunks`); the distance of the
    chosen neighbour is recomputed as |q - r| in float64 so that an exact copy comes out at exactly 0.

    Args:
        queries: (n, d) float rows; reference: (m, d) float rows, m >= 1, same device.
    """
    indices = torch.empty(len(queries), dtype=torch.int64, device=queries.device)
    for rows, squared in pairwise_chunks(queries, reference):
        indices[rows] = squared.argmin(1)
    distances = (queries.double() - reference[indices].double()).norm(dim=1)
    return distances, indices


def as_rows(images: Tensor, embed: Embedding | None, name: str) -> Tensor:
    """(n, d) rows: the flattened images, or ``embed(images)`` (checked: n finite rows)."""
    if embed is None:
        return images.reshape(len(images), -1).float()
    with torch.no_grad():
        rows = embed(images)
    if not isinstance(rows, Tensor) or rows.ndim != 2 or len(rows) != len(images):
        shape = tuple(rows.shape) if isinstance(rows, Tensor) else type(rows).__name__
        raise AdvlabError(f"embed must map {name} (n, C, H, W) to features (n, d), got {shape}")
    if not torch.isfinite(rows).all():
        raise AdvlabError(f"embed gave NaN or infinite features for {name}")
    return rows.detach().float().cpu()


@dataclass(frozen=True)
class Memorisation:
    """What :func:`memorisation` found, one entry per generated sample (M of them).

    Attributes:
        train_distances: (M,) float64, distance to the nearest training image.
        train_indices: (M,) int64, its row in the training images given (not the balanced subset).
        held_out_distances: (M,) float64, distance to the nearest held-out real image.
        ratios: (M,) float64, train_distances / held_out_distances (0 for an exact copy; +inf when a sample
            equals a held-out image but no training image).
        threshold: the ratio below which a sample is a copy.
        copied: (M,) bool, ratios < threshold.
        pairs: (flagged samples (k, C, H, W), their nearest training images (k, C, H, W)), lowest ratio first,
            at most ``top_pairs`` of them.
        pair_ratios: (k,) float64, the ratios of those pairs.
        birthday: the birthday support estimate, or None when no sampler was given.
    """

    train_distances: Tensor
    train_indices: Tensor
    held_out_distances: Tensor
    ratios: Tensor
    threshold: float
    copied: Tensor
    pairs: tuple[Tensor, Tensor]
    pair_ratios: Tensor
    birthday: BirthdaySupport | None

    @property
    def copy_share(self) -> float:
        """The share of generated samples flagged as copies, in [0, 1]."""
        return float(self.copied.double().mean())

    def summary(self) -> dict:
        """Plain JSON figures: copy share, threshold, median ratio and distances, birthday support."""
        figures = {"copy_share": self.copy_share, "ratio_threshold": self.threshold,
                   "median_ratio": float(self.ratios.median()), "samples": len(self.ratios),
                   "median_train_distance": float(self.train_distances.median()),
                   "median_held_out_distance": float(self.held_out_distances.median()),
                   "copied_training_images": int(self.train_indices[self.copied].unique().numel())}
        if self.birthday is not None:
            figures.update(birthday_support=self.birthday.support, birthday_low=self.birthday.low,
                           birthday_high=self.birthday.high)
        return figures


def balanced(train: Tensor, held_out: Tensor, seed: int) -> tuple[Tensor, Tensor]:
    """(rows kept of train, rows kept of held_out): the larger set subsampled without replacement to the other's
    size (seeded), the smaller kept whole."""
    generator = make_generator(seed, torch.device("cpu"))
    size = min(len(train), len(held_out))
    keep = [torch.randperm(len(rows), generator=generator)[:size].sort().values if len(rows) > size
            else torch.arange(len(rows)) for rows in (train, held_out)]
    return keep[0], keep[1]


def check_threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold > 0:
        raise AdvlabError(f"threshold must be a ratio > 0 (default 1/3), got {threshold!r}")
    return float(threshold)


def memorisation(samples: Tensor, train: Tensor, held_out: Tensor, threshold: float = DEFAULT_THRESHOLD,
                 embed: Embedding | None = None, balance: bool = True, seed: int = 0, top_pairs: int = 16,
                 birthday_sampler: Callable[[int], Tensor] | None = None, **birthday_options) -> Memorisation:
    """Nearest training image of each generated sample, the copy ratio, the copies flagged (module docstring).

    Args:
        samples: (M, C, H, W) generated images in [0, 1].
        train: (n, C, H, W) the generator's training images in [0, 1].
        held_out: (m, C, H, W) real images of the same distribution the generator never saw.
        threshold: a sample whose ratio is below this is a copy (default 1/3, Carlini et al. 2023).
        embed: optional callable images -> (n, d) features (e.g. ``advlab.metrics.features``'s
            ``load_feature_net("digits").features``): distances in feature space instead of pixels.
        balance: subsample the larger reference set to the smaller's size (default True; see module docstring).
        seed: seeds that subsampling.
        top_pairs: how many flagged (sample, training image) pairs to return (default 16).
        birthday_sampler: optional callable ``n -> (n, C, H, W)`` samples of the generator; when given, the
            birthday support estimate is computed with it (``birthday_options`` go to ``birthday_support``).

    Returns:
        :class:`Memorisation`.
    """
    samples = check_images(samples, "memorisation samples").cpu()
    train = check_images(train, "memorisation training images").cpu()
    held_out = check_images(held_out, "memorisation held-out images").cpu()
    shapes = {tuple(x.shape[1:]) for x in (samples, train, held_out)}
    if len(shapes) != 1:
        raise AdvlabError(f"memorisation: samples, training and held-out images must share one shape (C, H, W), "
                          f"got {tuple(samples.shape[1:])}, {tuple(train.shape[1:])} and {tuple(held_out.shape[1:])}")
    threshold = check_threshold(threshold)
    if isinstance(top_pairs, bool) or not isinstance(top_pairs, int) or top_pairs < 0:
        raise AdvlabError(f"top_pairs must be an integer >= 0, got {top_pairs!r}")
    train_rows = torch.arange(len(train))
    held_rows = torch.arange(len(held_out))
    if balance:
        train_rows, held_rows = balanced(train, held_out, seed)
    queries = as_rows(samples, embed, "the samples")
    train_distances, nearest = nearest_in(queries, as_rows(train[train_rows], embed, "the training images"))
    held_distances, _ = nearest_in(queries, as_rows(held_out[held_rows], embed, "the held-out images"))
    train_indices = train_rows[nearest]
    ratios = torch.where(train_distances == 0, torch.zeros_like(train_distances),
                         train_distances / held_distances)
    copied = ratios < threshold
    order = torch.argsort(ratios, stable=True)[:top_pairs]
    order = order[copied[order]]
    pairs = (samples[order], train[train_indices[order]])
    birthday = None
    if birthday_sampler is not None:
        birthday = birthday_support(birthday_sampler, embed=embed, **birthday_options)
    return Memorisation(train_distances, train_indices, held_distances, ratios, threshold, copied, pairs,
                        ratios[order], birthday)


__all__ = ["DEFAULT_THRESHOLD", "Memorisation", "memorisation", "nearest_in"]
