"""`advlab gan train` and `advlab gan sample`."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from advlab.cli.common import add_config_flags, config_values
from advlab.core.config import from_mapping, load_yaml
from advlab.core.errors import AdvlabError
from advlab.pipelines.gan_config import GANTrainConfig
from advlab.pipelines.sample_gan import sample_run
from advlab.pipelines.train_gan import resume_config, train_gan

OPTION_DOCS = {
    "out": "run directory to create",
    "data": "ring8, grid25, digits, idx, folder or npy",
    "data_path": "file or folder for idx, folder and npy data",
    "image_size": "resize images to this size (a power of two for dcgan)",
    "model": "auto (mlp for 2-D points, dcgan for images), mlp or dcgan",
    "z_dim": "noise dimension", "width": "network width", "depth": "hidden layers (mlp)",
    "loss": "minimax, nonsaturating, least-squares, hinge or wgan-gp",
    "gp_weight": "gradient-penalty weight lambda (wgan-gp)",
    "steps": "generator steps (iterations of Algorithm 1)",
    "k": "discriminator steps per generator step",
    "batch_size": "minibatch size m", "optimizer": "adam or sgd (with momentum)",
    "lr_g": "generator learning rate", "lr_d": "discriminator learning rate",
    "beta1": "Adam beta1", "beta2": "Adam beta2", "momentum": "SGD momentum",
    "noise": "noise distribution", "ema": "EMA decay of the generator (0 = off)",
    "seed": "random seed", "device": "auto, cpu, cuda or cuda:N",
    "threads": "torch CPU threads (unset: torch's default; 1 is often faster on a busy machine)",
    "log_every": "log every N steps", "sample_every": "save samples every N steps",
    "checkpoint_every": "checkpoint every N steps", "keep_checkpoints": "checkpoints kept",
    "tensorboard": "write TensorBoard events",
}


RESUMABLE = ("steps", "device", "threads", "out")


def add_parser(subparsers) -> None:
    gan = subparsers.add_parser("gan", help="train and sample GANs")
    verbs = gan.add_subparsers(dest="verb", required=True, metavar="{train,sample}")
    train = verbs.add_parser("train", help="train a GAN (Algorithm 1 of Goodfellow et al. 2014)")
    train.add_argument("--config", help="YAML file with any of the options below")
    train.add_argument("--resume", metavar="RUN", help="continue the run in RUN where it stopped")
    train.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_flags(train, GANTrainConfig, OPTION_DOCS)
    train.set_defaults(handler=run_train)
    sample = verbs.add_parser("sample", help="draw samples from a trained run")
    sample.add_argument("run", help="run directory (or a checkpoint .safetensors inside one)")
    sample.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    sample.add_argument("--out", required=True, help="PNG to write (or .npy for the raw samples)")
    sample.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    sample.add_argument("--device", default="auto", help="auto, cpu or cuda")
    sample.set_defaults(handler=run_sample)


def run_train(args: argparse.Namespace) -> int:
    given = config_values(args, GANTrainConfig)
    if args.resume:
        config = resume_with(args.resume, given, args.config)
        resumed = True
    else:
        values = load_yaml(args.config) if args.config else {}
        config = from_mapping(GANTrainConfig, {**values, **given},
                              source=args.config or "command line")
        resumed = False
    run = train_gan(config, resume=resumed, overwrite=args.overwrite, progress=not args.no_progress)
    print(f"run: {run.root}\nreport: {run.root / 'report.html'}")
    return 0


def resume_with(run_dir: str, given: dict, config_file: str | None) -> GANTrainConfig:
    """The stored config; only --steps, --device and --threads may change (Mimicry refuses a changed config too)."""
    if config_file:
        raise AdvlabError("--resume takes its config from the run; drop --config")
    stored = resume_config(run_dir)
    changed = sorted(k for k, v in given.items() if k not in RESUMABLE and getattr(stored, k) != v)
    if changed:
        raise AdvlabError(f"cannot change {', '.join(changed)} when resuming {run_dir}; "
                          "only --steps, --device and --threads may change")
    if "out" in given and Path(given["out"]) != Path(run_dir):
        raise AdvlabError("--out differs from --resume; a resumed run stays in its directory")
    allowed = {k: v for k, v in given.items() if k in RESUMABLE and k != "out"}
    return from_mapping(GANTrainConfig, {**dataclasses.asdict(stored), **allowed}) if allowed else stored


def run_sample(args: argparse.Namespace) -> int:
    if args.n <= 0:
        raise AdvlabError(f"--n must be positive, got {args.n}")
    path = sample_run(args.run, args.n, Path(args.out), args.seed, args.device)
    print(f"wrote {path}")
    return 0


__all__ = ["add_parser"]
