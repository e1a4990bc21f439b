"""Bicubic vs SRResNet vs SRGAN on the held-out photographs (Ledig et al. 2017, sec. 4 and Table 2), at 4x.

Issue 19 part 6. As a user runs them, nothing downloaded, on one CPU thread:

* **SRResNet**: ``train_superres(SuperresTrainConfig(model="srresnet", ...))`` -- what ``advlab superres train
  --model srresnet`` runs -- on patches of scikit-image's training photographs (advlab.data.superres_sets "photos"),
  the pixel MSE (eq. 4), ``--steps`` Adam steps of ``--batch-size`` patches of ``--patch`` px (high resolution);
* **SRGAN**: ``train_superres(SuperresTrainConfig(model="srgan", init=SRRESNET_RUN, ...))`` (``--init``, as the paper
  starts SRGAN from its SRResNet), the content loss on advlab's own photo feature network
  (advlab.models.photo_features; no VGG download) plus 1e-3 times the adversarial loss (eq. 3), ``--gan-steps``
  steps at ``--gan-lr``;
* **evaluation**: ``evaluate_superres(SRGAN_RUN)`` -- ``advlab superres evaluate RUN`` -- on the five held-out
  photographs (astronaut, camera, chelsea, coffee, coins; never trained on), whole, with the paper's protocol: PSNR
  and SSIM on the Y channel with a ``scale``-pixel border removed (scikit-image, Wang et al.'s settings), and the
  distance between the photo network's features of the output and of the original (the paper's claim: SRGAN is
  closer to the originals in feature space while its PSNR is lower). Its figure, bicubic | SRResNet | SRGAN |
  original with PSNR/SSIM in the captions, is the page's picture;
* **apply**: ``superres_apply(RUN, LOW_FOLDER, OUT)`` -- ``advlab superres apply`` -- of each run on the held-out
  low-resolution images written as PNG files, in this process (images/s: Applied.images_per_second, generation only).

Each training runs in its own process (one OpenMP thread); from its own records: s/step = summary.json
``seconds`` / steps and its peak RSS (VmHWM at its end, beside the figure after its imports). The widths,
blocks and steps are a CPU's, far below the paper's (16 blocks of 64 channels, 10^6 + 10^5 steps on ImageNet): the
page says which and states, for each of the paper's findings, whether it holds here.

    python bench/superres.py              # see the page's total time
    python bench/superres.py --quick      # a smoke run (tiny networks, a few steps)
    python bench/superres.py --work runs/bench-sr   # keep the runs; a finished run of the same config is reused
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
import translation as shared  # noqa: E402  (the training processes and their records)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "results" / "superres.md"
METHODS = ("bicubic", "srresnet", "srgan")
TITLES = {"bicubic": "bicubic", "srresnet": "SRResNet", "srgan": "SRGAN"}
FULL = {"steps": 3000, "gan_steps": 200, "blocks": 4, "width": 32, "patch": 64, "batch_size": 8, "scale": 4}
QUICK = {"steps": 10, "gan_steps": 3, "blocks": 1, "width": 8, "patch": 32, "batch_size": 4, "scale": 4}
LR, GAN_LR = 1e-3, 1e-4
# Ledig et al. 2017 (CVPR; arXiv 1609.04802v5), Table 2: 4x, PSNR dB / SSIM on the Y channel
PAPER = {"Set5": {"bicubic": (28.43, 0.8211), "srresnet": (32.05, 0.9019), "srgan": (29.40, 0.8472)},
         "Set14": {"bicubic": (25.99, 0.7486), "srresnet": (28.49, 0.8184), "srgan": (26.02, 0.7397)},
         "BSD100": {"bicubic": (25.94, 0.6935), "srresnet": (27.58, 0.7620), "srgan": (25.16, 0.6688)}}


# ---------------------------------------------------------------------------------- the runs


@dataclass
class Trained:
    """One training run (SRResNet or SRGAN): its records and its apply call."""

    model: str
    run: Path
    steps: int = 0
    loop: float | None = None
    peak_mb: float | None = None
    imports_mb: float | None = None
    reused: bool = False
    apply_rate: float | None = None
    applied: int = 0
    summary: dict = field(default_factory=dict)
    error: str | None = None

    @property
    def seconds_per_step(self) -> float | None:
        return self.loop / self.steps if self.loop is not None and self.steps else None


def run_config(args: argparse.Namespace, model: str, out: Path, init: Path | None = None) -> dict:
    """The SuperresTrainConfig values of the SRResNet run or of the SRGAN run started from `init`."""
    gan = model == "srgan"
    steps = args.gan_steps if gan else args.steps
    values = {"model": model, "data": "photos", "scale": args.scale, "patch": args.patch, "blocks": args.blocks,
              "width": args.width, "batch_size": args.batch_size, "lr": args.gan_lr if gan else args.lr,
              "steps": steps, "seed": args.seed, "device": args.device, "threads": 1,
              "log_every": max(steps // 20, 1), "sample_every": steps, "checkpoint_every": steps,
              "keep_checkpoints": 1, "tensorboard": False, "out": str(out)}
    if gan:
        values["init"] = str(init)
    return values


def train_model(args: argparse.Namespace, model: str, init: Path | None = None) -> Trained:
    run = args.folder / "runs" / model
    trained = Trained(model, run)
    try:
        process, trained.reused = shared.train("train_superres", run_config(args, model, run, init), run,
                                               args.timeout)
    except RuntimeError as error:
        trained.error = str(error)
        return trained
    trained.summary = json.loads((run / "summary.json").read_text())
    trained.steps, trained.loop = int(trained.summary["step"]), float(trained.summary["seconds"])
    trained.peak_mb, trained.imports_mb = process["peak_rss_kb"] / 1024, process["imports_rss_kb"] / 1024
    shared.say(f"{model}: {trained.seconds_per_step:.3f} s/step, held-out PSNR {trained.summary['held_out_psnr']:.2f} "
               f"dB (bicubic {trained.summary['bicubic_psnr']:.2f})" + (" (reused)" if trained.reused else ""))
    return trained


def low_resolution_files(args: argparse.Namespace) -> Path:
    """The held-out photographs' low-resolution images (the evaluation's inputs) as PNG files; their folder."""
    from advlab.data.image_folder import write_image
    from advlab.data.superres_sets import load_superres_test, superres_test_names

    folder = args.folder / "held_out" / "low"
    for (low, _), name in zip(load_superres_test("photos", args.scale), superres_test_names("photos")):
        write_image(low[0], folder / f"{name}.png")
    return folder


def apply_run(args: argparse.Namespace, trained: Trained, inputs: Path) -> None:
    from advlab.pipelines.translation.apply import superres_apply

    if trained.error:
        return
    out = args.folder / "applied" / trained.model
    shutil.rmtree(out, ignore_errors=True)
    applied = superres_apply(trained.run, inputs, out, device=args.device, progress=False)
    trained.apply_rate, trained.applied = applied.images_per_second, len(applied.files)


def evaluate(args: argparse.Namespace, srgan: Trained) -> dict:
    """evaluate_superres on the SRGAN run (bicubic, the SRResNet it started from, SRGAN): RUN/eval/superres.json."""
    from advlab.pipelines.translation.evaluate_superres import evaluate_superres

    _, content = evaluate_superres(srgan.run, device=args.device)
    return content


# ---------------------------------------------------------------------------------- findings and checks


Check = shared.Check


def per_image_count(evaluation: dict, first: str, second: str, key: str, lower: bool = False) -> str:
    """How many of the held-out images have `first` above `second` on `key` (below when `lower`)."""
    pairs = list(zip(evaluation[first]["per_image"], evaluation[second]["per_image"]))
    wins = sum((a[key] < b[key]) if lower else (a[key] > b[key]) for a, b in pairs)
    return f"{wins} of {len(pairs)} images"


def finding(evaluation: dict, first: str, second: str, key: str, lower: bool = False) -> tuple[str, str]:
    """(measured, verdict) of "`first` above `second` on `key`" (below with `lower`) on the mean over the images."""
    a, b = evaluation[first][key], evaluation[second][key]
    holds = a < b if lower else a > b
    digits = 2 if key == "psnr" else 4
    count = per_image_count(evaluation, first, second, key, lower)
    return f"{a:.{digits}f} vs {b:.{digits}f} ({count})", "holds" if holds else "does not hold"


FINDINGS = (("srresnet", "bicubic", "psnr", False, "SRResNet above bicubic on PSNR (Set5: 32.05 vs 28.43 dB)"),
            ("srresnet", "srgan", "psnr", False, "SRGAN below SRResNet on PSNR (Set5: 29.40 vs 32.05 dB)"),
            ("srgan", "srresnet", "feature_distance", True,
             "SRGAN closer to the originals than SRResNet in feature space (the paper: VGG54 content loss; "
             "here: advlab's photo features)"),
            ("srgan", "bicubic", "feature_distance", True, "SRGAN closer than bicubic in feature space"))


def findings(evaluation: dict) -> list[Check]:
    found = [Check(what, *finding(evaluation, a, b, key, lower)) for a, b, key, lower, what in FINDINGS]
    best = max(METHODS, key=lambda m: evaluation[m]["psnr"])
    found.insert(0, Check("SRResNet has the best PSNR of the three (the paper's ordering: SRResNet, then SRGAN and "
                          "bicubic)", f"best: {TITLES[best]} (" + ", ".join(
                              f"{TITLES[m]} {evaluation[m]['psnr']:.2f}" for m in METHODS) + ")",
                          "holds" if best == "srresnet" else "does not hold"))
    return found


def run_checks(args: argparse.Namespace, runs: dict[str, Trained], evaluation: dict | None,
               images: int) -> list[Check]:
    """Both runs finished their steps; SRGAN started from this SRResNet with its architecture; the evaluation scored
    the three methods on every held-out image; apply wrote every image for both runs."""
    wanted = {"srresnet": args.steps, "srgan": args.gan_steps}
    bad = [f"{m}: {t.error or t.steps}" for m, t in runs.items() if t.error or t.steps != wanted[m]]
    checks = [Check("both runs trained their steps and wrote summary.json", "yes" if not bad else "; ".join(bad),
                    "PASS" if not bad else "FAIL")]
    config = runs["srgan"].run / "config.yaml"
    started = ""
    if config.is_file():
        import yaml

        stored = yaml.safe_load(config.read_text())
        same = all(stored.get(k) == getattr(args, k) for k in ("scale", "blocks", "width"))
        started = "yes" if stored.get("init") == str(runs["srresnet"].run) and same else f"init {stored.get('init')}"
    checks.append(Check("SRGAN was started from this SRResNet (--init, same scale, blocks and width)",
                        started or "no config", "PASS" if started == "yes" else "FAIL"))
    scored = {m: len(evaluation[m]["per_image"]) for m in METHODS} if evaluation else {}
    complete = bool(scored) and all(count == images for count in scored.values())
    checks.append(Check(f"the evaluation scored bicubic, SRResNet and SRGAN on all {images} held-out photographs",
                        ", ".join(f"{TITLES[m]} {c}" for m, c in scored.items()) or "no evaluation",
                        "PASS" if complete else "FAIL"))
    written = {m: t.applied for m, t in runs.items()}
    checks.append(Check("apply wrote every held-out image for both runs",
                        ", ".join(f"{TITLES[m]} {c}" for m, c in written.items()),
                        "PASS" if all(c == images for c in written.values()) else "FAIL"))
    return checks


# ---------------------------------------------------------------------------------- the page


number = shared.number


def result_lines(runs: dict[str, Trained], evaluation: dict) -> list[str]:
    lines = ["| method | PSNR dB (Y) | SSIM (Y) | feature distance | steps | s/step | peak RSS MB (after imports) "
             "| apply images/s |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for method in METHODS:
        figures = evaluation[method]
        trained = runs.get(method)
        training = ("| — | — | — | — |" if trained is None else
                    f"| {trained.steps:,} | {number(trained.seconds_per_step, 4)} | {number(trained.peak_mb, 0)} "
                    f"({number(trained.imports_mb, 0)}) | {number(trained.apply_rate, 2)} |")
        lines.append(f"| {TITLES[method]} | {figures['psnr']:.2f} | {figures['ssim']:.4f} "
                     f"| {figures['feature_distance']:.5f} {training}")
    return lines


def per_image_lines(evaluation: dict) -> list[str]:
    from advlab.data.superres_sets import superres_test_names

    names = superres_test_names("photos")
    lines = ["| image | " + " | ".join(f"{TITLES[m]} PSNR / SSIM / feature distance" for m in METHODS) + " |",
             "|---|" + "---:|" * len(METHODS)]
    for index, name in enumerate(names):
        cells = []
        for method in METHODS:
            row = evaluation[method]["per_image"][index]
            cells.append(f"{row['psnr']:.2f} / {row['ssim']:.4f} / {row['feature_distance']:.5f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def paper_lines() -> list[str]:
    lines = ["| data set | bicubic | SRResNet | SRGAN |", "|---|---:|---:|---:|"]
    for name, figures in PAPER.items():
        lines.append(f"| {name} | " + " | ".join(f"{figures[m][0]:.2f} / {figures[m][1]:.4f}" for m in METHODS)
                     + " |")
    return lines


def failure_lines(runs: dict[str, Trained]) -> list[str]:
    return [f"- {TITLES[m]} failed: {t.error}" for m, t in runs.items() if t.error]


def render(runs: dict[str, Trained], evaluation: dict | None, checks: list[Check], found: list[Check], info: dict,
           args: argparse.Namespace, command: str, phases: shared.Phases, picture: str | None) -> str:
    lines = ["# Super-resolution at 4x on the held-out photographs: bicubic vs SRResNet vs SRGAN (Ledig et al. 2017)",
             "", f"Made by `{command}` on {info['date']}.", "",
             f"- machine: {platform.system()} {platform.machine()}, {benchlib.cpu_model()}, {os.cpu_count()} logical "
             f"CPUs (this bench: {info['cpus']}); load average {info['load']} at the start, {info['load_end']} at "
             "the end (other work shared the cores)",
             "- versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) +
             f"; Python {platform.python_version()}",
             f"- total time: {info['seconds'] / 60:.1f} min wall",
             f"- SRResNet: {args.blocks} residual blocks of {args.width} channels (the paper: 16 of 64), scale "
             f"{args.scale}, {args.steps:,} Adam steps at lr {args.lr:g} (the paper: 1e-4 for 10^6 steps; a higher "
             f"rate for a CPU's budget) of {args.batch_size} patches of {args.patch} px (the paper: 16 of 96 px); "
             f"SRGAN from it: {args.gan_steps:,} steps at lr {args.gan_lr:g} (the paper: 10^5 at 1e-4, then 10^5 at "
             "1e-5), adversarial weight 1e-3, its discriminator at the paper's width (64); seed "
             f"{args.seed}; each training in its own process on one CPU thread",
             "- evaluation: `evaluate_superres` (`advlab superres evaluate`) on the 5 held-out photographs, whole: "
             f"PSNR and SSIM on Y with a {args.scale}-pixel border removed; feature distance = mean squared "
             "difference of advlab's photo-network features (scaled as SRGAN's content loss) of output and original",
             *failure_lines(runs), ""]
    if evaluation is not None:
        lines += ["## Results (mean over the 5 held-out photographs)", "", *result_lines(runs, evaluation), "",
                  "s/step: the training loop's own seconds (summary.json) / steps. Peak RSS: the training "
                  "process's own high-water mark (VmHWM) at its end, the figure after its imports in brackets. "
                  "apply images/s: `superres_apply` on the 5 low-resolution PNG files in this process, one thread, "
                  "generation only (the photographs are 75 x 96 to 128 x 128 px at low resolution).", "",
                  "## The paper's findings, measured here", "", *shared.finding_lines(found), "",
                  "## Per image", "", *per_image_lines(evaluation), ""]
    lines += ["## The paper's Table 2 (4x, PSNR dB / SSIM on Y; arXiv 1609.04802v5)", "", *paper_lines(), "",
              "Ledig et al.: SRResNet, trained for the MSE, has the best PSNR and SSIM; SRGAN trades PSNR for "
              "photo-realistic texture (its mean opinion scores are far higher), being trained to match features "
              "rather than pixels.", ""]
    if picture:
        lines += ["## The first held-out photograph", "", f"![bicubic, SRResNet, SRGAN, original]({picture})", "",
                  "`evaluate_superres`'s figure (RUN/eval/superres.png), PSNR/SSIM in the captions.", ""]
    lines += ["## Checks", "", *benchlib.checks_lines(checks), "", "## Timings", "", *benchlib.phase_lines(phases),
              "", "CPU s: this process and the training processes it started.", "", *reading(args)]
    return "\n".join(lines) + "\n"


def reading(args: argparse.Namespace) -> list[str]:
    return ["## Reading the figures", "",
            "- Bicubic upscaling is a strong baseline on PSNR: a network trained for minutes on a CPU from random "
            "weights, with no bicubic skip (the paper's SRResNet has none), must first learn to reproduce the "
            "colours and low frequencies exactly before its sharper edges pay off in PSNR.",
            f"- Patches of {args.patch} px at {args.scale}x are {args.patch // args.scale} px at low resolution. "
            "SRResNet's first and last convolutions are 9 x 9; in a trial while this bench was set up (4 blocks of "
            "32 channels, 2,000 steps, before SRResNet's zero-gamma initialisation), 32 px patches (8 px at low "
            "resolution) gave whole photographs about 0.14 too bright and 16 dB PSNR, 64 px patches 27.4 dB: "
            "trained on inputs that are mostly border, the network had learned around the zero padding. The "
            "paper's patches are 96 px (24 px).",
            "- The feature distance is measured with advlab's own photo network (the one SRGAN's content loss "
            "uses), not VGG19: SRGAN is trained to lower it, so its figure is the paper's claim in advlab's terms, "
            "not an independent judge of realism."]


def copy_picture(srgan: Trained, path: Path) -> str | None:
    figure = srgan.run / "eval" / "superres.png"
    if not figure.is_file():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(figure, path)
    return path.name


# ---------------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_size_flags(parser, {"steps": "SRResNet steps", "gan_steps": "SRGAN steps",
                                     "blocks": "residual blocks", "width": "generator width",
                                     "patch": "training patch side (high resolution)", "batch_size": "patches per step",
                                     "scale": "upscaling factor"}, FULL, QUICK)
    parser.add_argument("--lr", type=float, default=LR, help=f"SRResNet's Adam learning rate (default {LR:g})")
    parser.add_argument("--gan-lr", type=float, default=GAN_LR, help=f"SRGAN's learning rate (default {GAN_LR:g})")
    parser.add_argument("--seed", type=int, default=0, help="seed of both runs (default 0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--pin", default="auto", help="CPU to pin this process to: auto (the last one), none, or N")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one training may take (default 900)")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the runs here (a finished run of the same config is reused); default: temporary")
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny networks, a few steps")
    parser.add_argument("--check", action="store_true", help="exit 1 if any check is FAIL")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="(accepted; no bars are shown)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the page (default docs/results/superres.md)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    for name in FULL:
        if getattr(args, name) is None:
            setattr(args, name, sizes[name])
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.scale not in (2, 4, 8):
        parser.error(f"--scale must be 2, 4 or 8, got {args.scale}")
    if args.patch % args.scale:
        parser.error(f"--patch {args.patch} is not a multiple of --scale {args.scale}")
    if not args.lr > 0 or not args.gan_lr > 0 or args.seed < 0:
        parser.error("--lr and --gan-lr must be positive and --seed non-negative")
    args.threads = 1
    args.cpus = benchlib.pinned_cpus(args.pin, 1, parser)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = benchlib.bench_command("superres.py", argv)
    info = benchlib.page_info(args, benchlib.module_versions(("torch", "skimage")))
    phases = shared.Phases()
    evaluation, picture = None, None
    with benchlib.work_folder(args, "advlab-superres-") as folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        runs = {"srresnet": phases.run("train SRResNet", train_model, args, "srresnet")}
        if not runs["srresnet"].error:
            runs["srgan"] = phases.run("train SRGAN from it", train_model, args, "srgan", runs["srresnet"].run)
        else:
            runs["srgan"] = Trained("srgan", args.folder / "runs" / "srgan", error="not trained: SRResNet failed")
        inputs = low_resolution_files(args)
        for model, trained in runs.items():
            phases.run(f"apply {TITLES[model]}", apply_run, args, trained, inputs)
        if not runs["srgan"].error:
            evaluation = phases.run("evaluate (bicubic, SRResNet, SRGAN)", evaluate, args, runs["srgan"])
            picture = copy_picture(runs["srgan"], args.out.with_suffix(".png"))
        images = len(list(inputs.glob("*.png")))
    benchlib.page_done(info)
    checks = run_checks(args, runs, evaluation, images)
    found = findings(evaluation) if evaluation is not None else []
    text = render(runs, evaluation, checks, found, info, args, command, phases, picture)
    return benchlib.publish(text, args.out, "superres", checks, args.check)


if __name__ == "__main__":
    sys.exit(main())
