"""RMIA: membership as a likelihood ratio against a population of reference points.

Zarifzadeh, Liu, Cheng & Shokri 2024, "Low-Cost High-Power Membership Inference Attacks" (ICML), sec. 3.
For the target model theta, an example x and a population point z (non-members of reference data), the
pairwise likelihood ratio is

    LR_theta(x, z) = (p(x | theta) / p(x)) / (p(z | theta) / p(z)),

where p(x | theta) is the model's probability of x's true label and p(x) = E_theta'[p(x | theta')] is its
average over reference (shadow) models. The score of x is the share of population points it dominates,
Score(x) = Pr_z[LR_theta(x, z) > gamma]. Online, p(x) is the mean over all reference models (half trained with
x); offline, with only OUT models, the paper approximates p(x) = (1 + a) / 2 * mean_OUT p(x | theta') +
(1 - a) / 2, a linear map from the OUT mean to the mean over IN and OUT (its sec. 3 and appendix; a is tuned
per dataset, ``offline_a``). The reference implementation (privacytrustlab/ml_privacy_meter,
``modules/mia/attacks/rmia.py``) sets a = 0.3 and gamma = 1 by default, as here.

The population is the pool (every pool row, or the ``population_rows`` the caller names, e.g. rows known to be
outside the target's training set), each z with its own reference models (its OUT ones offline). With
augmentation queries (``shift``, ``flip``) p(x | theta) is the mean of the true-class probability over the
queries. The share is counted by sorting: LR(x, z) > gamma iff p(z | theta) / p(z) < (p(x | theta) / p(x)) /
gamma, for O((N + Z) log Z) time instead of an N x Z matrix.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.privacy.membership.base import DEFAULT_SHADOWS, MembershipAttack
from advlab.privacy.membership.signals import check_views, shadow_log_probabilities, view_log_probabilities


def true_class_probability(log_probabilities: Tensor, labels: Tensor) -> Tensor:
    """p(y | x) (..., N) averaged over the augmentation queries, from log-probabilities (..., A, N, K)."""
    index = labels.view(-1, 1).expand(*log_probabilities.shape[:-1], 1)
    return log_probabilities.gather(-1, index).squeeze(-1).exp().mean(-2)


def reference_probability(probabilities: np.ndarray, members: np.ndarray, online: bool, a: float) -> np.ndarray:
    """p(x) (N,) from the reference models' p(x | theta') (S, N) with membership (S, N): the mean over all of them
    online, the offline approximation (1 + a) / 2 * mean_OUT + (1 - a) / 2 otherwise."""
    if online:
        return probabilities.mean(0)
    out = ~members
    mean_out = (probabilities * out).sum(0) / out.sum(0)
    return (1 + a) / 2 * mean_out + (1 - a) / 2


def dominated_share(ratios: np.ndarray, population_ratios: np.ndarray, gamma: float) -> np.ndarray:
    """For each ratio r_x, the share of population ratios r_z with r_x / r_z > gamma."""
    ordered = np.sort(population_ratios)
    return np.searchsorted(ordered, ratios / gamma, side="left") / len(ordered)


class RMIA(MembershipAttack):
    """The relative membership inference attack of Zarifzadeh et al. 2024 (sec. 3); see the module docstring.

    Args:
        shadows: reference models `fit` trains, each on a random half of the pool.
        online: true: p(x) the mean over all reference models (IN and OUT); false: the offline approximation
            from the OUT models alone (the paper's low-cost setting), which also scores examples outside the pool.
        offline_a: a in p(x) = (1 + a) / 2 * mean_OUT p(x | theta') + (1 - a) / 2 (offline only), in [0, 1].
        gamma: x dominates z when LR(x, z) > gamma (>= 1).
        shift: query each image shifted by up to `shift` pixels per axis, edges reflected; 0: the image alone.
        flip: also query the left-right mirror images.
    """

    name = "RMIA"
    needs_scores = True
    needs_shadows = True

    def __init__(self, shadows: int = DEFAULT_SHADOWS, online: bool = False, offline_a: float = 0.3,
                 gamma: float = 1.0, shift: int = 0, flip: bool = False):
        self.shadows = check_int("RMIA: shadows", shadows, 1)
        self.online = bool(online)
        self.offline_a = check_number("RMIA: offline_a", offline_a)
        if self.offline_a > 1:
            raise AdvlabError(f"RMIA: offline_a must lie in [0, 1], got {offline_a!r}")
        self.gamma = check_number("RMIA: gamma", gamma, 1.0)
        self.shift, self.flip = check_views(shift, flip)
        self.scores_any_example = not self.online

    def learn_from_shadows(self) -> None:
        """Keep the reference models' p(x | theta') on the pool (S, N) and p(x) of every pool row (N,)."""
        log_probabilities = shadow_log_probabilities(self.shadow_set.models, self.pool_images, self.shift, self.flip)
        self.probabilities = true_class_probability(log_probabilities, self.pool_labels).numpy()
        self.members = self.shadow_set.members.numpy()
        self.check_references(self.members)
        self.pool_reference = reference_probability(self.probabilities, self.members, self.online, self.offline_a)

    def check_references(self, members: np.ndarray) -> None:
        """Offline, every example needs an OUT reference model, or an AdvlabError."""
        out = (~members).sum(0)
        if not self.online and len(out) and out.min() < 1:
            example = int(out.argmin())
            raise AdvlabError(f"offline RMIA needs at least one OUT reference model per example, but example "
                              f"{example} has none among {len(members)} shadows; train more shadows (at least 2)")

    def probabilities_of(self, victim, images: Tensor, labels: Tensor) -> np.ndarray:
        """p(x | theta) (N,) of the target."""
        log_probabilities = view_log_probabilities(victim, images, self.shift, self.flip, self.name)
        return true_class_probability(log_probabilities, labels).numpy()

    def score(self, victim, images: Tensor, labels: Tensor, pool_rows: Tensor | None = None,
              population_rows: Tensor | None = None) -> Tensor:
        """Scores (N,) in [0, 1]; `population_rows` (pool indices) are the z points, default the whole pool."""
        images, labels = self.check_examples(images, labels)
        victim = self.victim(victim)
        self.check_fitted()
        rows = self.pool_rows_of(len(images), pool_rows)
        population = self.population_of(population_rows)
        ratios = self.probabilities_of(victim, images, labels) / self.reference_of(images, labels, rows)
        population_ratios = (self.probabilities_of(victim, self.pool_images[population], self.pool_labels[population])
                             / self.pool_reference[population.numpy()])
        return torch.from_numpy(dominated_share(ratios, population_ratios, self.gamma))

    def population_of(self, population_rows) -> Tensor:
        """The pool indices of the population points z (every pool row by default)."""
        if population_rows is None:
            return torch.arange(len(self.pool_images))
        population_rows = torch.as_tensor(population_rows)
        if population_rows.numel() == 0:
            raise AdvlabError("RMIA: population_rows is empty; give at least one pool row as a population point")
        return self.pool_rows_of(len(population_rows), population_rows)

    def reference_of(self, images: Tensor, labels: Tensor, rows: Tensor | None) -> np.ndarray:
        """p(x) (N,) of pool rows `rows`, or of `images` that no reference model saw (rows None)."""
        if rows is not None:
            return self.pool_reference[rows.numpy()]
        log_probabilities = shadow_log_probabilities(self.shadow_set.models, images, self.shift, self.flip)
        probabilities = true_class_probability(log_probabilities, labels).numpy()
        members = np.zeros(probabilities.shape, dtype=bool)
        return reference_probability(probabilities, members, self.online, self.offline_a)


__all__ = ["RMIA"]
