"""`advlab report RUN`: (re)write a run's report.html and report.md."""

from __future__ import annotations

import argparse

from advlab.reports.render import write_report


def add_parser(subparsers) -> None:
    report = subparsers.add_parser("report", help="(re)write a run's report.html and report.md")
    report.add_argument("run", help="run directory")
    report.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    html, md = write_report(args.run)
    print(f"report: {html}\nmarkdown: {md}")
    return 0
