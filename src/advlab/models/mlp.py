"""Multilayer perceptrons for 2-D data: the generator and discriminator of the toy GANs.

Goodfellow et al. 2014 use MLPs for both players; the 2-D mixture experiments of VEEGAN
(Srivastava et al. 2017) and PacGAN (Lin et al. 2018) use small fully connected networks of a
few hundred units. The discriminator returns one raw score per sample (a logit for the
sigmoid losses); the generator returns points with no output non-linearity.
"""

from __future__ import annotations

import torch
from torch import nn


def mlp(in_features: int, out_features: int, width: int, depth: int, activation: nn.Module) -> nn.Sequential:
    """`depth` hidden layers of `width` units with `activation`, then a linear output."""
    layers: list[nn.Module] = []
    features = in_features
    for _ in range(depth):
        layers += [nn.Linear(features, width), activation]
        features = width
    layers.append(nn.Linear(features, out_features))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z (N, z_dim) -> points (N, out_features), ReLU hidden layers."""

    def __init__(self, z_dim: int = 2, out_features: int = 2, width: int = 128, depth: int = 3):
        super().__init__()
        self.z_dim = z_dim
        self.net = mlp(z_dim, out_features, width, depth, nn.ReLU())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """points (N, in_features) -> raw scores (N,), LeakyReLU(0.2) hidden layers."""

    def __init__(self, in_features: int = 2, width: int = 128, depth: int = 3):
        super().__init__()
        self.net = mlp(in_features, 1, width, depth, nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)
