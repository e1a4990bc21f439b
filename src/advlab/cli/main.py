"""The `advlab` command. Each verb group lives in its own module; errors a user can cause
end as one line on stderr with exit status 2 (DESIGN.md)."""

from __future__ import annotations

import sys

from advlab import __version__
from advlab.cli import (
    attack,
    classifier,
    defend,
    demo,
    detect,
    features,
    gan,
    playground,
    poison,
    privacy,
    report,
    robustness,
)
from advlab.cli.common import Parser
from advlab.core.errors import AdvlabError


def build_parser() -> Parser:
    parser = Parser(prog="advlab", description="adversarial machine learning with a focus on GANs")
    parser.add_argument("--version", action="version", version=f"advlab {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True,
                                       metavar="{gan,classifier,attack,defend,poison,detect,privacy,robustness,report,demo,features,playground}",
                                       parser_class=Parser)
    for module in (gan, classifier, attack, defend, poison, detect, privacy, robustness, report, demo, features,
                   playground):
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except AdvlabError as error:
        print(f"advlab: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("advlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
