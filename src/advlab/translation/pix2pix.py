"""pix2pix: paired image-to-image translation with a conditional GAN (Isola et al. 2017, "Image-to-image translation
with conditional adversarial networks", CVPR).

A generator G maps an input image x to an output G(x) (the U-Net, advlab.models.unet); a discriminator D judges
(input, output) pairs, channel-concatenated, patch by patch (the 70 x 70 PatchGAN, advlab.models.patchgan). The
objective (eq. 4) is

    G* = arg min_G max_D  L_cGAN(G, D) + lambda L_L1(G),
    L_cGAN(G, D) = E_{x,y}[log D(x, y)] + E_x[log(1 - D(x, G(x)))]            (eq. 1)
    L_L1(G)      = E_{x,y}[||y - G(x)||_1]                                     (eq. 3)

with lambda = 100. As in the paper (sec. 3.3): D and G take alternating steps, one each per iteration; D's
objective is divided by 2 ("which slows down the rate at which D learns relative to G"); G maximises log D(x, G(x))
(the non-saturating form of Goodfellow et al. 2014) instead of minimising log(1 - D(x, G(x))); Adam with lr 2e-4,
betas (0.5, 0.999). Every logit of the PatchGAN enters a binary cross-entropy and the losses are averaged over
patches and images. The L1 distance is measured on images in [-1, 1] as the reference code measures it (the
generator's tanh range), i.e. twice the distance of the [0, 1] images at advlab's boundary, so that lambda = 100
weighs it exactly as in the paper's experiments.

``objective`` is the ablation of the paper's Table 1: "l1" (L1 alone: D is neither updated nor used -- it may be
None), "cgan" (the conditional GAN alone) and "l1+cgan" (the full objective).

Inference (sec. 3.1): "At inference time, we run the generator net in exactly the same manner as during the
training phase ... we apply dropout at test time, and we apply batch normalization using the statistics of the test
batch". `translate` follows the paper by default (``test_mode="paper"``): dropout active and batch statistics of each
image on its own, as the reference code's test script (batch size 1, no --eval) computes them, so an image's output
does not depend on the other images translated with it -- and is stochastic through dropout (seed torch to repeat
it). ``test_mode="eval"`` uses the common protocol instead: no dropout, the running statistics of training.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.distributed import Distributed
from advlab.core.errors import AdvlabError
from advlab.core.game import Game
from advlab.core.precision import Precision

OBJECTIVES = ("l1", "cgan", "l1+cgan")
TEST_MODES = ("paper", "eval")


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """D's half of eq. 1, negated and halved (sec. 3.3): 0.5 * (BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)), each the
    mean over patches and images: 0.5 * (mean softplus(-real) + mean softplus(fake))."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return 0.5 * (real + fake)


def generator_gan_loss(fake_logits: Tensor) -> Tensor:
    """G's non-saturating cGAN term: BCE(D(x, G(x)), 1) = mean softplus(-D(x, G(x))) = -mean log D(x, G(x))."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def l1_distance(outputs: Tensor, targets: Tensor) -> Tensor:
    """Eq. 3 on [-1, 1] images: mean |(2 y - 1) - (2 G(x) - 1)| = 2 mean |y - G(x)| for [0, 1] outputs and targets."""
    return (2 * (outputs - targets)).abs().mean()


def _own_statistics(norm: nn.modules.batchnorm._BatchNorm, x: Tensor) -> Tensor:
    """Batch norm of each image with the statistics of that image alone (the paper's test batch of one), with the
    layer's learned scale and shift: instance normalisation by another name; the running statistics are not read
    nor updated."""
    return F.instance_norm(x, weight=norm.weight, bias=norm.bias, use_input_stats=True, eps=norm.eps)


@contextmanager
def paper_inference(module: nn.Module) -> Iterator[None]:
    """`module` as the paper runs it at test time (sec. 3.1) with a test batch of one image, for any batch: dropout
    on, every batch norm from each image's own statistics, running statistics untouched; restored afterwards."""
    modes = {m: m.training for m in module.modules()}
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    try:
        module.eval()
        for m in module.modules():
            if isinstance(m, nn.modules.dropout._DropoutNd):
                m.train()
        for norm in norms:
            norm.forward = partial(_own_statistics, norm)
        yield
    finally:
        for norm in norms:
            del norm.forward
        for m, training in modes.items():
            m.training = training


class Pix2Pix(Game):
    """The pix2pix game: G (input -> output) against a conditional PatchGAN D on (input, output) pairs.

    Args:
        generator: (N, C_in, H, W) [0, 1] -> (N, C_out, H, W) [0, 1], e.g. ``UNetGenerator(C_in, C_out, H)``.
        discriminator: (N, C_in + C_out, H, W) [0, 1] -> logits, e.g. ``PatchDiscriminator(C_in + C_out)``; may be
            None when ``objective`` is "l1".
        lr: Adam learning rate of both players (2e-4 in the paper).
        betas: Adam's betas (0.5, 0.999 in the paper).
        l1_weight: lambda, the weight of the L1 term (100 in the paper).
        objective: "l1", "cgan" or "l1+cgan" (Table 1's ablation; the paper's method is "l1+cgan").
        test_mode: "paper" (dropout and per-image batch statistics at test time, sec. 3.1) or "eval" (no dropout,
            running statistics).
        dist: the torchrun context (a world of 1 by default).
        precision: autocast and loss scaling (fp32 by default).

    `train_iteration` records d_loss (D's halved loss), d_real and d_fake (D's mean probability of "real" on real and
    generated pairs, before D's step), g_gan (G's non-saturating cGAN term), g_l1 (the L1 distance on [-1, 1]
    images, recorded for every objective) and g_loss (what G minimises); with objective "l1" only g_l1 and g_loss.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module | None = None, lr: float = 2e-4,
                 betas: tuple[float, float] = (0.5, 0.999), l1_weight: float = 100.0, objective: str = "l1+cgan",
                 test_mode: str = "paper", dist: Distributed | None = None, precision: Precision | None = None):
        if objective not in OBJECTIVES:
            raise AdvlabError(f"unknown pix2pix objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
        if test_mode not in TEST_MODES:
            raise AdvlabError(f"unknown pix2pix test mode {test_mode!r}; choose one of {', '.join(TEST_MODES)}")
        if discriminator is None and objective != "l1":
            raise AdvlabError(f"pix2pix objective {objective!r} needs a discriminator; only 'l1' trains without one")
        if l1_weight < 0 or lr <= 0:
            raise AdvlabError(f"pix2pix needs lr > 0 and l1_weight >= 0, got lr={lr}, l1_weight={l1_weight}")
        self.generator, self.discriminator = generator, discriminator
        self.l1_weight, self.objective, self.test_mode = float(l1_weight), objective, test_mode
        players: dict[str, nn.Module] = {"generator": generator}
        optimizers = {"generator": torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)}
        if discriminator is not None:
            players["discriminator"] = discriminator
            optimizers["discriminator"] = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)
        super().__init__(players, optimizers, dist, precision)

    @property
    def uses_gan(self) -> bool:
        return self.objective != "l1"

    def _judge(self, inputs: Tensor, outputs: Tensor) -> Tensor:
        """D's logits on the channel-concatenated (input, output) pairs."""
        return self.discriminator(torch.cat([inputs, outputs], dim=1))

    def train_iteration(self, inputs: Tensor, targets: Tensor, record: bool = False) -> dict[str, float]:
        """One D step (unless "l1") on real pairs (x, y) and generated pairs (x, G(x)), then one G step through the
        updated D, both from the same forward pass of G (with its dropout noise)."""
        self.generator.train()
        with self.precision.autocast():
            outputs = self.generator(inputs)
        stats: dict[str, Tensor] = {}
        if self.uses_gan:
            self.discriminator.train()
            with self.precision.autocast():
                real_logits = self._judge(inputs, targets)
                fake_logits = self._judge(inputs, outputs.detach())
                d_loss = discriminator_loss(real_logits.float(), fake_logits.float())
            self.update(d_loss, "discriminator")
            stats.update(d_loss=d_loss, d_real=torch.sigmoid(real_logits.float()).mean(),
                         d_fake=torch.sigmoid(fake_logits.float()).mean())
        with self.precision.autocast():
            g_l1 = l1_distance(outputs.float(), targets.float())
            g_loss = self.l1_weight * g_l1 if self.objective != "cgan" else torch.zeros_like(g_l1)
            if self.uses_gan:
                with self.frozen(self.discriminator):
                    g_gan = generator_gan_loss(self._judge(inputs, outputs).float())
                g_loss = g_loss + g_gan
                stats["g_gan"] = g_gan
        self.update(g_loss, "generator")
        stats.update(g_l1=g_l1, g_loss=g_loss)
        result = self.statistics(stats) if record else {}
        self.end_iteration()
        return result

    @torch.no_grad()
    def translate(self, inputs: Tensor) -> Tensor:
        """G applied to (N, C_in, H, W) [0, 1] images -> (N, C_out, H, W) [0, 1]: as at training time with each
        image on its own (``test_mode="paper"``, stochastic through dropout) or in eval mode ("eval")."""
        if self.test_mode == "eval":
            was_training = self.generator.training
            self.generator.eval()
            try:
                return self.generator(inputs).float()
            finally:
                self.generator.train(was_training)
        with paper_inference(self.generator):
            return self.generator(inputs).float()
