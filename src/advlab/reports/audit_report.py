"""The report of `advlab audit RUN` (issue 22): RUN/audit/report.html and report.md from RUN/audit/audit.json.

The first screen is the seed's table (DESIGN.md): who the attacker is -- they touch the test data or the training
data -- against what they break -- integrity, availability, privacy / confidentiality. Each table cell lists the
audit cells placed there (by their ``row`` and ``column``): the name (a link to its section below), the headline
figure and value, the verdict as a coloured badge (pass green, fail red, not measured grey with its reason), the
threshold that gave it, and a link to the evidence. A table cell with nothing of the taxonomy in it shows "—".
Under the table: the budget and its settings, model-only, the seed, the total and per-cell wall time, and whether
the audit is complete (an interrupted audit names the cells it has not written). Then one section per cell: its
figures, the details as a small table (nested mappings flattened to dotted keys), the pictures its details list
(``details["pictures"] = [[caption, path relative to RUN/audit/], ...]``) and the evidence link.

The run's own report shows the same table compactly (advlab.reports.sections.audit). Every inserted string is
escaped (reports/markup.py); links are relative, so RUN/audit/ can be moved or served as it is. A link or picture
that would leave RUN/audit/ or names a missing file is shown as text, marked "missing", never followed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.errors import AdvlabError
from advlab.reports.markup import (
    SAMPLE_WIDTH,
    esc,
    html_figure,
    html_grid,
    html_heading,
    html_page,
    html_table,
    image_width,
    link,
    md_cell,
    md_heading,
    md_image,
    md_table,
)
from advlab.reports.reading import flat_rows
from advlab.reports.robustness_report import percent

AUDIT_RECORD = "audit.json"  # advlab.pipelines.security.audit writes it (reports sit below the pipelines)
REPORT_HTML, REPORT_MD = "report.html", "report.md"
# the words of audit.json (advlab.pipelines.security.audit_cells, a layer above, takes them from here)
PASS, FAIL, NOT_MEASURED = "pass", "fail", "not measured"
VERDICTS = (PASS, FAIL, NOT_MEASURED)
MISSING = "missing"  # a cell the audit has not written (yet): not a verdict, a state of the page
ROWS = ("test data", "training data")
COLUMNS = {"integrity": "integrity", "availability": "availability", "privacy": "privacy / confidentiality"}
PLOT_WIDTH = 600  # pixels: a picture at least this wide is a plot (shown at 2/3), a narrower one an image grid
EMPTY = "—"  # a table cell with nothing of the taxonomy in it
# Where each known cell stands, to place a cell an interrupted audit has not written yet.
PLACES = {"evasion": ("test data", "integrity"), "backdoor": ("training data", "integrity"),
          "availability": ("training data", "availability"), "membership": ("test data", "privacy"),
          "extraction": ("test data", "privacy"), "inversion": ("test data", "privacy"),
          "memorisation": ("test data", "privacy")}
EXPECTED = {"classifier": ("evasion", "backdoor", "availability", "membership", "extraction", "inversion"),
            "gan": ("membership", "memorisation")}
# A figure naming one of these is a share (printed as a percentage when the value lies in [-1, 1]).
SHARE_WORDS = re.compile(r"\b(accuracy|accuracies|auc|tpr|fpr|rate|share|fraction|fidelity|success|error)\b", re.I)
BADGE_CLASS = {PASS: "pass", FAIL: "fail", NOT_MEASURED: "unmeasured", MISSING: "missing"}
AUDIT_CSS = """
.seed{border-collapse:collapse;width:100%;table-layout:fixed;font-size:.95em}
.seed th,.seed td{border:1px solid #c8c8c8;padding:.5em .6em;vertical-align:top;font-family:inherit}
.seed th{background:#f2f2f2}.seed th.who{width:9em}.seed td.none{color:#999;text-align:center;vertical-align:middle}
.entry{border-left:5px solid #bbb;padding:.25em .5em;margin:.3em 0;background:#fafafa}
.entry.pass{border-color:#2e7d32}.entry.fail{border-color:#c62828}.entry.unmeasured,.entry.missing{border-color:#9e9e9e}
.entry .name{font-weight:700;font-size:1.05em}.entry .value{font-weight:700;font-size:1.15em}
.entry .small{font-size:.86em;color:#555}
.badge{display:inline-block;border-radius:.8em;padding:0 .6em;font-size:.85em;font-weight:700;color:#fff;
 margin-left:.3em;white-space:nowrap}
.badge.pass{background:#2e7d32}.badge.fail{background:#c62828}.badge.unmeasured{background:#757575}
.badge.missing{background:#fff;color:#757575;border:1px dashed #757575}
.banner{padding:.5em 1em;margin:1em 0;border:2px solid}.banner.done{border-color:#2e7d32;background:#e8f5e9}
.banner.partial{border-color:#e65100;background:#fff3e0;font-weight:600}
.entry a{overflow-wrap:anywhere}.keys td{font-family:inherit}.keys th{text-align:left}.top{font-size:.85em}
"""


# ---------------------------------------------------------------------- checking a record


def _fail(message: str):
    raise AdvlabError(f"{AUDIT_RECORD}: {message}")


def check_cell(name: str, cell) -> None:
    """Raise AdvlabError (one line) unless `cell` is a cell record the report can show."""
    if not isinstance(cell, dict):
        _fail(f"cell {name!r} is not a JSON object but {type(cell).__name__}")
    if cell.get("verdict") not in VERDICTS:
        _fail(f"cell {name!r} has verdict {cell.get('verdict')!r}; expected one of {', '.join(VERDICTS)}")
    if cell.get("row") not in ROWS:
        _fail(f"cell {name!r} has row {cell.get('row')!r}; expected one of {', '.join(ROWS)}")
    if cell.get("column") not in COLUMNS:
        _fail(f"cell {name!r} has column {cell.get('column')!r}; expected one of {', '.join(COLUMNS)}")
    value = cell.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        _fail(f"cell {name!r} has value {value!r}; expected a number or null")
    if not isinstance(cell.get("details", {}), dict):
        _fail(f"cell {name!r} has details that are not a JSON object")


def check_audit(record) -> dict:
    """`record` itself when it is an audit.json the report can show; else AdvlabError with one line."""
    if not isinstance(record, dict):
        _fail(f"expected a JSON object, got {type(record).__name__}")
    cells = record.get("cells", {})
    if not isinstance(cells, dict):
        _fail(f"'cells' must map cell names to records, got {type(cells).__name__}")
    for name, cell in cells.items():
        check_cell(name, cell)
    if not isinstance(record.get("order", []), list):
        _fail("'order' must be a list of cell names")
    if not isinstance(record.get("settings", {}), dict):
        _fail("'settings' must be a JSON object")
    return record


def read_audit(audit_dir: Path) -> dict:
    """RUN/audit/audit.json, checked; AdvlabError (one line) when it is missing, not JSON or not an audit."""
    path = Path(audit_dir) / AUDIT_RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise AdvlabError(f"{path}: cannot read it ({error.strerror or error})") from None
    except ValueError as error:
        raise AdvlabError(f"{path}: not valid JSON ({' '.join(str(error).split())})") from None
    try:
        return check_audit(record)
    except AdvlabError as error:
        raise AdvlabError(f"{path.parent}/{error}") from None


# ---------------------------------------------------------------------- what the pages say


def cell_names(record: dict) -> list[str]:
    """The cells in table order: `order` first, then any cell it does not name."""
    return list(dict.fromkeys([*(str(name) for name in record.get("order") or []), *record.get("cells", {})]))


def missing_cells(record: dict) -> list[str]:
    """The cells the audit meant to write and has not: those of `order` (or, without one, the kind's cells)."""
    planned = record.get("order") or EXPECTED.get(record.get("kind"), ())
    return [str(name) for name in planned if name not in record.get("cells", {})]


def slug(name: str) -> str:
    """A cell's anchor: what GitHub makes of its heading, and the HTML page's id for it."""
    return re.sub(r"[^a-z0-9_-]+", "-", str(name).lower()).strip("-") or "cell"


def is_share(figure: str, value: float) -> bool:
    return bool(SHARE_WORDS.search(figure or "")) and -1.0 <= value <= 1.0


def value_text(figure: str, value) -> str:
    """The value as its figure reads: a percentage for shares, accuracies and AUCs, else a short number."""
    if value is None:
        return EMPTY
    value = float(value)
    if value != value:
        return "NaN"
    if is_share(figure, value):
        return f"{100 * value:.2g}%" if 0 < abs(value) < 0.01 else percent(value)
    if value.is_integer() and abs(value) < 1e9:
        return f"{int(value):,}"
    return f"{value:.3g}"


def figure_of(cell: dict) -> str:
    return str(cell.get("figure") or "")


def cell_value(cell: dict) -> str:
    """The cell's value as its figure reads."""
    return value_text(figure_of(cell), cell.get("value"))


def seconds_text(seconds) -> str:
    """Wall time in words: 4.2 s, 3 min 05 s, 1 h 02 min."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return EMPTY
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def inside(audit_dir: Path, relative_path) -> Path | None:
    """RUN/audit/`relative_path` when it names an existing file inside RUN/audit/, else None."""
    if not isinstance(relative_path, str) or not relative_path:
        return None
    root = Path(audit_dir).resolve()
    path = (root / relative_path).resolve()
    return path if path.is_file() and path.is_relative_to(root) else None


def pictures(audit_dir: Path, cell: dict) -> list[tuple[str, Path | None, str]]:
    """(caption, file or None when missing, the path as written) of each picture the cell's details list."""
    found = []
    for item in cell.get("details", {}).get("pictures") or []:
        if isinstance(item, list | tuple) and len(item) == 2:
            found.append((str(item[0]), inside(audit_dir, item[1]), str(item[1])))
    return found


def detail_rows(cell: dict) -> list[tuple[str, str]]:
    """The details as (dotted key, value) rows, the pictures left to the figures."""
    return flat_rows({key: value for key, value in cell.get("details", {}).items() if key != "pictures"})


def headline(record: dict, audit_dir: Path) -> str:
    """The line under the title: what was audited, at which budget, complete or not."""
    done = "complete" if record.get("complete") else "INCOMPLETE"
    only = ", model only" if record.get("model_only") else ""
    return (f"{record.get('kind', '?')} run {record.get('run') or Path(audit_dir).resolve().parent}; budget "
            f"{record.get('budget', '?')}{only}, seed {record.get('seed', '?')}; {done}")


def completeness(record: dict) -> str:
    missing = missing_cells(record)
    if record.get("complete") and not missing:
        return f"The audit is complete: {len(record.get('cells', {}))} cells in {seconds_text(record.get('seconds'))}."
    gone = f"missing cells: {', '.join(missing)}" if missing else "every planned cell is written"
    return (f"The audit is not complete (still running, or interrupted): {gone}. The cells shown were finished and "
            f"stand as they are; run advlab audit again to finish it.")


# ---------------------------------------------------------------------- the seed's table


def _placed(record: dict) -> dict[tuple[str, str], list[tuple[str, dict | None]]]:
    """(row, column) -> [(name, record, or None for a missing cell with a known place)], in table order."""
    cells = record.get("cells", {})
    places: dict[tuple[str, str], list[tuple[str, dict | None]]] = {}
    for name in cell_names(record):
        if name in cells:
            places.setdefault((cells[name]["row"], cells[name]["column"]), []).append((name, cells[name]))
        elif name in PLACES:
            places.setdefault(PLACES[name], []).append((name, None))
    return places


def badge_html(verdict: str) -> str:
    return f'<span class="badge {BADGE_CLASS[verdict]}">{esc(verdict)}</span>'


def entry_html(name: str, cell: dict | None, audit_dir: Path, base: Path, section_href: str, compact: bool) -> str:
    """One audit cell inside a table cell; `section_href` is its section's link."""
    if cell is None:  # no section to link to
        return (f'<div class="entry missing"><span class="name">{esc(name)}</span>{badge_html(MISSING)}'
                '<div class="small">not written yet (audit incomplete)</div></div>')
    verdict = cell["verdict"]
    title = f'<a class="name" href="{esc(section_href)}">{esc(name)}</a>{badge_html(verdict)}'
    value = f'<span class="value">{esc(cell_value(cell))}</span>'
    lines = [title, f"<div>{esc(figure_of(cell))}: {value}</div>"]
    if not compact:
        lines.append(f'<div class="small">threshold: {esc(cell.get("threshold", EMPTY))}</div>')
    if cell.get("reason"):
        lines.append(f'<div class="small">not measured: {esc(cell["reason"])}</div>')
    if not compact:
        lines.append(f'<div class="small">{evidence_html(cell, audit_dir, base)}</div>')
    return f'<div class="entry {BADGE_CLASS[verdict]}">{"".join(lines)}</div>'


def evidence_html(cell: dict, audit_dir: Path, base: Path) -> str:
    evidence = cell.get("evidence")
    if not evidence:
        return "evidence: none"
    path = inside(audit_dir, evidence)
    if path is None:
        return f"evidence: {esc(evidence)} (missing)"
    return f'evidence: <a href="{esc(link(path, base))}">{esc(evidence)}</a>'


def seed_table_html(record: dict, audit_dir: Path, base: Path, report_href: str = "", compact: bool = False) -> str:
    """The seed's table with every audit cell in its place; section links go to `report_href` + "#name"."""
    places = _placed(record)
    head = '<tr><th class="who">attacker can touch</th>' + "".join(f"<th>{esc(t)}</th>" for t in COLUMNS.values())
    rows = [head + "</tr>"]
    for row in ROWS:
        tds = []
        for column in COLUMNS:
            entries = [entry_html(name, cell, audit_dir, base, f"{report_href}#{slug(name)}", compact)
                       for name, cell in places.get((row, column), [])]
            tds.append(f"<td>{''.join(entries)}</td>" if entries else f'<td class="none">{EMPTY}</td>')
        rows.append(f'<tr><th class="who">{esc(row)}</th>{"".join(tds)}</tr>')
    return '<div class="wide"><table class="seed">' + "".join(rows) + "</table></div>"


def entry_md(name: str, cell: dict | None, audit_dir: Path, base: Path, section_href: str, compact: bool) -> str:
    """One audit cell in a Markdown table cell (one line: Markdown cells hold no line breaks)."""
    if cell is None:  # no section to link to
        return f"{md_cell(name)} **{MISSING.upper()}** (not written yet)"
    title = f"[{md_cell(name)}]({section_href}) **{cell['verdict'].upper()}**"
    parts = [f"{title} — {md_cell(figure_of(cell))}: {md_cell(cell_value(cell))}"]
    if not compact:
        parts.append(f"threshold: {md_cell(cell.get('threshold', EMPTY))}")
    if cell.get("reason"):
        parts.append(f"not measured: {md_cell(cell['reason'])}")
    if not compact:
        parts.append(evidence_md(cell, audit_dir, base))
    return "; ".join(parts)


def evidence_md(cell: dict, audit_dir: Path, base: Path) -> str:
    evidence = cell.get("evidence")
    if not evidence:
        return "evidence: none"
    path = inside(audit_dir, evidence)
    return f"[evidence]({link(path, base)})" if path else f"evidence: {md_cell(evidence)} (missing)"


def seed_table_md(record: dict, audit_dir: Path, base: Path, report_href: str = "", compact: bool = False) -> str:
    places = _placed(record)
    lines = ["| attacker can touch | " + " | ".join(COLUMNS.values()) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for row in ROWS:
        tds = [" <br> ".join(entry_md(name, cell, audit_dir, base, f"{report_href}#{slug(name)}", compact)
                             for name, cell in places.get((row, column), [])) or EMPTY for column in COLUMNS]
        lines.append(f"| {row} | " + " | ".join(tds) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------- under the table


def run_rows(record: dict) -> list[tuple[str, str]]:
    """What was audited and how: the rows of the table under the seed's table."""
    return [("run", str(record.get("run", EMPTY))), ("kind", str(record.get("kind", EMPTY))),
            ("budget", str(record.get("budget", EMPTY))), ("model only", "yes" if record.get("model_only") else "no"),
            ("seed", str(record.get("seed", EMPTY))), ("started", str(record.get("started", EMPTY))),
            ("total wall time", seconds_text(record.get("seconds"))),
            ("complete", "yes" if record.get("complete") else "no")]


def time_rows(record: dict) -> list[list[str]]:
    """Per cell: where it stands, its verdict and its wall time (a missing cell says so)."""
    cells = record.get("cells", {})
    rows = []
    for name in cell_names(record):
        cell = cells.get(name)
        if cell is None:
            rows.append([name, EMPTY, MISSING, EMPTY])
        else:
            rows.append([name, f"{cell['row']} × {COLUMNS[cell['column']]}", cell["verdict"],
                         seconds_text(cell.get("seconds"))])
    return rows


TIME_HEAD = ("cell", "attacker can touch × breaks", "verdict", "wall time")
RUN_HEAD = ("audit", "")  # the Markdown table's head (the HTML heads each row with its key)
SETTINGS_HEAD = ("setting", "value")


def cell_rows(cell: dict) -> list[tuple[str, str]]:
    """The cell's own figures, the first rows of its section."""
    rows = [("figure", figure_of(cell) or EMPTY), ("value", cell_value(cell)),
            ("verdict", cell["verdict"]), ("threshold", str(cell.get("threshold", EMPTY)))]
    if cell.get("reason"):
        rows.append(("reason", str(cell["reason"])))
    return rows + [("attacker can touch × breaks", f"{cell['row']} × {COLUMNS[cell['column']]}"),
                   ("wall time", seconds_text(cell.get("seconds")))]


# ---------------------------------------------------------------------- the HTML page


def key_table_html(rows: list[tuple[str, str]]) -> str:
    """A two-column table whose keys head their rows (a verdict shows as its badge)."""
    cells = "".join(f"<tr><th>{esc(key)}</th><td>{badge_html(value) if key == 'verdict' else esc(value)}</td></tr>"
                    for key, value in rows)
    return f'<div class="wide"><table class="keys">{cells}</table></div>'


def picture_html(caption: str, path: Path, base: Path) -> str:
    """A plot at 2/3 of its pixel width, an image grid at its own size, a small grid upscaled (pixelated)."""
    width = image_width(path)
    if width >= PLOT_WIDTH:
        return f'<div class="plots">{html_figure(caption, path, base)}</div>'
    if width < SAMPLE_WIDTH:
        return f'<div class="samples">{html_figure(caption, path, base)}</div>'
    return f'<div class="grids">{html_grid(caption, path, base)}</div>'


def cell_section_html(name: str, cell: dict, audit_dir: Path) -> str:
    parts = [f'<section id="{esc(slug(name))}">{html_heading(2, name)}', key_table_html(cell_rows(cell)),
             f"<p>{evidence_html(cell, audit_dir, audit_dir)}</p>"]
    details = detail_rows(cell)
    if details:
        parts += [html_heading(3, "Details"), html_table(("detail", "value"), details)]
    shown = pictures(audit_dir, cell)
    if shown:
        figures = "".join(picture_html(caption, path, audit_dir) if path else
                          f"<p>{esc(caption)}: {esc(written)} (missing)</p>" for caption, path, written in shown)
        parts.append(f'<div class="figs">{figures}</div>')
    parts.append('<p class="top"><a href="#table">back to the table</a></p></section>')
    return "\n".join(parts)


def audit_html(record: dict, audit_dir: Path) -> str:
    cells = record.get("cells", {})
    banner = "done" if record.get("complete") and not missing_cells(record) else "partial"
    body = [f'<h1 id="table">Security audit: {esc(Path(str(record.get("run") or audit_dir.parent)).name)}</h1>',
            f'<p class="options">{esc(headline(record, audit_dir))}</p>',
            seed_table_html(record, audit_dir, audit_dir),
            f'<div class="banner {banner}">{esc(completeness(record))}</div>',
            html_heading(2, "The audit"), key_table_html(run_rows(record)),
            html_heading(3, f"Budget {record.get('budget', '?')}: its settings"),
            html_table(SETTINGS_HEAD, flat_rows(record.get("settings", {}))),
            html_heading(3, "Wall time per cell"), html_table(TIME_HEAD, time_rows(record), links=[
                slug(name) if name in cells else "table" for name in cell_names(record)])]
    body += [cell_section_html(name, cells[name], audit_dir) for name in cell_names(record) if name in cells]
    return html_page(f"Security audit: {Path(str(record.get('run') or audit_dir.parent)).name}", "\n".join(body),
                     AUDIT_CSS)


# ---------------------------------------------------------------------- the Markdown page


def cell_section_md(name: str, cell: dict, audit_dir: Path) -> str:
    parts = [md_heading(2, name), md_table(("cell", name), cell_rows(cell)), evidence_md(cell, audit_dir, audit_dir)]
    details = detail_rows(cell)
    if details:
        parts += [md_heading(3, "Details"), md_table(("detail", "value"), details)]
    for caption, path, written in pictures(audit_dir, cell):
        missing = f"{md_cell(caption)}: {md_cell(written)} (missing)"
        parts.append(md_image(caption, path, audit_dir) if path else missing)
    return "\n\n".join(parts)


def audit_markdown(record: dict, audit_dir: Path) -> str:
    cells = record.get("cells", {})
    parts = [f"# Security audit: {md_cell(Path(str(record.get('run') or audit_dir.parent)).name)}",
             md_cell(headline(record, audit_dir)), seed_table_md(record, audit_dir, audit_dir),
             f"**{md_cell(completeness(record))}**", md_heading(2, "The audit"), md_table(RUN_HEAD, run_rows(record)),
             md_heading(3, f"Budget {record.get('budget', '?')}: its settings"),
             md_table(SETTINGS_HEAD, flat_rows(record.get("settings", {}))),
             md_heading(3, "Wall time per cell"), md_table(TIME_HEAD, time_rows(record))]
    parts += [cell_section_md(name, cells[name], audit_dir) for name in cell_names(record) if name in cells]
    return "\n\n".join(parts) + "\n"


def write_audit_report(audit_dir: Path, record: dict) -> dict[str, Path]:
    """Write RUN/audit/report.html and RUN/audit/report.md (each atomically) from an audit.json record.

    Returns {"html": path, "markdown": path}. Raises AdvlabError (one line) for a record that is not an audit:
    not a JSON object, a cell with an unknown verdict, row or column, a value that is not a number.
    """
    audit_dir = Path(audit_dir)
    record = check_audit(record)
    audit_dir.mkdir(parents=True, exist_ok=True)
    page, md = audit_dir / REPORT_HTML, audit_dir / REPORT_MD
    atomic_write_bytes(page, audit_html(record, audit_dir).encode("utf-8"))
    atomic_write_bytes(md, audit_markdown(record, audit_dir).encode("utf-8"))
    return {"html": page, "markdown": md}


__all__ = ["AUDIT_RECORD", "REPORT_HTML", "REPORT_MD", "check_audit", "missing_cells", "read_audit",
           "seed_table_html", "seed_table_md", "value_text", "write_audit_report"]
