"""The auxiliary classifier GAN's players (Odena et al. 2017, "Conditional image synthesis with
auxiliary classifier GANs", sec. 3).

G draws X_fake = G(c, z) for a class c; D sees only the image and returns two heads: a
probability distribution over sources, P(S | X) (here its raw score, one per sample, read by
an advlab GANLoss), and one over the class labels, P(C | X) (here logits, one per class).
The heads share D's trunk: the DCGAN discriminator's convolutional stack down to its start side
(4x4 at 32, 7x7 at MNIST's 28); the source head is that discriminator's own last layer (a
convolution over the whole map to one channel) and the class head the same to `classes`
channels, i.e. a linear map of the flattened features, as the paper's fully connected outputs.

`ACGANGenerator` is the conditional DCGAN generator of advlab.models.conditional (an
embedding of c concatenated to z), as the paper's G takes both c and z. The losses are in
advlab.gan.acgan_loss.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from advlab.core.checks import check_int
from advlab.models.conditional import ConditionalDCGANGenerator
from advlab.models.dcgan import DCGANDiscriminator, init_dcgan_weights

ACGANGenerator = ConditionalDCGANGenerator


class ACGANScores(NamedTuple):
    """What an ACGAN discriminator returns: a plain tuple (source, class_logits)."""

    #: (N,) raw source scores, higher meaning "real"
    source: torch.Tensor
    #: (N, classes) unnormalised log-probabilities of the classes
    class_logits: torch.Tensor


class ACGANDiscriminator(nn.Module):
    """images (N, channels, resolution, resolution) in [0, 1] -> ACGANScores(source (N,), class_logits (N, classes)).

    Args:
        resolution: image side, 4 to 7 times a power of two, >= 8 (default 32; 28 for MNIST).
        classes: number of classes (default 10).
        channels: image channels (default 1).
        width: channels of the first convolution; each later one doubles it (default 64).
        norm: the trunk's normalisation, "batch" (default), "layer" or "none".
    """

    def __init__(self, resolution: int = 32, classes: int = 10, channels: int = 1, width: int = 64,
                 norm: str = "batch"):
        super().__init__()
        self.classes = check_int("classes", classes, 1)
        layers = DCGANDiscriminator(resolution, channels, width, norm).net
        self.trunk = nn.Sequential(*layers[:-1])
        self.source_head = layers[-1]
        self.class_head = nn.Conv2d(self.source_head.in_channels, classes, self.source_head.kernel_size, 1, 0)
        init_dcgan_weights(self.class_head)
        nn.init.zeros_(self.class_head.bias)

    def forward(self, x: torch.Tensor) -> ACGANScores:
        features = self.trunk(x * 2 - 1)
        return ACGANScores(self.source_head(features).flatten(), self.class_head(features).flatten(1))
