"""SAGAN's self-attention block (Zhang et al. 2018, "Self-Attention Generative Adversarial Networks", sec. 3).

The feature map x (C channels, N = H*W positions) is projected by 1x1 convolutions
f(x) = W_f x and g(x) = W_g x to C/8 channels (C-bar = C/8, the paper's choice) and by
h(x) = W_h x to C channels; then

    s_ij = f(x_i)^T g(x_j),   beta_{j,i} = exp(s_ij) / sum_i exp(s_ij)     (eq. 1)
    o_j = sum_i beta_{j,i} h(x_i)                                           (eq. 2)
    y_i = gamma * o_i + x_i                                                 (eq. 3)

with gamma a learnable scalar initialised to 0, so the block starts as the identity and the
network first relies on local (convolutional) cues. beta_{j,i} is how much position j attends
to position i; each row j sums to 1.

These are the equations as written in the first arXiv version (1805.08318v1), where W_h is
C x C. The ICML 2019 version maps h to C/8 channels and adds a further 1x1 convolution
v = W_v (C/8 -> C) after the sum in eq. 2; the authors' TensorFlow code instead uses C/2 value
channels and 2x2 max pooling of the g and h paths. With `spectral=True` the three convolutions
carry spectral norm (advlab.models.spectral_norm), as in SAGAN, where every layer of both
networks does.
"""

from __future__ import annotations

import torch
from torch import nn

from advlab.core.checks import check_int
from advlab.models.spectral_norm import apply_spectral_norm


class SelfAttention(nn.Module):
    """Self-attention over the positions of a feature map: (N, C, H, W) -> (N, C, H, W).

    Args:
        channels: C, the feature map's channels.
        spectral: spectral norm on the f, g and h convolutions (default False).

    Attributes:
        f, g: 1x1 convolutions C -> max(1, C // 8) (eq. 1); h: 1x1 convolution C -> C (eq. 2).
        gamma: the learnable scalar of eq. 3, initialised to 0.
    """

    def __init__(self, channels: int, spectral: bool = False):
        super().__init__()
        check_int("channels", channels, 1)
        hidden = max(1, channels // 8)
        self.f = nn.Conv2d(channels, hidden, 1, bias=False)
        self.g = nn.Conv2d(channels, hidden, 1, bias=False)
        self.h = nn.Conv2d(channels, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))
        if spectral:
            apply_spectral_norm(self)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """beta of eq. 1: (N, P, P) with P = H*W; entry [n, j, i] is how much position j attends to i."""
        keys, queries = self.f(x).flatten(2), self.g(x).flatten(2)         # (N, C/8, P)
        scores = queries.transpose(1, 2) @ keys                             # [n, j, i] = s_ij
        return torch.softmax(scores, dim=2)

    def attend(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(y of eq. 3 (N, C, H, W), beta of eq. 1 (N, P, P))."""
        beta = self.attention(x)
        values = self.h(x).flatten(2)                                       # (N, C, P)
        o = (values @ beta.transpose(1, 2)).view_as(x)                      # o_j = sum_i beta_ji h(x_i)
        return self.gamma * o + x, beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attend(x)[0]
