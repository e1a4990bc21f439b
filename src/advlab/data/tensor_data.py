"""A finite data set held in memory as one tensor.

Sampling follows Algorithm 1 of Goodfellow et al. 2014, "Generative Adversarial Nets":
"sample minibatch of m examples from the data generating distribution" -- here the
empirical distribution, so rows are drawn uniformly at random with replacement.
"""

from __future__ import annotations

import torch
from torch import Tensor

from advlab.core.errors import AdvlabError


class TensorData:
    """A data set of images (N, C, H, W) in [0, 1] or points (N, D), with optional labels.

    Args:
        data: the rows; 4-D tensors are images, anything else points.
        labels: (N,) int64 class indices, or ``None``.
        name: a short name for logs and reports.
    """

    def __init__(self, data: Tensor, labels: Tensor | None, name: str) -> None:
        if labels is not None and len(labels) != len(data):
            raise AdvlabError(
                f"data set {name!r}: expected one label per row ({len(data)}), "
                f"found {len(labels)} labels"
            )
        self.data = data
        self.labels = labels
        self.name = name

    def __repr__(self) -> str:
        return f"TensorData(name={self.name!r}, data={tuple(self.data.shape)}, kind={self.kind!r})"

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def kind(self) -> str:
        return "images" if self.data.ndim == 4 else "points"

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape[1:])

    @property
    def classes(self) -> int:
        """Number of classes (largest label + 1); an AdvlabError for data without labels."""
        self.require_labels()
        return int(self.labels.max()) + 1

    def require_labels(self) -> None:
        if self.labels is None:
            raise AdvlabError(f"data set {self.name!r} has no labels; a conditional GAN needs labelled data "
                              "(digits, stacked-digits, idx with --labels-path, or class sub-folders)")

    def row_index(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` row numbers drawn uniformly with replacement, on ``generator.device``."""
        return torch.randint(len(self), (n,), generator=generator, device=generator.device)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """Draw ``n`` rows uniformly with replacement, on ``generator.device``."""
        return self.data.to(generator.device)[self.row_index(n, generator)]

    def sample_labelled(self, n: int, generator: torch.Generator, pack: int = 1) -> tuple[Tensor, Tensor]:
        """``n`` rows and their labels, drawn as :meth:`sample` draws them; with ``pack`` > 1, in runs of
        ``pack`` rows that share a label (:meth:`same_label_rows`)."""
        self.require_labels()
        rows = self.row_index(n, generator) if pack == 1 else self.same_label_rows(n // pack, pack, generator)
        return self.data.to(generator.device)[rows], self.labels.to(generator.device)[rows]

    def same_label_rows(self, packs: int, pack: int, generator: torch.Generator) -> Tensor:
        """``packs * pack`` row numbers in runs of ``pack`` that share a label, for PacGAN in a conditional game.

        The first row of each run is uniform over all rows (so the runs' labels follow the data's label
        frequencies); the other ``pack - 1`` are uniform over the rows with that label; all with replacement.
        """
        device = generator.device
        labels = self.labels.to(device)
        order = torch.argsort(labels, stable=True)
        counts = torch.bincount(labels, minlength=self.classes)
        starts = torch.cumsum(counts, 0) - counts
        anchors = self.row_index(packs, generator)
        label = labels[anchors]
        draws = torch.rand((packs, pack - 1), generator=generator, device=device) * counts[label, None]
        offsets = torch.minimum(draws.long(), counts[label, None] - 1)
        return torch.cat([anchors[:, None], order[starts[label, None] + offsets]], dim=1).reshape(-1)

    def to(self, device: torch.device | str) -> TensorData:
        """Move data and labels to ``device``; returns ``self``."""
        self.data = self.data.to(device)
        if self.labels is not None:
            self.labels = self.labels.to(device)
        return self
