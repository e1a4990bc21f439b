"""`advlab gan interpolate`: a latent walk — what the generator makes along paths between noise vectors.

Each row walks from one noise vector z0 to another z1 in `steps` images. For Gaussian noise the path is the
spherical interpolation (slerp) of White 2016, "Sampling generative networks", sec. 2.1: a straight line between
two Gaussian samples passes through points of atypically small norm, which the generator rarely saw; slerp keeps the
norm typical. Uniform noise on [-1, 1] uses the straight line (Radford et al. 2016, sec. 6.1, walk linearly). A
conditional generator keeps one label per row (row i draws class i mod classes), so the walk shows style, not class.
Smooth transitions suggest the generator learned a continuous manifold rather than memorising samples (Radford
et al. 2016, sec. 6.1); sharp jumps are what memorisation looks like.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.core.seeding import make_generator
from advlab.gan.trainer import GANTrainer, sample_noise
from advlab.pipelines.gan.gan_snapshots import at_data_resolution
from advlab.pipelines.gan.sample_gan import load_trained
from advlab.reports.grids import save_image_grid

PARALLEL = 1e-6  # below this angle two noise vectors are treated as parallel (slerp degenerates to lerp)


def slerp(start: torch.Tensor, end: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of start and end (N, d) at weights (S,) in [0, 1] -> (N, S, d)."""
    cosine = torch.nn.functional.cosine_similarity(start, end, dim=1).clamp(-1, 1)
    angle = torch.acos(cosine)[:, None, None]  # (N, 1, 1)
    t = weights[None, :, None]
    linear = (1 - t) * start[:, None] + t * end[:, None]
    sine = torch.sin(angle)
    spherical = (torch.sin((1 - t) * angle) * start[:, None] + torch.sin(t * angle) * end[:, None]) / \
        torch.where(sine.abs() < PARALLEL, torch.ones_like(sine), sine)
    return torch.where(angle < PARALLEL, linear, spherical)


def latent_walk(trainer: GANTrainer, rows: int, steps: int, seed: int) -> torch.Tensor:
    """(rows * steps, C, H, W) images: row r walks between two noise vectors fixed by `seed`."""
    device = trainer.sampler.device
    noise = sample_noise(2 * rows, trainer.z_dim, trainer.noise, make_generator(seed, device))
    weights = torch.linspace(0, 1, steps, device=device)
    start, end = noise[:rows], noise[rows:]
    if trainer.noise == "uniform":
        path = (1 - weights[None, :, None]) * start[:, None] + weights[None, :, None] * end[:, None]
    else:
        path = slerp(start, end, weights)
    path = path.reshape(rows * steps, trainer.z_dim)
    trainer.apply_stage()
    with torch.no_grad(), evaluating(trainer.sampling_model()) as model:
        if trainer.conditional:
            labels = (torch.arange(rows, device=device) % trainer.classes).repeat_interleave(steps)
            images = model(path, labels)
        else:
            images = model(path)
    return at_data_resolution(images, trainer.data.sample_shape)


def interpolate_run(path: str | Path, out: Path, rows: int = 8, steps: int = 10, seed: int = 0,
                    device: str = "auto") -> Path:
    """Write the latent walk of the run at `path` as a PNG grid (rows x steps) to `out`."""
    check_int("--rows", rows, 1)
    check_int("--steps", steps, 2)
    if out.suffix != ".png":
        raise AdvlabError(f"--out must end in .png, got {out.name}")
    _, trainer = load_trained(path, device)
    if trainer.data.kind != "images":
        raise AdvlabError("gan interpolate draws images; this run generates 2-D points (use gan sample to plot them)")
    images = latent_walk(trainer, rows, steps, seed).cpu()
    scale = max(1, math.ceil(512 / (steps * (images.shape[-1] + 2))))
    return save_image_grid(images, out, nrow=steps, scale=scale)
