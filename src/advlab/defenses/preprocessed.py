"""A classifier behind an input transformation, and the run directory that records one.

Input-transformation defenses (JPEG compression, bit-depth reduction, median smoothing: Xu, Evans &
Qi 2018; GAN projection: Samangouei et al. 2018) put a transform t in front of a classifier f and
predict f(t(x)). Many such t are non-differentiable or have gradients that vanish, so a naive
gradient attack fails against f(t(x)) without the model being any more robust -- Athalye, Carlini &
Wagner 2018, "Obfuscated gradients give a false sense of security", sec. 4.1. Their Backward Pass
Differentiable Approximation (BPDA, sec. 4.1) keeps the forward pass f(t(x)) and replaces t by the
identity on the backward pass, since t(x) ~ x:

    forward:  f(t(x))            backward:  d f(t(x)) / dx  ~  (d f / d t)(t(x))

`Preprocessed(classifier, transform)` is that model; ``.bpda()`` gives the same model with the
straight-through backward pass (``x + (t(x) - x).detach()``), which any gradient attack can use
unchanged. The identity is BPDA's special case; in general (sec. 4.1) the backward pass is that of a
differentiable g with g(x) ~ t(x): a transform that defines ``approximate(x)`` gets
``g(x) + (t(x) - g(x)).detach()`` -- forward t(x), backward grad g. A transform whose output has another
shape than its input (thermometer encoding: C * l channels) must define one. A transform that draws
random numbers at every call sets ``randomized = True``; the robustness report then averages gradients
over draws (EOT).

A transform whose classifier was trained on its output (thermometer encoding) makes a run whose checkpoint
describes that classifier: its record's ``sample_shape`` is the classifier's input shape (C * l, H, W),
and ``input_shape`` the images' (C, H, W) (``advlab.pipelines.security.thermometer_run``).

A defended run is a copy of a classifier run (config.yaml and checkpoints, so ``load_classifier``
and ``held_out_split`` work on it unchanged) plus ``defense.json``::

    {"kind": "preprocess", "transform": "bit-depth", "options": {"bits": 3}, "base": "/abs/path/of/classifier/run"}

`load_model(run)` gives the model a run stands for: the classifier, wrapped in its transform
when the run has a defense.json. ``TRANSFORMS`` names the transform classes by import path, so
this file does not import them; each takes its options as keyword arguments.
"""

from __future__ import annotations

import copy
import importlib
import json
from pathlib import Path

import torch
from torch import Tensor, nn

from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.errors import AdvlabError

DEFENSE_FILE = "defense.json"
TRANSFORMS = {
    "jpeg": "advlab.defenses.jpeg:JPEG",
    "bit-depth": "advlab.defenses.bit_depth:BitDepth",
    "median": "advlab.defenses.feature_squeezing:MedianSmoothing",
    "defense-gan": "advlab.defenses.defense_gan:DefenseGAN",
    "thermometer": "advlab.defenses.thermometer:ThermometerEncoding",
    "tv-min": "advlab.defenses.tv_minimisation:TotalVarianceMinimisation",
    "spatial-smoothing": "advlab.defenses.feature_squeezing:SpatialSmoothing",
    "pixel-defend": "advlab.defenses.pixel_defend:PixelDefend",
}


class Preprocessed(nn.Module):
    """images in [0, 1] -> classifier(transform(images)); ``bpda()`` for BPDA's gradient (the transform's
    ``approximate``, else the identity)."""

    def __init__(self, classifier: nn.Module, transform: nn.Module, straight_through: bool = False):
        super().__init__()
        self.classifier = classifier
        self.transform = transform
        self.straight_through = straight_through

    @property
    def randomized(self) -> bool:
        """True when the transform draws random numbers at each call (predictions may differ)."""
        return bool(getattr(self.transform, "randomized", False))

    def forward(self, images: Tensor) -> Tensor:
        transformed = self.transform(images)
        if self.straight_through:
            approximation = self.approximation(images)
            if approximation.shape != transformed.shape:
                raise AdvlabError(f"bpda: {type(self.transform).__name__} maps images of shape "
                                  f"{tuple(images.shape[1:])} to {tuple(transformed.shape[1:])} and defines no "
                                  "approximate(x) of that shape for the backward pass")
            transformed = approximation + (transformed - approximation).detach()
        return self.classifier(transformed)

    def approximation(self, images: Tensor) -> Tensor:
        """BPDA's differentiable g(x) ~ t(x): the transform's ``approximate(x)`` if it has one, else x."""
        approximate = getattr(self.transform, "approximate", None)
        return images if approximate is None else approximate(images)

    def bpda(self) -> Preprocessed:
        """The same modules with BPDA's backward pass through the transform (``approximation``)."""
        twin = copy.copy(self)
        twin.straight_through = True
        return twin


def transform_class(name: str) -> type[nn.Module]:
    """The transform registered as `name` in TRANSFORMS."""
    if name not in TRANSFORMS:
        raise AdvlabError(f"unknown input transformation {name!r}; valid ones are: {', '.join(TRANSFORMS)}")
    module, _, attribute = TRANSFORMS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def read_defense(run_dir: str | Path) -> dict | None:
    """The run's defense.json as a dict, or None for a plain classifier run."""
    path = Path(run_dir) / DEFENSE_FILE
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise AdvlabError(f"{path} is not readable JSON: {error}") from None
    if not isinstance(record, dict) or record.get("kind") != "preprocess" or "transform" not in record:
        raise AdvlabError(f"{path} is not an advlab defense record (kind 'preprocess' with a 'transform')")
    return record


def write_defense(run_dir: str | Path, transform: str, options: dict, base: str | Path) -> Path:
    """Write RUN/defense.json (atomically) for a run copied from the classifier run `base`."""
    transform_class(transform)  # refuse unknown names before writing
    record = {"kind": "preprocess", "transform": transform, "options": options, "base": str(Path(base).resolve())}
    path = Path(run_dir) / DEFENSE_FILE
    atomic_write_bytes(path, (json.dumps(record, indent=2) + "\n").encode())
    return path


def load_model(run_dir: str | Path, device: str | torch.device = "auto") -> nn.Module:
    """The model that a classifier run stands for: its classifier, behind its transform if it has one.

    Frozen and in eval mode, on `device`, like ``load_classifier``'s model.
    """
    from advlab.pipelines.train_classifier import load_classifier

    classifier, _ = load_classifier(run_dir, device, encoded=True)
    record = read_defense(run_dir)
    if record is None:
        return classifier
    transform = transform_class(record["transform"])(**record.get("options", {}))
    device = next(classifier.parameters()).device
    model = Preprocessed(classifier, transform).to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model
