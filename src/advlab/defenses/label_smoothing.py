"""Label smoothing: a training baseline, NOT an adversarial defense.

Szegedy, Vanhoucke, Ioffe, Shlens & Wojna 2016, "Rethinking the Inception Architecture for Computer Vision",
sec. 7 ("Model regularization via label smoothing"): the one-hot target delta_{k,y} is replaced by

    q'(k) = (1 - epsilon) delta_{k,y} + epsilon u(k),   u(k) = 1 / K,

and the model minimises the cross-entropy H(q', p) = (1 - epsilon) CE(p, y) + epsilon H(u, p); the paper uses
epsilon = 0.1 (on ImageNet's K = 1000). It calibrates and regularises the logits; it has no threat model. Its
gradient masking can make a network look more robust to gradient attacks than it is, which is why it is here:
a baseline to hold the robust objectives against, measured like them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.errors import AdvlabError
from advlab.defenses.robust_training import TrainingObjective, TrainingStep

SMOOTHING = 0.1  # the paper's epsilon


class LabelSmoothing(TrainingObjective):
    """H(q', p): cross-entropy against the one-hot label mixed with the uniform distribution (not a defense).

    Args:
        smoothing: epsilon, the uniform distribution's share of the target, in (0, 1) (the paper's 0.1).
    """

    name = "label-smoothing"

    def __init__(self, smoothing: float = SMOOTHING):
        if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float)) or not 0 < smoothing < 1:
            raise AdvlabError(f"{self.name}: smoothing must be a number in (0, 1), got {smoothing!r}")
        self.smoothing = float(smoothing)

    def loss(self, model: nn.Module, images: Tensor, labels: Tensor, generator: torch.Generator) -> TrainingStep:
        logits = model(images)
        return TrainingStep(F.cross_entropy(logits, labels, label_smoothing=self.smoothing), logits, images)

    def options(self) -> dict:
        return {"smoothing": self.smoothing}
