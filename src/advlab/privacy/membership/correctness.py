"""The correctness (gap) attack: a member is an example the victim labels correctly.

Yeom, Giacomelli, Fredrikson & Jha 2018, "Privacy Risk in Machine Learning: Analyzing the Connection to
Overfitting" (CSF), sec. 3 (for classification: guess "member" iff the model's label is right); its
advantage is the generalisation gap, train accuracy minus test accuracy, which is why
Choquette-Choo et al. 2021 call it the gap attack, the baseline of label-only membership inference. It needs
only the victim's labels, so it applies to label-only victims. Score 1.0 for a correct label, 0.0 otherwise:
its ROC has a single interior point (FPR = test accuracy, TPR = train accuracy).
"""

from __future__ import annotations

from torch import Tensor

from advlab.privacy.membership.base import MembershipAttack


class CorrectnessAttack(MembershipAttack):
    """Score = 1.0 where the victim's label equals the true label, else 0.0 (Yeom et al. 2018, sec. 3);
    label-only; no options."""

    name = "the correctness attack"
    needs_scores = False
    needs_shadows = False

    def score(self, victim, images: Tensor, labels: Tensor, pool_rows: Tensor | None = None) -> Tensor:
        images, labels = self.check_examples(images, labels)
        return (self.victim(victim).labels(images).cpu() == labels).double()


__all__ = ["CorrectnessAttack"]
