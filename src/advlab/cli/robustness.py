"""Placeholder: filled in by the helper that owns it (issue 6)."""


def add_parser(subparsers) -> None:
    return None
