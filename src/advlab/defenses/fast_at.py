"""Fast adversarial training: FGSM from a random start, with a guard against catastrophic overfitting.

Wong, Rice & Kolter 2020, "Fast is better than free: Revisiting adversarial training",
Algorithm 3 (FGSM adversarial training with a random initialisation), per minibatch:

    delta = Uniform(-eps, eps)
    delta = delta + alpha * sign(grad_delta CE(f(x + delta), y)),   alpha = 1.25 eps
    delta = max(min(delta, eps), -eps)
    theta = theta - grad_theta CE(f(x + delta), y)

(x + delta also kept in [0, 1], as in the authors' code). That is PGD with one step of size
alpha from a random start (the attack ``advlab.attacks.ffgsm.FFGSM``), run here as ``GeneratorPGD``
so that its starts come from the run's generator. Sec. 5.2: FGSM training can
"catastrophically overfit" -- within an epoch, robustness to PGD collapses while robustness to
FGSM soars. The authors' remedy, early stopping, is kept here: after every epoch, PGD-5 (step
eps / 4, one restart, as in their code) measures the accuracy on a fixed training minibatch; when
it falls by more than 0.2 below the previous epoch's, training stops and the weights of the
previous epoch are restored (their code does the same with its first minibatch of the epoch).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.attacks.ffgsm import STEP_FACTOR
from advlab.attacks.pgd import PGD
from advlab.core.checks import check_number
from advlab.core.modes import evaluating
from advlab.defenses.robust_training import AdversarialObjective, EpochCheck, GeneratorPGD, TrainingStep

GUARD_STEPS = 5  # the PGD of the catastrophic-overfitting check (authors' code: 5 steps of eps / 4)
GUARD_STEP_FRACTION = 0.25
GUARD_DROP = 0.2  # a fall of the guard accuracy by more than this stops training


class FastAdversarialTraining(AdversarialObjective):
    """CE(f(x'), y) with x' = one FGSM step of size `alpha` from a uniform point of the eps-ball.

    Args:
        eps: Linf radius, in (0, 1].
        alpha: the FGSM step (default 1.25 eps, the paper's choice; 2 eps and more overfit sooner).
    """

    name = "fast-at"

    def __init__(self, eps: float, alpha: float | None = None):
        super().__init__(eps)
        self.alpha = STEP_FACTOR * self.eps if alpha is None else \
            check_number(f"{self.name}: attack alpha", alpha, strict=True)
        self.previous_guard_accuracy = 0.0

    def adversarial(self, model: nn.Module, images: Tensor, labels: Tensor, generator: torch.Generator) -> Tensor:
        """Algorithm 3, lines 3-5: x + delta, detached, inside the eps-ball and [0, 1]."""
        attack = GeneratorPGD(model, generator, eps=self.eps, alpha=self.alpha, steps=1, random_start=True)
        return attack(images, labels)

    def loss(self, model: nn.Module, images: Tensor, labels: Tensor, generator: torch.Generator) -> TrainingStep:
        adversarial = self.adversarial(model, images, labels, generator)
        logits = model(adversarial)
        return TrainingStep(F.cross_entropy(logits, labels), logits, adversarial)

    def epoch_check(self, model: nn.Module, images: Tensor, labels: Tensor, seed: int) -> EpochCheck:
        """Sec. 5.2's early stop: PGD-5 accuracy on a training minibatch against the last epoch's."""
        attack = PGD(model, eps=self.eps, alpha=GUARD_STEP_FRACTION * self.eps, steps=GUARD_STEPS, seed=seed)
        adversarial = attack(images, labels)
        with torch.no_grad(), evaluating(model):
            accuracy = float((model(adversarial).argmax(1) == labels).double().mean())
        previous, self.previous_guard_accuracy = self.previous_guard_accuracy, accuracy
        if accuracy < previous - GUARD_DROP:
            reason = (f"catastrophic overfitting: PGD-{GUARD_STEPS} accuracy on a training minibatch fell from "
                      f"{previous:.3f} to {accuracy:.3f}")
            return EpochCheck({"guard_robust_accuracy": accuracy}, stop=True, reason=reason)
        return EpochCheck({"guard_robust_accuracy": accuracy})

    def options(self) -> dict:
        return {"eps": self.eps, "alpha": self.alpha}
