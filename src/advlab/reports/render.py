"""Run reports: read a run directory, (re)write its plots, and render report.md/report.html.

A report leads with its answer. ``render`` only assembles: it reads the run (``reports.reading``), asks every
registered section (``advlab.reports.sections``) whether it applies, and puts the ones that do under the run's
heading in their order -- the pictures and headline figures first (a GAN's final samples, for 2-D data the
points over the discriminator; the summary; the evaluation; robust accuracy vs eps; randomized smoothing; the
attacks with their example grids), then the samples over time and the training curves, and the configuration
last, folded in a ``<details>`` element (Markdown carries the same raw element, which GitHub renders).

A page of several runs (``write_combined_report``, the demo's) opens with one picture per run (the first a
run's sections offer: final samples, robust accuracy, an attack's examples, ...), then a table of every run's
summary figures, then the options that differ between the runs (folded), then a section per run.

The HTML is one self-contained file (inline CSS, no scripts) whose images are relative links;
every inserted string is escaped (``reports.markup``). The Markdown carries the same content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advlab.core.errors import AdvlabError
from advlab.reports import sections as _sections  # noqa: F401 -- registers every section
from advlab.reports.markup import (
    CSS,  # noqa: F401 -- re-exported for older callers
    esc,
    html_details,
    html_heading,
    html_page,
    html_table,
    link,
    md_cell,
    md_details,
    md_heading,
    md_images,
    md_table,
)
from advlab.reports.reading import Run, read_metrics, read_run
from advlab.reports.sections.base import Section, sections_for
from advlab.reports.sections.configuration import Configuration
from advlab.reports.sections.smoothing import smoothing_markdown, smoothing_summary
from advlab.reports.sections.summary import Summary

# An older name, kept for scripts that print a table with it (reports.markup.md_table is the one to call).
_md_table = md_table


def _md_smoothing(root: Path, base: Path, level: int) -> str:
    """The Randomized smoothing section of a run as Markdown ("" without a certification)."""
    summary = smoothing_summary(Path(root))
    return "" if summary is None else smoothing_markdown(summary, base, level)


@dataclass
class RunReport:
    """A run and what each section that applies to it collected, in report order."""

    run: Run
    parts: list[tuple[Section, Any]]

    @property
    def name(self) -> str:
        return self.run.name

    def headline(self) -> tuple[str, Path] | None:
        """The picture that stands for the run: the first a section offers."""
        return next((found for section, view in self.parts if (found := section.headline(view)) is not None), None)


def collect(run_dir) -> RunReport:
    """Check and read a run directory, let each section that applies collect (and plot) its part."""
    run = read_run(run_dir)
    return RunReport(run, [(section, section.collect(run)) for section in sections_for(run)])


# ---------------------------------------------------------------- one run


def _html_run(report: RunReport, base: Path, level: int, anchor: str) -> str:
    parts = [f'<section id="{esc(anchor)}">{html_heading(level, report.name)}']
    parts += [section.html(view, base, level + 1) for section, view in report.parts]
    return "\n".join(parts + ["</section>"])


def _md_run(report: RunReport, base: Path, level: int) -> str:
    parts = [md_heading(level, report.name)]
    parts += [section.markdown(view, base, level + 1) for section, view in report.parts]
    return "\n\n".join(parts) + "\n"


def _anchors(reports: list[RunReport]) -> list[str]:
    """A unique HTML id per run, from its name."""
    anchors: list[str] = []
    for report in reports:
        slug = re.sub(r"[^A-Za-z0-9_-]+", "-", report.name).strip("-") or "run"
        anchors.append(slug if slug not in anchors else f"{slug}-{len(anchors) + 1}")
    return anchors


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def write_report(run_dir) -> tuple[Path, Path]:
    """(Re)write ``RUN/plots/*.png``, ``RUN/report.html`` and ``RUN/report.md``.

    Returns (html path, md path). Raises AdvlabError for a directory without config.yaml or
    metrics.jsonl, or with a corrupt one.
    """
    report = collect(run_dir)
    root = report.run.root
    page = html_page(report.name, _html_run(report, root, 1, _anchors([report])[0]))
    return _write(root / "report.html", page), _write(root / "report.md", _md_run(report, root, 1))


# ---------------------------------------------------------------- several runs on one page


def _glance(reports: list[RunReport]) -> list[tuple[int, str, Path]]:
    """(run index, caption, picture) of each run that offers a headline picture."""
    return [(i, caption, path) for i, report in enumerate(reports)
            if (found := report.headline()) is not None for caption, path in [found]]


def _html_glance(reports: list[RunReport], anchors: list[str], base: Path) -> str:
    cards = []
    for i, caption, path in _glance(reports):
        anchor, name = esc(anchors[i]), esc(reports[i].name)
        cards.append(f'<figure><a href="#{anchor}"><img src="{esc(link(path, base))}" alt="{name}: {esc(caption)}">'
                     f'</a><figcaption><a href="#{anchor}"><strong>{name}</strong></a>: {esc(caption)}</figcaption>'
                     "</figure>")
    return f'<div class="figs glance">{"".join(cards)}</div>' if cards else ""


def _md_glance(reports: list[RunReport], base: Path) -> str:
    items = [(f"{reports[i].name}: {caption}", path) for i, caption, path in _glance(reports)]
    return md_images(items, base) if items else ""


def _summary_table(reports: list[RunReport]) -> tuple[list[str], list[list[str]]]:
    """(head, rows): one row per summary figure, one column per run."""
    summaries = [dict(_rows_of(report, Summary)) for report in reports]
    metrics = list(dict.fromkeys(k for summary in summaries for k in summary))
    return ["metric", *(report.name for report in reports)], [[k, *(s.get(k, "") for s in summaries)]
                                                               for k in metrics]


def _rows_of(report: RunReport, kind: type[Section]) -> list[tuple[str, str]]:
    """The (key, value) rows a run's Summary or Configuration section collected."""
    return next((view for section, view in report.parts if isinstance(section, kind)), [])


def _options_table(reports: list[RunReport]) -> tuple[list[str], list[list[str]]]:
    """(head, rows) of a one-row-per-run table of the config options that differ. Runs of different kinds
    (GANs and classifiers) compare only the options they share."""
    configs = [dict(_rows_of(report, Configuration)) for report in reports]
    options = [k for k in dict.fromkeys(k for c in configs for k in c)
               if len({c.get(k) for c in configs}) > 1]
    if len({report.run.kind for report in reports}) > 1:
        options = [k for k in options if all(k in c for c in configs)]
    rows = [[report.name, *(c.get(k, "") for k in options)] for report, c in zip(reports, configs)]
    return ["run", *options], rows


def _fold_line(head: list[str]) -> str:
    count = len(head) - 1
    return f"Options that differ between the runs ({count}; each run's full configuration ends its section)"


def write_combined_report(out_dir, run_dirs: list, title: str = "advlab demo") -> tuple[Path, Path]:
    """One ``report.html``/``report.md`` in ``out_dir`` with a section per run.

    Each run's plots are written inside its own run directory; links are relative to
    ``out_dir`` (created if missing). Returns (html path, md path).
    """
    run_dirs = list(run_dirs)
    if not run_dirs:
        raise AdvlabError("no run directories given for the combined report")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    reports = [collect(run_dir) for run_dir in run_dirs]
    anchors = _anchors(reports)
    summary_head, summary_rows = _summary_table(reports)
    options_head, options_rows = _options_table(reports)
    summary_html = html_table(summary_head, summary_rows, head_links=[None, *anchors])  # run names link down
    page = html_page(title, "\n".join([
        f"<h1>{esc(title)}</h1>", _html_glance(reports, anchors, out), summary_html,
        html_details(_fold_line(options_head), html_table(options_head, options_rows, anchors)),
        *(_html_run(r, out, 2, a) for r, a in zip(reports, anchors))]))
    md = "\n\n".join(part for part in [
        f"# {md_cell(title)}", _md_glance(reports, out), md_table(summary_head, summary_rows),
        md_details(_fold_line(options_head), md_table(options_head, options_rows)),
        *(_md_run(r, out, 2) for r in reports)] if part)
    return _write(out / "report.html", page), _write(out / "report.md", md)


__all__ = ["collect", "read_metrics", "smoothing_summary", "write_combined_report", "write_report"]
