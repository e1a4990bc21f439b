"""The GAN game: the loss family, Algorithm 1's trainer, generator EMA."""

from advlab.gan.ema import GeneratorEMA
from advlab.gan.losses import LOSSES, GANLoss, make_loss
from advlab.gan.trainer import GANTrainer, sample_noise

__all__ = ["GANLoss", "GANTrainer", "GeneratorEMA", "LOSSES", "make_loss", "sample_noise"]
