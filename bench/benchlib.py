"""Pieces the benchmarks share (imported by bench/*.py, which put this folder on sys.path)."""

from __future__ import annotations

import argparse
import importlib
import os


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
    import torch

    found = {"torch": torch.__version__}
    for module in ("torchattacks", "art"):
        try:
            found[module] = importlib.import_module(module).__version__
        except ImportError:
            found[module] = "not installed"
    return found


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
