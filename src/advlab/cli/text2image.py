"""`advlab text2image train` (GAN-INT-CLS on captioned images), `text2image sample` (a trained run draws captions),
`text2image evaluate` (attribute accuracy, R-precision and FID on held-out captions) and `text2image datasets`."""

from __future__ import annotations

import argparse

from advlab.cli.common import (
    LOOP_OPTION_DOCS,
    ExamplesFormatter,
    add_training_flags,
    command_config,
)
from advlab.data.captioned_sets import CAPTIONED_SETS
from advlab.pipelines.text2image.configs import Text2ImageTrainConfig
from advlab.pipelines.text2image.evaluate_text2image import evaluate_text2image
from advlab.pipelines.text2image.sample_text2image import sample_text2image
from advlab.pipelines.text2image.train_text2image import text2image_config, train_text2image

OPTION_DOCS = {
    "data": "a built-in captioned set (advlab text2image datasets) or a folder of images with a captions file",
    "captions": "a folder's captions file: lines 'file.png<TAB>caption', several per image allowed (default "
                "DIR/captions.txt)",
    "image_size": "image side: 4 to 7 pixels times a power of two (the paper's 64; built-in sets 16 to 64)",
    "held_out_fraction": "share of the images held out of training and used for the figures",
    "method": "Reed et al.'s ablation: gan-int-cls, gan-cls (matching-aware D only), gan-int (interpolation only), "
              "gan (neither)",
    "cls_weight": "weight of the real-image/wrong-text term in D's loss (Algorithm 1: 0.5)",
    "int_weight": "weight of the interpolated-text term in G's loss (eq. 5: 1)",
    "int_beta": "beta of the interpolation beta t1 + (1 - beta) t2 (eq. 5: 0.5)",
    "z_dim": "noise dimensions (the paper's 100)",
    "projected_dim": "text embedding size after each player's projection (the paper's 128)",
    "g_width": "ngf: generator channels next to the image (the paper's 128)",
    "d_width": "ndf: discriminator's first channels (the paper's 64)",
    "residual": "the reference code's residual blocks in G",
    "lr": "Adam learning rate", "beta1": "Adam beta1", "beta2": "Adam beta2",
    "encoder_epochs": "epochs of the text encoder's joint-embedding training (default: advlab's, cached)",
    "eval_samples": "samples drawn for held-out captions for the summary's figures",
    "steps": "iterations (one D and one G step each)",
    "batch_size": "minibatch size (the paper's 64)",
    **LOOP_OPTION_DOCS,
}

EXAMPLES = """examples:
  advlab text2image train --data captioned-shapes --out runs/t2i
  advlab text2image sample runs/t2i --text "a small red circle above a blue square" --n 16 --out grid.png
  advlab text2image sample runs/t2i --text "a red circle on the left" --interpolate-to "a blue square on the right" \\
      --out interpolation.png
  advlab text2image evaluate runs/t2i"""


def add_parser(subparsers) -> None:
    group = subparsers.add_parser("text2image", help="text to image: GAN-INT-CLS (Reed et al. 2016)",
                                  epilog=EXAMPLES, formatter_class=ExamplesFormatter)
    verbs = group.add_subparsers(dest="verb", required=True, metavar="{train,sample,evaluate,datasets}")
    train = verbs.add_parser("train", help="train GAN-INT-CLS on captioned images")
    add_training_flags(train, Text2ImageTrainConfig, OPTION_DOCS)
    train.set_defaults(handler=run_train)
    sample = verbs.add_parser("sample", help="draw images for captions with a trained run")
    sample.add_argument("run", help="a text2image run directory")
    sample.add_argument("--text", action="append", required=True,
                        help="a caption (repeat for several; words the run's text encoder knows)")
    sample.add_argument("--n", type=int, default=16, help="images per caption (default 16)")
    sample.add_argument("--out", default="grid.png", help="the PNG to write (default grid.png)")
    sample.add_argument("--interpolate-to", default=None, metavar="TEXT",
                        help="instead: N rows going from --text to this caption (Reed et al.'s interpolation)")
    sample.add_argument("--steps", type=int, default=8, help="images per interpolation row (default 8)")
    sample.add_argument("--seed", type=int, default=0, help="seeds the noise (default 0)")
    sample.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    sample.set_defaults(handler=run_sample)
    evaluate = verbs.add_parser("evaluate", help="attribute accuracy, R-precision and FID on held-out captions")
    evaluate.add_argument("run", help="a text2image run directory")
    evaluate.add_argument("--n", type=int, default=1000, help="held-out captions to draw (default 1000)")
    evaluate.add_argument("--seed", type=int, default=0, help="seeds the captions and noise (default 0)")
    evaluate.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    evaluate.set_defaults(handler=run_evaluate)
    datasets = verbs.add_parser("datasets", help="list the built-in captioned sets")
    datasets.set_defaults(handler=run_datasets)


def run_train(args: argparse.Namespace) -> int:
    config = command_config(args, Text2ImageTrainConfig, text2image_config)
    run = train_text2image(config, resume=bool(args.resume), overwrite=args.overwrite, progress=not args.no_progress)
    print(f"run: {run.root}\nreport: {run.root / 'report.html'}")
    return 0


def run_sample(args: argparse.Namespace) -> int:
    path, seconds = sample_text2image(args.run, args.text, args.n, args.seed, args.out, args.device,
                                      args.interpolate_to, args.steps)
    count = args.n * (args.steps if args.interpolate_to else len(args.text))
    print(f"wrote {path} ({count} images, {seconds:.2f} s generating)")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    path, record = evaluate_text2image(args.run, args.n, args.seed, args.device)
    print(f"wrote {path}")
    for line in summary_lines(record):
        print(line)
    return 0


def summary_lines(record: dict) -> list[str]:
    """The evaluation's headline figures, one per line."""
    lines = []
    if "attribute_accuracy" in record:
        for name, values in record["attributes"].items():
            lines.append(f"  {name:<14} samples {values['samples']:.3f}  real {values['real']:.3f}  "
                         f"chance {values['chance']:.3f}")
    if "r_precision" in record:
        r = record["r_precision"]
        lines.append(f"  R-precision ({r['candidates']} candidates): samples {r['samples']:.3f}  real {r['real']:.3f}  "
                     f"chance {1 / r['candidates']:.3f}")
    if "fid" in record:
        lines.append(f"  FID (attribute classifier features): samples {record['fid']['samples']:.3f}  "
                     f"real vs real {record['fid']['real']:.3f}")
    return lines


def run_datasets(args: argparse.Namespace) -> int:
    width = max(len(name) for name in CAPTIONED_SETS)
    for name, description in CAPTIONED_SETS.items():
        print(f"  {name:<{width}}  {description}")
    print("your own: --data DIR with DIR/captions.txt (lines 'file.png<TAB>caption'; or --captions FILE)")
    return 0


__all__ = ["add_parser"]
