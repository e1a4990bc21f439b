"""Flags built from a class's ``__init__`` (advlab.core.parameters): attacks, poisons and detectors.

One flag per parameter, ``--steps 40``, with the help text of its ``Args:`` line, its type in words and
its default. Values are typed by ``cli.common.parse_value``: ``int``, ``float``, ``str``; ``bool``:
``--random-start false``; ``X | None``: ``none`` gives None; ``tuple[str, ...]``: ``--transforms rotate,scale``.
A parameter annotated ``nn.Module`` (a surrogate model) takes the path of a classifier run, one annotated
``tuple[nn.Module, ...]`` (an ensemble of surrogates) comma-separated paths of them, one annotated
``Tensor`` (a trigger pattern) the path of a .npy or image file (advlab.data.pattern), and a
parameter named in `sweeps` (an attack's ``eps``) one number or a comma-separated list of them.
A parameter whose name clashes with a flag the command has of its own gets ``--PREFIX-NAME``.
"""

from __future__ import annotations

import argparse
import types
from collections.abc import Collection, Iterable
from typing import Any, Literal, Union, get_args, get_origin

from advlab.cli.common import SEQUENCES, flag, parse_value
from advlab.core.config import describe
from advlab.core.errors import AdvlabError
from advlab.core.parameters import Parameter

DEST = "option_"  # argparse dest of a class option: option_NAME


def option_flag(name: str, taken: Collection[str] = (), prefix: str = "") -> str:
    """The flag of parameter `name`: --NAME, or --PREFIX-NAME when the command already has a flag `name`."""
    return flag(f"{prefix}_{name}" if name in taken else name)


def add_class_options(group, parameters: Iterable[Parameter], taken: Collection[str] = (), prefix: str = "",
                      sweeps: Collection[str] = ()) -> None:
    """One flag per parameter, stored as option_NAME and absent from the namespace unless given."""
    for parameter in parameters:
        group.add_argument(option_flag(parameter.name, taken, prefix), dest=DEST + parameter.name,
                           default=argparse.SUPPRESS, required=parameter.required,
                           metavar=metavar(parameter, sweeps), help=option_help(parameter, sweeps))


def class_options(args: argparse.Namespace, parameters: Iterable[Parameter], taken: Collection[str] = (),
                  prefix: str = "", sweeps: Collection[str] = ()) -> dict[str, Any]:
    """The typed values of the class options given on the command line."""
    return {parameter.name: parse_option(getattr(args, DEST + parameter.name), parameter,
                                         option_flag(parameter.name, taken, prefix), sweeps)
            for parameter in parameters if hasattr(args, DEST + parameter.name)}


def metavar(parameter: Parameter, sweeps: Collection[str] = ()) -> str:
    if parameter.is_models:
        return "RUN[,RUN...]"
    if parameter.is_model:
        return "RUN"
    if parameter.is_tensor:
        return "FILE"
    if parameter.name in sweeps:
        return f"{parameter.name.upper()}[,{parameter.name.upper()}...]"
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


def option_help(parameter: Parameter, sweeps: Collection[str] = ()) -> str:
    if parameter.is_models:
        kind = "comma-separated classifier run directories" if not parameter.is_model else \
            "a classifier run directory, or comma-separated ones"
    elif parameter.is_model:
        kind = "a classifier run directory"
    elif parameter.is_tensor:
        kind = "a .npy or image file"
    elif parameter.name in sweeps:
        kind = "a number, or comma-separated numbers for a sweep"
    else:
        kind = type_words(parameter.annotation)
    default = "required" if parameter.required else f"default {default_words(parameter.default)}"
    doc = parameter.help.replace("``", "").rstrip(".")
    kind = kind.replace("null", "none")
    text = f"{doc} ({kind}; {default})" if doc else f"({kind}; {default})"
    return text.replace("%", "%%")


def parse_option(text: str, parameter: Parameter, where: str, sweeps: Collection[str] = ()) -> Any:
    """`text` typed as `parameter` wants it (a path for a model or a tensor parameter, a tuple of paths for a
    models parameter given several: the pipeline reads them)."""
    if parameter.is_models:
        return parse_runs(text, parameter, where)
    if parameter.is_model or parameter.is_tensor:
        return text
    if parameter.name in sweeps:
        return parse_sweep(text, parameter, where)
    return parse_value(text, parameter.annotation, where)


def parse_runs(text: str, parameter: Parameter, where: str) -> str | tuple[str, ...]:
    """Comma-separated run paths: a tuple of them (one path alone stays a path where one model is allowed)."""
    paths = tuple(part.strip() for part in text.split(",") if part.strip())
    if not paths:
        raise AdvlabError(f"{where} must name at least one classifier run directory, got {text!r}")
    return paths[0] if len(paths) == 1 and parameter.is_model else paths


def parse_sweep(text: str, parameter: Parameter, where: str) -> Any:
    """One number, or a comma-separated list of them (a sweep); `none` where None is allowed."""
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


__all__ = ["add_class_options", "class_options", "option_flag", "option_help", "parse_option"]
