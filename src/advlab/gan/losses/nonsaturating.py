"""The non-saturating GAN loss (Goodfellow et al. 2014, sec. 3, after eq. 1).

D's loss is the minimax one (eq. 1). G, instead of descending log(1 - D(G(z))), ascends
log D(G(z)): it descends -log sigmoid(f) = softplus(-f), which gives strong gradients early
in learning, when D rejects the generator's samples with high confidence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from advlab.gan.losses.minimax import MinimaxLoss


class NonSaturatingLoss(MinimaxLoss):
    name = "nonsaturating"

    def generator_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        return F.softplus(-fake_out).mean()
