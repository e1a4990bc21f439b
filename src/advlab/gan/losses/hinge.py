"""Hinge GAN loss (Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, eq. 16 and 17).

    L_D = E_x[max(0, 1 - D(x))] + E_z[max(0, 1 + D(G(z)))]
    L_G = -E_z[D(G(z))]

D's output is a raw score (no sigmoid).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from advlab.gan.losses.base import GANLoss


class HingeLoss(GANLoss):
    name = "hinge"

    def discriminator_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - real_out).mean() + F.relu(1.0 + fake_out).mean()

    def generator_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        return -fake_out.mean()
