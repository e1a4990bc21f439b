"""`advlab gan evaluate`: the metric suite on a trained run, written into the run directory.

    RUN/eval/eval.json              the figures, the settings (n, features, seed, step) and, per metric, extras:
                                    mode counts and the birthday estimates with their batch sizes and duplicates;
                                    "convergence": each loss's oscillation (amplitude, period, trend) and its
                                    Spearman correlation with FID across the training evaluations
    RUN/eval/quality.png            FID/KID and precision/recall/density/coverage over the training evaluations
    RUN/eval/precision_recall.png   precision vs recall, this evaluation and the ones during training
    RUN/eval/modes.png              samples per mode
    RUN/eval/birthday_pairs*.png    the closest generated pairs, for a person to judge (pixel, feature space)

The run's report (report.html/.md) shows all of it in an "Evaluation" section. Under torchrun every rank
computes its share of the features (pipelines/gan/evaluate_gan.py) and the same figures; rank 0 alone writes.
"""

from __future__ import annotations

import json
from pathlib import Path

from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.distributed import context
from advlab.core.errors import AdvlabError
from advlab.core.runs import clean
from advlab.metrics.oscillation import convergence_vs_quality
from advlab.pipelines.gan.evaluate_gan import Evaluation, Evaluator, parse_metrics
from advlab.pipelines.gan.gan_snapshots import draw
from advlab.pipelines.gan.sample_gan import load_trained
from advlab.reports.eval_plots import (
    plot_mode_histogram,
    plot_precision_recall,
    plot_quality_over_steps,
    precision_recall_points,
)
from advlab.reports.grids import save_pair_grid
from advlab.reports.render import read_metrics, write_report

IMAGE_METRICS = ("fid", "kid", "is", "prdc", "modes")
POINT_METRICS = ("fid", "kid", "prdc", "modes")
EVAL_FOLDER = "eval"


def default_metrics(kind: str) -> tuple[str, ...]:
    """Everything but the (slow) birthday estimate; no inception score for 2-D points."""
    return IMAGE_METRICS if kind == "images" else POINT_METRICS


def evaluate_run(path: str | Path, metrics: str | tuple[str, ...] | None = None, n: int = 5000,
                 features: str = "auto", seed: int = 0, device: str = "auto", progress: bool = True,
                 report: bool = True) -> tuple[Path, dict]:
    """Evaluate the run (or checkpoint) at `path`; returns (eval.json path, its content).

    Under torchrun every rank returns the same figures, once rank 0 has written them."""
    if n < 1:
        raise AdvlabError(f"--n must be positive, got {n}")
    ctx = context(device)
    run_dir, trainer = load_trained(path, str(ctx.device(device)))
    chosen = parse_metrics(metrics) if metrics else default_metrics(trainer.data.kind)
    evaluator = Evaluator(trainer.data, chosen, n, features, seed, trainer.sampler.device, progress and ctx.is_main,
                          ctx)
    result = evaluator.evaluate(lambda count, draw_seed: draw(trainer, count, draw_seed))
    folder = Path(run_dir) / EVAL_FOLDER
    records = read_metrics(run_dir)
    content = {"step": trainer.step, "n": n, "real_samples": len(evaluator.real), "features": evaluator.feature_spec,
               "seed": seed, "metrics": list(chosen),
               "figures": {key: clean(value) for key, value in result.figures.items()},
               "mode_counts": list(result.mode_counts) if result.mode_counts else None,
               "birthday": {space: birthday_record(found) for space, found in result.birthday.items()},
               "convergence": convergence_vs_quality(records)}
    target = folder / "eval.json"
    if ctx.is_main:
        folder.mkdir(exist_ok=True)
        content["plots"] = write_plots(records, folder, result)
        atomic_write_bytes(target, json.dumps(content, indent=1).encode())
        if report:
            write_report(run_dir)
    ctx.barrier()
    return target, content


def birthday_record(found) -> dict:
    """The JSON-able part of a birthday estimate (the pairs themselves go to a PNG)."""
    return {"support": clean(found.support), "low": clean(found.low),
            "high": clean(found.high), "rule_of_thumb": found.rule_of_thumb,
            "threshold": found.threshold, "batch_sizes": list(found.batch_sizes), "trials": found.trials,
            "duplicates": list(found.duplicates), "median_closest": list(found.median_closest)}


def write_plots(records: list[dict], folder: Path, result: Evaluation) -> dict[str, str]:
    """The evaluation's pictures, next to the run's metrics.jsonl `records`; returns {caption: file name}."""
    written = {"quality over training": plot_quality_over_steps(records, folder / "quality.png")}
    figures = result.figures
    if "precision" in figures:
        points = [*precision_recall_points(records), ("this evaluation", figures["precision"], figures["recall"])]
        written["precision vs recall"] = plot_precision_recall(points, folder / "precision_recall.png",
                                                               connect=len(points) > 2)
    if result.mode_counts:
        written["samples per mode"] = plot_mode_histogram(result.mode_counts, folder / "modes.png")
    for space, found in result.birthday.items():
        if found.closest_pairs.first.ndim == 4:
            name = "birthday_pairs.png" if space == "pixel" else f"birthday_pairs_{space}.png"
            written[f"closest pairs ({space} space)"] = save_pair_grid(found.closest_pairs.first,
                                                                           found.closest_pairs.second, folder / name)
    return {caption: Path(path).name for caption, path in written.items() if path is not None}
