"""How fast does the playground's GAN page train and how many frames reach a client?

The issue's target: the ring8 game, 10 training steps per frame, at least 20 frames per second delivered to a
client on this machine. What is measured, end to end, as a user gets it:

* The server is the real command, ``advlab playground --port 0 --no-warm --threads T``, in its own process
  (pinned with ``--pin``, by default to the last CPU, so that it does not share a core with the client).
* A client (Python's ``websockets``, standing in for the browser tab, on the other CPUs) opens ``/ws/gan``,
  sends ``{"type": "set", "options": ...}`` for the case, then ``play``, and reads frames: every frame is the
  full JSON the page draws (real and generated points, D's 40x40 heatmap, the noise manifold, gradient arrows,
  loss history, mode coverage and KL/JS; see ``advlab.playground.app``). After ``--warmup`` seconds it counts,
  for ``--seconds`` seconds, the frames received and the steps they report.
* frames/s = (frames - 1) / (time between the first and the last counted frame); steps/s = (step of the last
  - step of the first) / the same time. Each training step is one iteration of Algorithm 1 (k D-steps and one
  G-step) on a minibatch of 128 (``GanOptions``' default).
* ``fps`` is the page's frame cap (the page's default is 30; 60 is the most it may ask for). The target row asks
  for 60, so that the figure is what the server can deliver, not the cap.
* Concurrent rows: several clients, each its own session, all served by the one server process; frames/s is per
  client (the median client), steps/s the sum.

A second table breaks one frame's time down in-process (the same ``GanGame`` the server plays, one thread, on
the server's CPU, after the server has stopped; means over ``--repeats`` frames after a few untimed ones): ms per
training step, ms to render a frame (the forward passes for the points, heatmap, manifold and metrics, and the
gradient arrows), ms to encode it as JSON, and the frame's size; the compute-bound rate is
1 / (steps_per_frame x step + render + encode).

    python bench/playground_rate.py            # the cases below, ~2 min
    python bench/playground_rate.py --quick    # smoke run (seconds)
    python bench/playground_rate.py --check    # exit 1 when the target row is under 20 frames/s

The table is printed and written to docs/results/playground.md (``--out``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import shlex
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import pinned_cpus, split_list  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "results" / "playground.md"
TARGET_FPS = 20.0
TARGET_CASE = "ring8"
START_TIMEOUT = 120.0  # seconds for the server to print its address
RECEIVE_TIMEOUT = 30.0
WARMUP_FRAMES = 5  # untimed frames before the in-process breakdown


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    description: str
    options: dict
    clients: int = 1


CASES = {case.name: case for case in (
    Case("ring8", "ring8, nonsaturating, k 1, 10 steps/frame, cap 60 fps (the issue's target)",
         {"data": "ring8", "steps_per_frame": 10, "fps": 60}),
    Case("ring8-page", "ring8, as the page starts: 10 steps/frame, cap 30 fps",
         {"data": "ring8", "steps_per_frame": 10, "fps": 30}),
    Case("ring8-1", "ring8, 1 step/frame, cap 60 fps (frame cost dominates)",
         {"data": "ring8", "steps_per_frame": 1, "fps": 60}),
    Case("ring8-50", "ring8, 50 steps/frame, cap 60 fps (training dominates)",
         {"data": "ring8", "steps_per_frame": 50, "fps": 60}),
    Case("grid25-wgangp", "grid25, WGAN-GP k 5, 10 steps/frame, cap 60 fps (the heaviest loss)",
         {"data": "grid25", "loss": "wgan-gp", "k": 5, "steps_per_frame": 10, "fps": 60}),
    Case("ring8-x4", "ring8, 4 tabs at once, 10 steps/frame, cap 60 fps each",
         {"data": "ring8", "steps_per_frame": 10, "fps": 60}, clients=4),
)}
QUICK = {"cases": ["ring8", "ring8-x4"], "seconds": 1.5, "warmup": 0.5}


@dataclasses.dataclass
class Measured:
    case: Case
    frames_per_second: float  # the median client's
    steps_per_second: float  # all clients together
    frame_kb: float
    frames: int
    errors: list[str]


# ---------------------------------------------------------------------- the server


class Server:
    """``advlab playground`` in a child process (pinned to `cpus`); its address is read from its first line."""

    def __init__(self, threads: int, cpus: list[int] | None):
        command = [sys.executable, "-m", "advlab.cli.main", "playground", "--port", "0", "--no-warm",
                   "--threads", str(threads)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
        self.url = self.read_address()

    def read_address(self) -> str:
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT)
        line = found[0] if found else ""
        if "serving http://" not in line:
            self.stop()
            raise SystemExit(f"advlab playground did not start: {line.strip() or self.process.stderr.read()[-2000:]}")
        return line.split("serving ", 1)[1].split()[0]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


# ---------------------------------------------------------------------- a client


def receive(socket) -> dict:
    return json.loads(socket.recv(timeout=RECEIVE_TIMEOUT))


def receive_type(socket, wanted: str) -> dict:
    """Messages until one of type `wanted`; an error message ends the wait with an exception."""
    while True:
        message = receive(socket)
        if message["type"] == wanted:
            return message
        if message["type"] == "error":
            raise RuntimeError(message["message"])


def play(url: str, options: dict, warmup: float, seconds: float, start: threading.Barrier) -> dict:
    """One tab: set the options, play, and count the frames and steps that arrive within the window."""
    from websockets.sync.client import connect

    with connect(url.replace("http://", "ws://") + "/ws/gan", max_size=None, open_timeout=RECEIVE_TIMEOUT) as socket:
        receive_type(socket, "hello")
        receive_type(socket, "frame")
        socket.send(json.dumps({"type": "set", "options": options}))
        receive_type(socket, "options")
        receive_type(socket, "frame")
        start.wait(RECEIVE_TIMEOUT)
        socket.send(json.dumps({"type": "play"}))
        receive_type(socket, "status")
        begin = time.perf_counter() + warmup
        end = begin + seconds
        counted: list[tuple[float, int, int]] = []  # (arrival, step, bytes)
        while True:
            text = socket.recv(timeout=RECEIVE_TIMEOUT)
            now = time.perf_counter()
            message = json.loads(text)
            if message["type"] == "error":
                raise RuntimeError(message["message"])
            if message["type"] != "frame" or now < begin:
                continue
            counted.append((now, message["step"], len(text)))
            if now >= end:
                break
        socket.send(json.dumps({"type": "pause"}))
    span = counted[-1][0] - counted[0][0]
    return {"fps": (len(counted) - 1) / span if span > 0 else 0.0,
            "steps_per_second": (counted[-1][1] - counted[0][1]) / span if span > 0 else 0.0,
            "bytes": statistics.median(size for _, _, size in counted), "frames": len(counted)}


def measure(url: str, case: Case, warmup: float, seconds: float) -> Measured:
    """The case's clients, each in its own thread, all starting to play together."""
    results: list[dict] = []
    errors: list[str] = []
    start = threading.Barrier(case.clients)

    def tab() -> None:
        try:
            results.append(play(url, case.options, warmup, seconds, start))
        except Exception as error:  # a failed client is reported in the table, not hidden
            errors.append(f"{type(error).__name__}: {error}")
            start.abort()

    threads = [threading.Thread(target=tab) for _ in range(case.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if not results:
        return Measured(case, 0.0, 0.0, 0.0, 0, errors)
    return Measured(case, statistics.median(r["fps"] for r in results), sum(r["steps_per_second"] for r in results),
                    statistics.median(r["bytes"] for r in results) / 1024, sum(r["frames"] for r in results), errors)


# ---------------------------------------------------------------------- in-process breakdown


@dataclasses.dataclass
class Breakdown:
    case: Case
    step_ms: float
    render_ms: float
    encode_ms: float
    frame_kb: float

    @property
    def compute_fps(self) -> float:
        return 1000.0 / (self.case.options["steps_per_frame"] * self.step_ms + self.render_ms + self.encode_ms)


def breakdown(case: Case, repeats: int) -> Breakdown:
    """The mean over `repeats` frames of the time of each part of one frame, for the game the case plays (means, so
    that the parts add up to the time of a frame, rare slow steps included)."""
    from advlab.playground.app import dumps
    from advlab.playground.gan_game import GanGame, GanOptions

    game = GanGame(GanOptions(**case.options))
    steps = case.options["steps_per_frame"]
    for _ in range(WARMUP_FRAMES):  # first calls allocate; they are not what a playing page sees
        game.advance(steps)
        dumps(game.frame())
    step, render, encode = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        game.advance(steps)
        t1 = time.perf_counter()
        frame = game.frame()
        t2 = time.perf_counter()
        text = dumps(frame)
        t3 = time.perf_counter()
        step.append((t1 - t0) / steps * 1000)
        render.append((t2 - t1) * 1000)
        encode.append((t3 - t2) * 1000)
    return Breakdown(case, statistics.mean(step), statistics.mean(render), statistics.mean(encode),
                     len(text) / 1024)


# ---------------------------------------------------------------------- the page


def verdict(row: Measured) -> str:
    if row.case.name != TARGET_CASE:
        return ""
    return "PASS" if row.frames_per_second >= TARGET_FPS and not row.errors else "FAIL"


def render(rows: list[Measured], parts: list[Breakdown], info: dict, command: str) -> str:
    lines = [
        "# Playground: training steps and frames per second (GAN page, `/ws/gan`)", "",
        f"`{command}` — {info['date']}; torch {info['torch']}, server threads {info['threads']}, server on CPU(s) "
        f"{info['server_cpus']}, client on CPU(s) {info['client_cpus']}; {info['cpus']} CPUs, load average "
        f"{info['load_before']} before the run; {info['seconds']:.0f} s in all.", "",
        f"Each case: the real `advlab playground` server, a WebSocket client per tab, {info['warmup']:g} s of warm-up "
        f"then {info['window']:g} s counted. Target: at least {TARGET_FPS:g} frames/s for `{TARGET_CASE}`.", "",
        "| case | tabs | frames/s (per tab) | steps/s (all tabs) | frame KB | frames | verdict |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        shown = verdict(row) + (f" errors: {'; '.join(row.errors)}" if row.errors else "")
        lines.append(f"| {row.case.description} | {row.case.clients} | {row.frames_per_second:.1f} | "
                     f"{row.steps_per_second:.0f} | {row.frame_kb:.1f} | {row.frames} | {shown.strip()} |")
    lines += ["", "Where a frame's time goes (in-process, one thread, mean of "
              f"{info['repeats']} frames):", "",
              "| case | ms / training step | ms / frame render | ms / JSON encode | frame KB "
              "| compute-bound frames/s |",
              "|---|---:|---:|---:|---:|---:|"]
    for part in parts:
        lines.append(f"| {part.case.name} | {part.step_ms:.2f} | {part.render_ms:.2f} | {part.encode_ms:.2f} | "
                     f"{part.frame_kb:.1f} | {part.compute_fps:.1f} |")
    lines += ["", "Notes:", "",
              "* The server trains a frame's steps and renders the frame in a worker thread, then sends it; the next "
              "frame starts when the previous one is sent, so frames/s is at most 1 / (train + render + encode + "
              "send) and at most the page's fps cap.",
              "* Frames/s over the WebSocket fall short of the compute-bound figure by the cost of uvicorn's event "
              "loop, the WebSocket framing and the client's decoding; several tabs share the server's one torch "
              "thread per session on the same CPU.",
              "* Timing depends on what else the machine runs: the load average above is the one before the run."]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated, from %(default)s")
    parser.add_argument("--seconds", type=float, default=10.0, help="counted seconds per case (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of play before counting (default 2)")
    parser.add_argument("--repeats", type=int, default=50, help="frames timed in-process per case (default 50)")
    parser.add_argument("--threads", type=int, default=1, help="the server's torch threads (default 1)")
    parser.add_argument("--pin", default="auto",
                        help="the server's CPUs: auto (the last --threads CPUs; the client gets the others), none, "
                             "or CPU numbers such as 1")
    parser.add_argument("--quick", action="store_true", help="a smoke run: two cases, a second or two each")
    parser.add_argument("--check", action="store_true",
                        help=f"exit 1 when {TARGET_CASE} delivers fewer than {TARGET_FPS:g} frames/s")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the Markdown page (default %(default)s)")
    args = parser.parse_args(argv)
    args.case_list = split_list(args.cases, list(CASES), parser, "--cases")
    if args.quick:
        args.case_list, args.seconds, args.warmup, args.repeats = (QUICK["cases"], QUICK["seconds"],
                                                                   QUICK["warmup"], 5)
    if not args.case_list:
        parser.error("--cases must name at least one case")
    if args.seconds <= 0 or args.warmup < 0:
        parser.error("--seconds must be positive and --warmup not negative")
    for name in ("repeats", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    args.server_cpus = pinned_cpus(args.pin, args.threads, parser)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python", "bench/playground_rate.py", *(sys.argv[1:] if argv is None else argv)])
    started = time.perf_counter()
    load_before = ", ".join(f"{load:.2f}" for load in os.getloadavg())
    allowed = sorted(os.sched_getaffinity(0))
    client_cpus = [cpu for cpu in allowed if cpu not in (args.server_cpus or [])] or allowed
    os.sched_setaffinity(0, client_cpus)
    cases = [CASES[name] for name in args.case_list]
    server = Server(args.threads, args.server_cpus)
    rows: list[Measured] = []
    try:
        for case in cases:
            row = measure(server.url, case, args.warmup, args.seconds)
            rows.append(row)
            print(f"{case.name:>14}: {row.frames_per_second:6.1f} frames/s per tab, {row.steps_per_second:7.0f} "
                  f"steps/s, {row.frame_kb:.1f} KB/frame {' '.join(row.errors)}", flush=True)
    finally:
        server.stop()
    import torch

    torch.set_num_threads(args.threads)
    os.sched_setaffinity(0, args.server_cpus or allowed)
    parts = [breakdown(case, args.repeats) for case in cases if case.clients == 1]
    info = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "torch": torch.__version__,
            "threads": args.threads, "server_cpus": ",".join(map(str, args.server_cpus or allowed)),
            "client_cpus": ",".join(map(str, client_cpus)), "cpus": len(allowed), "load_before": load_before,
            "seconds": time.perf_counter() - started, "warmup": args.warmup, "window": args.seconds,
            "repeats": args.repeats}
    text = render(rows, parts, info, command)
    print()
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    target = [row for row in rows if row.case.name == TARGET_CASE]
    failed = any(row.errors for row in rows) or any(verdict(row) == "FAIL" for row in target)
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
