"""Checkpoints: safetensors plus a small JSON record, written atomically.

A checkpoint at step S is two files in one directory:

* ``step-S.safetensors`` — every tensor (weights, optimiser moments, RNG states);
* ``step-S.json`` — the rest (step, optimiser hyper-parameters, the SHA-256 of the tensors).

Each file is written to a temporary name, fsync'ed and renamed into place; the JSON goes last
and names the hash of the tensors, so a checkpoint exists only once both are complete. A
process killed at any point leaves the previous checkpoint loadable, and older checkpoints
are pruned only after a newer one is complete. Files are parsed with safetensors and json
alone: nothing here unpickles, and ``.pt`` files are never read.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as safetensors_from_bytes
from safetensors.torch import save as safetensors_to_bytes

from advlab.core.errors import AdvlabError

FORMAT = "advlab-checkpoint/1"
NAME = re.compile(r"^step-(\d+)\.json$")
MAX_HEADER_BYTES = 100_000_000  # the safetensors format's own cap on its JSON header


@dataclass
class Checkpoint:
    """A loaded checkpoint: its tensors and its JSON record."""

    step: int
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]
    path: Path


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file, fsync and rename."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_directory(path.parent)


def atomic_write_npy(path: str | Path, array: np.ndarray) -> None:
    """Write `array` as a .npy file (no pickles) atomically, as atomic_write_bytes does."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def fsync_directory(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(directory: str | Path, step: int, tensors: dict[str, torch.Tensor],
                    meta: dict[str, Any], keep: int = 3) -> Path:
    """Write checkpoint `step` atomically, then prune all but the newest `keep`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    payload = safetensors_to_bytes(cpu)
    stem = f"step-{step:06d}"
    atomic_write_bytes(directory / f"{stem}.safetensors", payload)
    record = {"format": FORMAT, "step": step, "tensors": f"{stem}.safetensors",
              "sha256": hashlib.sha256(payload).hexdigest(), **meta}
    atomic_write_bytes(directory / f"{stem}.json", json.dumps(record, indent=1).encode())
    prune(directory, keep)
    return directory / f"{stem}.json"


def list_checkpoints(directory: str | Path) -> list[tuple[int, Path]]:
    """(step, record path) of every checkpoint record in `directory`, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := NAME.match(p.name))]
    return sorted(found)


def prune(directory: Path, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints, and stale temporary files."""
    for _, record in list_checkpoints(directory)[:-keep] if keep > 0 else []:
        record.with_suffix(".safetensors").unlink(missing_ok=True)
        record.unlink(missing_ok=True)
    for stale in directory.glob("*.tmp"):
        stale.unlink(missing_ok=True)


def read_checkpoint(record_path: str | Path) -> Checkpoint:
    """Load one checkpoint from its JSON record, verifying the tensors' hash."""
    record_path = Path(record_path)
    try:
        meta = json.loads(record_path.read_text())
    except (OSError, ValueError) as error:
        raise AdvlabError(f"checkpoint record {record_path} is unreadable: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise AdvlabError(f"{record_path} is not an advlab checkpoint record")
    tensor_path = record_path.with_name(str(meta.get("tensors")))
    try:
        payload = tensor_path.read_bytes()
    except OSError:
        raise AdvlabError(f"checkpoint {record_path.name} names {tensor_path.name}, which is missing") from None
    if hashlib.sha256(payload).hexdigest() != meta.get("sha256"):
        raise AdvlabError(f"checkpoint {tensor_path} does not match its record: the file is corrupt or was replaced")
    return Checkpoint(int(meta["step"]), parse_safetensors(payload, tensor_path), meta, record_path)


def parse_safetensors(payload: bytes, path: Path) -> dict[str, torch.Tensor]:
    """Parse safetensors bytes; anything else is an AdvlabError (never unpickled)."""
    try:
        return safetensors_from_bytes(payload)
    except Exception:  # safetensors raises its own error types for malformed headers
        raise AdvlabError(f"{path} is not a safetensors file") from None


def safetensors_metadata(payload: bytes, name: str) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors header (8-byte little-endian length, then JSON)."""
    try:
        (length,) = struct.unpack("<Q", payload[:8])
        header = json.loads(payload[8:8 + length])
        metadata = header.get("__metadata__", {})
    except (struct.error, ValueError, AttributeError):
        raise AdvlabError(f"{name} is not a safetensors file") from None
    if not isinstance(metadata, dict):
        raise AdvlabError(f"{name} has no readable description")
    return metadata


def read_safetensors_metadata(path: Path) -> dict[str, str]:
    """The ``__metadata__`` of the safetensors file at `path`, reading only its header (the 8-byte length and
    at most MAX_HEADER_BYTES of JSON, the format's own cap); anything else is an AdvlabError."""
    try:
        with path.open("rb") as file:
            prefix = file.read(8)
            length = struct.unpack("<Q", prefix)[0] if len(prefix) == 8 else 0
            if length > MAX_HEADER_BYTES:
                raise AdvlabError(f"{path} is not a safetensors file")
            header = prefix + file.read(length)
    except OSError as error:
        raise AdvlabError(f"cannot read {path}: {error.strerror or error}") from None
    return safetensors_metadata(header, str(path))


def read_bytes(path: Path) -> bytes:
    """The bytes of a file a user hands in; an unreadable one is an AdvlabError."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise AdvlabError(f"cannot read {path}: {error.strerror or error}") from None


def read_described(path: str | Path, expected: str, owner: str, kind: str, what: str) -> tuple[bytes, dict[str, str]]:
    """(bytes, ``__metadata__``) of a safetensors file a user hands in whose ``format`` must be `expected`: a
    missing file is "OWNER: KIND file PATH not found", another format "OWNER: PATH is not WHAT (format ...)"."""
    path = Path(path)
    if not path.is_file():
        raise AdvlabError(f"{owner}: {kind} file {path} not found")
    payload = read_bytes(path)
    metadata = safetensors_metadata(payload, str(path))
    if metadata.get("format") != expected:
        raise AdvlabError(f"{owner}: {path} is not {what} (format {metadata.get('format')!r}, expected "
                          f"{expected!r})")
    return payload, metadata


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a bare safetensors file that a user hands in (no record, no hash)."""
    path = Path(path)
    return parse_safetensors(read_bytes(path), path)


def load_latest(directory: str | Path, warn=None) -> Checkpoint:
    """The newest checkpoint in `directory` that loads; older ones are tried in turn.

    When an older one is used, `warn(message)` is told about each newer one skipped as
    corrupt. With none loadable, one AdvlabError says why.
    """
    found = list_checkpoints(directory)
    if not found:
        raise AdvlabError(f"no checkpoint in {directory}")
    problems = []
    for _, record in reversed(found):
        try:
            checkpoint = read_checkpoint(record)
        except AdvlabError as error:
            problems.append(f"skipping {record.name}: {error}")
            continue
        for problem in problems if warn is not None else []:
            warn(problem)
        return checkpoint
    raise AdvlabError(f"no loadable checkpoint in {directory}: {problems[0].split(': ', 1)[1]}")


def optimizer_state(optimizer: torch.optim.Optimizer, prefix: str) -> tuple[dict, dict]:
    """Split an optimiser's state_dict into tensors (for safetensors) and JSON."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, slots in state["state"].items():
        for key, value in slots.items():
            name = f"{prefix}.{index}.{key}"
            if isinstance(value, torch.Tensor):
                tensors[name] = value
            else:
                scalars[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def restore_optimizer(optimizer: torch.optim.Optimizer, prefix: str, tensors: dict, meta: dict) -> None:
    """Inverse of `optimizer_state`."""
    state: dict[int, dict[str, Any]] = {}
    entries = [(k, v) for k, v in tensors.items() if k.startswith(prefix + ".")]
    entries += list(meta["scalars"].items())
    for name, value in entries:
        index, key = name[len(prefix) + 1:].split(".", 1)
        state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def module_state(module: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """A module's state_dict with every key prefixed."""
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def restore_module(module: torch.nn.Module, prefix: str, tensors: dict[str, torch.Tensor]) -> None:
    """Load the `prefix.`-keys of `tensors` into `module`; a mismatch is an AdvlabError."""
    wanted = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    try:
        module.load_state_dict(wanted)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0]
        raise AdvlabError(f"checkpoint does not fit the {prefix} model: {detail}") from None
