"""`advlab defend pixel-defend RUN --out DIR [--pixelcnn PIXELCNN] [--eps-defend 0.063] [--epochs N]`.

Copies the classifier run RUN to DIR behind PixelDefend purification (Song et al. 2018), training advlab's
PixelCNN on RUN's training rows into DIR/pixelcnn unless --pixelcnn names one, and prints the PixelCNN's
bits/dim, the clean accuracy and the first warning (naive PGD against BPDA at --eps;
pipelines/security/pixel_defend_run.py).
"""

from __future__ import annotations

import argparse

import torch

from advlab.cli.common import ExamplesFormatter
from advlab.cli.defend_transform import add_measure_flags
from advlab.pipelines.security.pixel_defend_run import PixelCNNTraining, make_pixel_defended_run, pixelcnn_lines
from advlab.pipelines.security.preprocess_defense import warning_lines

SUMMARY = "PixelDefend: purify inputs with a PixelCNN first (Song et al. 2018, Algorithm 1)"
EXAMPLES = """examples (a digits run: advlab classifier train --data digits --out runs/digits):
  advlab defend pixel-defend runs/digits --out runs/digits-pixel --epochs 10
  advlab defend pixel-defend runs/digits --out runs/px2 --pixelcnn runs/digits-pixel/pixelcnn --eps-defend 0.125
  advlab attack bpda runs/digits-pixel --eps 0.1"""


def add_parsers(verbs) -> None:
    parser = verbs.add_parser("pixel-defend", help=SUMMARY, description=SUMMARY + "; writes a defended run to --out",
                              epilog=EXAMPLES, formatter_class=ExamplesFormatter)
    parser.add_argument("run", help="the classifier run directory (advlab classifier train); grey images only")
    parser.add_argument("--out", required=True, help="the defended run directory to create")
    group = parser.add_argument_group("options of pixel-defend")
    group.add_argument("--pixelcnn", default=None,
                       help="a trained PixelCNN: its .safetensors file or the directory holding pixelcnn.safetensors "
                       "(default: train one on RUN's training rows into OUT/pixelcnn)")
    group.add_argument("--eps-defend", type=float, default=16 / 255,
                       help="half-width of each pixel's search window in [0, 1] units (default 16/255 = 0.0627, the "
                       "paper's 16 of 255; use at least the attack's eps when it is known)")
    defaults = PixelCNNTraining()
    training = parser.add_argument_group("training the PixelCNN (without --pixelcnn)")
    training.add_argument("--epochs", type=int, default=defaults.epochs, help=f"epochs (default {defaults.epochs})")
    training.add_argument("--width", type=int, default=defaults.width,
                          help=f"feature channels of each stack (default {defaults.width})")
    training.add_argument("--layers", type=int, default=defaults.layers,
                          help=f"gated layers (default {defaults.layers})")
    training.add_argument("--levels", type=int, default=defaults.levels,
                          help=f"grey levels the pixels are quantised to (default {defaults.levels})")
    training.add_argument("--batch-size", type=int, default=defaults.batch_size,
                          help=f"minibatch size (default {defaults.batch_size})")
    training.add_argument("--lr", type=float, default=defaults.lr, help=f"Adam's learning rate (default {defaults.lr})")
    add_measure_flags(parser)
    parser.set_defaults(handler=run_pixel_defend)


def run_pixel_defend(args: argparse.Namespace) -> int:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    training = PixelCNNTraining(epochs=args.epochs, width=args.width, layers=args.layers, levels=args.levels,
                                batch_size=args.batch_size, lr=args.lr)
    summary = make_pixel_defended_run(args.run, args.out, pixelcnn=args.pixelcnn, eps_defend=args.eps_defend,
                                      training=training, overwrite=args.overwrite, eps=args.eps, n=args.n,
                                      attack_steps=args.attack_steps, eot_samples=args.eot_samples, seed=args.seed,
                                      device=args.device, progress=not args.no_progress)
    print("\n".join(pixelcnn_lines(summary) + warning_lines(summary)))
    print(f"defended run: {args.out}")
    return 0


__all__ = ["add_parsers"]
