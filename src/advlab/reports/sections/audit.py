"""`advlab audit` (RUN/audit/audit.json): the security summary of a run, right after its headline numbers.

The seed's table (DESIGN.md) compactly -- each audit cell in its place with its headline value and verdict, its
name a link to its section of the full audit report -- the budget, whether the audit is complete (and which cells
are missing if not), and a link to RUN/audit/report.html. The full report, and the reading and checking of
audit.json, are advlab.reports.audit_report's. An audit.json this section cannot read is named with the reason
instead of failing the run's whole report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from advlab.core.errors import AdvlabError
from advlab.reports.audit_report import (
    AUDIT_CSS,
    AUDIT_RECORD,
    REPORT_HTML,
    REPORT_MD,
    completeness,
    read_audit,
    seed_table_html,
    seed_table_md,
)
from advlab.reports.markup import esc, html_heading, link, md_cell, md_heading
from advlab.reports.reading import Run
from advlab.reports.sections.base import HEADLINE, Section, register

AUDIT_FOLDER = "audit"


@dataclass
class AuditView:
    """The audit's folder and its record (None with `error` when audit.json cannot be shown)."""

    audit_dir: Path
    record: dict | None
    error: str = ""


def budget_line(record: dict) -> str:
    only = ", model only" if record.get("model_only") else ""
    return f"Budget {record.get('budget', '?')}{only}, seed {record.get('seed', '?')}. {completeness(record)}"


@register
class AuditSection(Section):
    """Applies to any run (classifier or GAN) that `advlab audit` has inspected: RUN/audit/audit.json exists."""

    title, order = "Security audit", HEADLINE + 1

    def applies(self, run: Run) -> bool:
        return (run.root / AUDIT_FOLDER / AUDIT_RECORD).is_file()

    def collect(self, run: Run) -> AuditView:
        audit_dir = run.root / AUDIT_FOLDER
        try:
            return AuditView(audit_dir, read_audit(audit_dir))
        except AdvlabError as error:
            return AuditView(audit_dir, None, str(error))

    def html(self, view: AuditView, base: Path, level: int) -> str:
        heading = html_heading(level, self.title)
        if view.record is None:
            return f"{heading}<p><strong>Cannot show the audit:</strong> {esc(view.error)}</p>"
        page = view.audit_dir / REPORT_HTML
        href = link(page, base)
        report = (f'<a href="{esc(href)}">Full audit report</a>' if page.is_file()
                  else f"(no {esc(REPORT_HTML)} yet)")
        # the table's own style, scoped by its classes (seed, entry, badge): the run's page has none of it
        return "\n".join([heading, f"<style>{AUDIT_CSS}</style>",
                          seed_table_html(view.record, view.audit_dir, base, href, compact=True),
                          f'<p class="options">{esc(budget_line(view.record))} {report}</p>'])

    def markdown(self, view: AuditView, base: Path, level: int) -> str:
        heading = md_heading(level, self.title)
        if view.record is None:
            return f"{heading}\n\nCannot show the audit: {md_cell(view.error)}"
        page = view.audit_dir / REPORT_MD
        href = link(page, base)
        report = f"[Full audit report]({href})" if page.is_file() else f"(no {REPORT_MD} yet)"
        return "\n\n".join([heading, seed_table_md(view.record, view.audit_dir, base, href, compact=True),
                            f"{md_cell(budget_line(view.record))} {report}"])
