"""Scaling under torchrun: steps/s and images/s of advlab's own commands on 1 and 2 CPU processes and 1..N GPUs.

Issue 18 part 6. Each workload is an advlab command run as a user runs it -- ``python -m advlab ...`` for one
process, ``python -m torch.distributed.run --standalone --nproc-per-node N -m advlab ...`` (what ``torchrun``
runs) for N -- with the same global work for every number of processes:

* **gan**: ``advlab gan train --data digits --model dcgan`` (scikit-learn's 8x8 digits), a global minibatch of
  ``--batch-size`` (64) split into N shares, ``--steps`` iterations of Algorithm 1 (advlab.gan.trainer);
* **pgd-at**: ``advlab classifier train --data digits --defense pgd-at --eps 0.2`` (SmallCNN, PGD-10 inner
  maximisation, Madry et al. 2018 eq. 2.1) for ``--epochs`` epochs, each minibatch of 64 split into N shares;
* **robustness**: ``advlab robustness RUN --eps 0.1,0.2 --budget fast`` on the first ``--images`` held-out
  images of a PGD-AT run trained once beforehand (untimed), cut into chunks of ``--chunk-size`` images (by
  default the images / the largest number of processes, the same for every row, so each rank has a chunk and
  every row must give the 1-process figures exactly; advlab.pipelines.chunks), with one fixed surrogate run
  for the transfer attack (the default surrogate trains against the clock and could differ between rows).

The rates come from each run's own clock, which starts after start-up (imports, the process group's
rendezvous, data loading): summary.json's ``seconds`` (the training loop: for pgd-at it includes each epoch's
held-out and PGD-10 robust accuracy, in chunks of 1,024 images: for digits' 360 one chunk, on rank 0) and
robustness.json's ``seconds.total`` (every attack and check; the surrogate's loading apart). The wall time of
the whole command, start-up included, is shown beside it, and the cores its processes kept busy (their CPU
seconds / its wall seconds). speed-up = t(1 process) / t(N), from the median over ``--rounds`` rounds (the
process counts interleaved, their order alternating round by round); efficiency = speed-up / N. CPU rows run
every process with OMP_NUM_THREADS=1 and ``--threads 1``, so 2 processes use 2 cores; on a machine where other
work already keeps the cores busy they share them, and the page states the load average.

On a machine with CUDA (``--devices`` auto) GPU rows follow: ``--device cuda`` (NCCL, one process per GPU) for
1..N GPUs (N = torch.cuda.device_count()), plus bf16 rows (``--precision bf16``, autocast) for the trainings.

    python bench/scaling.py                    # CPU, 1 and 2 processes, 3 rounds: see the page's total time
    python bench/scaling.py --quick            # a smoke run
    python bench/scaling.py --workloads gan --processes 1,2,4 --steps 1000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from benchlib import Check  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "results" / "scaling.md"
WORKLOADS = ("gan", "pgd-at", "robustness")
DEVICES = ("cpu", "cuda")
SEED = 0
TRAIN_EPS = 0.2  # digits' PGD-AT radius (as bench/robustness_report.py trains it)

FULL = {"steps": 300, "batch_size": 64, "epochs": 3, "images": 360, "rounds": 3, "model_epochs": 10,
        "eps": "0.1,0.2", "check_images": 50, "attack": []}
QUICK = {"steps": 20, "batch_size": 64, "epochs": 1, "images": 40, "rounds": 1, "model_epochs": 1,
         "eps": "0.1", "check_images": 10, "attack": ["--steps", "5", "--queries", "20", "--targets", "1"]}
UNITS = {"gan": "steps", "pgd-at": "epochs", "robustness": "images"}
TITLES = {"gan": "Digits DCGAN: `advlab gan train --data digits --model dcgan`",
          "pgd-at": "PGD-AT: `advlab classifier train --data digits --defense pgd-at`",
          "robustness": "Robustness evaluation: `advlab robustness RUN` (chunked)"}


@dataclass(frozen=True)
class Setting:
    """Where a workload runs: the device kind, the number of processes (one per GPU on CUDA), the precision."""

    device: str
    processes: int
    precision: str = "fp32"

    @property
    def label(self) -> str:
        return f"{self.device} x{self.processes} {self.precision}"


@dataclass
class Measured:
    """One run of one workload: its own loop seconds, the command's wall seconds, the work done and its figures."""

    workload: str
    setting: Setting
    loop: float | None = None
    wall: float | None = None
    cpu: float | None = None  # CPU seconds of all the command's processes, start-up included
    work: float = 0.0  # steps, epochs or images
    images: float = 0.0  # images processed (minibatch rows, training images, evaluated images)
    figures: dict = field(default_factory=dict)
    processes_seen: int | None = None  # the number of processes the run recorded
    retried: bool = False
    error: str | None = None


# ---------------------------------------------------------------------------------- launching advlab


def advlab_command(setting: Setting, argv: list[str]) -> list[str]:
    """One process: ``python -m advlab ARGV``; N: ``python -m torch.distributed.run --standalone ... -m advlab --
    ARGV`` (the ``--`` keeps torchrun's own parser, which takes abbreviations, off advlab's flags: it refuses
    ``--n`` as ambiguous with its --nnodes / --nproc-per-node / --node-rank)."""
    if setting.processes == 1:
        return [sys.executable, "-m", "advlab", *argv]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
            str(setting.processes), "-m", "advlab", "--", *argv]


def environment() -> dict[str, str]:
    """The children's environment: one OpenMP thread per process, a dead rank noticed within 2 minutes."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "ADVLAB_DIST_TIMEOUT": "120",
            "PYTHONUNBUFFERED": "1"}


def launch(command: list[str], timeout: float) -> tuple[int, float, float, str]:
    """Run `command` in its own process group: (exit status, wall seconds, CPU seconds of all its processes, the
    tail of its stderr). A command past `timeout` is ended with its whole group (torchrun's workers too)."""
    start, cpu = time.perf_counter(), children_cpu()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=environment(), cwd=ROOT, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        return -9, time.perf_counter() - start, children_cpu() - cpu, f"ran past --timeout {timeout:g} s"
    return process.returncode, time.perf_counter() - start, children_cpu() - cpu, (stderr or "")[-4000:]


def run_advlab(measured: Measured, argv: list[str], args: argparse.Namespace, fresh=None) -> bool:
    """Run advlab with `argv` under `measured.setting`, up to --tries times until it succeeds (`fresh()` first
    clears what a failed try left). Sets wall, retried and error; True when a try succeeded."""
    command = advlab_command(measured.setting, argv)
    for attempt in range(args.tries):
        if fresh is not None:
            fresh()
        status, wall, cpu, stderr = launch(command, args.timeout)
        if status == 0:
            measured.wall, measured.cpu, measured.retried = wall, cpu, attempt > 0
            return True
        measured.error = f"exit {status}: {reason(stderr)}"
        if args.verbose:
            say(f"{measured.workload} {measured.setting.label} failed:\n{stderr}")
    return False


CAUSES = ("advlab: error", "terminate called", "Error:", "exitcode")  # the telling lines of a failure, best first


def reason(stderr: str) -> str:
    """The line of a failed command's stderr that says why: advlab's own message, a C++ abort, an exception, or
    torchrun's exit code of the rank that failed first; else the last line that is not a rule."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip().strip("=-")]
    for cause in CAUSES:
        found = [line for line in lines if cause in line]
        if found:
            return found[0][:300]
    return lines[-1][:300] if lines else "no message"


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def device_flags(setting: Setting, threads: int = 1) -> list[str]:
    return ["--device", setting.device, "--threads", str(threads), "--seed", str(SEED), "--no-progress"]


def gone(path: Path):
    """A function that removes `path` (a failed try's leftovers) when called."""
    return lambda: shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------- the workloads


def gan(setting: Setting, args: argparse.Namespace, out: Path) -> Measured:
    """The digits DCGAN for --steps iterations at the global batch --batch-size; steps/s and real images/s (the
    minibatch rows D judges: steps x k x batch)."""
    measured = Measured("gan", setting)
    argv = ["gan", "train", "--data", "digits", "--model", "dcgan", "--steps", str(args.steps), "--batch-size",
            str(args.batch_size), "--precision", setting.precision, "--log-every", str(max(args.steps // 10, 1)),
            "--sample-every", "100000000", "--checkpoint-every", "100000000", "--tensorboard", "false",
            "--out", str(out), *device_flags(setting)]
    if not run_advlab(measured, argv, args, gone(out)):
        return measured
    summary, config = read_json(out / "summary.json"), read_config(out / "config.yaml")
    measured.loop, measured.work = float(summary["seconds"]), float(summary["step"])
    measured.images = measured.work * int(config["k"]) * int(config["batch_size"])
    records = sorted((out / "checkpoints").glob("step-*.json"))
    measured.processes_seen = int(read_json(records[-1]).get("world_size", 1)) if records else None
    last = last_record(out / "metrics.jsonl", "train")
    measured.figures = {"d_loss": last.get("d_loss"), "g_loss": last.get("g_loss")}
    return measured


def pgd_at_argv(setting: Setting, epochs: int, out: Path) -> list[str]:
    return ["classifier", "train", "--data", "digits", "--defense", "pgd-at", "--eps", str(TRAIN_EPS), "--epochs",
            str(epochs), "--precision", setting.precision, "--out", str(out), *device_flags(setting)]


def pgd_at(setting: Setting, args: argparse.Namespace, out: Path) -> Measured:
    """PGD-AT on digits for --epochs epochs; epochs/s and training images/s."""
    measured = Measured("pgd-at", setting)
    if not run_advlab(measured, pgd_at_argv(setting, args.epochs, out), args, gone(out)):
        return measured
    summary = read_json(out / "summary.json")
    measured.loop, measured.work = float(summary["seconds"]), float(summary["epochs"])
    measured.images = measured.work * int(summary["train_size"])
    measured.processes_seen = summary.get("processes")
    measured.figures = {"test_accuracy": summary.get("test_accuracy"),
                        "test_robust_accuracy": summary.get("test_robust_accuracy")}
    return measured


def robustness(setting: Setting, args: argparse.Namespace, out: Path) -> Measured:
    """`advlab robustness` on a copy of the prepared PGD-AT run (RUN/robustness.json is rewritten per call);
    images/s, and the figures the rows must share."""
    measured = Measured("robustness", setting)

    def fresh():
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(args.folder / "model", out, ignore=shutil.ignore_patterns("robustness*", "report.*"))

    argv = ["robustness", str(out), "--eps", args.eps, "--budget", "fast", "--n", str(args.images),
            "--check-images", str(args.check_images), "--chunk-size", str(args.chunk_size), "--surrogate",
            str(args.folder / "surrogate"), *args.attack, *device_flags(setting)]
    if not run_advlab(measured, argv, args, fresh):
        return measured
    record = read_json(out / "robustness.json")
    measured.loop, measured.work = float(record["seconds"]["total"]), float(record["n"])
    measured.images = measured.work
    measured.processes_seen = record.get("processes")
    measured.figures = {key: record.get(key) for key in ("robust_accuracy", "per_attack", "unbroken")}
    measured.figures["chunks"] = record.get("chunks", {}).get("count")
    return measured


RUNNERS = {"gan": gan, "pgd-at": pgd_at, "robustness": robustness}


def read_config(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())


def last_record(path: Path, kind: str) -> dict:
    """The last record of `kind` in a metrics.jsonl ({} when there is none)."""
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return next((record for record in reversed(records) if record.get("kind") == kind), {})


def prepare_model(args: argparse.Namespace) -> None:
    """The robustness workload's victim (PGD-AT, --model-epochs, one CPU process) and its transfer surrogate
    (an MLP), trained once, untimed; reused from --work when a finished one was made by the same command."""
    cpu = Setting("cpu", 1)
    plans = {"model": pgd_at_argv(cpu, args.model_epochs, args.folder / "model"),
             "surrogate": ["classifier", "train", "--data", "digits", "--model", "mlp", "--epochs", "10",
                           "--out", str(args.folder / "surrogate"), *device_flags(cpu)]}
    for name, argv in plans.items():
        run, stamp = args.folder / name, args.folder / f"{name}.command.json"
        if (run / "summary.json").is_file() and stamp.is_file() and read_json(stamp) == argv:
            continue
        measured = Measured(name, cpu)
        if not run_advlab(measured, argv + ["--overwrite"], args):
            raise RuntimeError(f"training the robustness workload's {name} failed ({measured.error})")
        stamp.write_text(json.dumps(argv))


# ---------------------------------------------------------------------------------- the plan


def settings(args: argparse.Namespace) -> list[Setting]:
    """Every setting to time: the CPU's process counts, then the GPU counts (fp32, and bf16 at 1 and N GPUs)."""
    chosen = []
    if "cpu" in args.devices:
        chosen += [Setting("cpu", n) for n in args.processes]
    if "cuda" in args.devices:
        chosen += [Setting("cuda", n) for n in args.gpus]
        if args.bf16:
            chosen += [Setting("cuda", n, "bf16") for n in sorted({min(args.gpus), max(args.gpus)})]
    return chosen


def applies(workload: str, setting: Setting) -> bool:
    """robustness has no --precision (evaluations run in fp32): no bf16 row."""
    return not (workload == "robustness" and setting.precision != "fp32")


def run_rounds(args: argparse.Namespace, phases: Phases) -> list[Measured]:
    """--rounds rounds; in each, every workload in every setting, the settings' order alternating by round."""
    plan = settings(args)
    found: list[Measured] = []
    for index in range(args.rounds):
        order = plan if index % 2 == 0 else plan[::-1]
        for workload in args.workloads:
            for setting in (s for s in order if applies(workload, s)):
                out = args.folder / "runs" / f"{workload}-{setting.device}{setting.processes}-{setting.precision}" \
                    f"-round{index + 1}"
                measured = phases.run(f"{workload} ({setting.label})", RUNNERS[workload], setting, args, out)
                found.append(measured)
                done = f"loop {measured.loop:.2f} s, wall {measured.wall:.1f} s" if measured.loop is not None \
                    else f"FAILED {measured.error}"
                say(f"round {index + 1}/{args.rounds} {workload} {setting.label}: {done}")
    return found


class Phases(dict):
    """{phase: (wall seconds, CPU seconds of the commands it ran)}, summed over the rounds: the CPU time is the
    finished child processes' (torchrun's workers included), which shows whether N processes had N cores."""

    def run(self, name: str, work, *arguments):
        wall, cpu = time.perf_counter(), children_cpu()
        value = work(*arguments)
        before = self.get(name, (0.0, 0.0))
        self[name] = (before[0] + time.perf_counter() - wall, before[1] + children_cpu() - cpu)
        return value


def children_cpu() -> float:
    """User + system CPU seconds of this process's finished children and their waited-for descendants."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------------------- figures


@dataclass
class Row:
    """The rounds of one workload in one setting, summarised."""

    workload: str
    setting: Setting
    runs: list[Measured]

    @property
    def good(self) -> list[Measured]:
        return [m for m in self.runs if m.loop is not None]

    def median(self, what: str) -> float | None:
        values = [getattr(m, what) for m in self.good if getattr(m, what) is not None]
        return statistics.median(values) if values else None

    def cores(self) -> float | None:
        """CPU seconds / wall seconds of the commands (medians): how many cores their processes kept busy."""
        cpu, wall = self.median("cpu"), self.median("wall")
        return cpu / wall if cpu is not None and wall else None

    def rate(self, what: str = "work") -> float | None:
        """Work (or images) per second of the training loop / evaluation, at the median loop time."""
        loop = self.median("loop")
        return None if not loop else self.median(what) / loop


def rows_of(found: list[Measured]) -> list[Row]:
    rows: dict[tuple[str, Setting], Row] = {}
    for measured in found:
        rows.setdefault((measured.workload, measured.setting), Row(measured.workload, measured.setting, [])).runs \
            .append(measured)
    return list(rows.values())


def baseline(rows: list[Row], row: Row) -> Row | None:
    """The 1-process fp32 row of the same workload and device: what speed-up is measured against."""
    return next((other for other in rows if other.workload == row.workload and other.setting ==
                 Setting(row.setting.device, 1)), None)


def speed_up(rows: list[Row], row: Row, what: str = "loop") -> float | None:
    """t(1 process) / t(this row), medians over the rounds."""
    base = baseline(rows, row)
    first, this = (base.median(what) if base else None), row.median(what)
    return first / this if first and this else None


def number(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def spread(row: Row) -> str:
    loops = [m.loop for m in row.good]
    if len(loops) < 2:
        return ""
    return f" ({min(loops):.2f}–{max(loops):.2f})"


def figures_cell(row: Row) -> str:
    """What the run computed (the last good round's): losses, accuracies or robust accuracies."""
    if not row.good:
        return "; ".join(sorted({m.error for m in row.runs if m.error}))
    figures = row.good[-1].figures
    if row.workload == "gan":
        return f"D loss {number(figures.get('d_loss'), 3)}, G loss {number(figures.get('g_loss'), 3)}"
    if row.workload == "pgd-at":
        return f"{percent(figures.get('test_accuracy'))} / {percent(figures.get('test_robust_accuracy'))} under PGD-10"
    return ", ".join(f"ε {eps}: {percent(value)}" for eps, value in figures.get("robust_accuracy", {}).items())


def table_lines(rows: list[Row], workload: str) -> list[str]:
    """One workload's table: one row per setting."""
    unit, images = UNITS[workload], workload != "robustness"  # an evaluation's work is its images
    result = {"gan": "last logged losses", "pgd-at": "held-out / robust accuracy",
              "robustness": "robust accuracy (worst case)"}[workload]
    lines = [f"| device | processes | precision | loop s (median; range) | {unit}/s | {'images/s | ' * images}"
             f"speed-up | efficiency | wall s with start-up | wall speed-up | cores busy | {result} |",
             "|---|---:|---|---:|---:|" + "---:|" * images + "---:|---:|---:|---:|---:|---|"]
    for row in (r for r in rows if r.workload == workload):
        gain = speed_up(rows, row)
        lines.append(f"| {row.setting.device} | {row.setting.processes} | {row.setting.precision} "
                     f"| {number(row.median('loop'))}{spread(row)} | {number(row.rate())} "
                     f"| {(number(row.rate('images'), 0) + ' | ') * images}{number(gain)} "
                     f"| {number(gain / row.setting.processes if gain else None)} | {number(row.median('wall'), 1)} "
                     f"| {number(speed_up(rows, row, 'wall'))} | {number(row.cores(), 1)} | {figures_cell(row)} |")
    return lines


def headline(rows: list[Row]) -> list[str]:
    """One sentence per workload: the largest process count's speed-up and efficiency on each device."""
    lines = []
    for workload in WORKLOADS:
        for device in DEVICES:
            mine = [r for r in rows if r.workload == workload and r.setting.device == device and
                    r.setting.precision == "fp32" and r.good]
            if len(mine) < 2:
                continue
            top = max(mine, key=lambda r: r.setting.processes)
            gain = speed_up(rows, top)
            if gain is None:
                continue
            unit, first = UNITS[workload], baseline(rows, top)
            lines.append(f"- {workload} on {device}: {number(first.rate())} {unit}/s on 1 process, "
                         f"{number(top.rate())} on {top.setting.processes}: speed-up {number(gain)}, efficiency "
                         f"{number(gain / top.setting.processes)} (wall time with start-up: speed-up "
                         f"{number(speed_up(rows, top, 'wall'))})")
    return lines


# ---------------------------------------------------------------------------------- checks


def run_checks(found: list[Measured], rows: list[Row]) -> list[Check]:
    """Every run finished; every run recorded the number of processes it was started with; every robustness row
    gave the 1-process figures exactly."""
    failed = [m for m in found if m.loop is None]
    retried = [m for m in found if m.retried]
    checks = [Check("every run finished (a run that fails is tried again, up to --tries times)",
                    f"{len(found) - len(failed)} of {len(found)} ({len(retried)} after a failed try)",
                    "PASS" if not failed else "FAIL")]
    wrong = [m for m in found if m.loop is not None and m.processes_seen != m.setting.processes]
    checks.append(Check("each run recorded the number of processes it was started with",
                        "all" if not wrong else ", ".join(f"{m.workload} {m.setting.label}: {m.processes_seen}"
                                                          for m in wrong), "PASS" if not wrong else "FAIL"))
    for row in (r for r in rows if r.workload == "robustness" and r.setting.processes > 1 and r.good):
        base = baseline(rows, row)
        if base is None or not base.good:
            continue
        reference = {k: v for k, v in base.good[0].figures.items()}
        same = all(m.figures == reference for m in row.good)
        checks.append(Check(f"robustness on {row.setting.processes} {row.setting.device} processes: the "
                            "1-process record exactly (robust accuracy, per attack, unbroken rows)",
                            "identical" if same else "DIFFERENT", "PASS" if same else "FAIL"))
    return checks


# ---------------------------------------------------------------------------------- the page


def machine_lines(info: dict, args: argparse.Namespace) -> list[str]:
    machine = f"{platform.system()} {platform.machine()}, {benchlib.cpu_model()}"
    lines = [f"- machine: {machine}, {os.cpu_count()} logical CPUs "
             f"(this bench may use {info['cpus']}); load average {info['load']} at the start, {info['load_end']} at "
             f"the end: {busy(info['load'])}",
             "- versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) +
             f"; Python {platform.python_version()}"]
    if "cuda" in args.devices:
        lines.append(f"- GPUs: {info['gpus']}")
    else:
        lines.append(f"- GPUs: {info['gpus']}; no GPU rows")
    return lines


def busy(load: str) -> str:
    """What the 1-minute load average says about the cores the 2-process rows share."""
    try:
        first = float(load.split("/")[0])
    except ValueError:
        return "the machine's load is unknown"
    cores = os.cpu_count() or 1
    if first >= cores:
        return (f"other work already kept about {first:.1f} CPUs busy on {cores}, so every process here, and both of "
                "the 2-process rows' processes, shared their cores with it")
    return f"about {first:.1f} of {cores} CPUs were busy with other work"


def plot(rows: list[Row], workloads: list[str], path: Path) -> Path:
    """One panel per workload: the rate of each device's runs against the number of processes, beside the
    ideal (the 1-process rate times N)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2 * max(len(workloads), 1), 3.6), layout="constrained")
    axes = figure.subplots(1, max(len(workloads), 1), squeeze=False)[0]
    for axis, workload in zip(axes, workloads):
        for device in DEVICES:
            mine = sorted((r for r in rows if r.workload == workload and r.setting.device == device and
                           r.setting.precision == "fp32" and r.rate() is not None), key=lambda r: r.setting.processes)
            if not mine:
                continue
            counts = [r.setting.processes for r in mine]
            axis.plot(counts, [r.rate() for r in mine], "o-", label=f"{device}: measured")
            first = next((r.rate() for r in mine if r.setting.processes == 1), None)
            if first is not None:
                axis.plot(counts, [first * n for n in counts], "--", color="grey", label=f"{device}: ideal (linear)")
        axis.set_xticks(sorted({r.setting.processes for r in rows if r.workload == workload}))
        axis.set_title(TITLES[workload].split(":")[0], fontsize=9)
        axis.set_xlabel("processes")
        axis.set_ylabel(f"{UNITS[workload]}/s")
        axis.set_ylim(bottom=0)
        axis.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90, format="png")
    return path


def render(rows: list[Row], checks: list[Check], info: dict, args: argparse.Namespace, command: str,
           phases: Phases) -> str:
    lines = ["# Scaling under torchrun: 1 and 2 CPU processes (gloo), 1..N GPUs (NCCL)", "",
             f"Made by `{command}` on {info['date']}; total {info['seconds'] / 60:.1f} min wall.", "",
             *machine_lines(info, args),
             f"- every process: OMP_NUM_THREADS=1 and `--threads 1`; seed {SEED}; {args.rounds} round(s), the "
             "settings interleaved and their order alternating round by round; figures are medians over the rounds",
             "", "## Headline", "", *(headline(rows) or ["- (fewer than two process counts measured)"]),
             "", f"![rate against processes, measured and ideal]({args.out.with_suffix('.png').name})"]
    for workload in args.workloads:
        lines += ["", f"## {TITLES[workload]}", "", workload_words(workload, args), "", *table_lines(rows, workload)]
    lines += ["", "## Checks", "", *benchlib.checks_lines(checks), "", "## How to read the tables", "", READING, "",
              "## Timings", "", "Wall seconds of each phase, all rounds together, and the CPU seconds of the "
              "commands it ran (every process, start-up included):", "", *benchlib.phase_lines(phases)]
    notes = [f"- {m.workload} {m.setting.label}: a try failed ({m.error}); the one that succeeded is counted"
             for m in (m for row in rows for m in row.runs) if m.retried]
    if notes:
        lines += ["", "## Notes", "", *notes]
    return "\n".join(lines) + "\n"


def workload_words(workload: str, args: argparse.Namespace) -> str:
    if workload == "gan":
        return (f"{args.steps} steps at a global batch of {args.batch_size} (each of N processes takes "
                f"{args.batch_size}/N rows), k = 1; images/s = steps x k x batch / loop seconds. DCGAN has "
                "batch-norm, so its statistics are per share and N processes do not reproduce 1 exactly.")
    if workload == "pgd-at":
        return (f"{args.epochs} epoch(s) of PGD-AT (Linf eps {TRAIN_EPS}, PGD-10) at a global batch of 64 on the "
                "1,437 training digits; images/s = epochs x training images / loop seconds. The loop includes "
                "each epoch's held-out and PGD-10 robust accuracy on the 360 held-out digits, which advlab deals "
                "out in chunks of 1,024 images: one chunk here, computed by rank 0 while the others wait. The "
                "PGD random starts are drawn per rank, so the accuracies differ a little with N.")
    return (f"{args.images} held-out images at eps {args.eps} (fast budget: APGD-CE, APGD-T, Square, FGSM, PGD, "
            f"transfer; checks on {args.check_images} images) in chunks of {args.chunk_size}, on a PGD-AT model "
            f"trained for {args.model_epochs} epoch(s) beforehand; images/s = images / the evaluation's seconds "
            "(robustness.json seconds.total). Each chunk is attacked on one rank with its own seeds, so every row "
            "must give the 1-process record (see Checks).")


READING = """\
- loop s: the run's own clock, started after start-up (Python and torch imports, torchrun's rendezvous, data
  loading): summary.json `seconds` for the trainings, robustness.json `seconds.total` for the evaluation.
- wall s with start-up: the whole command, as a user waits for it (torchrun's agent, the process group, the
  report written by rank 0 included). The 1-process rows run `python -m advlab` without torchrun.
- cores busy: the CPU seconds of all the command's processes / its wall seconds (start-up included): how many
  cores the processes actually had. Two processes that had two cores to themselves come near 2.0; on cores
  that other work keeps busy they get less, and no speed-up can exceed what they got.
- speed-up = t(1 process) / t(N processes) of the medians of the same column; efficiency = speed-up / N (1.00
  is perfect scaling). A bf16 row's speed-up is against the 1-process fp32 row of its device.
- On 2 CPU cores two processes can at best halve the time, and only if nothing else runs: every step also
  averages the gradients over the processes (one all-reduce per player and step) and broadcasts batch-norm
  buffers, which a model as small as these (8x8 digits) does not amortise."""


# ---------------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"out of {', '.join(WORKLOADS)}")
    parser.add_argument("--processes", default="1,2", help="CPU process counts (default 1,2)")
    parser.add_argument("--devices", default="auto", help="cpu, cuda or cpu,cuda (default auto: cpu, and cuda "
                                                          "where torch sees a GPU)")
    parser.add_argument("--gpus", default="all", help="GPU counts, e.g. 1,2,4 (default all: 1..device count)")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false", help="no bf16 rows on the GPU")
    benchlib.add_size_flags(parser, {"steps": "GAN iterations", "batch_size": "the GAN's global batch",
                                     "epochs": "PGD-AT epochs", "images": "held-out images of the evaluation",
                                     "rounds": "rounds (the median counts)",
                                     "model_epochs": "epochs of the evaluated PGD-AT model (untimed)"}, FULL, QUICK)
    parser.add_argument("--eps", default=None, help=f"evaluation budgets (default {FULL['eps']}; --quick "
                                                    f"{QUICK['eps']})")
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="images per chunk of the evaluation (default: images / the largest process count)")
    parser.add_argument("--tries", type=int, default=2, help="tries per run before it counts as failed (default 2)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one run may take (default 600)")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the runs here (the evaluated model is reused); default: a temporary folder")
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, one round")
    parser.add_argument("--check", action="store_true", help="exit 1 if any check is FAIL")
    parser.add_argument("--verbose", action="store_true", help="print the stderr of a run that fails")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the page (default docs/results/scaling.md)")
    args = parser.parse_args(argv)
    settings_of(args, parser)
    return args


def settings_of(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Fill the sizes from FULL or QUICK and check every flag before any work."""
    sizes = QUICK if args.quick else FULL
    if args.tries < 1:
        parser.error("--tries must be at least 1")
    for name in ("steps", "batch_size", "epochs", "images", "rounds", "model_epochs", "eps"):
        if getattr(args, name) is None:
            setattr(args, name, sizes[name])
        if name != "eps" and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    args.check_images, args.attack = sizes["check_images"], sizes["attack"]
    args.workloads = tuple(benchlib.split_list(args.workloads, WORKLOADS, parser, "workload(s)"))
    args.processes = counts(args.processes, "--processes", parser)
    args.devices = devices(args.devices, parser)
    args.gpus = gpu_counts(args.gpus, parser) if "cuda" in args.devices else []
    largest = max([*args.processes, *args.gpus] or [1])
    if args.batch_size % largest:
        parser.error(f"--batch-size {args.batch_size} cannot be split among {largest} processes; use a multiple "
                     f"of {largest}")
    if args.chunk_size is None:
        args.chunk_size = -(-args.images // largest)
    if args.chunk_size < 1:
        parser.error("--chunk-size must be at least 1")


def counts(text: str, flag: str, parser: argparse.ArgumentParser) -> list[int]:
    try:
        values = sorted({int(item) for item in text.split(",") if item.strip()})
    except ValueError:
        parser.error(f"{flag} takes process counts such as 1,2; got {text!r}")
    if not values or values[0] < 1:
        parser.error(f"{flag} takes process counts of at least 1, such as 1,2; got {text!r}")
    return values


def devices(text: str, parser: argparse.ArgumentParser) -> tuple[str, ...]:
    import torch

    if text == "auto":
        return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
    chosen = tuple(benchlib.split_list(text, DEVICES, parser, "device(s)"))
    if "cuda" in chosen and not torch.cuda.is_available():
        parser.error("--devices cuda: torch sees no CUDA GPU here; use --devices cpu")
    return chosen


def gpu_counts(text: str, parser: argparse.ArgumentParser) -> list[int]:
    import torch

    available = torch.cuda.device_count()
    if text == "all":
        return list(range(1, available + 1))
    chosen = counts(text, "--gpus", parser)
    if chosen[-1] > available:
        parser.error(f"--gpus {text}: this machine has {available} GPU(s)")
    return chosen


def gpu_names() -> str:
    import torch

    if not torch.cuda.is_available():
        return "none seen by torch"
    names = [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
    return f"{len(names)} x " + ", ".join(sorted(set(names)))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.cpus, args.threads = None, 1  # no pinning: the processes of a row must spread over the cores
    command = benchlib.bench_command("scaling.py", argv)
    info = benchlib.page_info(args, benchlib.module_versions(("torch",)))
    info["gpus"] = gpu_names()
    phases = Phases()
    try:
        with benchlib.work_folder(args, "advlab-scaling-") as folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            if "robustness" in args.workloads:
                phases.run("train the evaluated PGD-AT model and its surrogate (untimed)", prepare_model, args)
            found = run_rounds(args, phases)
    except RuntimeError as error:
        print(f"scaling: {error}", file=sys.stderr)
        return 2
    benchlib.page_done(info)
    rows = rows_of(found)
    checks = run_checks(found, rows)
    plot(rows, args.workloads, args.out.with_suffix(".png"))
    return benchlib.publish(render(rows, checks, info, args, command, phases), args.out, "scaling", checks,
                            args.check)


if __name__ == "__main__":
    sys.exit(main())
