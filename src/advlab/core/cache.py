"""advlab's cache of the networks it trains for itself (feature networks for the metrics, the photo feature network,
the text encoder, attribute classifiers) and of parsed data (the melody corpora).

``cache_dir()`` is ``$ADVLAB_CACHE``, else ``$XDG_CACHE_HOME/advlab``, else ``~/.cache/advlab``. A cached network is
named by its *recipe* (everything that determines its weights), hashed (SHA-256 of its canonical JSON) into the
file name ``features_dir()/<data>-<size>px-<hash12>.safetensors``, with a JSON record beside it: the recipe, the
held-out split and accuracy, and the SHA-256 of the weights. Both are written atomically, weights first; on load
the hash is checked, and a missing, corrupt or mismatched file is retrained (with a warning on stderr when a file
was there), never silently used. Safetensors only: nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as safetensors_to_bytes
from torch import Tensor, nn

from advlab.core.checkpoints import atomic_write_bytes, parse_safetensors
from advlab.core.errors import AdvlabError

FORMAT = "advlab-feature-net/1"


def cache_dir() -> Path:
    """advlab's cache: ``$ADVLAB_CACHE`` if set, else ``$XDG_CACHE_HOME/advlab``, else ``~/.cache/advlab``."""
    if os.environ.get("ADVLAB_CACHE"):
        return Path(os.environ["ADVLAB_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "advlab"


def features_dir() -> Path:
    """Where feature networks are cached: ``cache_dir() / "features"``."""
    return cache_dir() / "features"


@dataclass(frozen=True)
class Recipe:
    """Everything that determines a feature network's weights; its hash names the cached file."""

    data: str
    image_size: int
    seed: int
    epochs: int
    max_shift: int
    batch_size: int
    peak_lr: float
    held_out_fraction: float
    architecture: str

    def digest(self) -> str:
        """SHA-256 of the recipe's canonical JSON (sorted keys, no spaces)."""
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def stem(self) -> str:
        return f"{self.data}-{self.image_size}px-{self.digest()[:12]}"


@dataclass(frozen=True)
class CachedNet:
    """A cached feature network: its files and what its record says.

    Attributes:
        weights: the ``.safetensors`` file.
        record: the JSON record beside it.
        recipe: the recipe it was trained with.
        held_out_accuracy: accuracy on the held-out 20% of the data (see :func:`split_rows`).
        train_seconds: how long training took.
        trained: True when this call trained it, False when it came from the cache.
    """

    weights: Path
    record: Path
    recipe: Recipe
    held_out_accuracy: float
    train_seconds: float
    trained: bool


def warn(message: str) -> None:
    print(f"advlab: warning: {message}", file=sys.stderr)


def read_cached(recipe: Recipe) -> tuple[CachedNet, dict[str, Tensor]] | None:
    """The cached network of `recipe` and its tensors; None (with a warning if a file was there) otherwise."""
    record_path = features_dir() / f"{recipe.stem}.json"
    weights_path = record_path.with_suffix(".safetensors")
    if not record_path.exists():
        if weights_path.exists():
            warn(f"{weights_path} has no record beside it; retraining the feature network")
        return None
    try:
        record, tensors = verified_files(record_path, weights_path, recipe)
    except AdvlabError as error:
        warn(f"{error}; retraining the feature network")
        return None
    cached = CachedNet(weights_path, record_path, recipe, float(record["held_out_accuracy"]),
                       float(record.get("train_seconds", math.nan)), trained=False)
    return cached, tensors


def verified_files(record_path: Path, weights_path: Path, recipe: Recipe) -> tuple[dict, dict[str, Tensor]]:
    """The record and tensors of a cached network; AdvlabError if unreadable, corrupt or of another recipe."""
    try:
        record = json.loads(record_path.read_text())
        payload = weights_path.read_bytes()
    except (OSError, ValueError) as error:
        raise AdvlabError(f"cached feature network {record_path.stem} is unreadable ({error})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT or record.get("recipe") != asdict(recipe) \
            or not isinstance(record.get("held_out_accuracy"), float):
        raise AdvlabError(f"{record_path} is not the record of this recipe")
    if hashlib.sha256(payload).hexdigest() != record.get("sha256"):
        raise AdvlabError(f"cached feature network {weights_path} does not match the hash in its record "
                          "(corrupt or replaced)")
    return record, parse_safetensors(payload, weights_path)


def write_cached(recipe: Recipe, model: nn.Module, accuracy: float, held_out: int, seconds: float, split: str,
                 extra: dict[str, Any] | None = None) -> CachedNet:
    """Write the weights, then the record naming their hash, each atomically. `split` words how the held-out
    images were drawn; `extra` adds keys to the record (a network's calibration)."""
    directory = features_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        payload = _safetensors_bytes(model)
        weights_path = directory / f"{recipe.stem}.safetensors"
        record_path = weights_path.with_suffix(".json")
        atomic_write_bytes(weights_path, payload)
        record = {"format": FORMAT, "recipe": asdict(recipe), "recipe_sha256": recipe.digest(),
                  "split": split,
                  "weights": weights_path.name, "sha256": hashlib.sha256(payload).hexdigest(),
                  "held_out_accuracy": accuracy, "held_out_images": held_out, "train_seconds": round(seconds, 3),
                  **(extra or {}), "torch": torch.__version__,
                  "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write_bytes(record_path, json.dumps(record, indent=1).encode())
    except OSError as error:
        raise AdvlabError(f"cannot write the feature network cache {directory}: {error.strerror or error}; "
                          "set ADVLAB_CACHE to a writable directory") from None
    return CachedNet(weights_path, record_path, recipe, accuracy, round(seconds, 3), trained=True)


def _safetensors_bytes(model: nn.Module) -> bytes:
    return safetensors_to_bytes({name: t.detach().to("cpu").contiguous() for name, t in model.state_dict().items()})


def list_cached() -> list[dict[str, Any]]:
    """The records in ``features_dir()``, each with ``"file"`` (its stem) and ``"status"`` (ok or the problem)."""
    directory = features_dir()
    found = []
    for record_path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        record: Any = {}
        try:
            record = json.loads(record_path.read_text())
            verified_files(record_path, record_path.with_suffix(".safetensors"), Recipe(**record["recipe"]))
            status = "ok"
        except (AdvlabError, OSError, ValueError, TypeError, KeyError) as error:
            status = f"unusable: {error}"
        found.append({**(record if isinstance(record, dict) else {}), "file": record_path.stem, "status": status})
    return found


__all__ = ["CachedNet", "Recipe", "cache_dir", "features_dir", "list_cached", "read_cached", "verified_files",
           "write_cached"]
