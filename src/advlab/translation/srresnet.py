"""SRResNet trained for MSE (Ledig et al. 2017, "Photo-realistic single image super-resolution using a generative
adversarial network", sec. 2.2 and 3.2: "SRResNet-MSE").

The generator G_theta (advlab.models.SRResNet) maps a low-resolution image I^LR to an estimate of I^HR and is trained
on the pixel-wise MSE (eq. 4)

    l_MSE = 1 / (r^2 W H) sum_{x,y} (I^HR_{x,y} - G(I^LR)_{x,y})^2

over HR images in [-1, 1] (sec. 3.2: "the MSE loss was thus calculated on images of intensity range [-1, 1]"),
i.e. 4 times the MSE of advlab's [0, 1] images; Adam with lr 1e-4 and betas (0.9, 0.999), minibatches of 16 random
96x96 HR patches in the paper (10^6 updates). SRGAN (advlab.translation.srgan) starts from this network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.distributed import Distributed
from advlab.core.errors import AdvlabError
from advlab.core.game import Game
from advlab.core.precision import Precision

RANGE_FACTOR = 4.0  # MSE on [-1, 1] images over MSE on [0, 1] images: (2 x)^2


def paper_mse(outputs: Tensor, targets: Tensor) -> Tensor:
    """Eq. 4 on [-1, 1] images: mean ((2 G - 1) - (2 y - 1))^2 = 4 mean (G - y)^2 for [0, 1] outputs and targets."""
    return RANGE_FACTOR * F.mse_loss(outputs.float(), targets.float())


def batch_psnr(mse: Tensor) -> Tensor:
    """PSNR in dB of a minibatch from its mean squared error on [0, 1] images: -10 log10(mse) (RGB, no crop: a
    training monitor, not the paper's Y-channel protocol of advlab.metrics.image_quality)."""
    return -10 * torch.log10(mse.clamp_min(1e-12))


@torch.no_grad()
def upscale(generator: nn.Module, low: Tensor) -> Tensor:
    """`generator` on [0, 1] images in eval mode (running batch-norm statistics), no gradients, clamped to [0, 1];
    its mode is restored afterwards."""
    if not isinstance(low, Tensor) or low.ndim != 4:
        raise AdvlabError(f"low-resolution images: expected (N, C, H, W), found "
                          f"{tuple(low.shape) if isinstance(low, Tensor) else type(low).__name__}")
    training = generator.training
    generator.eval()
    try:
        device = next(generator.parameters()).device
        return generator(low.to(device, torch.float32)).clamp(0.0, 1.0)
    finally:
        generator.train(training)


class SRResNetTraining(Game):
    """The SRResNet-MSE game: one player, the generator, on eq. 4.

    Args:
        generator: (N, C, h, w) [0, 1] -> (N, C, r h, r w) [0, 1], e.g. ``SRResNet(channels, scale)``.
        lr: Adam learning rate (1e-4 in the paper).
        betas: Adam's betas (0.9, 0.999 in the paper).
        dist: the torchrun context (a world of 1 by default).
        precision: autocast and loss scaling (fp32 by default).

    `train_iteration` records mse (MSE of the [0, 1] outputs against the targets; the loss is 4 times it, eq. 4 on
    [-1, 1]) and psnr_batch (-10 log10 mse: RGB, no border crop).
    """

    def __init__(self, generator: nn.Module, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.999),
                 dist: Distributed | None = None, precision: Precision | None = None):
        if lr <= 0:
            raise AdvlabError(f"SRResNet needs lr > 0, got {lr}")
        self.generator = generator
        optimizers = {"generator": torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)}
        super().__init__({"generator": generator}, optimizers, dist, precision)

    def train_iteration(self, inputs: Tensor, targets: Tensor, record: bool = False) -> dict[str, float]:
        """One Adam step of G on eq. 4 for this rank's share of a minibatch."""
        self.generator.train()
        with self.precision.autocast():
            outputs = self.generator(inputs)
        loss = paper_mse(outputs, targets)
        self.update(loss, "generator")
        stats = {}
        if record:
            mse = loss.detach() / RANGE_FACTOR
            stats = self.statistics({"mse": mse, "psnr_batch": batch_psnr(mse)})
        self.end_iteration()
        return stats

    def translate(self, inputs: Tensor) -> Tensor:
        """Low-resolution [0, 1] images -> high-resolution [0, 1] images (eval mode, no gradients)."""
        return upscale(self.generator, inputs)


__all__ = ["SRResNetTraining", "batch_psnr", "paper_mse", "upscale"]
