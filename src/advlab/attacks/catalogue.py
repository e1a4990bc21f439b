"""advlab's catalogue of evasion attacks: what ``advlab attack --list`` prints, one line per attack.

Each attack class says where it comes from (``paper``) and what it is; the catalogue reads that from the
class, so a newly registered attack appears without changes here:

* the threat model: the norms it takes (``norms``, else its ``norm``), and whether it works inside a budget
  ("Linf ball") or minimises the norm itself (``minimum_norm = True``, or ``norm = None``: "minimum L2"); an
  attack with its own kind of perturbation (a patch, a generator) says it in ``threat``;
* the access it needs: white-box (gradients), or black-box on the model's scores, its decisions (labels only)
  or a surrogate's gradients (``feedback``); ``access`` overrides the words where neither fits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from advlab.attacks.base import attack_norms, minimises_norm

NORM_WORDS = {"linf": "Linf", "l2": "L2", "l1": "L1", "l0": "L0"}
FEEDBACK_WORDS = {"scores": "black-box (scores)", "decisions": "black-box (decisions)",
                  "surrogate": "black-box (transfer from a surrogate)"}


@dataclass(frozen=True)
class Entry:
    """One attack of the catalogue."""

    name: str
    cls: str
    paper: str
    threat: str
    access: str


def threat_model(cls: type) -> str:
    """'Linf/L2 ball', 'minimum L2', 'L0 count', or the class's own ``threat`` words."""
    if getattr(cls, "threat", None):
        return cls.threat
    norms = attack_norms(cls)
    words = "/".join(NORM_WORDS.get(norm, norm) for norm in norms)
    if not words:
        return "minimum norm"
    if minimises_norm(cls):
        return f"minimum {words}"
    return f"{words} count" if norms == ("l0",) else f"{words} ball"


def access(cls: type) -> str:
    """What the attacker needs from the model."""
    if getattr(cls, "access", None):
        return cls.access
    if not getattr(cls, "black_box", False):
        return "white-box"
    return FEEDBACK_WORDS[getattr(cls, "feedback", "scores")]


def catalogue(attacks: Mapping[str, type]) -> list[Entry]:
    """The entries of `attacks` (registry name -> class), in registry order."""
    return [Entry(name, cls.__name__, getattr(cls, "paper", "") or "—", threat_model(cls), access(cls))
            for name, cls in attacks.items()]


def catalogue_text(entries: list[Entry]) -> str:
    """The catalogue as aligned plain-text columns (a terminal's table)."""
    header = Entry("attack", "class", "paper", "threat model", "access")
    rows = [header, *entries]
    widths = [max(len(getattr(row, column)) for row in rows) for column in ("name", "threat", "access")]
    lines = []
    for row in rows:
        cells = [row.name.ljust(widths[0]), row.threat.ljust(widths[1]), row.access.ljust(widths[2]), row.paper]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def catalogue_markdown(entries: list[Entry]) -> str:
    """The catalogue as a Markdown table."""
    lines = ["| attack | class | threat model | access | paper |", "|---|---|---|---|---|"]
    lines += [f"| {e.name} | {e.cls} | {e.threat} | {e.access} | {e.paper} |" for e in entries]
    return "\n".join(lines) + "\n"


__all__ = ["Entry", "access", "catalogue", "catalogue_markdown", "catalogue_text", "threat_model"]
