"""Pieces every CLI verb shares: a one-line-error argument parser and config flags.

`add_config_flags` turns each field of a config dataclass into `--field-name VALUE`, so the
YAML file and the command line accept exactly the same options with the same types.
"""

from __future__ import annotations

import argparse
import collections.abc
import dataclasses
import re
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from advlab.core.config import coerce, describe, from_mapping, load_yaml
from advlab.core.errors import AdvlabError

SEQUENCES = (tuple, list, collections.abc.Sequence)


NEGATIVE_NUMBERS = re.compile(r"^-(\d+\.?\d*|\.\d+)(e-?\d+)?(,-?(\d+\.?\d*|\.\d+)(e-?\d+)?)*$")


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2, and which reads a comma-separated
    list of negative numbers (``--eps-db -25,-35,-45``) as a value, not as an unknown option."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = NEGATIVE_NUMBERS

    def error(self, message: str) -> typing.NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


class ExamplesFormatter(argparse.HelpFormatter):
    """argparse's formatter, but a text of several lines (an epilog of examples) keeps its line breaks."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def add_seed_device_flags(parser: argparse.ArgumentParser, seeds: str) -> None:
    """--seed (what it `seeds`), --device and --threads, as every command on a run takes them."""
    parser.add_argument("--seed", type=int, default=0, help=f"seeds {seeds} (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's; 1 is often faster on a busy machine)")


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_flags(parser: argparse.ArgumentParser, cls: type, docs: dict[str, str],
                     skip: typing.Collection[str] = (), default_note=None) -> None:
    """One flag per config field but those in `skip`; only flags actually given end up in the namespace.

    `default_note(field)` words the default in the help (default: "default VALUE").
    """
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        annotation = hints[field.name]
        note = default_note(field) if default_note else f"default {field.default}"
        help_text = f"{docs.get(field.name, '')} ({describe(annotation)}; {note})"
        # a bare boolean flag means true: --conditional is --conditional true
        bare = {"nargs": "?", "const": "true"} if annotation is bool else {}
        parser.add_argument(flag(field.name), dest=field.name, default=argparse.SUPPRESS,
                            metavar=metavar(annotation), help=help_text.strip(), **bare)


def metavar(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return "{" + ",".join(map(str, get_args(annotation))) + "}"
    return "VALUE"


def config_values(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The config fields given on the command line, parsed to their declared types."""
    hints = typing.get_type_hints(cls)
    names = {field.name for field in dataclasses.fields(cls)}
    return {name: parse_value(getattr(args, name), hints[name], flag(name))
            for name in names if hasattr(args, name)}


def parse_value(text: str, annotation: Any, where: str) -> Any:
    """Command-line text to a typed value: `none`/`null` for an optional option, comma-separated
    items for a sequence (``tuple[str, ...]``: ``rotate,scale``); an unannotated option stays text."""
    if annotation is None or annotation is Any:
        return text
    options = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    if type(None) in options and text.lower() in ("none", "null"):
        return None
    for option in (o for o in options if o is not type(None)):
        try:
            return parse_one(text, option, where)
        except (ValueError, AdvlabError):
            continue
    raise AdvlabError(f"{where} must be {describe(annotation)}, got {text!r}")


def parse_one(text: str, annotation: Any, where: str) -> Any:
    """Text to one non-optional type; ValueError or AdvlabError when it does not fit."""
    origin = get_origin(annotation)
    if origin in SEQUENCES:
        item = (get_args(annotation) or (str,))[0]
        values = [parse_value(part.strip(), item, where) for part in text.split(",") if part.strip()]
        if not values:
            raise ValueError(text)
        return tuple(values) if origin is tuple else values
    return coerce(convert(text, annotation), annotation, where)


def convert(text: str, annotation: Any) -> Any:
    if annotation is bool:
        lowered = text.lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
        raise ValueError(text)
    if annotation is int:
        return int(text)
    if annotation is float:
        return float(text)
    return text


def resumed_config(stored, run_dir: str, given: dict[str, Any], config_file: str | None,
                   resumable: typing.Collection[str]):
    """A run's stored config with the options given on the command line that may change when resuming
    (`resumable`, e.g. steps, device, precision, threads); any other change is refused (Mimicry refuses a changed
    config too), as are --config and an --out other than the run."""
    if config_file:
        raise AdvlabError("--resume takes its config from the run; drop --config")
    changed = sorted(k for k, v in given.items() if k not in resumable and getattr(stored, k) != v)
    if changed:
        allowed = ", ".join(flag(name) for name in resumable if name != "out")
        raise AdvlabError(f"cannot change {', '.join(changed)} when resuming {run_dir}; only {allowed} may change")
    if "out" in given and Path(given["out"]) != Path(run_dir):
        raise AdvlabError("--out differs from --resume; a resumed run stays in its directory")
    allowed = {k: v for k, v in given.items() if k in resumable and k != "out"}
    return from_mapping(type(stored), {**dataclasses.asdict(stored), **allowed}) if allowed else stored


def command_config(args: argparse.Namespace, cls: type, stored: Callable[[str], Any], fixed: dict | None = None):
    """A trainer's config from its command line: with --resume, the run's stored config (`stored(run)`) and the
    options that may change (RESUMABLE); else --config's YAML under the flags given. `fixed`: values the command
    itself sets (translate's game)."""
    given = {**config_values(args, cls), **(fixed or {})}
    if args.resume:
        return resumed_config(stored(args.resume), args.resume, given, args.config, RESUMABLE)
    values = load_yaml(args.config) if args.config else {}
    return from_mapping(cls, {**values, **given}, source=args.config or "command line")


# What every trainer's loop options mean (translate, superres; gan words some of its own).
LOOP_OPTION_DOCS = {
    "out": "run directory to create",
    "seed": "random seed", "device": "auto, cpu, cuda or cuda:N (under torchrun: cuda, each rank its own GPU)",
    "precision": "fp32, bf16 (autocast; CPU or GPU) or fp16 (autocast with loss scaling; CUDA only)",
    "threads": "torch CPU threads (unset: torch's default)",
    "log_every": "log every N steps", "sample_every": "save a comparison grid every N steps",
    "checkpoint_every": "checkpoint every N steps", "keep_checkpoints": "checkpoints kept",
    "tensorboard": "write TensorBoard events",
}
RESUMABLE = ("steps", "device", "precision", "threads", "out")


def add_training_flags(train: argparse.ArgumentParser, cls: type, docs: dict[str, str],
                       skip: typing.Collection[str] = ()) -> None:
    """--config, --resume, --overwrite, --no-progress and one flag per field of the run's config `cls`."""
    train.add_argument("--config", help="YAML file with any of the options below")
    train.add_argument("--resume", metavar="RUN", help="continue the run in RUN where it stopped")
    train.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_flags(train, cls, docs, skip)
