"""The training loop of every image-to-image game (advlab.translation.game.ImageGame): pix2pix, CycleGAN, SRResNet,
SRGAN.

Each iteration draws a fresh minibatch of (inputs, targets) from the run's one sampler (ImagePairs.sample: uniform
with replacement) and hands it to the game. The loop logs every `log_every` iterations, saves a comparison grid every
`sample_every` (samples/step-NNNNNN.png: held-out inputs, outputs, targets), checkpoints every `checkpoint_every` and
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
from advlab.core.precision import Precision
from advlab.core.runs import MetricsLog, RunDir
from advlab.core.seeding import seed_everything
from advlab.data.image_pairs import ImagePairs
from advlab.pipelines.training import check_world_size, last_good_checkpoint, stop_on_interrupt, warn
from advlab.reports.grids import save_comparison_grid
from advlab.reports.render import write_report
from advlab.translation.game import ImageGame

Columns = Callable[[ImageGame, Tensor, Tensor], list[tuple[str, Tensor]]]


@dataclass
class Session:
    """One training run's parts: the game, its data, the sampler, the run directory and how to picture and judge
    the game (`columns`: the titled image columns of a comparison grid for some held-out inputs and targets;
    `evaluate`: the held-out figures for the summary)."""

    game: ImageGame
    data: ImagePairs
    sampler: torch.Generator
    run: RunDir
    columns: Columns
    evaluate: Callable[[ImageGame, ImagePairs], dict[str, float]]
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
            inputs, targets = session.data.sample(config.batch_size, session.sampler)
            stats = game.train_iteration(inputs[rows], targets[rows], record)
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


def stopping(game: ImageGame, config, interrupted) -> bool:
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
        meta.update(world_size=session.dist.world_size, a_shape=list(session.data.a_shape),
                    b_shape=list(session.data.b_shape))
        save_checkpoint(session.run.checkpoints, game.step, tensors, meta, keep=config.keep_checkpoints)


SNAPSHOT_ROWS = 8


def snapshot_rows(data: ImagePairs) -> tuple[Tensor, Tensor]:
    """The first SNAPSHOT_ROWS held-out inputs and targets (training rows when there is no held-out split)."""
    source = data.held_out or data
    return source.a[:SNAPSHOT_ROWS], source.b[:SNAPSHOT_ROWS]


def snapshot(session: Session, path: Path) -> Path | None:
    """A comparison grid of held-out examples (rank 0 writes it; every rank synchronises first)."""
    session.game.synchronise()
    if not session.dist.is_main:
        return None
    inputs, targets = (side.to(session.sampler.device) for side in snapshot_rows(session.data))
    return save_comparison_grid(session.columns(session.game, inputs, targets), path)


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
    session.game.synchronise()
    if dist.is_main:
        snapshot(session, run.samples / "final.png")
        figures = session.evaluate(session.game, session.data)
        run.write_summary({"step": session.game.step, "seconds": round(seconds, 2), **figures})
        if report:
            write_report(run.root)
    dist.barrier()
    return run
