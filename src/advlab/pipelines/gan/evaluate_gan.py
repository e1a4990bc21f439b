"""Judge a generator: the metric suite on one trained run, or every few steps during training.

Metrics (names for ``--metrics``):

* ``fid``  Fréchet distance between Gaussian fits of real and generated features (Heusel et al. 2017);
* ``kid``  unbiased MMD² with the cubic polynomial kernel, mean and std over subsets (Bińkowski et al. 2018);
* ``is``   Inception Score of the feature classifier's predictions, over 10 splits (Salimans et al. 2016);
* ``prdc`` improved precision/recall, k=3 (Kynkäänniemi et al. 2019), density/coverage, k=5 (Naeem et al. 2020);
* ``modes`` 2-D mixtures: modes covered, high-quality fraction and KL to uniform (VEEGAN, PacGAN); images:
  the classes the feature classifier predicts (10 for digits, 1000 triples for stacked digits) and their KL;
* ``birthday`` support size by the birthday paradox (Arora & Zhang 2017), in pixel and feature space.

Feature space: images go through a feature network (``features``: ``digits`` or ``mnist``, trained by advlab and
cached, or ``inception:PATH``; ``auto``, the default, picks ``mnist`` for mnist and stacked-mnist runs and ``digits``
otherwise, :func:`advlab.metrics.features.feature_spec_for`); 2-D points are their own features. The real side is
``min(n, len(data))`` rows of the run's data drawn by a seeded permutation (``n`` fresh samples of a generated
mixture). As a yardstick, every distance is also computed between two disjoint halves of the real sample
(``real_*`` figures): a generator cannot be expected to beat real data against itself at that sample size.

Under torchrun (stylegan2-ada-pytorch's metric_utils: features on shares of the images, gathered) every rank
draws the same seeded samples, embeds its chunks of EMBED_BATCH images (the feature network's own batch, so a
chunk is computed exactly as one process computes it), and gathers every chunk's features in order; the metrics
are then computed on every rank from the same features, so every rank holds one process's figures.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import torch
from torch import Tensor

from advlab.core.distributed import Distributed, context
from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator
from advlab.data import GaussianMixture2D
from advlab.data.stacked_digits import stack_labels
from advlab.metrics import (
    birthday_support,
    calibrate_threshold,
    fid,
    inception_score,
    kid,
    label_modes,
    load_feature_net,
    mode_coverage,
    prdc,
)
from advlab.metrics.birthday import BirthdaySupport
from advlab.metrics.features import AUTO, resolve_spec

METRICS = ("fid", "kid", "is", "prdc", "modes", "birthday")
FEATURE_METRICS = frozenset({"fid", "kid", "is", "prdc"})
KID_SUBSET = 1000
KID_SUBSETS = 100
IS_SPLITS = 10
PR_K, DC_K = 3, 5
EMBED_BATCH = 500  # images per forward pass of the feature network, and per chunk under torchrun

Draw = Callable[[int, int], Tensor]  # (n, seed) -> n samples


def parse_metrics(text: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``"fid,kid"`` (or a sequence) -> ("fid", "kid"); unknown names are an AdvlabError."""
    names = [part.strip() for part in (text.split(",") if isinstance(text, str) else text)]
    names = [name for name in names if name]
    unknown = [name for name in names if name not in METRICS]
    if unknown or not names:
        raise AdvlabError(f"unknown metric {unknown[0]!r}; valid metrics are: {', '.join(METRICS)}"
                          if unknown else f"no metric given; valid metrics are: {', '.join(METRICS)}")
    return tuple(dict.fromkeys(names))


@dataclass
class Evaluation:
    """The figures of one evaluation (flat numbers, for metrics.jsonl and eval.json) and its extras."""

    figures: dict[str, float | int | None]
    mode_counts: tuple[int, ...] | None = None
    birthday: dict[str, BirthdaySupport] = field(default_factory=dict)
    real_features: Tensor | None = None
    fake_features: Tensor | None = None


class Evaluator:
    """Computes the chosen metrics of a generator against a fixed real sample.

    Args:
        data: the run's data set (TensorData or GaussianMixture2D).
        metrics: names from METRICS.
        n: generated samples per evaluation (and the cap on real samples).
        features: feature network spec for images: ``auto`` (the data's own: ``mnist`` for mnist and
            stacked-mnist, ``digits`` otherwise), ``digits``, ``mnist`` or ``inception:PATH``.
        seed: fixes the real sample, the KID subsets and the birthday batches.
        device: where the feature network runs.
        ctx: the distributed context whose ranks share the embedding (None: the process's); under torchrun every
            rank builds the Evaluator and calls ``evaluate`` together.
    """

    def __init__(self, data, metrics: tuple[str, ...], n: int, features: str = AUTO, seed: int = 0,
                 device: torch.device | str = "cpu", progress: bool = False, ctx: Distributed | None = None):
        if n < 2 * IS_SPLITS:
            raise AdvlabError(f"--n must be at least {2 * IS_SPLITS} for the metrics to mean anything, got {n}")
        self.data, self.metrics, self.n, self.seed = data, parse_metrics(metrics), n, seed
        self.ctx = context() if ctx is None else ctx
        self.points = data.kind == "points"
        if self.points and "is" in self.metrics:
            raise AdvlabError("the inception score needs images and a classifier; 2-D points have neither "
                              "(drop 'is' from --metrics)")
        self.real = self._real_sample().cpu()
        needs_net = not self.points and (FEATURE_METRICS | {"modes", "birthday"}) & set(self.metrics)
        self.net = self._feature_net(features, device, progress) if needs_net else None
        self.real_features, self.real_logits = self.embed(self.real)

    def _feature_net(self, features: str, device: torch.device | str, progress: bool):
        """The feature network; under torchrun rank 0 loads it first (training and caching it if it must), then
        the other ranks read it from the cache."""
        spec, size = resolve_spec(features, self.data.name), self.data.sample_shape[-1]
        net = load_feature_net(spec, image_size=size, device=device, progress=progress) if self.ctx.is_main else None
        self.ctx.barrier()
        return net if net is not None else load_feature_net(spec, image_size=size, device=device, progress=False)

    def _real_sample(self) -> Tensor:
        generator = make_generator(self.seed, torch.device("cpu"))
        if isinstance(self.data, GaussianMixture2D):
            return self.data.sample(self.n, generator)
        rows = torch.randperm(len(self.data), generator=generator)[: self.n]
        return self.data.data.cpu()[rows]

    def embed(self, samples: Tensor) -> tuple[Tensor, Tensor | None]:
        """(features, logits) of samples: the feature network's for images (chunks of EMBED_BATCH shared out
        among the ranks and gathered in order), the points themselves otherwise."""
        if self.net is None:
            return samples.reshape(len(samples), -1).double(), None
        parts = self.ctx.map_chunks(lambda rows: self.net.embed(samples[rows], EMBED_BATCH), len(samples),
                                    EMBED_BATCH)
        return torch.cat([features for features, _ in parts]), torch.cat([logits for _, logits in parts])

    @property
    def feature_spec(self) -> str:
        return "points" if self.net is None else self.net.spec

    def evaluate(self, draw: Draw) -> Evaluation:
        """Draw ``n`` samples with ``draw(n, seed)`` and compute every chosen metric."""
        fake = draw(self.n, self.seed + 1).detach().cpu()
        fake_features, fake_logits = self.embed(fake)
        result = Evaluation(figures={}, real_features=self.real_features, fake_features=fake_features)
        for name in self.metrics:
            getattr(self, f"_{name}")(result, fake, fake_features, fake_logits, draw)
        return result

    # -- one method per metric: each adds its figures (and extras) to the result

    # -- the real-data yardsticks depend on the real sample alone: computed once, on first use

    @cached_property
    def real_fid(self) -> float:
        """FID between two disjoint halves of the real sample."""
        half = len(self.real_features) // 2
        return fid(self.real_features[:half], self.real_features[half:2 * half])

    @cached_property
    def real_inception_score(self) -> float:
        real = torch.softmax(self.real_logits.double().reshape(-1, self.real_logits.shape[-1]), -1)
        return inception_score(real, splits=IS_SPLITS)[0]

    @cached_property
    def real_modes(self):
        """label_modes of the real sample, as the feature classifier counts them."""
        labels, total = self._mode_labels(self.real_logits)
        return label_modes(labels, total)

    def _fid(self, result: Evaluation, fake, fake_features, fake_logits, draw) -> None:
        result.figures.update(fid=fid(self.real_features, fake_features), real_fid=self.real_fid)

    def _kid(self, result: Evaluation, fake, fake_features, fake_logits, draw) -> None:
        size = min(KID_SUBSET, len(self.real_features) // 2, len(fake_features) // 2)  # several distinct subsets
        mean, std = kid(self.real_features, fake_features, subsets=KID_SUBSETS, subset_size=size, seed=self.seed)
        result.figures.update(kid=mean, kid_std=std, kid_subset=size)

    def _is(self, result: Evaluation, fake, fake_features, fake_logits, draw) -> None:
        probabilities = torch.softmax(fake_logits.double().reshape(-1, fake_logits.shape[-1]), -1)
        mean, std = inception_score(probabilities, splits=IS_SPLITS)
        result.figures.update(inception_score=mean, inception_score_std=std,
                              real_inception_score=self.real_inception_score)

    def _prdc(self, result: Evaluation, fake, fake_features, fake_logits, draw) -> None:
        result.figures.update(prdc(self.real_features, fake_features, k_precision=PR_K, k_density=DC_K)._asdict())

    def _modes(self, result: Evaluation, fake, fake_features, fake_logits, draw) -> None:
        if self.points:
            if not isinstance(self.data, GaussianMixture2D):
                raise AdvlabError(f"mode counting on points needs a known mixture (ring8, grid25), "
                                  f"not {self.data.name!r}")
            coverage = mode_coverage(fake, self.data)
            result.figures.update(modes=coverage.modes, total_modes=coverage.total_modes,
                                  high_quality=coverage.high_quality, kl=coverage.kl)
            result.mode_counts = coverage.counts
            return
        labels, total = self._mode_labels(fake_logits)
        modes = label_modes(labels, total)
        result.figures.update(modes=modes.modes, total_modes=total, kl=modes.kl, real_modes=self.real_modes.modes,
                              real_kl=self.real_modes.kl)
        result.mode_counts = modes.counts

    def _mode_labels(self, logits: Tensor) -> tuple[Tensor, int]:
        """One mode per sample: the predicted class, or for a grayscale classifier on C channels (stacked
        digits) the C-digit number the channels spell, base ``classes``."""
        predicted = logits.argmax(-1).reshape(len(logits), -1)
        classes = logits.shape[-1]
        return stack_labels(predicted, classes), classes ** predicted.shape[1]

    def _birthday(self, result: Evaluation, fake, fake_features, fake_logits, draw) -> None:
        seeds = itertools.count(self.seed + 1000)  # fresh noise for every batch of the ladder

        def sample(size: int) -> Tensor:
            return draw(size, next(seeds)).detach().cpu()

        spaces = {"pixel": None} if self.net is None else {"pixel": None, "features": self.net.features}
        for space, embed in spaces.items():
            reference = self.real if embed is None else self.real_features
            threshold = calibrate_threshold(reference)
            found = birthday_support(sample, threshold=threshold, embed=embed)
            result.birthday[space] = found
            suffix = "" if space == "pixel" else "_features"
            result.figures.update({f"support{suffix}": found.support, f"support_low{suffix}": found.low,
                                   f"support_high{suffix}": found.high})
