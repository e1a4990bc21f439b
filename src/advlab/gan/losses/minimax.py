"""The minimax (saturating) GAN loss of Goodfellow et al. 2014, eq. 1.

    min_G max_D V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]

D ascends V, so it descends -V = softplus(-r) + softplus(f) for logits r = logit D(x) and
f = logit D(G(z)) (log sigmoid(r) = -softplus(-r), log(1 - sigmoid(f)) = -softplus(f)).
G descends log(1 - D(G(z))) = -softplus(f), which saturates when D rejects fakes easily —
the reason the paper suggests the non-saturating form instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from advlab.gan.losses.base import GANLoss


class MinimaxLoss(GANLoss):
    name = "minimax"
    sigmoid_output = True

    def discriminator_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        return F.softplus(-real_out).mean() + F.softplus(fake_out).mean()

    def generator_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        return -F.softplus(fake_out).mean()
