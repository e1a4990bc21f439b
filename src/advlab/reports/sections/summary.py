"""The run's headline numbers: summary.json, else the last train record plus the last eval record's other keys."""

from __future__ import annotations

from pathlib import Path

from advlab.reports.markup import html_heading, html_table, md_heading, md_table
from advlab.reports.reading import Run, flat_rows
from advlab.reports.sections.base import HEADLINE, Section, register

SUMMARY_HEAD = ("metric", "value")


@register
class Summary(Section):
    """Every run has one (a run that has not logged a step yet shows "(none)")."""

    title, order = "Summary", HEADLINE

    def applies(self, run: Run) -> bool:
        return True

    def collect(self, run: Run) -> list[tuple[str, str]]:
        return flat_rows(run.summary)

    def html(self, view, base: Path, level: int) -> str:
        return html_heading(level, self.title) + "\n" + html_table(SUMMARY_HEAD, view)

    def markdown(self, view, base: Path, level: int) -> str:
        return f"{md_heading(level, self.title)}\n\n{md_table(SUMMARY_HEAD, view)}"
