"""`advlab gan sample`: draw from a trained run's generator (the EMA copy when the run has one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from advlab.core.checkpoints import list_checkpoints, load_latest, read_checkpoint
from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError
from advlab.core.seeding import seed_everything
from advlab.gan.trainer import GANTrainer
from advlab.pipelines.gan_setup import build_trainer, load_data, restore_trainer
from advlab.pipelines.gan_snapshots import draw, image_snapshot, points_snapshot
from advlab.pipelines.train_gan import resume_config, warn

OUTPUTS = (".png", ".npy")


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
    data = load_data(config, torch_device)
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
