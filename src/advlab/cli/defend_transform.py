"""`advlab defend jpeg|bit-depth|median|spatial-smoothing|tv-min|defense-gan|thermometer RUN --out DIR` and
`advlab defend squeeze RUN`.

All but thermometer copy the classifier run RUN to DIR behind an input transformation (a defended run:
``advlab attack pgd DIR`` and ``advlab attack bpda DIR`` attack it) and print its clean accuracy and a
first warning: naive PGD against BPDA at --eps (pipelines/security/preprocess_defense.py). ``squeeze`` measures
the feature-squeezing detector of Xu et al. 2018 on RUN. A transformation's option defaults are those
of its class (advlab.defenses). ``thermometer`` trains a new classifier of RUN's architecture on
thermometer-encoded images (pipelines/security/thermometer_run.py), then measures it the same way. On
MNIST (the default data) pass the usual budget: ``--eps 0.3``.
"""

from __future__ import annotations

import argparse
import inspect

import torch

from advlab.cli.common import ExamplesFormatter
from advlab.defenses.preprocessed import transform_class
from advlab.pipelines.security.preprocess_defense import make_defended_run, squeeze_detection, warning_lines
from advlab.pipelines.security.thermometer_run import make_thermometer_run

EXAMPLES = """examples (an MNIST run: advlab classifier train --data mnist --out runs/clf):
  advlab defend bit-depth runs/clf --bits 1 --eps 0.3 --out runs/clf-bits
  advlab attack bpda runs/clf-bits --eps 0.3
  advlab defend squeeze runs/clf --eps 0.3"""
# verb -> (help, [(option, type, help)]); an option without a default in the class is required
TRANSFORM_VERBS = {
    "jpeg": ("JPEG compression in front of the classifier (Guo et al. 2018)",
             [("quality", int, "JPEG quality, 1..100")]),
    "bit-depth": ("bit-depth reduction in front of the classifier (Xu et al. 2018, sec. 3.1)",
                  [("bits", int, "bits per pixel, 1..8")]),
    "median": ("median smoothing in front of the classifier (Xu et al. 2018, sec. 3.2)",
               [("size", int, "side of the square window in pixels")]),
    "spatial-smoothing": ("ART's SpatialSmoothing: the median filter of Xu et al. 2018 under ART's name and defaults",
                          [("window_size", int, "side of the square window in pixels")]),
    "tv-min": ("total-variance minimisation from a random share of the pixels (Guo et al. 2018, sec. 3.2)",
               [("keep_prob", float, "probability that a pixel is kept, in (0, 1]"),
                ("lamb", float, "lambda_TV, the weight of the total variation"),
                ("norm", int, "p of TV_p: 1 or 2"),
                ("steps", int, "primal-dual iterations of the reconstruction")]),
    "defense-gan": ("Defense-GAN: project onto a generator's range first (Samangouei et al. 2018)",
                    [("gan", str, "GAN run directory (advlab gan train) of the classifier's data and image size"),
                     ("steps", int, "gradient-descent steps L per start"),
                     ("restarts", int, "random starts R per image"),
                     ("lr", float, "step size of the descent on ||G(z) - x||^2")]),
}


def add_parsers(verbs) -> None:
    for name, (summary, options) in TRANSFORM_VERBS.items():
        parser = verbs.add_parser(name, help=summary, description=summary + "; writes a defended run to --out",
                                  epilog=EXAMPLES, formatter_class=ExamplesFormatter)
        parser.add_argument("run", help="the classifier run directory (advlab classifier train)")
        parser.add_argument("--out", required=True, help="the defended run directory to create")
        defaults = inspect.signature(transform_class(name)).parameters
        group = parser.add_argument_group(f"options of {name}")
        for option, kind, text in options:
            default = defaults[option].default
            required = default is inspect.Parameter.empty
            group.add_argument(f"--{option.replace('_', '-')}", dest=option, type=kind, required=required,
                               default=None if required else default,
                               help=text + ("" if required else f" (default {default})"))
        add_measure_flags(parser)
        parser.set_defaults(handler=run_transform, transform=name, option_names=[o[0] for o in options])
    add_thermometer_parser(verbs)
    add_squeeze_parser(verbs)


def add_thermometer_parser(verbs) -> None:
    summary = ("thermometer encoding (Buckman et al. 2018): train a classifier of RUN's architecture on "
               "thermometer-encoded images")
    parser = verbs.add_parser("thermometer", help=summary, description=summary + "; writes a defended run to --out",
                              epilog=EXAMPLES, formatter_class=ExamplesFormatter)
    parser.add_argument("run", help="the classifier run directory (advlab classifier train) whose data, split, "
                                    "model and training options to use")
    parser.add_argument("--out", required=True, help="the defended run directory to create")
    group = parser.add_argument_group("options of thermometer")
    group.add_argument("--levels", type=int, default=16, help="quantisation levels l, bits per pixel value (default "
                                                              "16, the paper's)")
    group.add_argument("--epochs", type=int, default=None, help="training epochs (default RUN's)")
    group.add_argument("--at-eps", type=float, default=None,
                       help="train adversarially (PGD-AT at this Linf radius, BPDA through the soft thermometer) "
                            "instead of on clean images only (default: clean only)")
    add_measure_flags(parser)
    parser.set_defaults(handler=run_thermometer)


def add_measure_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace a defended run already in --out")
    parser.add_argument("--eps", type=float, default=0.1,
                        help="Linf budget of the first warning (default 0.1; MNIST's usual budget is 0.3)")
    parser.add_argument("--n", type=int, default=300,
                        help="held-out images the first warning attacks (default 300, or all there are)")
    parser.add_argument("--attack-steps", type=int, default=10, help="steps of PGD and BPDA (default 10)")
    parser.add_argument("--eot-samples", type=int, default=4,
                        help="draws per BPDA gradient for a randomized transformation (EOT; default 4)")
    add_run_flags(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="seeds the attacks and torch (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")


def add_squeeze_parser(verbs) -> None:
    summary = "the feature-squeezing detector (Xu et al. 2018, sec. 4): threshold, false positives, detection"
    parser = verbs.add_parser("squeeze", help=summary,
                              description=summary + "; writes detection.json and scores.png to --out",
                              epilog=EXAMPLES, formatter_class=ExamplesFormatter)
    parser.add_argument("run", help="the classifier run directory (advlab classifier train)")
    parser.add_argument("--fpr", type=float, default=0.05,
                        help="target false-positive rate on clean images, in (0, 1) (default 0.05)")
    parser.add_argument("--eps", type=float, default=0.1,
                        help="Linf budget of the PGD examples (default 0.1; MNIST's usual budget is 0.3)")
    parser.add_argument("--attack-steps", type=int, default=40, help="PGD steps (default 40)")
    parser.add_argument("--squeezers", default=None,
                        help="comma-separated name:value of bit-depth:BITS, median:SIZE, jpeg:QUALITY (default the "
                             "paper's: bit-depth:1,median:2 for grey images, bit-depth:5,median:2 for colour)")
    parser.add_argument("--out", default=None, help="directory to write (default RUN/squeeze)")
    parser.add_argument("--overwrite", action="store_true", help="replace a detection already in --out")
    add_run_flags(parser)
    parser.set_defaults(handler=run_squeeze)


def run_transform(args: argparse.Namespace) -> int:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    options = {name: getattr(args, name) for name in args.option_names}
    summary = make_defended_run(args.run, args.transform, options, args.out, overwrite=args.overwrite, eps=args.eps,
                                n=args.n, attack_steps=args.attack_steps, eot_samples=args.eot_samples,
                                seed=args.seed, device=args.device, progress=not args.no_progress)
    print("\n".join(warning_lines(summary)))
    print(f"defended run: {args.out}")
    return 0


def run_thermometer(args: argparse.Namespace) -> int:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    summary = make_thermometer_run(args.run, args.out, levels=args.levels, epochs=args.epochs, at_eps=args.at_eps,
                                   overwrite=args.overwrite, eps=args.eps, n=args.n, attack_steps=args.attack_steps,
                                   eot_samples=args.eot_samples, seed=args.seed, device=args.device,
                                   progress=not args.no_progress)
    print(f"trained on {summary['training']['levels']}-level thermometer codes "
          f"({summary['training']['adversarial_training']})")
    print("\n".join(warning_lines(summary)))
    print(f"defended run: {args.out}")
    return 0


def run_squeeze(args: argparse.Namespace) -> int:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    squeezers = None if args.squeezers is None else [part for part in args.squeezers.split(",") if part.strip()]
    record = squeeze_detection(args.run, fpr=args.fpr, eps=args.eps, out=args.out, overwrite=args.overwrite,
                               squeezers=squeezers, attack_steps=args.attack_steps, seed=args.seed,
                               device=args.device)
    detection = record["detection_rate"]
    print(f"threshold {record['threshold']:.4f}: false positives {record['calibration']['fpr']:.4f} on the "
          f"{record['calibration']['images']} clean images it was set on (target {record['target_fpr']:g}), "
          f"{record['test']['fpr']:.4f} on {record['test']['images']} others")
    print(f"PGD eps {record['attack']['eps']:g} fooled the classifier on {record['attack']['success_rate']:.4f} of "
          f"them; detected: " + ("none fooled it" if detection is None else f"{detection:.4f}"))
    print(f"detection: {record['out']}")
    return 0


__all__ = ["add_parsers"]
