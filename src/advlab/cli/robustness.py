"""`advlab robustness RUN --eps 0.1,0.2,0.3`: the honest robustness report of a classifier run.

Robust accuracy vs eps against a worst-case ensemble (APGD-CE, APGD-T, Square; EOT and BPDA where
the model calls for them), each attack's own curve, and the sanity checks of Carlini et al. 2019
with AutoAttack's flags (pipelines/security/robustness.py, pipelines/security/robustness_checks.py). Prints the
table, the checks and the paths; writes RUN/robustness.json and RUN/robustness/. On an MNIST run
(``advlab classifier train --data mnist``) the usual Linf budgets go up to eps 0.3; the images are the
run's held-out split, stratified by class for MNIST. Without --eps, an MNIST run is evaluated at Madry et
al.'s budgets around 0.3 (0.1, 0.2, 0.3, 0.4), any other Linf run at 0.05, 0.1, 0.2, 0.3.

``--advgan`` adds AdvGAN (Xiao et al. 2018, advlab.attacks.advgan) to the evaluation: one generator per eps, trained
on the run's training rows (never the evaluated held-out rows) for ``--advgan-steps`` iterations (default: its 60
epochs), then one forward pass per image; it counts in the worst case and gets its own curve.
"""

from __future__ import annotations

import argparse

from advlab.cli.common import ExamplesFormatter
from advlab.core.distributed import context
from advlab.core.errors import AdvlabError
from advlab.pipelines.security.robustness import BUDGETS, Budget, RobustnessConfig, parse_eps, robustness_run
from advlab.pipelines.train_classifier import classifier_config
from advlab.reports.markup import md_table
from advlab.reports.robustness_report import accuracy_table

DEFAULTS = RobustnessConfig()
DATA_EPS = {"mnist": (0.1, 0.2, 0.3, 0.4)}  # Linf budgets by the run's data (others: DEFAULTS.eps)
EXAMPLES = """examples (an MNIST run: advlab classifier train --data mnist --out runs/clf):
  advlab robustness runs/clf --eps 0.1,0.2,0.3
  advlab robustness runs/clf --eps 0.3 --n 500 --budget standard
  advlab robustness runs/clf --eps 0.1,0.3 --advgan --advgan-steps 500
  advlab robustness runs/clf --eps 0.3 --extra-attacks mi-fgsm,spsa   # more members from advlab attack --list
  advlab defend adv-train runs/clf --eps 0.3 --out runs/clf-at && advlab robustness runs/clf-at --eps 0.3"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "robustness", help="robust accuracy vs eps against a worst-case ensemble, with sanity checks",
        description="Evaluate a classifier run (plain or defended) against APGD-CE, APGD-T and Square per example "
                    "(any success counts), plus FGSM, PGD and a transfer attack alone; check the evaluation for "
                    "signs of gradient masking. Writes RUN/robustness.json and RUN/robustness/robustness.html.",
        epilog=EXAMPLES, formatter_class=ExamplesFormatter)
    parser.add_argument("run", help="the classifier run directory (advlab classifier train / advlab defend)")
    parser.add_argument("--eps", default=None,
                        help="comma-separated budgets (default: an MNIST run's Linf 0.1,0.2,0.3,0.4, else "
                             + ",".join(f"{eps:g}" for eps in DEFAULTS.eps) + ")")
    parser.add_argument("--norm", default=DEFAULTS.norm, help="linf or l2 (default %(default)s)")
    parser.add_argument("--budget", default=DEFAULTS.budget,
                        help="the attacks' budgets: " + "; ".join(f"{name}: {budget_words(budget)}"
                                                                  for name, budget in BUDGETS.items()) +
                             " (standard is AutoAttack's standard version; default %(default)s)")
    for name, words in (("n", "evaluate the first N held-out images"), ("check_images", "images of the check runs"),
                        ("seed", "seeds torch and every attack")):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(DEFAULTS, name),
                            help=f"{words} (default %(default)s)")
    for name, words in (("steps", "iterations of PGD, APGD and FAB-T"), ("restarts", "random restarts of PGD and "
                        "APGD-CE"), ("queries", "Square's queries per image"), ("targets", "target classes of APGD-T"),
                        ("fab_targets", "target classes of FAB-T (0: none)"),
                        ("eot_draws", "forward passes averaged per gradient for a randomised model (EOT)")):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=None,
                            help=f"{words} (default: the budget's)")
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="attack this many images together, each chunk with its own seeds; under torchrun the "
                             "chunks are shared out among the processes (default: all N in one chunk)")
    parser.add_argument("--surrogate", default=None,
                        help="a classifier run for the transfer attack (default: an MLP trained for a few seconds on "
                             "the run's training split)")
    parser.add_argument("--advgan", action="store_true",
                        help="also attack with AdvGAN (Linf only): one generator per eps, trained on the run's "
                             "training rows before the evaluation, then one forward pass per image")
    parser.add_argument("--advgan-steps", type=int, default=DEFAULTS.advgan_steps,
                        help="AdvGAN's training iterations (minibatches of 128) per eps (default: its 60 epochs)")
    parser.add_argument("--extra-attacks", default="",
                        help="further attacks from `advlab attack --list`, comma-separated (those with a budget in "
                             "--norm, built from the model alone, e.g. mi-fgsm,spsa): each runs on every image at "
                             "every eps and counts in the worst case")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run_robustness)


def budget_words(budget: Budget) -> str:
    fab = f", FAB-T on {budget.fab_targets} targets" if budget.fab_targets else ", no FAB-T"
    return (f"{budget.steps} steps, APGD-T on {budget.targets} targets{fab}, Square {budget.queries} queries, EOT "
            f"over {budget.eot_draws} draws")


def default_eps(run: str, norm: str) -> tuple[float, ...]:
    """The budgets when --eps is not given: by the run's data for Linf (MNIST: up to 0.4), else RobustnessConfig's."""
    if norm != "linf":
        return DEFAULTS.eps
    try:
        data = classifier_config(run).data
    except AdvlabError:  # not a plain classifier run (robustness_run says what it is, or why it cannot be read)
        return DEFAULTS.eps
    return DATA_EPS.get(data, DEFAULTS.eps)


def advgan_line(trained: dict) -> str:
    """How the AdvGAN generators were trained (robustness.json's ``advgan``), in one line."""
    each = "; ".join(f"eps {eps}: {about['iterations']} iterations ({about['epochs']:.1f} epochs) in "
                     f"{about['seconds']:.1f} s" for eps, about in trained["generators"].items())
    return (f"AdvGAN: one generator per eps, trained on the run's {trained['n']} training rows (not the held-out "
            f"images attacked) -- {each}")


def run_robustness(args: argparse.Namespace) -> int:
    eps = default_eps(args.run, args.norm) if args.eps is None else parse_eps(args.eps, args.norm)
    config = RobustnessConfig(run=args.run, eps=eps, norm=args.norm, n=args.n,
                              budget=args.budget, steps=args.steps, restarts=args.restarts, queries=args.queries,
                              targets=args.targets, fab_targets=args.fab_targets, eot_draws=args.eot_draws,
                              check_images=args.check_images, chunk_size=args.chunk_size, surrogate=args.surrogate,
                              advgan=args.advgan, advgan_steps=args.advgan_steps,
                              extra_attacks=tuple(filter(None, map(str.strip, args.extra_attacks.split(",")))),
                              seed=args.seed, device=args.device,
                              threads=args.threads, progress=not args.no_progress)
    path, record = robustness_run(config)
    if not context().is_main:  # under torchrun rank 0 alone writes and prints
        return 0
    if record["warning"]:
        print(f"WARNING: {record['warning']}")
    print(f"clean accuracy: {100 * record['clean_accuracy']:.1f}% ({record['n']} held-out images)")
    print(md_table(*accuracy_table(record)))
    if record.get("advgan"):
        print(advgan_line(record["advgan"]))
    for check in record["checks"]:
        print(f"[{'PASS' if check['passed'] else 'FAIL'}] {check['name']}: {check['evidence']}")
    files = record["files"]
    print(f"robustness: {path}\nreport: {path.parent / files['html']}\nmarkdown: {path.parent / files['markdown']}")
    return 0


__all__ = ["add_parser"]
