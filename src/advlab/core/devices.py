"""Device choice: `auto` picks CUDA when present; nothing assumes CPU or GPU (DESIGN.md)."""

from __future__ import annotations

import torch

from advlab.core.errors import AdvlabError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """Map `auto|cpu|cuda[:N]` to a torch.device, refusing CUDA where there is none."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise AdvlabError(f"device {name!r} was asked for, but torch sees no CUDA device here")
        return torch.device(name)
    raise AdvlabError(f"unknown device {name!r}; valid devices are: auto, cpu, cuda, cuda:N")


def module_device(module: torch.nn.Module, fallback: torch.device | None = None) -> torch.device:
    """Where a module lives: the device of its first parameter or buffer; `fallback` (else the CPU) for a module
    without either."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return fallback if fallback is not None else torch.device("cpu")
