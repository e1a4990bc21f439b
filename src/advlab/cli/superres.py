"""`advlab superres train --model srresnet|srgan`, `superres apply` (a trained run on an image or a folder) and
`superres evaluate` (bicubic vs SRResNet vs SRGAN on held-out photographs: PSNR, SSIM, feature distance)."""

from __future__ import annotations

import argparse

from advlab.cli.common import (
    LOOP_OPTION_DOCS,
    add_training_flags,
    command_config,
)
from advlab.pipelines.translation.apply import superres_apply
from advlab.pipelines.translation.configs import SuperresTrainConfig
from advlab.pipelines.translation.evaluate_superres import evaluate_superres
from advlab.pipelines.translation.train_superres import superres_config, train_superres

OPTION_DOCS = {
    "model": "srresnet (pixel MSE) or srgan (content + adversarial loss; start it from an SRResNet run with --init)",
    "data": "photos (scikit-image's bundled photographs) or a folder of your photographs",
    "scale": "upscaling factor: 2, 4 or 8",
    "patch": "side of the high-resolution training patches (default: the data set's; must be a multiple of --scale)",
    "blocks": "residual blocks of the generator (the paper: 16)", "width": "generator channels (the paper: 64)",
    "init": "srgan: the SRResNet run to start from (same --scale, --blocks, --width)",
    "adversarial_weight": "srgan: weight of the adversarial term (the paper: 1e-3)",
    "lr": "Adam learning rate", "beta1": "Adam beta1", "beta2": "Adam beta2",
    "steps": "iterations", "batch_size": "minibatch of patches (the paper: 16)",
    **LOOP_OPTION_DOCS,
}


def add_parser(subparsers) -> None:
    superres = subparsers.add_parser("superres", help="super-resolution: SRResNet and SRGAN (Ledig et al. 2017)")
    verbs = superres.add_subparsers(dest="verb", required=True, metavar="{train,apply,evaluate}")
    train = verbs.add_parser("train", help="train SRResNet or SRGAN on photographs")
    add_training_flags(train, SuperresTrainConfig, OPTION_DOCS)
    train.set_defaults(handler=run_train)
    apply = verbs.add_parser("apply", help="upscale an image or a folder of images with a trained run")
    apply.add_argument("run", help="a superres run directory")
    apply.add_argument("--input", required=True, help="a low-resolution image file or a folder of them")
    apply.add_argument("--out", required=True, help="output .png for one image, or a folder")
    apply.add_argument("--device", default="auto", help="auto, cpu or cuda")
    apply.add_argument("--no-progress", action="store_true", help="no progress bar")
    apply.set_defaults(handler=run_apply)
    evaluate = verbs.add_parser("evaluate", help="bicubic vs SRResNet vs SRGAN on held-out photographs "
                                "(PSNR and SSIM on Y, border crop; feature distance) -> RUN/eval/superres.json")
    evaluate.add_argument("run", help="a superres run directory")
    evaluate.add_argument("--data", default=None, help="photos (the held-out bundled photographs; default: the "
                          "run's data) or a folder of test photographs (whole images)")
    evaluate.add_argument("--device", default="auto", help="auto, cpu or cuda")
    evaluate.set_defaults(handler=run_evaluate)


def run_train(args: argparse.Namespace) -> int:
    config = command_config(args, SuperresTrainConfig, superres_config)
    run = train_superres(config, resume=bool(args.resume), overwrite=args.overwrite, progress=not args.no_progress)
    print(f"run: {run.root}\nreport: {run.root / 'report.html'}")
    return 0


def run_apply(args: argparse.Namespace) -> int:
    applied = superres_apply(args.run, args.input, args.out, args.device, progress=not args.no_progress)
    where = applied.files[0] if len(applied.files) == 1 else args.out
    print(f"wrote {len(applied.files)} image(s): {where} ({applied.images_per_second:.1f} images/s, "
          "generation only)")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    path, content = evaluate_superres(args.run, args.data, args.device)
    width = max(len(name) for name in content)
    print(f"{'method':<{width}}  PSNR (dB)  SSIM    feature distance")
    for name, figures in content.items():
        print(f"{name:<{width}}  {figures['psnr']:9.2f}  {figures['ssim']:.4f}  {figures['feature_distance']:.4g}")
    print(f"wrote {path}")
    return 0


__all__ = ["add_parser"]
