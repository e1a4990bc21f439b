"""`advlab gan train`: config -> data + players + Algorithm 1 -> a run directory.

The loop logs every `log_every` iterations, snapshots every `sample_every`, checkpoints
every `checkpoint_every` and at the end, and checks losses for NaN/inf before each log and
checkpoint: a diverged run stops with one line and its last good checkpoint intact. Ctrl-C
stops at the end of the current iteration and saves a checkpoint first.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from tqdm import tqdm

from advlab.core.checkpoints import list_checkpoints, load_latest, save_checkpoint
from advlab.core.config import dump_yaml, from_mapping, load_yaml
from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError
from advlab.core.runs import MetricsLog, RunDir
from advlab.core.seeding import seed_everything
from advlab.gan.trainer import GANTrainer
from advlab.pipelines.evaluate_gan import Evaluator
from advlab.pipelines.gan_config import GANTrainConfig
from advlab.pipelines.gan_setup import build_trainer, load_data, restore_trainer, trainer_state
from advlab.pipelines.gan_snapshots import draw, snapshot
from advlab.reports.render import write_report


def warn(message: str) -> None:
    print(f"advlab: warning: {message}", file=sys.stderr)


def resume_config(run_dir: str | Path, steps: int | None = None) -> GANTrainConfig:
    """The stored config of the run in `run_dir`, with `steps` raised if given."""
    run = RunDir(Path(run_dir))
    if not run.config.exists():
        raise AdvlabError(f"cannot resume {run.root}: it has no config.yaml (is it an advlab run?)")
    values = load_yaml(run.config)
    if isinstance(values, dict) and "epochs" in values:
        raise AdvlabError(f"{run.root} is a classifier run, not a GAN run")
    config = from_mapping(GANTrainConfig, values, source=str(run.config))
    config = dataclasses.replace(config, out=str(run.root))
    return config if steps is None else dataclasses.replace(config, steps=steps)


def train_gan(config: GANTrainConfig, resume: bool = False, overwrite: bool = False,
              progress: bool = True, report: bool = True) -> RunDir:
    """Train (or continue) the GAN that `config` describes; returns its run directory."""
    if config.out is None:
        raise AdvlabError("no output directory: pass --out DIR (or 'out:' in the config)")
    run = RunDir(Path(config.out))
    checkpoint = load_latest(run.checkpoints, warn=warn) if resume else None
    seed_everything(config.seed)
    device = resolve_device(config.device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    config, data = load_data(config, device, note=warn)
    config = config.resolved(data.kind, data.sample_shape[-1])
    trainer = build_trainer(config, data, device)
    evaluator = None
    if config.eval_every is not None:
        evaluator = Evaluator(data, config.metrics, config.eval_samples, config.features, config.seed, device,
                              progress)
    if checkpoint is not None:
        restore_trainer(trainer, checkpoint)
    else:
        run.prepare_new(overwrite)
    dump_yaml(config, run.config)
    log = MetricsLog(run, checkpoint.step if checkpoint else None, config.tensorboard)
    try:
        seconds = run_loop(trainer, config, run, log, progress, evaluator)
    finally:
        log.close()
    run.write_summary(summary(trainer, config, run, seconds))
    if report:
        write_report(run.root)
    return run


def run_loop(trainer: GANTrainer, config: GANTrainConfig, run: RunDir, log: MetricsLog,
             progress: bool, evaluator: Evaluator | None = None) -> float:
    """Algorithm 1's outer loop with logging, snapshots and checkpoints; returns seconds."""
    start = time.perf_counter()
    bar = tqdm(total=config.steps, initial=trainer.step, disable=not progress, unit="it",
               desc=f"gan {config.data}", dynamic_ncols=True, file=sys.stderr)
    with stop_on_interrupt() as interrupted:
        while trainer.step < config.steps and not interrupted():
            record = (trainer.step + 1) % config.log_every == 0
            stats = trainer.train_iteration(record)
            bar.update(1)
            if record:
                ensure_finite(trainer, run)
                log.write("train", trainer.step, {**stats, "time": time.perf_counter() - start})
                bar.set_postfix(d=f"{stats['d_loss']:.3f}", g=f"{stats['g_loss']:.3f}", refresh=False)
            evaluate(trainer, config, run, log, evaluator)
            if trainer.step % config.checkpoint_every == 0 or trainer.step == config.steps:
                checkpoint(trainer, config, run)
        if interrupted():
            checkpoint(trainer, config, run)
            bar.close()
            raise AdvlabError(f"interrupted at step {trainer.step}; checkpoint saved — continue with "
                              f"advlab gan train --resume {run.root}")
    bar.close()
    return time.perf_counter() - start


def evaluate(trainer: GANTrainer, config: GANTrainConfig, run: RunDir, log: MetricsLog,
             evaluator: Evaluator | None) -> dict:
    """Every `sample_every` steps a snapshot picture (and mode counts for 2-D data), every `eval_every`
    steps the chosen metrics; one "eval" record in the log for whatever this step produced."""
    figures = {}
    if trainer.step % config.sample_every == 0:
        figures.update(snapshot(trainer, run.samples / f"step-{trainer.step:06d}.png", config.seed + 1))
    if evaluator is not None and trainer.step % config.eval_every == 0:
        figures.update(evaluator.evaluate(lambda n, seed: draw(trainer, n, seed)).figures)
    if figures:
        log.write("eval", trainer.step, figures)
    return figures


def ensure_finite(trainer: GANTrainer, run: RunDir) -> None:
    """Stop with one line when a loss went NaN/inf; the last checkpoint stays as it was."""
    if trainer.check_finite():
        return
    saved = list_checkpoints(run.checkpoints)
    last = f"the last good checkpoint is {saved[-1][1].with_suffix('.safetensors')}" if saved else \
        "no checkpoint was saved yet"
    raise AdvlabError(f"a loss became NaN or infinite by step {trainer.step}; training stopped and "
                      f"{last}. Try a lower learning rate.")


def checkpoint(trainer: GANTrainer, config: GANTrainConfig, run: RunDir) -> None:
    ensure_finite(trainer, run)
    tensors, meta = trainer_state(trainer)
    save_checkpoint(run.checkpoints, trainer.step, tensors, meta, keep=config.keep_checkpoints)


def summary(trainer: GANTrainer, config: GANTrainConfig, run: RunDir, seconds: float) -> dict:
    """Final figures: a last snapshot (samples/final.png) and, for mixtures, mode counts."""
    figures = snapshot(trainer, run.samples / "final.png", config.seed + 1)
    return {"step": trainer.step, "seconds": round(seconds, 2), **figures}


@contextmanager
def stop_on_interrupt():
    """Turn Ctrl-C into a flag checked between iterations (main thread only)."""
    hit = []
    previous = None
    try:
        previous = signal.signal(signal.SIGINT, lambda *_: hit.append(True))
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield lambda: bool(hit)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
