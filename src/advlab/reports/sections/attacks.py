"""`advlab attack` runs on a classifier (RUN/attacks/*/results.json): per attack run, its options, its
robustness table and its example grids (advlab.reports.attack_report reads them)."""

from __future__ import annotations

from pathlib import Path

from advlab.reports.attack_report import RESULTS_FILE, AttackView, read_attacks
from advlab.reports.markup import esc, html_grid, html_heading, html_table, md_cell, md_heading, md_image, md_table
from advlab.reports.reading import Run
from advlab.reports.sections.base import RESULTS, Section, register


@register
class Attacks(Section):
    title, order = "Attacks", RESULTS

    def applies(self, run: Run) -> bool:
        folder = run.root / "attacks"
        return folder.is_dir() and any((path / RESULTS_FILE).is_file() for path in folder.iterdir())

    def collect(self, run: Run) -> list[AttackView]:
        return read_attacks(run.root)

    def html(self, view: list[AttackView], base: Path, level: int) -> str:
        parts = [html_heading(level, self.title)]
        for attack in view:
            grids = "".join(html_grid(caption, path, base) for caption, path in attack.grids)
            parts += [html_heading(level + 1, attack.name), f'<p class="options">{esc(attack.description)}</p>',
                      html_table(attack.head, attack.cells),
                      f'<div class="figs grids">{grids}</div>' if grids else "<p><em>(no grid)</em></p>"]
        return "\n".join(parts)

    def markdown(self, view: list[AttackView], base: Path, level: int) -> str:
        parts = [md_heading(level, self.title)]
        for attack in view:
            parts += [md_heading(level + 1, attack.name), md_cell(attack.description),
                      md_table(attack.head, attack.cells)]
            parts += [md_image(c, p, base) for c, p in attack.grids]
        return "\n\n".join(parts)

    def headline(self, view: list[AttackView]) -> tuple[str, Path] | None:
        return next((attack.grids[0] for attack in view if attack.grids), None)
