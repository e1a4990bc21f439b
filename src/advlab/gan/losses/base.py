"""What every GAN loss provides: two functions of the discriminator's raw outputs.

`discriminator_loss(real_out, fake_out)` is what D *descends*; `generator_loss(fake_out)` is
what G descends. `penalty` (zero by default) adds a term that needs D itself, as WGAN-GP does.
`probability(out)` maps raw outputs to what the paper calls D(x), for logging.
"""

from __future__ import annotations

import torch
from torch import nn


class GANLoss:
    """Base class of the loss family; subclasses cite their paper and equation."""

    name = ""
    #: whether D's raw output is a logit whose sigmoid is the probability D(x)
    sigmoid_output = False

    def discriminator_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def generator_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def penalty(self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                generator: torch.Generator, share: tuple[slice, int] | None = None) -> torch.Tensor | None:
        """An extra term of D's loss that needs D itself; None for most losses. `share` = (rows, batch): the
        samples are these rows of a minibatch of `batch` (one rank's share under torchrun), and random draws are
        made for the whole minibatch, these rows kept."""
        return None

    def probability(self, out: torch.Tensor) -> torch.Tensor:
        """D(x) as the paper writes it: sigmoid of a logit, else the raw score."""
        return torch.sigmoid(out) if self.sigmoid_output else out
