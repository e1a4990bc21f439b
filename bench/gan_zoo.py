"""The GAN zoo: every advlab model and loss trained with the same wall-clock budget and seeds, then judged.

Cases (``--cases``; a case runs on every ``--data`` set of its kind):

* 2-D mixtures (ring8, grid25), advlab's MLP preset (``PRESETS["mlp"]``): one case per loss --
  nonsaturating, least-squares, hinge and wgan-gp (with the authors' toy-data settings,
  ``gan_config.WGAN_GP_SETTINGS["points"]``: n_critic 5, Adam(1e-4, 0.5, 0.9), lambda 0.1) -- plus PacGAN with
  packing 2 (Lin et al. 2018) and the conditional MLP (Mirza & Osindero 2014), both with the preset's
  nonsaturating loss.
* Images (real MNIST at its own 28x28, stacked MNIST: three real MNIST digits as RGB, 1000 modes, also 28x28
  -- progressive growing resizes both to 32x32, as ``advlab gan train`` does -- and scikit-learn's digits
  resized to 16x16, stacked digits likewise): dcgan, cgan, projection, acgan, sngan, sagan, progan and
  wgan-gp, each with its paper's preset (``advlab.pipelines.gan.gan_config.PRESETS``: loss, learning rates, betas,
  n_critic), plus dcgan with the hinge and the least-squares loss for a loss comparison on one architecture,
  and dcgan with packing 2 (PacDCGAN2, Lin et al. 2018, Table 3) beside the unpacked dcgan.

How a case runs (one fresh worker process per case and seed, one after another, so none competes with
another and each one's peak memory is its own):

1. ``GANTrainConfig(data, model, loss, ..., seed)`` is resolved exactly as ``advlab gan train`` resolves it;
   ``seed_everything(seed)``, ``load_data`` and ``build_trainer`` build the players.
2. Training: ``GANTrainer.train_iteration`` (k D-steps, one G-step, the EMA update) until the budget
   (``--budget-minutes`` of wall-clock time) is spent or ``--max-steps`` is reached (no cap by default, so
   the budget alone decides), whichever comes first; no logging, snapshots or checkpoints inside the timed
   loop. A step is one G update (with its k D updates), so ms/step = training seconds / steps reached.
   Progressive growing needs its phase length before it starts: a probe (not counted) times a few steps at
   the full resolution, and the schedule is spread over the steps that time would buy
   (``default_stage_steps``); lower resolutions are faster, so progan finishes growing before the budget
   ends and trains on at the full size.
3. Peak memory: on CPU, the worker's peak resident set (VmHWM from /proc) during training -- the high-water
   mark is reset (``/proc/self/clear_refs``) just before the first step, so data loading and the probe do
   not count, while the resident Python, torch, advlab and data (about 400 MB here) do -- the table adds the
   growth over the resident set at the first step; where VmHWM cannot be reset it is the process's peak
   since start (ru_maxrss), and the notes say so. On CUDA, the peak of
   ``torch.cuda.max_memory_allocated`` during training.
4. A sample grid (or, for 2-D data, generated points over D's heatmap) from a fixed noise batch, as
   ``advlab gan train`` snapshots it, and the metric suite: ``advlab.pipelines.gan.evaluate_gan.Evaluator`` with
   ``--eval-samples`` generated samples against a real sample of the same size (capped at the data set),
   fixed by the seed, so every case of a data set meets the same real images. Images are judged in the
   feature space of advlab's classifier of the data (``--features auto``: its MNIST network for MNIST and
   stacked MNIST, its digits network otherwise; stacked data: each channel through it, modes = the 1000
   triples); 2-D points are their own features. Samples come from the EMA generator where the preset has one.

Every case trains with the same seeds (``--seeds``, default 0); with several seeds a cell is mean +- std.
A "real data" row per data set is the yardstick (see "Reading the table" in the written page).

    python bench/gan_zoo.py --budget-minutes 3          # the issue's run: 36 cases x 3 min, ~2 h on one CPU
    python bench/gan_zoo.py --budget-minutes 0.5        # ~22 min
    python bench/gan_zoo.py --quick                     # a smoke run: seconds per case, tiny nets, 8x8 images
    python bench/gan_zoo.py --data mnist,stacked-mnist --budget-minutes 1 --out docs/results/gan_zoo_mnist.md
    python bench/gan_zoo.py --data ring8 --cases mlp-hinge,mlp-pack2 --seeds 0,1,2 --birthday

The table is printed and written to docs/results/gan_zoo.md (``--out``), the grids beside it in
docs/results/gan_zoo/. The parent process imports no torch; each worker is this script run with
``--worker SPEC.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import pinned_cpus  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "results" / "gan_zoo.md"
DATA = {"ring8": "points", "grid25": "points", "mnist": "images", "stacked-mnist": "images", "digits": "images",
        "stacked-digits": "images"}
NATIVE_SIDE = {"mnist": 28, "stacked-mnist": 28}  # taken at this size unless --image-size says otherwise
# case -> GANTrainConfig options (anything left out comes from the model's preset)
CASES: dict[str, dict] = {
    "mlp-nonsaturating": {"kind": "points", "model": "mlp", "loss": "nonsaturating"},
    "mlp-least-squares": {"kind": "points", "model": "mlp", "loss": "least-squares"},
    "mlp-hinge": {"kind": "points", "model": "mlp", "loss": "hinge"},
    "mlp-wgan-gp": {"kind": "points", "model": "mlp", "loss": "wgan-gp"},
    "mlp-pack2": {"kind": "points", "model": "mlp", "pack": 2},
    "mlp-conditional": {"kind": "points", "model": "mlp", "conditional": True},
    "dcgan": {"kind": "images", "model": "dcgan"},
    "dcgan-pack2": {"kind": "images", "model": "dcgan", "pack": 2},
    "dcgan-hinge": {"kind": "images", "model": "dcgan", "loss": "hinge"},
    "dcgan-least-squares": {"kind": "images", "model": "dcgan", "loss": "least-squares"},
    "cgan": {"kind": "images", "model": "cgan"},
    "projection": {"kind": "images", "model": "projection"},
    "acgan": {"kind": "images", "model": "acgan"},
    # PacGAN within a class (packs of one label): the remedy for the conditional models' collapse within a class
    "projection-pack2": {"kind": "images", "model": "projection", "pack": 2},
    "acgan-pack2": {"kind": "images", "model": "acgan", "pack": 2},
    "sngan": {"kind": "images", "model": "sngan"},
    "sagan": {"kind": "images", "model": "sagan"},
    "progan": {"kind": "images", "model": "progan"},
    "wgan-gp": {"kind": "images", "model": "wgan-gp"},
}
REAL = "real data"
METRICS_USED = ("fid", "kid", "prdc", "modes")
DEFAULTS = {"budget_minutes": 0.5, "max_steps": None, "eval_samples": 2000, "image_size": 16}
# a smoke run: a few seconds per case, tiny networks, 8x8 images (whose feature network trains in seconds)
QUICK = {"budget_minutes": 0.05, "max_steps": 30, "eval_samples": 200, "image_size": 8,
         "width": {"points": 32, "images": 8}, "depth": {"points": 2, "images": None}}
PROBE_STEPS = 5  # progan's probe: timed steps at the full resolution, after one warm-up step
NO_CAP = 10**9  # config.steps when there is no step cap (it only sets progressive growing's phases, see above)
WORKER_SLACK_S = 900  # a worker's time limit beyond its budget: imports, feature-network training, evaluation
COLUMNS = ("data", "model", "loss", "steps", "ms/step", "peak MB", "FID", "KID", "precision", "recall", "density",
           "coverage", "modes", "high quality %", "KL")


# ---------------------------------------------------------------------------------- worker side (imports torch)


def peak_memory_reset(device) -> bool:
    """Start a fresh high-water mark of memory; False where the process's peak cannot be reset."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return True
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def memory_mb(device, field: str = "VmHWM") -> float:
    """In MiB: with VmHWM, the peak since the last reset (the GPU's allocations on CUDA, else the resident set);
    with VmRSS, the resident set (or GPU allocation) now."""
    import torch

    if device.type == "cuda":
        peak = field == "VmHWM"
        return (torch.cuda.max_memory_allocated(device) if peak else torch.cuda.memory_allocated(device)) / 2**20
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def case_config(spec: dict):
    """The GANTrainConfig of a case (unresolved: the preset fills the rest)."""
    from advlab.pipelines.gan.gan_config import GANTrainConfig

    options = {key: value for key, value in CASES[spec["case"]].items() if key != "kind"}
    kind = CASES[spec["case"]]["kind"]
    for name in ("width", "depth"):
        if spec.get(name, {}).get(kind) is not None:
            options[name] = spec[name][kind]
    config = GANTrainConfig(data=spec["data"], image_size=spec["image_size"] if kind == "images" else None,
                            steps=spec["max_steps"] or NO_CAP, seed=spec["seed"], device=spec["device"],
                            threads=spec["threads"], tensorboard=False, **options)
    config.validate()
    return config


def build(config, device):
    """Data, resolved config and trainer, in the order `advlab gan train` builds them."""
    from advlab.core.seeding import seed_everything
    from advlab.pipelines.gan.gan_setup import build_trainer, load_data

    seed_everything(config.seed)
    config, data = load_data(config, device)
    resolved = config.resolved(data.kind, data.sample_shape[-1])
    return data, resolved, build_trainer(resolved, data, device)


def synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def progressive_steps(config, device, budget_s: float) -> tuple[int, float]:
    """Progressive growing: the steps the budget buys at the full resolution (capped at config.steps), timed on
    a throw-away trainer grown at once (one step per phase); returns (steps, probe seconds per step)."""
    import dataclasses

    _, _, probe = build(dataclasses.replace(config, stage_steps=1), device)
    while probe.step <= probe.schedule.total_steps:  # grown in one step per phase, then one warm-up step
        probe.train_iteration()
    synchronize(device)
    started = time.perf_counter()
    for _ in range(PROBE_STEPS):
        probe.train_iteration()
    synchronize(device)
    per_step = (time.perf_counter() - started) / PROBE_STEPS
    return max(1, min(config.steps, int(budget_s / per_step))), per_step


def train(trainer, device, budget_s: float, max_steps: int | None) -> float:
    """Algorithm 1's loop until the budget or the step cap (None: no cap); returns the training seconds."""
    started = time.perf_counter()
    while trainer.step < (max_steps or NO_CAP) and time.perf_counter() - started < budget_s:
        trainer.train_iteration()
    synchronize(device)
    return time.perf_counter() - started


def real_draw(data, evaluator, n: int):
    """The real-data yardstick as a "generator": fresh samples of a 2-D mixture, or rows of an image set held out
    from the evaluator's real sample when the set has at least twice `n` rows; None otherwise (then only the
    evaluator's half-against-half figures are shown)."""
    import torch

    from advlab.core.seeding import make_generator
    from advlab.data import GaussianMixture2D

    if isinstance(data, GaussianMixture2D):
        return lambda count, seed: data.sample(count, make_generator(seed, torch.device("cpu"))).cpu()
    if len(data) < 2 * n:
        return None
    order = torch.randperm(len(data), generator=make_generator(evaluator.seed, torch.device("cpu")))
    if not torch.equal(data.data.cpu()[order[:n]], evaluator.real):
        return None  # the evaluator draws its real sample differently now: no held-out rows known
    held_out = order[n:]

    def draw(count: int, seed: int):
        rows = held_out[torch.randperm(len(held_out), generator=make_generator(seed, torch.device("cpu")))]
        return data.data.cpu()[rows[:count]]

    return draw


def evaluate(data, draw, spec: dict, device) -> dict:
    """The metric suite's figures for `draw` (None: the real-data yardstick), JSON-safe."""
    from advlab.core.runs import clean
    from advlab.pipelines.gan.evaluate_gan import Evaluator

    # the birthday estimate of held-out real rows would measure the size of the held-out set, slowly: not run
    metrics = METRICS_USED + (("birthday",) if spec["birthday"] and draw is not None else ())
    evaluator = Evaluator(data, metrics, spec["eval_samples"], "auto", spec["seed"], device)
    if draw is None:
        draw = real_draw(data, evaluator, spec["eval_samples"])
        if draw is None:  # the real sample against itself, for the evaluator's half-against-half figures
            evaluator.metrics = ("fid", "modes")
            first = evaluator.evaluate(lambda n, seed: evaluator.real[:n])
            keep = ("real_fid", "real_modes", "real_kl", "total_modes")
            return {key: clean(first.figures.get(key)) for key in keep} | {"halves_only": True}
    figures = evaluator.evaluate(draw).figures
    return {key: clean(value) for key, value in figures.items()}


def save_picture(trainer, path: Path, seed: int) -> None:
    """The snapshot `advlab gan train` saves (a packed D's heatmap scores packs of copies of each grid point)."""
    from advlab.pipelines.gan.gan_snapshots import snapshot

    snapshot(trainer, path, seed)


def settings(config) -> dict:
    """The resolved options a reader needs to repeat a case."""
    keep = ("model", "loss", "k", "batch_size", "z_dim", "width", "depth", "lr_g", "lr_d", "beta1", "beta2", "ema",
            "gp_weight", "pack", "conditional", "stage_steps", "image_size")
    return {key: getattr(config, key) for key in keep}


def run_worker(spec: dict) -> dict:
    """One case and seed: train within the budget, save the grid, evaluate; the result as a dict."""
    import dataclasses

    import torch

    torch.set_num_threads(spec["threads"])
    if spec["cpus"] and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, spec["cpus"])
    from advlab.core.devices import resolve_device
    from advlab.pipelines.gan.gan_setup import load_data
    from advlab.pipelines.gan.gan_snapshots import draw

    device = resolve_device(spec["device"])
    if spec["case"] == REAL:
        from advlab.pipelines.gan.gan_config import GANTrainConfig

        kind = DATA[spec["data"]]
        config = GANTrainConfig(data=spec["data"], image_size=spec["image_size"] if kind == "images" else None)
        return {"figures": evaluate(load_data(config, device)[1], None, spec, device)}
    config = case_config(spec)
    budget_s = 60 * spec["budget_minutes"]
    result: dict = {}
    if config.model == "progan":
        steps, probe = progressive_steps(config, device, budget_s)
        config = dataclasses.replace(config, steps=steps)
        result["probe_ms"] = 1000 * probe
    data, resolved, trainer = build(config, device)
    exact_peak = peak_memory_reset(device)
    start_mb = memory_mb(device, "VmRSS")
    seconds = train(trainer, device, budget_s, spec["max_steps"])
    result.update(settings=settings(resolved), steps=trainer.step, seconds=seconds, peak_mb=memory_mb(device),
                  start_mb=start_mb, exact_peak=exact_peak, finite=trainer.check_finite())
    if not result["finite"]:
        return result
    save_picture(trainer, Path(spec["grid"]), spec["seed"] + 1)
    result["figures"] = evaluate(data, lambda n, seed: draw(trainer, n, seed), spec, device)
    return result


def worker_main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    result = run_worker(spec)
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


# ---------------------------------------------------------------------------------- parent side (no torch)


def image_side(data: str, args: argparse.Namespace) -> int | None:
    """The --image-size a case of `data` trains at: None (the data's own size) for MNIST unless --image-size
    was given, else --image-size or its default."""
    if data in NATIVE_SIDE and not args.image_size_given:
        return None
    return args.image_size


def sizes_line(args: argparse.Namespace) -> str:
    """The image sizes of the page's image data, e.g. "mnist 28x28 (its own; progan 32x32), digits 16x16"."""
    shown = []
    for data in (d for d in args.data_list if DATA[d] == "images"):
        side = image_side(data, args)
        shown.append(f"{data} {NATIVE_SIDE[data]}x{NATIVE_SIDE[data]} (its own; progan 32x32)" if side is None
                     else f"{data} {side}x{side}")
    return ", ".join(shown)


def run_case(data: str, case: str, seed: int, args: argparse.Namespace, scratch: Path) -> dict:
    """Run one worker process; its result, or {"error": the last line it printed}."""
    stem = f"{data}-{case}-seed{seed}".replace(" ", "-")
    grid = args.grids / f"{data}-{case}.png" if seed == args.seed_list[0] else scratch / f"{stem}.png"
    spec = {"case": case, "data": data, "seed": seed, "budget_minutes": args.budget_minutes,
            "max_steps": args.max_steps, "eval_samples": args.eval_samples, "image_size": image_side(data, args),
            "birthday": args.birthday, "device": args.device, "threads": args.threads, "cpus": args.cpus,
            "width": args.width, "depth": args.depth, "grid": str(grid), "result": str(scratch / f"{stem}.json")}
    spec_path = scratch / f"{stem}.spec.json"
    spec_path.write_text(json.dumps(spec))
    limit = 60 * args.budget_minutes * 1.5 + WORKER_SLACK_S
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", str(spec_path)],
                              capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"the worker ran past its {limit:.0f} s limit"}
    wall = time.perf_counter() - started
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return {"error": lines[-1] if lines else f"the worker exited with status {done.returncode}"}
    result = json.loads(Path(spec["result"]).read_text())
    result["wall"] = wall
    if case != REAL and result.get("finite"):
        result["grid"] = grid if seed == args.seed_list[0] else None
    return result


def number(value: float, digits: str) -> str:
    """`value` formatted with `digits`, but never in exponent notation from 1000 up (FIDs, mode counts)."""
    return f"{value:.0f}" if abs(value) >= 1000 else format(value, digits)


def mean_std(values: list[float], digits: str) -> str:
    """One cell: the value, or mean +- std over seeds."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "—"
    if len(values) == 1:
        return number(values[0], digits)
    return f"{number(statistics.mean(values), digits)} ± {number(statistics.stdev(values), digits)}"


def figure(runs: list[dict], key: str, digits: str = ".3g", scale: float = 1.0) -> str:
    values = [run.get("figures", {}).get(key) for run in runs]
    return mean_std([None if v is None else scale * v for v in values], digits)


def modes_cell(runs: list[dict], modes_key: str = "modes") -> str:
    """Modes covered out of the total: "8/8", or "7.5/8 ± 0.707" over seeds."""
    total = next((run["figures"].get("total_modes") for run in runs if run.get("figures")), None)
    cell = figure(runs, modes_key, ".3g")
    if cell == "—" or total is None:
        return cell
    mean, _, std = cell.partition(" ± ")
    return f"{mean}/{total}" + (f" ± {std}" if std else "")


def support_cell(runs: list[dict], kind: str) -> str:
    """The birthday estimate (in feature space for images, in the points' own space for 2-D) with its 95%
    interval, "N̂ [low, high]"; "> low" when some seed's batches held no near-duplicate at all: then the
    estimate is unbounded and only the interval's lower end says something (birthday_support's docstring)."""
    suffix = "_features" if kind == "images" else ""
    found = [run.get("figures", {}) for run in runs]
    found = [figures for figures in found if f"support_low{suffix}" in figures]
    if not found:
        return "—"
    estimates = [figures.get(f"support{suffix}") for figures in found]
    lows = [figures[f"support_low{suffix}"] for figures in found]
    highs = [figures.get(f"support_high{suffix}") for figures in found]
    if any(value is None or not math.isfinite(value) for value in estimates + highs):
        return f"> {number(min(lows), '.3g')}"
    cell = mean_std(estimates, ".3g")
    return f"{cell} [{number(min(lows), '.3g')}, {number(max(highs), '.3g')}]"


def case_row(data: str, case: str, runs: list[dict], args: argparse.Namespace) -> str:
    """A table row for one case over its seeds (errors and divergence in place of the figures)."""
    good = [run for run in runs if "error" not in run]
    kind = DATA[data]
    if case == REAL:
        halves = any(run.get("figures", {}).get("halves_only") for run in good)
        fid = figure(good, "real_fid") + (" (halves)" if halves else "")
        cells = [data, REAL, "—", "—", "—", "—", fid]
        if halves:
            cells += ["—"] * 5 + [modes_cell(good, "real_modes"), "—", figure(good, "real_kl")]
        else:
            cells += [figure(good, "kid"), figure(good, "precision"), figure(good, "recall"),
                      figure(good, "density"), figure(good, "coverage"), modes_cell(good), quality(good, kind),
                      figure(good, "kl")]
        if args.birthday:
            cells.append("—")
        return "| " + " | ".join(cells) + " |"
    setting = next((run["settings"] for run in good), {})
    model = CASES[case]["model"] + (" (pack 2)" if setting.get("pack", 1) > 1 else "") + \
        (" (conditional)" if case == "mlp-conditional" else "")
    loss = setting.get("loss", CASES[case].get("loss", "preset")) + (f", k={setting['k']}" if setting.get("k", 1) > 1
                                                                     else "")
    cells = [data, model, loss]
    if not good:
        return "| " + " | ".join(cells + [f"error: {runs[0]['error']}"] + [""] * (len(COLUMNS) - 4)) + " |"
    cells += [mean_std([run["steps"] for run in good], ".0f"),
              mean_std([1000 * run["seconds"] / max(1, run["steps"]) for run in good], ".3g"),
              mean_std([run["peak_mb"] for run in good], ".0f")
              + f" (+{statistics.mean(run['peak_mb'] - run['start_mb'] for run in good):.0f})"]
    finite = [run for run in good if run.get("finite")]
    if not finite:
        return "| " + " | ".join(cells + ["diverged (NaN/inf loss)"] + [""] * (len(COLUMNS) - 7)) + " |"
    cells += [figure(finite, "fid"), figure(finite, "kid"), figure(finite, "precision"), figure(finite, "recall"),
              figure(finite, "density"), figure(finite, "coverage"), modes_cell(finite), quality(finite, kind),
              figure(finite, "kl")]
    if args.birthday:
        cells.append(support_cell(finite, kind))
    return "| " + " | ".join(cells) + " |"


def quality(runs: list[dict], kind: str) -> str:
    """2-D only: the share of samples within 3 standard deviations of a mode (VEEGAN), in percent."""
    return figure(runs, "high_quality", ".3g", 100.0) if kind == "points" else "—"


def selected(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(data, case) pairs to run, data by data, the real-data row first."""
    pairs = []
    for data in args.data_list:
        pairs.append((data, REAL))
        pairs += [(data, case) for case in args.case_list if CASES[case]["kind"] == DATA[data]]
    return pairs


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def versions() -> str:
    """torch's version, read by a worker-like subprocess so the parent stays free of torch."""
    done = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"], capture_output=True,
                          text=True, check=False)
    return done.stdout.strip() or "unknown"


READING = """\
## Reading the table

- **steps**: G updates reached within the budget (each with k D updates: k=5 for WGAN-GP), capped at
  `--max-steps` if given; **ms/step**: training wall time / steps (one thread, the worker pinned), the cost of a step
  of that model on this machine. A slower model gets fewer steps from the same budget -- that is the point
  of a wall-clock budget, and why the images are far from converged at small budgets.
- **peak MB**: the training worker's peak resident set during training (it includes ~400 MB of Python,
  torch, advlab and the data), and in brackets its growth over the resident set when training started
  (networks' activations, gradients, optimiser state); on CUDA the peak GPU allocation.
- **FID** (lower is better) and **KID** (unbiased MMD², cubic kernel; lower is better, can dip below 0) in
  the feature space of advlab's classifier of the data for images (its MNIST network for MNIST and stacked
  MNIST, its digits network for digits), of the points themselves for 2-D data. Neither is comparable with
  FIDs on Inception features, nor across data sets. The yardstick is the **real data** row: its FID is
  one half of the real sample against the other ("halves"; for digits, whose 1,797 images are all in the
  real sample) or held-out real images against the real sample (MNIST, stacked data, 2-D mixtures) -- a
  generator cannot be expected to get below it at this sample size.
- **precision** (the share of generated samples inside the real samples' k-NN balls: quality) and
  **recall** (the share of real samples inside the generated samples' balls: diversity), k=3; **density**
  (precision that counts how many balls hold a sample; about 1 for real data, can exceed 1) and
  **coverage** (the share of real samples whose ball holds a generated one), k=5. Higher is better; the
  real data row shows what real data reach.
- **modes**: classes covered. 2-D: mixture components with at least one sample within 3 standard deviations
  (of 8 or 25); **high quality %**: the share of samples that close to a mode. Images: distinct classes the
  feature classifier predicts (10 digits; for stacked data each channel is classified, 1000 triples) -- the
  real data row's count is what the classifier finds on real images of the same number (2,000 samples cannot
  show all 1000 triples: about 865 is the expectation for uniform triples). **KL**: KL divergence of the mode
  histogram from the uniform (every data set here has equally likely modes); 0 is best, and the real data
  row shows what sampling noise alone gives at this sample size.
- **Conditional models** (cgan, projection, acgan, the conditional MLP) are sampled with every class in
  turn, so their modes and KL measure how well G follows its label, not whether it dropped a mode by itself:
  a label-faithful conditional G has a KL near 0 by construction. Recall and coverage still show collapse
  within a class.
- **2-D data**: FID compares only the means and covariances of the points, so a cloud with the right spread
  can score well while missing the modes, and KID's cubic kernel on coordinates of size 4 (grid25) is noisy
  enough to turn negative; read precision, recall, modes, high quality and KL there, and look at the picture.
- **support** (with `--birthday`): the birthday-paradox support size (Arora & Zhang 2017): the number of
  distinct samples that explains how soon near-duplicates turn up in batches of generated samples (feature
  space for images, the points for 2-D data; near = within a quarter of the real samples' median
  nearest-neighbour distance).
  A generator that memorised or collapsed has a small one; 0 means even pairs collide (complete collapse).
  The brackets hold the 95% interval (over seeds: the lowest low and the highest high). "> L" means no batch
  held a near-duplicate: the support is at least L (the interval's lower end) and may be far larger, so the
  estimate says nothing more; a very wide interval says the same.
  Not computed for real data (held-out rows would only measure the held-out set's size).
"""


def render(results: dict[tuple[str, str], list[dict]], args: argparse.Namespace, info: dict) -> str:
    """The Markdown page: settings, the table, the reading guide, notes and the sample grids."""
    header = list(COLUMNS) + (["support"] if args.birthday else [])
    align = ["---"] * 3 + ["---:"] * (len(header) - 3)
    sizes = sizes_line(args)
    lines = ["# The GAN zoo: every model and loss under one budget", "",
             f"- machine: {platform.system()} {platform.machine()}, {os.cpu_count()} logical CPUs, load average "
             f"at start {info['load']}, at the end {info['load_end']}; Python {platform.python_version()}, torch "
             f"{info['torch']}, {args.threads} torch thread(s), device {args.device}"
             + (f", workers pinned to CPU(s) {','.join(map(str, args.cpus))}" if args.cpus else ""),
             f"- date: {info['date']}; the whole bench took {info['minutes']:.1f} min",
             f"- command: `{info['command']}`",
             f"- budget: {args.budget_minutes:g} min of training wall-clock per case and seed"
             + (f", or {args.max_steps} steps, whichever came first" if args.max_steps else ", no step cap")
             + f"; seeds {', '.join(map(str, args.seed_list))} "
             "(each case trains and is evaluated with every seed" + (": cells are mean ± std over seeds)"
                                                                    if len(args.seed_list) > 1 else ")"),
             f"- evaluation: {args.eval_samples} generated samples against a real sample of the same size "
             f"(capped at the data set), both fixed by the seed; metrics {', '.join(METRICS_USED)}"
             + (", birthday" if args.birthday else "")
             + (f"; images {sizes}, features: advlab's classifier of the data (mnist or digits)" if sizes else ""),
             "", "| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    for (data, case), runs in results.items():
        lines.append(case_row(data, case, runs, args))
    lines += ["", READING, "## Notes", ""]
    lines += notes(results, args)
    lines += ["", "## Samples", "",
              "One picture per case (first seed), drawn from a fixed noise batch after training: image grids "
              "(a conditional model shows one column per class where there are at most 32 classes), 2-D data as "
              "generated points (and real ones) over D's output.", ""]
    lines += grid_lines(results, args)
    return "\n".join(lines) + "\n"


def notes(results: dict[tuple[str, str], list[dict]], args: argparse.Namespace) -> list[str]:
    """Per case: the resolved settings, and what went wrong where something did."""
    lines = []
    for (data, case), runs in results.items():
        if case == REAL:
            continue
        good = [run for run in runs if "error" not in run]
        if not good:
            lines.append(f"- {data} / {case}: error: {runs[0]['error']}")
            continue
        setting = {k: v for k, v in good[0]["settings"].items() if v is not None}
        text = ", ".join(f"{k} {v}" for k, v in setting.items() if k not in ("model",))
        extra = []
        if any(not run.get("exact_peak", True) for run in good):
            extra.append("peak memory is the process's peak since start (VmHWM could not be reset)")
        if "probe_ms" in good[0]:
            extra.append(f"phase length from a probe at full resolution ({good[0]['probe_ms']:.1f} ms/step)")
        bad = [run for run in good if not run.get("finite")]
        if bad:
            extra.append(f"{len(bad)} of {len(runs)} seed(s) diverged (NaN/inf loss) and are left out of the metrics")
        failed = len(runs) - len(good)
        if failed:
            extra.append(f"{failed} seed(s) failed: {next(r['error'] for r in runs if 'error' in r)}")
        lines.append(f"- {data} / {case}: {text}" + ("; " + "; ".join(extra) if extra else ""))
    return lines


def grid_lines(results: dict[tuple[str, str], list[dict]], args: argparse.Namespace) -> list[str]:
    """Per data set, a Markdown table of the cases' pictures, three to a row, linked relative to the page."""
    lines = []
    for data in args.data_list:
        pictures = [(case, runs[0]["grid"]) for (d, case), runs in results.items()
                    if d == data and runs and runs[0].get("grid")]
        if not pictures:
            continue
        lines += [f"### {data}", ""]
        for start in range(0, len(pictures), 3):
            chunk = pictures[start:start + 3]
            lines.append("| " + " | ".join(case for case, _ in chunk) + " |")
            lines.append("|" + "|".join([":---:"] * len(chunk)) + "|")
            links = [f"![{data} {case}]({Path(grid).relative_to(args.out.parent).as_posix()})" for case, grid in chunk]
            lines.append("| " + " | ".join(links) + " |")
            lines.append("")
    return lines


def split_list(text: str, valid, flag: str, parser: argparse.ArgumentParser) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in valid]
    if unknown or not names:
        parser.error(f"{flag}: unknown {flag.removeprefix('--').rstrip('s')} {', '.join(unknown) or '(none)'}; "
                     f"valid: {', '.join(valid)}")
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget-minutes", type=float, default=None,
                        help=f"training wall-clock minutes per case and seed (default {DEFAULTS['budget_minutes']})")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="step cap per run, whichever of budget and cap comes first (default: no cap)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, every case runs each (default 0)")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated cases (default all: "
                                                                 f"{', '.join(CASES)})")
    parser.add_argument("--data", default=",".join(DATA), help=f"comma-separated data sets (default all: "
                                                               f"{', '.join(DATA)})")
    parser.add_argument("--eval-samples", type=int, default=None,
                        help=f"generated samples per evaluation (default {DEFAULTS['eval_samples']})")
    parser.add_argument("--image-size", type=int, default=None,
                        help=f"image side (default: mnist and stacked-mnist their own 28, the others "
                             f"{DEFAULTS['image_size']}); 4 to 7 times a power of two: 8, 12, 14, 16, 28, 32, ...")
    parser.add_argument("--birthday", action="store_true", help="add the birthday support-size estimate (slower)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--pin", default="auto", help="CPUs to pin every worker to, e.g. 1 or 2,3; 'auto' "
                                                      "(default): the last --threads CPUs; 'none': no pinning")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: {QUICK['budget_minutes'] * 60:g} s or {QUICK['max_steps']} steps per "
                             f"case, tiny networks, {QUICK['image_size']}x{QUICK['image_size']} images, "
                             f"{QUICK['eval_samples']} evaluation samples (explicit flags still win)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="the Markdown page (default docs/results/gan_zoo.md); grids go to the folder beside "
                             "it named after it (docs/results/gan_zoo/)")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else DEFAULTS
    args.image_size_given = args.image_size is not None
    for name in ("budget_minutes", "max_steps", "eval_samples", "image_size"):
        if getattr(args, name) is None:
            setattr(args, name, base[name])
    args.width = QUICK["width"] if args.quick else {}
    args.depth = QUICK["depth"] if args.quick else {}
    if not args.budget_minutes > 0:
        parser.error(f"--budget-minutes must be positive, got {args.budget_minutes}")
    for name in ("max_steps", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.eval_samples < 20:
        parser.error(f"--eval-samples must be at least 20, got {args.eval_samples}")
    if not any(args.image_size == start << steps for start in range(4, 8) for steps in range(1, 12)):
        parser.error(f"--image-size must be 4 to 7 times a power of two, at least 8 (8, 12, 14, 16, 28, 32, ...), "
                     f"got {args.image_size}")
    try:
        args.seed_list = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    except ValueError:
        parser.error(f"--seeds takes comma-separated integers such as 0 or 0,1,2; got {args.seeds!r}")
    if not args.seed_list or min(args.seed_list) < 0:
        parser.error(f"--seeds takes non-negative integers such as 0 or 0,1,2; got {args.seeds!r}")
    args.case_list = split_list(args.cases, CASES, "--cases", parser)
    args.data_list = split_list(args.data, DATA, "--data", parser)
    kinds = {DATA[data] for data in args.data_list}
    if not any(CASES[case]["kind"] in kinds for case in args.case_list):
        parser.error(f"no case fits --data {args.data}: {', '.join(args.case_list)} train on "
                     f"{' and '.join(sorted({CASES[c]['kind'] for c in args.case_list}))}")
    args.cpus = pinned_cpus(args.pin, args.threads, parser)
    args.grids = args.out.parent / args.out.stem
    return args


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 3 and sys.argv[1] == "--worker":
        return worker_main(sys.argv[2])
    args = parse_args(argv)
    shown = sys.argv[1:] if argv is None else argv
    info = {"command": shlex.join(["python", "bench/gan_zoo.py", *shown]), "load": load_average(),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "torch": versions()}
    args.grids.mkdir(parents=True, exist_ok=True)
    pairs = selected(args)
    started = time.perf_counter()
    results: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="gan-zoo-") as scratch:
        for index, (data, case) in enumerate(pairs, 1):
            results[(data, case)] = []
            for seed in args.seed_list:
                result = run_case(data, case, seed, args, Path(scratch))
                results[(data, case)].append(result)
                status = result.get("error") or (f"{result['steps']} steps in {result['seconds']:.1f} s"
                                                 if "steps" in result else "evaluated")
                print(f"[{index}/{len(pairs)}] {data} / {case} / seed {seed}: {status} "
                      f"({result.get('wall', 0):.0f} s in all)", file=sys.stderr, flush=True)
    info.update(load_end=load_average(), minutes=(time.perf_counter() - started) / 60)
    text = render(results, args, info)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
