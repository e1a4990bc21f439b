"""`advlab attack NAME RUN [options]`: any registered evasion attack against a classifier run.

One sub-command per entry of ``advlab.attacks.ATTACKS``, built when the parser is built, so a
newly registered attack appears without changes here. Its flags come from the attack's
``__init__`` signature (pipelines/attack_run.py, ``attack_parameters``) and their help from the
``Args:`` section of its docstring:

* ``int``, ``float``, ``str``: ``--steps 40``; ``bool``: ``--random-start false``; ``X | None``:
  ``none`` gives None; ``tuple[str, ...]``: ``--transforms rotate,scale``;
* ``eps``: one number, or a comma-separated list for a sweep (``--eps 0.05,0.1,0.2``);
* an ``nn.Module`` parameter (a surrogate model): the path of another classifier run.

The victim ``model`` is RUN's classifier; ``targeted`` is set by ``--targeted-by``/``--target`` and
the attack's ``seed`` by ``--seed``. Flags every attack shares: ``--n``, ``--batch-size``,
``--targeted-by``, ``--target``, ``--mask``, ``--seed``, ``--device``, ``--threads``, ``--out``, ``--overwrite``,
``--no-progress``. An attack parameter whose name is one of those gets the flag ``--attack-NAME``.

On an MNIST run (``advlab classifier train --data mnist``, the default data) the usual Linf budget is
eps 0.3: ``advlab attack pgd RUN --eps 0.3 --steps 40 --n 200`` attacks the first 200 held-out images,
which the run's stratified split deals class by class.
"""

from __future__ import annotations

import argparse
import inspect
import json
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from advlab.attacks import ATTACKS
from advlab.cli.classifier import ExamplesFormatter
from advlab.cli.common import SEQUENCES, flag, parse_value
from advlab.core.config import describe
from advlab.core.errors import AdvlabError
from advlab.pipelines.attack_run import (
    HANDLED,
    TARGET_RULES,
    AttackParameter,
    AttackRunConfig,
    attack_parameters,
    attack_run,
)
from advlab.reports.attack_report import markdown_attack_table

EXAMPLES = """examples (an MNIST run: advlab classifier train --data mnist --out runs/clf):
  advlab attack pgd runs/clf --eps 0.3 --steps 40 --n 200
  advlab attack fgsm runs/clf --eps 0.1,0.2,0.3
  advlab attack cw runs/clf --n 100"""

COMMON = ("run", "n", "batch_size", "targeted_by", "target", "mask", "seed", "device", "threads", "out", "overwrite",
          "no_progress", "handler", "command", "attack_name")


def add_parser(subparsers) -> None:
    attack = subparsers.add_parser(
        "attack", help="run an evasion attack against a classifier run (advlab classifier train)",
        description="Attack the held-out images of a classifier run; writes RUN/attacks/NAME (or NAME-2, ... "
                    "when that exists: nothing is overwritten) with results.json, table.md, grid PNGs and "
                    "adversarial.npy.",
        epilog=EXAMPLES, formatter_class=ExamplesFormatter)
    names = list(ATTACKS)
    attacks = attack.add_subparsers(dest="attack_name", required=True, metavar="{" + ",".join(names) + "}")
    for name in names:
        add_attack_parser(attacks, name)


def add_attack_parser(attacks, name: str) -> None:
    cls = ATTACKS[name]
    summary = (inspect.getdoc(cls) or name).splitlines()[0].split(": ``")[0].replace("``", "")
    parser = attacks.add_parser(name, help=summary, description=summary)
    parser.add_argument("run", help="the victim's classifier run directory")
    add_common_flags(parser)
    options = parser.add_argument_group(f"options of {name}")
    for parameter in attack_parameters(cls):
        if parameter.name in HANDLED:
            continue
        options.add_argument(option_flag(parameter.name), dest=f"option_{parameter.name}", default=argparse.SUPPRESS,
                             required=parameter.required, metavar=metavar(parameter), help=option_help(parameter))
    parser.set_defaults(handler=run_attack)


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=None, help="attack the first N held-out images (default: all)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="attack this many images at a time (default: all at once)")
    parser.add_argument("--targeted-by", choices=TARGET_RULES, default=None,
                        help="a targeted attack, targets: next (label + 1), random (seeded) or least-likely "
                             "(the model's lowest logit)")
    parser.add_argument("--target", type=int, default=None, help="a targeted attack towards class K for every image")
    parser.add_argument("--mask", default=None,
                        help=".npy of 0/1 (1 = may change) that broadcasts to the images, e.g. (H, W)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the attack, torch and random targets (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's; 1 is often faster on a busy machine)")
    parser.add_argument("--out", default=None,
                        help="directory to write (default RUN/attacks/NAME, or NAME-2, NAME-3, ... if that exists; "
                             "an explicit --out that holds files is refused unless --overwrite)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the attack directory (--out, or RUN/attacks/NAME) instead")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def option_flag(name: str) -> str:
    return flag(f"attack_{name}" if name in COMMON else name)


def metavar(parameter: AttackParameter) -> str:
    if parameter.is_model:
        return "RUN"
    if parameter.name == "eps":
        return "EPS[,EPS...]"
    annotation = parameter.annotation
    if get_origin(annotation) is Literal:
        return "{" + ",".join(map(str, get_args(annotation))) + "}"
    if get_origin(annotation) in SEQUENCES:
        return "A,B,..."
    return "VALUE"


def type_words(annotation: Any) -> str:
    """A parameter's type in words for the help text."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(type_words(a) for a in get_args(annotation))
    if origin in SEQUENCES:
        items = get_args(annotation)
        plural = {str: "strings", int: "integers", float: "numbers", bool: "true/false values"}
        return f"comma-separated {plural.get(items[0], 'values') if items else 'values'}"
    if annotation is None:
        return "a value"
    return describe(annotation)


def default_words(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value)) or "none"
    return "none" if value is None else str(value)


def option_help(parameter: AttackParameter) -> str:
    if parameter.is_model:
        kind = "a classifier run directory"
    elif parameter.name == "eps":
        kind = "a number, or comma-separated numbers for a sweep"
    else:
        kind = type_words(parameter.annotation)
    default = "required" if parameter.required else f"default {default_words(parameter.default)}"
    doc = parameter.help.replace("``", "").rstrip(".")
    kind = kind.replace("null", "none")
    text = f"{doc} ({kind}; {default})" if doc else f"({kind}; {default})"
    return text.replace("%", "%%")


# ---------------------------------------------------------------------- text -> typed values


def parse_option(text: str, parameter: AttackParameter) -> Any:
    where = option_flag(parameter.name)
    if parameter.is_model:
        return text
    if parameter.name == "eps":
        return parse_eps(text, parameter, where)
    return parse_value(text, parameter.annotation, where)


def parse_eps(text: str, parameter: AttackParameter, where: str) -> Any:
    """One budget, or a comma-separated list of them (a sweep); `none` where None is allowed."""
    if text.strip().lower() in ("none", "null") and (parameter.default is None or allows_none(parameter.annotation)):
        return None
    values = [part.strip() for part in text.split(",")]
    try:
        numbers = [float(part) for part in values]
    except ValueError:
        raise AdvlabError(f"{where} must be a number or comma-separated numbers, got {text!r}") from None
    return numbers if len(numbers) > 1 else numbers[0]


def allows_none(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)


# ---------------------------------------------------------------------- the handler


def run_attack(args: argparse.Namespace) -> int:
    name = args.attack_name
    parameters = {p.name: p for p in attack_parameters(ATTACKS[name])}
    options = {key: parse_option(getattr(args, f"option_{key}"), parameter) for key, parameter in parameters.items()
               if hasattr(args, f"option_{key}")}
    if not Path(args.run).is_dir():
        raise AdvlabError(f"{args.run}: no such run directory")
    config = AttackRunConfig(attack=name, run=args.run, options=options, n=args.n, batch_size=args.batch_size,
                             targeted_by=args.targeted_by, target=args.target, mask=args.mask, seed=args.seed,
                             device=args.device, threads=args.threads, out=args.out, overwrite=args.overwrite,
                             progress=not args.no_progress)
    out = attack_run(config)
    rows = json.loads((out / "results.json").read_text())["rows"]
    print(markdown_attack_table(rows), end="")
    print(f"attack: {out}")
    return 0


__all__ = ["add_parser", "parse_option"]
