"""Typed configs validated at the boundary (DESIGN.md, Conventions).

A config is a frozen dataclass whose fields all have defaults. `from_mapping` turns a plain
mapping (from YAML or the CLI) into one, refusing unknown keys (the error names the valid
ones) and values of the wrong type. `load_yaml` / `dump_yaml` read and write them.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

from advlab.core.errors import AdvlabError

C = TypeVar("C")


def from_mapping(cls: type[C], values: dict[str, Any], source: str = "config") -> C:
    """Build config `cls` from `values`, checking every key and type."""
    if not isinstance(values, dict):
        raise AdvlabError(f"{source}: expected a mapping of option: value, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise AdvlabError(
            f"{source}: unknown option {', '.join(map(repr, unknown))}; "
            f"valid options are: {', '.join(fields)}"
        )
    checked = {key: coerce(value, hints[key], f"{source}: option {key!r}") for key, value in values.items()}
    config = cls(**checked)
    validate = getattr(config, "validate", None)
    if validate is not None:
        validate()
    return config


def coerce(value: Any, annotation: Any, where: str) -> Any:
    """Return `value` as type `annotation`, or raise AdvlabError naming `where`."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        options = get_args(annotation)
        if value is None and type(None) in options:
            return None
        for option in (o for o in options if o is not type(None)):
            try:
                return coerce(value, option, where)
            except AdvlabError:
                continue
        raise AdvlabError(f"{where} must be {describe(annotation)}, got {value!r}")
    if origin is Literal:
        choices = get_args(annotation)
        if value not in choices:
            raise AdvlabError(f"{where} must be one of {', '.join(map(str, choices))}; got {value!r}")
        return value
    if origin in (tuple, list, collections.abc.Sequence):
        return coerce_sequence(value, annotation, where)
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif annotation is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"config type {annotation!r} is not supported")
    raise AdvlabError(f"{where} must be {describe(annotation)}, got {value!r}")


def coerce_sequence(value: Any, annotation: Any, where: str) -> Any:
    """A list (or a comma-separated string, as YAML users write ``fid, modes``) as ``tuple[T, ...]``/list."""
    item = (get_args(annotation) or (str,))[0]
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)):
        raise AdvlabError(f"{where} must be {describe(annotation)}, got {value!r}")
    items = [coerce(element, item, f"{where}[{index}]") for index, element in enumerate(value)]
    return tuple(items) if get_origin(annotation) is tuple else items


def describe(annotation: Any) -> str:
    """A type annotation in words, for error messages."""
    if get_origin(annotation) in (Union, types.UnionType):
        return " or ".join(describe(a) for a in get_args(annotation))
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(map(str, get_args(annotation)))
    if get_origin(annotation) in (tuple, list, collections.abc.Sequence):
        item = (get_args(annotation) or (str,))[0]
        return f"comma-separated values, each {describe(item)}"
    return {type(None): "null", bool: "true/false", int: "an integer", float: "a number",
            str: "a string"}.get(annotation, str(annotation))


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from `path`; a missing file or bad YAML is an AdvlabError."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise AdvlabError(f"cannot read config {path}: {error.strerror or error}") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise AdvlabError(f"config {path} is not valid YAML{where}") from None
    return {} if values is None else values


def dump_yaml(config: Any, path: str | Path) -> None:
    """Write a config dataclass as a flat YAML mapping."""
    values = {key: list(value) if isinstance(value, tuple) else value
              for key, value in dataclasses.asdict(config).items()}
    Path(path).write_text(yaml.safe_dump(values, sort_keys=False))
