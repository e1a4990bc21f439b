"""Least squares GAN (Mao et al. 2017, eq. 2) with the 0-1 coding a = 0, b = 1, c = 1.

    min_D  1/2 E_x[(D(x) - b)^2] + 1/2 E_z[(D(G(z)) - a)^2]
    min_G  1/2 E_z[(D(G(z)) - c)^2]

D's output is a raw score (no sigmoid).
"""

from __future__ import annotations

import torch

from advlab.gan.losses.base import GANLoss


class LeastSquaresLoss(GANLoss):
    name = "least-squares"
    a, b, c = 0.0, 1.0, 1.0

    def discriminator_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((real_out - self.b) ** 2).mean() + 0.5 * ((fake_out - self.a) ** 2).mean()

    def generator_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((fake_out - self.c) ** 2).mean()
