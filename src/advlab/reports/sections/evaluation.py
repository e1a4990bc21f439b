"""`advlab gan evaluate` (RUN/eval/eval.json): the figures beside the real-data yardstick, the birthday
support estimates and the evaluation's plots (advlab.reports.eval_report reads them)."""

from __future__ import annotations

from pathlib import Path

from advlab.reports.eval_report import BIRTHDAY_HEAD, EVAL_FILE, HEAD, EvalView, read_evaluation
from advlab.reports.markup import esc, html_figures, html_heading, html_table, md_cell, md_heading, md_image, md_table
from advlab.reports.reading import Run
from advlab.reports.sections.base import HEADLINE, Section, register


@register
class Evaluation(Section):
    title, order = "Evaluation", HEADLINE + 5

    def applies(self, run: Run) -> bool:
        return (run.root / EVAL_FILE).is_file()

    def collect(self, run: Run) -> EvalView:
        return read_evaluation(run.root)

    def html(self, view: EvalView, base: Path, level: int) -> str:
        parts = [html_heading(level, self.title), f'<p class="options">{esc(view.description)}</p>',
                 html_table(HEAD, view.rows)]
        if view.birthday_rows:
            parts.append(html_table(BIRTHDAY_HEAD, view.birthday_rows))
        parts.append(html_figures(view.figures, base, "plots"))
        return "\n".join(parts)

    def markdown(self, view: EvalView, base: Path, level: int) -> str:
        parts = [md_heading(level, self.title), md_cell(view.description), md_table(HEAD, view.rows)]
        if view.birthday_rows:
            parts.append(md_table(BIRTHDAY_HEAD, view.birthday_rows))
        parts += [md_image(c, p, base) for c, p in view.figures]
        return "\n\n".join(parts)
