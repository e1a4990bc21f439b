"""Eps warm-up: adversarial training whose radius grows linearly from near 0 to eps over the first epochs.

From random weights, adversarial training at a large radius can stall at chance: on MNIST at eps 0.3 the
adversary moves every image far enough that the network never finds a signal, and the loss stays at
log 10 = 2.303 (advlab's Madry CNN, PGD-AT at eps 0.3, six epochs: 10% held out). Wong & Kolter 2018
("Provable defenses against adversarial examples via the convex outer adversarial polytope", appendix B.2)
met the same with MNIST and started eps small, increasing it linearly over the first epochs; Gowal et al.
2018 (IBP, sec. 4) ramp their eps the same way. Here the ramp is per minibatch: minibatch b (counted from
1) of the first ``warmup_batches`` trains at eps * b / warmup_batches, every later one at eps. The objective's
evaluation (PGD-10 at the full eps) and epoch check are the full objective's, so the curves always measure
the threat model the run was asked for.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from advlab.core.checks import check_int
from advlab.defenses.robust_training import AdversarialObjective, EpochCheck, TrainingObjective, TrainingStep


class EpsWarmup(TrainingObjective):
    """`objective` with its eps ramped over the first `warmup_batches` minibatches.

    Args:
        objective: the adversarial objective at the full eps (pgd-at, trades, fast-at).
        at_eps: builds the same objective at another eps (its other options unchanged).
        warmup_batches: minibatches the ramp lasts (0: none).
    """

    def __init__(self, objective: AdversarialObjective, at_eps: Callable[[float], AdversarialObjective],
                 warmup_batches: int):
        self.full, self.at_eps = objective, at_eps
        self.warmup_batches = check_int("eps warm-up batches", warmup_batches, 0)
        self.name = objective.name
        self.evaluation_key, self.evaluation_label = objective.evaluation_key, objective.evaluation_label
        self.trained_batches = 0

    def current_eps(self) -> float:
        """The eps of the next minibatch."""
        if self.trained_batches >= self.warmup_batches:
            return self.full.eps
        return self.full.eps * (self.trained_batches + 1) / self.warmup_batches

    def loss(self, model: nn.Module, images: Tensor, labels: Tensor, generator: torch.Generator) -> TrainingStep:
        eps = self.current_eps()
        self.trained_batches += 1
        objective = self.full if eps >= self.full.eps else self.at_eps(eps)
        return objective.loss(model, images, labels, generator)

    def evaluation_inputs(self, model: nn.Module, images: Tensor, labels: Tensor, seed: int) -> Tensor:
        return self.full.evaluation_inputs(model, images, labels, seed)

    def epoch_check(self, model: nn.Module, images: Tensor, labels: Tensor, seed: int) -> EpochCheck | None:
        return self.full.epoch_check(model, images, labels, seed)

    def options(self) -> dict:
        return {**self.full.options(), "eps_warmup_batches": self.warmup_batches}
