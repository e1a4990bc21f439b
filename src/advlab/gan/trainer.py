"""The GAN game, Algorithm 1 of Goodfellow et al. 2014, literally.

    for number of training iterations:
        for k steps:
            sample a minibatch of m noise samples z and m examples x
            update D by ascending its stochastic gradient        (here: descend D's loss)
        sample a minibatch of m noise samples z
        update G by descending its stochastic gradient

Every minibatch is fresh. During D's steps the generator's output is computed without
gradient, so G's parameters cannot move; during G's step D's parameters are frozen
(requires_grad off), so only G's optimiser has gradients to apply. The paper uses SGD with
momentum; any torch optimiser works (Adam with separate learning rates is the TTUR of
Heusel et al. 2017).

Conditional games (`conditioning`): "input" (Mirza & Osindero 2014; Miyato & Koyama 2018) draws labelled real
minibatches and uniform labels for the generated ones and calls G(z, y) and D(x, y); "acgan" (Odena et al. 2017)
calls G(z, y) and D(x) -> (source scores, class logits) and adds the class term L_C to both players' losses
(advlab.gan.acgan_loss). The unconditional game draws exactly as before. With PacGAN packing (`pack` > 1)
a conditional game keeps every pack to one label, real and generated: D compares P(x|y)^m with Q(x|y)^m,
which penalises collapse within a class. `augment` (DiffAugment, Zhao et al.
2020) transforms every image D sees, real and generated, in D's and G's steps alike.

Under torchrun (`dist`, advlab.core.distributed) every rank draws the global minibatch's data rows, labels,
noise, DiffAugment parameters and WGAN-GP interpolation weights from the run's one sampler, alike on every rank,
and keeps its own contiguous share (`rows`); the gradients of each player's step are averaged across ranks before
its optimiser step, so N processes take the step one process takes on the whole minibatch (to float rounding) for
players without batch statistics, and the sampler streams stay identical on every rank. Batch-norm statistics
are per share; rank 0's buffers reach every rank before anything reads them (`synchronise`). `precision`
(advlab.core.precision) runs the forward passes under autocast and scales fp16 losses.

Statistics (losses, mean D(x), mean D(G(z)), gradient norms) are gathered only on the
iterations where the caller asks for them, so the loop itself adds no cost. Every loss is
added to a float64 running sum on the device (one cheap kernel, no synchronisation): a NaN or
infinity anywhere stays in the sum, and `check_finite`, which the caller runs before every log
and checkpoint, reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from advlab.core.distributed import Distributed
from advlab.core.precision import Precision
from advlab.core.seeding import make_generator
from advlab.gan.acgan_loss import acgan_discriminator_loss, acgan_generator_loss, class_accuracy
from advlab.gan.ema import GeneratorEMA
from advlab.gan.losses import GANLoss
from advlab.gan.progressive import ProgressiveData, ProgressiveSchedule

CONDITIONING = ("none", "input", "acgan")
STANDING_SEED = 0  # the EMA copy's standing statistics draw the same inputs every time: a function of its weights


def sample_noise(n: int, z_dim: int, kind: str, generator: torch.Generator) -> torch.Tensor:
    """n noise vectors: standard normal, or uniform on [-1, 1] as in Goodfellow et al."""
    shape, device = (n, z_dim), generator.device
    if kind == "uniform":
        return torch.rand(shape, generator=generator, device=device) * 2 - 1
    return torch.randn(shape, generator=generator, device=device)


def grad_norm(module: nn.Module) -> torch.Tensor:
    """The L2 norm of all of `module`'s gradients taken together."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros((), device=next(module.parameters()).device)
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


@dataclass
class GANTrainer:
    """One player pair, their optimisers, the data and the game's hyper-parameters.

    `data` has `sample(n, generator)`; `sampler` is the torch.Generator that draws every
    minibatch of data and noise (its state is part of a checkpoint, for exact resuming).
    """

    generator: nn.Module
    discriminator: nn.Module
    loss: GANLoss
    data: object
    optimizer_g: torch.optim.Optimizer
    optimizer_d: torch.optim.Optimizer
    sampler: torch.Generator
    z_dim: int
    batch_size: int = 64
    k: int = 1
    noise: str = "gaussian"
    ema: GeneratorEMA | None = None
    step: int = 0
    conditioning: str = "none"
    classes: int = 0
    acgan_weight: float = 1.0
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None
    schedule: ProgressiveSchedule | None = None
    dist: Distributed = field(default_factory=Distributed)
    precision: Precision = field(default_factory=Precision)

    def __post_init__(self):
        if self.conditioning not in CONDITIONING:
            raise ValueError(f"conditioning must be one of {CONDITIONING}, got {self.conditioning!r}")
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=self.sampler.device)
        # progressive growing (Karras et al. 2018): real images are handed out at the current stage
        self.real_source = self.data if self.schedule is None else ProgressiveData(self.data)
        self.dist.check_divisible(self.batch_size, "batch size", self.pack)
        self.rows = self.dist.shard(self.batch_size)  # this rank's share of every minibatch

    def apply_stage(self) -> None:
        """Progressive growing: set the resolution and fade-in of this step on both players, the EMA copy and
        the real images (a function of the step alone, so a resumed run picks it up)."""
        if self.schedule is not None:
            parts = [self.generator, self.discriminator, self.real_source]
            self.schedule.apply(self.step, *parts, *([self.ema.model] if self.ema is not None else []))

    @property
    def conditional(self) -> bool:
        return self.conditioning != "none"

    def noise_batch(self) -> torch.Tensor:
        """This rank's share of a minibatch of noise (all of it in one process)."""
        return sample_noise(self.batch_size, self.z_dim, self.noise, self.sampler)[self.rows]

    def real_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This rank's share of a minibatch of real samples, with their labels in a conditional game."""
        if not self.conditional:
            return self.real_source.sample(self.batch_size, self.sampler)[self.rows], None
        images, labels = self.real_source.sample_labelled(self.batch_size, self.sampler, self.pack)
        return images[self.rows], labels[self.rows]

    def fake_labels(self) -> torch.Tensor | None:
        """Uniform labels for a generated minibatch (conditional games only); with PacGAN packing, one label per
        pack, repeated for its `pack` samples."""
        if not self.conditional:
            return None
        draws = torch.randint(self.classes, (self.batch_size // self.pack,), generator=self.sampler,
                              device=self.sampler.device)
        return (draws if self.pack == 1 else draws.repeat_interleave(self.pack))[self.rows]

    @property
    def pack(self) -> int:
        """Samples per pack of a PacGAN discriminator (Lin et al. 2018); 1 without packing."""
        return getattr(self.discriminator, "pack", 1)

    def pack_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """One label per pack (packs are label-homogeneous in a conditional game), for ACGAN's class term."""
        return labels[::self.pack]

    def generate(self, labels: torch.Tensor | None) -> torch.Tensor:
        noise = self.noise_batch()
        return self.generator(noise) if labels is None else self.generator(noise, labels)

    def judge(self, samples: torch.Tensor, labels: torch.Tensor | None):
        """D's output on (augmented) samples: scores, or (scores, class logits) for ACGAN."""
        if self.augment is not None:
            samples = self.augmented(samples)
        return self.discriminator(samples, labels) if self.conditioning == "input" else self.discriminator(samples)

    def augmented(self, samples: torch.Tensor) -> torch.Tensor:
        """DiffAugment of this rank's share, with the parameters one process draws for these rows: the share is
        set at its rows of a zero-filled global minibatch (the transforms act on each image alone), the whole is
        augmented and the share cut out again (the gradient flows through the cut)."""
        if not self.dist.active:
            return self.augment(samples)
        rows = self.rows
        before = samples.new_zeros((rows.start, *samples.shape[1:]))
        after = samples.new_zeros((self.batch_size - rows.stop, *samples.shape[1:]))
        return self.augment(torch.cat([before, samples, after]))[rows]

    def critic(self, labels: torch.Tensor | None) -> Callable[[torch.Tensor], torch.Tensor]:
        """D as a function of the samples alone (scores only), for a penalty such as WGAN-GP's: what D judges in
        the game, so DiffAugment transforms the interpolates too (Zhao et al. 2020 augment every input of D);
        conditional critics judge them under the real minibatch's labels. It carries D's `pack`, so that the
        penalty draws one interpolation weight per pack."""

        def scores(samples: torch.Tensor) -> torch.Tensor:
            out = self.judge(samples, labels)
            return out[0] if self.conditioning == "acgan" else out

        scores.pack = self.pack
        return scores

    def discriminator_step(self, record: bool) -> dict[str, torch.Tensor]:
        """One update of D on fresh real and generated minibatches."""
        real, real_labels = self.real_batch()
        fake_labels = self.fake_labels()
        with torch.no_grad(), self.precision.autocast():
            fake = self.generate(fake_labels)
        with self.precision.autocast():
            real_out, fake_out = self.judge(real, real_labels), self.judge(fake, fake_labels)
            if self.conditioning == "acgan":
                loss = acgan_discriminator_loss(self.loss, real_out, fake_out, self.pack_labels(real_labels),
                                                self.pack_labels(fake_labels), self.acgan_weight)
            else:
                loss = self.loss.discriminator_loss(real_out, fake_out)
            penalty = self.loss.penalty(self.critic(real_labels), real, fake.to(real.dtype), self.sampler,
                                        (self.rows, self.batch_size))
            if penalty is not None:
                loss = loss + penalty
        self.optimizer_d.zero_grad(set_to_none=True)
        self.precision.backward(loss, self.optimizer_d)
        self.dist.average_gradients(self.discriminator)
        self.loss_sum.add_(loss.detach())
        if record:
            self.precision.unscale(self.optimizer_d)
        stats = self.discriminator_stats(loss, real_out, fake_out, real_labels) if record else {}
        self.precision.step(self.optimizer_d)
        return stats

    def discriminator_stats(self, loss, real_out, fake_out, real_labels=None) -> dict[str, torch.Tensor]:
        stats = {}
        if self.conditioning == "acgan":
            stats["d_class_accuracy"] = class_accuracy(real_out[1].detach(), self.pack_labels(real_labels))
            real_out, fake_out = real_out[0], fake_out[0]
        return {"d_loss": loss.detach(), "d_real": self.loss.probability(real_out.detach()).mean(),
                "d_fake": self.loss.probability(fake_out.detach()).mean(),
                "grad_norm_d": grad_norm(self.discriminator), **stats}

    def generator_step(self, record: bool) -> dict[str, torch.Tensor]:
        """One update of G through a frozen D, on a fresh noise minibatch."""
        self.discriminator.requires_grad_(False)
        try:
            labels = self.fake_labels()
            with self.precision.autocast():
                fake_out = self.judge(self.generate(labels), labels)
                if self.conditioning == "acgan":
                    loss = acgan_generator_loss(self.loss, fake_out, self.pack_labels(labels), self.acgan_weight)
                else:
                    loss = self.loss.generator_loss(fake_out)
            self.optimizer_g.zero_grad(set_to_none=True)
            self.precision.backward(loss, self.optimizer_g)
        finally:
            self.discriminator.requires_grad_(True)
        self.dist.average_gradients(self.generator)
        self.loss_sum.add_(loss.detach())
        if record:
            self.precision.unscale(self.optimizer_g)
        stats = {"g_loss": loss.detach(), "grad_norm_g": grad_norm(self.generator)} if record else {}
        self.precision.step(self.optimizer_g)
        if self.ema is not None:
            self.ema.update(self.generator)
        return stats

    def train_iteration(self, record: bool = False) -> dict[str, float]:
        """k discriminator steps, then one generator step (Algorithm 1's outer loop body).

        With `record`, returns the last D step's and the G step's statistics as floats.
        """
        self.apply_stage()
        for step in range(self.k):
            d_stats = self.discriminator_step(record and step == self.k - 1)
        g_stats = self.generator_step(record)
        self.step += 1
        if not record:
            return {}
        stats = {**d_stats, **g_stats}
        values = self.dist.all_reduce_sum(torch.stack(list(stats.values())).double()) / self.dist.world_size
        return dict(zip(stats, values.tolist()))  # the mean over ranks: figures of the whole minibatch

    def synchronise(self) -> None:
        """Rank 0's buffers (batch-norm running statistics) on every rank, before anything evaluates or saves the
        players: the DDP wrapper's broadcast, made only when the statistics are read (in training mode batch norm
        uses the share's own statistics, so rank 0's running statistics are the same either way)."""
        modules = [self.generator, self.discriminator, *([self.ema.model] if self.ema is not None else [])]
        self.dist.broadcast_buffers(*modules)

    def check_finite(self) -> bool:
        """False once any loss so far was NaN or infinite (on any rank)."""
        return self.dist.all_true(bool(torch.isfinite(self.loss_sum)))

    def sampling_model(self) -> nn.Module:
        """The generator to draw samples from: the averaged one when EMA is on, its batch-norm statistics
        recomputed for its own weights first if they moved since (BigGAN's standing statistics; gan/ema.py)."""
        if self.ema is None:
            return self.generator
        if self.ema.stale:
            self.ema.recompute_statistics(self.standing_inputs(make_generator(STANDING_SEED, self.sampler.device)))
        return self.ema.model

    def standing_inputs(self, draws: torch.Generator) -> Callable[[], tuple[torch.Tensor, ...]]:
        """Fresh generator inputs, one minibatch per call, drawn from `draws` (not the training sampler, whose
        stream stays as it was): noise, and uniform labels in a conditional game."""

        def inputs() -> tuple[torch.Tensor, ...]:
            noise = sample_noise(self.batch_size, self.z_dim, self.noise, draws)
            if not self.conditional:
                return (noise,)
            return noise, torch.randint(self.classes, (self.batch_size,), generator=draws, device=draws.device)

        return inputs
