"""`advlab privacy extract RUN --method knockoff|jacobian|equation-solving`: steal a classifier run through its
answers and print the copy's fidelity, accuracy and transfer rate per query budget.

What each method does and what it writes (only RUN/privacy/extraction/METHOD/): advlab.pipelines.security.extract_run.
"""

from __future__ import annotations

import argparse

from advlab.cli.common import ExamplesFormatter, add_seed_device_flags, parse_value
from advlab.defenses.outputs import SPEC_HELP
from advlab.pipelines.security.extract_run import DEFAULT_QUERIES, METHODS, ExtractRunConfig, extract_run
from advlab.privacy.extraction.knockoff import SAMPLINGS
from advlab.reports.markup import md_table

HELP = "steal a classifier through its answers: Knockoff Nets, Jacobian augmentation or equation solving"
EXAMPLES = """examples:
  advlab privacy extract runs/target --method knockoff --queries 500,1000,2000,5000
  advlab privacy extract runs/target --method jacobian --output-defense top1
  advlab privacy extract runs/target --method knockoff --sampling adaptive --output-defense round:2
  advlab privacy extract runs/target --method knockoff --output-defense reverse-sigmoid:beta=1,gamma=0.1
  advlab classifier train --data digits --model logreg --out runs/logreg
  advlab privacy extract runs/logreg --method equation-solving    (d + 1 = 65 queries for 8x8 digits)"""


def add_parsers(verbs) -> None:
    parser = verbs.add_parser("extract", help=HELP, description=HELP, epilog=EXAMPLES,
                              formatter_class=ExamplesFormatter)
    parser.add_argument("run", metavar="RUN", help="the victim classifier run (only RUN/privacy/extraction/ is "
                                                   "written)")
    parser.add_argument("--method", choices=METHODS, default="knockoff", help="the extraction (default knockoff)")
    parser.add_argument("--queries", default=None,
                        help="query budgets, comma-separated (default "
                             f"{','.join(map(str, DEFAULT_QUERIES))}; equation-solving: d + 1)")
    parser.add_argument("--output-defense", default="none",
                        help=f"what the victim returns: {SPEC_HELP} (default none)")
    parser.add_argument("--eps", type=float, default=0.1,
                        help="Linf radius of the PGD examples crafted on the copy for the transfer rate; 0: skip "
                             "(default 0.1)")
    parser.add_argument("--sampling", choices=SAMPLINGS, default="random", help="knockoff's query sampling "
                                                                                "(default random)")
    parser.add_argument("--copy-model", default=None, help="the copy's architecture: cnn, lenet, madry, mlp, logreg "
                                                           "(default: the victim's own)")
    parser.add_argument("--seed-per-class", type=int, default=10,
                        help="jacobian's seed set: held-out images per class (default 10)")
    add_seed_device_flags(parser, "the queries, the copy's weights and its training")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier extraction by this method")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run_extract)


def run_extract(args: argparse.Namespace) -> int:
    queries = None if args.queries is None else parse_value(args.queries, tuple[int, ...], "--queries")
    config = ExtractRunConfig(run=args.run, method=args.method, queries=queries, output_defense=args.output_defense,
                              eps=args.eps, sampling=args.sampling, copy_model=args.copy_model,
                              seed_per_class=args.seed_per_class, seed=args.seed, device=args.device,
                              threads=args.threads, overwrite=args.overwrite, progress=not args.no_progress)
    record = extract_run(config)
    print(f"{record['method']} extraction of {args.run} (output defense {record['output_defense']}, victim's "
          f"held-out accuracy {record['victim_accuracy']:.4f}, {record['evaluation_images']} images):")
    print(md_table(*budget_table(record)))
    print(f"written to {args.run}/privacy/extraction/{record['method']}/ ({record['seconds']:.1f} s)")
    return 0


def budget_table(record: dict) -> tuple[list[str], list[list[str]]]:
    """(head, rows): one row per budget."""
    def share(value) -> str:
        return "-" if value is None else f"{value:.4f}"

    ordered = sorted(record["budgets"].values(), key=lambda figures: figures["queries"])
    rows = [[str(figures["queries"]), share(figures["fidelity"]), share(figures["accuracy"]),
             share(figures["transfer_rate"])] for figures in ordered]
    return ["queries", "fidelity", "accuracy", f"transfer rate (eps {record['eps']})"], rows


__all__ = ["add_parsers"]
