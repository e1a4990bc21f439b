"""PacGAN: the discriminator judges `pack` samples at once (Lin et al. 2018, sec. 3).

"PacGAN: The power of two samples in generative adversarial networks" keeps the GAN game and
its loss and changes only what D sees: instead of one sample, D maps a *pack* of m samples,
all real or all generated, to one score. A pack of m samples from the generator P is a sample
of the product distribution P^m, so D compares P^m with the data's Q^m; the total variation
distance between product distributions grows with m much faster for a distribution that
misses modes than for one that does not (sec. 4, Theorem 3), which is what penalises mode
collapse. Packing concatenates the m samples along the input's feature axis (sec. 3: "the
input layer is expanded by a factor of m"), so only D's first layer changes.

`Packed(discriminator, pack)` does the grouping: samples (N, C, H, W) or (N, D), N divisible by
`pack`, become (N / pack, pack * C, H, W) or (N / pack, pack * D) by joining each run of `pack`
consecutive samples (samples g*pack .. g*pack + pack - 1 form pack g, in that order along the
channel axis). The trainer packs its real and its generated minibatches separately, so a pack
never mixes the two. The wrapped D must accept `packed_input_shape(sample_shape, pack)`: build
it with `pack` times the channels (DCGANDiscriminator(channels=pack * C)) or features
(MLPDiscriminator(in_features=pack * 2)).

In a conditional game (labels beside the samples) every pack holds samples of one class, real and
generated alike (the trainer draws them so), and the wrapped D is called as D(packed samples, one label per
pack): it then compares the class-conditional P(x|y)^m with Q(x|y)^m, Lin et al.'s argument applied within
each class, where conditional GANs tend to collapse. ACGAN's D takes no labels; the trainer gives its class
term one label per pack.

With WGAN-GP the penalty interpolates the unpacked real and fake samples with one weight per pack and
hands the (N, ...) interpolates to this wrapper, which packs them like any other batch; the gradient norm
is then taken over each whole packed input -- Gulrajani et al.'s eq. 3 applied to the packed critic
(gan/losses/wasserstein_gp.py).

Progressive growing (Karras et al. 2018, fig. 2) sets the critic's stage -- resolution and fade-in weight alpha --
before every step; `Packed` passes `set_stage` on to the wrapped D and reads its `resolution` and `alpha` back, so
a packed ProGAN critic grows with the schedule like an unpacked one (packing joins channels, never pixels).
"""

from __future__ import annotations

import torch
from torch import nn

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError


def packed_input_shape(sample_shape: tuple[int, ...], pack: int) -> tuple[int, ...]:
    """The shape of one packed input, which the wrapped discriminator must accept.

    Args:
        sample_shape: the shape of one sample without the batch axis, (C, H, W) or (D,).
        pack: the number of samples per pack, >= 1.

    Returns:
        (pack * C, H, W) or (pack * D,): the first axis grows by a factor of `pack`.
    """
    check_int("pack", pack, 1)
    if len(sample_shape) == 0:
        raise AdvlabError("sample_shape must have at least one axis (channels or features), got ()")
    return (pack * int(sample_shape[0]), *(int(size) for size in sample_shape[1:]))


def pack_samples(samples: torch.Tensor, pack: int) -> torch.Tensor:
    """Join each run of `pack` consecutive samples along the channel/feature axis.

    Args:
        samples: (N, C, H, W) images or (N, D) points, N divisible by `pack`.
        pack: the number of samples per pack, >= 1.

    Returns:
        (N / pack, pack * C, H, W) or (N / pack, pack * D); pack g holds samples
        g * pack, ..., g * pack + pack - 1, in that order.
    """
    check_int("pack", pack, 1)
    if samples.dim() < 2:
        raise AdvlabError(f"PacGAN packs samples of shape (N, C, ...) or (N, D), got {tuple(samples.shape)}")
    n = samples.shape[0]
    if n % pack:
        raise AdvlabError(f"PacGAN cannot pack N={n} samples into packs of pack={pack}: N must be divisible by pack")
    return samples.reshape(n // pack, pack * samples.shape[1], *samples.shape[2:])


def pack_labels(labels: torch.Tensor, pack: int) -> torch.Tensor:
    """One label per pack from (N,) labels in which each run of `pack` shares one; AdvlabError if one does not."""
    if labels.dim() != 1 or labels.shape[0] % pack:
        raise AdvlabError(f"PacGAN needs one label per sample, N divisible by pack={pack}; got labels of shape "
                          f"{tuple(labels.shape)}")
    runs = labels.reshape(-1, pack)
    if not bool((runs == runs[:, :1]).all()):
        raise AdvlabError(f"a conditional PacGAN discriminator judges packs of one class; the labels of a pack of "
                          f"{pack} samples differ")
    return runs[:, 0]


class Packed(nn.Module):
    """A discriminator that scores packs of `pack` samples: (N, ...) -> (N / pack,).

    Args:
        discriminator: the D to wrap, built for `packed_input_shape(sample_shape, pack)` inputs and
            returning one raw score per input.
        pack: samples per pack, >= 1 (Lin et al. use 2 to 4); 1 leaves the inputs unchanged.

    The wrapped module is `self.discriminator`, so its parameters appear in a state dict under the
    prefix ``discriminator.``.
    """

    def __init__(self, discriminator: nn.Module, pack: int):
        super().__init__()
        self.pack = check_int("pack", pack, 1)
        self.discriminator = discriminator

    def forward(self, samples: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(N, C, H, W) or (N, D) samples, N divisible by pack -> D's scores of the N / pack packs.

        With `labels` (N,), the wrapped D is conditional: each pack's labels must agree, and D gets one per pack.
        """
        packed = pack_samples(samples, self.pack)
        if labels is None:
            return self.discriminator(packed)
        return self.discriminator(packed, pack_labels(labels, self.pack))

    def set_stage(self, resolution: int, alpha: float) -> None:
        """Progressive growing (Karras et al. 2018): set the wrapped D's resolution and fade-in weight."""
        set_stage = getattr(self.discriminator, "set_stage", None)
        if set_stage is None:
            raise AdvlabError(f"{type(self.discriminator).__name__} has no progressive-growing stages to set; "
                              "only a progressive critic (ProGAN) takes set_stage")
        set_stage(resolution, alpha)

    @property
    def resolution(self) -> int:
        """The wrapped progressive D's current resolution."""
        return self.discriminator.resolution

    @property
    def alpha(self) -> float:
        """The wrapped progressive D's current fade-in weight."""
        return self.discriminator.alpha

    def extra_repr(self) -> str:
        return f"pack={self.pack}"
