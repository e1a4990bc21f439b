"""MART: misclassification-aware adversarial training.

Wang, Zou, Yi, Bailey, Ma & Gu 2020, "Improving Adversarial Robustness Requires Revisiting Misclassified
Examples" (ICLR), sec. 3, eq. (8) and Algorithm 1. With p(x) the softmax output, x' the adversarial example
of x by PGD on the cross-entropy (eq. 3) and lambda the weight of the regulariser:

    L = 1/n sum_i  BCE(p(x'_i), y_i)  +  lambda * KL( p(x_i) || p(x'_i) ) * (1 - p_{y_i}(x_i))

    BCE(p(x'), y) = -log p_y(x') - log(1 - max_{k != y} p_k(x'))          (eq. 6, the "boosted" CE)

The margin term -log(1 - max_{k != y} p_k(x')) pushes the runner-up class down as well as the true one up;
the KL term, weighted by how badly x itself is classified, is large for the misclassified examples the paper
argues matter most. Gradients flow through p(x), p(x') and the weight 1 - p_y(x), as in the authors' code.
Here log(1 - p_k) is computed as logsumexp of the other logits minus logsumexp of all (exact and finite),
where the authors' code adds 1e-4 and 1e-12 inside the logarithm.

lambda is advlab's ``beta`` option (default 6): the same role as TRADES' beta -- the weight of a
KL(p(x) || p(x')) regulariser against the adversarial loss -- and the authors' code calls it ``beta`` too
(``--beta 6.0``, the paper's lambda in 5-6). The inner maximisation is advlab's PGD from a uniform random start
of the ball, as in PGD-AT (the paper's x' = argmax CE; the authors' code starts from x + 0.001 N(0, I)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.attacks.tpgd import kl_divergence
from advlab.core.checks import check_int, check_number
from advlab.defenses.robust_training import AdversarialObjective, GeneratorPGD, TrainingStep


def boosted_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Eq. (6) per row, (N,): -log p_y - log(1 - max_{k != y} p_k), from logits (N, classes)."""
    true_class = F.one_hot(labels, logits.shape[1]).bool()
    runner_up = logits.masked_fill(true_class, -torch.inf).argmax(1)
    without_runner_up = logits.masked_fill(F.one_hot(runner_up, logits.shape[1]).bool(), -torch.inf)
    log_not_runner_up = without_runner_up.logsumexp(1) - logits.logsumexp(1)  # log(1 - p_runner_up)
    return F.cross_entropy(logits, labels, reduction="none") - log_not_runner_up


def mart_loss(clean_logits: Tensor, adversarial_logits: Tensor, labels: Tensor, weight: float) -> Tensor:
    """Eq. (8): mean BCE(p(x'), y) + weight * mean KL(p(x) || p(x')) (1 - p_y(x)), a scalar."""
    true_probability = F.softmax(clean_logits, dim=1).gather(1, labels[:, None]).squeeze(1)
    regulariser = kl_divergence(clean_logits, adversarial_logits) * (1 - true_probability)
    return boosted_cross_entropy(adversarial_logits, labels).mean() + weight * regulariser.mean()


class MART(AdversarialObjective):
    """BCE(p(x'), y) + beta * KL(p(x) || p(x')) (1 - p_y(x)), x' = PGD-`steps` on CE (Wang et al. 2020).

    Args:
        eps: Linf radius of the threat model, in (0, 1].
        steps: PGD iterations of the inner maximisation (the paper: 10 on CIFAR-10, 40 on MNIST).
        alpha: PGD step size (default 2.5 eps / steps).
        beta: the paper's lambda, weight of the misclassification-aware KL term (the paper: 5-6; 6 here).
    """

    name = "mart"

    def __init__(self, eps: float, steps: int = 10, alpha: float | None = None, beta: float = 6.0):
        super().__init__(eps)
        self.steps = check_int(f"{self.name}: attack steps", steps, 1)
        self.alpha = None if alpha is None else check_number(f"{self.name}: attack alpha", alpha, strict=True)
        self.beta = check_number(f"{self.name}: beta (lambda)", beta)

    def craft(self, model: nn.Module, images: Tensor, labels: Tensor, generator: torch.Generator) -> Tensor:
        """Algorithm 1, line 4: PGD's last iterate on CE, detached, inside the eps-ball and [0, 1]."""
        attack = GeneratorPGD(model, generator, eps=self.eps, alpha=self.alpha, steps=self.steps)
        return attack(images, labels)

    def loss_on(self, model: nn.Module, images: Tensor, labels: Tensor, adversarial: Tensor) -> TrainingStep:
        """Eq. (8) at the given x'; the training accuracy is read from p(x')."""
        clean_logits, adversarial_logits = model(images), model(adversarial)
        return TrainingStep(mart_loss(clean_logits, adversarial_logits, labels, self.beta), adversarial_logits,
                            adversarial)

    def options(self) -> dict:
        return {"eps": self.eps, "steps": self.steps, "alpha": self.alpha or 2.5 * self.eps / self.steps,
                "beta": self.beta}
