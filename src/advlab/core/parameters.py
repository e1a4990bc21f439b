"""The options a class takes, read from its ``__init__`` signature and the ``Args:`` section of its docstring.

The CLI builds one flag per parameter of an attack, a poison or a detector from this (DESIGN.md: "a docstring
is part of the interface"), and the Python entry points check option names against it.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from advlab.core.errors import AdvlabError

UNIONS = (typing.Union, types.UnionType)


@dataclass(frozen=True)
class Parameter:
    """One parameter of a class's ``__init__``: its name, type, default and documentation."""

    name: str
    annotation: Any  # the resolved type hint; None when neither a hint nor a default tells
    default: Any  # inspect.Parameter.empty when the parameter has no default
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    @property
    def is_tensor(self) -> bool:
        """Annotated with a Tensor type (a pattern, an image: given on the command line as a file)."""
        options = typing.get_args(self.annotation) or (self.annotation,)
        return any(isinstance(option, type) and issubclass(option, Tensor) for option in options)

    @property
    def is_model(self) -> bool:
        """Annotated with an nn.Module type (another classifier, given as a run directory)."""
        options = typing.get_args(self.annotation) or (self.annotation,)
        return any(isinstance(option, type) and issubclass(option, nn.Module) for option in options)

    @property
    def is_models(self) -> bool:
        """Annotated with a sequence of nn.Modules, ``tuple[nn.Module, ...]`` (several classifiers, given as
        comma-separated run directories), alone or beside ``nn.Module``."""
        options = typing.get_args(self.annotation) if typing.get_origin(self.annotation) in UNIONS else (
            self.annotation,)
        return any(typing.get_origin(option) in (tuple, list) and any(
            isinstance(item, type) and issubclass(item, nn.Module) for item in typing.get_args(option))
            for option in options)


def docstring_args(cls: type) -> dict[str, str]:
    """name -> text of the ``Args:`` sections of `cls`'s docstring and its bases' (first wins)."""
    found: dict[str, str] = {}
    for klass in cls.__mro__:
        doc = inspect.cleandoc(klass.__dict__.get("__doc__") or "")
        for name, text in parse_args_section(doc).items():
            found.setdefault(name, text)
    return found


def parse_args_section(doc: str) -> dict[str, str]:
    """Google-style ``Args:``: ``name: text`` lines, continuation lines indented deeper."""
    lines, found, current, indent = doc.splitlines(), {}, None, None
    inside = False
    for line in lines:
        stripped = line.strip()
        if stripped == "Args:":
            inside, current, indent = True, None, None
            continue
        if not inside:
            continue
        if not stripped:
            current = None
            continue
        depth = len(line) - len(line.lstrip())
        if indent is None:
            indent = depth
        if depth < indent or (depth == indent and re.match(r"^[A-Z][A-Za-z ]*:$", stripped)):
            inside = False
            continue
        match = re.match(r"^(\w+)(?:\s*\([^)]*\))?:\s*(.*)$", stripped)
        if depth == indent and match:
            current = match.group(1)
            found[current] = match.group(2)
        elif current is not None:
            found[current] += " " + stripped
    return {name: " ".join(text.split()) for name, text in found.items()}


def check_options(owner: str, given, valid) -> None:
    """Refuse an option name in `given` that is not in `valid`: one AdvlabError that names the valid ones."""
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise AdvlabError(f"{owner}: unknown option {', '.join(map(repr, unknown))}; valid options are: "
                          f"{', '.join(sorted(valid))}")


def class_parameters(cls: type) -> list[Parameter]:
    """The parameters of ``cls.__init__`` after ``self``, in order (``model`` included)."""
    return signature_parameters(cls.__init__, docstring_args(cls))[1:]


def taken_options(cls: type, options: dict[str, Any]) -> dict[str, Any]:
    """The entries of `options` that ``cls.__init__`` takes by name (an attack built with the settings it has)."""
    names = inspect.signature(cls.__init__).parameters
    return {name: value for name, value in options.items() if name in names}


def required_parameters(cls: type, given: tuple[str, ...] = ("model",)) -> list[str]:
    """The parameters of ``cls.__init__`` without a default, but those in `given` (what a caller must supply)."""
    return [parameter.name for parameter in class_parameters(cls) if parameter.required and parameter.name not in given]


def function_parameters(function) -> list[Parameter]:
    """The parameters of a function (a detector: ``(model, images, labels, **options)``), in order, with the
    help of its docstring's ``Args:`` section."""
    return signature_parameters(function, parse_args_section(inspect.cleandoc(function.__doc__ or "")))


def signature_parameters(function, docs: dict[str, str]) -> list[Parameter]:
    """`function`'s named parameters (not *args/**kwargs), typed by its hints or else its defaults' types."""
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # an annotation that cannot be resolved: fall back to the defaults' types
        hints = {}
    parameters = []
    for name, parameter in inspect.signature(function).parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        annotation = hints.get(name)
        if annotation is None and parameter.default not in (inspect.Parameter.empty, None):
            annotation = type(parameter.default)
        parameters.append(Parameter(name, annotation, parameter.default, docs.get(name, "")))
    return parameters


__all__ = ["Parameter", "check_options", "class_parameters", "docstring_args", "function_parameters",
           "parse_args_section"]
