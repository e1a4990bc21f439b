"""`advlab poison` and `advlab detect` (RUN/poison.json, RUN/detect/*/detection.json): what the poison did and
what the detectors found (issue 16, part 6).

The poison's table (attack, target, poisons of the training set, clean accuracy, and the attack success rate of
a backdoor or the test error of an availability poison) with its pictures (advlab.reports.poisoning_plots:
poisoned rows beside their originals, the trigger, triggered held-out images with the model's predictions), then
one row per detection (what it judged, what it flagged, TPR and FPR against the truth where the run knows it,
its seconds, its record) with each detection's picture: the scores split by the truth, STRIP's entropies,
Neural Cleanse's norms per class (and its reversed triggers when written). It stands right after the summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from advlab.reports.markup import (
    esc,
    html_figure,
    html_grid,
    html_heading,
    html_table,
    link,
    md_cell,
    md_heading,
    md_image,
    md_table,
)
from advlab.reports.poisoning_plots import EXAMPLES, SCORES, TRIGGER, TRIGGERED, save_detection_figure
from advlab.reports.reading import Run, read_json_object
from advlab.reports.robustness_report import percent
from advlab.reports.sections.base import HEADLINE, Section, register

POISON_RECORD = "poison.json"  # advlab.pipelines.security.poison_run writes these (reports sit below the pipelines)
POISON_FOLDER = "poison"
DETECTION_RECORD = "detection.json"  # advlab.pipelines.security.detect_run
TRIGGERS = "triggers.png"  # Neural Cleanse's reversed triggers, beside its record
POISON_FIGURES = ((EXAMPLES, "poisoned training rows beside their originals"), (TRIGGER, "the trigger"),
                  (TRIGGERED, "triggered held-out images: prediction / wanted"))
DETECTION_HEAD = ("detector", "judged", "flagged", "TPR", "FPR", "seconds", "record")
JUDGED = {"training": "training rows", "inputs": "held-out inputs", "classes": "classes"}


@dataclass
class DetectionView:
    """One detection as the report shows it: its table row and its pictures (caption, path, kind: "plots" for a
    chart, "grid" for an image grid shown at its own pixel size)."""

    name: str
    record_path: Path
    row: list[str]
    figures: list[tuple[str, Path, str]] = field(default_factory=list)


@dataclass
class PoisoningView:
    """The poison's table and pictures (none for a run that was not poisoned) and the detections."""

    head: list[str]
    rows: list[list[str]]
    options: str
    figures: list[tuple[str, Path]]
    detections: list[DetectionView]


def number(value, digits: int = 4) -> str:
    return "—" if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{value:.{digits}g}"


def share(value) -> str:
    return percent(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else "—"


def target_text(record: dict) -> str:
    """The target class, "all-to-all" for a backdoor that sends class k to k + 1, the target image and the class
    it should take for a targeted poison (feature collision), or "—"."""
    if record.get("base_class") is not None:
        return f"held-out image {record.get('target_image', '?')} as class {record['base_class']}"
    if record.get("target") is not None:
        return str(record["target"])
    return "all-to-all (k -> k + 1)" if (record.get("options") or {}).get("all_to_all") else "—"


def poison_table(record: dict) -> tuple[list[str], list[list[str]]]:
    """(head, one row) of poison.json: attack, target, poisons / train size, their share, clean accuracy and the
    attack success rate (backdoor) or test error (availability)."""
    poisons, size = record.get("poisons"), record.get("train_size")
    counted = isinstance(poisons, int) and isinstance(size, int) and size > 0
    backdoor = "attack_success_rate" in record
    head = ["attack", "target", "poisons / train size", "share poisoned", "clean accuracy",
            "attack success rate" if backdoor else "test error"]
    row = [str(record.get("attack", "—")), target_text(record), f"{poisons} / {size}" if counted else str(poisons),
           percent(poisons / size) if counted else share(record.get("rate")), share(record.get("clean_accuracy")),
           share(record.get("attack_success_rate" if backdoor else "test_error"))]
    return head, [row]


def options_text(record: dict) -> str:
    """The poison's options (set ones only) and its surrogate run, on one line."""
    options = {key: value for key, value in (record.get("options") or {}).items() if value is not None}
    text = "options: " + (", ".join(f"{key}={value}" for key, value in options.items()) or "defaults")
    return text + (f"; surrogate run: {record['surrogate']}" if record.get("surrogate") else "")


def flagged_text(record: dict) -> str:
    """"91 of 1437 rows" for a row detector, "class 0 of 10" / "no class of 10" for a class detector."""
    size = record.get("size", "?")
    if record.get("kind") == "classes":
        classes = record.get("flagged_classes", record.get("flagged")) or []
        if not classes:
            return f"no class of {size}"
        return f"{'class' if len(classes) == 1 else 'classes'} {', '.join(map(str, classes))} of {size}"
    unit = "inputs" if record.get("judged") == "inputs" else "rows"
    return f"{len(record.get('flagged') or [])} of {size} {unit}"


def detection_figures(folder: Path, record: dict) -> list[tuple[str, Path, str]]:
    """The detection's pictures, (re)drawing scores.png when it is missing or older than the record."""
    scores, name = folder / SCORES, folder.name
    record_path = folder / DETECTION_RECORD
    if not scores.is_file() or scores.stat().st_mtime < record_path.stat().st_mtime:
        save_detection_figure(folder, record)
    figures = [(f"{name}: scores", scores, "plots")] if scores.is_file() else []
    if (folder / TRIGGERS).is_file():
        classes = record.get("classes") or []
        order = f"classes {classes[0]} to {classes[-1]} left to right" if classes else "one per class"
        figures.append((f"{name}: reversed triggers (mask x pattern), {order}", folder / TRIGGERS, "grid"))
    return figures


def read_detections(root: Path) -> list[DetectionView]:
    """The readable RUN/detect/*/detection.json records, by detector name."""
    views = []
    for path in sorted((root / "detect").glob(f"*/{DETECTION_RECORD}")):
        record = read_json_object(path)
        if record is None:
            continue
        row = [path.parent.name, JUDGED.get(record.get("judged"), str(record.get("judged", "—"))),
               flagged_text(record), share(record.get("tpr")), share(record.get("fpr")),
               number(record.get("seconds"), 3), ""]
        views.append(DetectionView(path.parent.name, path, row, detection_figures(path.parent, record)))
    return views


def poisoning_view(root: Path) -> PoisoningView:
    record = read_json_object(root / POISON_RECORD)
    head, rows = poison_table(record) if record else ([], [])
    figures = [(caption, root / POISON_FOLDER / name) for name, caption in POISON_FIGURES
               if (root / POISON_FOLDER / name).is_file()]
    return PoisoningView(head, rows, options_text(record) if record else "", figures, read_detections(root))


def detection_rows(view: PoisoningView, base: Path) -> list[list[str]]:
    """The detection table's rows, each ending with the link text of its record (relative to `base`)."""
    return [[*detection.row[:-1], link(detection.record_path, base)] for detection in view.detections]


def detections_html(view: PoisoningView, base: Path, level: int) -> str:
    rows = detection_rows(view, base)
    table = html_table(DETECTION_HEAD, rows)
    for row in rows:  # the record cell becomes a link (html_table escapes every cell)
        table = table.replace(f"<td>{esc(row[-1])}</td>", f'<td><a href="{esc(row[-1])}">{esc(row[-1])}</a></td>')
    parts = [html_heading(level, "Detections"), table]
    for detection in view.detections:
        figures = "".join(html_figure(caption, path, base) if kind == "plots" else html_grid(caption, path, base)
                          for caption, path, kind in detection.figures)
        if figures:
            parts.append(f'<div class="figs plots">{figures}</div>')
    return "\n".join(parts)


def detections_markdown(view: PoisoningView, base: Path, level: int) -> str:
    rows = [[*row[:-1], f"[{row[-1]}]({row[-1]})"] for row in detection_rows(view, base)]
    parts = [md_heading(level, "Detections"), md_table(DETECTION_HEAD, rows)]
    parts += [md_image(caption, path, base) for detection in view.detections for caption, path, _ in detection.figures]
    return "\n\n".join(parts)


@register
class PoisoningSection(Section):
    """Applies to a poisoned run (poison.json) and to any run with a detection on it."""

    title, order = "Poisoning", HEADLINE + 2

    def applies(self, run: Run) -> bool:
        return (run.root / POISON_RECORD).is_file() or any((run.root / "detect").glob(f"*/{DETECTION_RECORD}"))

    def collect(self, run: Run) -> PoisoningView:
        return poisoning_view(run.root)

    def html(self, view: PoisoningView, base: Path, level: int) -> str:
        parts = [html_heading(level, self.title)]
        if view.rows:
            parts += [html_table(view.head, view.rows), f'<p class="options">{esc(view.options)}</p>']
        if view.figures:
            parts.append('<div class="figs grids">' + "".join(html_grid(caption, path, base)
                                                             for caption, path in view.figures) + "</div>")
        if view.detections:
            parts.append(detections_html(view, base, level + 1))
        return "\n".join(parts)

    def markdown(self, view: PoisoningView, base: Path, level: int) -> str:
        parts = [md_heading(level, self.title)]
        if view.rows:
            parts += [md_table(view.head, view.rows), md_cell(view.options)]
        parts += [md_image(caption, path, base) for caption, path in view.figures]
        if view.detections:
            parts.append(detections_markdown(view, base, level + 1))
        return "\n\n".join(parts)

    def headline(self, view: PoisoningView) -> tuple[str, Path] | None:
        """The triggered held-out images of a backdoor, else the poisoned rows."""
        by_name = {path.name: (caption, path) for caption, path in view.figures}
        return by_name.get(TRIGGERED) or by_name.get(EXAMPLES)
