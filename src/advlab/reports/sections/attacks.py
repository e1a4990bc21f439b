"""`advlab attack` runs on a classifier (RUN/attacks/*/results.json): per attack run, its options, its
robustness table and its example grids (advlab.reports.attack_report reads them).

An attack that learns before it attacks (AdvGAN, advlab.attacks.advgan: ``advlab attack advgan RUN``) also shows
what its results.json adds: the ``comparison`` with PGD on the same held-out images (success, robust accuracy,
time per image, training time), the speed-up per image and the number of images after which training has paid for
itself, how its generator was trained (``training``: rows, iterations, epochs, batch, lr, mode, queries, seconds; or
the reused file), and the training record (``training.history``: the losses, the mean ||G(x)||_2 and the share of
each recorded minibatch that fooled the model, per iteration) drawn to RUN/plots/attack-NAME-training.png.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from advlab.reports.attack_report import RESULTS_FILE, AttackView, is_audio_attack, read_attacks
from advlab.reports.markup import (
    esc,
    html_figures,
    html_grid,
    html_heading,
    html_table,
    md_cell,
    md_heading,
    md_image,
    md_table,
)
from advlab.reports.plots import plot_train_series
from advlab.reports.reading import Run
from advlab.reports.sections.base import RESULTS, Section, register

COMPARISON_HEAD = ["attack", "success", "robust acc", "time per image (ms)", "training (s)"]


@dataclass
class Learned:
    """What a report shows of an attack that learns: the comparison table, two sentences and the training plot."""

    head: list[str]
    cells: list[list[str]]
    speed: str
    training: str
    plot: tuple[str, Path] | None


@dataclass
class Shown:
    """One attack run in the report: its view, and for an attack that learns, what it learned."""

    attack: AttackView
    learned: Learned | None = None


def _percent(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def comparison_cells(comparison: dict) -> list[list[str]]:
    """One row per attack of results.json's ``comparison`` ({name: {success_rate, robust_accuracy, ms_per_image,
    training_seconds | steps}}): PGD labelled with its steps."""
    cells = []
    for name, row in comparison.items():
        label = f"pgd ({row['steps']} steps)" if name == "pgd" and "steps" in row else name
        trained = row.get("training_seconds")
        cells.append([label, _percent(row.get("success_rate")), _percent(row.get("robust_accuracy")),
                      f"{row['ms_per_image']:.3f}", "—" if trained is None else f"{trained:.1f}"])
    return cells


def speed_text(name: str, comparison: dict) -> str:
    """The learned attack's time per image against PGD's, and after how many images its training has paid off:
    training / (PGD's time per image - its own), when it is faster."""
    mine, pgd = comparison.get(name), comparison.get("pgd")
    if not mine or not pgd:
        return ""
    label = f"PGD-{pgd['steps']}" if "steps" in pgd else "PGD"
    ms, pgd_ms = mine["ms_per_image"], pgd["ms_per_image"]
    if ms <= 0 or pgd_ms <= ms:
        return f"{name}: {ms:.3f} ms per image once trained, {label}: {pgd_ms:.3f} ms per image."
    text = f"{name}: {ms:.3f} ms per image once trained, {pgd_ms / ms:.0f}x faster than {label} ({pgd_ms:.3f} ms)"
    trained = mine.get("training_seconds") or 0.0
    if trained > 0:
        images = 1000 * trained / (pgd_ms - ms)
        text += f"; its {trained:.1f} s of training pay for themselves after {images:,.0f} images"
    return text + "."


def training_text(training: dict, generator: dict | None) -> str:
    """Where the generator came from (results.json's ``training``), in one sentence."""
    saved = f"; saved as {generator['file']}" if generator and generator.get("file") else ""
    if "reused" in training:
        return f"Generator reused from {training['reused']} (no training){saved}."
    parts = [f"{training['iterations']} iterations" if "iterations" in training else None,
             f"{training['epochs']:.1f} epochs" if "epochs" in training else None,
             f"batch {training['batch_size']}" if "batch_size" in training else None,
             f"lr {training['lr']:g}" if "lr" in training else None,
             f"{training['mode']} mode" if training.get("mode") else None,
             f"seed {training['seed']}" if "seed" in training else None,
             f"{training['processes']} processes" if (training.get("processes") or 1) > 1 else None,
             f"{training['queries']:,} queries of the model" if training.get("queries") else None]
    rows = (f"the run's {training['n']} training rows (not on the {training.get('attacked_rows', '?')} held-out rows "
            "attacked here)" if "n" in training else "the run's training rows")
    seconds = f" in {training['seconds']:.1f} s" if "seconds" in training else ""
    settings = ", ".join(part for part in parts if part)
    return f"Generator trained{seconds} on {rows}{': ' + settings if settings else ''}{saved}."


def plot_training(history: list[dict], path: Path) -> Path | None:
    """The training record (one panel per statistic against the iteration) as a PNG; None without a record."""
    records = [{"kind": "train", "step": entry["iteration"], **{k: v for k, v in entry.items() if k != "iteration"}}
               for entry in history if isinstance(entry, dict) and "iteration" in entry]
    return plot_train_series(records, path) if records else None


def read_learned(attack: AttackView, plots: Path) -> Learned | None:
    """What `attack`'s results.json says about an attack that learns (None for any other attack); writes its
    training plot into `plots`."""
    try:
        results = json.loads((attack.root / RESULTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # read_attacks has already read it; a file changed since shows no extra
        return None
    comparison, training = results.get("comparison"), results.get("training")
    if not isinstance(comparison, dict) or not comparison or not isinstance(training, dict):
        return None
    name = results.get("attack") or next(iter(comparison))
    path = plot_training(training.get("history") or [], plots / f"attack-{attack.name}-training.png")
    plot = None if path is None else (f"{attack.name}: training of the generator (recorded minibatches)", path)
    return Learned(list(COMPARISON_HEAD), comparison_cells(comparison), speed_text(name, comparison),
                   training_text(training, results.get("generator")), plot)


@register
class Attacks(Section):
    title, order = "Attacks", RESULTS

    def applies(self, run: Run) -> bool:
        folder = run.root / "attacks"
        return folder.is_dir() and any((path / RESULTS_FILE).is_file() and not is_audio_attack(path)
                                       for path in folder.iterdir())

    def collect(self, run: Run) -> list[Shown]:
        return [Shown(attack, read_learned(attack, run.root / "plots")) for attack in read_attacks(run.root)]

    def html(self, view: list[Shown], base: Path, level: int) -> str:
        parts = [html_heading(level, self.title)]
        for shown in view:
            attack = shown.attack
            grids = "".join(html_grid(caption, path, base) for caption, path in attack.grids)
            parts += [html_heading(level + 1, attack.name), f'<p class="options">{esc(attack.description)}</p>',
                      html_table(attack.head, attack.cells),
                      f'<div class="figs grids">{grids}</div>' if grids else "<p><em>(no grid)</em></p>"]
            if shown.learned is not None:
                learned = shown.learned
                parts += [html_heading(level + 2, f"{attack.name} against PGD"),
                          html_table(learned.head, learned.cells),
                          *(f"<p>{esc(text)}</p>" for text in (learned.speed, learned.training) if text)]
                if learned.plot is not None:
                    parts.append(html_figures([learned.plot], base, "plots"))
        return "\n".join(parts)

    def markdown(self, view: list[Shown], base: Path, level: int) -> str:
        parts = [md_heading(level, self.title)]
        for shown in view:
            attack = shown.attack
            parts += [md_heading(level + 1, attack.name), md_cell(attack.description),
                      md_table(attack.head, attack.cells)]
            parts += [md_image(c, p, base) for c, p in attack.grids]
            if shown.learned is not None:
                learned = shown.learned
                parts += [md_heading(level + 2, f"{attack.name} against PGD"), md_table(learned.head, learned.cells),
                          *(md_cell(text) for text in (learned.speed, learned.training) if text)]
                if learned.plot is not None:
                    parts.append(md_image(*learned.plot, base))
        return "\n\n".join(parts)

    def headline(self, view: list[Shown]) -> tuple[str, Path] | None:
        return next((shown.attack.grids[0] for shown in view if shown.attack.grids), None)
