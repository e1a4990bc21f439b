"""Pictures of a poisoned run and of the backdoor detections on it, for the run report (issue 16, part 6).

What a person wants to see of training-data poisoning (Gu et al. 2017, "BadNets", fig. 5 shows the same three
things for its stop-sign backdoor): what the poisoned training rows look like next to their clean originals,
the trigger itself, and held-out images with the trigger stamped on beside what the model predicts for them.

* ``save_poison_figures(folder, model, poison, poisoned, clean_training, held_out, classes)`` writes
  RUN/poison/ ``examples.png`` (every poison), and for a backdoor ``trigger.png`` and ``triggered.png``;
  the pieces it is made of (``save_examples``, ``save_trigger``, ``save_triggered``) take plain tensors.
* ``save_detection_figure(folder, record)`` draws a detection record (``RUN/detect/NAME/detection.json``,
  advlab.pipelines.security.detect_run) as ``scores.png``: for rows of a training set (spectral signatures, Tran et al.
  2018; activation clustering, Chen et al. 2018) the histogram of the scores split by the truth and the
  per-class figures; for inputs (STRIP, Gao et al. 2019) the entropy histograms of clean and triggered inputs
  with the boundary; for classes (Neural Cleanse, Wang et al. 2019, sec. IV-C) the reversed triggers' L1 norms
  per class with each class's anomaly index, the flagged classes in red and the true target marked.

Image grids are drawn with Pillow in the style of the attack grids (advlab.reports.attack_report: tiles upscaled
nearest-neighbour, a caption under each, red where the attack did not get what it wanted); charts follow
advlab.reports.plots (a matplotlib Figure on the Agg canvas, no pyplot).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.ticker import FuncFormatter, NullFormatter
from PIL import Image, ImageDraw
from torch import Tensor, nn

from advlab.attacks.base import model_device
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.poisoning.base import Backdoor, PoisonedData
from advlab.reports.attack_report import CHANGED, FONT_SIZE, TEXT, TILE, _font, _text_width, _tile, amplified
from advlab.reports.plots import _figure, _save

EXAMPLES, TRIGGER, TRIGGERED, SCORES = "examples.png", "trigger.png", "triggered.png", "scores.png"
EXAMPLES_SHOWN = 8  # poisoned training rows in examples.png
TRIGGERED_SHOWN = 12  # held-out images in triggered.png
PER_ROW = 4  # pairs per row in examples.png
TRIGGERED_PER_ROW = 6
CLEAN_COLOR, POISON_COLOR, REFERENCE_COLOR = "tab:blue", "tab:red", "tab:grey"
FLAGGED_COLOR, KEPT_COLOR = "#d62728", "#9ecae1"
BINS = 40


# ---------------------------------------------------------------------- captioned image grids


def tile_scale(image: Tensor) -> int:
    """Nearest-neighbour upscaling that makes one (C, H, W) image about TILE pixels on its longer side."""
    return max(1, math.ceil(TILE / max(image.shape[-2:])))


def save_captioned_grid(tiles: Sequence[Tensor], captions: Sequence[str], path, title: str = "",
                        alarms: Sequence[bool] | None = None, per_row: int = PER_ROW, scale: int | None = None) -> Path:
    """Tiles (each (C, H, W) in [0, 1], all the same shape) in rows of `per_row`, each with its caption under it
    (red where `alarms` is True), under a one-line `title`; written as a PNG (folders created).

    Args:
        tiles: the pictures, C in {1, 3}.
        captions: one short line per tile.
        path: the PNG to write.
        title: a line above the grid ("" for none).
        alarms: per tile, draw its caption in red (default: none).
        per_row: tiles per row (default 4).
        scale: integer upscaling (default: the first tile's longer side to about TILE pixels).
    """
    if not tiles or len(tiles) != len(captions):
        raise AdvlabError(f"a captioned grid needs one caption per tile, got {len(tiles)} tiles and {len(captions)}")
    alarms = list(alarms) if alarms is not None else [False] * len(tiles)
    scale = scale or tile_scale(tiles[0])
    font = _font()
    height, width = tiles[0].shape[-2] * scale, tiles[0].shape[-1] * scale
    column = max(width, *(_text_width(font, text) for text in captions)) + 14
    band = height + FONT_SIZE + 16
    per_row = min(per_row, len(tiles))
    rows = math.ceil(len(tiles) / per_row)
    top = FONT_SIZE + 18 if title else 8
    canvas = Image.new("RGB", (max(column * per_row, _text_width(font, title) + 16) + 8, top + rows * band + 4),
                       "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((8, 6), title, fill=TEXT, font=font)
    for i, (tile, caption, alarm) in enumerate(zip(tiles, captions, alarms)):
        row, col = divmod(i, per_row)
        x, y = 4 + col * column + (column - width) // 2, top + row * band
        canvas.paste(_tile(tile, scale), (x, y))
        draw.rectangle((x - 1, y - 1, x + width, y + height), outline=(200, 200, 200))
        text_x = 4 + col * column + (column - _text_width(font, caption)) // 2
        draw.text((text_x, y + height + 3), caption, fill=CHANGED if alarm else TEXT, font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, format="PNG")
    return path


def side_by_side(first: Tensor, second: Tensor) -> Tensor:
    """(C, H, 2W + 1): `first` and `second` (C, H, W) split by a one-pixel white line."""
    return torch.cat([first.float().cpu(), torch.ones(*first.shape[:-1], 1), second.float().cpu()], dim=-1)


def spread(count: int, shown: int) -> Tensor:
    """Up to `shown` positions spread evenly over range(count), first and last included (int64)."""
    if count <= shown:
        return torch.arange(count)
    return torch.linspace(0, count - 1, shown).round().long()


# ---------------------------------------------------------------------- a poisoned run's pictures


def label_change(before: int, after: int) -> str:
    """"3 -> 7" for a flipped label, "3 (kept)" for one the poison left alone."""
    return f"{before} -> {after}" if before != after else f"{before} (kept)"


def save_examples(path, clean: Tensor, clean_labels: Tensor, poisoned: Tensor, poisoned_labels: Tensor) -> Path:
    """Poisoned training rows beside their clean originals, each pair captioned with its label change.

    Args:
        path: the PNG to write.
        clean, poisoned: (k, C, H, W) in [0, 1], the same rows before and after poisoning.
        clean_labels, poisoned_labels: (k,) their labels before and after.
    """
    pairs = [side_by_side(before, after) for before, after in zip(clean, poisoned)]
    captions = [label_change(int(a), int(b)) for a, b in zip(clean_labels, poisoned_labels)]
    title = "poisoned training rows (left: clean original, right: poisoned)"
    if torch.equal(clean.float().cpu(), poisoned.float().cpu()):
        title = "poisoned training rows: labels changed, images unchanged"
    return save_captioned_grid(pairs, captions, path, title, scale=tile_scale(clean[0]))


def save_trigger(path, image: Tensor, triggered: Tensor, on_black: Tensor) -> Path:
    """The trigger: stamped on a black image, then a held-out image before and after and the change amplified
    (grey: no change; advlab.reports.attack_report.amplified).

    Args:
        path: the PNG to write.
        image, triggered: (C, H, W) in [0, 1], one held-out image without and with the trigger.
        on_black: (C, H, W) the trigger stamped on an all-zero image.
    """
    change = amplified((triggered - image).float().cpu().unsqueeze(0))[0]
    tiles = [on_black, image, triggered, change]
    captions = ["on black", "held-out image", "with the trigger", "change (grey: none)"]
    return save_captioned_grid(tiles, captions, path, "the backdoor's trigger")


def save_triggered(path, triggered: Tensor, predictions: Tensor, wanted: Tensor) -> Path:
    """Held-out images with the trigger stamped on, each titled "pred P / want W", in red where the backdoor
    did not fire (P != W).

    Args:
        path: the PNG to write.
        triggered: (k, C, H, W) in [0, 1].
        predictions: (k,) the model's classes for them.
        wanted: (k,) the classes the backdoor wants for them.
    """
    missed = (predictions.cpu() != wanted.cpu()).tolist()
    captions = [f"pred {int(p)} / want {int(w)}" for p, w in zip(predictions, wanted)]
    title = f"held-out images with the trigger: the backdoor fired on {len(missed) - sum(missed)} of {len(missed)}"
    return save_captioned_grid(list(triggered), captions, path, title + (" (red: it did not)" if any(missed) else ""),
                               alarms=missed, per_row=TRIGGERED_PER_ROW)


def predict(model: nn.Module, images: Tensor) -> Tensor:
    """The model's classes for `images` (on its device, eval mode, no gradient), on the CPU."""
    with evaluating(model), torch.no_grad():
        return model(images.to(model_device(model, images))).argmax(1).cpu()


def save_poison_figures(folder, model: nn.Module, poison, poisoned: PoisonedData,
                        clean_training: tuple[Tensor, Tensor], held_out: tuple[Tensor, Tensor],
                        classes: int) -> dict[str, Path]:
    """RUN/poison/examples.png for every poison; trigger.png and triggered.png for a backdoor.

    Args:
        folder: where to write (RUN/poison).
        model: the classifier trained on the poisoned set (predicts the triggered images).
        poison: the advlab.poisoning poison that made `poisoned` (a Backdoor has a trigger to show).
        poisoned: the poisoned training set and the rows it changed.
        clean_training: (images, labels) of the same training rows before poisoning.
        held_out: (images, labels) of the held-out rows.
        classes: the number of classes (for an all-to-all backdoor's wanted labels).

    Returns:
        {"examples": path, "trigger": path, "triggered": path}, the keys of the pictures written.
    """
    folder = Path(folder)
    rows = poisoned.indices.cpu().long().sort().values
    figures = {}
    if len(rows) and len(poisoned.labels) == len(clean_training[1]):  # originals only for a set poisoned in place
        rows = rows[spread(len(rows), EXAMPLES_SHOWN)]
        figures["examples"] = save_examples(folder / EXAMPLES, clean_training[0][rows], clean_training[1][rows],
                                            poisoned.images[rows].cpu(), poisoned.labels[rows].cpu())
    if not isinstance(poison, Backdoor):
        return figures
    images, labels = held_out
    wanted = poison.triggered_labels(labels, classes)
    shown = (wanted != labels).nonzero().flatten()[:TRIGGERED_SHOWN]
    if len(shown) == 0:
        return figures
    triggered = poison.apply_trigger(images[shown]).cpu()
    figures["triggered"] = save_triggered(folder / TRIGGERED, triggered, predict(model, triggered), wanted[shown])
    on_black = poison.apply_trigger(torch.zeros_like(images[:1]))[0].cpu()
    figures["trigger"] = save_trigger(folder / TRIGGER, images[shown[0]], triggered[0], on_black)
    return figures


# ---------------------------------------------------------------------- a detection's picture


def numbers(values) -> np.ndarray:
    """A JSON list as floats, None (nan in the record) left out."""
    return np.array([float(value) for value in values or [] if value is not None], dtype=float)


def split_by_truth(values: Sequence, truth: Sequence | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(values where the truth is False, where it is True), Nones left out; None without a usable truth."""
    if truth is None or len(truth) != len(values):
        return None
    pairs = [(float(v), bool(t)) for v, t in zip(values, truth) if v is not None]
    return (np.array([v for v, t in pairs if not t], dtype=float), np.array([v for v, t in pairs if t], dtype=float))


def shared_bins(*groups: np.ndarray) -> np.ndarray:
    """BINS equal bins over every finite value of the groups (a unit-wide range when all are equal)."""
    values = np.concatenate([group[np.isfinite(group)] for group in groups]) if groups else np.zeros(0)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, BINS + 1)


def histogram(ax, groups: list[tuple[np.ndarray, str, str]], threshold: float | None, threshold_label: str,
              xlabel: str) -> None:
    """Step-filled histograms of (values, label, colour) on shared bins; log counts when the groups' sizes
    differ tenfold (a few poisons among many clean rows); a dashed threshold line when there is one."""
    groups = [(values, label, color) for values, label, color in groups if values.size]
    if not groups:
        ax.text(0.5, 0.5, "no scores", ha="center", va="center", transform=ax.transAxes)
        return
    bins = shared_bins(*(values for values, _, _ in groups))
    for values, label, color in groups:
        ax.hist(values, bins=bins, histtype="stepfilled", alpha=0.35, color=color)
        ax.hist(values, bins=bins, histtype="step", linewidth=1.4, color=color, label=f"{label} ({values.size})")
    sizes = [values.size for values, _, _ in groups]
    if max(sizes) >= 10 * min(sizes):
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.7)  # a bin holding one row still shows
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    if threshold is not None and math.isfinite(threshold):
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1.2, label=threshold_label)
    ax.set(xlabel=xlabel, ylabel="count (log)" if ax.get_yscale() == "log" else "count")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)


def rates_text(record: dict) -> str:
    """"TPR 94.4%, FPR 1.7%" when the record has them, else ""."""
    parts = [f"{name.upper()} {100 * record[name]:.1f}%" for name in ("tpr", "fpr")
             if isinstance(record.get(name), (int, float))]
    return ", ".join(parts)


def rows_panel(ax, record: dict) -> None:
    """Histogram of a row detector's scores (higher: more suspicious), split by the truth when known."""
    scores, truth = record.get("scores") or [], record.get("truth")
    split = split_by_truth(scores, truth)
    groups = ([(split[0], "clean rows", CLEAN_COLOR), (split[1], "poisoned rows", POISON_COLOR)] if split
              else [(numbers(scores), "rows", CLEAN_COLOR)])
    histogram(ax, groups, record.get("threshold"), "threshold", "score (higher: more suspicious)")
    flagged = len(record.get("flagged") or [])
    rates = rates_text(record)
    ax.set_title(f"{record.get('detector', 'detector')}: {flagged} of {record.get('size', len(scores))} rows flagged"
                 + (f" ({rates})" if rates else ""), fontsize=10)


def per_class(mapping) -> tuple[list[int], list[float | None]]:
    """({class: value} with string keys, as JSON keeps them) as sorted classes and their values."""
    items = sorted(((int(key), value) for key, value in (mapping or {}).items()), key=lambda item: item[0])
    return [key for key, _ in items], [value for _, value in items]


def bars(ax, classes: list[int], values: list, flagged: set[int], ylabel: str, notes: list[str] | None = None,
         truth: set[int] | None = None) -> None:
    """One bar per class (missing values left empty), flagged classes red, a note above each bar and the true
    classes' tick labels marked "(target)"."""
    heights = [0.0 if value is None else float(value) for value in values]
    colors = [FLAGGED_COLOR if value in flagged else KEPT_COLOR for value in classes]
    ax.bar(range(len(classes)), heights, color=colors, edgecolor="black", linewidth=0.6)
    top = max(heights, default=0.0) or 1.0
    for i, note in enumerate(notes or []):
        ax.text(i, heights[i] + 0.02 * top, note, ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, top * 1.15)
    ax.set_xticks(range(len(classes)))
    ax.set_xticklabels([f"{value}\n(target)" if truth and value in truth else str(value) for value in classes])
    ax.set(xlabel="class", ylabel=ylabel)
    ax.grid(axis="y", alpha=0.3)


def spectral_classes_panel(ax, record: dict) -> None:
    """Rows flagged per class (each class has its own cut, class_thresholds)."""
    classes, counts = per_class(record.get("class_flagged"))
    flagged = {value for value, count in zip(classes, counts) if count}
    bars(ax, classes, counts, flagged, "rows flagged", [str(count) for count in counts])
    ax.set_title("flagged rows per class (each class has its own cut)", fontsize=10)


def clustering_classes_panel(ax, record: dict) -> None:
    """Per class the smaller 2-means cluster's share (the size threshold dashed) and the silhouette above it."""
    classes, sizes = per_class(record.get("relative_size"))
    silhouettes = dict(zip(*per_class(record.get("silhouette"))))
    notes = ["—" if silhouettes.get(value) is None else f"s {silhouettes[value]:.2f}" for value in classes]
    bars(ax, classes, sizes, set(record.get("flagged_classes") or []), "smaller cluster's share", notes)
    if isinstance(record.get("size_threshold"), (int, float)):
        ax.axhline(record["size_threshold"], color="black", linestyle="--", linewidth=1.0, label="size threshold")
        ax.legend(loc="upper right", fontsize=8)
    threshold = record.get("silhouette_threshold")
    ax.set_title("smaller cluster per class (s: silhouette" + (f", flagged at >= {threshold:g}" if isinstance(
        threshold, (int, float)) else "") + "; red: flagged)", fontsize=10)


CLASS_PANELS = {"spectral-signatures": spectral_classes_panel, "activation-clustering": clustering_classes_panel}


def inputs_panel(ax, record: dict) -> None:
    """STRIP: entropy histograms of the clean reference images, the clean inputs and the triggered ones, with
    the boundary (inputs below it are flagged)."""
    scores, truth = record.get("scores") or [], record.get("truth")
    split = split_by_truth(scores, truth)
    groups = [(numbers(record.get("clean_entropies")), "clean reference images", REFERENCE_COLOR)]
    groups += ([(split[0], "clean inputs", CLEAN_COLOR), (split[1], "triggered inputs", POISON_COLOR)] if split
               else [(numbers(scores), "inputs", CLEAN_COLOR)])
    frr = record.get("frr")
    label = "boundary" + (f" (FRR {100 * frr:g}%)" if isinstance(frr, (int, float)) else "")
    histogram(ax, groups, record.get("threshold"), label, "entropy of the blended predictions (bits, normalised)")
    rates = rates_text(record)
    ax.set_title(f"{record.get('detector', 'strip')}: {len(record.get('flagged') or [])} of "
                 f"{record.get('size', len(scores))} inputs flagged (below the boundary)"
                 + (f" ({rates})" if rates else ""), fontsize=10)


def classes_panel(ax, record: dict) -> None:
    """Neural Cleanse: the reversed trigger's mask L1 norm per class, its anomaly index above the bar, the
    flagged classes red, the true target's tick marked; the median norm dashed."""
    classes = list(record.get("classes") or range(record.get("size", 0)))
    norms = record.get("norms") or [None] * len(classes)
    indices = record.get("anomaly_index") or record.get("scores") or [None] * len(classes)
    truth = record.get("truth")
    targets = {value for value, flag in zip(classes, truth) if flag} if truth and len(truth) == len(classes) else set()
    notes = ["" if index is None else f"{index:.1f}" for index in indices]
    bars(ax, classes, norms, set(record.get("flagged_classes") or []), "mask L1 norm", notes, targets)
    finite = numbers(norms)
    if finite.size:
        ax.axhline(float(np.median(finite)), color="black", linestyle="--", linewidth=1.0, label="median norm")
        ax.legend(loc="upper right", fontsize=8)
    threshold = record.get("threshold")
    rule = f", index > {threshold:g} and below the median" if isinstance(threshold, (int, float)) else ""
    ax.set_title(f"{record.get('detector', 'neural-cleanse')}: reversed trigger size per class\n(above the bars: "
                 f"anomaly index; red: flagged{rule})", fontsize=10)


def save_detection_figure(folder, record: dict) -> Path | None:
    """RUN/detect/NAME/scores.png from a detection record (detection.json); None, writing nothing, for a record
    without scores.

    Rows of a training set: the scores' histogram split by the truth (or unsplit), the threshold when there is
    one, and beside it the detector's per-class figures where it has them (spectral signatures: flagged rows per
    class; activation clustering: the smaller cluster's share and the silhouette). Inputs (STRIP): the entropy
    histograms and the boundary. Classes (Neural Cleanse): the norms per class with their anomaly indices.
    """
    if not record.get("scores"):
        return None
    if record.get("kind") == "classes":
        fig, axes = _figure(size=(7.5, 4.0))
        classes_panel(axes[0, 0], record)
    elif record.get("judged") == "inputs":
        fig, axes = _figure(size=(7.5, 4.0))
        inputs_panel(axes[0, 0], record)
    else:
        panel = CLASS_PANELS.get(record.get("method"))
        fig, axes = _figure(1, 2 if panel else 1, size=(13.0, 4.2) if panel else (7.5, 4.0))
        rows_panel(axes[0, 0], record)
        if panel:
            panel(axes[0, 1], record)
    return _save(fig, Path(folder) / SCORES)


def save_flip_curve(clean_accuracy: float, flipped: dict[float, float], path) -> Path:
    """Availability poisoning by label flipping (the audit's availability cell): the held-out accuracy of the
    recipe retrained with each share of its training labels flipped, beside the model's own accuracy (dashed)."""
    rates = sorted(flipped)
    fig, axes = _figure(size=(6.0, 3.6))
    ax = axes[0, 0]
    ax.plot([0.0, *rates], [clean_accuracy, *(flipped[rate] for rate in rates)], marker="o", color="tab:red",
            label="recipe retrained on flipped labels")
    ax.axhline(clean_accuracy, color="black", linestyle="--", linewidth=1.0, label="the model as trained")
    ax.set_xticks([0.0, *rates])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0%}"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0%}"))
    ax.set_xlabel("training labels flipped at random")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title("availability: accuracy under label flipping", fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    return _save(fig, path)


__all__ = ["EXAMPLES", "SCORES", "TRIGGER", "TRIGGERED", "save_captioned_grid", "save_detection_figure",
           "save_examples", "save_flip_curve", "save_poison_figures", "save_trigger", "save_triggered"]
