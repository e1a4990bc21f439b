"""PGD adversarial training.

Madry, Makelov, Schmidt, Tsipras & Vladu 2018, "Towards Deep Learning Models Resistant to
Adversarial Attacks", sec. 2.1, eq. (2.1), the saddle point problem

    min_theta rho(theta),   rho(theta) = E_{(x, y) ~ D} [ max_{delta in S} L(theta, x + delta, y) ],

with S the Linf ball of radius eps. Sec. 3 solves the inner maximisation by PGD from a uniform
random point of the ball and, by Danskin's theorem, takes the outer step on the gradient of the
loss at the maximiser: each minibatch is replaced by its PGD adversarial examples and the model
descends the cross-entropy on them alone. The inner PGD is ``advlab.attacks.PGD`` (its default
step 2.5 eps / steps, iterates projected onto the ball and [0, 1]), run with the model in eval
mode and differentiated with respect to the images only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.checks import check_int, check_number
from advlab.defenses.robust_training import AdversarialObjective, GeneratorPGD, TrainingStep


class PGDAdversarialTraining(AdversarialObjective):
    """CE(f(x'), y) with x' = PGD-`steps` (Linf, `eps`, step `alpha`, random start) of x.

    Args:
        eps: Linf radius of the threat model, in (0, 1].
        steps: PGD iterations of the inner maximisation (Madry et al. use 40 on MNIST; 10 here).
        alpha: PGD step size (default 2.5 eps / steps).
    """

    name = "pgd-at"

    def __init__(self, eps: float, steps: int = 10, alpha: float | None = None):
        super().__init__(eps)
        self.steps = check_int(f"{self.name}: attack steps", steps, 1)
        self.alpha = None if alpha is None else check_number(f"{self.name}: attack alpha", alpha, strict=True)

    def adversarial(self, model: nn.Module, images: Tensor, labels: Tensor, generator: torch.Generator) -> Tensor:
        """The inner maximisation: PGD's last iterate, detached, inside the eps-ball and [0, 1]."""
        attack = GeneratorPGD(model, generator, eps=self.eps, alpha=self.alpha, steps=self.steps)
        return attack(images, labels)

    def craft(self, model: nn.Module, images: Tensor, labels: Tensor, generator: torch.Generator) -> Tensor:
        return self.adversarial(model, images, labels, generator)

    def loss_on(self, model: nn.Module, images: Tensor, labels: Tensor, adversarial: Tensor) -> TrainingStep:
        """CE(f(x'), y) at the given x' (the base class's ``loss`` crafts x' first)."""
        logits = model(adversarial)
        return TrainingStep(F.cross_entropy(logits, labels), logits, adversarial)

    def options(self) -> dict:
        return {"eps": self.eps, "steps": self.steps, "alpha": self.alpha or 2.5 * self.eps / self.steps}
