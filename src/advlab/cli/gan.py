"""`advlab gan train`, `sample` (a run, or a generator downloaded from the playground), `interpolate` and
`evaluate`."""

from __future__ import annotations

import argparse
from pathlib import Path

from advlab.cli.common import RESUMABLE, add_training_flags, config_values, resumed_config
from advlab.core.config import from_mapping, load_yaml
from advlab.core.errors import AdvlabError
from advlab.pipelines.gan.evaluate_gan import METRICS
from advlab.pipelines.gan.evaluate_run import evaluate_run
from advlab.pipelines.gan.gan_config import GANTrainConfig
from advlab.pipelines.gan.interpolate_gan import interpolate_run
from advlab.pipelines.gan.sample_gan import sample_run
from advlab.pipelines.gan.train_gan import resume_config, train_gan

OPTION_DOCS = {
    "out": "run directory to create",
    "data": "ring8, grid25, mnist (5,000 real 28x28 digits), stacked-mnist (3 MNIST digits as RGB, 1000 modes), "
            "digits (8x8), stacked-digits, idx, folder or npy",
    "data_path": "file or folder for idx, folder and npy data",
    "image_size": "resize images to this size (4 to 7 times a power of two for the DCGAN family: 28, 32, 64, ...; "
                  "a power of two for progan)",
    "train_images": "train on this many images of the data set (chosen by a permutation seeded by --seed) and hold "
                    "out the rest, the non-members that advlab audit compares with (default: every image)",
    "model": "auto (mlp for 2-D points, dcgan for images), mlp, dcgan, cgan, projection, acgan, sngan, sagan, "
             "progan, wgan-gp or metz-dcgan (28x28 only: the stacked-MNIST DCGAN with D at 1/4 of G of Metz et al. "
             "2017 and PacGAN's Table 3) -- each with its paper's settings as defaults",
    "conditional": "train on the data's labels: G(z, y), D(x, y) (cgan for dcgan; mlp on 2-D mixtures: y = mode)",
    "drift": "wgan-gp: weight of progressive growing's drift term E[D(x)^2] (unset: 0.001 for progan, else 0)",
    "pack": "PacGAN: D judges groups of this many samples (Lin et al. 2018), of one class in a conditional game "
            "(against collapse within a class); 1 = off",
    "diffaugment": "DiffAugment policy for D's inputs, e.g. color,translation,cutout (Zhao et al. 2020)",
    "acgan_weight": "weight of ACGAN's class term L_C",
    "stage_steps": "progan: steps of each fade-in and each stabilisation phase (default: steps spread evenly)",
    "z_dim": "noise dimension", "width": "network width (G's, and D's unless --d-width)",
    "d_width": "the discriminator's width when it differs from G's (metz-dcgan: 2 = D at 1/4 of G, 4 = 1/2)",
    "depth": "hidden layers (mlp)",
    "loss": "minimax, nonsaturating, least-squares, hinge or wgan-gp (default: the model's)",
    "gp_weight": "gradient-penalty weight lambda (wgan-gp; unset: 10, or 0.1 on 2-D points as in the authors' "
                 "toy script)",
    "steps": "generator steps (iterations of Algorithm 1)",
    "k": "discriminator steps per generator step (default: the model's; 1 for most, 5 for wgan-gp)",
    "batch_size": "minibatch size m", "optimizer": "adam or sgd (with momentum)",
    "lr_g": "generator learning rate", "lr_d": "discriminator learning rate",
    "beta1": "Adam beta1", "beta2": "Adam beta2", "momentum": "SGD momentum",
    "noise": "noise distribution", "ema": "EMA decay of the generator (0 = off)",
    "seed": "random seed", "device": "auto, cpu, cuda or cuda:N (under torchrun: cuda, each rank its own GPU)",
    "precision": "fp32, bf16 (autocast; CPU or GPU) or fp16 (autocast with loss scaling; CUDA only)",
    "threads": "torch CPU threads (unset: torch's default; 1 is often faster on a busy machine)",
    "log_every": "log every N steps", "sample_every": "save samples every N steps",
    "checkpoint_every": "checkpoint every N steps", "keep_checkpoints": "checkpoints kept",
    "tensorboard": "write TensorBoard events",
    "eval_every": "evaluate --metrics every N steps into metrics.jsonl (unset: never)",
    "metrics": "metrics for --eval-every: fid, kid, is, prdc, modes, birthday (comma-separated)",
    "eval_samples": "generated samples per evaluation during training",
    "features": "feature network: auto (mnist for mnist and stacked-mnist, else digits), digits or mnist "
                "(trained by advlab, cached) or inception:PATH",
}



def add_parser(subparsers) -> None:
    gan = subparsers.add_parser("gan", help="train and sample GANs")
    verbs = gan.add_subparsers(dest="verb", required=True, metavar="{train,sample,interpolate,evaluate}")
    train = verbs.add_parser("train", help="train a GAN (Algorithm 1 of Goodfellow et al. 2014)")
    add_training_flags(train, GANTrainConfig, OPTION_DOCS)
    train.set_defaults(handler=run_train)
    sample = verbs.add_parser("sample", help="draw samples from a trained run or a playground generator file")
    sample.add_argument("run", help="run directory, a checkpoint .safetensors inside one, or a generator "
                                    ".safetensors downloaded from the playground's GAN page")
    sample.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    sample.add_argument("--out", required=True, help="PNG to write (or .npy for the raw samples)")
    sample.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    sample.add_argument("--label", type=int, default=None,
                        help="a conditional run's class to draw (default: all; not for a playground generator)")
    sample.add_argument("--device", default="auto", help="auto, cpu or cuda")
    sample.set_defaults(handler=run_sample)
    walk = verbs.add_parser("interpolate", help="latent interpolation grid: each row walks between two noise vectors")
    walk.add_argument("run", help="run directory (or a checkpoint .safetensors inside one)")
    walk.add_argument("--out", required=True, help="PNG to write")
    walk.add_argument("--rows", type=int, default=8, help="walks, one per row (default 8)")
    walk.add_argument("--steps", type=int, default=10, help="images per walk (default 10)")
    walk.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    walk.add_argument("--device", default="auto", help="auto, cpu or cuda")
    walk.set_defaults(handler=run_interpolate)
    evaluate = verbs.add_parser("evaluate", help="judge a trained generator: FID, KID, IS, precision/recall, "
                                "density/coverage, modes, support size")
    evaluate.add_argument("run", help="run directory (or a checkpoint .safetensors inside one)")
    evaluate.add_argument("--metrics", default=None,
                          help=f"comma-separated, from {', '.join(METRICS)} (default: all but birthday; "
                               "no is for 2-D points)")
    evaluate.add_argument("--n", type=int, default=5000, help="generated samples (and the cap on real ones; "
                          "default 5000)")
    evaluate.add_argument("--features", default="auto",
                          help="feature network: auto (default: mnist for mnist and stacked-mnist runs, digits "
                               "otherwise), digits or mnist (trained by advlab, cached) or inception:PATH to the FID "
                               "Inception weights (pt_inception-2015-12-05-6726825d.pth)")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the real sample, noise and subsets")
    evaluate.add_argument("--device", default="auto", help="auto, cpu or cuda")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress messages")
    evaluate.set_defaults(handler=run_evaluate)


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
    """The stored config; only --steps, --device, --precision and --threads may change (Mimicry refuses a changed
    config too)."""
    return resumed_config(resume_config(run_dir), run_dir, given, config_file, RESUMABLE)


def run_sample(args: argparse.Namespace) -> int:
    if args.n <= 0:
        raise AdvlabError(f"--n must be positive, got {args.n}")
    path = sample_run(args.run, args.n, Path(args.out), args.seed, args.device, args.label)
    print(f"wrote {path}")
    return 0


def run_interpolate(args: argparse.Namespace) -> int:
    path = interpolate_run(args.run, Path(args.out), args.rows, args.steps, args.seed, args.device)
    print(f"wrote {path}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    path, content = evaluate_run(args.run, args.metrics, args.n, args.features, args.seed, args.device,
                                 progress=not args.no_progress)
    print(format_figures(content))
    print(f"wrote {path}\nreport: {path.parent.parent / 'report.html'}")
    return 0


def format_figures(content: dict) -> str:
    """The figures of an evaluation as an aligned two-column table."""
    rows = [(key, "n/a" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value))
            for key, value in content["figures"].items()]
    width = max(len(key) for key, _ in rows)
    head = f"step {content['step']}, {content['n']} samples, features {content['features']}"
    return "\n".join([head, *(f"  {key:<{width}}  {value}" for key, value in rows)])


__all__ = ["add_parser"]
