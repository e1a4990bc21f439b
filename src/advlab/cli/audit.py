"""`advlab audit RUN [--budget quick|standard|thorough] [--model-only]`: the security table for one model.

What each cell measures, its threshold and what the audit writes (only RUN/audit/): advlab.pipelines.security.audit.
"""

from __future__ import annotations

import argparse

from advlab.cli.common import ExamplesFormatter, add_seed_device_flags
from advlab.pipelines.security.audit import BUDGET_NAMES, AuditConfig, audit_run
from advlab.reports.markup import md_table

HELP = ("audit a classifier run (evasion, backdoor, availability, membership, extraction, inversion) or a GAN run "
        "(membership, memorisation)")
EXAMPLES = """examples:
  advlab audit runs/clf --budget quick            every cell of the table (quick: minutes on a digits model)
  advlab audit runs/clf --budget standard --eps 0.3
  advlab audit runs/clf --model-only              no training data at hand: only the cells that need none
  advlab audit runs/digits-gan                    a GAN run (trained with --train-images N): membership, copies
writes RUN/audit/audit.json (cells: figure, value, verdict, threshold, evidence) and RUN/audit/report.html;
running the same audit again resumes an interrupted one"""
HEAD = ("cell", "verdict", "value", "figure", "threshold")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("audit", help=HELP, description=HELP + ". Never changes the run: only RUN/audit/ "
                                   "is written.", epilog=EXAMPLES, formatter_class=ExamplesFormatter)
    parser.add_argument("run", metavar="RUN", help="the classifier or GAN run to audit")
    parser.add_argument("--budget", choices=BUDGET_NAMES, default="quick",
                        help="the attacks' steps, queries and shadow counts (default quick)")
    parser.add_argument("--model-only", action="store_true",
                        help="no training data at hand: the cells that need it are marked 'not measured'")
    parser.add_argument("--eps", type=float, default=None,
                        help="the evasion cell's Linf budget (default 0.3 on MNIST, 0.2 otherwise)")
    add_seed_device_flags(parser, "every attack, shadow model and retraining")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a complete audit or one with other settings")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(handler=run_audit)


def value_text(cell: dict) -> str:
    return "—" if cell["value"] is None else f"{cell['value']:.3g}"


def run_audit(args: argparse.Namespace) -> int:
    config = AuditConfig(run=args.run, budget=args.budget, model_only=args.model_only, eps=args.eps, seed=args.seed,
                         device=args.device, threads=args.threads, overwrite=args.overwrite,
                         progress=not args.no_progress)
    path, record = audit_run(config)
    rows = [[name, cell["verdict"], value_text(cell), cell["figure"] if cell["reason"] is None else cell["reason"],
             cell["threshold"]] for name, cell in record["cells"].items()]
    print(f"audit of {args.run} ({record['kind']}, budget {record['budget']}, {record['seconds']:.0f} s):")
    print(md_table(HEAD, rows))
    print(f"audit: {path}")
    print(f"report: {path.parent / 'report.html'}")
    return 0
