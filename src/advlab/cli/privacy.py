"""`advlab privacy VERB RUN`: how much a classifier leaks -- membership inference, model inversion, model
extraction -- and one report for all of it. Each verb lives in its own module (privacy_*.py); every verb
writes only under RUN/privacy/ (or its --out), never into the rest of the victim's run."""

from __future__ import annotations

import importlib

# verb module -> imported lazily-safe at parser build; each exposes add_parsers(verbs)
VERB_MODULES = ("privacy_membership", "privacy_invert", "privacy_extract", "privacy_report")


def add_parser(subparsers) -> None:
    privacy = subparsers.add_parser("privacy", help="membership inference, model inversion, model extraction, and "
                                                    "the privacy report")
    verbs = privacy.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name in VERB_MODULES:
        try:
            module = importlib.import_module(f"advlab.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"advlab.cli.{name}":
                raise
            continue  # a verb not built yet
        module.add_parsers(verbs)
