"""`advlab robustness` (RUN/robustness.json): the worst-case robust accuracy per eps and its curves, the
budget beside AutoAttack's, a warning when a sanity check failed, and a link to the full robustness report
(advlab.reports.robustness_report writes that report and reads the summary shown here)."""

from __future__ import annotations

from pathlib import Path

from advlab.reports.markup import (
    esc,
    html_figures,
    html_heading,
    html_table,
    link,
    md_cell,
    md_heading,
    md_image,
    md_table,
)
from advlab.reports.reading import Run
from advlab.reports.robustness_report import RESULT_FILE, robustness_summary
from advlab.reports.sections.base import HEADLINE, Section, register


@register
class Robustness(Section):
    title, order = "Robustness", HEADLINE + 10

    def applies(self, run: Run) -> bool:
        return (run.root / RESULT_FILE).is_file()

    def collect(self, run: Run) -> dict:
        return robustness_summary(run.root)

    def html(self, view: dict, base: Path, level: int) -> str:
        warning = f'<p><strong>Warning: {esc(view["warning"])}.</strong></p>' if view["warning"] else ""
        figure = (html_figures([("robust accuracy vs eps", view["plot"])], base, "plots")
                  if view["plot"].is_file() else "")
        return (f"{html_heading(level, self.title)}{warning}<p>Clean accuracy {esc(view['clean'])}, "
                f"{esc(view['norm'])}; {esc(view['checks'])}. "
                f'<a href="{esc(link(view["html"], base))}">Full robustness report</a></p>'
                f'<p class="options">{esc(view["budget"])}.</p>'
                + figure + html_table(view["head"], view["rows"]))

    def markdown(self, view: dict, base: Path, level: int) -> str:
        warning = [f"**Warning: {md_cell(view['warning'])}.**"] if view["warning"] else []
        line = (f"Clean accuracy {view['clean']}, {md_cell(view['norm'])}; {view['checks']}. "
                f"[Full robustness report]({link(view['html'], base)})")
        figure = [md_image("robust accuracy vs eps", view["plot"], base)] if view["plot"].is_file() else []
        return "\n\n".join([md_heading(level, self.title), *warning, line, md_cell(view["budget"]) + ".", *figure,
                            md_table(view["head"], view["rows"])])

    def headline(self, view: dict) -> tuple[str, Path] | None:
        return ("robust accuracy vs eps", view["plot"]) if view["plot"].is_file() else None
