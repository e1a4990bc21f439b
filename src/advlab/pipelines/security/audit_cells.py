"""One cell of `advlab audit`'s table: a headline figure, a verdict by a stated threshold, and its evidence.

The audit (advlab.pipelines.security.audit) fills the security table of DESIGN.md -- who the attacker is (they touch
the test data or the training data) against what they break (integrity, availability, privacy) -- for one run, one
cell at a time. Each cell is measured by an existing advlab pipeline on a working copy of the run (RUN/audit/subject)
and reduced here to what ``audit.json`` promises for it::

    {"figure": what the value is, in words, "value": the number (None when not measured),
     "verdict": "pass" | "fail" | "not measured", "threshold": the rule that gave the verdict, in words,
     "evidence": the full record or report it came from (a path relative to RUN/audit/, or None),
     "seconds": its wall time, "details": the supporting figures, "reason": why it was not measured (or None),
     "row": "test data" | "training data", "column": "integrity" | "availability" | "privacy"}

A cell that cannot be measured (``--model-only`` without the training data, a generator trained on all of its
data) says so and why -- never a silent zero.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from advlab.reports.audit_report import COLUMNS, FAIL, NOT_MEASURED, PASS, PLACES, ROWS, VERDICTS

# the words of audit.json, which its report (advlab.reports.audit_report, a layer below) reads back
TEST_DATA, TRAINING_DATA = ROWS
INTEGRITY, AVAILABILITY, PRIVACY = COLUMNS


@dataclass
class Cell:
    """One measured (or unmeasured) cell of the audit; ``record()`` is its audit.json entry."""

    figure: str
    value: float | None
    verdict: str
    threshold: str
    evidence: str | None = None
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    row: str = TEST_DATA
    column: str = INTEGRITY

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if (self.verdict == NOT_MEASURED) != (self.value is None):
            raise ValueError("a cell has a value exactly when it was measured")

    def record(self) -> dict[str, Any]:
        record = asdict(self)
        record["seconds"] = round(float(self.seconds), 2)
        return record


def at_least(value: float, bound: float) -> str:
    """PASS when `value` >= `bound` (a figure where higher is safer), else FAIL; NaN fails."""
    return PASS if not math.isnan(value) and value >= bound else FAIL


def at_most(value: float, bound: float) -> str:
    """PASS when `value` <= `bound` (a figure where lower is safer), else FAIL; NaN fails."""
    return PASS if not math.isnan(value) and value <= bound else FAIL


def not_measured(figure: str, threshold: str, reason: str, row: str, column: str) -> Cell:
    """A cell the audit could not measure, and why."""
    return Cell(figure=figure, value=None, verdict=NOT_MEASURED, threshold=threshold, reason=reason, row=row,
                column=column)


def relative(path: Path, audit_dir: Path) -> str:
    """`path` as the evidence link: relative to RUN/audit/."""
    return str(Path(path).resolve().relative_to(Path(audit_dir).resolve()))


@dataclass(frozen=True)
class AuditContext:
    """What a cell's measurement gets: the inspected run (read only), the audit's folder RUN/audit/, the working copy
    of the run that the pipelines may write into (RUN/audit/subject), the budget's name, and the run options."""

    run: Path
    audit_dir: Path
    subject: Path
    budget: str
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    progress: bool = True
    model_only: bool = False


__all__ = ["AVAILABILITY", "FAIL", "INTEGRITY", "NOT_MEASURED", "PASS", "PLACES", "PRIVACY", "TEST_DATA",
           "TRAINING_DATA", "VERDICTS", "AuditContext", "Cell", "at_least", "at_most", "not_measured", "relative"]
