"""The run's resolved configuration (config.yaml), last and folded: one row per option, nested ones dotted."""

from __future__ import annotations

from pathlib import Path

from advlab.reports.markup import html_details, html_heading, html_table, md_details, md_heading, md_table
from advlab.reports.reading import Run, flat_rows
from advlab.reports.sections.base import LAST, Section, register

CONFIG_HEAD = ("option", "value")


def fold_line(rows) -> str:
    return f"{len(rows)} option{'s' if len(rows) != 1 else ''} (click to show)"


@register
class Configuration(Section):
    """Every run has a config.yaml (reading the run checks it)."""

    title, order = "Configuration", LAST

    def applies(self, run: Run) -> bool:
        return True

    def collect(self, run: Run) -> list[tuple[str, str]]:
        return flat_rows(run.config)

    def html(self, view, base: Path, level: int) -> str:
        return html_heading(level, self.title) + "\n" + html_details(fold_line(view), html_table(CONFIG_HEAD, view))

    def markdown(self, view, base: Path, level: int) -> str:
        return f"{md_heading(level, self.title)}\n\n{md_details(fold_line(view), md_table(CONFIG_HEAD, view))}"
