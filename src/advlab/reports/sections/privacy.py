"""`advlab privacy ...` (RUN/privacy/): how much the model leaks (issue 17, part 5).

A DP-SGD run's (epsilon, delta) first, then the membership table (AUC and TPR at 0.1% / 1% FPR per attack, and
the same attacks on the runs `advlab privacy report --beside` put next to it, e.g. the DP-SGD twin) with the
log-log ROC curves, the inversion table (attack accuracy by the independent evaluator, distance to the nearest
private image) with the inverted images, and the extraction table (fidelity and accuracy of the copy per query
budget) with its curves. The figures come from advlab.reports.privacy_records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from advlab.reports.markup import esc, html_figure, html_grid, html_heading, html_table, md_heading, md_image, md_table
from advlab.reports.privacy_records import (
    EXTRACTION_PICTURE,
    INVERSION_PICTURE,
    PRIVACY,
    ROC_PICTURE,
    has_privacy_results,
    privacy_record,
)
from advlab.reports.reading import Run, read_json_object
from advlab.reports.robustness_report import percent
from advlab.reports.sections.base import HEADLINE, Section, register

RECORD = "privacy.json"  # advlab privacy report writes it; its "beside" runs join the membership table
MEMBERSHIP_HEAD = ("run", "attack", "AUC", "TPR at 0.1% FPR", "TPR at 1% FPR")
INVERSION_HEAD = ("method", "attack accuracy", "distance to the nearest private image")
EXTRACTION_HEAD = ("method", "queries", "fidelity", "accuracy")


@dataclass
class Table:
    title: str
    head: tuple[str, ...]
    rows: list[list[str]]
    figures: list[tuple[str, Path, str]] = field(default_factory=list)  # caption, path, "plots" or "grid"


@dataclass
class PrivacyView:
    dp_line: str
    tables: list[Table]


def share(value) -> str:
    return percent(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else "—"


def number(value) -> str:
    return f"{value:.3g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "—"


def dp_text(dp: dict | None) -> str:
    if not dp:
        return "trained without differential privacy"
    return f"trained with DP-SGD: epsilon = {number(dp.get('epsilon'))}, delta = {number(dp.get('delta'))}"


def run_label(name: str, dp: dict | None) -> str:
    return f"{name} (epsilon {number(dp.get('epsilon'))})" if dp else name


def membership_rows(name: str, record: dict) -> list[list[str]]:
    label = run_label(name, record.get("dp"))
    return [[label, attack, number(figures.get("auc")), share(figures.get("tpr_at_0.1%_fpr")),
             share(figures.get("tpr_at_1%_fpr"))] for attack, figures in (record.get("membership") or {}).items()]


def membership_table(root: Path, record: dict) -> Table:
    """This run's attacks, then those of the runs the privacy report put beside it."""
    rows = membership_rows(root.name, record)
    beside = (read_json_object(root / PRIVACY / RECORD) or {}).get("beside") or {}
    for name, other in beside.items():
        if isinstance(other, dict):
            rows += membership_rows(Path(name).name, other)
    roc = root / PRIVACY / ROC_PICTURE
    return Table("Membership inference", MEMBERSHIP_HEAD, rows,
                 [("ROC curves, log-log axes", roc, "plots")] if roc.is_file() else [])


def inversion_table(root: Path, record: dict) -> Table:
    rows = [[method, share(figures.get("attack_accuracy")), number(figures.get("nearest_private_distance"))]
            for method, figures in record["inversion"].items()]
    figures = [(f"{method}: inverted images beside private ones", path, "grid") for method in record["inversion"]
               if (path := root / PRIVACY / "inversion" / method / INVERSION_PICTURE).is_file()]
    return Table("Model inversion", INVERSION_HEAD, rows, figures)


def extraction_table(root: Path, record: dict) -> Table:
    rows = [[method, str(budget), share(figures.get("fidelity")), share(figures.get("accuracy"))]
            for method, budgets in record["extraction"].items() for budget, figures in budgets.items()]
    figures = [(f"{method}: fidelity and accuracy against queries", path, "plots") for method in record["extraction"]
               if (path := root / PRIVACY / "extraction" / method / EXTRACTION_PICTURE).is_file()]
    return Table("Model extraction", EXTRACTION_HEAD, rows, figures)


def privacy_view(root: Path) -> PrivacyView:
    record = privacy_record(root)
    tables = [membership_table(root, record), inversion_table(root, record), extraction_table(root, record)]
    return PrivacyView(dp_text(record["dp"]), [table for table in tables if table.rows])


@register
class PrivacySection(Section):
    """Applies to a run with any privacy attack's record under RUN/privacy/, and to a DP-SGD run."""

    title, order = "Privacy", HEADLINE + 3

    def applies(self, run: Run) -> bool:
        return run.kind == "classifier" and has_privacy_results(run.root)

    def collect(self, run: Run) -> PrivacyView:
        return privacy_view(run.root)

    def html(self, view: PrivacyView, base: Path, level: int) -> str:
        parts = [html_heading(level, self.title), f"<p>{esc(view.dp_line)}</p>"]
        for table in view.tables:
            parts += [html_heading(level + 1, table.title), html_table(table.head, table.rows)]
            figures = "".join(html_figure(caption, path, base) if kind == "plots" else html_grid(caption, path, base)
                              for caption, path, kind in table.figures)
            if figures:
                parts.append(f'<div class="figs plots">{figures}</div>')
        return "\n".join(parts)

    def markdown(self, view: PrivacyView, base: Path, level: int) -> str:
        parts = [md_heading(level, self.title), view.dp_line]
        for table in view.tables:
            parts += [md_heading(level + 1, table.title), md_table(table.head, table.rows)]
            parts += [md_image(caption, path, base) for caption, path, _ in table.figures]
        return "\n\n".join(parts)

    def headline(self, view: PrivacyView) -> tuple[str, Path] | None:
        """The ROC curves, else the first picture a table has."""
        pictures = [(caption, path) for table in view.tables for caption, path, _ in table.figures]
        return pictures[0] if pictures else None
