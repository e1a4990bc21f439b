"""pix2pix's loss ablation (Isola et al. 2017, Table 1) on the built-in "shapes" set, scored by a segmenter.

Issue 19 part 6. The paper trains labels -> photo on Cityscapes with three objectives -- L1 alone, the conditional
GAN alone, and L1 + cGAN (eq. 4, lambda 100) -- and scores the generated photos by how well an FCN trained on real
photos recovers the input labels from them (the FCN-score, sec. 4.2). Here, on advlab's analogue (label maps of 5
classes -> textured scenes, advlab.data.paired_sets "shapes", 32 x 32 px, nothing downloaded), for each seed of
``--seeds``:

* the **segmenter** (advlab.metrics.segmentation_score.train_segmenter: a small dilated FCN, seeded, on the training
  scenes) scores the real held-out scenes: the ceiling, the paper's "ground truth" row;
* **pix2pix** is trained three times, ``--objective l1``, ``cgan`` and ``l1+cgan``, with the same budget (``--steps``
  iterations, minibatch ``--batch-size``, width ``--width``: U-Net and 70 x 70 PatchGAN channels), the same seed and
  data, each in its own process: ``train_translation(TranslateTrainConfig(game="pix2pix", data="shapes", ...))``, the
  pipeline ``advlab translate train pix2pix`` runs (one torch thread, CPU, no report). From each run's own records:
  s/step = summary.json ``seconds`` (the training loop's clock) / steps, held-out L1, PSNR and SSIM (summary.json,
  computed by the pipeline on the 100 held-out pairs), and the process's peak RSS (VmHWM of the training process
  at its end, beside the same figure right after its imports; see child_code);
* **apply**: ``translate_apply(RUN, INPUTS, OUT)`` -- what ``advlab translate apply`` runs -- translates the held-out
  label maps, written as PNG files, in this process on one thread (the paper's test-time protocol: dropout on, each
  image's own batch statistics; torch seeded with the seed first); images/s is Applied.images_per_second
  (generation only, reading and writing excluded). The written 8-bit PNG scenes are read back and scored by the
  segmenter against the label maps they came from: pixel accuracy, class accuracy, mean IoU.

The page states the paper's finding (L1 + cGAN above L1 alone, and above cGAN alone, on the FCN-score) beside
advlab's figures and says, for each, whether they reproduce it, seed by seed and on the mean over seeds. The
picture shows input | L1 | cGAN | L1+cGAN | target on the same held-out examples (the first seed's runs).

    python bench/translation.py              # seeds 0,1,2, 2,000 steps each: see the page's total time
    python bench/translation.py --quick      # a smoke run (tiny networks, 20 steps, one seed)
    python bench/translation.py --work runs/bench-p2p   # keep the runs; a finished run of the same config is reused
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from benchlib import Check  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "results" / "translation.md"
OBJECTIVES = ("l1", "cgan", "l1+cgan")
TITLES = {"l1": "L1", "cgan": "cGAN", "l1+cgan": "L1+cGAN"}
FULL = {"steps": 2000, "batch_size": 4, "width": 16, "segmenter_steps": 400, "seeds": "0,1,2", "image_size": 32}
QUICK = {"steps": 20, "batch_size": 4, "width": 8, "segmenter_steps": 20, "seeds": "0", "image_size": 16}
PICTURE_ROWS = 8
# the "real scenes, blurred" reference row: 1 px for shapes; on materials 1.5 px takes the texture (and the class) away
BLUR_SIGMA = {"shapes": 1.0, "materials": 1.5}
# Isola et al. 2017 (CVPR; arXiv 1611.07004v3), Table 1: FCN-scores on Cityscapes labels -> photo
PAPER = {"l1": (0.42, 0.15, 0.11), "cgan": (0.57, 0.22, 0.16), "l1+cgan": (0.66, 0.23, 0.17),
         "ground truth": (0.80, 0.26, 0.21)}
SCORES = ("pixel_accuracy", "class_accuracy", "mean_iou")



def child_code(function: str) -> str:
    """A training process: ``advlab.pipelines.translation.<function>`` (train_translation or train_superres) on the
    config given as JSON in argv[1] (TranslateTrainConfig or SuperresTrainConfig), then one JSON line: its peak RSS
    in kB after the imports and at the end, and the call's wall seconds.

    The peak is Linux's VmHWM (/proc/self/status), the high-water mark of this process's own memory since its exec;
    ru_maxrss would not do: Linux carries the parent's resident set at the fork over into the child's ru_maxrss,
    so every training would report at least the bench's own memory. Elsewhere ru_maxrss is the fallback."""
    config_class = {"train_translation": "TranslateTrainConfig", "train_superres": "SuperresTrainConfig"}[function]
    return f"""\
import json, resource, sys, time
from advlab.core.config import from_mapping
from advlab.pipelines.translation.configs import {config_class}
from advlab.pipelines.translation.{function} import {function}
def peak_kb():
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
imported = peak_kb()
config = from_mapping({config_class}, json.loads(sys.argv[1]))
start = time.perf_counter()
{function}(config, overwrite=True, progress=False, report=False)
wall = time.perf_counter() - start
peak = peak_kb()
print(json.dumps({{"peak_rss_kb": peak, "imports_rss_kb": imported, "wall": wall}}))
"""


# ---------------------------------------------------------------------------------- one training in its own process


def run_child(code: str, config: dict, record: Path, timeout: float) -> dict:
    """Run the training `code` (python -c) on `config` in a fresh process with one OpenMP thread; its last stdout
    line (JSON: peak and imports RSS in kB, wall seconds) is written to `record` and returned. A failed process
    raises RuntimeError with the last line of its stderr."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    try:
        done = subprocess.run([sys.executable, "-c", code, json.dumps(config)], capture_output=True, text=True,
                              env=environment, cwd=ROOT, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"training ran past --timeout {timeout:g} s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise RuntimeError(f"training exited {done.returncode}: {lines[-1] if lines else 'no message'}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    record.write_text(json.dumps({"config": config, **result}, indent=1))
    return result


def reusable(record: Path, run: Path, config: dict) -> dict | None:
    """The stored process record of a finished run made with exactly `config` (under --work), else None."""
    if not (record.is_file() and (run / "summary.json").is_file()):
        return None
    stored = json.loads(record.read_text())
    return stored if stored.get("config") == config else None


def train(function: str, config: dict, run: Path, timeout: float) -> tuple[dict, bool]:
    """(the process record, whether it was reused) of the run `config` describes, trained in `run` by `function`
    (train_translation or train_superres) in its own process."""
    record = run.parent / f"{run.name}.process.json"
    stored = reusable(record, run, config)
    if stored is not None:
        return stored, True
    run.parent.mkdir(parents=True, exist_ok=True)
    return run_child(child_code(function), config, record, timeout), False


# ---------------------------------------------------------------------------------- the measurements


@dataclass
class Measured:
    """One objective at one seed: its run's records, its apply call and its task score."""

    objective: str
    seed: int
    run: Path
    steps: int = 0
    loop: float | None = None  # summary.json seconds
    held_out: dict = field(default_factory=dict)  # held_out_l1, held_out_psnr, held_out_ssim
    peak_mb: float | None = None
    imports_mb: float | None = None
    reused: bool = False
    apply_rate: float | None = None
    score: dict = field(default_factory=dict)
    error: str | None = None

    @property
    def seconds_per_step(self) -> float | None:
        return self.loop / self.steps if self.loop is not None and self.steps else None


def run_config(args: argparse.Namespace, objective: str, seed: int, out: Path) -> dict:
    """The TranslateTrainConfig values of one ablation run (every run of a seed differs in `objective` alone)."""
    return {"game": "pix2pix", "data": args.data, "objective": objective, "steps": args.steps,
            "batch_size": args.batch_size, "width": args.width, "image_size": args.image_size, "seed": seed,
            "device": args.device, "threads": 1, "log_every": max(args.steps // 20, 1),
            "sample_every": args.steps, "checkpoint_every": args.steps, "keep_checkpoints": 1,
            "tensorboard": False, "out": str(out)}


def held_out_inputs(data, folder: Path) -> list[Path]:
    """The held-out label maps written as PNG files (what a user hands `advlab translate apply`), in order."""
    from advlab.data.image_folder import write_image

    folder.mkdir(parents=True, exist_ok=True)
    return [write_image(image, folder / f"{index:03d}.png") for index, image in enumerate(data.held_out.a)]


def read_outputs(files: list[Path]):
    """The applied PNG scenes as one (N, 3, H, W) tensor in [0, 1], in the order of the inputs' names."""
    import torch

    from advlab.data.image_folder import read_image

    return torch.stack([read_image(path, 3) for path in sorted(files)])


def measure_objective(args: argparse.Namespace, objective: str, seed: int, folder: Path, inputs: Path,
                      data, segmenter) -> Measured:
    """Train (or reuse), apply to the held-out inputs and score one objective at one seed."""
    import torch

    from advlab.metrics.segmentation_score import segmentation_score
    from advlab.pipelines.translation.apply import translate_apply

    run = folder / "runs" / objective
    measured = Measured(objective, seed, run)
    try:
        process, measured.reused = train("train_translation", run_config(args, objective, seed, run), run,
                                         args.timeout)
    except RuntimeError as error:
        measured.error = str(error)
        return measured
    summary = json.loads((run / "summary.json").read_text())
    measured.steps, measured.loop = int(summary["step"]), float(summary["seconds"])
    measured.held_out = {key: summary[key] for key in ("held_out_l1", "held_out_psnr", "held_out_ssim")}
    measured.peak_mb, measured.imports_mb = process["peak_rss_kb"] / 1024, process["imports_rss_kb"] / 1024
    torch.manual_seed(seed)
    applied = translate_apply(run, inputs, folder / "applied" / objective, device=args.device, progress=False)
    measured.apply_rate = applied.images_per_second
    scored = segmentation_score(segmenter, read_outputs(applied.files), data.held_out.a)
    measured.score = scored.as_dict()
    return measured


@dataclass
class SeedResult:
    """Everything measured at one seed: the segmenter's ceiling and each objective."""

    seed: int
    ceiling: dict
    blurred: dict
    segmenter_seconds: float
    train_pairs: int
    runs: dict[str, Measured]


def measure_seed(args: argparse.Namespace, seed: int, phases: Phases) -> SeedResult:
    import time

    from advlab.data.paired_sets import load_paired
    from advlab.metrics.segmentation_score import segmentation_score, train_segmenter

    folder = args.folder / f"seed-{seed}"
    data = phases.run(f"seed {seed}: make the {args.data} set", load_paired, args.data, args.image_size, "AtoB", 0.1,
                      seed)
    inputs = folder / "held_out" / "inputs"
    held_out_inputs(data, inputs)
    start = time.perf_counter()
    segmenter = phases.run(f"seed {seed}: train the segmenter", train_segmenter, data, seed, args.segmenter_steps)
    segmenter_seconds = time.perf_counter() - start
    runs = {}
    for objective in OBJECTIVES:
        runs[objective] = phases.run(f"seed {seed}: {TITLES[objective]} (train, apply, score)", measure_objective,
                                     args, objective, seed, folder, inputs, data, segmenter)
        done = runs[objective]
        say(f"seed {seed} {objective}: " + (f"FAILED {done.error}" if done.error else
                                            f"mean IoU {done.score['mean_iou']:.3f}, {done.seconds_per_step:.3f} s/step"
                                            + (" (reused)" if done.reused else "")))
    blurred = segmentation_score(segmenter, blur(data.held_out.b, BLUR_SIGMA[args.data]), data.held_out.a).as_dict()
    return SeedResult(seed, segmenter.ceiling.as_dict(), blurred, segmenter_seconds, len(data.a), runs)


def blur(images, sigma: float):
    """(N, C, H, W) images under a Gaussian blur of `sigma` pixels (reflected borders)."""
    import numpy as np
    import torch
    from scipy import ndimage

    blurred = ndimage.gaussian_filter(images.numpy(), sigma=(0, 0, sigma, sigma), mode="reflect")
    return torch.from_numpy(np.ascontiguousarray(blurred)).clamp(0, 1)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- findings and checks


class Phases(benchlib.Phases):
    """{phase: (wall seconds, CPU seconds of this process and of the training processes it waited for)}."""

    def run(self, phase: str, work, *arguments):
        import time

        wall, cpu = time.perf_counter(), cpu_seconds()
        value = work(*arguments)
        self[phase] = (time.perf_counter() - wall, cpu_seconds() - cpu)
        return value


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its finished children."""
    import resource

    return sum(usage.ru_utime + usage.ru_stime for usage in (resource.getrusage(resource.RUSAGE_SELF),
                                                             resource.getrusage(resource.RUSAGE_CHILDREN)))


def mean_score(results: list[SeedResult], objective: str, key: str) -> float | None:
    values = [r.runs[objective].score[key] for r in results if not r.runs[objective].error]
    return statistics.fmean(values) if values else None


def better(results: list[SeedResult], winner: str, loser: str, key: str) -> tuple[str, str]:
    """(what was measured, verdict) for "`winner` scores above `loser` on `key`": "holds" when it is above on the
    mean over seeds and at every seed, "mixed" when above on the mean only, "does not hold" otherwise."""
    pairs = [(r.seed, r.runs[winner].score[key], r.runs[loser].score[key]) for r in results
             if not r.runs[winner].error and not r.runs[loser].error]
    if not pairs:
        return "no finished pair of runs", "n/a"
    first, second = statistics.fmean(p[1] for p in pairs), statistics.fmean(p[2] for p in pairs)
    every = all(w > lo for _, w, lo in pairs)
    seeds = "; ".join(f"seed {s}: {w:.3f} vs {lo:.3f}" for s, w, lo in pairs)
    verdict = "holds" if first > second and every else "mixed" if first > second else "does not hold"
    return f"{first:.3f} vs {second:.3f}" + (f" ({seeds})" if len(pairs) > 1 else ""), verdict


FINDINGS = (("l1+cgan", "l1", "the paper: L1+cGAN 0.66 / 0.17 vs L1 0.42 / 0.11"),
            ("l1+cgan", "cgan", "the paper: L1+cGAN 0.66 / 0.17 vs cGAN 0.57 / 0.16"))
KEY_NAMES = {"pixel_accuracy": "pixel accuracy", "class_accuracy": "class accuracy", "mean_iou": "mean IoU"}


def findings(results: list[SeedResult]) -> list[Check]:
    """The paper's claims, measured: L1+cGAN above L1 and above cGAN, on pixel accuracy and on mean IoU."""
    found = []
    for winner, loser, paper in FINDINGS:
        for key in ("pixel_accuracy", "mean_iou"):
            measured, verdict = better(results, winner, loser, key)
            found.append(Check(f"{TITLES[winner]} above {TITLES[loser]} on {KEY_NAMES[key]} ({paper})", measured,
                               verdict))
    return found


def run_checks(results: list[SeedResult], args: argparse.Namespace) -> list[Check]:
    """Every run finished its steps; every apply wrote every held-out image; the real scenes' score is the ceiling
    (no generator scores above it on mean IoU)."""
    runs = [m for r in results for m in r.runs.values()]
    failed = [m for m in runs if m.error or m.steps != args.steps]
    checks = [Check("every run trained its --steps and wrote summary.json", f"{len(runs) - len(failed)} of {len(runs)}"
                    + "".join(f"; {m.objective} seed {m.seed}: {m.error or m.steps}" for m in failed),
                    "PASS" if not failed else "FAIL")]
    short = [m for m in runs if not m.error and m.score.get("images") != held_out_count(results, m.seed)]
    checks.append(Check("apply translated every held-out label map and each output was scored",
                        "all" if not short else ", ".join(f"{m.objective} seed {m.seed}" for m in short),
                        "PASS" if not short else "FAIL"))
    above = [f"{m.objective} seed {m.seed}" for r in results for m in r.runs.values()
             if not m.error and m.score["mean_iou"] > r.ceiling["mean_iou"] + 1e-12]
    checks.append(Check("the real held-out scenes score highest (the ceiling) on mean IoU",
                        "yes" if not above else "above it: " + ", ".join(above), "PASS" if not above else "FAIL"))
    return checks


def held_out_count(results: list[SeedResult], seed: int) -> int:
    return next(r.ceiling["images"] for r in results if r.seed == seed)


# ---------------------------------------------------------------------------------- the page


def number(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def result_lines(results: list[SeedResult], data: str) -> list[str]:
    """The task-score table: one row per objective and seed, a mean row per objective over several seeds, and the
    real scenes (the ceiling) per seed."""
    lines = ["| objective | seed | pixel accuracy | class accuracy | mean IoU | held-out L1 | PSNR dB | SSIM | s/step "
             "| peak RSS MB (after imports) | apply images/s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for objective in OBJECTIVES:
        for result in results:
            m = result.runs[objective]
            if m.error:
                lines.append(f"| {TITLES[objective]} | {m.seed} | {m.error} |" + " |" * 8)
                continue
            lines.append(f"| {TITLES[objective]} | {m.seed} | {number(m.score['pixel_accuracy'])} "
                         f"| {number(m.score['class_accuracy'])} | {number(m.score['mean_iou'])} "
                         f"| {number(m.held_out['held_out_l1'], 4)} | {number(m.held_out['held_out_psnr'], 2)} "
                         f"| {number(m.held_out['held_out_ssim'])} | {number(m.seconds_per_step, 4)} "
                         f"| {number(m.peak_mb, 0)} ({number(m.imports_mb, 0)}) | {number(m.apply_rate, 0)} |")
        if len(results) > 1:
            means = [mean_score(results, objective, key) for key in SCORES]
            lines.append(f"| **{TITLES[objective]}** | mean | " + " | ".join(f"**{number(v)}**" for v in means)
                         + " |" + " |" * 6)
    for title, key in (("real scenes (ceiling)", "ceiling"), (f"real scenes, blurred (sigma {BLUR_SIGMA[data]:g} px)",
                                                                "blurred")):
        for result in results:
            c = getattr(result, key)
            lines.append(f"| {title} | {result.seed} | {number(c['pixel_accuracy'])} "
                         f"| {number(c['class_accuracy'])} | {number(c['mean_iou'])} |" + " |" * 6)
    return lines


def finding_lines(found: list[Check]) -> list[str]:
    """The findings table (its own header, so that the checks table stays the page's only "| check |" table)."""
    return ["| the paper's finding | measured here | verdict |", "|---|---|---|",
            *[f"| {c.what} | {c.measured} | {c.verdict} |" for c in found]]


def paper_lines() -> list[str]:
    lines = ["| objective | per-pixel acc. | per-class acc. | class IoU |", "|---|---:|---:|---:|"]
    for name, (pixel, per_class, iou) in PAPER.items():
        lines.append(f"| {TITLES.get(name, name)} | {pixel:.2f} | {per_class:.2f} | {iou:.2f} |")
    return lines


def per_class_lines(results: list[SeedResult], data: str) -> list[str]:
    """IoU of each class, per objective (mean over seeds) and on the real scenes."""
    from advlab.data.paired_sets import label_coding

    classes = label_coding(data).classes

    def mean_iou(scores: list[dict], name: str) -> str:
        values = [s["per_class_iou"][name] for s in scores if s["per_class_iou"][name] is not None]
        return number(statistics.fmean(values)) if values else "—"

    lines = ["| objective | " + " | ".join(classes) + " |", "|---|" + "---:|" * len(classes)]
    for objective in OBJECTIVES:
        scores = [r.runs[objective].score for r in results if not r.runs[objective].error]
        lines.append(f"| {TITLES[objective]} | " + " | ".join(mean_iou(scores, n) for n in classes) + " |")
    ceilings = [r.ceiling for r in results]
    lines.append("| real scenes | " + " | ".join(mean_iou(ceilings, n) for n in classes) + " |")
    return lines


def machine_lines(info: dict) -> list[str]:
    return [f"- machine: {platform.system()} {platform.machine()}, {benchlib.cpu_model()}, {os.cpu_count()} logical "
            f"CPUs (this bench: {info['cpus']}); load average {info['load']} at the start, {info['load_end']} at the "
            "end (other work shared the cores)",
            "- versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) +
            f"; Python {platform.python_version()}",
            f"- total time: {info['seconds'] / 60:.1f} min wall"]


def summary_sentences(results: list[SeedResult], found: list[Check]) -> list[str]:
    """The headline in words: who scored highest, and whether the paper's ordering came out."""
    means = {o: mean_score(results, o, "mean_iou") for o in OBJECTIVES}
    best = max((o for o in OBJECTIVES if means[o] is not None), key=lambda o: means[o], default=None)
    lines = []
    if best is not None:
        lines.append("- mean IoU (mean over seeds): " + ", ".join(f"{TITLES[o]} {number(means[o])}" for o in OBJECTIVES)
                     + f"; the real scenes {number(statistics.fmean(r.ceiling['mean_iou'] for r in results))}. "
                     f"Highest: {TITLES[best]}.")
    lines.append(f"- the paper's main finding, L1+cGAN above L1 alone on the task score: **{found[0].verdict}** on "
                 f"pixel accuracy ({found[0].measured}) and **{found[1].verdict}** on mean IoU ({found[1].measured}).")
    lines.append(f"- L1+cGAN above cGAN alone: **{found[2].verdict}** on pixel accuracy ({found[2].measured}), "
                 f"**{found[3].verdict}** on mean IoU ({found[3].measured}).")
    return lines


def render(results: list[SeedResult], checks: list[Check], found: list[Check], info: dict,
           args: argparse.Namespace, command: str, phases: Phases, picture: str | None) -> str:
    seeds = ", ".join(str(r.seed) for r in results)
    lines = [f"# pix2pix ablation on \"{args.data}\": L1 vs cGAN vs L1+cGAN by a segmentation score (Isola et al. "
             "2017, Table 1)", "",
             f"Made by `{command}` on {info['date']}.", "", *machine_lines(info),
             f"- every run: `train_translation` (`advlab translate train pix2pix --data {args.data}`) in its own "
             "process, "
             f"CPU, one torch thread, {args.steps:,} steps at minibatch {args.batch_size}, width {args.width} (U-Net "
             f"and PatchGAN channels; the paper: 64), {args.image_size} x {args.image_size} px, Adam 2e-4 (0.5, "
             f"0.999), lambda 100; seeds {seeds} (a seed fixes the data set, the split, the initial weights and the "
             "minibatches: the three objectives of a seed share all of them)",
             f"- the task score: advlab.metrics.segmentation_score, a dilated FCN trained for {args.segmenter_steps} "
             "steps on the seed's real training scenes, applied to each run's `translate_apply` outputs on the "
             f"{held_out_count(results, results[0].seed)} held-out label maps (8-bit PNG files, as a user gets them)",
             "", "## Headline", "", *summary_sentences(results, found), "",
             "## Task score, held-out fidelity, cost", "", *result_lines(results, args.data), "",
             "Pixel accuracy, class accuracy and mean IoU of the segmenter's labelling of the generated scenes against "
             "the label maps they were generated from (one confusion matrix over all held-out pixels, FCN's "
             "conventions); the ceiling rows score the real held-out scenes, the blurred rows the same scenes under a "
             "Gaussian blur. Held-out L1 (on [0, 1] images), PSNR and SSIM (RGB, no border crop) against the real "
             "scenes are the run's summary.json. s/step: the training loop's own seconds / steps. Peak RSS: "
             "the training process's own high-water mark (VmHWM) at its end (Python, torch, the data set and the "
             "run), with the same figure right after its imports in brackets. apply images/s: `translate_apply` "
             "in this process on one thread, generation only.", "",
             "## Per-class IoU (mean over seeds)", "", *per_class_lines(results, args.data), "",
             "## The paper's Table 1 (Cityscapes labels -> photo, FCN-8s; arXiv 1611.07004v3)", "", *paper_lines(),
             "", "Isola et al.: L1 alone gives \"reasonable but blurry results\", the cGAN alone \"much sharper "
             "results but introduces visual artifacts\", and L1 + cGAN reduces the artifacts; on the FCN-score "
             "L1+cGAN comes first and L1 alone last of the three.", "",
             "## The paper's findings, measured here", "", *finding_lines(found), "",
             "holds: above on the mean over the seeds and at every seed; mixed: above on the mean only.", ""]
    if picture:
        lines += ["## Held-out examples", "",
                  f"![input, L1, cGAN, L1+cGAN, target]({picture})", "",
                  f"The first {PICTURE_ROWS} held-out label maps of seed {results[0].seed} and each run's `apply` "
                  "output (the PNG files the scores were computed on), beside the real scene.", ""]
    lines += ["## Checks", "", *benchlib.checks_lines(checks), "", "## Timings", "",
              *benchlib.phase_lines(phases), "", "CPU s: this process and the training processes it started.", "",
              *reading(results, args)]
    return "\n".join(lines) + "\n"


def seed_spread(results: list[SeedResult]) -> dict[str, float]:
    """{objective: the largest difference in mean IoU between two of its seeds} (objectives with two or more)."""
    spreads = {}
    for objective in OBJECTIVES:
        values = [r.runs[objective].score["mean_iou"] for r in results if not r.runs[objective].error]
        if len(values) > 1:
            spreads[objective] = max(values) - min(values)
    return spreads


def paired_gaps(results: list[SeedResult], first: str, second: str) -> list[float]:
    """Mean IoU of `first` minus that of `second`, seed by seed (the two share data, split and initial weights)."""
    return [r.runs[first].score["mean_iou"] - r.runs[second].score["mean_iou"] for r in results
            if not r.runs[first].error and not r.runs[second].error]


def data_reading(data: str, blurred: float, ceiling: float) -> list[str]:
    """What the set's design means for the score, and how much blur alone costs on it."""
    blur_alone = (f"real held-out scenes blurred (Gaussian, sigma {BLUR_SIGMA[data]:g} px) score a mean IoU of "
                  f"{number(blurred)} against {number(ceiling)} sharp (row \"real scenes, blurred\").")
    if data == "materials":
        return ["- The segmenter is trained on real scenes only. In \"materials\" every region has the same mean "
                "colour and brightness and a shape drawn independently of its class: only the texture tells bricks "
                "from stripes, dots, grass or checker, as texture tells road from sidewalk in Cityscapes. So the "
                "score punishes blur as the paper's FCN-score does: the " + blur_alone]
    return ["- The segmenter is trained on real scenes only and reads colour, texture and shape. In \"shapes\" every "
            "class has its own base colour (advlab.data.paired_sets.SHAPE_COLOURS) and its own outline, while "
            "Cityscapes' cars, say, come in every colour: colour is a stronger cue here than there, and a blurred "
            "scene keeps it. How much the score punishes blur alone: the " + blur_alone]


def reading(results: list[SeedResult], args: argparse.Namespace) -> list[str]:
    epochs = args.steps * args.batch_size / results[0].train_pairs
    blurred = statistics.fmean(r.blurred["mean_iou"] for r in results)
    ceiling = statistics.fmean(r.ceiling["mean_iou"] for r in results)
    spread = seed_spread(results)
    lines = ["## Reading the figures", "",
             *data_reading(args.data, blurred, ceiling),
             "- The score is one number per set; the picture shows what the objectives do to the textures (the "
             "paper's sec. 4.2: blur against sharp detail and artifacts): compare them column by column."]
    gaps = paired_gaps(results, "l1+cgan", "l1")
    if spread:
        lines.append("- Seeds: the three objectives of a seed share its data, split, initial weights and minibatch "
                     "draws, so they compare seed by seed. L1+cGAN minus L1 in mean IoU: "
                     + ", ".join(f"{gap:+.3f}" for gap in gaps) + " (seed by seed); the spread of one objective "
                     "between seeds: " + ", ".join(f"{TITLES[o]} {number(v)}" for o, v in spread.items()) + ".")
    lines.append(f"- The budget is a CPU's: {args.width}-channel networks and {args.steps:,} iterations of minibatch "
                 f"{args.batch_size} (~{epochs:.1f} epochs of the {results[0].train_pairs} training pairs) instead of "
                 "the paper's 64 channels and 200 epochs of Cityscapes' 2,975 pairs at minibatch 1.")
    return lines


# ---------------------------------------------------------------------------------- the picture


def save_picture(result: SeedResult, args: argparse.Namespace, path: Path) -> str | None:
    """input | L1 | cGAN | L1+cGAN | target for the first PICTURE_ROWS held-out examples (from the applied files)."""
    from advlab.data.paired_sets import load_paired
    from advlab.reports.grids import save_comparison_grid

    if any(m.error for m in result.runs.values()):
        return None
    data = load_paired(args.data, args.image_size, "AtoB", 0.1, result.seed)
    columns = [("input", data.held_out.a[:PICTURE_ROWS])]
    for objective in OBJECTIVES:
        files = sorted((args.folder / f"seed-{result.seed}" / "applied" / objective).glob("*.png"))
        columns.append((TITLES[objective], read_outputs(files[:PICTURE_ROWS])))
    columns.append(("target", data.held_out.b[:PICTURE_ROWS]))
    save_comparison_grid(columns, path)
    return path.name


# ---------------------------------------------------------------------------------- records and command line


def records(results: list[SeedResult]) -> dict:
    """What the page shows, as JSON (kept in the work folder)."""
    return {str(r.seed): {"ceiling": r.ceiling, "blurred": r.blurred, "segmenter_seconds": r.segmenter_seconds,
                          "runs": {o: {"run": str(m.run), "steps": m.steps, "loop_seconds": m.loop,
                                       "seconds_per_step": m.seconds_per_step, "held_out": m.held_out,
                                       "peak_rss_mb": m.peak_mb, "imports_rss_mb": m.imports_mb,
                                       "apply_images_per_second": m.apply_rate, "reused": m.reused,
                                       "score": m.score, "error": m.error} for o, m in r.runs.items()}}
            for r in results}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_size_flags(parser, {"steps": "pix2pix iterations per run", "batch_size": "pix2pix minibatch",
                                     "width": "U-Net and PatchGAN width", "segmenter_steps": "segmenter Adam steps",
                                     "image_size": "side of the scenes"}, FULL, QUICK)
    parser.add_argument("--data", default="shapes", choices=tuple(BLUR_SIGMA),
                        help="the paired set: shapes (class = colour and outline) or materials (class = texture "
                             "alone, as road and sidewalk); default shapes")
    parser.add_argument("--seeds", default=None, help=f"seeds (default {FULL['seeds']}; --quick {QUICK['seeds']})")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--pin", default="auto", help="CPU to pin this process to: auto (the last one), none, or N")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one training may take (default 900)")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the runs here (a finished run of the same config is reused); default: temporary")
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny networks, few steps, one seed")
    parser.add_argument("--check", action="store_true", help="exit 1 if any check is FAIL")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="(accepted; no bars are shown)")
    parser.add_argument("--out", type=Path, default=None,
                        help="the page (default docs/results/translation.md; translation_materials.md for materials)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    for name in ("steps", "batch_size", "width", "segmenter_steps", "image_size", "seeds"):
        if getattr(args, name) is None:
            setattr(args, name, sizes[name])
        if name != "seeds" and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.image_size < 16 or args.image_size & (args.image_size - 1):
        parser.error(f"--image-size must be a power of two from 16 (the shapes set), got {args.image_size}")
    try:
        args.seeds = sorted({int(seed) for seed in args.seeds.split(",") if seed.strip()})
    except ValueError:
        parser.error(f"--seeds takes seeds such as 0,1; got {args.seeds!r}")
    if not args.seeds or args.seeds[0] < 0:
        parser.error(f"--seeds takes non-negative seeds such as 0,1; got {args.seeds!r}")
    if args.out is None:
        args.out = DEFAULT_OUT if args.data == "shapes" else DEFAULT_OUT.with_name(f"translation_{args.data}.md")
    args.threads = 1
    args.cpus = benchlib.pinned_cpus(args.pin, 1, parser)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = benchlib.bench_command("translation.py", argv)
    info = benchlib.page_info(args, benchlib.module_versions(("torch", "skimage")))
    phases = Phases()
    with benchlib.work_folder(args, "advlab-translation-") as folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        results = [measure_seed(args, seed, phases) for seed in args.seeds]
        (Path(folder) / "records.json").write_text(json.dumps(records(results), indent=1))
        picture = phases.run("the picture", save_picture, results[0], args, args.out.with_suffix(".png"))
    benchlib.page_done(info)
    checks, found = run_checks(results, args), findings(results)
    text = render(results, checks, found, info, args, command, phases, picture)
    return benchlib.publish(text, args.out, "translation", checks, args.check)


if __name__ == "__main__":
    sys.exit(main())
