"""TRADES: the trade-off between natural accuracy and robustness, as a surrogate loss.

Zhang, Yu, Jiao, Xing, El Ghaoui & Jordan 2019, "Theoretically Principled Trade-off between
Robustness and Accuracy", sec. 4, eq. (5) and Algorithm 1:

    min_f E { CE(f(X), Y) + beta * max_{X' in B(X, eps)} KL( f(X) || f(X') ) },

f(X) the softmax output and beta = 1 / lambda (the paper's 1 and 6 trade accuracy for
robustness). Algorithm 1's inner maximisation starts at X' = X + 0.001 N(0, I) (projected onto
the ball and [0, 1] here) and takes `steps` projected sign-gradient steps of size `alpha` on the
KL term, with f(X) held fixed and the model in eval mode, as the authors' code does: the loop of the TPGD
attack (advlab.attacks.tpgd.kl_ascent), called here. The outer
loss is the clean cross-entropy plus beta times the batch mean of KL(f(X) || f(X')), differentiated
through both f(X) and f(X') (also as the authors' code does).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.attacks.tpgd import kl_ascent, kl_divergence
from advlab.core.checks import check_int, check_number
from advlab.core.modes import evaluating
from advlab.defenses.robust_training import AdversarialObjective, TrainingStep


class TRADES(AdversarialObjective):
    """CE(f(x), y) + beta * KL(f(x) || f(x')), x' maximising the KL in the Linf ball of radius eps.

    Args:
        eps: Linf radius, in (0, 1].
        steps: sign-gradient steps of the inner maximisation.
        alpha: their step size (default 2.5 eps / steps).
        beta: weight of the robust KL term (the paper's 1 / lambda; 6 in its experiments).
    """

    name = "trades"

    def __init__(self, eps: float, steps: int = 10, alpha: float | None = None, beta: float = 6.0):
        super().__init__(eps)
        self.steps = check_int(f"{self.name}: attack steps", steps, 1)
        self.alpha = 2.5 * self.eps / self.steps if alpha is None else \
            check_number(f"{self.name}: attack alpha", alpha, strict=True)
        self.beta = check_number(f"{self.name}: beta", beta)

    def adversarial(self, model: nn.Module, images: Tensor, generator: torch.Generator) -> Tensor:
        """Algorithm 1, lines 4-7: x' of (locally) largest KL(f(x) || f(x')), detached."""
        images = images.detach()
        with evaluating(model), torch.enable_grad():
            clean_logits = model(images).detach()
            return kl_ascent(model, images, clean_logits, self.eps, self.alpha, self.steps, generator)

    def craft(self, model: nn.Module, images: Tensor, labels: Tensor, generator: torch.Generator) -> Tensor:
        return self.adversarial(model, images, generator)  # the labels are not used: x' maximises the KL

    def loss_on(self, model: nn.Module, images: Tensor, labels: Tensor, adversarial: Tensor) -> TrainingStep:
        """CE(f(x), y) + beta KL(f(x) || f(x')) at the given x' (the base class's ``loss`` crafts x' first)."""
        logits = model(images)
        robust = kl_divergence(logits, model(adversarial)).mean()
        return TrainingStep(F.cross_entropy(logits, labels) + self.beta * robust, logits, adversarial)

    def options(self) -> dict:
        return {"eps": self.eps, "steps": self.steps, "alpha": self.alpha, "beta": self.beta}
