"""The representation a classifier gives an input: the activations of one layer, flattened to (N, features).

Backdoor detectors that look inside a model (spectral signatures, Tran, Li & Madry 2018; activation clustering,
Chen et al. 2018) and poisons that aim at it (feature collision, Shafahi et al. 2018) read "the learned
representation": the activations of the last hidden layer, the input of the layer that produces the logits. The
logits themselves are never the default (IBM ART's PyTorch activation and spectral defenses read the last
top-level module, which is usually the logits: ART issue #1810).

A layer is chosen by its name in ``model.named_modules()`` (its *output* is the representation), or by default
found by one probing forward pass: the last module with weights (a leaf: one without submodules) called during
``model(images)`` whose output has the logits' shape produces the logits (a trailing softmax or dropout is passed
over), and its *input* is the representation. That works for any ``nn.Module`` whose logits come out of a module
(a Linear, a 1x1 convolution, ...), however the forward pass is written, including functional activations between
layers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from advlab.core.batching import images_per_pass
from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating

NAMES_SHOWN = 8  # how many valid layer names an error about a wrong one lists


@dataclass(frozen=True)
class Layer:
    """Where a representation is read: the module named `name`, its `side` "input" or "output"."""

    name: str
    module: nn.Module
    side: str

    def describe(self) -> str:
        """E.g. "the input of head.3" or "the output of features.7"."""
        return f"the {self.side} of {self.name}"


def leaf_names(model: nn.Module) -> list[str]:
    """Names of the modules of `model` that have no submodules, in registration order."""
    return [name for name, module in model.named_modules() if name and not any(True for _ in module.children())]


def named_layer(model: nn.Module, name: str) -> Layer:
    """The module called `name` in `model` (its output is read), or an AdvlabError listing valid names."""
    modules = dict(model.named_modules())
    if not isinstance(name, str) or not name or name not in modules:
        names = leaf_names(model) or [key for key in modules if key]
        shown = ", ".join(names[-NAMES_SHOWN:])
        more = f" (the last {NAMES_SHOWN} of {len(names)})" if len(names) > NAMES_SHOWN else ""
        raise AdvlabError(f"the model has no layer {name!r}; valid names include{more}: {shown}")
    return Layer(name, modules[name], "output")


@contextmanager
def recording_calls(model: nn.Module) -> Iterator[list[tuple[str, Tensor]]]:
    """Record (name, output) of every leaf module of `model` called in the block, in call order."""
    calls: list[tuple[str, Tensor]] = []
    handles = []
    for name, module in model.named_modules():
        if name and not any(True for _ in module.children()):
            def record(_module, _inputs, output, name=name):
                calls.append((name, output))
            handles.append(module.register_forward_hook(record))
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


def logits_layer(model: nn.Module, probe: Tensor) -> str:
    """Name of the module that produces the logits: the last leaf module with parameters called on `probe` (a few
    images) whose output has the logits' shape (so a trailing softmax, dropout or identity is passed over), else
    the last leaf module whose output has it. An AdvlabError if no module's output does."""
    with evaluating(model), torch.no_grad(), recording_calls(model) as calls:
        logits = model(probe)
    if not isinstance(logits, Tensor) or logits.dim() != 2:
        raise AdvlabError(f"the model must return logits (N, classes), got {type(logits).__name__} of shape "
                          f"{tuple(getattr(logits, 'shape', ()))}")
    modules = dict(model.named_modules())
    shaped = [name for name, output in calls if isinstance(output, Tensor) and output.shape == logits.shape]
    if not shaped:
        raise AdvlabError("cannot find the layer that produces the logits (no module's output has their shape): "
                          "name the representation layer explicitly")
    weighted = [name for name in shaped if any(True for _ in modules[name].parameters(recurse=False))]
    return (weighted or shaped)[-1]


def choose_layer(model: nn.Module, probe: Tensor, layer: str | None = None) -> Layer:
    """The layer to read: the module named `layer` (its output), or by default the input of the module that
    produces the logits (the penultimate representation), found by one forward pass on `probe` (N >= 1 images).
    """
    if layer is not None:
        return named_layer(model, layer)
    name = logits_layer(model, probe[:2])
    return Layer(name, dict(model.named_modules())[name], "input")


def representations(model: nn.Module, images: Tensor, layer: str | None = None, batch: int | None = None) -> Tensor:
    """The (N, features) flattened activations of `images` (N, C, H, W) at `layer`, in eval mode, without grad.

    Args:
        model: any classifier nn.Module (left as it was: its mode is restored, its weights untouched).
        images: (N, C, H, W) inputs on the model's device.
        layer: a module name from ``model.named_modules()`` whose output is read; default None: the input of
            the module that produces the logits (the penultimate representation, never the logits).
        batch: images per forward pass (default: advlab.core.batching.images_per_pass, cache-sized on a CPU).

    Returns:
        float tensor (N, features) on the images' device.
    """
    if batch is not None:
        check_int("batch", batch, 1)
    if not isinstance(images, Tensor) or images.dim() < 2 or len(images) == 0:
        shape = tuple(getattr(images, "shape", ()))
        raise AdvlabError(f"images must be a non-empty tensor (N, ...), got shape {shape}")
    chosen = choose_layer(model, images, layer)
    return read_layer(model, images, chosen, batch)


def read_layer(model: nn.Module, images: Tensor, layer: Layer, batch: int | None = None) -> Tensor:
    """The (N, features) activations of `images` at an already chosen `layer`, in eval mode, without grad
    (`batch` images per forward pass; default images_per_pass)."""
    batch = batch or images_per_pass(images)
    captured: list[Tensor] = []

    def capture(_module, inputs, output):
        value = inputs[0] if layer.side == "input" else output
        if not isinstance(value, Tensor):
            raise AdvlabError(f"{layer.describe()} is not a tensor ({type(value).__name__}); choose another layer")
        captured.append(value.detach().flatten(1))

    handle = layer.module.register_forward_hook(capture)
    chunks = []
    try:
        with evaluating(model), torch.no_grad():
            for first in range(0, len(images), batch):
                captured.clear()
                model(images[first:first + batch])
                if not captured:
                    raise AdvlabError(f"layer {layer.name} was not called in the model's forward pass")
                chunks.append(captured[-1])
    finally:
        handle.remove()
    return torch.cat(chunks)


__all__ = ["Layer", "choose_layer", "leaf_names", "logits_layer", "named_layer", "read_layer", "representations"]
