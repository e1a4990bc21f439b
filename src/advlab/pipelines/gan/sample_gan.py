"""`advlab gan sample`: draw from a trained run's generator (the EMA copy when the run has one), or from a
generator downloaded from the playground's GAN page (a safetensors file whose header metadata says format
``advlab-playground-generator/1``; see :mod:`advlab.models.generator_file`).

A playground file is recognised by its header alone (the 8-byte length and the JSON after it; nothing is
unpickled), drawn from with :func:`advlab.gan.trainer.sample_noise` of the file's noise kind and a CPU
``torch.Generator`` seeded by ``--seed`` (so the samples do not depend on the device), and written as a .npy
array or as a scatter of the points (:func:`advlab.reports.plots.plot_points_over_heatmap`) over the density of
the generated points, with real points when the file's data is a known distribution (ring8, grid25, spiral).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from advlab.core.checkpoints import list_checkpoints, load_latest, read_checkpoint
from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator, seed_everything
from advlab.data import TOY2D
from advlab.gan.trainer import GANTrainer, sample_noise
from advlab.models.generator_file import is_generator_file, load_generator
from advlab.pipelines.gan.gan_setup import build_trainer, load_data, restore_trainer
from advlab.pipelines.gan.gan_snapshots import DRAW_BATCH, draw, image_snapshot, points_snapshot
from advlab.pipelines.gan.train_gan import resume_config, warn
from advlab.reports.plots import plot_points_over_heatmap

OUTPUTS = (".png", ".npy")
DENSITY_CELLS = 40  # the generated-density background of a playground scatter is DENSITY_CELLS^2


def locate(path: Path):
    """(run directory, checkpoint) for a run directory or a checkpoint file inside one."""
    if path.is_dir():
        if not (path / "config.yaml").exists():
            raise AdvlabError(f"{path} is not a GAN run: it has no config.yaml (train one with advlab gan train)")
        if not list_checkpoints(path / "checkpoints"):
            raise AdvlabError(f"{path} holds no generator: it has no checkpoint in {path / 'checkpoints'}")
        return path, load_latest(path / "checkpoints", warn=warn)
    if path.suffix == ".safetensors" and path.exists():
        record = path.with_suffix(".json")
        if not record.exists() and is_generator_file(path):
            raise AdvlabError(f"{path} is a playground generator, not a run's checkpoint: it has no data or "
                              "discriminator to judge it by; draw from it with advlab gan sample")
        if not record.exists():
            raise AdvlabError(f"{path} has no checkpoint record {record.name} beside it")
        return path.parent.parent, read_checkpoint(record)
    raise AdvlabError(f"{path} is neither a run directory nor a checkpoint .safetensors file")


def load_trained(path: str | Path, device: str = "auto") -> tuple[Path, GANTrainer]:
    """(run directory, trainer restored from its latest checkpoint) for a run directory or checkpoint file."""
    run_dir, checkpoint = locate(Path(path))
    config = resume_config(run_dir)
    seed_everything(config.seed)
    torch_device = resolve_device(device)
    config, data = load_data(config, torch_device, note=lambda _: None)
    trainer = build_trainer(config.resolved(data.kind, data.sample_shape[-1]), data, torch_device)
    restore_trainer(trainer, checkpoint)
    return run_dir, trainer


def check_label(trainer: GANTrainer, label: int | None) -> None:
    """A --label needs a conditional run and a class it was trained on."""
    if label is None:
        return
    if not trainer.conditional:
        raise AdvlabError("--label needs a conditional run (--model cgan, projection or acgan, or --conditional); "
                          "this run is unconditional")
    if not 0 <= label < trainer.classes:
        raise AdvlabError(f"--label {label} is outside the run's labels 0..{trainer.classes - 1}")


def sample_run(path: str | Path, n: int, out: Path, seed: int = 0, device: str = "auto",
               label: int | None = None) -> Path:
    """Write n samples of the run at `path` to `out` (.png picture or .npy array); only class `label` if given."""
    if out.suffix not in OUTPUTS:
        raise AdvlabError(f"--out must end in {' or '.join(OUTPUTS)}, got {out.name}")
    if is_generator_file(Path(path)):
        return sample_playground(Path(path), n, out, seed, device, label)
    run_dir, trainer = load_trained(path, device)
    check_label(trainer, label)
    data = trainer.data
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, draw(trainer, n, seed, label).cpu().numpy())
    elif data.kind == "points":
        title = f"{run_dir.name}: step {trainer.step}" + ("" if label is None else f", label {label}")
        points_snapshot(trainer, out, seed, title=title, n=n, label=label)
    else:
        image_snapshot(trainer, out, seed, n=n, label=label)
    return out


# ---------------------------------------------------------------------- playground downloads


@torch.no_grad()
def draw_playground(path: Path, n: int, seed: int, device: str = "auto") -> tuple[torch.Tensor, dict]:
    """(n samples on the CPU, the file's description) of the playground generator at `path`: G(z) with
    z = sample_noise(n, z_dim, noise, torch.Generator().manual_seed(seed)), as load_generator's docstring draws."""
    generator, info = load_generator(path)
    if info["noise"] not in ("uniform", "gaussian"):
        raise AdvlabError(f"{path}: unknown noise kind {info['noise']!r} in its description "
                          "(expected uniform or gaussian)")
    noise = sample_noise(n, info["z_dim"], info["noise"], make_generator(seed, torch.device("cpu")))
    torch_device = resolve_device(device)
    generator = generator.to(torch_device)
    samples = torch.cat([generator(batch.to(torch_device)).cpu() for batch in noise.split(DRAW_BATCH)])
    return samples, info


def sample_playground(path: Path, n: int, out: Path, seed: int = 0, device: str = "auto",
                      label: int | None = None) -> Path:
    """Write n samples of the playground generator at `path` to `out`: the (n, out_features) array (.npy) or
    a scatter of the 2-D points (.png) over their density, with the known data's points (seed + 1) as real."""
    if label is not None:
        raise AdvlabError(f"--label needs a conditional run; {path.name} is an unconditional playground generator")
    samples, info = draw_playground(path, n, seed, device)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, samples.numpy())
        return out
    if samples.shape[1] != 2:
        raise AdvlabError(f"{path.name} draws {samples.shape[1]}-D samples; a scatter needs 2-D (write .npy)")
    known = TOY2D.get(info["data"])  # data that can be drawn again as the real points
    real = known().sample(n, make_generator(seed + 1, torch.device("cpu"))) if known else torch.zeros(0, 2)
    xs, ys, heat = density_grid(samples, real)
    title = f"{path.name}: playground {info['data']}, step {info['step']}" + ("" if known else ", no real points")
    plot_points_over_heatmap(real, samples, xs, ys, heat, out, title=title,
                             heat_label="generated density (of its peak)")
    return out


def density_grid(fake: torch.Tensor, real: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x centres, y centres, counts / max count) of the finite generated points on a DENSITY_CELLS^2 grid over
    the view: the real points' box, or the generated points' 0.5-99.5 percentile box when there are no real
    points (so a few far points do not shrink the picture), widened by a quarter of its longer side."""
    points = fake.double().numpy()
    points = points[np.isfinite(points).all(1)]
    frame = real.double().numpy() if len(real) else points
    if len(frame) == 0:
        low, high = np.full(2, -1.0), np.full(2, 1.0)
    elif len(real):
        low, high = frame.min(0), frame.max(0)
    else:
        low, high = np.percentile(frame, 0.5, axis=0), np.percentile(frame, 99.5, axis=0)
    margin = max(0.25 * float((high - low).max()), 1e-3)
    low, high = low - margin, high + margin
    counts, x_edges, y_edges = np.histogram2d(points[:, 0], points[:, 1], bins=DENSITY_CELLS,
                                              range=[[low[0], high[0]], [low[1], high[1]]])
    heat = counts.T / max(counts.max(), 1.0)  # rows are y, as plot_points_over_heatmap wants
    return (x_edges[:-1] + x_edges[1:]) / 2, (y_edges[:-1] + y_edges[1:]) / 2, heat
