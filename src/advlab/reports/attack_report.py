"""What reports show of classifiers and of the attacks run on them.

* ``attack_table`` / ``markdown_attack_table`` — the robustness table of one attack run, one row
  per eps: clean and robust accuracy, success rate, median and mean Linf and L2 norms of the
  successful perturbations, queries (median/mean over the successful images, max over all) for
  black-box attacks, and the attack's time. The figures are those of
  ``advlab.attacks.AttackResult.summary()`` (see advlab/attacks/results.py for the definitions).
* ``save_attack_grid`` — a picture of a few examples: row 1 the clean images, row 2 the
  adversarial ones, row 3 the perturbation amplified to be visible (0.5 + delta / (2 max|delta|)
  per image, so grey is no change), each tile captioned with the model's prediction; an
  adversarial caption is red where the prediction changed.
* ``plot_classifier_curves`` — loss and accuracy per epoch of a classifier run.
* ``read_attacks`` — the attack runs stored under ``RUN/attacks/*/results.json``, ready to render.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.ticker import MaxNLocator
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from advlab.core.errors import AdvlabError
from advlab.reports.plots import _curve, _figure, _save, _series

RESULTS_FILE = "results.json"
TILE = 72  # pixels a tile is upscaled to (at least), nearest neighbour
FONT_SIZE = 14
CHANGED = (200, 0, 0)
TEXT = (20, 20, 20)
MUTED = (90, 90, 90)
ROW_LABELS = ("clean", "adversarial", "perturbation")
BASE_COLUMNS = ("eps", "n", "clean acc", "robust acc", "success", "Linf median", "Linf mean",
                "L2 median", "L2 mean")
QUERY_COLUMNS = ("queries median", "queries mean", "queries max")


# ---------------------------------------------------------------------- the table


def _percent(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _number(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1:
        return str(int(value))
    return f"{value:.4g}"


def attack_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """(head, cells) of the robustness table for summary rows (one per eps); query columns only
    when some row has queries (a black-box attack)."""
    queries = any(row.get("queries_max") is not None for row in rows)
    head = [*BASE_COLUMNS, *(QUERY_COLUMNS if queries else ()), "time (s)"]
    cells = []
    for row in rows:
        cell = [_number(row.get("eps")), _number(row.get("n")), _percent(row.get("clean_accuracy")),
                _percent(row.get("robust_accuracy")), _percent(row.get("success_rate")),
                *(_number(row.get(key)) for key in ("linf_median", "linf_mean", "l2_median", "l2_mean"))]
        if queries:
            cell += [_number(row.get(key)) for key in ("queries_median", "queries_mean", "queries_max")]
        seconds = row.get("seconds")
        cells.append([*cell, "—" if seconds is None else f"{seconds:.2f}"])
    return head, cells


def markdown_attack_table(rows: list[dict]) -> str:
    """The robustness table as Markdown (table.md, and what `advlab attack` prints)."""
    head, cells = attack_table(rows)
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    lines += ["| " + " | ".join(cell) + " |" for cell in cells]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- the example grid


def _font(size: int = FONT_SIZE):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # an old Pillow or no FreeType: the small bitmap font
        return ImageFont.load_default()


def _tile(image: Tensor, scale: int) -> Image.Image:
    """One (C, H, W) image in [0, 1] as an RGB picture, upscaled `scale` times."""
    pixels = (image.detach().cpu().float().clamp(0, 1) * 255).round().to(torch.uint8)
    pixels = pixels.repeat_interleave(scale, 1).repeat_interleave(scale, 2)
    array = np.ascontiguousarray(pixels.permute(1, 2, 0).numpy())
    picture = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    return picture.convert("RGB")


def amplified(perturbation: Tensor) -> Tensor:
    """0.5 + delta / (2 max|delta|) per image: grey where nothing changed, the largest change at 0 or 1."""
    peak = perturbation.flatten(1).abs().max(1).values.clamp(min=1e-12)
    return (0.5 + perturbation / (2 * peak.view(-1, *([1] * (perturbation.ndim - 1))))).clamp(0, 1)


def pick_examples(success: Tensor, count: int) -> list[int]:
    """Up to `count` indices: the successful attacks first, then the rest, each in order."""
    order = [*success.nonzero().flatten().tolist(), *(~success).nonzero().flatten().tolist()]
    return order[:count]


@dataclass
class GridRow:
    """What a grid shows of one example."""

    clean: Tensor
    adversarial: Tensor
    clean_caption: str
    adversarial_caption: str
    changed: bool
    note: str


def grid_rows(clean: Tensor, adversarial: Tensor, clean_pred: Tensor, adv_pred: Tensor, indices: list[int],
              names: list[str] | None = None, targets: Tensor | None = None,
              norm: str | None = "linf") -> list[GridRow]:
    """The examples at `indices`, captioned with predicted class names (or indices)."""
    def name(k: int) -> str:
        label = names[k] if names and k < len(names) else str(k)
        return label if len(label) <= 9 else label[:8] + "…"

    p = 2.0 if norm in ("l2", None) else float("inf")
    shown = "L2" if p == 2.0 else "Linf"
    rows = []
    for i in indices:
        size = float(torch.linalg.vector_norm((adversarial[i] - clean[i]).flatten().double(), ord=p))
        note = f"{shown} {size:.3g}" if targets is None else f"target {name(int(targets[i]))}, {shown} {size:.2g}"
        rows.append(GridRow(clean[i], adversarial[i], f"pred {name(int(clean_pred[i]))}",
                            f"pred {name(int(adv_pred[i]))}", bool(adv_pred[i] != clean_pred[i]), note))
    return rows


def save_attack_grid(rows: list[GridRow], path, title: str = "") -> Path:
    """Write the three-row grid (clean / adversarial / amplified perturbation) of `rows` as a PNG."""
    if not rows:
        raise AdvlabError("no examples to draw in the attack grid")
    font, small = _font(), _font(FONT_SIZE - 2)
    height, width = rows[0].clean.shape[-2:]
    scale = max(1, math.ceil(TILE / max(height, width)))
    tile_w, tile_h = width * scale, height * scale
    captions = [text for row in rows for text in (row.clean_caption, row.adversarial_caption, row.note)]
    caption_w = max(_text_width(font, text) for text in captions)
    column = max(tile_w, caption_w) + 10
    label_w = max(_text_width(font, text) for text in ROW_LABELS) + 16
    band = tile_h + FONT_SIZE + 14  # a tile and its caption
    top = FONT_SIZE + 18 if title else 8
    canvas = Image.new("RGB", (label_w + column * len(rows) + 6, top + 3 * band + 4), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((8, 6), title, fill=TEXT, font=font)
    deltas = amplified(torch.stack([row.adversarial - row.clean for row in rows]))
    for r, label in enumerate(ROW_LABELS):
        y = top + r * band
        draw.text((6, y + tile_h // 2 - FONT_SIZE // 2), label, fill=MUTED, font=font)
        for c, row in enumerate(rows):
            picture = (row.clean, row.adversarial, deltas[c])[r]
            x = label_w + c * column + (column - tile_w) // 2
            canvas.paste(_tile(picture, scale), (x, y))
            draw.rectangle((x - 1, y - 1, x + tile_w, y + tile_h), outline=(200, 200, 200))
            text = (row.clean_caption, row.adversarial_caption, row.note)[r]
            color = CHANGED if r == 1 and row.changed else (MUTED if r == 2 else TEXT)
            text_x = label_w + c * column + (column - _text_width(small if r == 2 else font, text)) // 2
            draw.text((text_x, y + tile_h + 3), text, fill=color, font=small if r == 2 else font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, format="PNG")
    return path


def _text_width(font, text: str) -> int:
    left, _, right, _ = font.getbbox(text)
    return int(right - left)


# ---------------------------------------------------------------------- classifier curves


def plot_classifier_curves(records: list[dict], out_dir) -> list[tuple[str, Path]]:
    """Loss and accuracy (train and held-out; for a defended run also held-out under its training attack or
    noise) per epoch, as RUN/plots/loss.png and accuracy.png."""
    out_dir = Path(out_dir)
    fig, axes = _figure()
    ax = axes[0, 0]
    drawn = _curve(ax, *_series(records, "train_loss"), "train loss", "tab:blue")
    _label(ax, "Training loss (cross-entropy)", "loss", drawn)
    loss = _save(fig, out_dir / "loss.png")
    fig, axes = _figure()
    ax = axes[0, 0]
    robust = any("test_robust_accuracy" in record or "test_noisy_accuracy" in record for record in records)
    drawn = [_curve(ax, *_series(records, key), label, color) for key, label, color in (
        ("train_accuracy", "train (images trained on)" if robust else "train", "tab:blue"),
        ("test_accuracy", "held-out", "tab:orange"),
        ("test_robust_accuracy", "held-out, under the training attack", "tab:red"),
        ("test_noisy_accuracy", "held-out, under the training noise", "tab:purple"))]
    if any(drawn):
        ax.set_ylim(top=1.005)
    _label(ax, "Accuracy", "accuracy", any(drawn))
    return [("Loss", loss), ("Accuracy", _save(fig, out_dir / "accuracy.png"))]


def _label(ax, title: str, ylabel: str, drawn: bool) -> None:
    ax.set(title=title, xlabel="epoch", ylabel=ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(loc="best")
    else:
        ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes)


# ---------------------------------------------------------------------- attack runs in a run directory


@dataclass
class AttackView:
    """One attack run as a report shows it."""

    name: str
    root: Path
    description: str
    head: list[str]
    cells: list[list[str]]
    grids: list[tuple[str, Path]]


def natural_order(path: Path) -> tuple:
    """Sort pgd, pgd-2, pgd-10 in that order."""
    match = re.fullmatch(r"(.*?)-(\d+)", path.name)
    return (match.group(1), int(match.group(2))) if match else (path.name, 1)


def _options_text(results: dict) -> str:
    options = ", ".join(f"{key}={json.dumps(value)}" for key, value in results.get("options", {}).items())
    images = results.get("images", {})
    goal = "untargeted"
    if results.get("targeted"):
        goal = f"targeted ({results.get('targeted_by') or 'target ' + str(results.get('target'))})"
    kind = "black-box" if results.get("black_box") else "white-box"
    mask = f", mask {images['mask']}" if images.get("mask") else ""
    return (f"{results.get('attack')} ({kind}, {goal}) on {images.get('n', '?')} held-out images{mask}, "
            f"seed {results.get('seed')}; options: {options}")


def read_attack(directory: Path) -> AttackView:
    """The attack run in `directory` (its results.json and grids)."""
    path = directory / RESULTS_FILE
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise AdvlabError(f"{path}: unreadable attack results ({error})") from None
    if not isinstance(results, dict) or not isinstance(results.get("rows"), list):
        raise AdvlabError(f"{path}: not the results of an advlab attack run")
    head, cells = attack_table(results["rows"])
    grids = [(grid.get("caption", grid["file"]), directory / grid["file"]) for grid in results.get("grids", [])
             if isinstance(grid, dict) and "file" in grid and (directory / grid["file"]).is_file()]
    return AttackView(directory.name, directory, _options_text(results), head, cells, grids)


def is_audio_attack(directory: Path) -> bool:
    """Does `directory` hold an audio attack (results.json "kind": "audio", advlab.reports.sections.audio shows it)?"""
    try:
        return json.loads((directory / RESULTS_FILE).read_text(encoding="utf-8")).get("kind") == "audio"
    except (OSError, ValueError, AttributeError):
        return False


def read_attacks(run_dir) -> list[AttackView]:
    """Every image attack run under RUN/attacks/ that finished (has a results.json), in name order; audio attacks
    have their own section."""
    folder = Path(run_dir) / "attacks"
    if not folder.is_dir():
        return []
    found = [path for path in folder.iterdir() if (path / RESULTS_FILE).is_file() and not is_audio_attack(path)]
    return [read_attack(path) for path in sorted(found, key=natural_order)]
