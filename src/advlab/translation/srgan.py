"""SRGAN (Ledig et al. 2017, "Photo-realistic single image super-resolution using a generative adversarial network",
sec. 2.2): the SRResNet generator G trained against a discriminator D on a perceptual loss.

The adversarial min-max problem (eq. 2), with D giving the probability that an HR image is real:

    min_G max_D  E[log D(I^HR)] + E[log(1 - D(G(I^LR)))]

D maximises it (its log loss: BCE(D(I^HR), 1) + BCE(D(G(I^LR)), 0), each the mean over the minibatch). G
minimises the perceptual loss (eq. 3)

    l^SR = l^SR_X + 1e-3 l^SR_Gen

* content loss (eq. 5): the MSE between feature maps of a fixed network phi, rescaled by s,
  l^SR_X = mean_{c,x,y} (s phi(I^HR) - s phi(G(I^LR)))^2. The paper's phi is VGG19's conv5_4 after its ReLU
  ("VGG54") with s = 1/12.75, a factor that brings the VGG loss to the scale of the MSE loss (sec. 3.2). advlab
  downloads no VGG: phi is the network it trains itself (advlab.models.photo_features) and s, by default, its own
  ``content_scale`` -- calibrated the paper's way, so that the content loss of bicubic x4 images on the training
  photographs equals their MSE on [-1, 1] (the range of the paper's MSE loss; see that module for the figure);
* adversarial loss (eq. 6): l^SR_Gen = sum_n -log D(G(I^LR_n)), here the mean over the minibatch, the
  non-saturating form (Goodfellow et al. 2014) rather than log(1 - D(G(I^LR))).

Each iteration takes one D step, then one G step through the updated D, both on the same G(I^LR); Adam with lr 1e-4
and betas (0.9, 0.999) for both, ten times lower after ``decay_at`` iterations (the paper: 10^5 updates at 1e-4,
then 10^5 at 1e-5, so decay_at = half the iterations), G initialised from a trained
SRResNet-MSE -- the loop loads those weights: the generator is an ``SRResNet`` and the player is named "generator"
in both games, so a SRResNet checkpoint's "generator" tensors load into it).

Measured on the CPU with small players (x4, SRResNet of 4 blocks of width 32 trained 1500 steps of 8 patches of
48 px, then SRGAN 600 steps with an SRDiscriminator of width 32 and advlab's photo features), on the five held-out
photographs (Y channel, 4-pixel crop): bicubic 27.62 dB / SSIM 0.774 / feature distance 0.0122, SRResNet 27.97 dB /
0.787 / 0.0116, SRGAN 25.22 dB / 0.681 / 0.0092 -- the paper's ordering: SRGAN gives up PSNR (2.7 dB; 2.65 dB on
Set5 in Table 2) and comes closer to the originals in feature space.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.checks import check_int
from advlab.core.distributed import Distributed
from advlab.core.errors import AdvlabError
from advlab.core.game import Game
from advlab.core.precision import Precision
from advlab.translation.srresnet import upscale

ADVERSARIAL_WEIGHT = 1e-3


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """D's log loss (eq. 2, negated): BCE(D(I^HR), 1) + BCE(D(G(I^LR)), 0) = mean softplus(-real) + mean
    softplus(fake)."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def adversarial_loss(fake_logits: Tensor) -> Tensor:
    """Eq. 6 as a mean: -mean log D(G(I^LR)) = mean softplus(-logits)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def content_loss(features: nn.Module, outputs: Tensor, targets: Tensor, scale: float) -> Tensor:
    """Eq. 5: mean over channels and positions of (scale * (phi(targets) - phi(outputs)))^2, where phi =
    `features`; the targets' features carry no gradient."""
    with torch.no_grad():
        target_features = features(targets).float()
    return (scale * (target_features - features(outputs).float())).pow(2).mean()


class SRGAN(Game):
    """The SRGAN game: the SRResNet generator against SRGAN's discriminator on the perceptual loss (eq. 3).

    Args:
        generator: (N, C, h, w) [0, 1] -> (N, C, r h, r w) [0, 1], an ``SRResNet`` (initialised from SRResNet-MSE).
        discriminator: (N, C, H, W) [0, 1] -> logits (N,), e.g. ``SRDiscriminator(C)``.
        features: the fixed content network phi, (N, C, H, W) [0, 1] -> feature maps, e.g.
            ``advlab.models.photo_features(device)``; frozen here, not a player (not saved in checkpoints).
        lr: Adam learning rate of both players (1e-4 in the paper).
        betas: Adam's betas (0.9, 0.999).
        adversarial_weight: the weight of eq. 6 in eq. 3 (1e-3 in the paper).
        content_scale: s in eq. 5 (the paper's 1/12.75 for VGG54); None takes ``features.content_scale`` (the
            calibrated factor of advlab's photo features), or 1 for a network without one.
        decay_at: after this many iterations both learning rates drop tenfold (the paper's schedule with half the
            iterations); None keeps them constant.
        dist: the torchrun context (a world of 1 by default).
        precision: autocast and loss scaling (fp32 by default).

    `train_iteration` records d_loss (D's log loss), d_real and d_fake (D's mean probability of "real" on HR and
    generated images, before D's step), content (eq. 5), adversarial (eq. 6, unweighted), g_loss (eq. 3) and mse
    (MSE of the outputs on [0, 1], not optimised).
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, features: nn.Module, lr: float = 1e-4,
                 betas: tuple[float, float] = (0.9, 0.999), adversarial_weight: float = ADVERSARIAL_WEIGHT,
                 content_scale: float | None = None, decay_at: int | None = None, dist: Distributed | None = None,
                 precision: Precision | None = None):
        if content_scale is None:
            content_scale = float(getattr(features, "content_scale", 1.0))
        if lr <= 0 or adversarial_weight < 0 or not content_scale > 0:
            raise AdvlabError(f"SRGAN needs lr > 0, adversarial_weight >= 0 and content_scale > 0, got lr={lr}, "
                              f"adversarial_weight={adversarial_weight}, content_scale={content_scale}")
        self.generator, self.discriminator = generator, discriminator
        self.features = features.eval().requires_grad_(False)
        self.adversarial_weight, self.content_scale = float(adversarial_weight), float(content_scale)
        optimizers = {"generator": torch.optim.Adam(generator.parameters(), lr=lr, betas=betas),
                      "discriminator": torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)}
        schedulers = {} if decay_at is None else {
            name: torch.optim.lr_scheduler.MultiStepLR(optimizer, [check_int("decay_at", decay_at, 1)], gamma=0.1)
            for name, optimizer in optimizers.items()}
        super().__init__({"generator": generator, "discriminator": discriminator}, optimizers, dist, precision,
                         schedulers)

    def train_iteration(self, inputs: Tensor, targets: Tensor, record: bool = False) -> dict[str, float]:
        """One D step on I^HR and G(I^LR), then one G step on eq. 3 through the updated D."""
        self.generator.train()
        self.discriminator.train()
        with self.precision.autocast():
            outputs = self.generator(inputs)
            real_logits = self.discriminator(targets)
            fake_logits = self.discriminator(outputs.detach())
        d_loss = discriminator_loss(real_logits.float(), fake_logits.float())
        self.update(d_loss, "discriminator")
        with self.frozen(self.discriminator), self.precision.autocast():
            content = content_loss(self.features, outputs, targets, self.content_scale)
            adversarial = adversarial_loss(self.discriminator(outputs).float())
        g_loss = content + self.adversarial_weight * adversarial
        self.update(g_loss, "generator")
        stats = {}
        if record:
            stats = self.statistics({
                "d_loss": d_loss, "d_real": torch.sigmoid(real_logits.detach().float()).mean(),
                "d_fake": torch.sigmoid(fake_logits.detach().float()).mean(), "content": content,
                "adversarial": adversarial, "g_loss": g_loss,
                "mse": F.mse_loss(outputs.detach().float(), targets.float())})
        self.end_iteration()
        return stats

    def translate(self, inputs: Tensor) -> Tensor:
        """Low-resolution [0, 1] images -> high-resolution [0, 1] images (eval mode, no gradients)."""
        return upscale(self.generator, inputs)


__all__ = ["ADVERSARIAL_WEIGHT", "SRGAN", "adversarial_loss", "content_loss", "discriminator_loss"]
