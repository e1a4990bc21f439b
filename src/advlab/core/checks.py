"""Checks of plain option values at the boundary; each failure is one AdvlabError line."""

from __future__ import annotations

import math

from advlab.core.errors import AdvlabError


def check_int(name: str, value, least: int) -> int:
    """Return `value` if it is an int >= `least`; raise AdvlabError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise AdvlabError(f"{name} must be an integer >= {least}, got {value!r}")
    return value


def check_number(name: str, value, least: float = 0.0, strict: bool = False) -> float:
    """Return `value` as a float if it is a finite number >= `least` (> with `strict`)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < least or (strict and value == least):
        relation = ">" if strict else ">="
        raise AdvlabError(f"{name} must be a number {relation} {least:g}, got {value!r}")
    return float(value)
