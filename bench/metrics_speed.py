"""advlab's FID and precision/recall side by side with pytorch-fid, torch-fidelity and prdc: value and speed.

Two questions on the same feature matrices, in one run (written to docs/results/metrics_speed.md):

1. **Same value?** FID from two 10,000 x 2,048 float32 feature sets; improved precision and recall
   (k = 3) and density/coverage from two 10,000 x 64 float32 sets. FID agrees when the relative
   difference is at most 1e-6 (the peers average float32 features in float32, advlab in float64:
   that alone moves FID by ~1e-8 relative); precision, recall, density and coverage agree with prdc
   when they differ by at most 1e-12 (the same definitions: counts of samples), with torch-fidelity
   when they differ by at most 1e-3 (it counts a sample on the boundary of a ball as inside, ``<=``,
   and measures float32 distances: a handful of the 10,000 samples can flip).
2. **As fast?** Seconds per call, the median over ``--rounds`` rounds; the verdict is "yes" when
   advlab is at least as fast as the fastest peer: the median over rounds of the within-round
   ratio advlab / fastest peer is at most 1.

What each side computes, from the feature matrices (float32 NumPy arrays) to the value:

    FID   advlab          advlab.metrics.fid.fid(real, fake)
          pytorch-fid     np.mean / np.cov of each set (as its calculate_activation_statistics does
                          after the network) + pytorch_fid.fid_score.calculate_frechet_distance
                          (scipy.linalg.sqrtm of sigma1 . sigma2)
          torch-fidelity  torch_fidelity.metric_fid.fid_features_to_statistics of each set +
                          fid_statistics_to_metric (np.linalg.eigvals of sigma1 . sigma2)
    P/R   advlab          advlab.metrics.prdc.precision_recall(real, fake, k=3)
          prdc            prdc.compute_prdc(real, fake, nearest_k=3): it computes all four metrics,
                          there is no cheaper call for two
          torch-fidelity  torch_fidelity.metric_prc.prc_features_to_metric(fake, real,
                          prc_neighborhood=3, prc_batch_size=10000, save_cpu_ram=False): its
                          convention is features_1 = generated, features_2 = real
    all four  advlab      advlab.metrics.prdc.prdc(real, fake, 3, 3): all four in one walk over the
                          distances, against prdc.compute_prdc

pytorch-fid and torch-fidelity import torchvision, which advlab's environment must not hold: they
run in the peers' virtual environment (``.venv-peers``) in a worker process started once per run
(this same file with ``--worker``). The worker loads the features from .npy files written by this
process, waits for orders on stdin and answers each with the value and the seconds it measured
around the computation itself (imports and loading excluded, as for the in-process sides). prdc
(and advlab) run in this process.

Timing discipline (as bench/attacks_vs_peers.py): ``--threads`` threads for torch and for the BLAS
under NumPy/SciPy (1 by default: OMP_NUM_THREADS, MKL_NUM_THREADS, OPENBLAS_NUM_THREADS set before
NumPy is imported, here and in the worker; torch.set_num_threads), this process and the worker
pinned to the same CPUs (``--pin``), ``--warmup`` untimed calls of every side, then rounds in which
every side runs once, the order reversed every round, so drifts of the machine's load hit all
sides alike.

    python bench/metrics_speed.py              # ~5 min here on one CPU thread (pytorch-fid's sqrtm dominates)
    python bench/metrics_speed.py --quick      # a smoke run on small sets (~10 s)
    python bench/metrics_speed.py --check      # exit 1 when advlab disagrees or is slower than the fastest peer
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import importlib.metadata
import io
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import cpu_model, pinned_cpus  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "results" / "metrics_speed.md"
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
PEERS_SETUP = ("python3 -m venv .venv-peers && .venv-peers/bin/pip install torch==2.14.1 torchvision==0.29.1 "
               "pytorch-fid torch-fidelity prdc scipy")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
SEED = 0
FID_RELATIVE = 1e-6  # FID: advlab agrees when |advlab - peer| <= 1e-6 |peer|
SAME_COUNTS = 1e-12  # precision, recall, density, coverage against prdc (the same definitions)
BOUNDARY_SLACK = 1e-3  # ... against torch-fidelity (<= instead of <, float32 distances)
QUICK = {"samples": 2000, "fid_dims": 256, "rounds": 1, "warmup": 0}


# ---------------------------------------------------------------------------------- data


def fid_features(samples: int, dims: int, seed: int = SEED):
    """Two float32 (samples, dims) sets with a non-trivial covariance; fake = a perturbed real.

    real = z A with z ~ N(0, I) and A = Q diag(s), Q a random rotation and s log-spaced from 1 to
    0.01 (covariance eigenvalues from 1 to 1e-4, a condition number of 1e4); fake = 1.05 z' (A + P)
    + 0.05 with fresh z', P a small random perturbation (entries N(0, 0.01^2 / dims)).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.standard_normal((dims, dims)))
    mixing = rotation * np.geomspace(1.0, 0.01, dims)
    perturbation = 0.01 / np.sqrt(dims) * rng.standard_normal((dims, dims))
    real = rng.standard_normal((samples, dims)) @ mixing
    fake = 1.05 * (rng.standard_normal((samples, dims)) @ (mixing + perturbation)) + 0.05
    return real.astype(np.float32), fake.astype(np.float32)


def prc_features(samples: int, dims: int, seed: int = SEED + 1):
    """Two float32 (samples, dims) sets: real = z A (A random, N(0, 1 / dims) entries), fake = 1.1 z' A + 0.1."""
    import numpy as np

    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((dims, dims)) / np.sqrt(dims)
    real = rng.standard_normal((samples, dims)) @ mixing
    fake = 1.1 * (rng.standard_normal((samples, dims)) @ mixing) + 0.1
    return real.astype(np.float32), fake.astype(np.float32)


# ---------------------------------------------------------------------------------- the peers' worker

PEER_TASKS = ("fid/pytorch-fid", "fid/torch-fidelity", "prc/torch-fidelity")


def worker_main(folder: Path, threads: int, cpus: list[int] | None) -> int:
    """Run peer tasks on orders from stdin, one JSON line per order on the original stdout."""
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # whatever the peers print goes to stderr
    if cpus:
        os.sched_setaffinity(0, cpus)
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    loaded: dict[str, tuple] = {}

    def features(case: str):
        if case not in loaded:
            loaded[case] = (np.load(folder / f"{case}_real.npy"), np.load(folder / f"{case}_fake.npy"))
        return loaded[case]

    for line in sys.stdin:
        order = json.loads(line)
        try:
            if order["task"] == "versions":
                answer = {"versions": peer_versions(), "threads": torch.get_num_threads()}
            else:
                answer = peer_task(order["task"], features, int(order.get("k", 3)))
        except Exception as error:  # a peer that fails is reported, not fatal
            answer = {"error": f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    return 0


def peer_versions() -> dict[str, str]:
    found = {}
    for package in ("torch", "torchvision", "pytorch-fid", "torch-fidelity", "numpy", "scipy"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def peer_task(task: str, features: Callable, k: int) -> dict:
    """One timed computation of a peer; the imports and the loading are done before the clock starts."""
    import numpy as np
    import torch

    if task == "fid/pytorch-fid":
        from pytorch_fid.fid_score import calculate_frechet_distance

        real, fake = features("fid")
        started = time.perf_counter()
        mu1, sigma1 = np.mean(real, axis=0), np.cov(real, rowvar=False)
        mu2, sigma2 = np.mean(fake, axis=0), np.cov(fake, rowvar=False)
        middle = time.perf_counter()
        value = float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2))
        ended = time.perf_counter()
        return {"values": {"fid": value}, "seconds": ended - started,
                "parts": {"statistics": middle - started, "distance": ended - middle}}
    if task == "fid/torch-fidelity":
        from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

        real, fake = features("fid")
        started = time.perf_counter()
        stats1 = fid_features_to_statistics(torch.from_numpy(real))
        stats2 = fid_features_to_statistics(torch.from_numpy(fake))
        middle = time.perf_counter()
        value = float(fid_statistics_to_metric(stats1, stats2, verbose=False)["frechet_inception_distance"])
        ended = time.perf_counter()
        return {"values": {"fid": value}, "seconds": ended - started,
                "parts": {"statistics": middle - started, "distance": ended - middle}}
    if task == "prc/torch-fidelity":
        from torch_fidelity.metric_prc import prc_features_to_metric

        real, fake = features("prc")
        started = time.perf_counter()
        out = prc_features_to_metric(torch.from_numpy(fake), torch.from_numpy(real), prc_neighborhood=k,
                                     prc_batch_size=10000, save_cpu_ram=False, verbose=False)
        ended = time.perf_counter()
        return {"values": {"precision": float(out["precision"]), "recall": float(out["recall"])},
                "seconds": ended - started}
    raise ValueError(f"unknown task {task}")


class PeerWorker:
    """The worker process in the peers' environment; None-safe: `start` returns None when it cannot run."""

    def __init__(self, process: subprocess.Popen):
        self.process = process

    @classmethod
    def start(cls, python: Path, folder: Path, threads: int, cpus: list[int] | None) -> PeerWorker:
        env = dict(os.environ, **{name: str(threads) for name in THREAD_VARIABLES})
        command = [str(python), str(Path(__file__).resolve()), "--worker", str(folder), "--threads", str(threads)]
        command += ["--pin", ",".join(map(str, cpus)) if cpus else "none"]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                   cwd=ROOT)
        return cls(process)

    def ask(self, order: dict) -> dict:
        self.process.stdin.write(json.dumps(order) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            return {"error": f"the peers' worker exited (status {self.process.poll()})"}
        return json.loads(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=60)


# ---------------------------------------------------------------------------------- the sides


@dataclass
class Side:
    """One library's way to compute a metric: run() -> {"values": {...}, "seconds": s} or {"error": ...}."""

    name: str
    run: Callable[[], dict]
    seconds: list[float] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)
    parts: dict[str, list[float]] = field(default_factory=dict)
    error: str = ""

    def call(self) -> None:
        if self.error:
            return
        try:
            answer = self.run()
        except Exception as error:  # a side that fails is reported as n/a with its first line
            answer = {"error": f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"}
        if "error" in answer:
            self.error = answer["error"]
            return
        self.values = answer["values"]
        self.seconds.append(answer["seconds"])
        for part, seconds in answer.get("parts", {}).items():
            self.parts.setdefault(part, []).append(seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def local(function: Callable[[], dict[str, float]]) -> Callable[[], dict]:
    """A side run in this process, timed around the call."""

    def run() -> dict:
        started = time.perf_counter()
        values = function()
        return {"values": values, "seconds": time.perf_counter() - started}

    return run


def remote(worker: PeerWorker | None, task: str, k: int, missing: str) -> Callable[[], dict]:
    return (lambda: {"error": missing}) if worker is None else (lambda: worker.ask({"task": task, "k": k}))


def advlab_fid(real, fake) -> Callable[[], dict[str, float]]:
    from advlab.metrics.fid import fid

    return lambda: {"fid": fid(real, fake)}


def advlab_precision_recall(real, fake, k: int, all_four: bool) -> Callable[[], dict[str, float]]:
    from advlab.metrics.prdc import prdc, precision_recall

    if all_four:  # one walk over the distances, as the evaluator computes them
        return lambda: prdc(real, fake, k, k)._asdict()
    return lambda: precision_recall(real, fake, k)._asdict()


def prdc_all_four(real, fake, k: int) -> Callable[[], dict[str, float]]:
    from prdc import compute_prdc

    def run() -> dict[str, float]:
        with contextlib.redirect_stdout(io.StringIO()):  # it prints the sample counts
            values = compute_prdc(real, fake, nearest_k=k)
        return {name: float(value) for name, value in values.items()}

    return run


# ---------------------------------------------------------------------------------- measuring


@dataclass
class Case:
    """A row of the table: advlab's side against the peers' sides, on one pair of feature sets."""

    name: str
    data: str
    advlab: Side
    peers: list[Side]
    tolerances: dict[str, float]  # peer name -> allowed difference (relative for FID, absolute for shares)
    relative: bool
    notes: list[str] = field(default_factory=list)

    @property
    def sides(self) -> list[Side]:
        return [self.advlab, *self.peers]


@dataclass
class Group:
    """Sides timed together (in the same rounds, on the same data) and the table rows made from them."""

    name: str
    sides: list[Side]
    cases: list[Case]


def measure(name: str, sides: list[Side], rounds: int, warmup: int) -> None:
    """Warm up every side, then `rounds` rounds of one call per side, the order reversed every round."""
    for side in sides:
        for _ in range(warmup):
            side.call()
            if side.seconds:
                side.seconds.pop()
                side.parts = {}
    for round_index in range(rounds):
        for side in sides if round_index % 2 == 0 else sides[::-1]:
            side.call()
        print(f"  {name} round {round_index + 1}/{rounds}: " + ", ".join(
            f"{side.name} {side.seconds[-1]:.2f} s" if side.seconds else f"{side.name} n/a" for side in sides),
            file=sys.stderr, flush=True)


def difference(mine: float, theirs: float, relative: bool) -> float:
    if not relative:
        return abs(mine - theirs)
    return abs(mine - theirs) / abs(theirs) if theirs else abs(mine - theirs)


def summarise(case: Case) -> dict:
    """Fastest peer, the within-round ratio advlab / fastest peer, agreement with every peer."""
    ran = [peer for peer in case.peers if peer.seconds and not peer.error]
    summary: dict = {"case": case, "agree": {}, "differences": {}}
    for peer in ran:
        shared = [name for name in case.advlab.values if name in peer.values]
        worst = max(difference(case.advlab.values[name], peer.values[name], case.relative) for name in shared)
        summary["differences"][peer.name] = worst
        summary["agree"][peer.name] = worst <= case.tolerances[peer.name]
    if not ran or not case.advlab.seconds:
        summary.update(fastest=None, ratio=None, verdict="n/a")
        return summary
    fastest = min(ran, key=lambda peer: peer.median)
    each = [mine / theirs for mine, theirs in zip(case.advlab.seconds, fastest.seconds)]
    ratio = statistics.median(each)
    summary.update(fastest=fastest.name, ratio=ratio, best=min(case.advlab.seconds) / min(fastest.seconds),
                   verdict="yes" if ratio <= 1.0 else "no")
    return summary


# ---------------------------------------------------------------------------------- the page


def seconds_cell(side: Side | None) -> str:
    if side is None:
        return "—"
    if side.error or not side.seconds:
        return "n/a"
    return f"{side.median:.2f}"


def value_cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.10g}"


def speed_lines(summaries: list[dict], peer_names: list[str]) -> list[str]:
    lines = ["| metric | data | advlab s | " + " | ".join(f"{name} s" for name in peer_names)
             + " | fastest peer | advlab / fastest (median of rounds) | at least as fast as the fastest peer "
               "| same value |",
             "|---|---|---:|" + "---:|" * len(peer_names) + "---|---:|---|---|"]
    for summary in summaries:
        case: Case = summary["case"]
        peers = {peer.name: peer for peer in case.peers}
        agree = summary["agree"]
        same = "yes" if agree and all(agree.values()) else ("no" if agree else "n/a")
        ratio = "—" if summary["ratio"] is None else f"{summary['ratio']:.3f}"
        lines.append(f"| {case.name} | {case.data} | {seconds_cell(case.advlab)} | "
                     + " | ".join(seconds_cell(peers.get(name)) for name in peer_names)
                     + f" | {summary['fastest'] or '—'} | {ratio} | {summary['verdict']} | {same} |")
    return lines


def value_lines(summaries: list[dict], peer_names: list[str]) -> list[str]:
    lines = ["| metric | quantity | advlab | " + " | ".join(peer_names) + " | largest difference (allowed) |",
             "|---|---|---:|" + "---:|" * len(peer_names) + "---|"]
    for summary in summaries:
        case: Case = summary["case"]
        peers = {peer.name: peer for peer in case.peers}
        kind = "relative" if case.relative else "absolute"
        differences = "; ".join(
            f"{name}: {summary['differences'][name]:.2g} ({kind} ≤ {case.tolerances[name]:g})"
            for name in summary["differences"]) or "—"
        for index, quantity in enumerate(case.advlab.values):
            cells = [value_cell(peers[name].values.get(quantity)) if name in peers and peers[name].values else "—"
                     for name in peer_names]
            lines.append(f"| {case.name if index == 0 else ''} | {quantity} | "
                         f"{value_cell(case.advlab.values[quantity])} | " + " | ".join(cells)
                         + f" | {differences if index == 0 else ''} |")
    return lines


def part_notes(summaries: list[dict]) -> list[str]:
    notes = []
    for summary in summaries:
        for side in summary["case"].peers:
            if side.parts:
                parts = ", ".join(f"{part} {statistics.median(seconds):.2f} s" for part, seconds in side.parts.items())
                notes.append(f"- {summary['case'].name}, {side.name}: {parts} (medians over rounds).")
    return notes


def error_notes(summaries: list[dict]) -> list[str]:
    notes = []
    for summary in summaries:
        for side in summary["case"].sides:
            if side.error:
                notes.append(f"- {summary['case'].name}, {side.name}: n/a — {side.error}")
    return notes


def render(summaries: list[dict], info: dict, args, command: str) -> str:
    peer_names = []
    for summary in summaries:
        for peer in summary["case"].peers:
            if peer.name not in peer_names:
                peer_names.append(peer.name)
    mine, theirs = info["versions"], info["peer_versions"]
    lines = [
        "# advlab's FID and precision/recall against pytorch-fid, torch-fidelity and prdc: value and speed",
        "",
        (f"- machine: {platform.system()} {platform.machine()}, {cpu_model()}, {os.cpu_count()} logical CPUs, "
         f"load average at start {info['load']}, at the end {info['load_end']}"),
        (f"- threads: {args.threads} (torch.set_num_threads and {', '.join(THREAD_VARIABLES)} in both processes), "
         f"pinned to CPU(s) {','.join(map(str, args.cpus)) if args.cpus else 'none'}"),
        (f"- advlab's process: Python {platform.python_version()}, "
         + ", ".join(f"{name} {version}" for name, version in mine.items())),
        ("- peers' process (.venv-peers): " + (", ".join(f"{name} {version}" for name, version in theirs.items())
                                               if theirs else f"not available — create it with `{PEERS_SETUP}`")),
        f"- date: {info['date']}",
        f"- command: `{command}`",
        (f"- settings: {args.rounds} timed round(s) after {args.warmup} warm-up call(s) per side, the order of the "
         f"sides reversed every round; seconds = median over rounds; k = {args.k}"),
        f"- total time: {info['seconds']:.0f} s",
        "",
        "## Speed",
        "",
        ("Seconds per call from the float32 feature matrices to the value. Verdict \"yes\" when the median over "
         "rounds of the within-round ratio advlab / fastest peer is at most 1."),
        "",
        *speed_lines(summaries, peer_names),
        "",
        "## Values",
        "",
        ("FID agrees within a relative difference of 1e-6; precision, recall, density and coverage agree with "
         "prdc within 1e-12 (the same counts) and with torch-fidelity within 1e-3 (it counts the boundary of a "
         "ball as inside and works with float32 distances)."),
        "",
        *value_lines(summaries, peer_names),
        "",
        "## Data",
        "",
        f"- FID: {info['fid_data']}",
        f"- precision/recall: {info['prc_data']}",
        "",
        "Notes:",
        "",
        *dict.fromkeys([*part_notes(summaries), *error_notes(summaries),
                        *[note for summary in summaries for note in summary["case"].notes]]),
    ]
    return "\n".join(lines) + "\n"


def versions() -> dict[str, str]:
    found = {}
    for package in ("torch", "numpy", "scipy", "scikit-learn", "prdc"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


# ---------------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="fid,prc", help="fid, prc or both, comma-separated (default both)")
    parser.add_argument("--samples", type=int, default=10_000, help="samples per set (default 10000)")
    parser.add_argument("--fid-dims", type=int, default=2048, help="FID feature width (default 2048)")
    parser.add_argument("--prc-dims", type=int, default=64, help="precision/recall feature width (default 64)")
    parser.add_argument("--k", type=int, default=3, help="neighbourhood size for precision/recall (default 3)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls per side first (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads in every process (default 1)")
    parser.add_argument("--pin", default="auto",
                        help="CPUs to pin both processes to, e.g. 1 or 2,3; 'auto' (default): the last --threads "
                             "CPUs this process may use; 'none': no pinning")
    parser.add_argument("--peers-python", type=Path, default=PEERS_PYTHON,
                        help="the peers' interpreter (default .venv-peers/bin/python)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: {QUICK['samples']} samples, FID width {QUICK['fid_dims']}, "
                             f"{QUICK['rounds']} round, no warm-up (overrides those flags)")
    parser.add_argument("--check", action="store_true",
                        help="exit with status 1 when advlab disagrees with a peer or is slower than the fastest")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="where to write the Markdown page (default docs/results/metrics_speed.md)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # internal: the peers' worker mode
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.fid_dims, args.rounds, args.warmup = (QUICK["samples"], QUICK["fid_dims"],
                                                                 QUICK["rounds"], QUICK["warmup"])
    args.case_list = [name.strip() for name in args.cases.split(",") if name.strip()]
    if not args.case_list or set(args.case_list) - {"fid", "prc"}:
        parser.error(f"--cases takes fid, prc or fid,prc; got {args.cases!r}")
    for name, least in (("samples", 8), ("fid_dims", 1), ("prc_dims", 1), ("k", 1), ("rounds", 1),
                        ("threads", 1), ("warmup", 0)):
        if getattr(args, name) < least:
            parser.error(f"--{name.replace('_', '-')} must be at least {least}")
    if args.k + 1 > args.samples:
        parser.error("--samples must exceed --k")
    args.cpus = pinned_cpus(args.pin, args.threads, parser)
    return args


def build_groups(args, folder: Path, worker: PeerWorker | None, missing: str, info: dict) -> list[Group]:
    """The feature matrices (also saved for the worker), the sides timed together and the rows they make."""
    import numpy as np

    groups = []
    if "fid" in args.case_list:
        real, fake = fid_features(args.samples, args.fid_dims)
        np.save(folder / "fid_real.npy", real)
        np.save(folder / "fid_fake.npy", fake)
        info["fid_data"] = (f"real = z A, fake = 1.05 z' (A + P) + 0.05, z, z' ~ N(0, I) of shape "
                            f"({args.samples}, {args.fid_dims}), A = random rotation x diag(logspace 1 to 0.01), "
                            f"P ~ N(0, 1e-4 / d); float32; seed {SEED}")
        mine = Side("advlab", local(advlab_fid(real, fake)))
        peers = [Side("pytorch-fid", remote(worker, "fid/pytorch-fid", args.k, missing)),
                 Side("torch-fidelity", remote(worker, "fid/torch-fidelity", args.k, missing))]
        row = Case("FID", f"{args.samples} x {args.fid_dims}", mine, peers,
                   {peer.name: FID_RELATIVE for peer in peers}, relative=True)
        groups.append(Group("FID", [mine, *peers], [row]))
    if "prc" in args.case_list:
        real, fake = prc_features(args.samples, args.prc_dims)
        np.save(folder / "prc_real.npy", real)
        np.save(folder / "prc_fake.npy", fake)
        info["prc_data"] = (f"real = z A, fake = 1.1 z' A + 0.1, z, z' ~ N(0, I) of shape ({args.samples}, "
                            f"{args.prc_dims}), A ~ N(0, 1 / d); float32; seed {SEED + 1}")
        two = Side("advlab", local(advlab_precision_recall(real, fake, args.k, all_four=False)))
        four = Side("advlab", local(advlab_precision_recall(real, fake, args.k, all_four=True)))
        prdc_side = Side("prdc", local(prdc_all_four(real, fake, args.k)))
        fidelity = Side("torch-fidelity", remote(worker, "prc/torch-fidelity", args.k, missing))
        data = f"{args.samples} x {args.prc_dims}"
        rows = [
            Case(f"precision, recall (k={args.k})", data, two, [prdc_side, fidelity],
                 {"prdc": SAME_COUNTS, "torch-fidelity": BOUNDARY_SLACK}, relative=False,
                 notes=["- precision, recall: prdc has no call for precision and recall alone; its compute_prdc "
                        "computes density and coverage too (the next row compares like with like). "
                        "torch-fidelity's precision/recall is usable from features "
                        "(torch_fidelity.metric_prc.prc_features_to_metric)."]),
            Case(f"precision, recall, density, coverage (k={args.k})", data, four, [prdc_side],
                 {"prdc": SAME_COUNTS}, relative=False,
                 notes=["- all four: advlab makes one prdc call (each distance computed once); prdc makes one "
                        "compute_prdc call. prdc's own timing is shared by both rows (one call per round)."]),
        ]
        groups.append(Group("precision/recall", [two, four, prdc_side, fidelity], rows))
    return groups


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name in THREAD_VARIABLES:  # before NumPy, SciPy or torch load their BLAS
        os.environ[name] = str(args.threads)
    if args.worker is not None:
        return worker_main(args.worker, args.threads, args.cpus)
    command = shlex.join(["python", "bench/metrics_speed.py", *(sys.argv[1:] if argv is None else argv)])
    if args.cpus:
        os.sched_setaffinity(0, args.cpus)
    import torch

    torch.set_num_threads(args.threads)
    info = {"load": load_average(), "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "versions": versions(), "peer_versions": {}, "fid_data": "not run", "prc_data": "not run"}
    started = time.perf_counter()
    worker, missing = None, ""
    with tempfile.TemporaryDirectory(prefix="metrics_speed_") as folder:
        if args.peers_python.exists():
            worker = PeerWorker.start(args.peers_python, Path(folder), args.threads, args.cpus)
            answer = worker.ask({"task": "versions"})
            info["peer_versions"] = answer.get("versions", {})
        else:
            missing = f"{args.peers_python} is missing: create it with `{PEERS_SETUP}`"
            print(f"metrics_speed: {missing}; timing advlab and prdc only", file=sys.stderr)
        try:
            groups = build_groups(args, Path(folder), worker, missing, info)
            for group in groups:
                measure(group.name, group.sides, args.rounds, args.warmup)
        finally:
            if worker is not None:
                worker.close()
    summaries = [summarise(case) for group in groups for case in group.cases]
    info.update(load_end=load_average(), seconds=time.perf_counter() - started)
    text = render(summaries, info, args, command)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"written to {args.out}", file=sys.stderr)
    failed = [s["case"].name for s in summaries if s["verdict"] == "no" or not all(s["agree"].values())]
    if args.check and failed:
        print(f"FAIL: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
