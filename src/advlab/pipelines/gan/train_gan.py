"""`advlab gan train`: config -> data + players + Algorithm 1 -> a run directory.

The loop logs every `log_every` iterations, snapshots every `sample_every`, checkpoints
every `checkpoint_every` and at the end, and checks losses for NaN/inf before each log and
checkpoint: a diverged run stops with one line and its last good checkpoint intact. Ctrl-C
stops at the end of the current iteration and saves a checkpoint first.

Under torchrun (advlab.core.distributed) every rank runs this loop on its share of each minibatch
(advlab.gan.trainer); rank 0 alone writes the run directory (config, log, samples, checkpoints, summary, report)
and shows progress, after every rank has checked that the players' parameters agree. A checkpoint records the
number of processes; resuming under another number is refused (the sampler's stream would be cut differently).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from advlab.core.checkpoints import load_latest, save_checkpoint
from advlab.core.config import dump_yaml, from_mapping, load_yaml
from advlab.core.distributed import context
from advlab.core.errors import AdvlabError
from advlab.core.precision import Precision
from advlab.core.runs import MetricsLog, RunDir
from advlab.core.seeding import seed_everything
from advlab.gan.trainer import GANTrainer
from advlab.pipelines.gan.evaluate_gan import Evaluator
from advlab.pipelines.gan.gan_config import GANTrainConfig
from advlab.pipelines.gan.gan_setup import build_trainer, load_data, restore_trainer, trainer_state
from advlab.pipelines.gan.gan_snapshots import draw, snapshot
from advlab.pipelines.training import check_world_size, last_good_checkpoint, stop_on_interrupt, warn
from advlab.reports.render import write_report


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
    dist = context(config.device)
    checkpoint = load_latest(run.checkpoints, warn=warn) if resume else None
    seed_everything(config.seed)
    device = dist.device(config.device)
    precision = Precision(config.precision, device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    config, data = load_data(config, device, note=warn)
    config = config.resolved(data.kind, data.sample_shape[-1])
    check_precision_for(config)
    trainer = build_trainer(config, data, device, dist, precision)
    evaluator = None
    if config.eval_every is not None:
        evaluator = Evaluator(data, config.metrics, config.eval_samples, config.features, config.seed, device,
                              progress)
    if checkpoint is not None:
        check_world_size(checkpoint, dist)
        restore_trainer(trainer, checkpoint)
    else:  # rank 0 makes the run directory; its refusal stops every rank
        dist.on_main(lambda: run.prepare_new(overwrite))
    log = None
    if dist.is_main:
        dump_yaml(config, run.config)
        log = MetricsLog(run, checkpoint.step if checkpoint else None, config.tensorboard)
    try:
        seconds = run_loop(trainer, config, run, log, progress and dist.is_main, evaluator)
    finally:
        if log is not None:
            log.close()
    if dist.is_main:
        run.write_summary(summary(trainer, config, run, seconds))
        if report:
            write_report(run.root)
    dist.barrier()
    return run


def check_precision_for(config: GANTrainConfig) -> None:
    """fp16's loss scaling cannot follow WGAN-GP's penalty (a gradient of a gradient); bf16 needs no scaling."""
    if config.precision == "fp16" and config.loss == "wgan-gp":
        raise AdvlabError("--precision fp16 cannot scale WGAN-GP's gradient penalty; use --precision bf16")


def run_loop(trainer: GANTrainer, config: GANTrainConfig, run: RunDir, log: MetricsLog | None,
             progress: bool, evaluator: Evaluator | None = None) -> float:
    """Algorithm 1's outer loop with logging, snapshots and checkpoints; returns seconds. `log` is None on every
    rank but 0, which alone writes."""
    start = time.perf_counter()
    bar = tqdm(total=config.steps, initial=trainer.step, disable=not progress, unit="it",
               desc=f"gan {config.data}", dynamic_ncols=True, file=sys.stderr)
    with stop_on_interrupt() as interrupted:
        while trainer.step < config.steps and not stopping(trainer, config, interrupted):
            record = (trainer.step + 1) % config.log_every == 0
            stats = trainer.train_iteration(record)
            bar.update(1)
            if record:
                ensure_finite(trainer, run)
                if log is not None:
                    log.write("train", trainer.step, {**stats, "time": time.perf_counter() - start})
                bar.set_postfix(d=f"{stats['d_loss']:.3f}", g=f"{stats['g_loss']:.3f}", refresh=False)
            evaluate(trainer, config, run, log, evaluator)
            if trainer.step % config.checkpoint_every == 0 or trainer.step == config.steps:
                checkpoint(trainer, config, run)
        if trainer.step < config.steps:  # interrupted
            checkpoint(trainer, config, run)
            bar.close()
            raise AdvlabError(f"interrupted at step {trainer.step}; checkpoint saved — continue with "
                              f"advlab gan train --resume {run.root}")
    bar.close()
    return time.perf_counter() - start


def stopping(trainer: GANTrainer, config: GANTrainConfig, interrupted) -> bool:
    """Ctrl-C seen; under torchrun the ranks agree on it every `log_every` steps (one collective), so that every
    rank stops at the same iteration."""
    if trainer.dist.active and trainer.step % config.log_every:
        return False
    return not trainer.dist.all_true(not interrupted())


def evaluate(trainer: GANTrainer, config: GANTrainConfig, run: RunDir, log: MetricsLog | None,
             evaluator: Evaluator | None) -> dict:
    """Every `sample_every` steps a snapshot picture (and mode counts for 2-D data), every `eval_every`
    steps the chosen metrics; one "eval" record in the log for whatever this step produced. Rank 0 alone draws
    snapshots and writes; every rank takes part in the metrics (their features are computed in shares)."""
    figures = {}
    if trainer.step % config.sample_every == 0 or (evaluator is not None and trainer.step % config.eval_every == 0):
        trainer.synchronise()
    if trainer.step % config.sample_every == 0 and log is not None:
        figures.update(snapshot(trainer, run.samples / f"step-{trainer.step:06d}.png", config.seed + 1))
    if evaluator is not None and trainer.step % config.eval_every == 0:
        figures.update(evaluator.evaluate(lambda n, seed: draw(trainer, n, seed)).figures)
    if figures and log is not None:
        log.write("eval", trainer.step, figures)
    return figures


def ensure_finite(trainer: GANTrainer, run: RunDir) -> None:
    """Stop with one line when a loss went NaN/inf; the last checkpoint stays as it was."""
    if trainer.check_finite():
        return
    raise AdvlabError(f"a loss became NaN or infinite by step {trainer.step}; training stopped and "
                      f"{last_good_checkpoint(run.checkpoints)}. Try a lower learning rate.")


def checkpoint(trainer: GANTrainer, config: GANTrainConfig, run: RunDir) -> None:
    """Every rank checks the losses and that the players agree across ranks; rank 0 writes the checkpoint."""
    ensure_finite(trainer, run)
    trainer.synchronise()
    trainer.dist.check_consistency(trainer.generator, "generator")
    trainer.dist.check_consistency(trainer.discriminator, "discriminator")
    if trainer.dist.is_main:
        tensors, meta = trainer_state(trainer)
        meta["world_size"] = trainer.dist.world_size
        save_checkpoint(run.checkpoints, trainer.step, tensors, meta, keep=config.keep_checkpoints)


def summary(trainer: GANTrainer, config: GANTrainConfig, run: RunDir, seconds: float) -> dict:
    """Final figures: a last snapshot (samples/final.png) and, for mixtures, mode counts."""
    figures = snapshot(trainer, run.samples / "final.png", config.seed + 1)
    return {"step": trainer.step, "seconds": round(seconds, 2), **figures}
