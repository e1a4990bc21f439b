"""The loss threshold attack: members have lower loss.

Yeom, Giacomelli, Fredrikson & Jha 2018, "Privacy Risk in Machine Learning: Analyzing the Connection to
Overfitting" (CSF), sec. 3: guess "member" when the loss l(f(x), y) is below a threshold (in their
experiments the average training loss).
Here the score is the negative cross-entropy of the true label, -l(x, y) = log p(y | x), and the ROC sweeps
every threshold (Carlini et al. 2022 call it the "global threshold" attack, their reference ``plot.py``'s
``generate_global``). It needs no shadow models, only the victim's scores.
"""

from __future__ import annotations

from torch import Tensor

from advlab.privacy.membership.base import MembershipAttack


class LossAttack(MembershipAttack):
    """Score = log p(y | x) = -cross-entropy of the true label (Yeom et al. 2018, sec. 3); no options."""

    name = "the loss attack"
    needs_scores = True
    needs_shadows = False

    def score(self, victim, images: Tensor, labels: Tensor, pool_rows: Tensor | None = None) -> Tensor:
        images, labels = self.check_examples(images, labels)
        log_probabilities = self.victim(victim).log_probabilities(images, self.name)
        return log_probabilities.gather(1, labels.view(-1, 1)).squeeze(1)


__all__ = ["LossAttack"]
