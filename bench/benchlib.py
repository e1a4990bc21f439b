"""Pieces the benchmarks share (imported by bench/*.py, which put this folder on sys.path)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib
import os
import platform
import sys
import time
from pathlib import Path


def pinned_cpus(pin: str, threads: int, parser: argparse.ArgumentParser) -> list[int] | None:
    """The CPUs to pin the timed work to (the same for every side), or None.

    Pinning both sides to the same CPUs keeps a side from profiting from, or suffering, the
    CPU the scheduler happened to put its process on; the sides never run at the same time.
    """
    if pin == "none" or not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if pin == "auto":
        return allowed[-threads:] if threads < len(allowed) else None
    try:
        cpus = sorted({int(cpu) for cpu in pin.split(",")})
    except ValueError:
        parser.error(f"--pin takes auto, none or CPU numbers such as 1 or 2,3; got {pin!r}")
    if not set(cpus) <= set(allowed):
        parser.error(f"--pin {pin}: this process may only use CPUs {allowed}")
    return cpus


def split_list(text: str, valid, parser: argparse.ArgumentParser, flag: str) -> list[str]:
    """A comma-separated choice out of `valid` ('none': nothing); an unknown or empty one is a parser error."""
    if text.strip() == "none":
        return []
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in valid]
    if unknown or not chosen:
        parser.error(f"unknown {flag} {', '.join(unknown) or '(none)'}; valid: {', '.join(valid)}, or none")
    return chosen


def attack_peer_versions() -> dict[str, str]:
    """The versions of torch and of the attack peers (torchattacks, ART) this process imports."""
    return module_versions(("torch", "torchattacks", "art"))


class Unavailable(Exception):
    """A peer (ART, ...) is not installed here."""


def need_art():
    """The art package; Unavailable, saying how to install it, where it is missing."""
    try:
        import art
    except ImportError as error:
        raise Unavailable(f"ART is not installed ({error}); `pip install -e .[bench]` adds it") from None
    return art


def module_versions(modules) -> dict[str, str]:
    """{module: its __version__, or "not installed"} for each importable module name of `modules`."""
    found = {}
    for module in modules:
        try:
            found[module] = importlib.import_module(module).__version__
        except ImportError:
            found[module] = "not installed"
    return found


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages as "a/b/c" ("n/a" where the system has none)."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def add_run_flags(parser: argparse.ArgumentParser, seed: int) -> None:
    """--seed (default `seed`), --threads (1), --device (cpu) and --pin (auto), as the training benches take them."""
    parser.add_argument("--seed", type=int, default=seed, help="seed of everything (default %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--pin", default="auto",
                        help="CPUs to pin to, e.g. 0; 'auto' (default): the last --threads CPUs this process may use "
                             "when it may use more; 'none'")


def add_size_flags(parser: argparse.ArgumentParser, sizes: dict[str, str], full: dict, quick: dict) -> None:
    """An integer flag --NAME per {name: what it sizes} of `sizes`, default None (the bench fills in `full`'s value,
    or `quick`'s under --quick); its help names both."""
    for name, words in sizes.items():
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=None,
                            help=f"{words} (default {full[name]}; --quick {quick[name]})")


def add_verdict_flags(parser: argparse.ArgumentParser) -> None:
    """--check (exit 1 on a FAIL verdict), --no-progress (``progress``) and --verbose (a failing peer's traceback)."""
    parser.add_argument("--check", action="store_true", help="exit 1 if any verdict is FAIL")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    parser.add_argument("--verbose", action="store_true", help="print the traceback of a peer that fails")


class Phases(dict):
    """{phase: (wall seconds, CPU seconds)} of a bench's phases, in the order they ran."""

    def run(self, phase: str, work, *arguments):
        """work(*arguments), timed as `phase`; its value."""
        wall, cpu = time.perf_counter(), time.process_time()
        value = work(*arguments)
        self[phase] = (time.perf_counter() - wall, time.process_time() - cpu)
        return value


def bench_command(script: str, argv: list[str] | None) -> str:
    """The command line the page says made it: python bench/SCRIPT plus `argv` (None: this process's arguments)."""
    import shlex

    return shlex.join(["python", f"bench/{script}", *(sys.argv[1:] if argv is None else argv)])


@contextlib.contextmanager
def work_folder(args: argparse.Namespace, prefix: str):
    """Set ``args.folder`` to ``args.work`` (kept), or to a temporary folder removed when the block ends."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix=prefix) as temporary:
        args.folder = args.work if args.work is not None else Path(temporary)
        yield args.folder


def page_info(args: argparse.Namespace, versions: dict[str, str]) -> dict:
    """Pin this process to ``args.cpus`` (when set) and give torch ``args.threads`` threads; the facts a page opens
    with (load average, date, torch threads, CPUs, `versions`) and the clocks page_done reads the total time from."""
    import torch

    if args.cpus:
        os.sched_setaffinity(0, args.cpus)
    torch.set_num_threads(args.threads)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return {"load": load_average(), "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "threads": torch.get_num_threads(), "versions": versions, "cpus": ",".join(map(str, cpus)) or "n/a",
            "clocks": (time.perf_counter(), time.process_time())}


def page_done(info: dict) -> None:
    """Add to `info` the load average now and the wall and CPU seconds (``seconds``, ``cpu``) since page_info."""
    wall, cpu = info["clocks"]
    info.update(load_end=load_average(), seconds=time.perf_counter() - wall, cpu=time.process_time() - cpu)


def publish(text: str, out, bench: str, checks=(), check: bool = False) -> int:
    """Print the page and write it to `out`; the exit status: 1 when `check` and any of `checks` (objects with
    ``what`` and ``verdict``) is FAIL, else 0."""
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written to {out}", file=sys.stderr)
    failed = [c for c in checks if c.verdict == "FAIL"]
    if check and failed:
        print(f"{bench}: {len(failed)} check(s) FAIL: " + "; ".join(c.what for c in failed), file=sys.stderr)
        return 1
    return 0


@dataclasses.dataclass(frozen=True)
class Check:
    """One criterion of a bench's page: what it asks, what was measured, and "PASS" or "FAIL"."""

    what: str
    measured: str
    verdict: str


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def checks_lines(checks) -> list[str]:
    """The page's checks table: one row per check (objects with ``what``, ``measured`` and ``verdict``)."""
    return ["| check | measured | verdict |", "|---|---|---|", *[f"| {c.what} | {c.measured} | {c.verdict} |"
                                                             for c in checks]]


def phase_lines(phases: dict) -> list[str]:
    """The page's timings table: wall and CPU seconds of each phase ({phase: (wall, cpu)}, as Phases keeps them)."""
    return ["| phase | wall s | CPU s |", "|---|---|---|", *[f"| {phase} | {wall:.1f} | {cpu:.1f} |"
                                                             for phase, (wall, cpu) in phases.items()]]


def section_markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def replace_section(path, name: str, text: str) -> None:
    """Write `text` into the Markdown page `path` between the markers of section `name`: in place of the section's
    last version where the page has one, else at its end (a page that does not exist yet is created)."""
    from pathlib import Path

    path, (start, end) = Path(path), section_markers(name)
    block = f"{start}\n{text.strip()}\n{end}\n"
    page = path.read_text() if path.is_file() else ""
    if start in page and end in page:
        before, rest = page.split(start, 1)
        page = before + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        page = page.rstrip("\n") + ("\n\n" if page.strip() else "") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)


def kept_sections(path, names) -> str:
    """The marked sections `names` of the page `path` as they stand (for a bench that rewrites the rest of it)."""
    from pathlib import Path

    page = Path(path).read_text() if Path(path).is_file() else ""
    blocks = []
    for name in names:
        start, end = section_markers(name)
        if start in page and end in page:
            blocks.append(start + page.split(start, 1)[1].split(end, 1)[0] + end + "\n")
    return "\n".join(blocks)


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), for a page's machine line."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU model unknown"
