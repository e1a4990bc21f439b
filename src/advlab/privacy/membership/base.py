"""What every membership inference attack shares: the fit / score contract and its input checks.

An attack is a small class. ``needs_scores`` says whether it needs the victim's scores (False only for the
label-only ones), ``needs_shadows`` whether it learns from shadow models (Shokri et al. 2017, sec. IV-B;
Carlini et al. 2022, sec. 4). Its options are keyword arguments documented in the class's ``Args:`` section
(the CLI builds its flags from them, advlab.core.parameters).

* ``attack.fit(train_fn, images, labels, seed=0)`` trains the attack's shadows on the pool (images, labels)
  with :func:`advlab.privacy.membership.shadows.train_shadows` (nothing for attacks without shadows);
* ``attack.fit_shadows(shadow_set, images, labels)`` uses shadows trained elsewhere (``shadow_set.members``
  relative to that pool); the shadows' outputs on the pool are computed here, once, and kept;
* ``attack.score(victim, images, labels, pool_rows=None)`` -> (N,) float64, higher = more likely a member.
  ``pool_rows[i]`` is the pool index of example i; None means example i is pool row i, which needs
  len(images) == pool size, except for attacks that score any example (``scores_any_example``): those treat
  images that are not the pool as seen by no shadow.
"""

from __future__ import annotations

import torch
from torch import Tensor

from advlab.attacks.base import check_images, check_labels
from advlab.core.errors import AdvlabError
from advlab.core.parameters import class_parameters
from advlab.privacy.membership.shadows import ShadowSet, TrainFn, train_shadows
from advlab.privacy.victim import Victim, as_victim

DEFAULT_SHADOWS = 16  # the example and the LiRA paper's smallest figure budget


class MembershipAttack:
    """A membership inference attack; see the module docstring for the contract."""

    name = "membership inference"
    needs_scores: bool = True
    needs_shadows: bool = False
    scores_any_example: bool = True  # False: every scored example must be a pool row (online attacks)

    shadows: int = 0
    shadow_set: ShadowSet | None = None
    pool_images: Tensor | None = None
    pool_labels: Tensor | None = None

    def fit(self, train_fn: TrainFn, images: Tensor, labels: Tensor, seed: int = 0, progress: bool = True):
        """Train `self.shadows` shadow models on random halves of the pool (images, labels) with `train_fn` (the
        target's recipe), seeds seed, seed + 1, ...; then as :meth:`fit_shadows`. Nothing for attacks without
        shadows. Returns self."""
        if not self.needs_shadows:
            return self
        images, labels = self.check_examples(images, labels, "pool")
        return self.fit_shadows(train_shadows(train_fn, images, labels, self.shadows, seed, progress), images, labels)

    def fit_shadows(self, shadow_set: ShadowSet, images: Tensor, labels: Tensor):
        """Use `shadow_set`, trained on rows of the pool (images, labels); its outputs on the pool are computed
        once here. Nothing for attacks without shadows. Returns self."""
        if not self.needs_shadows:
            return self
        images, labels = self.check_examples(images, labels, "pool")
        if not isinstance(shadow_set, ShadowSet):
            raise AdvlabError(f"{self.name}: shadows come as a ShadowSet, got {type(shadow_set).__name__}")
        if shadow_set.members.shape[1] != len(images):
            raise AdvlabError(f"{self.name}: the shadow set's membership covers {shadow_set.members.shape[1]} pool "
                              f"examples but the pool has {len(images)}; give the pool the shadows were trained on")
        self.shadow_set, self.pool_images, self.pool_labels = shadow_set, images, labels
        self.learn_from_shadows()
        return self

    def learn_from_shadows(self) -> None:
        """Compute and keep what the attack needs from `self.shadow_set` on the pool."""
        raise NotImplementedError

    def score(self, victim, images: Tensor, labels: Tensor, pool_rows: Tensor | None = None) -> Tensor:
        """Membership scores (N,) float64 of the labelled `images` under `victim` (anything as_victim takes);
        higher = more likely a member."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared checks

    def check_examples(self, images, labels, what: str = "examples") -> tuple[Tensor, Tensor]:
        """(images, labels) checked: float images (N, C, H, W) in [0, 1], N integer labels; on the CPU."""
        images = check_images(images, f"{self.name} {what}")
        labels = check_labels(labels, len(images), f"{self.name} {what}", "labels")
        return images.cpu(), labels.cpu()

    def victim(self, victim) -> Victim:
        """`victim` as a Victim; one that returns only labels is refused here by attacks that need scores."""
        victim = as_victim(victim)
        if self.needs_scores and victim.label_only:
            victim.log_probabilities(torch.empty(0), self.name)  # raises the Victim's label-only error
        return victim

    def check_fitted(self) -> None:
        if self.needs_shadows and self.shadow_set is None:
            raise AdvlabError(f"{self.name} learns from shadow models: call fit(train_fn, images, labels) or "
                              "fit_shadows(shadow_set, images, labels) before score")

    def pool_rows_of(self, count: int, pool_rows) -> Tensor | None:
        """The pool index of each of `count` examples (count,) int64, or None for examples that are not pool rows
        (scored as seen by no shadow; only attacks that score any example take them)."""
        pool = len(self.pool_images)
        if pool_rows is None:
            if count == pool:
                return torch.arange(pool)
            if self.scores_any_example:
                return None
            raise AdvlabError(f"{self.name} scores pool examples only (it needs IN and OUT shadows of each): got "
                              f"{count} images for a pool of {pool} without pool_rows; give pool_rows, the "
                              "pool index of each image")
        rows = torch.as_tensor(pool_rows).cpu()
        if rows.is_floating_point() or rows.dtype == torch.bool or rows.shape != (count,):
            raise AdvlabError(f"{self.name}: pool_rows must be {count} integer pool indices, one per image; "
                              f"got dtype {rows.dtype} and shape {tuple(rows.shape)}")
        if len(rows) and (int(rows.min()) < 0 or int(rows.max()) >= pool):
            raise AdvlabError(f"{self.name}: pool_rows must lie in [0, {pool - 1}] (the pool has {pool} examples), "
                              f"got values in [{int(rows.min())}, {int(rows.max())}]")
        return rows.long()

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in vars(self).items() if key in self.option_names())
        return f"{type(self).__name__}({options})"

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return tuple(parameter.name for parameter in class_parameters(cls))


__all__ = ["DEFAULT_SHADOWS", "MembershipAttack"]
