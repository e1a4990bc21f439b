"""PacGAN on stacked MNIST (Lin et al. 2018, Table 3): does packing recover the modes a weak-D DCGAN loses?

The setting is PacGAN's "D is 1/4 size of G" column, run through advlab's own command line:

    advlab gan train --data stacked-mnist --model metz-dcgan --pack m --batch-size 128m --steps S \\
        --eval-every E --metrics modes --eval-samples N --seed s

metz-dcgan is Metz et al. 2017's stacked-MNIST DCGAN with the discriminator at 1/4 of the generator (2, 4 and 8
channels), with the authors' optimiser (advlab.models.metz_dcgan). PacGAN's pack-m discriminator judges 128 packs
of m samples a step, so the batch is 128m samples. Every E steps the run counts the modes (of 1,000) and the KL to
uniform of N samples, each channel read by advlab's MNIST classifier. The paper reports, over 50 runs of 500,000
steps: DCGAN 78.5 +- 17.6 modes (KL 5.21), PacDCGAN2 484.5 +- 33.0 (KL 2.61), PacDCGAN3 601.3, PacDCGAN4 667.4.

The page shows each pack's modes and KL at the last evaluation (mean +- std over seeds, and each seed), the mode
curves over training in a picture, and a check: packing covers at least 50 more modes than the same GAN unpacked at
the last evaluation, on every seed. Runs go to --work (kept and reused: a finished run with the same settings is read
back, so a longer --steps resumes the runs instead of starting over).

    python bench/pacgan_stacked.py --steps 500000 --seeds 0,1,2 --packs 1,2 --check   # the paper's length (GPU)
    python bench/pacgan_stacked.py --quick                                             # a smoke run
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (  # noqa: E402
    Check,
    Phases,
    add_verdict_flags,
    bench_command,
    checks_lines,
    module_versions,
    page_done,
    page_info,
    phase_lines,
    publish,
    verdict,
)

ROOT = Path(__file__).resolve().parent.parent
PAPER = {1: (78.5, 17.56, 5.21), 2: (484.5, 32.99, 2.61), 3: (601.3, 32.18, 2.00), 4: (667.4, 29.00, 1.81)}
PACKS_PER_STEP = 128  # PacGAN's minibatch: 128 packs whatever the pack size
MARGIN = 50  # modes: 5% of the 1,000 (the paper's gap at D = G/4 is 406)
FULL = {"steps": 100000, "eval_every": 5000, "eval_samples": 10000}
QUICK = {"steps": 40, "eval_every": 20, "eval_samples": 500}


def train_command(pack: int, seed: int, args: argparse.Namespace, run: Path) -> list[str]:
    """`advlab gan train` for one (pack, seed): PacGAN Table 3's D = G/4 setting."""
    return [sys.executable, "-m", "advlab", "gan", "train", "--data", "stacked-mnist", "--model", "metz-dcgan",
            "--pack", str(pack), "--batch-size", str(args.packs_per_step * pack), "--steps", str(args.steps),
            "--eval-every", str(args.eval_every), "--metrics", "modes", "--eval-samples", str(args.eval_samples),
            "--seed", str(seed), "--threads", str(args.threads), "--device", args.device,
            "--checkpoint-every", str(args.eval_every), "--sample-every", str(args.eval_every),
            "--keep-checkpoints", "1", "--tensorboard", "false", *quiet(args), "--out", str(run)]


def train(pack: int, seed: int, args: argparse.Namespace) -> dict:
    """Train (or resume, or read back) one run; its eval curve (read_run)."""
    run = args.work / f"pack{pack}-seed{seed}"
    summary = run / "summary.json"
    done = summary.is_file() and json.loads(summary.read_text()).get("step") == args.steps
    if not done:
        if (run / "config.yaml").is_file() and list((run / "checkpoints").glob("*.safetensors")):
            command = resume_command(run, args)  # the stored config rules; --steps may grow
        else:
            shutil.rmtree(run, ignore_errors=True)
            command = train_command(pack, seed, args, run)
        if args.progress and args.workers > 1:
            print(f"pacgan_stacked: training pack {pack}, seed {seed} to step {args.steps}", file=sys.stderr)
        if subprocess.run(command, cwd=ROOT).returncode != 0:
            raise SystemExit(f"pacgan_stacked: training pack {pack}, seed {seed} failed; its error is above")
    return read_run(run, pack, seed)


def resume_command(run: Path, args: argparse.Namespace) -> list[str]:
    """Resume a stored run to --steps (only --steps, --threads and --device may change on resume)."""
    return [sys.executable, "-m", "advlab", "gan", "train", "--resume", str(run), "--steps", str(args.steps),
            "--threads", str(args.threads), "--device", args.device, *quiet(args)]


def quiet(args: argparse.Namespace) -> list[str]:
    """--no-progress for the runs unless one runs at a time with progress on (several bars would interleave)."""
    return [] if args.progress and args.workers == 1 else ["--no-progress"]


def read_run(run: Path, pack: int, seed: int) -> dict:
    """{pack, seed, curve: [(step, modes, kl)], real_modes, samples} from a finished run directory."""
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"eval"' in line]
    curve = [(record["step"], record["modes"], record["kl"]) for record in evals if "modes" in record]
    if not curve:
        raise SystemExit(f"pacgan_stacked: {run} has no mode counts in metrics.jsonl")
    return {"pack": pack, "seed": seed, "curve": curve, "real_modes": evals[-1].get("real_modes"),
            "samples": run / "samples" / "final.png"}


def mean_std(values: list[float], digits: int = 1) -> str:
    spread = f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.{digits}f}{spread}"


def table(runs: list[dict], packs: list[int]) -> list[str]:
    lines = ["| D | steps | modes (of 1000) | KL | modes per seed | paper (500k steps, 50 runs) |",
             "|---|---:|---:|---:|---|---|"]
    for pack in packs:
        mine = [run for run in runs if run["pack"] == pack]
        last = [run["curve"][-1] for run in mine]
        paper = PAPER.get(pack)
        cited = f"{paper[0]} ± {paper[1]} modes, KL {paper[2]}" if paper else "–"
        name = "DCGAN (unpacked)" if pack == 1 else f"PacDCGAN{pack}"
        lines.append(f"| {name} | {last[0][0]} | {mean_std([m for _, m, _ in last])} | "
                     f"{mean_std([k for _, _, k in last], 2)} | {', '.join(str(m) for _, m, _ in last)} | {cited} |")
    return lines


def checks(runs: list[dict], packs: list[int], seeds: list[int]) -> list[Check]:
    """Each packed D covers at least MARGIN more modes than the unpacked one at the last evaluation, seed by seed (a
    collapsed GAN's count wanders by a few modes between evaluations, so a bare "more" would pass on noise)."""
    if 1 not in packs:
        return []
    last = {(run["pack"], run["seed"]): run["curve"][-1][1] for run in runs}
    found = []
    for pack in (p for p in packs if p > 1):
        pairs = [f"{last[pack, seed]} vs {last[1, seed]}" for seed in seeds]
        found.append(Check(f"pack {pack} covers at least {MARGIN} more modes than pack 1 at the last evaluation, "
                           "every seed", "; ".join(pairs),
                           verdict(all(last[pack, s] >= last[1, s] + MARGIN for s in seeds))))
    return found


def plot(runs: list[dict], path: Path) -> Path:
    """Modes covered against steps: one line per run, one colour per pack."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4), layout="constrained")
    axis = figure.subplots()
    colours = {1: "tab:red", 2: "tab:blue", 3: "tab:green", 4: "tab:purple"}
    for run in runs:
        steps, modes, _ = zip(*run["curve"], strict=True)
        label = f"pack {run['pack']}" if run["seed"] == min(r["seed"] for r in runs) else None
        axis.plot(steps, modes, marker="o", markersize=2, color=colours.get(run["pack"], "black"), label=label,
                  alpha=0.8)
    axis.set(xlabel="generator steps", ylabel="modes covered (of 1000, log scale)", yscale="log", ylim=(0.8, 1200),
             title="stacked MNIST, metz-dcgan with D at 1/4 of G: one line per seed")
    axis.grid(alpha=0.3)
    axis.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90, format="png")
    return path


def render(runs, found, info, phases, args, command, picture) -> str:
    lines = ["# PacGAN on stacked MNIST: modes with D at 1/4 of G (Lin et al. 2018, Table 3)", "",
             f"- machine: {info['threads']} torch thread(s) per run, {args.workers} run(s) at once, device "
             f"{args.device}; load average at start {info['load']}, at the end {info['load_end']}; torch "
             f"{info['versions']['torch']}",
             f"- date: {info['date']}; this invocation took {info['seconds'] / 60:.1f} min (runs already finished "
             "in --work are read back, not trained again)",
             f"- command: `{command}`",
             f"- each run: `advlab gan train --data stacked-mnist --model metz-dcgan --pack m --batch-size "
             f"{args.packs_per_step}m "
             f"--steps {args.steps} --eval-every {args.eval_every} --metrics modes --eval-samples "
             f"{args.eval_samples}` (seeds {', '.join(map(str, args.seed_list))}); modes and KL of "
             f"{args.eval_samples} samples, each channel read by advlab's MNIST classifier; real stacked images "
             f"of the same number show {runs[0]['real_modes']} modes", "",
             *table(runs, args.pack_list), ""]
    if found:
        lines += ["## Checks", "", *checks_lines(found), ""]
    lines += ["## Reading the table", "",
              "- **modes**: distinct (a, b, c) triples among the samples, each channel classified by advlab's MNIST "
              "network (98.7% on held-out digits); a sample counts whatever it looks like, so read the pictures "
              "too. **KL**: from the samples' mode histogram to the uniform 1,000 modes, in nats (0 is perfect; "
              "ln 1000 = 6.91 is one mode).",
              "- **paper**: PacGAN's Table 3 at the end of 500,000 steps, means over 50 runs with standard errors; "
              f"this page's runs are {args.steps:,} steps long, so compare the ordering, not the values.",
              "- Samples are drawn the way every advlab run draws them: G in eval mode, its batch norm on running "
              "statistics (the authors' code samples with each batch's statistics; on these runs' checkpoints both "
              "ways count nearly the same modes).",
              "- Where advlab's game differs from the authors' code: G's step draws fresh noise (Goodfellow et al.'s "
              "Algorithm 1; their code reuses D's), and the data are a fixed set of 10,000 stacked images (theirs "
              "draws fresh triples every step). A copy of their code outside advlab, at seed 0, counted 19-94 modes "
              "unpacked between 5,000 and 50,000 steps and 2-53 packed up to 30,000 steps: packing had not pulled "
              "ahead there by then.", ""]
    if picture is not None:
        lines += [f"![modes over training]({picture.name})", ""]
    lines += ["## Timings", "", *phase_lines(phases), ""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packs", default="1,2", help="pack sizes, comma-separated (default 1,2)")
    parser.add_argument("--seeds", default=None, help="seeds, comma-separated (default 0,1,2; --quick 0)")
    for name, value in FULL.items():
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=None,
                            help=f"default {value}; --quick {QUICK[name]}")
    parser.add_argument("--packs-per-step", type=int, default=PACKS_PER_STEP,
                        help="packs D judges a step, real and generated each (default %(default)s, PacGAN's "
                             "minibatch); the batch is this times the pack size")
    parser.add_argument("--quick", action="store_true", help="a smoke run: one seed, a few steps")
    parser.add_argument("--workers", type=int, default=1, help="runs trained at once (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--work", type=Path, default=ROOT / "runs/bench/pacgan_stacked",
                        help="run directories, kept and reused (default %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/results/pacgan_stacked.md", help="the page")
    add_verdict_flags(parser)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    for name, value in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.seeds is None:
        args.seeds = "0" if args.quick else "0,1,2"
    try:
        args.pack_list = sorted({int(p) for p in args.packs.split(",")})
        args.seed_list = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--packs and --seeds take integers, e.g. 1,2 and 0,1,2; got {args.packs!r}, {args.seeds!r}")
    if min(args.pack_list) < 1 or min(args.steps, args.eval_every, args.eval_samples, args.workers,
                                      args.packs_per_step) < 1:
        parser.error("--packs, --steps, --eval-every, --eval-samples, --workers and --packs-per-step must be positive")
    args.cpus = None
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = page_info(args, module_versions(("torch",)))
    phases = Phases()
    jobs = [(pack, seed) for seed in args.seed_list for pack in args.pack_list]
    with ThreadPoolExecutor(args.workers) as pool:
        runs = phases.run("training", lambda: list(pool.map(lambda job: train(*job, args), jobs)))
    page_done(info)
    found = checks(runs, args.pack_list, args.seed_list)
    picture = plot(runs, args.out.with_suffix("").parent / (args.out.stem + "_modes.png"))
    for run in runs:
        if run["seed"] == args.seed_list[0] and run["samples"].is_file():
            shutil.copyfile(run["samples"], picture.parent / f"{args.out.stem}_pack{run['pack']}.png")
    text = render(runs, found, info, phases, args, bench_command("pacgan_stacked.py", argv), picture)
    return publish(text, args.out, "pacgan_stacked", found, args.check)


if __name__ == "__main__":
    sys.exit(main())
