"""The training loop of every game built on advlab.core.game.Game: pix2pix, CycleGAN, SRResNet, SRGAN, MidiNet,
GAN-INT-CLS.

Each iteration draws a fresh minibatch from the run's one sampler and hands it to the game. The data set is any
object with a `name`, `sample(n, generator) -> tuple[Tensor, ...]` (n rows each, uniform with replacement, e.g.
ImagePairs' inputs and targets) and `checkpoint_meta() -> dict` (what a checkpoint records to rebuild the players,
e.g. the image shapes). The loop logs every `log_every` iterations, saves the session's picture every
`sample_every` (samples/step-NNNNNN.png; for image-to-image games a comparison grid of held-out inputs, outputs and
targets), checkpoints every `checkpoint_every` and
at the end, and checks the losses for NaN/inf before each log and checkpoint: a diverged run stops with one line and
its last good checkpoint intact. Ctrl-C stops at the end of the current iteration and saves a checkpoint first; a
resumed run continues exactly (weights, optimiser moments, schedulers, image pools, the sampler's and torch's RNG).

Under torchrun (advlab.core.distributed) every rank draws the same global minibatch and trains on its contiguous
share; the game averages each player's gradients before its step. Rank 0 alone writes the run directory and shows
progress, after every rank has checked that the players agree; a checkpoint records the number of processes and
resuming under another number is refused.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from advlab.core.checkpoints import Checkpoint, load_latest, save_checkpoint
from advlab.core.config import dump_yaml
from advlab.core.distributed import Distributed, context
from advlab.core.errors import AdvlabError
from advlab.core.game import Game
from advlab.core.precision import PRECISIONS, Precision
from advlab.core.runs import MetricsLog, RunDir
from advlab.core.seeding import seed_everything
from advlab.data.image_pairs import ImagePairs
from advlab.pipelines.training import check_world_size, last_good_checkpoint, stop_on_interrupt, warn
from advlab.reports.grids import save_comparison_grid
from advlab.reports.render import write_report


@dataclass
class LoopOptions:
    """What every run of the game loop takes (image-to-image, super-resolution, music, text to image)."""

    steps: int = 2000
    batch_size: int = 4
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    threads: int | None = None
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    tensorboard: bool = True
    out: str | None = None

    def check_loop(self) -> None:
        for name in ("steps", "batch_size", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise AdvlabError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.precision not in PRECISIONS:
            raise AdvlabError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


Columns = Callable[[Game, Tensor, Tensor], list[tuple[str, Tensor]]]
Picture = Callable[[Game, Path], Path]


@dataclass
class Session:
    """One training run's parts: the game, its data, the sampler, the run directory and how to picture and judge
    the game (`picture(game, path)`: writes the PNG a person looks at to follow training, rank 0 only, after the
    players are synchronised; `evaluate(game, data)`: the held-out figures for the summary)."""

    game: Game
    data: object  # name, sample(n, generator) -> tuple of tensors, checkpoint_meta() -> dict (module docstring)
    sampler: torch.Generator
    run: RunDir
    picture: Picture
    evaluate: Callable[[Game, object], dict[str, float]]
    command: str

    @property
    def dist(self) -> Distributed:
        return self.game.dist


def restore(session: Session, checkpoint: Checkpoint) -> None:
    """Continue `session` from `checkpoint` (same number of processes only)."""
    check_world_size(checkpoint, session.dist)
    session.game.restore(checkpoint.tensors, checkpoint.meta, checkpoint.step, str(checkpoint.path))
    session.sampler.set_state(checkpoint.tensors["rng.sampler"])


def run_loop(session: Session, config, log: MetricsLog | None, progress: bool) -> float:
    """Train to `config.steps`; returns seconds. `log` is None on every rank but 0."""
    game, start = session.game, time.perf_counter()
    session.dist.check_divisible(config.batch_size)
    rows = session.dist.shard(config.batch_size)
    bar = tqdm(total=config.steps, initial=game.step, disable=not progress, unit="it", dynamic_ncols=True,
               desc=f"{session.command} {session.data.name}", file=sys.stderr)
    with stop_on_interrupt() as interrupted:
        while game.step < config.steps and not stopping(game, config, interrupted):
            record = (game.step + 1) % config.log_every == 0
            batch = session.data.sample(config.batch_size, session.sampler)
            stats = game.train_iteration(*(part[rows] for part in batch), record=record)
            bar.update(1)
            if record:
                ensure_finite(session)
                if log is not None:
                    log.write("train", game.step, {**stats, "time": time.perf_counter() - start})
                bar.set_postfix({k: f"{v:.3g}" for k, v in list(stats.items())[:3]}, refresh=False)
            if game.step % config.sample_every == 0:
                snapshot(session, session.run.samples / f"step-{game.step:06d}.png")
            if game.step % config.checkpoint_every == 0 or game.step == config.steps:
                checkpoint(session, config)
        if game.step < config.steps:  # interrupted
            checkpoint(session, config)
            bar.close()
            raise AdvlabError(f"interrupted at step {game.step}; checkpoint saved — continue with "
                              f"advlab {session.command} --resume {session.run.root}")
    bar.close()
    return time.perf_counter() - start


def stopping(game: Game, config, interrupted) -> bool:
    """Ctrl-C seen; under torchrun the ranks agree on it every `log_every` steps, so all stop together."""
    if game.dist.active and game.step % config.log_every:
        return False
    return not game.dist.all_true(not interrupted())


def ensure_finite(session: Session) -> None:
    """Stop with one line when a loss went NaN/inf; the last checkpoint stays as it was."""
    if not session.game.check_finite():
        raise AdvlabError(f"a loss became NaN or infinite by step {session.game.step}; training stopped and "
                          f"{last_good_checkpoint(session.run.checkpoints)}. Try a lower learning rate.")


def checkpoint(session: Session, config) -> None:
    """Every rank checks the losses and that the players agree; rank 0 writes the checkpoint."""
    ensure_finite(session)
    game = session.game
    game.synchronise()
    game.check_consistency()
    if session.dist.is_main:
        tensors, meta = game.state()
        tensors["rng.sampler"] = session.sampler.get_state()
        meta.update(world_size=session.dist.world_size, **session.data.checkpoint_meta())
        save_checkpoint(session.run.checkpoints, game.step, tensors, meta, keep=config.keep_checkpoints)


SNAPSHOT_ROWS = 8


def snapshot_rows(data: ImagePairs) -> tuple[Tensor, Tensor]:
    """The first SNAPSHOT_ROWS held-out inputs and targets (training rows when there is no held-out split)."""
    source = data.held_out or data
    return source.a[:SNAPSHOT_ROWS], source.b[:SNAPSHOT_ROWS]


def comparison_picture(data: ImagePairs, columns: Columns, device: torch.device) -> Picture:
    """An image-to-image session's picture: a comparison grid of the first held-out examples, its columns titled
    and computed by `columns(game, inputs, targets)`."""
    def picture(game: Game, path: Path) -> Path:
        inputs, targets = (side.to(device) for side in snapshot_rows(data))
        return save_comparison_grid(columns(game, inputs, targets), path)
    return picture


def snapshot(session: Session, path: Path) -> Path | None:
    """The session's picture (rank 0 writes it; every rank synchronises first)."""
    session.game.synchronise()
    if not session.dist.is_main:
        return None
    return session.picture(session.game, path)


def train_run(config, build: Callable[[Distributed, torch.device, Precision, RunDir], Session], resume: bool,
              overwrite: bool, progress: bool, report: bool) -> RunDir:
    """Train (or continue) the run `config` describes: `build` makes its session on this rank's device; rank 0
    writes config.yaml, metrics.jsonl, samples, checkpoints, summary.json (the held-out figures) and the report."""
    if config.out is None:
        raise AdvlabError("no output directory: pass --out DIR (or 'out:' in the config)")
    run = RunDir(Path(config.out))
    dist = context(config.device)
    saved = load_latest(run.checkpoints, warn=warn) if resume else None
    seed_everything(config.seed)
    device = dist.device(config.device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    session = build(dist, device, Precision(config.precision, device), run)
    if saved is not None:
        restore(session, saved)
    else:  # rank 0 makes the run directory; its refusal stops every rank
        dist.on_main(lambda: run.prepare_new(overwrite))
    log = None
    if dist.is_main:
        dump_yaml(config, run.config)
        log = MetricsLog(run, saved.step if saved else None, config.tensorboard)
    try:
        seconds = run_loop(session, config, log, progress and dist.is_main)
    finally:
        if log is not None:
            log.close()
    snapshot(session, run.samples / "final.png")  # every rank: it synchronises the players' buffers first
    if dist.is_main:
        figures = session.evaluate(session.game, session.data)
        run.write_summary({"step": session.game.step, "seconds": round(seconds, 2), **figures})
        if report:
            write_report(run.root)
    dist.barrier()
    return run
