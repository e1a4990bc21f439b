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
from advlab.models.progan import upsample_to
from advlab.reports.grids import save_image_grid
from advlab.reports.plots import plot_points_over_heatmap

EVAL_SAMPLES = 2500  # VEEGAN / PacGAN count modes on 2,500 samples
GRID_SAMPLES = 64
HEATMAP_CELLS = 100
DRAW_BATCH = 1000  # samples per forward pass (eval mode: batching does not change them)


@torch.no_grad()
def draw(trainer: GANTrainer, n: int, seed: int, label: int | None = None) -> torch.Tensor:
    """n samples from the sampling model, from noise fixed by `seed` (in batches of DRAW_BATCH).

    A conditional generator draws every class in turn (sample i has label i mod classes), or only `label`.
    """
    device = trainer.sampler.device
    noise = sample_noise(n, trainer.z_dim, trainer.noise, make_generator(seed, device))
    trainer.apply_stage()  # progressive growing: the stage of the current step
    with evaluating(trainer.sampling_model()) as model:
        if not trainer.conditional:
            samples = torch.cat([model(batch) for batch in noise.split(DRAW_BATCH)])
        else:
            labels = torch.full((n,), label, device=device) if label is not None else \
                torch.arange(n, device=device) % trainer.classes
            samples = torch.cat([model(batch, batch_labels) for batch, batch_labels in
                                 zip(noise.split(DRAW_BATCH), labels.split(DRAW_BATCH))])
    return at_data_resolution(samples, trainer.data.sample_shape)


def at_data_resolution(samples: torch.Tensor, sample_shape: tuple[int, ...]) -> torch.Tensor:
    """Samples of a progressive generator before its last stage, upsampled (nearest) to the data's size."""
    if samples.ndim == 4 and samples.shape[-1] != sample_shape[-1]:
        return upsample_to(samples, sample_shape[-1])
    return samples


@torch.no_grad()
def discriminator_heatmap(trainer: GANTrainer, low: torch.Tensor, high: torch.Tensor):
    """D(x) on a HEATMAP_CELLS^2 grid spanning [low, high] in each coordinate."""
    device = trainer.sampler.device
    xs = torch.linspace(float(low[0]), float(high[0]), HEATMAP_CELLS, device=device)
    ys = torch.linspace(float(low[1]), float(high[1]), HEATMAP_CELLS, device=device)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    with evaluating(trainer.discriminator):
        heat = trainer.loss.probability(judge_grid(trainer, grid)).reshape(HEATMAP_CELLS, HEATMAP_CELLS)
    return xs.cpu(), ys.cpu(), heat.cpu()


def judge_grid(trainer: GANTrainer, grid: torch.Tensor) -> torch.Tensor:
    """D's raw output on grid points; a conditional D's averaged over the labels; a packed D (PacGAN) scores
    packs of `pack` copies of each point."""
    grid = grid.repeat_interleave(getattr(trainer.discriminator, "pack", 1), 0)
    if not trainer.conditional:
        return trainer.discriminator(grid)
    labels = [torch.full((len(grid),), label, device=grid.device) for label in range(trainer.classes)]
    return torch.stack([trainer.discriminator(grid, y) for y in labels]).mean(0)


def points_snapshot(trainer: GANTrainer, path: Path, seed: int, title: str,
                    n: int = EVAL_SAMPLES, label: int | None = None) -> dict[str, float]:
    """Scatter of n samples over D's heatmap to `path`; mode counts for a known mixture."""
    fake = draw(trainer, n, seed, label).cpu()
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


def image_snapshot(trainer: GANTrainer, path: Path, seed: int, n: int = GRID_SAMPLES,
                   label: int | None = None) -> dict[str, float]:
    """A grid of n samples to `path`, upscaled to about 256 pixels across; a conditional run's grid has one
    column per class (at most 32 classes), or only class `label`."""
    by_class = trainer.conditional and label is None and trainer.classes <= 32
    if by_class:
        n = trainer.classes * max(1, round(n / trainer.classes))
    images = draw(trainer, n, seed, label).cpu()
    nrow = trainer.classes if by_class else math.ceil(math.sqrt(n))
    scale = max(1, math.ceil(256 / (nrow * (images.shape[-1] + 2))))
    save_image_grid(images, path, nrow=nrow, scale=scale)
    return {}


def snapshot(trainer: GANTrainer, path: Path, seed: int) -> dict[str, float]:
    """Save the picture for this step; return evaluation figures (empty for images)."""
    if trainer.data.kind == "points":
        return points_snapshot(trainer, path, seed, title=f"step {trainer.step}")
    return image_snapshot(trainer, path, seed)
