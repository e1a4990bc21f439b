"""`advlab privacy invert RUN --class K | --classes all --method mi-face|gmi [--prior GAN_RUN|auto]`: model
inversion of a classifier run
(advlab.pipelines.security.invert_run), judged by an evaluation classifier the attack never
saw. The attacks' own flags come from MIFace's and GMI's signatures and docstrings (cli/class_flags.py)."""

from __future__ import annotations

import argparse
import dataclasses
import json

from advlab.cli.class_flags import add_class_options, class_options
from advlab.cli.common import ExamplesFormatter, add_seed_device_flags
from advlab.core.errors import AdvlabError
from advlab.pipelines.security.invert_run import METHODS, InvertRunConfig, invert_run, own_parameters

HELP = "model inversion: images of what the classifier learned of a class (MI-Face, GMI with a GAN prior)"
EXAMPLES = """examples (a classifier run: advlab classifier train --data digits --test-fraction 0.5 --out runs/target):
  advlab privacy invert runs/target --class 3 --method mi-face
  advlab privacy invert runs/target --classes all --method gmi --prior auto
  advlab privacy invert runs/target --class 3 --method gmi --prior runs/public-gan --restarts 10"""
COMMON = ("run", "method", "classes", "all_classes", "images", "prior", "seed", "device", "threads", "no_progress",
          "handler", "command", "verb")


def add_parsers(verbs) -> None:
    parser = verbs.add_parser("invert", help=HELP, description=HELP, epilog=EXAMPLES,
                              formatter_class=ExamplesFormatter)
    parser.add_argument("run", metavar="RUN", help="the classifier run to invert; only RUN/privacy/ is written")
    parser.add_argument("--method", choices=tuple(METHODS), default="mi-face",
                        help="mi-face (Fredrikson et al. 2015) or gmi (Zhang et al. 2020) (default mi-face)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--class", dest="classes", type=int, action="append", metavar="K",
                       help="a class to invert (repeatable)")
    which.add_argument("--classes", dest="all_classes", choices=("all",), help="invert every class")
    parser.add_argument("--images", type=int, default=8, help="inverted images per class (default 8)")
    parser.add_argument("--prior", metavar="GAN_RUN|auto", default=None,
                        help="gmi's public GAN prior: an advlab GAN run of the target's image size and channels, or "
                             "auto: a DCGAN trained on RUN's held-out rows only, kept in RUN/privacy/prior/ "
                             "(default auto)")
    add_seed_device_flags(parser, "the starts of the attack")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_attack_options(parser)
    parser.set_defaults(handler=run_invert)


def add_attack_options(parser: argparse.ArgumentParser) -> None:
    """One flag per attack option; an option both attacks take (iterations) once, with both defaults."""
    mi_face, gmi = own_parameters("mi-face"), own_parameters("gmi")
    shared = {parameter.name for parameter in mi_face} & {parameter.name for parameter in gmi}
    gmi_help = {parameter.name: parameter.help.rstrip(".") for parameter in gmi}
    merged = [dataclasses.replace(parameter, help=f"mi-face: {parameter.help.rstrip('.')}; "
                                                  f"gmi: {gmi_help[parameter.name]}")
              if parameter.name in shared else parameter for parameter in mi_face]
    add_class_options(parser.add_argument_group("options of mi-face"), merged, COMMON)
    add_class_options(parser.add_argument_group("options of gmi"),
                      [parameter for parameter in gmi if parameter.name not in shared], COMMON)


def given_options(args: argparse.Namespace, method: str) -> dict:
    """The attack options given on the command line, typed for `method`; another method's option is an error."""
    mine = own_parameters(method)
    everyone = {parameter.name for name in METHODS for parameter in own_parameters(name)}
    foreign = sorted(name for name in everyone - {parameter.name for parameter in mine}
                     if hasattr(args, f"option_{name}"))
    if foreign:
        raise AdvlabError(f"--{foreign[0].replace('_', '-')} is not an option of {method}; see advlab privacy "
                          "invert --help")
    return class_options(args, mine, COMMON)


def run_invert(args: argparse.Namespace) -> int:
    config = InvertRunConfig(run=args.run, method=args.method,
                             classes=None if args.all_classes else tuple(args.classes), images=args.images,
                             prior=args.prior, options=given_options(args, args.method), seed=args.seed,
                             device=args.device, threads=args.threads, progress=not args.no_progress)
    out = invert_run(config)
    print_figures(json.loads((out / "inversion.json").read_text()))
    print(f"record: {out / 'inversion.json'}\npicture: {out / 'inverted.png'}")
    return 0


def print_figures(record: dict) -> None:
    """A line per class and the mean over them: attack accuracy, nearest private distance, target confidence."""
    print(f"{record['method']}: {record['images_per_class']} images per class, judged by the evaluator "
          f"({record['evaluator']['model']}, held-out accuracy {record['evaluator']['test_accuracy']:.3f})")
    print("class  attack accuracy  nearest private L2  target confidence")
    for name, figures in record["classes"].items():
        print(f"{name:>5}  {figures['attack_accuracy']:>15.1%}  {figures['nearest_private_distance']:>18.3f}  "
              f"{figures['target_confidence']:>17.3f}")
    print(f"{'mean':>5}  {record['attack_accuracy']:>15.1%}  {record['nearest_private_distance']:>18.3f}  "
          f"{record['target_confidence']:>17.3f}  ({record['seconds']:.1f} s)")


__all__ = ["add_parsers"]
