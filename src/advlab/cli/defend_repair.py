"""`advlab defend fine-pruning | neural-cleanse | sanitize RUN --out DIR`: repair a poisoned classifier run.

What each does, which clean data it uses and what the repaired run records: advlab.pipelines.security.repair_run.
The repair's own flags come from its function's signature and docstring (cli/class_flags.py).
"""

from __future__ import annotations

import argparse
import json

from advlab.cli.class_flags import add_class_options, class_options
from advlab.cli.classifier import print_figures
from advlab.cli.common import ExamplesFormatter, add_seed_device_flags
from advlab.pipelines.security.repair_run import RepairRunConfig, own_parameters, repair_run

VERBS = {
    "fine-pruning": "prune the last convolution's dormant channels, then fine-tune on clean data (Liu et al. 2018)",
    "neural-cleanse": "unlearn the trigger Neural Cleanse reverse-engineers (Wang et al. 2019, sec. VI-C)",
    "sanitize": "relabel the training set by its k nearest neighbours' vote and retrain (Paudice et al. 2018)",
}
EXAMPLES = {
    "fine-pruning": "advlab defend fine-pruning runs/bd --out runs/bd-fp",
    "neural-cleanse": "advlab defend neural-cleanse runs/bd --out runs/bd-nc",
    "sanitize": "advlab defend sanitize runs/lf --out runs/lf-clean",
}
COMMON = ("run", "out", "clean_share", "seed", "device", "threads", "overwrite", "no_progress", "handler", "command",
          "verb")


def add_parsers(verbs) -> None:
    for verb, help_text in VERBS.items():
        parser = verbs.add_parser(verb, help=help_text, description=help_text,
                                  epilog=f"example (a poisoned run: advlab poison ...):\n  {EXAMPLES[verb]}",
                                  formatter_class=ExamplesFormatter)
        parser.add_argument("run", metavar="RUN", help="the (poisoned) classifier run to repair; it is not changed")
        parser.add_argument("--out", required=True, help="the repaired run's directory (required)")
        if verb != "sanitize":
            parser.add_argument("--clean-share", type=float, default=0.2,
                                help="share of RUN's training rows the defender holds clean, drawn seeded from the "
                                     "data before poisoning (default 0.2)")
        add_seed_device_flags(parser, "the clean rows and the repair")
        parser.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        add_class_options(parser.add_argument_group(f"options of {verb}"), own_parameters(verb), COMMON, "repair")
        parser.set_defaults(handler=run_repair, repair=verb)


def run_repair(args: argparse.Namespace) -> int:
    options = class_options(args, own_parameters(args.repair), COMMON, "repair")
    config = RepairRunConfig(method=args.repair, run=args.run, out=args.out, options=options,
                             clean_share=getattr(args, "clean_share", 0.2), seed=args.seed, device=args.device,
                             threads=args.threads, overwrite=args.overwrite, progress=not args.no_progress)
    run = repair_run(config)
    record_path = run.root / "poison.json"
    if record_path.exists():
        print_repair(json.loads(record_path.read_text()))
    print_figures(json.loads(run.summary.read_text()), run.root)
    return 0


def print_repair(record: dict) -> None:
    """The poison's figures before and after the repair."""
    before = record["repair"]["before"]
    for key, words in (("clean_accuracy", "held-out accuracy"), ("attack_success_rate", "attack success rate"),
                       ("test_error", "held-out error")):
        if key in record and key in before:
            print(f"{words}: {before[key]:.4f} -> {record[key]:.4f}")


__all__ = ["add_parsers"]
