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

Statistics (losses, mean D(x), mean D(G(z)), gradient norms) are gathered only on the
iterations where the caller asks for them, so the loop itself adds no cost. Every loss is
added to a float64 running sum on the device (one cheap kernel, no synchronisation): a NaN or
infinity anywhere stays in the sum, and `check_finite`, which the caller runs before every log
and checkpoint, reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from advlab.gan.ema import GeneratorEMA
from advlab.gan.losses import GANLoss


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

    def __post_init__(self):
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=self.sampler.device)

    def noise_batch(self) -> torch.Tensor:
        return sample_noise(self.batch_size, self.z_dim, self.noise, self.sampler)

    def discriminator_step(self, record: bool) -> dict[str, torch.Tensor]:
        """One update of D on fresh real and generated minibatches."""
        real = self.data.sample(self.batch_size, self.sampler)
        with torch.no_grad():
            fake = self.generator(self.noise_batch())
        real_out, fake_out = self.discriminator(real), self.discriminator(fake)
        loss = self.loss.discriminator_loss(real_out, fake_out)
        penalty = self.loss.penalty(self.discriminator, real, fake, self.sampler)
        if penalty is not None:
            loss = loss + penalty
        self.optimizer_d.zero_grad(set_to_none=True)
        loss.backward()
        self.loss_sum.add_(loss.detach())
        stats = self.discriminator_stats(loss, real_out, fake_out) if record else {}
        self.optimizer_d.step()
        return stats

    def discriminator_stats(self, loss, real_out, fake_out) -> dict[str, torch.Tensor]:
        return {"d_loss": loss.detach(), "d_real": self.loss.probability(real_out.detach()).mean(),
                "d_fake": self.loss.probability(fake_out.detach()).mean(),
                "grad_norm_d": grad_norm(self.discriminator)}

    def generator_step(self, record: bool) -> dict[str, torch.Tensor]:
        """One update of G through a frozen D, on a fresh noise minibatch."""
        self.discriminator.requires_grad_(False)
        try:
            loss = self.loss.generator_loss(self.discriminator(self.generator(self.noise_batch())))
            self.optimizer_g.zero_grad(set_to_none=True)
            loss.backward()
        finally:
            self.discriminator.requires_grad_(True)
        self.loss_sum.add_(loss.detach())
        stats = {"g_loss": loss.detach(), "grad_norm_g": grad_norm(self.generator)} if record else {}
        self.optimizer_g.step()
        if self.ema is not None:
            self.ema.update(self.generator)
        return stats

    def train_iteration(self, record: bool = False) -> dict[str, float]:
        """k discriminator steps, then one generator step (Algorithm 1's outer loop body).

        With `record`, returns the last D step's and the G step's statistics as floats.
        """
        for step in range(self.k):
            d_stats = self.discriminator_step(record and step == self.k - 1)
        g_stats = self.generator_step(record)
        self.step += 1
        if not record:
            return {}
        stats = {**d_stats, **g_stats}
        return dict(zip(stats, torch.stack(list(stats.values())).tolist()))

    def check_finite(self) -> bool:
        """False once any loss so far was NaN or infinite."""
        return bool(torch.isfinite(self.loss_sum))

    def sampling_model(self) -> nn.Module:
        """The generator to draw samples from: the averaged one when EMA is on."""
        return self.ema.model if self.ema is not None else self.generator
