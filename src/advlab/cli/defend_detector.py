"""`advlab defend detector RUN`: Metzen et al.'s adversarial-example detector, and the adaptive attack on it.

Trains the binary input detector (``--layer input``) or an activation detector (``--layer NAME``, a module of the
classifier) on RUN's training rows, sets its threshold on half of the held-out images at ``--fpr`` and reports, on
the other half, false positives, static PGD's detection rate and the adaptive attack's "fooled and undetected"
share (pipelines/security/adversarial_detector_run.py).
"""

from __future__ import annotations

import argparse
import inspect

import torch

from advlab.cli.common import ExamplesFormatter, add_seed_device_flags
from advlab.defenses.adversarial_detector import INPUT, STATIC_ATTACKS
from advlab.pipelines.security.adversarial_detector_run import detector_run

DEFAULTS = {name: parameter.default for name, parameter in inspect.signature(detector_run).parameters.items()}
EXAMPLES = """examples (an MNIST run: advlab classifier train --data mnist --out runs/clf):
  advlab defend detector runs/clf --layer input --eps 0.3
  advlab defend detector runs/clf --layer features.4 --eps 0.3 --out runs/clf/detector-act
  advlab defend detector runs/clf --layer input --eps 0.3 --dynamic 1 --out runs/clf/detector-dynamic"""


def add_parsers(verbs) -> None:
    summary = "Metzen et al.'s adversarial-example detector (2017) and Carlini & Wagner's adaptive attack on it"
    parser = verbs.add_parser(
        "detector", help=summary, epilog=EXAMPLES, formatter_class=ExamplesFormatter,
        description=summary + ": trains a detector subnetwork on the input or on a layer's activations (the "
                    "classifier frozen), sets its threshold at --fpr on held-out clean images, and measures static "
                    "PGD and PGD on the combined classifier+detector; writes detection.json, detector.safetensors "
                    "and scores.png to --out.")
    parser.add_argument("run", help="the classifier run directory (advlab classifier train)")
    parser.add_argument("--layer", default=INPUT,
                        help="'input' (the binary input detector) or a module name of the classifier, e.g. "
                             "features.4, whose output the detector reads (default input)")
    parser.add_argument("--eps", type=float, default=DEFAULTS["eps"],
                        help="Linf budget of every adversary, > 0 (default 0.1; MNIST's usual budget is 0.3)")
    parser.add_argument("--dynamic", type=float, default=None, metavar="SIGMA",
                        help="dynamic adversary training (Metzen et al. sec. 3.2): sigma drawn from [0, SIGMA], "
                             "SIGMA in (0, 1], 1 the paper's (default: a static adversary)")
    parser.add_argument("--fpr", type=float, default=DEFAULTS["fpr"],
                        help=f"target false-positive rate on clean images, in (0, 1) (default {DEFAULTS['fpr']:g})")
    parser.add_argument("--attack", choices=STATIC_ATTACKS, default=DEFAULTS["attack"],
                        help="the static adversary the detector is trained on (default bim, the paper's)")
    parser.add_argument("--attack-steps", type=int, default=None,
                        help="its steps, and the dynamic adversary's (default BIM's rule at eps)")
    parser.add_argument("--epochs", type=int, default=DEFAULTS["epochs"],
                        help=f"detector training epochs (default {DEFAULTS['epochs']}, the paper's)")
    parser.add_argument("--lr", type=float, default=DEFAULTS["lr"],
                        help=f"Adam's learning rate (default {DEFAULTS['lr']:g}; the paper's 1e-4 is for CIFAR-10's "
                             "45,000 images and leaves a detector on digits near chance)")
    parser.add_argument("--batch", type=int, default=DEFAULTS["batch"],
                        help=f"images per mini-batch (default {DEFAULTS['batch']})")
    parser.add_argument("--width", type=int, default=DEFAULTS["width"],
                        help=f"the detector's first convolution's maps, then twice that (default {DEFAULTS['width']})")
    parser.add_argument("--test-steps", type=int, default=DEFAULTS["test_steps"],
                        help=f"steps of the static PGD test attack (default {DEFAULTS['test_steps']})")
    parser.add_argument("--adaptive-steps", type=int, default=DEFAULTS["adaptive_steps"],
                        help=f"steps of the adaptive attack (default {DEFAULTS['adaptive_steps']})")
    parser.add_argument("--adaptive-restarts", type=int, default=DEFAULTS["adaptive_restarts"],
                        help=f"random starts of the adaptive attack (default {DEFAULTS['adaptive_restarts']})")
    parser.add_argument("--out", default=None, help="directory to write (default RUN/detector-LAYER)")
    parser.add_argument("--overwrite", action="store_true", help="replace a detection already in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_seed_device_flags(parser, "the training, the attacks and torch")
    parser.set_defaults(handler=run_detector)


def run_detector(args: argparse.Namespace) -> int:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    record = detector_run(args.run, layer=args.layer, eps=args.eps, out=args.out, overwrite=args.overwrite,
                          dynamic=args.dynamic, fpr=args.fpr, attack=args.attack, attack_steps=args.attack_steps,
                          epochs=args.epochs, lr=args.lr, batch=args.batch, width=args.width,
                          test_steps=args.test_steps, adaptive_steps=args.adaptive_steps,
                          adaptive_restarts=args.adaptive_restarts, seed=args.seed, device=args.device,
                          progress=not args.no_progress)
    print("\n".join(summary_lines(record)))
    print(f"detection: {record['out']}")
    return 0


def summary_lines(record: dict) -> list[str]:
    """What `advlab defend detector` prints."""
    def share(value):
        return "n/a" if value is None else f"{value:.4f}"

    lines = [f"{record['kind']} on {record['layer']}: threshold {record['threshold']:.4f} on the detector's logit; "
             f"false positives {share(record['calibration']['fpr'])} on the {record['calibration']['images']} clean "
             f"images it was set on (target {record['target_fpr']:g}), {share(record['test']['fpr'])} on "
             f"{record['test']['images']} others"]
    for name in ("static", "adaptive"):
        block = record[name]
        lines.append(f"{name} PGD eps {block['eps']:g}: fooled the classifier on {share(block['success_rate'])}, "
                     f"detected {share(block['detection_rate'])} of those; fooled and undetected "
                     f"{share(block['fooled_undetected'])} (classifier accuracy on the undetected examples "
                     f"{share(block['accuracy_on_undetected'])})")
    return lines


__all__ = ["add_parsers"]
