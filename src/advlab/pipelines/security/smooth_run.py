"""`advlab defend smooth RUN`: certify a classifier run's held-out images by randomized smoothing.

The smoothed classifier of Cohen, Rosenfeld & Kolter 2019 (``advlab.defenses.smoothing``) around the
model of the run (``advlab.defenses.load_model``: its classifier, behind its input transformation for a
defended run) runs CERTIFY (and, with ``predict``, PREDICT) on the first ``n_images`` images of the
run's held-out split (``held_out_split``). Each image gets its own noise stream, seeded by (seed,
index), so the first k results do not depend on how many images follow. The run writes::

    RUN/smoothing/sigma-S/certify.json           options, one record per image (label, prediction or -1 =
                                                 abstain, radius, correct, counts, seconds) and the summary
                                                 (clean accuracy of f, accuracy of g, abstains, certified
                                                 accuracy at radii 0, 0.25, 0.5, ...)
    RUN/smoothing/sigma-S/certify.md             the certified-accuracy table
    RUN/smoothing/sigma-S/certified_accuracy.png certified accuracy vs L2 radius (the paper's Figure), one
                                                 curve per sigma certified on this run so far
    RUN/smoothing/certified_accuracy.png         the same figure, kept up to date across sigmas

An existing ``sigma-S`` is never replaced silently: the next free ``sigma-S-2``, ``sigma-S-3``, ... is
used, and ``overwrite`` replaces ``sigma-S`` itself. Certified accuracy at radius r is the share of images
that CERTIFY classifies correctly with a radius of at least r (abstains count as wrong), as in the paper.

Under torchrun the images are cut into chunks of ``chunk_size`` (default: all of them) dealt round robin to the
ranks; every image keeps its own (seed, index) stream, the records are gathered in image order and rank 0 alone
writes, so N processes certify exactly what one does.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn
from tqdm import tqdm

from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.checks import check_int
from advlab.core.devices import resolve_device
from advlab.core.distributed import Distributed, context
from advlab.core.errors import AdvlabError
from advlab.defenses.preprocessed import load_model, read_defense
from advlab.defenses.smoothing import (
    ABSTAIN,
    SmoothedClassifier,
    check_alpha,
    check_certify_samples,
    check_predict_samples,
    check_sigma,
    max_radius,
)
from advlab.pipelines.chunks import map_seeded_chunks, note_idle_ranks
from advlab.pipelines.train_classifier import accuracy, held_out_split

RESULT_FILE = "certify.json"
TABLE_FILE = "certify.md"
PLOT_FILE = "certified_accuracy.png"
RADIUS_STEP = 0.25  # the table's radii: 0, 0.25, 0.5, ... (at least up to 1)
PLOT_POINTS = 400


@dataclass(frozen=True)
class SmoothRunConfig:
    """Randomized-smoothing certification of a classifier run.

    Args:
        run: the classifier run directory (plain or defended).
        sigma: noise level of the smoothed classifier (> 0), in pixel units of [0, 1] images.
        n: noise samples that estimate p_A in CERTIFY (and that PREDICT uses).
        n0: noise samples that select the top class in CERTIFY.
        alpha: failure probability of each certificate, in (0, 1).
        batch: noisy copies per forward pass.
        n_images: certify the first n_images held-out images (all of them when there are fewer).
        seed: seeds the noise (each image's stream is seeded by seed and its index).
        chunk_size: images per chunk, one chunk per rank at a time under torchrun (None: all in one chunk).
        predict: run PREDICT too, and report its accuracy and abstains.
        device: auto, cpu, cuda or cuda:N.
        threads: torch CPU threads (None: torch's default).
        overwrite: replace RUN/smoothing/sigma-S instead of writing sigma-S-2, ...
        progress: a progress bar over the images.
    """

    run: str
    sigma: float = 0.25
    n: int = 10000
    n0: int = 100
    alpha: float = 0.001
    batch: int = 1000
    n_images: int = 500
    seed: int = 0
    chunk_size: int | None = None
    predict: bool = False
    device: str = "auto"
    threads: int | None = None
    overwrite: bool = False
    progress: bool = True

    def validate(self) -> None:
        check_sigma(self.sigma)
        check_alpha(self.alpha)
        check_int("n0", self.n0, 1)
        check_certify_samples(self.n, self.alpha)
        if self.predict:
            check_predict_samples(self.n, self.alpha)
        check_int("batch", self.batch, 1)
        check_int("n-images", self.n_images, 1)
        check_int("seed", self.seed, 0)
        if self.chunk_size is not None:
            check_int("chunk-size", self.chunk_size, 1)
        if self.threads is not None:
            check_int("threads", self.threads, 1)


# ---------------------------------------------------------------------- certifying images


def base_noise_note(run: str | Path, sigma: float) -> str | None:
    """A warning when the base classifier was not trained with Gaussian noise of the certified sigma (Cohen et al.
    2019, sec. 3.2, train f on x + N(0, sigma^2 I): a classifier never shown noise is certified at small radii)."""
    path = Path(run) / "summary.json"
    summary = json.loads(path.read_text()) if path.exists() else {}
    if summary.get("defense") != "noise":
        return (f"the base classifier was not trained with Gaussian noise; Cohen et al. train it with noise of the "
                f"certified sigma (advlab defend noise RUN --sigma {sigma:g}), which certifies far larger radii")
    trained = summary.get("defense_options", {}).get("sigma")
    if trained is not None and not math.isclose(trained, sigma):
        return f"the base classifier was trained with noise sigma {trained:g}, not the certified sigma {sigma:g}"
    return None


def image_seed(seed: int, index: int) -> int:
    """The noise seed of image `index`: a hash of (seed, index)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0] >> 1)


def certify_images(smoothed: SmoothedClassifier, images: Tensor, labels: Tensor, n0: int, n: int, alpha: float,
                   batch: int, seed: int = 0, predict: bool = False, progress: bool = True,
                   first: int = 0) -> list[dict]:
    """One record per image: label, CERTIFY's prediction (ABSTAIN = -1) and radius, counts, seconds, and
    PREDICT's answer when `predict`. The images are images first, first + 1, ... of a larger set: image i's noise
    is seeded by (seed, i)."""
    records = []
    bar = tqdm(range(first, first + len(images)), disable=not progress, unit="image",
               desc=f"certify sigma {smoothed.sigma:g}", dynamic_ncols=True, file=sys.stderr)
    certified = 0
    for index in bar:
        start = time.perf_counter()
        smoothed.reseed(image_seed(seed, index))
        certificate = smoothed.certify(images[index - first], n0, n, alpha, batch)
        label = int(labels[index - first])
        record = {"index": index, "label": label, "prediction": certificate.prediction,
                  "radius": certificate.radius, "correct": certificate.prediction == label,
                  "p_lower": certificate.p_lower, "selected": certificate.selected,
                  "selection_counts": certificate.selection_counts.tolist(), "counts": certificate.counts.tolist()}
        if predict:
            answer = smoothed.predict(images[index - first], n, alpha, batch)
            record.update(predict=answer.prediction, predict_p_value=answer.p_value,
                          predict_counts=answer.counts.tolist())
        record["seconds"] = round(time.perf_counter() - start, 4)
        records.append(record)
        certified += record["correct"]
        bar.set_postfix(certified=f"{certified}/{index + 1 - first}", refresh=False)
    bar.close()
    return records


def certify_chunks(ctx: Distributed, smoothed: SmoothedClassifier, images: Tensor, labels: Tensor,
                   config: SmoothRunConfig, device: torch.device) -> list[dict]:
    """certify_images on chunks of ``config.chunk_size`` images, each chunk on one rank of `ctx`; every record on
    every rank, in image order."""
    size = config.chunk_size or max(len(images), 1)
    note_idle_ranks(ctx, len(images), size, "--chunk-size")

    def certify_chunk(rows: slice, _index: int) -> list[dict]:
        return certify_images(smoothed, images[rows], labels[rows], config.n0, config.n, config.alpha, config.batch,
                              config.seed, config.predict, config.progress and ctx.is_main, first=rows.start)

    chunks = map_seeded_chunks(ctx, certify_chunk, len(images), size, config.seed, device)
    return [record for chunk in chunks for record in chunk]


def certified_accuracy(records: list[dict], radius: float) -> float:
    """Share of images classified correctly by CERTIFY with a radius of at least `radius` (abstains are wrong)."""
    return sum(r["correct"] and r["radius"] >= radius for r in records) / len(records)


def radius_grid(sigma: float, n: int, alpha: float) -> list[float]:
    """0, 0.25, 0.5, ... up to the largest certifiable radius (at least up to 1)."""
    top = max(1.0, math.ceil(max_radius(sigma, n, alpha) / RADIUS_STEP) * RADIUS_STEP)
    return [round(k * RADIUS_STEP, 10) for k in range(int(round(top / RADIUS_STEP)) + 1)]


def summarize(records: list[dict], sigma: float, n: int, alpha: float, clean_accuracy: float | None = None) -> dict:
    """The figures of one certification: accuracies, abstains, certified accuracy per radius."""
    total = len(records)
    abstains = sum(r["prediction"] == ABSTAIN for r in records)
    plurality = sum(int(np.argmax(r["counts"])) == r["label"] for r in records)
    correct_radii = [r["radius"] for r in records if r["correct"]]
    summary = {
        "images": total, "clean_accuracy": clean_accuracy,
        "smoothed_accuracy": plurality / total,  # g's Monte Carlo vote over the n samples, no abstaining
        "abstains": abstains, "certified_wrong": total - abstains - len(correct_radii),
        "max_radius": max_radius(sigma, n, alpha),
        "mean_certified_radius": float(np.mean(correct_radii)) if correct_radii else 0.0,
        "certified_accuracy": {f"{r:g}": certified_accuracy(records, r) for r in radius_grid(sigma, n, alpha)},
    }
    if records and "predict" in records[0]:
        summary["predict_accuracy"] = sum(r["predict"] == r["label"] for r in records) / total
        summary["predict_abstains"] = sum(r["predict"] == ABSTAIN for r in records)
    return summary


# ---------------------------------------------------------------------- the run


def smooth_run(config: SmoothRunConfig) -> Path:
    """Certify the run's held-out images as `config` says; returns the sigma directory it wrote (under torchrun:
    that rank 0 wrote, every rank returning once it has)."""
    config.validate()
    ctx = context(config.device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = ctx.device(config.device)
    model = load_model(config.run, device)
    images, labels = held_out_split(config.run)
    images, labels = images[:config.n_images], labels[:config.n_images]
    out = output_dir(config)  # checked before the long part, created after it
    smoothed = SmoothedClassifier(model, config.sigma, config.seed)
    start = time.perf_counter()
    records = certify_chunks(ctx, smoothed, images, labels, config, device)
    seconds = time.perf_counter() - start
    clean = accuracy(model, images.to(device), labels.to(device))
    summary = {**summarize(records, config.sigma, config.n, config.alpha, clean), "seconds": round(seconds, 2)}
    if (note := base_noise_note(config.run, config.sigma)) is not None:
        summary["note"] = note
    if ctx.is_main:
        make_output_dir(out, config.overwrite)
        write_outputs(out, config, model, summary, records, asked_images=config.n_images)
    ctx.barrier()
    return out


def output_dir(config: SmoothRunConfig) -> Path:
    """RUN/smoothing/sigma-S, or the next free sigma-S-2, ... (overwrite: sigma-S itself); checks only."""
    parent = Path(config.run) / "smoothing"
    if parent.exists() and not parent.is_dir():
        raise AdvlabError(f"{parent} is a file, not a directory; move it away to certify this run")
    base = parent / f"sigma-{config.sigma:g}"
    if config.overwrite:
        if base.exists() and (not base.is_dir() or (any(base.iterdir()) and not (base / RESULT_FILE).is_file())):
            raise AdvlabError(f"{base} holds no certification ({RESULT_FILE}); refusing to overwrite it")
        return base
    out, number = base, 1
    while out.exists():
        number += 1
        out = parent / f"{base.name}-{number}"
    return out


def make_output_dir(out: Path, overwrite: bool) -> None:
    if overwrite and out.is_dir():
        shutil.rmtree(out)
    out.mkdir(parents=True)


def write_outputs(out: Path, config: SmoothRunConfig, model: nn.Module, summary: dict, records: list[dict],
                  asked_images: int) -> None:
    """certify.md, the plots and, last, certify.json."""
    options = {key: value for key, value in dataclasses.asdict(config).items() if key not in ("run", "progress")}
    record = {
        "method": "randomized smoothing, CERTIFY (Cohen, Rosenfeld & Kolter 2019)",
        "run": str(Path(config.run).resolve()), "model": type(model).__name__, "defense": read_defense(config.run),
        "options": {**options, "device": str(resolve_device(config.device))},
        "images": {"source": "held-out split", "n": len(records), "asked": asked_images},
        "abstain": ABSTAIN, "summary": summary, "per_image": records,
    }
    (out / TABLE_FILE).write_text(markdown_table(record), encoding="utf-8")
    atomic_write_bytes(out / RESULT_FILE, json.dumps(record, indent=1).encode())
    curves = read_certifications(Path(config.run) / "smoothing")
    plot_certified_accuracy(curves, out / PLOT_FILE, highlight=out.name)
    plot_certified_accuracy(curves, out.parent / PLOT_FILE)


# ---------------------------------------------------------------------- table and figure


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def markdown_table(record: dict) -> str:
    """The certified-accuracy table of one certify.json record, with its settings and accuracies."""
    options, summary = record["options"], record["summary"]
    lines = [f"Randomized smoothing (Cohen et al. 2019): sigma {options['sigma']:g}, n0 {options['n0']}, "
             f"n {options['n']}, alpha {options['alpha']:g}, {summary['images']} held-out images", "",
             "| L2 radius | certified accuracy |", "|---:|---:|"]
    lines += [f"| {radius} | {percent(value)} |" for radius, value in summary["certified_accuracy"].items()]
    lines += [f"\n**Note: {summary['note']}.**"] if summary.get("note") else []
    lines += ["", f"- clean accuracy of the base classifier f: {percent(summary['clean_accuracy'])}",
              f"- accuracy of g's vote over the n samples (no abstaining): {percent(summary['smoothed_accuracy'])}",
              f"- CERTIFY abstained on {summary['abstains']} of {summary['images']} images and certified a wrong "
              f"class on {summary['certified_wrong']}",
              f"- largest radius n and alpha allow: {summary['max_radius']:.3f}"]
    if "predict_accuracy" in summary:
        lines.append(f"- PREDICT: accuracy {percent(summary['predict_accuracy'])}, abstained on "
                     f"{summary['predict_abstains']} of {summary['images']}")
    return "\n".join(lines) + "\n"


def read_certifications(smoothing_dir: Path) -> list[dict]:
    """The certify.json records under RUN/smoothing, ordered by sigma, each with its directory name."""
    found = []
    for path in sorted(smoothing_dir.glob(f"*/{RESULT_FILE}")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if is_certification(record):
            found.append({**record, "name": path.parent.name})
    return sorted(found, key=lambda r: (r["options"]["sigma"], r["name"]))


def is_certification(record) -> bool:
    """A certify.json record this module wrote (a damaged or foreign one is left out of the figure)."""
    return (isinstance(record, dict) and isinstance(record.get("per_image"), list)
            and isinstance(record.get("options"), dict) and isinstance(record["options"].get("sigma"), (int, float))
            and isinstance(record.get("summary"), dict) and "max_radius" in record["summary"])


def plot_certified_accuracy(records: list[dict], path: Path, highlight: str | None = None) -> Path:
    """Certified accuracy vs L2 radius, one curve per certification, as in the paper's figures."""
    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    axes = figure.subplots()
    sigmas = [r["options"]["sigma"] for r in records]
    top = max([r["summary"]["max_radius"] for r in records] + [1.0]) * 1.05
    radii = np.linspace(0.0, top, PLOT_POINTS)
    for record in records:
        options = record["options"]
        label = f"σ = {options['sigma']:g}"
        if sigmas.count(options["sigma"]) > 1:
            label += f" ({record['name']}, n {options['n']})"
        values = [certified_accuracy(record["per_image"], r) for r in radii]
        width = 2.4 if record["name"] == highlight else 1.6
        line, = axes.plot(radii, values, linewidth=width, label=label)
        axes.axvline(record["summary"]["max_radius"], color=line.get_color(), linestyle=":", linewidth=1)
    settings = {(r["options"]["n"], r["options"]["alpha"], r["summary"]["images"]) for r in records}
    subtitle = "dotted: largest certifiable radius"
    if len(settings) == 1:
        n, alpha, images = settings.pop()
        subtitle = f"n {n}, alpha {alpha:g}, {images} images; {subtitle}"
    axes.set(xlabel="L2 radius", ylabel="certified accuracy", ylim=(0, 1.02), xlim=(0, top),
             title=f"Randomized smoothing: certified accuracy\n({subtitle})")
    axes.title.set_fontsize(10)
    axes.grid(alpha=0.3)
    if records:
        axes.legend(loc="best", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, format="png")
    return path


__all__ = ["SmoothRunConfig", "certified_accuracy", "certify_images", "markdown_table", "plot_certified_accuracy",
           "smooth_run", "summarize"]
