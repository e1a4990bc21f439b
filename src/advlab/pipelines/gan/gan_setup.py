"""From a resolved GANTrainConfig to live objects: data, players, optimisers, trainer.

Also packs a trainer's whole state into checkpoint tensors + JSON and back, so that a
resumed run continues bit-exactly (weights, optimiser moments, EMA, the sampler's RNG).
"""

from __future__ import annotations

import dataclasses
from functools import partial

import torch
from torch import nn

from advlab.core.checkpoints import (
    Checkpoint,
    module_state,
    optimizer_state,
    restore_module,
    restore_optimizer,
)
from advlab.core.distributed import Distributed
from advlab.core.errors import AdvlabError
from advlab.core.precision import Precision
from advlab.core.seeding import make_generator
from advlab.data import Dataset, TensorData, load_dataset
from advlab.gan.diffaugment import diff_augment
from advlab.gan.ema import GeneratorEMA
from advlab.gan.losses import make_loss
from advlab.gan.pacgan import Packed, packed_input_shape
from advlab.gan.progressive import ProgressiveSchedule
from advlab.gan.trainer import GANTrainer
from advlab.models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from advlab.models.acgan import ACGANDiscriminator
from advlab.models.conditional import (
    ConditionalDCGANDiscriminator,
    ConditionalDCGANGenerator,
    ConditionalMLPDiscriminator,
    ConditionalMLPGenerator,
    ProjectionDiscriminator,
)
from advlab.models.dcgan import ladder
from advlab.models.metz_dcgan import MetzDiscriminator, MetzGenerator, check_side
from advlab.models.progan import ProGANDiscriminator, ProGANGenerator, stage_resolutions
from advlab.models.sagan import SAGANDiscriminator, SAGANGenerator
from advlab.models.sngan import SNGANDiscriminator, SNGANGenerator
from advlab.pipelines.gan.gan_config import GANTrainConfig, default_stage_steps


def load_data(config: GANTrainConfig, device: torch.device, note=print) -> tuple[GANTrainConfig, Dataset]:
    """The config's training data on `device` (all of the data set, or its `train_images` rows: `load_split`), and
    the config with the image size the model trains at."""
    config, training, _ = load_split(config, device, note)
    return config, training


def load_split(config: GANTrainConfig, device: torch.device | str = "cpu",
               note=print) -> tuple[GANTrainConfig, Dataset, TensorData | None]:
    """(config with the image size the model trains at, training data, held-out data or None) on `device`.

    With `train_images` N the run trains on N images of its data set and holds out the rest (`split_rows`), the
    non-members that a privacy audit compares its members with; without it, on every image (held-out None).
    Training (`load_data`) and the audit (advlab.pipelines.security.gan_audit) both take the rows from here, so a
    resumed run and its audit see the rows it trained on.

    Progressive growing doubles from 4x4, so images whose side is no power of two (MNIST's 28) are resized
    to the next one (32), `note` saying so, and the config records it as `image_size`; every other image
    model takes the data at its own size.
    """
    data = load_dataset(config.data, config.data_path, config.image_size)
    side = data.sample_shape[-1]
    if config.model == "progan" and config.image_size is None and data.kind == "images" and side & (side - 1):
        size = max(8, 1 << side.bit_length())
        note(f"progan grows by doubling from 4x4: {config.data}'s {side}x{side} images are resized to "
             f"{size}x{size} (as --image-size {size})")
        config = dataclasses.replace(config, image_size=size)
        data = load_dataset(config.data, config.data_path, size)
    if config.train_images is None:
        return config, data.to(device), None
    check_can_hold_out(config, data)
    training_rows, held_out_rows = split_rows(config, len(data))
    return config, rows_of(data, training_rows).to(device), rows_of(data, held_out_rows).to(device)


def split_rows(config: GANTrainConfig, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(training row numbers, held-out row numbers), each sorted, of a data set of `size` rows: the first
    `train_images` of a permutation seeded by the run's seed train, the rest are held out (all rows train when
    `train_images` is None). The same config gives the same rows on every call and every device."""
    if config.train_images is None:
        return torch.arange(size), torch.arange(0)
    count = config.train_images
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count < size:
        raise AdvlabError(f"--train-images {count}: data {config.data!r} holds {size} images; give 1 to {size - 1} "
                          "so that some are held out")
    order = torch.randperm(size, generator=make_generator(config.seed, torch.device("cpu")))
    return order[:count].sort().values, order[count:].sort().values


def check_can_hold_out(config: GANTrainConfig, data: Dataset) -> None:
    """--train-images picks images to train on and holds out the rest: image data sets only."""
    if not isinstance(data, TensorData):
        raise AdvlabError(f"--train-images applies to image data: {config.data!r} draws 2-D points afresh from a "
                          "mixture every step, so there is no finite set to hold images out of")
    if data.kind != "images":
        raise AdvlabError(f"--train-images applies to image data (the GAN privacy audit compares images): "
                          f"{config.data!r} holds 2-D points")


def rows_of(data: TensorData, rows: torch.Tensor) -> TensorData:
    """The data set's `rows` (and their labels), as a data set of the same name."""
    labels = None if data.labels is None else data.labels[rows.to(data.labels.device)]
    return TensorData(data.data[rows.to(data.data.device)], labels, data.name)


def build_generator(config: GANTrainConfig, sample_shape: tuple[int, ...], classes: int = 0) -> nn.Module:
    """The generator that a resolved config describes, for data of `sample_shape` (and `classes` labels)."""
    if config.model == "mlp":
        if config.conditional:
            return ConditionalMLPGenerator(config.z_dim, classes, sample_shape[0], config.width, config.depth)
        return MLPGenerator(config.z_dim, sample_shape[0], config.width, config.depth)
    channels, resolution = sample_shape[0], sample_shape[-1]
    if config.conditional:  # cgan, projection, acgan: Mirza & Osindero's G, the label embedded next to z
        return ConditionalDCGANGenerator(config.z_dim, classes, resolution, channels, config.width)
    unconditional = {"sngan": SNGANGenerator, "sagan": SAGANGenerator, "progan": ProGANGenerator,
                     "metz-dcgan": MetzGenerator}
    if config.model in unconditional:
        return unconditional[config.model](config.z_dim, resolution, channels, config.width)
    return DCGANGenerator(config.z_dim, resolution, channels, config.width)


ONE_HOT_CLASSES = 32  # up to this many classes D reads one-hot label maps; beyond, a learned embedding


def label_embedding(classes: int) -> int | None:
    """Width of the label maps of a conditional D: None (one-hot, `classes` maps) for a few classes; for many
    (stacked digits' 1000) a learned embedding of ONE_HOT_CLASSES numbers, not 1000 input channels."""
    return None if classes <= ONE_HOT_CLASSES else ONE_HOT_CLASSES


def packed(discriminator: nn.Module, pack: int) -> nn.Module:
    """PacGAN's packing wrapper (Lin et al. 2018) when pack > 1; the network itself otherwise, so that
    unpacked runs keep their checkpoints' parameter names."""
    return Packed(discriminator, pack) if pack > 1 else discriminator


def build_discriminator(config: GANTrainConfig, sample_shape: tuple[int, ...], classes: int = 0) -> nn.Module:
    """The discriminator (critic) that a resolved config describes; packed for PacGAN when `pack` > 1."""
    shape = packed_input_shape(sample_shape, config.pack)
    width = config.d_width  # resolved() sets it: the width, for runs stored before --d-width
    if config.model == "mlp":
        if config.conditional:
            return packed(ConditionalMLPDiscriminator(shape[0], classes, width, config.depth), config.pack)
        return packed(MLPDiscriminator(shape[0], width, config.depth), config.pack)
    channels, resolution = shape[0], shape[-1]
    norm = "layer" if config.loss == "wgan-gp" else "batch"
    conditional = {
        "cgan": lambda: ConditionalDCGANDiscriminator(resolution, classes, channels, width, norm,
                                                      label_embedding(classes)),
        "projection": lambda: ProjectionDiscriminator(resolution, classes, channels, width),
        "acgan": lambda: ACGANDiscriminator(resolution, classes, channels, width, norm),
    }
    if config.model in conditional:
        return packed(conditional[config.model](), config.pack)
    unconditional = {"sngan": SNGANDiscriminator, "sagan": SAGANDiscriminator, "progan": ProGANDiscriminator,
                     "metz-dcgan": MetzDiscriminator}
    if config.model in unconditional:
        return packed(unconditional[config.model](resolution, channels, width), config.pack)
    return packed(DCGANDiscriminator(resolution, channels, width, norm), config.pack)


def build_optimizer(config: GANTrainConfig, params, lr: float) -> torch.optim.Optimizer:
    """Adam (betas from the config) or SGD with momentum (Goodfellow et al.'s choice)."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum)
    return torch.optim.Adam(params, lr=lr, betas=(config.beta1, config.beta2))


def check_shape(config: GANTrainConfig, sample_shape: tuple[int, ...]) -> None:
    """Refuse data the model cannot take, before building it."""
    if config.model != "mlp" and (len(sample_shape) != 3 or sample_shape[1] != sample_shape[2]):
        raise AdvlabError(f"{config.model} needs square images; data {config.data!r} has shape {sample_shape}")
    try:
        if config.model == "progan":
            stage_resolutions(sample_shape[-1])  # a size progressive growing reaches from 4x4 by doubling
        elif config.model == "metz-dcgan":
            check_side(sample_shape[-1])
        elif config.model != "mlp":
            ladder(sample_shape[-1], config.model)  # a size the DCGAN-shaped stacks reach from a 4 to 7 pixel start
    except AdvlabError as error:
        if config.image_size is None:
            raise
        raise AdvlabError(f"--image-size {config.image_size}: {error}") from None
    if config.diffaugment and len(sample_shape) != 3:
        raise AdvlabError(f"--diffaugment transforms images; data {config.data!r} holds 2-D points")


def progressive_schedule(config: GANTrainConfig, sample_shape: tuple[int, ...]) -> ProgressiveSchedule | None:
    """Progressive growing's schedule: 4x4 up to the data's size, every fade-in and stabilisation phase
    `stage_steps` long (default: the run's steps spread evenly over them)."""
    if config.model != "progan":
        return None
    resolution = sample_shape[-1]
    return ProgressiveSchedule(resolution, config.stage_steps or default_stage_steps(config.steps, resolution))


def conditioning(config: GANTrainConfig) -> str:
    """How the trainer feeds labels: none, as inputs of both players, or to ACGAN's classifier head."""
    if not config.conditional:
        return "none"
    return "acgan" if config.model == "acgan" else "input"


def build_trainer(config: GANTrainConfig, data, device: torch.device, dist: Distributed | None = None,
                  precision: Precision | None = None) -> GANTrainer:
    """Players, optimisers, loss and sampler for a resolved config, on `device`; under torchrun `dist` says which
    share of each minibatch this rank takes (advlab.core.distributed), `precision` how it computes."""
    check_shape(config, data.sample_shape)
    classes = data.classes if config.conditional else 0
    generator = build_generator(config, data.sample_shape, classes).to(device)
    discriminator = build_discriminator(config, data.sample_shape, classes).to(device)
    ema = GeneratorEMA(generator, config.ema) if config.ema else None
    sampler = make_generator(config.seed, device)
    return GANTrainer(
        generator=generator, discriminator=discriminator,
        loss=make_loss(config.loss, config.gp_weight, config.drift), data=data,
        optimizer_g=build_optimizer(config, generator.parameters(), config.lr_g),
        optimizer_d=build_optimizer(config, discriminator.parameters(), config.lr_d),
        sampler=sampler, z_dim=config.z_dim,
        batch_size=config.batch_size, k=config.k, noise=config.noise, ema=ema,
        conditioning=conditioning(config), classes=classes, acgan_weight=config.acgan_weight,
        schedule=progressive_schedule(config, data.sample_shape), augment=augmentation(config, sampler),
        dist=dist or Distributed(), precision=precision or Precision("fp32", device))


def augmentation(config: GANTrainConfig, sampler: torch.Generator):
    """DiffAugment (Zhao et al. 2020) with the config's policy, its random draws from the trainer's sampler (whose
    state checkpoints keep, so a resumed run augments exactly as an uninterrupted one); None without a policy."""
    if not config.diffaugment:
        return None
    return partial(diff_augment, policy=config.diffaugment, generator=sampler)


def trainer_state(trainer: GANTrainer) -> tuple[dict[str, torch.Tensor], dict]:
    """Everything needed to continue `trainer` exactly: (tensors, JSON-able meta)."""
    tensors = {**module_state(trainer.generator, "generator"),
               **module_state(trainer.discriminator, "discriminator"),
               "rng.sampler": trainer.sampler.get_state(), "rng.torch": torch.get_rng_state()}
    if trainer.ema is not None:  # with its standing batch-norm statistics, as it samples (gan/ema.py)
        tensors.update(module_state(trainer.sampling_model(), "generator_ema"))
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
    if trainer.ema is not None:  # recomputed before the next use: older checkpoints hold the live statistics
        restore_module(trainer.ema.model, "generator_ema", tensors)
        trainer.ema.stale = bool(trainer.ema.norms)
    for name in ("optimizer_g", "optimizer_d"):
        try:
            restore_optimizer(getattr(trainer, name), name, tensors, checkpoint.meta[name])
        except (KeyError, ValueError) as error:
            raise AdvlabError(f"checkpoint {checkpoint.path} has no usable {name} state ({error})") from None
    trainer.sampler.set_state(tensors["rng.sampler"])
    torch.set_rng_state(tensors["rng.torch"])
    trainer.step = checkpoint.step
