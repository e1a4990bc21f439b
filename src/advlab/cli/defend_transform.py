"""Placeholder: filled in by the helper that owns it (issue 6)."""


def add_parsers(verbs) -> None:
    return None
