"""From a resolved GANTrainConfig to live objects: data, players, optimisers, trainer.

Also packs a trainer's whole state into checkpoint tensors + JSON and back, so that a
resumed run continues bit-exactly (weights, optimiser moments, EMA, the sampler's RNG).
"""

from __future__ import annotations

import torch
from torch import nn

from advlab.core.checkpoints import (
    Checkpoint,
    module_state,
    optimizer_state,
    restore_module,
    restore_optimizer,
)
from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator
from advlab.data import load_dataset
from advlab.gan.ema import GeneratorEMA
from advlab.gan.losses import make_loss
from advlab.gan.trainer import GANTrainer
from advlab.models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from advlab.pipelines.gan_config import GANTrainConfig


def load_data(config: GANTrainConfig, device: torch.device):
    """The config's data set, on `device`."""
    return load_dataset(config.data, config.data_path, config.image_size).to(device)


def build_generator(config: GANTrainConfig, sample_shape: tuple[int, ...]) -> nn.Module:
    """The generator that a resolved config describes, for data of `sample_shape`."""
    if config.model == "mlp":
        return MLPGenerator(config.z_dim, sample_shape[0], config.width, config.depth)
    channels, resolution = sample_shape[0], sample_shape[-1]
    return DCGANGenerator(config.z_dim, resolution, channels, config.width)


def build_discriminator(config: GANTrainConfig, sample_shape: tuple[int, ...]) -> nn.Module:
    """The discriminator (critic) that a resolved config describes."""
    if config.model == "mlp":
        return MLPDiscriminator(sample_shape[0], config.width, config.depth)
    norm = "layer" if config.loss == "wgan-gp" else "batch"
    return DCGANDiscriminator(sample_shape[-1], sample_shape[0], config.width, norm)


def build_optimizer(config: GANTrainConfig, params, lr: float) -> torch.optim.Optimizer:
    """Adam (betas from the config) or SGD with momentum (Goodfellow et al.'s choice)."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum)
    return torch.optim.Adam(params, lr=lr, betas=(config.beta1, config.beta2))


def check_shape(config: GANTrainConfig, sample_shape: tuple[int, ...]) -> None:
    """Refuse data the model cannot take, before building it."""
    if config.model == "dcgan" and (len(sample_shape) != 3 or sample_shape[1] != sample_shape[2]):
        raise AdvlabError(f"dcgan needs square images; data {config.data!r} has shape {sample_shape}")


def build_trainer(config: GANTrainConfig, data, device: torch.device) -> GANTrainer:
    """Players, optimisers, loss and sampler for a resolved config, on `device`."""
    check_shape(config, data.sample_shape)
    generator = build_generator(config, data.sample_shape).to(device)
    discriminator = build_discriminator(config, data.sample_shape).to(device)
    ema = GeneratorEMA(generator, config.ema) if config.ema else None
    return GANTrainer(
        generator=generator, discriminator=discriminator,
        loss=make_loss(config.loss, config.gp_weight), data=data,
        optimizer_g=build_optimizer(config, generator.parameters(), config.lr_g),
        optimizer_d=build_optimizer(config, discriminator.parameters(), config.lr_d),
        sampler=make_generator(config.seed, device), z_dim=config.z_dim,
        batch_size=config.batch_size, k=config.k, noise=config.noise, ema=ema)


def trainer_state(trainer: GANTrainer) -> tuple[dict[str, torch.Tensor], dict]:
    """Everything needed to continue `trainer` exactly: (tensors, JSON-able meta)."""
    tensors = {**module_state(trainer.generator, "generator"),
               **module_state(trainer.discriminator, "discriminator"),
               "rng.sampler": trainer.sampler.get_state(), "rng.torch": torch.get_rng_state()}
    if trainer.ema is not None:
        tensors.update(module_state(trainer.ema.model, "generator_ema"))
    meta = {}
    for name in ("optimizer_g", "optimizer_d"):
        opt_tensors, meta[name] = optimizer_state(getattr(trainer, name), name)
        tensors.update(opt_tensors)
    return tensors, meta


def restore_trainer(trainer: GANTrainer, checkpoint: Checkpoint) -> None:
    """Inverse of `trainer_state`."""
    tensors = checkpoint.tensors
    restore_module(trainer.generator, "generator", tensors)
    restore_module(trainer.discriminator, "discriminator", tensors)
    if trainer.ema is not None:
        restore_module(trainer.ema.model, "generator_ema", tensors)
    for name in ("optimizer_g", "optimizer_d"):
        try:
            restore_optimizer(getattr(trainer, name), name, tensors, checkpoint.meta[name])
        except (KeyError, ValueError) as error:
            raise AdvlabError(f"checkpoint {checkpoint.path} has no usable {name} state ({error})") from None
    trainer.sampler.set_state(tensors["rng.sampler"])
    torch.set_rng_state(tensors["rng.torch"])
    trainer.step = checkpoint.step
