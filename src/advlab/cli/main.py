"""The `advlab` command. Each verb group lives in its own module; errors a user can cause
end as one line on stderr with exit status 2 (DESIGN.md)."""

from __future__ import annotations

import os
import sys

import torch

from advlab import __version__
from advlab.cli import (
    attack,
    audio,
    audit,
    classifier,
    defend,
    demo,
    detect,
    features,
    gan,
    music,
    playground,
    poison,
    privacy,
    report,
    robustness,
    superres,
    text2image,
    translate,
)
from advlab.cli.common import Parser
from advlab.core.distributed import current, launched_by_torchrun, shutdown
from advlab.core.errors import AdvlabError


def build_parser() -> Parser:
    parser = Parser(prog="advlab", description="adversarial machine learning with a focus on GANs")
    parser.add_argument("--version", action="version", version=f"advlab {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True,
                                       metavar="{gan,classifier,attack,defend,poison,detect,privacy,robustness,audit,translate,superres,music,"
                                               "text2image,audio,report,demo,features,playground}",
                                       parser_class=Parser)
    for module in (gan, classifier, attack, defend, poison, detect, privacy, robustness, audit, translate, superres,
                   music, text2image, audio, report, demo, features, playground):
        module.add_parser(subparsers)
    return parser


class MainRankOutput:
    """stdout that only rank 0 writes to under torchrun (one "run: ..." line per job, not one per process)."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(text) if current().is_main else len(text)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def main(argv: list[str] | None = None) -> int:
    """Run one advlab command; under torchrun the process group is left at the end (so a process that calls main()
    should not start another distributed command after it)."""
    args = build_parser().parse_args(argv)
    stdout, sys.stdout = sys.stdout, MainRankOutput(sys.stdout)
    try:
        return args.handler(args)
    except AdvlabError as error:
        print(f"advlab: error: {where()}{error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"advlab: {where()}interrupted", file=sys.stderr)
        return 130
    except RuntimeError as error:
        if not lost_peer(error):
            raise
        print(f"advlab: error: {where()}lost the other processes of this torchrun job ({first_line(error)}); "
              "the last checkpoint that was written stays loadable", file=sys.stderr)
        return 3
    finally:
        sys.stdout = stdout
        shutdown()


def run_as_program(argv: list[str] | None = None) -> None:
    """`python -m advlab`: main(), then the exit. A process that was one rank of a torchrun job leaves with
    os._exit once its output is flushed: the interpreter's own teardown can abort in the process-group threads'
    destructors ("terminate called without an active exception", about 1 run in 8 here), which torchrun would
    report as a failed job after the work was done and written."""
    code = main(argv)
    if launched_by_torchrun():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def where() -> str:
    """'rank R: ' under torchrun, so that each process's message says whose it is; '' in one process."""
    dist = current()
    return f"rank {dist.rank}: " if dist.active else ""


PEER_ERRORS = ("gloo", "NCCL", "Connection reset", "Connection closed", "Timed out", "timed out")


def lost_peer(error: RuntimeError) -> bool:
    """True for the error of a collective whose peer died or hung (gloo raises a plain RuntimeError)."""
    return isinstance(error, torch.distributed.DistError) or \
        (current().active and any(word in str(error) for word in PEER_ERRORS))


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


if __name__ == "__main__":
    run_as_program()
