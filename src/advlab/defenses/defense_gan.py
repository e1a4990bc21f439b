"""Defense-GAN: purify an image by projecting it onto the range of a trained generator.

Samangouei, Kabkab & Chellappa 2018, "Defense-GAN: Protecting Classifiers Against Adversarial
Attacks Using Generative Models" (ICLR), sec. 3.3 and Algorithm 1. With a generator G trained on
the clean data, the classifier sees G(z*) instead of x, where

    z* = argmin_z || G(z) - x ||_2^2,

found by L steps of gradient descent, z <- z - lr * grad_z || G(z) - x ||_2^2, from each of R
random starts z_0 drawn from G's noise distribution; the start whose final z has the smallest
reconstruction error wins. The paper uses L = 200 and R = 10 (the defaults here).

The generator is advlab's own (``advlab gan train``): ``DefenseGAN(gan=RUN)`` loads the run's
sampling model (the EMA copy when the run has one) with ``sample_gan.load_trained``, whose images
are already in the data's [0, 1] (the DCGAN family maps Tanh's [-1, 1] inside); a progressive
run's samples are brought to the data's size like ``gan_snapshots.draw`` does. A conditional
generator is refused (the projection has no label to give it). From Python, ``gan`` can also be
the generator module itself (with its ``z_dim``).

The projection is an inner optimisation that attacks do not differentiate: the output stays in the
autograd graph with a gradient of exactly zero (``images * 0 + projected.detach()``), so a naive
gradient attack sees nothing. Athalye, Carlini & Wagner 2018 (sec. 5.3) broke Defense-GAN with
BPDA, treating G(z*) ~ x on the backward pass; and since the random starts make the defense
randomized (``randomized = True``: two calls may differ), the gradient is averaged over draws (EOT),
as ``advlab.attacks.BPDA`` does.
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating

NOISES = ("gaussian", "uniform")


class DefenseGAN(nn.Module):
    """images in [0, 1] -> G(z*), their projection onto the generator's range (Algorithm 1).

    Args:
        gan: a GAN run directory (``advlab gan train``), or a generator module mapping z (N, z_dim) to images in
            [0, 1].
        steps: gradient-descent steps L per start (default 200).
        restarts: random starts R per image (default 10).
        lr: the step size of the descent on || G(z) - x ||_2^2 (default 0.1).
        z_dim: the noise size of a generator module without a ``z_dim`` attribute (ignored for a run).
        noise: the starts' distribution for a module: gaussian (N(0, I)) or uniform (on [-1, 1]).
    """

    randomized = True

    def __init__(self, gan: str | Path | nn.Module, steps: int = 200, restarts: int = 10, lr: float = 0.1,
                 z_dim: int | None = None, noise: str = "gaussian"):
        super().__init__()
        self.steps = check_int("defense-gan: steps", steps, 1)
        self.restarts = check_int("defense-gan: restarts", restarts, 1)
        self.lr = check_number("defense-gan: lr", lr, strict=True)
        if isinstance(gan, nn.Module):
            self.generator, self.z_dim, self.noise = gan, module_z_dim(gan, z_dim), noise
            self.data_shape: tuple[int, ...] | None = None
        else:
            self.generator, self.z_dim, self.noise, self.data_shape = load_generator(gan)
        if self.noise not in NOISES:
            raise AdvlabError(f"defense-gan: noise must be one of {', '.join(NOISES)}, got {self.noise!r}")
        for parameter in self.generator.parameters():
            parameter.requires_grad_(False)
        self.sample_shape = self.output_shape()

    def forward(self, images: Tensor) -> Tensor:
        if tuple(images.shape[1:]) != self.sample_shape:
            raise AdvlabError(f"defense-gan: the generator makes images of shape {self.sample_shape}, the input "
                              f"images have shape {tuple(images.shape[1:])}")
        projected = self.project(images.detach())
        return images * 0 + projected.clamp(0.0, 1.0)  # zero gradient, still in the graph (module docstring)

    def project(self, images: Tensor) -> Tensor:
        """G(z*) for each image: the best of R descents of || G(z) - x ||_2^2, each L steps long (no gradient)."""
        n, r = len(images), self.restarts
        targets = images.repeat_interleave(r, 0)
        z = self.starts(n * r, images.device, images.dtype)
        with torch.enable_grad(), evaluating(self.generator):
            for _ in range(self.steps):
                z.requires_grad_(True)
                error = reconstruction_error(self.generate(z), targets)
                grad, = torch.autograd.grad(error.sum(), z)
                z = (z - self.lr * grad).detach()
            with torch.no_grad():
                reconstructions = self.generate(z)
        errors = reconstruction_error(reconstructions, targets).view(n, r)
        best = errors.argmin(1) + torch.arange(n, device=images.device) * r
        return reconstructions[best].detach()

    def starts(self, count: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        """`count` random z_0 from the generator's noise distribution (torch's global generator)."""
        if self.noise == "uniform":
            return torch.rand(count, self.z_dim, device=device, dtype=dtype) * 2 - 1
        return torch.randn(count, self.z_dim, device=device, dtype=dtype)

    def generate(self, z: Tensor) -> Tensor:
        """G(z), at the data's size for a progressive run (nearest upsampling, as gan_snapshots.draw)."""
        images = self.generator(z)
        if self.data_shape is not None:
            from advlab.pipelines.gan.gan_snapshots import at_data_resolution

            images = at_data_resolution(images, self.data_shape)
        return images

    @torch.no_grad()
    def output_shape(self) -> tuple[int, ...]:
        """The shape (C, H, W) of one generated image."""
        device = next((p.device for p in self.generator.parameters()), torch.device("cpu"))
        with evaluating(self.generator):
            return tuple(self.generate(torch.zeros(1, self.z_dim, device=device)).shape[1:])

    def extra_repr(self) -> str:
        return f"steps={self.steps}, restarts={self.restarts}, lr={self.lr:g}, z_dim={self.z_dim}"


def reconstruction_error(reconstructions: Tensor, targets: Tensor) -> Tensor:
    """|| G(z) - x ||_2^2 per image, (N,)."""
    return (reconstructions - targets).square().flatten(1).sum(1)


def module_z_dim(generator: nn.Module, z_dim: int | None) -> int:
    """The noise size of a generator module: `z_dim`, else its ``z_dim`` attribute."""
    z_dim = z_dim if z_dim is not None else getattr(generator, "z_dim", None)
    if z_dim is None:
        raise AdvlabError("defense-gan: give z_dim for a generator module without a z_dim attribute")
    return check_int("defense-gan: z_dim", z_dim, 1)


def load_generator(run: str | Path) -> tuple[nn.Module, int, str, tuple[int, ...]]:
    """(sampling generator on the CPU, z_dim, noise kind, data sample shape) of a trained, unconditional GAN run."""
    from advlab.pipelines.gan.sample_gan import load_trained

    path = Path(run)
    if not path.exists():
        raise AdvlabError(f"defense-gan: no GAN run at {path} (train one with advlab gan train)")
    with keeping_random_state():  # loading a run seeds the global generators; the caller's stay as they were
        _, trainer = load_trained(path, device="cpu")
    if trainer.data.kind != "images":
        raise AdvlabError(f"defense-gan: the GAN run {path} generates 2-D points, not images")
    if trainer.conditional:
        raise AdvlabError(f"defense-gan: the GAN run {path} is conditional; the projection needs an unconditional "
                          "generator (it has no label to give it)")
    trainer.apply_stage()  # a progressive generator at its last stage
    return trainer.sampling_model(), trainer.z_dim, trainer.noise, tuple(trainer.data.sample_shape)


@contextmanager
def keeping_random_state():
    """Restore Python's, NumPy's and torch's (CPU) global random state after the block."""
    python, numpy = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        yield
    random.setstate(python)
    np.random.set_state(numpy)
