"""GAN-Leaks: membership inference on a generator by reconstruction (Chen, Yu, Zhang & Fritz, CCS 2020).

"GAN-Leaks: A Taxonomy of Membership Inference Attacks against Generative Models". A generator reproduces
its training images more faithfully than unseen ones, so the attacker scores a query x by how well the
generator can reconstruct it (sec. 5, eq. 3-4):

    R(x | G) = G(z*),   z* = argmin_z L(x, G(z)),     membership score = -L(x, R(x | G)),

with L(x, x') = ||x - x'||_2^2 (squared Euclidean distance over pixels). Two of the paper's attacker settings:

* **Full black-box** (sec. 5.2): the attacker only draws samples. z* is the best of ``samples`` = k latent
  codes drawn once and shared by every query, i.e. the nearest generated sample (the paper's k reaches 100k;
  the attack grows stronger with k).
* **White-box** (sec. 5.4): the attacker back-propagates through G. Starting from the best of the k codes,
  z is optimised with L-BFGS (the reference code's step size 0.015) on
  ``||x - G(z)||^2 + lambda3 * (||z||^2 - dim(z))^2``, whose second term (lambda3 = 0.001, eq. 5) keeps z where a
  Gaussian latent has its mass. The best reconstruction seen during the optimisation is kept, so the white-box
  distance is never above the black-box one.

**Calibration** (sec. 5.5, eq. 8): given a reference generator G_r trained on other data of the same
distribution, the score becomes -(L(x, R(x | G)) - L(x, R(x | G_r))): an image that any generator reconstructs
well (a simple digit) is no longer taken for a member.

Not implemented: the paper's LPIPS term (lambda2 = 0.2 in L) needs pretrained ImageNet features, which advlab
does not download; L here is the pixel L2 term alone. The partial black-box setting (Powell's method on z
with only sample access) is not implemented either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from advlab.attacks.base import check_images
from advlab.core.devices import module_device
from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator
from advlab.gan.trainer import sample_noise
from advlab.metrics.distances import pairwise_chunks
from advlab.privacy.gan.logan import check_batch_size

Generator = Callable[[Tensor], Tensor]
OPTIMISERS = ("lbfgs", "adam")
NOISES = ("normal", "uniform")


@dataclass(frozen=True)
class Reconstruction:
    """The best reconstruction of each of N queries: `distances` (N,) float64 = ||x - G(z*)||^2, `latents`
    (N, z_dim) = z*, `images` (N, C, H, W) = G(z*), all on the CPU."""

    distances: Tensor
    latents: Tensor
    images: Tensor


def check_positive_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise AdvlabError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


class GANLeaks:
    """GAN-Leaks' reconstruction attack (module docstring); ``score`` gives (N,) scores, higher = member.

    Args:
        samples: k, the latent codes drawn once and shared by all queries (default 10000).
        steps: white-box optimisation steps from the best of the k codes (default 0: the full black-box attack;
            the white-box attack with the paper's L-BFGS takes about 100).
        optimiser: "lbfgs" (the paper's, default) or "adam".
        lr: the optimiser's step size (default 0.015, the reference code's L-BFGS step; about 0.05 for Adam).
        lambda3: weight of the latent-norm regulariser (||z||^2 - dim(z))^2 (default 0.001, the paper's).
        noise: the generator's latent distribution, "normal" (default) or "uniform" on [-1, 1].
        z_dim: latent width; default None reads the generator's ``z_dim`` attribute.
        batch_size: generator forward passes and queries per white-box batch (default 256).
        seed: seeds the k latent codes (default 0).
    """

    name = "GAN-Leaks"

    def __init__(self, samples: int = 10000, steps: int = 0, optimiser: str = "lbfgs", lr: float = 0.015,
                 lambda3: float = 0.001, noise: str = "normal", z_dim: int | None = None, batch_size: int = 256,
                 seed: int = 0):
        self.samples = check_positive_int("samples", samples, 1)
        self.steps = check_positive_int("steps", steps, 0)
        if optimiser not in OPTIMISERS:
            raise AdvlabError(f"GAN-Leaks: unknown optimiser {optimiser!r}; valid ones are: {', '.join(OPTIMISERS)}")
        if noise not in NOISES:
            raise AdvlabError(f"GAN-Leaks: unknown noise {noise!r}; valid ones are: {', '.join(NOISES)}")
        for key, value in (("lr", lr), ("lambda3", lambda3)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
                raise AdvlabError(f"GAN-Leaks: {key} must be a number >= 0, got {value!r}")
        self.optimiser, self.lr, self.lambda3, self.noise = optimiser, float(lr), float(lambda3), noise
        self.z_dim = None if z_dim is None else check_positive_int("z_dim", z_dim, 1)
        self.batch_size, self.seed = check_batch_size(batch_size), check_positive_int("seed", seed, 0)

    # ------------------------------------------------------------------ public

    def score(self, generator: Generator, images: Tensor, reference: Generator | None = None) -> Tensor:
        """(N,) float64 membership scores of `images` (N, C, H, W) in [0, 1]: -||x - R(x|G)||^2, minus the same
        for the `reference` generator when one is given (calibration, eq. 8). Higher = more likely a member."""
        distances = self.reconstruct(generator, images).distances
        if reference is not None:
            distances = distances - self.reconstruct(reference, images).distances
        return -distances

    def reconstruct(self, generator: Generator, images: Tensor) -> Reconstruction:
        """The best reconstruction of each image: black-box nearest of the k samples, then `steps` white-box
        steps. The generator runs in eval mode (restored afterwards); its weights get no gradients."""
        images = check_images(images, "GAN-Leaks images")
        z_dim = self.latent_width(generator)
        module = generator if isinstance(generator, nn.Module) else None
        device = module_device(module) if module is not None else images.device
        was_training = module.training if module is not None else False
        if module is not None:
            module.eval()
        try:
            best = self.nearest_samples(generator, images, z_dim, device)
            if self.steps:
                best = self.optimise(generator, images, best, device)
        finally:
            if module is not None:
                module.train(was_training)
        return best

    # ------------------------------------------------------------------ the two stages

    def latent_width(self, generator) -> int:
        z_dim = self.z_dim if self.z_dim is not None else getattr(generator, "z_dim", None)
        if isinstance(z_dim, bool) or not isinstance(z_dim, int) or z_dim < 1:
            raise AdvlabError("GAN-Leaks: the generator has no integer z_dim attribute; give z_dim=...")
        return z_dim

    def generate(self, generator: Generator, z: Tensor, shape: tuple[int, ...]) -> Tensor:
        out = generator(z)
        if not isinstance(out, Tensor) or tuple(out.shape) != (len(z), *shape):
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise AdvlabError(f"GAN-Leaks: the generator must map z (n, z_dim) to images (n, *{shape}) like the "
                              f"queries, got {got}")
        return out

    def nearest_samples(self, generator: Generator, images: Tensor, z_dim: int, device) -> Reconstruction:
        """Full black-box: the nearest of k generated samples to each query (k drawn in batches, seeded)."""
        draws = make_generator(self.seed, torch.device(device))
        queries = images.reshape(len(images), -1).to(device).float()
        shape = tuple(images.shape[1:])
        best = torch.full((len(images),), float("inf"), dtype=torch.float64, device=device)
        best_z = torch.zeros(len(images), z_dim, device=device)
        best_x = torch.zeros(len(images), queries.shape[1], device=device)
        with torch.no_grad():
            for start in range(0, self.samples, self.batch_size):
                z = sample_noise(min(self.batch_size, self.samples - start), z_dim, self.noise, draws)
                fake = self.generate(generator, z, shape).reshape(len(z), -1).float()
                index = torch.empty(len(queries), dtype=torch.int64, device=device)
                for rows, squared in pairwise_chunks(queries, fake):
                    index[rows] = squared.argmin(1)
                distance = (queries.double() - fake[index].double()).pow(2).sum(1)
                better = distance < best
                best = torch.where(better, distance, best)
                best_z[better], best_x[better] = z[index[better]], fake[index[better]]
        return Reconstruction(best.cpu(), best_z.cpu(), best_x.reshape(images.shape).cpu())

    def optimise(self, generator: Generator, images: Tensor, start: Reconstruction, device) -> Reconstruction:
        """White-box: `steps` optimiser steps on z per batch of queries, keeping the best reconstruction seen."""
        parts = [self.optimise_batch(generator, images[i:i + self.batch_size].to(device),
                                     start.latents[i:i + self.batch_size].to(device),
                                     start.distances[i:i + self.batch_size], start.images[i:i + self.batch_size])
                 for i in range(0, len(images), self.batch_size)]
        return Reconstruction(*(torch.cat(items) for items in zip(*parts)))

    def objective(self, generator: Generator, x: Tensor, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(the summed loss to minimise, per-query squared distances (n,), G(z)) for eq. 3 plus eq. 5's term."""
        fake = self.generate(generator, z, tuple(x.shape[1:]))
        distances = (fake - x).pow(2).flatten(1).sum(1)
        regulariser = (z.pow(2).sum(1) - z.shape[1]).pow(2)
        return (distances + self.lambda3 * regulariser).sum(), distances, fake

    def optimise_batch(self, generator, x, z0, best, best_x):
        z = z0.clone().requires_grad_(True)
        best, best_z, best_x = best.clone(), z0.detach().cpu().clone(), best_x.clone()
        if self.optimiser == "lbfgs":
            optimiser = torch.optim.LBFGS([z], lr=self.lr, max_iter=1, history_size=20)
        else:
            optimiser = torch.optim.Adam([z], lr=self.lr)

        def closure():
            optimiser.zero_grad()
            loss, _, _ = self.objective(generator, x, z)
            z.grad = torch.autograd.grad(loss, z)[0]
            return loss

        for _ in range(self.steps):
            optimiser.step(closure)
            with torch.no_grad():
                _, distances, fake = self.objective(generator, x, z)
            distances = distances.double().cpu()
            better = distances < best
            best = torch.where(better, distances, best)
            best_z[better] = z.detach().cpu()[better]
            best_x[better] = fake.detach().cpu()[better]
        return best, best_z, best_x


def gan_leaks_scores(generator: Generator, images: Tensor, reference: Generator | None = None,
                     **options) -> Tensor:
    """GAN-Leaks scores (N,) float64, higher = member: ``GANLeaks(**options).score(generator, images, reference)``."""
    return GANLeaks(**options).score(generator, images, reference)


__all__ = ["GANLeaks", "Reconstruction", "gan_leaks_scores"]
