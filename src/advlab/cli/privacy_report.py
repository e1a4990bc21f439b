"""`advlab privacy report RUN [--beside RUN2 ...]`: RUN/privacy/privacy.json and the Privacy section of RUN's
report, from what the privacy attacks wrote (advlab.pipelines.security.privacy_report)."""

from __future__ import annotations

import argparse
import json

from advlab.cli.common import ExamplesFormatter
from advlab.pipelines.security.privacy_report import privacy_report

HELP = "gather the privacy attacks' results into RUN/privacy/privacy.json and RUN's report"


def add_parsers(verbs) -> None:
    parser = verbs.add_parser("report", help=HELP, description=HELP, formatter_class=ExamplesFormatter,
                              epilog="example (after advlab privacy membership/invert/extract):\n"
                                     "  advlab privacy report runs/target --beside runs/target-dp")
    parser.add_argument("run", metavar="RUN", help="the classifier run the attacks judged")
    parser.add_argument("--beside", action="append", default=[], metavar="RUN2",
                        help="another run whose membership figures join the table (e.g. its DP-SGD twin); repeatable")
    parser.set_defaults(handler=run_privacy_report)


def run_privacy_report(args: argparse.Namespace) -> int:
    path = privacy_report(args.run, args.beside)
    record = json.loads(path.read_text())
    for attack, figures in record["membership"].items():
        print(f"membership {attack}: AUC {figures['auc']:.3f}, TPR at 0.1% FPR {figures['tpr_at_0.1%_fpr']:.2%}")
    for method, figures in record["inversion"].items():
        print(f"inversion {method}: attack accuracy {figures['attack_accuracy']:.1%}")
    for method, budgets in record["extraction"].items():
        print(f"extraction {method}: " + ", ".join(f"{budget} queries fidelity {values['fidelity']:.1%}"
                                                  for budget, values in budgets.items()))
    print(f"privacy record: {path}\nreport: {args.run}/report.html")
    return 0
