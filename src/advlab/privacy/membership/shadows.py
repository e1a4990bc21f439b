"""Shadow models: models trained like the target on known random halves of a data pool.

Shokri et al. 2017 (sec. IV-B) train shadow models to imitate the target; Carlini et al. 2022 (LiRA,
sec. 4.1 and their reference code) draw the halves so that every pool example is IN the training set
of exactly half of the shadows and OUT of the other half, which gives every example the same number
of IN and OUT models for its per-example Gaussians. :func:`balanced_membership` draws that matrix;
:func:`paired_membership` draws one that also grows: shadows in pairs on complementary halves, so the
matrix for S shadows is the first S rows of the one for more (shadow models trained before are reused);
:class:`ShadowSet` holds the trained models beside it. advlab.pipelines.security.shadow_models trains the same
set as classifier runs (saved, reused between attacks); :func:`train_shadows` is the library's way with
a caller's training function.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm import tqdm

from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator

# train_fn(images, labels, seed) -> a trained nn.Module: the target's recipe, on the rows given
TrainFn = Callable[[Tensor, Tensor, int], nn.Module]


@dataclass
class ShadowSet:
    """`models[s]` was trained on the pool rows where `members[s]` is True ((S, N) bool, on the CPU)."""

    models: list[nn.Module]
    members: Tensor

    def __post_init__(self):
        if self.members.dtype != torch.bool or self.members.dim() != 2 or len(self.members) != len(self.models):
            raise AdvlabError(f"a shadow set needs one bool membership row per model: {len(self.models)} models, "
                              f"membership of shape {tuple(self.members.shape)}")

    def __len__(self) -> int:
        return len(self.models)


def balanced_membership(shadows: int, pool: int, seed: int) -> Tensor:
    """An (S, N) bool matrix, seeded, in which each column has exactly floor(S / 2) True entries: pool example i
    is IN the training set of half of the shadows (Carlini et al. 2022, sec. 4.1). One shadow trains on a random
    half of the pool (Shokri et al. 2017)."""
    if shadows < 1 or pool < 2:
        raise AdvlabError(f"shadow models need at least 1 shadow and 2 pool examples, got {shadows} and {pool}")
    generator = make_generator(seed, torch.device("cpu"))
    if shadows == 1:
        return (torch.randperm(pool, generator=generator) < pool // 2).view(1, pool)
    ranks = torch.rand(shadows, pool, generator=generator).argsort(0).argsort(0)
    return ranks < shadows // 2


def paired_membership(shadows: int, pool: int, seed: int) -> Tensor:
    """An (S, N) bool matrix, seeded, whose first S rows are the same for every larger S: shadows 2k and 2k + 1
    train on complementary halves of the pool (the k-th seeded permutation cut at floor(N / 2)), so for every
    even S each pool example is IN exactly S / 2 shadows (Carlini et al. 2022, sec. 4.1), and for odd S the last,
    unpaired shadow adds one IN for half of the examples. Asking for more shadows later keeps the ones trained."""
    if shadows < 1 or pool < 2:
        raise AdvlabError(f"shadow models need at least 1 shadow and 2 pool examples, got {shadows} and {pool}")
    generator = make_generator(seed, torch.device("cpu"))
    halves = [torch.randperm(pool, generator=generator) < pool // 2 for _ in range((shadows + 1) // 2)]
    rows = [row for half in halves for row in (half, ~half)]
    return torch.stack(rows[:shadows])


def train_shadows(train_fn: TrainFn, images: Tensor, labels: Tensor, shadows: int, seed: int = 0,
                  progress: bool = False) -> ShadowSet:
    """`shadows` models, each `train_fn` on its IN rows of the pool (images, labels), seeds seed, seed + 1, ...;
    `progress` shows a bar on stderr, one step per shadow."""
    members = balanced_membership(shadows, len(images), seed)
    rows = tqdm(members, disable=not progress, unit="shadow", desc="shadow models", file=sys.stderr,
                dynamic_ncols=True)
    models = [train_fn(images[row], labels[row], seed + index) for index, row in enumerate(rows)]
    return ShadowSet(models, members)


__all__ = ["ShadowSet", "TrainFn", "balanced_membership", "paired_membership", "train_shadows"]
