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
        self.source: nn.Module | None = None

    def pair_with(self, generator: nn.Module) -> None:
        """Cache the tensor lists of `generator` and of the copy (rebuilt on a new generator)."""
        self.source = generator
        self.averaged, self.live = list(self.model.parameters()), list(generator.parameters())
        self.buffers, self.live_buffers = list(self.model.buffers()), list(generator.buffers())

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        if generator is not self.source:
            self.pair_with(generator)
        torch._foreach_lerp_(self.averaged, self.live, 1.0 - self.decay)
        if self.buffers:
            torch._foreach_copy_(self.buffers, self.live_buffers)
