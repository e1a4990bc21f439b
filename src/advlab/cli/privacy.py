"""`advlab privacy VERB RUN`: how much a classifier leaks -- membership inference, model inversion, model
extraction -- and one report for all of it. Each verb lives in its own module (privacy_*.py); every verb
writes only under RUN/privacy/ (or its --out), never into the rest of the victim's run."""

from __future__ import annotations

from advlab.cli import privacy_extract, privacy_invert, privacy_membership, privacy_report


def add_parser(subparsers) -> None:
    privacy = subparsers.add_parser("privacy", help="membership inference, model inversion, model extraction, and "
                                                    "the privacy report")
    verbs = privacy.add_subparsers(dest="verb", required=True, metavar="VERB")
    for module in (privacy_membership, privacy_invert, privacy_extract, privacy_report):
        module.add_parsers(verbs)
