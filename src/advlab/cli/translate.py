"""`advlab translate train pix2pix|cyclegan`, `translate apply` (a trained run on any image or folder) and
`translate datasets` (the built-in paired and unpaired sets)."""

from __future__ import annotations

import argparse

from advlab.cli.common import (
    LOOP_OPTION_DOCS,
    add_training_flags,
    command_config,
)
from advlab.data.paired_sets import PAIRED_SETS
from advlab.data.unpaired_sets import UNPAIRED_SETS
from advlab.pipelines.translation.apply import translate_apply
from advlab.pipelines.translation.configs import TranslateTrainConfig
from advlab.pipelines.translation.train_translation import train_translation, translation_config

OPTION_DOCS = {
    "data": "pix2pix: a built-in paired set (advlab translate datasets), a folder of aligned A|B images or a folder "
            "with A/ and B/ of same-named files; cyclegan: a built-in unpaired set",
    "data_a": "cyclegan: folder of domain A images", "data_b": "cyclegan: folder of domain B images",
    "direction": "AtoB or BtoA: which side is the input",
    "image_size": "resize images to this size (default: the set's own; 32 for the built-in sets)",
    "width": "channels of the first generator and discriminator layers (ngf = ndf; the papers use 64)",
    "objective": "pix2pix's loss (Table 1 of Isola et al.): l1+cgan, l1 or cgan",
    "l1_weight": "pix2pix: lambda of the L1 term (eq. 4)",
    "cycle_weight": "cyclegan: lambda of the cycle-consistency loss (eq. 3)",
    "identity_weight": "cyclegan: identity loss weight, a fraction of lambda (sec. 5.2)",
    "pool_size": "cyclegan: images in each discriminator's history pool (0 = off)",
    "blocks": "cyclegan: residual blocks (default 6 up to 128 px, 9 above)",
    "lr": "Adam learning rate", "beta1": "Adam beta1", "beta2": "Adam beta2",
    "steps": "iterations (cyclegan: constant learning rate for the first half, then linear decay to 0)",
    "batch_size": "minibatch size (the papers use 1 to 10)",
    **LOOP_OPTION_DOCS,
}


def add_parser(subparsers) -> None:
    translate = subparsers.add_parser("translate", help="image-to-image translation: pix2pix and CycleGAN")
    verbs = translate.add_subparsers(dest="verb", required=True, metavar="{train,apply,datasets}")
    train = verbs.add_parser("train", help="train pix2pix (paired) or CycleGAN (unpaired)")
    train.add_argument("game", choices=("pix2pix", "cyclegan"), help="pix2pix (Isola et al. 2017) or cyclegan "
                       "(Zhu et al. 2017)")
    add_training_flags(train, TranslateTrainConfig, OPTION_DOCS, skip=("game",))
    train.set_defaults(handler=run_train)
    apply = verbs.add_parser("apply", help="translate an image or a folder of images with a trained run")
    apply.add_argument("run", help="a translate run directory")
    apply.add_argument("--input", required=True, help="an image file or a folder of images")
    apply.add_argument("--out", required=True, help="output folder (or .png for a single input image)")
    apply.add_argument("--direction", default="AtoB", help="AtoB or BtoA (cyclegan runs map both ways)")
    apply.add_argument("--image-size", type=int, default=None, help="resize inputs first (default: their size)")
    apply.add_argument("--device", default="auto", help="auto, cpu or cuda")
    apply.add_argument("--no-progress", action="store_true", help="no progress bar")
    apply.set_defaults(handler=run_apply)
    datasets = verbs.add_parser("datasets", help="list the built-in paired and unpaired sets")
    datasets.set_defaults(handler=run_datasets)


def run_train(args: argparse.Namespace) -> int:
    config = command_config(args, TranslateTrainConfig, translation_config, {"game": args.game})
    run = train_translation(config, resume=bool(args.resume), overwrite=args.overwrite,
                            progress=not args.no_progress)
    print(f"run: {run.root}\nreport: {run.root / 'report.html'}")
    return 0


def run_apply(args: argparse.Namespace) -> int:
    applied = translate_apply(args.run, args.input, args.out, args.direction, args.device, args.image_size,
                              progress=not args.no_progress)
    print(f"wrote {len(applied.files)} image(s) under {args.out} ({applied.images_per_second:.1f} images/s, "
          "generation only)")
    return 0


def run_datasets(args: argparse.Namespace) -> int:
    for title, sets in (("paired (pix2pix)", PAIRED_SETS), ("unpaired (cyclegan)", UNPAIRED_SETS)):
        print(f"{title}:")
        width = max(len(name) for name in sets)
        for name, description in sets.items():
            print(f"  {name:<{width}}  {description}")
    print("your own: pix2pix --data DIR (aligned A|B images, or A/ and B/ of same-named files); "
          "cyclegan --data-a DIR --data-b DIR")
    return 0


__all__ = ["add_parser"]
