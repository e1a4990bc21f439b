"""`advlab detect NAME RUN [options]`: look for a backdoor in a classifier run (never changing it).

One sub-command per entry of ``advlab.poisoning.detection.DETECTORS``; its flags come from the detector
function's signature and the ``Args:`` section of its docstring (cli/class_flags.py). What each judges and
what it writes: advlab.pipelines.security.detect_run.
"""

from __future__ import annotations

import argparse
import inspect
import json

from advlab.cli.class_flags import add_class_options, class_options
from advlab.cli.common import ExamplesFormatter, add_seed_device_flags
from advlab.pipelines.security.detect_run import JUDGES, DetectRunConfig, detect_run, detector_function, own_parameters
from advlab.poisoning.detection import DETECTORS

COMMON = ("run", "n", "seed", "device", "threads", "overwrite", "handler", "command", "detector_name")
EXAMPLES = """examples (a backdoored run: advlab poison badnets --data digits --image-size 16 --out runs/bd):
  advlab detect spectral runs/bd
  advlab detect activation-clustering runs/bd
  advlab detect strip runs/bd --n 200
  advlab detect neural-cleanse runs/bd
each writes RUN/detect/NAME/detection.json (flagged rows or classes; TPR and FPR where the truth is known)"""
JUDGED_WORDS = {"training": "the training rows it was trained on", "inputs": "held-out inputs (clean and triggered)",
                "classes": "its classes"}


def add_parser(subparsers) -> None:
    detect = subparsers.add_parser(
        "detect", help="look for a backdoor in a classifier run: poisoned training rows, triggered inputs, or "
                       "backdoored classes",
        description="Run a backdoor detector on a classifier run; writes RUN/detect/NAME/detection.json and never "
                    "changes the run.", epilog=EXAMPLES, formatter_class=ExamplesFormatter)
    names = list(DETECTORS)
    detectors = detect.add_subparsers(dest="detector_name", required=True, metavar="{" + ",".join(names) + "}")
    for name in names:
        add_detector_parser(detectors, name)


def add_detector_parser(detectors, name: str) -> None:
    summary = (inspect.getdoc(detector_function(name)) or name).splitlines()[0]
    judged = JUDGED_WORDS[JUDGES.get(name, "training")]
    parser = detectors.add_parser(name, help=summary, description=f"{summary} Judges {judged}.")
    parser.add_argument("run", metavar="RUN", help="the classifier run to inspect (a poisoned run: the truth is known)")
    if JUDGES.get(name) == "inputs":
        parser.add_argument("--n", type=int, default=200,
                            help="judge the first N held-out images (and their triggered twins); the rest are the "
                                 "clean reference (default 200)")
    add_seed_device_flags(parser, "the detector's random draws")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing RUN/detect/NAME")
    add_class_options(parser.add_argument_group(f"options of {name}"), own_parameters(name), COMMON, "detector")
    parser.set_defaults(handler=run_detect)


def run_detect(args: argparse.Namespace) -> int:
    name = args.detector_name
    options = class_options(args, own_parameters(name), COMMON, "detector")
    config = DetectRunConfig(detector=name, run=args.run, options=options, n=getattr(args, "n", 200), seed=args.seed,
                             device=args.device, threads=args.threads, overwrite=args.overwrite)
    out = detect_run(config)
    print_detection(json.loads((out / "detection.json").read_text()))
    print(f"detection: {out}")
    return 0


def print_detection(record: dict) -> None:
    """What was flagged, and how well against the truth when it is known."""
    flagged = record["flagged"]
    if record["kind"] == "classes":
        line = f"{record['detector']}: flagged classes {flagged or 'none'} of {record['size']}"
    else:
        line = f"{record['detector']}: flagged {len(flagged)} of {record['size']} rows"
    if record.get("tpr") is not None or record.get("fpr") is not None:
        line += f"; TPR {share(record.get('tpr'))}, FPR {share(record.get('fpr'))}"
    print(line)


def share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


__all__ = ["add_parser"]
