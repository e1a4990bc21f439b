"""`advlab defend smooth` (RUN/smoothing/*/certify.json): randomized smoothing's certified accuracy (Cohen,
Rosenfeld & Kolter 2019) at a few L2 radii, one row per sigma, and the curve of certified accuracy vs radius."""

from __future__ import annotations

import json
from pathlib import Path

from advlab.reports.markup import html_grid, html_heading, html_table, link, md_heading, md_table
from advlab.reports.reading import Run
from advlab.reports.sections.base import HEADLINE, Section, register

SMOOTHING_RADII = ("0", "0.25", "0.5", "1")  # the L2 radii a report row shows (advlab defend smooth records more)


def smoothing_summary(root: Path) -> dict | None:
    """The randomized-smoothing certifications of a classifier run (advlab defend smooth, RUN/smoothing/*/
    certify.json): one row per sigma directory, certified accuracy at SMOOTHING_RADII; None without any."""
    rows = []
    for path in sorted((root / "smoothing").glob("*/certify.json")):
        try:
            record = json.loads(path.read_text())
            options, summary = record["options"], record["summary"]
        except (OSError, ValueError, KeyError):
            continue
        accuracy = summary.get("certified_accuracy", {})
        rows.append([path.parent.name, options.get("n"), summary.get("images"), summary.get("abstains"),
                     *(f"{100 * accuracy[r]:.1f}%" if r in accuracy else "—" for r in SMOOTHING_RADII)])
    if not rows:
        return None
    head = ["certification", "n", "images", "abstains", *(f"certified @ L2 {r}" for r in SMOOTHING_RADII)]
    return {"head": head, "rows": rows, "plot": root / "smoothing" / "certified_accuracy.png"}


def smoothing_html(summary: dict, base: Path, level: int) -> str:
    figure = html_grid("certified accuracy vs radius", summary["plot"], base) if summary["plot"].exists() else ""
    return (html_heading(level, "Randomized smoothing") + html_table(summary["head"], summary["rows"])
            + (f'<div class="figs">{figure}</div>' if figure else ""))


def smoothing_markdown(summary: dict, base: Path, level: int) -> str:
    parts = [md_heading(level, "Randomized smoothing"), md_table(summary["head"], summary["rows"])]
    if summary["plot"].exists():
        parts.append(f"![certified accuracy vs radius]({link(summary['plot'], base)})")
    return "\n\n".join(parts)


@register
class Smoothing(Section):
    """Applies when at least one certify.json is readable (unreadable ones are skipped, as they always were)."""

    title, order = "Randomized smoothing", HEADLINE + 15

    def applies(self, run: Run) -> bool:
        return smoothing_summary(run.root) is not None

    def collect(self, run: Run) -> dict:
        return smoothing_summary(run.root)

    def html(self, view: dict, base: Path, level: int) -> str:
        return smoothing_html(view, base, level)

    def markdown(self, view: dict, base: Path, level: int) -> str:
        return smoothing_markdown(view, base, level)

    def headline(self, view: dict) -> tuple[str, Path] | None:
        return ("certified accuracy vs radius", view["plot"]) if view["plot"].exists() else None
