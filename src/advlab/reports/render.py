"""Run reports: read a run directory, (re)write its plots, and render report.md/report.html.

A run directory (DESIGN.md) holds ``config.yaml``, ``metrics.jsonl`` (``train`` and ``eval``
records), ``samples/step-NNNNNN.png`` (+ optional ``final.png``) and optionally
``summary.json``. A report shows, per run: the configuration, a summary (summary.json, else
the last train record plus the last eval record's other keys), the training plots (written to
``RUN/plots/``), up to eight evenly spaced sample pictures (always the last) and final.png.

A classifier run (advlab classifier train; its config has ``epochs`` and ``test_fraction``)
shows its loss and accuracy per epoch instead of the GAN plots, and no samples. Any run with
attack runs under ``RUN/attacks/*/results.json`` (advlab attack) gets an "Attacks" section:
each attack's robustness table and example grids (reports/attack_report.py). A run evaluated by
``advlab robustness`` (RUN/robustness.json) gets a short "Robustness" section linking to its report, and one
certified by ``advlab defend smooth`` (RUN/smoothing/*/certify.json) a "Randomized smoothing" section.

The HTML is one self-contained file (inline CSS, no scripts) whose images are relative links;
every inserted string is escaped. The Markdown carries the same content.
"""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import yaml
from PIL import Image

from advlab.core.errors import AdvlabError
from advlab.reports.attack_report import AttackView, is_classifier_config, plot_classifier_curves, read_attacks
from advlab.reports.eval_plots import plot_convergence_vs_quality
from advlab.reports.eval_report import BIRTHDAY_HEAD, HEAD, EvalView, read_evaluation
from advlab.reports.plots import (
    plot_discriminator_outputs,
    plot_eval,
    plot_grad_norms,
    plot_losses,
)

SAMPLE_NAME = re.compile(r"^step-(\d+)\.png$")
MAX_SAMPLES = 8
SAMPLE_WIDTH = 260  # CSS pixels; smaller pictures (8x8 digit grids) are upscaled pixelated
CONFIG_HEAD, SUMMARY_HEAD = ("option", "value"), ("metric", "value")
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1150px;margin:2em auto;
 padding:0 1em;color:#222;line-height:1.4}
h1{margin-bottom:.2em}section{border-top:2px solid #ddd;margin-top:2em}
table{border-collapse:collapse;margin:.4em 0 1.2em;font-size:.92em}
th,td{border:1px solid #d0d0d0;padding:.2em .6em;text-align:left;vertical-align:top}
th{background:#f2f2f2}td{font-family:ui-monospace,Menlo,Consolas,monospace}
.figs{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-end}figure{margin:0}
figcaption{font-size:.88em;color:#555;text-align:center}
.plots img{max-width:100%;height:auto}
.wide{overflow-x:auto}img.px{image-rendering:pixelated}
.grids img{max-width:100%;height:auto}.options{font-size:.88em;color:#444}
""" + f".samples img{{width:{SAMPLE_WIDTH}px;border:1px solid #ddd}}\n"


@dataclass
class RunView:
    """What a report shows of one run; strings are raw (escaped when rendered)."""

    root: Path
    name: str
    config: list[tuple[str, str]]
    summary: list[tuple[str, str]]
    plots: list[tuple[str, Path]]
    samples: list[tuple[str, Path]]
    final: Path | None
    kind: str = "gan"  # or "classifier"
    attacks: list[AttackView] = field(default_factory=list)
    evaluation: EvalView | None = None


# ---------------------------------------------------------------- reading a run directory


def _parse_record(line: str) -> dict | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def read_metrics(run_dir) -> list[dict]:
    """Records of ``run_dir/metrics.jsonl`` in file order; blank lines are skipped.

    A corrupt line raises AdvlabError naming its line number, except a corrupt last line
    (a run killed mid-write), which is dropped silently.
    """
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise AdvlabError(f"{run_dir}: no metrics.jsonl here; is this a run directory?")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    records = []
    for n, line in numbered:
        record = _parse_record(line)
        if record is None and n == numbered[-1][0]:
            break
        if record is None:
            raise AdvlabError(f"{path}: line {n} is not a JSON object: {line[:60]!r}")
        records.append(record)
    return records


def _run_dir(run_dir) -> Path:
    path = Path(run_dir).resolve()
    if not path.is_dir():
        raise AdvlabError(f"{run_dir}: no such run directory")
    return path


def _read_config(run_dir: Path) -> dict:
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise AdvlabError(f"{run_dir}: no config.yaml here; is this a run directory?")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace"))
    except yaml.YAMLError as err:
        raise AdvlabError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
    if not isinstance(config, dict | None):
        raise AdvlabError(f"{path}: expected a mapping of options, got {type(config).__name__}")
    return config or {}


def _last(records: list[dict], kind: str) -> dict:
    return next((r for r in reversed(records) if r.get("kind", "train") == kind), {})


def _read_summary(run_dir: Path, records: list[dict]) -> dict:
    """summary.json if present, else the last train record plus the last eval's other keys."""
    path = run_dir / "summary.json"
    if not path.is_file():
        train, last_eval = _last(records, "train"), _last(records, "eval")
        merged = {**train, **{k: v for k, v in last_eval.items() if k not in train}}
        return {k: v for k, v in merged.items() if k != "kind"}
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AdvlabError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(summary, dict):
        raise AdvlabError(f"{path}: expected a JSON object, got {type(summary).__name__}")
    return summary


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=str)
    return "null" if value is None else str(value)


def _rows(mapping: dict, prefix: str = "") -> list[tuple[str, str]]:
    """(key, formatted value) rows; nested mappings flatten to dotted keys."""
    rows = []
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            rows += _rows(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", _format(value)))
    return rows


def _write_plots(run_dir: Path, records: list[dict]) -> list[tuple[str, Path]]:
    out = run_dir / "plots"
    plots = [
        ("Losses", plot_losses(records, out / "losses.png")),
        ("Discriminator outputs", plot_discriminator_outputs(records, out / "d_outputs.png")),
        ("Gradient norms", plot_grad_norms(records, out / "grad_norms.png")),
    ]
    # optional plots: (caption, plotter, file, position) -- losses against quality right after the losses
    optional = [("Losses against sample quality", plot_convergence_vs_quality, "convergence_vs_quality.png", 1),
                ("Evaluation", plot_eval, "eval.png", None)]
    for caption, plot, name, position in optional:
        drawn = plot(records, out / name)
        if drawn is None:
            (out / name).unlink(missing_ok=True)
        else:
            plots.insert(len(plots) if position is None else position, (caption, drawn))
    return plots


def _spread(n: int, k: int) -> list[int]:
    """At most k indices into range(n), evenly spaced, always the first and the last."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def _samples(run_dir: Path) -> list[tuple[str, Path]]:
    found = sorted(
        (int(match.group(1)), path)
        for path in (run_dir / "samples").glob("step-*.png")
        if (match := SAMPLE_NAME.match(path.name))
    )
    return [(f"step {found[i][0]}", found[i][1]) for i in _spread(len(found), MAX_SAMPLES)]


def _collect(run_dir) -> RunView:
    """Check and read a run directory, write its plots, and return what to render."""
    root = _run_dir(run_dir)
    config, records = _read_config(root), read_metrics(root)
    summary = _read_summary(root, records)
    if is_classifier_config(config):
        return RunView(root, root.name, _rows(config), _rows(summary),
                       plot_classifier_curves(records, root / "plots"), [], None, "classifier",
                       read_attacks(root))
    final = root / "samples" / "final.png"
    return RunView(root, root.name, _rows(config), _rows(summary), _write_plots(root, records),
                   _samples(root), final if final.is_file() else None, attacks=read_attacks(root),
                   evaluation=read_evaluation(root))


# ---------------------------------------------------------------- rendering


def _link(path: Path, base: Path) -> str:
    """Relative, URL-quoted POSIX link from ``base`` to ``path``."""
    return quote(Path(os.path.relpath(path, base)).as_posix())


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _html_table(head, rows, links: list[str] | None = None) -> str:
    """A table; with ``links``, row i's first cell links to ``#links[i]``."""
    if not rows:
        return "<p><em>(none)</em></p>"
    cells = [[_esc(x) for x in row] for row in rows]
    for row, anchor in zip(cells, links or []):
        row[0] = f'<a href="#{_esc(anchor)}">{row[0]}</a>'
    lines = ["<tr>" + "".join(f"<th>{_esc(x)}</th>" for x in head) + "</tr>"]
    lines += ["<tr>" + "".join(f"<td>{x}</td>" for x in row) + "</tr>" for row in cells]
    return '<div class="wide"><table>' + "".join(lines) + "</table></div>"


def _image_width(path: Path) -> int:
    """The picture's width in pixels (0 if Pillow cannot read it)."""
    try:
        with Image.open(path) as image:
            return image.width
    except OSError:
        return 0


def _html_figure(caption: str, path: Path, base: Path) -> str:
    """A linked image at 2/3 of its pixel width (plots); CSS sizes the samples, upscaling
    small ones (8x8 digit grids) pixelated."""
    src, width = _esc(_link(path, base)), _image_width(path)
    attrs = (f' width="{width * 2 // 3}"' if width else "") + (
        ' class="px"' if width < SAMPLE_WIDTH else "")
    return (f'<figure><a href="{src}"><img src="{src}"{attrs} alt="{_esc(caption)}"></a>'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _html_figures(items, base: Path, kind: str) -> str:
    if not items:
        return "<p><em>(none yet)</em></p>"
    figures = "".join(_html_figure(caption, path, base) for caption, path in items)
    return f'<div class="figs {kind}">{figures}</div>'


def _html_section(view: RunView, base: Path, level: int, anchor: str) -> str:
    h, sub = f"h{level}", f"h{level + 1}"
    parts = [
        f'<section id="{_esc(anchor)}"><{h}>{_esc(view.name)}</{h}>',
        f"<{sub}>Configuration</{sub}>", _html_table(CONFIG_HEAD, view.config),
        f"<{sub}>Summary</{sub}>", _html_table(SUMMARY_HEAD, view.summary),
        f"<{sub}>Training curves</{sub}>", _html_figures(view.plots, base, "plots"),
    ]
    if view.kind == "gan":
        parts += [f"<{sub}>Samples over time</{sub}>", _html_figures(view.samples, base, "samples")]
    if view.final is not None:
        parts += [f"<{sub}>Final samples</{sub}>",
                  _html_figures([("final", view.final)], base, "samples")]
    if view.evaluation is not None:
        parts.append(_html_evaluation(view.evaluation, base, level + 1))
    if view.attacks:
        parts.append(_html_attacks(view.attacks, base, level + 1))
    if robustness := _html_robustness(view.root, base, level + 1):
        parts.append(robustness)
    if smoothing := _html_smoothing(view.root, base, level + 1):
        parts.append(smoothing)
    return "\n".join(parts + ["</section>"])


def _html_evaluation(evaluation: EvalView, base: Path, level: int) -> str:
    """The Evaluation section: figures against the real-data yardstick, support size, plots."""
    parts = [f"<h{level}>Evaluation</h{level}>", f'<p class="options">{_esc(evaluation.description)}</p>',
             _html_table(HEAD, evaluation.rows)]
    if evaluation.birthday_rows:
        parts.append(_html_table(BIRTHDAY_HEAD, evaluation.birthday_rows))
    parts.append(_html_figures(evaluation.figures, base, "plots"))
    return "\n".join(parts)


def _html_grid(caption: str, path: Path, base: Path) -> str:
    """An example grid at its own pixel size (its captions are drawn for that size)."""
    src, width = _esc(_link(path, base)), _image_width(path)
    size = f' width="{width}"' if width else ""
    return (f'<figure><a href="{src}"><img src="{src}"{size} alt="{_esc(caption)}"></a>'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _html_attacks(attacks: list[AttackView], base: Path, level: int) -> str:
    """The Attacks section: per attack run, its options, robustness table and grids."""
    h, sub = f"h{level}", f"h{min(level + 1, 6)}"
    parts = [f"<{h}>Attacks</{h}>"]
    for attack in attacks:
        grids = "".join(_html_grid(caption, path, base) for caption, path in attack.grids)
        parts += [f"<{sub}>{_esc(attack.name)}</{sub}>", f'<p class="options">{_esc(attack.description)}</p>',
                  _html_table(attack.head, attack.cells),
                  f'<div class="figs grids">{grids}</div>' if grids else "<p><em>(no grid)</em></p>"]
    return "\n".join(parts)


def _html_robustness(root: Path, base: Path, level: int) -> str:
    """The Robustness section (advlab robustness): worst-case accuracy per eps and a link; empty without one."""
    from advlab.reports.robustness_report import robustness_summary  # it imports this module

    summary = robustness_summary(root)
    if summary is None:
        return ""
    warning = f'<p><strong>Warning: {_esc(summary["warning"])}.</strong></p>' if summary["warning"] else ""
    return (f"<h{level}>Robustness</h{level}>{warning}<p>Clean accuracy {_esc(summary['clean'])}, "
            f"{_esc(summary['norm'])}; {_esc(summary['checks'])}. "
            f'<a href="{_esc(_link(summary["html"], base))}">Full robustness report</a></p>'
            + _html_table(summary["head"], summary["rows"]))


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


def _html_smoothing(root: Path, base: Path, level: int) -> str:
    """The Randomized smoothing section (Cohen et al. 2019); empty without a certification."""
    summary = smoothing_summary(root)
    if summary is None:
        return ""
    figure = _html_grid("certified accuracy vs radius", summary["plot"], base) if summary["plot"].exists() else ""
    return (f"<h{level}>Randomized smoothing</h{level}>" + _html_table(summary["head"], summary["rows"])
            + (f'<div class="figs">{figure}</div>' if figure else ""))


def _md_smoothing(root: Path, base: Path, level: int) -> str:
    summary = smoothing_summary(root)
    if summary is None:
        return ""
    parts = [f"{'#' * level} Randomized smoothing", _md_table(summary["head"], summary["rows"])]
    if summary["plot"].exists():
        parts.append(f"![certified accuracy vs radius]({_link(summary['plot'], base)})")
    return "\n\n".join(parts)


def _html_page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{_esc(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n"
            "</body></html>\n")


def _md_cell(text) -> str:
    """Escape text for a Markdown table cell: no raw HTML, no pipes, no line breaks."""
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|")


def _md_table(head, rows) -> str:
    if not rows:
        return "_(none)_"
    lines = ["| " + " | ".join(_md_cell(x) for x in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_md_cell(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def _md_images(items, base: Path) -> str:
    """Images side by side: a table whose header row holds the captions."""
    if not items:
        return "_(none yet)_"
    head = "| " + " | ".join(_md_cell(caption) for caption, _ in items) + " |"
    rule = "|" + "---|" * len(items)
    cells = "| " + " | ".join(f"![{_md_cell(c)}]({_link(p, base)})" for c, p in items) + " |"
    return f"{head}\n{rule}\n{cells}"


def _md_section(view: RunView, base: Path, level: int) -> str:
    h, sub = "#" * level, "#" * (level + 1)
    parts = [f"{h} {_md_cell(view.name)}",
             f"{sub} Configuration", _md_table(CONFIG_HEAD, view.config),
             f"{sub} Summary", _md_table(SUMMARY_HEAD, view.summary),
             f"{sub} Training curves"]
    parts += [f"![{_md_cell(c)}]({_link(p, base)})" for c, p in view.plots]
    if view.kind == "gan":
        parts += [f"{sub} Samples over time", _md_images(view.samples, base)]
    if view.final is not None:
        parts += [f"{sub} Final samples", _md_images([("final", view.final)], base)]
    if view.evaluation is not None:
        parts.append(_md_evaluation(view.evaluation, base, level + 1))
    if view.attacks:
        parts.append(_md_attacks(view.attacks, base, level + 1))
    if robustness := _md_robustness(view.root, base, level + 1):
        parts.append(robustness)
    if smoothing := _md_smoothing(view.root, base, level + 1):
        parts.append(smoothing)
    return "\n\n".join(parts) + "\n"


def _md_evaluation(evaluation: EvalView, base: Path, level: int) -> str:
    parts = [f"{'#' * level} Evaluation", _md_cell(evaluation.description), _md_table(HEAD, evaluation.rows)]
    if evaluation.birthday_rows:
        parts.append(_md_table(BIRTHDAY_HEAD, evaluation.birthday_rows))
    parts += [f"![{_md_cell(c)}]({_link(p, base)})" for c, p in evaluation.figures]
    return "\n\n".join(parts)


def _md_robustness(root: Path, base: Path, level: int) -> str:
    from advlab.reports.robustness_report import robustness_summary  # it imports this module

    summary = robustness_summary(root)
    if summary is None:
        return ""
    warning = [f"**Warning: {_md_cell(summary['warning'])}.**"] if summary["warning"] else []
    line = (f"Clean accuracy {summary['clean']}, {_md_cell(summary['norm'])}; {summary['checks']}. "
            f"[Full robustness report]({_link(summary['html'], base)})")
    return "\n\n".join([f"{'#' * level} Robustness", *warning, line, _md_table(summary["head"], summary["rows"])])


def _md_attacks(attacks: list[AttackView], base: Path, level: int) -> str:
    h, sub = "#" * level, "#" * min(level + 1, 6)
    parts = [f"{h} Attacks"]
    for attack in attacks:
        parts += [f"{sub} {_md_cell(attack.name)}", _md_cell(attack.description),
                  _md_table(attack.head, attack.cells)]
        parts += [f"![{_md_cell(c)}]({_link(p, base)})" for c, p in attack.grids]
    return "\n\n".join(parts)


# ---------------------------------------------------------------- writing reports


def _anchors(views: list[RunView]) -> list[str]:
    """A unique HTML id per run, from its name."""
    anchors: list[str] = []
    for view in views:
        slug = re.sub(r"[^A-Za-z0-9_-]+", "-", view.name).strip("-") or "run"
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
    view = _collect(run_dir)
    page = _html_page(view.name, _html_section(view, view.root, 1, _anchors([view])[0]))
    return (_write(view.root / "report.html", page),
            _write(view.root / "report.md", _md_section(view, view.root, 1)))


def _overview(views: list[RunView]) -> tuple[list[str], list[list[str]]]:
    """(head, rows) of a one-row-per-run table: the config options that differ, then the
    summary. Runs of different kinds (GANs and classifiers) compare only the options they share."""
    configs = [dict(view.config) for view in views]
    summaries = [dict(view.summary) for view in views]
    options = [k for k in dict.fromkeys(k for c in configs for k in c)
               if len({c.get(k) for c in configs}) > 1]
    if len({view.kind for view in views}) > 1:
        options = [k for k in options if all(k in c for c in configs)]
    metrics = list(dict.fromkeys(k for summary in summaries for k in summary))
    rows = [[view.name, *(c.get(k, "") for k in options), *(s.get(k, "") for k in metrics)]
            for view, c, s in zip(views, configs, summaries)]
    return ["run", *options, *metrics], rows


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
    views = [_collect(run_dir) for run_dir in run_dirs]
    anchors = _anchors(views)
    head, rows = _overview(views)
    sections = [_html_section(v, out, 2, a) for v, a in zip(views, anchors)]
    page = _html_page(title, "\n".join([f"<h1>{_esc(title)}</h1>",
                                        _html_table(head, rows, anchors), *sections]))
    md = "\n\n".join([f"# {_md_cell(title)}", _md_table(head, rows),
                       *(_md_section(v, out, 2) for v in views)])
    return _write(out / "report.html", page), _write(out / "report.md", md)
