"""What a person looks at during training: sample pictures and, for 2-D data, mode counts.

Images: a grid of samples from a fixed noise batch. 2-D points: real and generated points
over the discriminator's output on a grid, and modes covered / high-quality fraction
(VEEGAN and PacGAN's measures, `advlab.metrics.mode_coverage`) on 2,500 samples.
Every draw here uses its own generator, so snapshots never disturb the training RNG.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from advlab.core.modes import evaluating
from advlab.core.seeding import make_generator
from advlab.data import GaussianMixture2D
from advlab.gan.trainer import GANTrainer, sample_noise
from advlab.metrics import mode_coverage
from advlab.reports.grids import save_image_grid
from advlab.reports.plots import plot_points_over_heatmap

EVAL_SAMPLES = 2500  # VEEGAN / PacGAN count modes on 2,500 samples
GRID_SAMPLES = 64
HEATMAP_CELLS = 100
DRAW_BATCH = 1000  # samples per forward pass (eval mode: batching does not change them)


@torch.no_grad()
def draw(trainer: GANTrainer, n: int, seed: int) -> torch.Tensor:
    """n samples from the sampling model, from noise fixed by `seed` (in batches of DRAW_BATCH)."""
    noise = sample_noise(n, trainer.z_dim, trainer.noise, make_generator(seed, trainer.sampler.device))
    with evaluating(trainer.sampling_model()) as model:
        return torch.cat([model(batch) for batch in noise.split(DRAW_BATCH)])


@torch.no_grad()
def discriminator_heatmap(trainer: GANTrainer, low: torch.Tensor, high: torch.Tensor):
    """D(x) on a HEATMAP_CELLS^2 grid spanning [low, high] in each coordinate."""
    device = trainer.sampler.device
    xs = torch.linspace(float(low[0]), float(high[0]), HEATMAP_CELLS, device=device)
    ys = torch.linspace(float(low[1]), float(high[1]), HEATMAP_CELLS, device=device)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    with evaluating(trainer.discriminator) as discriminator:
        heat = trainer.loss.probability(discriminator(grid)).reshape(HEATMAP_CELLS, HEATMAP_CELLS)
    return xs.cpu(), ys.cpu(), heat.cpu()


def points_snapshot(trainer: GANTrainer, path: Path, seed: int, title: str,
                    n: int = EVAL_SAMPLES) -> dict[str, float]:
    """Scatter of n samples over D's heatmap to `path`; mode counts for a known mixture."""
    fake = draw(trainer, n, seed).cpu()
    real = trainer.data.sample(n, make_generator(seed + 1, trainer.sampler.device)).cpu()
    low, high = real.min(0).values, real.max(0).values
    margin = 0.25 * (high - low).max()
    xs, ys, heat = discriminator_heatmap(trainer, low - margin, high + margin)
    plot_points_over_heatmap(real, fake, xs, ys, heat, path, title=title)
    if not isinstance(trainer.data, GaussianMixture2D):
        return {}
    coverage = mode_coverage(fake, trainer.data)
    return {"modes": coverage.modes, "total_modes": coverage.total_modes,
            "high_quality": coverage.high_quality, "kl": coverage.kl}


def image_snapshot(trainer: GANTrainer, path: Path, seed: int, n: int = GRID_SAMPLES) -> dict[str, float]:
    """A grid of n samples to `path`, upscaled to about 256 pixels across."""
    images = draw(trainer, n, seed).cpu()
    nrow = math.ceil(math.sqrt(n))
    scale = max(1, math.ceil(256 / (nrow * (images.shape[-1] + 2))))
    save_image_grid(images, path, nrow=nrow, scale=scale)
    return {}


def snapshot(trainer: GANTrainer, path: Path, seed: int) -> dict[str, float]:
    """Save the picture for this step; return evaluation figures (empty for images)."""
    if trainer.data.kind == "points":
        return points_snapshot(trainer, path, seed, title=f"step {trainer.step}")
    return image_snapshot(trainer, path, seed)
