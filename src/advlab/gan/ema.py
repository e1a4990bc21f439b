"""Exponential moving average of the generator's weights.

theta_ema <- decay * theta_ema + (1 - decay) * theta after every generator step, as in
Yazici et al. 2019 ("The unusual effectiveness of averaging in GAN training") and Karras et
al. 2018; buffers (batch-norm statistics) are copied. The averaged copy is only sampled from.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class GeneratorEMA:
    """Keeps `self.model`, an averaged copy of `generator` in eval mode."""

    def __init__(self, generator: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(generator).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        averaged = list(self.model.parameters())
        torch._foreach_lerp_(averaged, [p.detach() for p in generator.parameters()], 1.0 - self.decay)
        for mine, theirs in zip(self.model.buffers(), generator.buffers()):
            mine.copy_(theirs)
