"""Training-loop overhead: advlab's GAN trainer against a plain hand-written PyTorch loop.

What is compared, per case (a data set with its preset models, loss, k and batch size):

* **advlab** -- the real house path: `advlab.pipelines.gan.train_gan.run_loop` driving
  `GANTrainer.train_iteration`, exactly as `advlab gan train` does it: statistics recorded
  every `log_every` (10) iterations, written to metrics.jsonl *and* TensorBoard (on, as by
  default) in a temporary run directory, the NaN/inf check at every log step, the
  running loss sum updated on every step, tqdm (disabled, as with ``progress=False``).
  `sample_every` and `checkpoint_every` are set beyond the run, so no snapshots or
  periodic checkpoints happen; the one checkpoint `run_loop` writes when it returns (once
  per timed round) is timed on its own and subtracted -- it is a per-run cost, not a
  per-step one -- and the table notes say how long it took.
* **plain** -- the loop one would write by hand around the same pieces: k times (sample a
  real minibatch with `torch.randint`/`torch.randn` on a `torch.Generator`, G(z) under
  `no_grad`, D loss, zero_grad/backward/step), then G's step through a frozen D, then the
  EMA update when the preset has one. It uses advlab's loss object for the loss formulas;
  what it leaves out is everything around them: no statistics, no logging, no NaN flag.

Why it is fair:

* Both sides are built by advlab's own builders (`GANTrainConfig(...).resolved(kind)`,
  `load_data`, `build_trainer`) after the same `seed_everything`, so they train identical
  modules and optimisers from identical initial weights on identical data; both draw
  every minibatch from a sampler with the same seed, in the same order. The script checks
  this: it hashes the weights of both sides before and after training and reports whether
  they agree (on CPU they end bit-identical, so both loops did the same arithmetic).
* Each side of each case runs in its own fresh process with the same torch thread count (1
  by default, which keeps noise from other work on the machine down), so neither inherits
  the other's allocator state, and the peak resident set (VmHWM from /proc, else
  ru_maxrss) of each process is that side's alone. Both start from the same pre-imported
  torch and advlab; TensorBoard, which only the advlab side uses, is imported in its own
  process and so counts towards its peak.
* Every worker is pinned to the same CPU(s) (``--pin``; by default the last ``--threads``
  CPUs), so neither side gains or loses by the core the scheduler gave its process; the
  sides never run at the same time. Background threads (TensorBoard's writer) share those
  CPUs, so what they cost shows up in the advlab side's wall time.
* Timing alternates between the sides: after untimed warm-up iterations, R rounds of N
  iterations each, the side that goes first swapping every round (ABBA...), so drifts of
  the machine's load hit both sides alike. The reported time per step is each side's
  median wall time over rounds; the ratio is the median over rounds of advlab / plain
  within a round (the two halves of a round run back to back, so load that changes between
  rounds cancels). CPU time per step (the process's, all threads) is reported too: it is
  less sensitive to other work on the machine. On CUDA each round ends with a synchronize.

The verdict is PASS when the ratio is at most 1.05 (the house adds no measurable cost).

    python bench/train_overhead.py                 # the three cases, ~1-2 min on a laptop CPU
    python bench/train_overhead.py --quick         # a smoke run
    python bench/train_overhead.py --check         # exit 1 when any ratio exceeds 1.05
    python bench/train_overhead.py --control       # A/A: plain against plain, the noise floor

The table is printed and written to docs/results/train_overhead.md (``--out`` to change).
Run it as a script: the parent process imports no torch; each side of each case is a worker
process (multiprocessing), forked from a server that imported torch and advlab.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import platform
import shlex
import statistics
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import pinned_cpus  # noqa: E402

LIMIT = 1.05
SIDES = ("plain", "advlab")
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "results" / "train_overhead.md"
NEVER = 10**9  # sample_every / checkpoint_every beyond any run

# name -> GANTrainConfig options and the default timed iterations per round (the cases differ
# ten-fold in cost per step; a multiple of log_every keeps each round's share of logged steps
# exact)
CASES: dict[str, dict] = {
    "ring8": {"options": {"data": "ring8", "loss": "nonsaturating", "k": 1}, "steps": 100},
    "digits16": {"options": {"data": "digits", "image_size": 16, "loss": "nonsaturating", "k": 1},
                 "steps": 20},
    "ring8-wgangp-k5": {"options": {"data": "ring8", "loss": "wgan-gp", "k": 5}, "steps": 30},
}
DEFAULT_CASES = "ring8,digits16,ring8-wgangp-k5"
QUICK = {"steps": 10, "rounds": 2, "warmup": 2}


# ---------------------------------------------------------------- worker side (imports torch)


def peak_rss_mib() -> float:
    """This process's peak resident set size, in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):  # per address space: not inherited across exec
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        import psutil

        return psutil.Process().memory_info().peak_wset / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def weights_hash(trainer) -> str:
    """A short hash of G's, D's (and the EMA copy's) weights and buffers."""
    import hashlib

    digest = hashlib.sha256()
    modules = [trainer.generator, trainer.discriminator]
    if trainer.ema is not None:
        modules.append(trainer.ema.model)
    for module in modules:
        for name, tensor in module.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


def synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PlainLoop:
    """Algorithm 1 written out by hand on the trainer's modules, optimisers and sampler."""

    def __init__(self, trainer, config, device):
        self.g, self.d = trainer.generator, trainer.discriminator
        self.opt_g, self.opt_d = trainer.optimizer_g, trainer.optimizer_d
        self.loss, self.rng, self.data = trainer.loss, trainer.sampler, trainer.data
        self.batch, self.z_dim, self.k = config.batch_size, config.z_dim, config.k
        self.uniform_noise = config.noise == "uniform"
        self.device = device
        self.ema = trainer.ema
        if self.ema is not None:
            self.ema_params = list(self.ema.model.parameters())
            self.g_params = list(self.g.parameters())
            self.ema_buffers = list(zip(self.ema.model.buffers(), self.g.buffers()))

    def noise(self):
        import torch

        shape = (self.batch, self.z_dim)
        if self.uniform_noise:
            return torch.rand(shape, generator=self.rng, device=self.device) * 2 - 1
        return torch.randn(shape, generator=self.rng, device=self.device)

    def real(self):
        import torch

        data, n = self.data, self.batch
        if hasattr(data, "means"):  # a 2-D Gaussian mixture: pick a mode, add noise
            mode = torch.randint(len(data.means), (n,), generator=self.rng, device=self.device)
            jitter = torch.randn((n, 2), generator=self.rng, device=self.device)
            return data.means[mode] + data.std * jitter
        rows = torch.randint(len(data.data), (n,), generator=self.rng, device=self.device)
        return data.data[rows]

    def iteration(self):
        import torch

        for _ in range(self.k):
            real = self.real()
            with torch.no_grad():
                fake = self.g(self.noise())
            d_loss = self.loss.discriminator_loss(self.d(real), self.d(fake))
            penalty = self.loss.penalty(self.d, real, fake, self.rng)
            if penalty is not None:
                d_loss = d_loss + penalty
            self.opt_d.zero_grad()
            d_loss.backward()
            self.opt_d.step()
        self.d.requires_grad_(False)
        g_loss = self.loss.generator_loss(self.d(self.g(self.noise())))
        self.opt_g.zero_grad()
        g_loss.backward()
        self.d.requires_grad_(True)
        self.opt_g.step()
        if self.ema is not None:
            with torch.no_grad():
                torch._foreach_lerp_(self.ema_params, self.g_params, 1.0 - self.ema.decay)
                for mine, theirs in self.ema_buffers:
                    mine.copy_(theirs)

    def run(self, n: int) -> tuple[float, float]:
        """Wall and CPU seconds (this process, all threads) of `n` iterations."""
        synchronize(self.device)
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            self.iteration()
        synchronize(self.device)
        return time.perf_counter() - wall, time.process_time() - cpu


class HouseLoop:
    """advlab's own `run_loop` on a temporary run directory, as `advlab gan train` runs it."""

    def __init__(self, trainer, config, device):
        import dataclasses
        import importlib
        import tempfile

        from advlab.core.config import dump_yaml
        from advlab.core.runs import MetricsLog, RunDir

        # the module, not the function that advlab.pipelines re-exports under the same name
        train_gan = importlib.import_module("advlab.pipelines.gan.train_gan")

        self.trainer, self.device, self.train_gan = trainer, device, train_gan
        self.config = dataclasses.replace(config, sample_every=NEVER, checkpoint_every=NEVER)
        self.tmp = tempfile.TemporaryDirectory(prefix="advlab-bench-")
        self.run_dir = RunDir(Path(self.tmp.name) / "run")
        self.run_dir.prepare_new(overwrite=False)
        dump_yaml(self.config, self.run_dir.config)
        self.log = MetricsLog(self.run_dir, None, self.config.tensorboard)
        # run_loop checkpoints when it reaches config.steps, i.e. at the end of every round:
        # keep doing it, but time it so that it can be taken out of the per-step figure
        self.checkpoint_seconds: list[tuple[float, float]] = []  # (wall, cpu) of each
        real_checkpoint = train_gan.checkpoint

        def timed_checkpoint(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return real_checkpoint(*args, **kwargs)
            finally:
                self.checkpoint_seconds.append((time.perf_counter() - wall,
                                                time.process_time() - cpu))

        train_gan.checkpoint = timed_checkpoint

    def run(self, n: int) -> tuple[float, float]:
        """Wall and CPU seconds of `n` iterations of run_loop, its final checkpoint left out."""
        import dataclasses

        config = dataclasses.replace(self.config, steps=self.trainer.step + n)
        done = len(self.checkpoint_seconds)
        synchronize(self.device)
        wall, cpu = time.perf_counter(), time.process_time()
        self.train_gan.run_loop(self.trainer, config, self.run_dir, self.log, progress=False)
        synchronize(self.device)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        for checkpoint_wall, checkpoint_cpu in self.checkpoint_seconds[done:]:
            wall, cpu = wall - checkpoint_wall, cpu - checkpoint_cpu
        return wall, cpu

    def close(self) -> None:
        self.log.close()
        self.tmp.cleanup()


def describe(config) -> str:
    size = f"{config.image_size}px, " if config.image_size else ""
    return (f"{config.data} ({size}{config.model}, batch {config.batch_size}, {config.loss}, "
            f"k={config.k}, {config.optimizer}, ema {config.ema or 'off'})")


def worker(conn, case: str, loop_kind: str, device_name: str, threads: int,
           cpus: list[int] | None) -> None:
    """Build the case, then answer the parent's commands over `conn` (runs in its own process)."""
    try:
        import torch

        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:
            pass
        from advlab.core.devices import resolve_device
        from advlab.core.seeding import seed_everything
        from advlab.pipelines.gan.gan_config import GANTrainConfig
        from advlab.pipelines.gan.gan_setup import build_trainer, load_data

        config = GANTrainConfig(device=device_name, **CASES[case]["options"])
        config.validate()
        seed_everything(config.seed)  # as train_gan does, before data and models
        device = resolve_device(config.device)
        config, data = load_data(config, device)
        config = config.resolved(data.kind)
        trainer = build_trainer(config, data, device)
        loop = HouseLoop(trainer, config, device) if loop_kind == "advlab" else \
            PlainLoop(trainer, config, device)
        if cpus:  # only now: the workers set up side by side on every CPU
            os.sched_setaffinity(0, cpus)
        conn.send({"torch": torch.__version__, "device": str(device),
                   "threads": torch.get_num_threads(), "describe": describe(config),
                   "log_every": config.log_every, "tensorboard": config.tensorboard,
                   "init_hash": weights_hash(trainer)})
        while True:
            command = conn.recv()
            if command["op"] == "run":
                wall, cpu = loop.run(command["n"])
                conn.send({"wall": wall, "cpu": cpu})
                continue
            result = {"final_hash": weights_hash(trainer), "peak_rss_mib": peak_rss_mib(),
                      "step": trainer.step}
            if device.type == "cuda":
                result["gpu_peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
            if isinstance(loop, HouseLoop):
                result["checkpoint_ms"] = [1000 * wall for wall, _ in loop.checkpoint_seconds]
                loop.close()
            conn.send(result)
            return
    except Exception as error:  # noqa: BLE001 -- handed to the parent, which stops with it
        user_error = type(error).__name__ == "AdvlabError"  # one line, as the CLI prints it
        try:
            conn.send({"error": str(error) if user_error else traceback.format_exc()})
        except OSError:  # the parent has stopped listening (another worker failed first)
            pass
    finally:
        conn.close()


# ---------------------------------------------------------------- parent side (no torch)


def process_context():
    """Fresh worker processes, cheaply: forked from a server that has imported torch and
    advlab once (both sides alike; the advlab side imports TensorBoard itself), or spawned
    where there is no fork server (Windows)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # torch._dynamo: torch.optim imports it when the first optimiser is built (seconds of
    # CPU); once here rather than once per worker
    context.set_forkserver_preload(["torch", "torch._dynamo", "advlab.pipelines.gan.gan_setup"])
    return context


class Worker:
    """One side of one case in its own process."""

    def __init__(self, context, case: str, side: str, args: argparse.Namespace):
        self.name = f"{side} worker for {case}"
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=worker, name=self.name, daemon=True,
                                       args=(theirs, case, "plain" if args.control else side,
                                             args.device, args.threads, args.cpus))
        self.process.start()
        theirs.close()

    def receive(self) -> dict:
        try:
            message = self.conn.recv()
        except EOFError:
            self.process.join(timeout=10)
            raise RuntimeError(f"the {self.name} exited (status {self.process.exitcode}) "
                               "without an answer") from None
        if "error" in message:
            raise RuntimeError(f"the {self.name} failed: {message['error']}")
        return message

    def ask(self, **command) -> dict:
        self.conn.send(command)
        return self.receive()

    def stop(self) -> None:
        """Let the worker exit (it does after 'finish'), else end it."""
        self.conn.close()
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def bench_case(case: str, workers: dict[str, Worker], ready: dict[str, dict],
               args: argparse.Namespace) -> dict:
    """Warm up both sides, then alternate timed rounds; returns the case's figures."""
    steps = args.steps or CASES[case]["steps"]
    for side in SIDES:
        workers[side].ask(op="run", n=args.warmup)
    wall: dict[str, list[float]] = {side: [] for side in SIDES}  # seconds per step, by round
    cpu: dict[str, list[float]] = {side: [] for side in SIDES}
    for round_index in range(args.rounds):
        order = SIDES if round_index % 2 == 0 else SIDES[::-1]
        for side in order:
            answer = workers[side].ask(op="run", n=steps)
            wall[side].append(answer["wall"] / steps)
            cpu[side].append(answer["cpu"] / steps)
        print(f"  {case} round {round_index + 1}/{args.rounds}: "
              + ", ".join(f"{side} {1000 * wall[side][-1]:.3f} ms/step" for side in SIDES),
              file=sys.stderr)
    final = {side: workers[side].ask(op="finish") for side in SIDES}
    # each round's two halves ran back to back, so their ratio is little affected by the
    # machine's load drifting between rounds; the verdict uses the median of those ratios
    round_ratios = [a / p for a, p in zip(wall["advlab"], wall["plain"])]
    ratio = statistics.median(round_ratios)
    return {
        "case": case, "describe": ready["advlab"]["describe"], "steps": steps,
        "timed": steps * args.rounds, "plain_ms": 1000 * statistics.median(wall["plain"]),
        "advlab_ms": 1000 * statistics.median(wall["advlab"]), "ratio": ratio,
        "pass": ratio <= LIMIT, "round_ratios": round_ratios,
        # the fastest round of each side is the one least slowed by other work (timeit's rule)
        "best_ratio": min(wall["advlab"]) / min(wall["plain"]),
        "cpu_ms": {side: 1000 * statistics.median(cpu[side]) for side in SIDES},
        "cpu_ratio": statistics.median(a / p for a, p in zip(cpu["advlab"], cpu["plain"])),
        "plain_rss": final["plain"]["peak_rss_mib"], "advlab_rss": final["advlab"]["peak_rss_mib"],
        "same_init": ready["plain"]["init_hash"] == ready["advlab"]["init_hash"],
        "same_final": final["plain"]["final_hash"] == final["advlab"]["final_hash"],
        "checkpoint_ms": final["advlab"].get("checkpoint_ms", []),
        "gpu_peak": {side: final[side].get("gpu_peak_mib") for side in SIDES},
    }


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, where the system tells them."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def render(results: list[dict], info: dict, args: argparse.Namespace, command: str) -> str:
    """The Markdown page: header, table, notes."""
    load = info["load"]
    other = "plain (2nd)" if args.control else "advlab"
    lines = [
        "# Training-loop overhead: advlab's trainer vs a plain PyTorch loop",
        "",
        (f"- machine: {platform.system()} {platform.machine()}, {os.cpu_count()} logical CPUs, "
         f"load average at start {load}, at the end {info['load_end']}; "
         f"Python {platform.python_version()}, "
         f"torch {info['torch']}, {info['threads']} torch thread(s), device {info['device']}, "
         f"workers pinned to CPU(s) {','.join(map(str, args.cpus)) if args.cpus else 'none'}"),
        f"- date: {info['date']}",
        f"- command: `{command}`",
        (f"- timing: {args.warmup} warm-up iterations per side (not timed), then {args.rounds} "
         "rounds per side, the side that goes first alternating (ABBA...); ms/step = median "
         "wall time per iteration over rounds; ratio = median over rounds of advlab / plain "
         f"within the round; PASS when at most {LIMIT}; best-round ratio = advlab's fastest round / "
         "plain's fastest round (the estimate least affected by other work on the machine, as "
         "timeit takes the minimum)"),
        "",
        (f"| case | steps timed | plain ms/step | {other} ms/step | ratio | verdict (≤ 1.05) "
         f"| best-round ratio | plain peak RSS MiB | {other} peak RSS MiB |"),
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['case']}: {r['describe']} | {r['timed']} | {r['plain_ms']:.3f} "
            f"| {r['advlab_ms']:.3f} | {r['ratio']:.3f} | {'PASS' if r['pass'] else 'FAIL'} "
            f"| {r['best_ratio']:.3f} | {r['plain_rss']:.1f} | {r['advlab_rss']:.1f} |")
    lines += ["", "Notes:", ""]
    if args.control:
        lines.append("- **A/A control run** (`--control`): both sides run the plain loop, so every "
                     "difference from 1 is this machine's noise; advlab was not timed.")
    lines += [
        (f"- advlab side: `advlab.pipelines.gan.train_gan.run_loop` as `advlab gan train` runs it "
         f"(statistics every {info['log_every']} iterations into metrics.jsonl and "
         f"{'TensorBoard' if info['tensorboard'] else 'no TensorBoard'}, NaN/inf check at each "
         "log step, progress bar off). Snapshots and periodic checkpoints are off "
         "(sample_every/checkpoint_every beyond the run); the checkpoint run_loop writes when "
         "it returns, once per round, is timed apart and left out of ms/step."),
        ("- plain side: a hand-written loop over the same modules, optimisers, sampler and loss "
         "formulas (k D-steps, G-step through a frozen D, EMA update when on); no statistics, "
         "no logging, no NaN flag."),
        ("- peak RSS: the high-water resident set of each side's own worker process; both are "
         "forked from one server that imported torch and advlab, and the advlab side imports "
         "TensorBoard itself, so that counts towards its peak."),
    ]
    for r in results:
        rounds = ", ".join(f"{x:.3f}" for x in r["round_ratios"])
        checkpoint = statistics.median(r["checkpoint_ms"]) if r["checkpoint_ms"] else 0.0
        note = (f"- {r['case']}: {r['steps']} iterations per round; per-round ratios {rounds}; "
                f"CPU time per step (process, all threads) plain {r['cpu_ms']['plain']:.3f} ms, "
                f"{other} {r['cpu_ms']['advlab']:.3f} ms, ratio {r['cpu_ratio']:.3f}; "
                f"same initial weights: {'yes' if r['same_init'] else 'NO'}; same weights after "
                f"training: {'yes' if r['same_final'] else 'no'}; end-of-round checkpoint "
                f"(excluded) {checkpoint:.1f} ms median")
        if r["gpu_peak"]["plain"] is not None:
            note += (f"; peak GPU memory plain {r['gpu_peak']['plain']:.1f} MiB, {other} "
                     f"{r['gpu_peak']['advlab']:.1f} MiB")
        lines.append(note)
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=None,
                        help="timed iterations per round and side (default: per case, "
                             + ", ".join(f"{k} {v['steps']}" for k, v in CASES.items()) + ")")
    parser.add_argument("--rounds", type=int, default=20,
                        help="timed rounds per side (default 20)")
    parser.add_argument("--warmup", type=int, default=20,
                        help="untimed iterations per side first (default 20)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--pin", default="auto",
                        help="CPUs to pin every worker to, e.g. 1 or 2,3; 'auto' (default): the "
                             "last --threads CPUs this process may use; 'none': no pinning")
    parser.add_argument("--cases", default=DEFAULT_CASES,
                        help=f"comma-separated cases out of {', '.join(CASES)} (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: {QUICK['warmup']} warm-up, {QUICK['rounds']} rounds "
                             f"of {QUICK['steps']} iterations (overrides those flags)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="where to write the Markdown table (default docs/results/"
                             "train_overhead.md)")
    parser.add_argument("--control", action="store_true",
                        help="A/A control: time the plain loop against a second plain loop "
                             "instead of advlab; the ratios then show this machine's noise floor")
    parser.add_argument("--check", action="store_true",
                        help=f"exit with status 1 when any ratio exceeds {LIMIT}")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.rounds, args.warmup = QUICK["steps"], QUICK["rounds"], QUICK["warmup"]
    args.case_list = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in args.case_list if c not in CASES]
    if unknown or not args.case_list:
        parser.error(f"unknown case(s) {', '.join(unknown) or '(none)'}; valid: {', '.join(CASES)}")
    for name in ("rounds", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if (args.steps is not None and args.steps < 1) or args.warmup < 0:
        parser.error("--steps must be at least 1 and --warmup at least 0")
    args.cpus = pinned_cpus(args.pin, args.threads, parser)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    shown = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "bench/train_overhead.py", *shown])
    load = load_average()
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    # start every worker at once (imports are slow) and time nothing until all are ready, so
    # that no import competes with a timed round
    started = time.perf_counter()
    context = process_context()
    workers = {case: {side: Worker(context, case, side, args) for side in SIDES}
               for case in args.case_list}
    results = []
    try:
        ready = {case: {side: w.receive() for side, w in pair.items()}
                 for case, pair in workers.items()}
        print(f"{2 * len(workers)} workers ready after {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
        for case in args.case_list:
            results.append(bench_case(case, workers[case], ready[case], args))
    except RuntimeError as error:  # a worker failed; its traceback is in the message
        print(f"train_overhead: {error}", file=sys.stderr)
        return 2
    finally:
        for pair in workers.values():
            for w in pair.values():
                w.stop()
    first = ready[args.case_list[0]]["advlab"]
    info = {"load": load, "load_end": load_average(), "date": date, "torch": first["torch"],
            "threads": first["threads"], "device": first["device"],
            "log_every": first["log_every"], "tensorboard": first["tensorboard"]}
    text = render(results, info, args, command)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"written to {args.out}", file=sys.stderr)
    failed = [r["case"] for r in results if not r["pass"]]
    if args.check and failed:
        print(f"ratio above {LIMIT} for: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
