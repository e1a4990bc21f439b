"""Evaluations cut into fixed chunks of images, each chunk computed on one rank, the results gathered in order.

stylegan2-ada-pytorch computes its metrics on shares of the images and gathers them; advlab cuts an evaluation's
images into chunks of a fixed size that :meth:`advlab.core.distributed.Distributed.map_chunks` deals round robin,
so a chunk is computed exactly as one process computes it and N processes give one process's numbers (exactly,
on the CPU). For that, nothing random in a chunk may depend on the chunks computed before it on the same rank:

* a chunk's own seed (an attack's generator) is :func:`chunk_seed`: the evaluation's seed itself for chunk 0, a
  hash of (seed, chunk) for the others;
* torch's, NumPy's and Python's global generators (a randomised model's noise) start chunk 0 where they stood
  before the chunks, and every other chunk at ``seed_everything(chunk_seed(seed, chunk))``; after the gather
  every rank goes on from where the last chunk left them.

An evaluation in one chunk (every command's default) is thereby the computation it was before chunking, bit for
bit.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch

from advlab.core.distributed import Distributed
from advlab.core.seeding import seed_everything

T = TypeVar("T")


def chunk_seed(seed: int, index: int) -> int:
    """The seed of chunk `index` of an evaluation seeded with `seed`: `seed` for chunk 0, else a hash of both."""
    if index == 0:
        return seed
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0] >> 1)


def chunk_count(n: int, size: int) -> int:
    """How many chunks of `size` rows n rows make (the last may be short)."""
    return -(-n // size)


def random_state(device: torch.device) -> dict[str, Any]:
    """The global generators' states: torch's (and `device`'s CUDA generator), NumPy's, Python's."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_random_state(state: dict[str, Any], device: torch.device) -> None:
    """Put the global generators back to `state` (from :func:`random_state`)."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def map_seeded_chunks(ctx: Distributed, compute: Callable[[slice, int], T], n: int, size: int, seed: int,
                      device: torch.device) -> list[T]:
    """`compute(rows, chunk index)` for every chunk of n rows in chunks of `size`, every result on every rank in
    chunk order, each chunk's global randomness as the module docstring says."""
    start = random_state(device)

    def run(rows: slice) -> tuple[T, dict | None]:
        index = rows.start // size
        if index == 0:
            set_random_state(start, device)
        else:
            seed_everything(chunk_seed(seed, index))
        value = compute(rows, index)
        return value, random_state(device) if rows.stop >= n else None

    results = ctx.map_chunks(run, n, size)
    if results:
        set_random_state(results[-1][1], device)
    return [value for value, _ in results]


def note_idle_ranks(ctx: Distributed, n: int, size: int, flag: str) -> None:
    """On rank 0, say on stderr when some ranks get no chunk (fewer chunks than processes)."""
    chunks = chunk_count(n, size)
    if ctx.is_main and ctx.active and chunks < ctx.world_size:
        better = max(1, chunk_count(n, ctx.world_size))
        print(f"advlab: note: {n} images make {chunks} chunk(s) of {size} for {ctx.world_size} processes, so "
              f"{ctx.world_size - chunks} of them have nothing to do; pass {flag} {better} to share the work "
              "(the figures then depend on the chunk size, not on the number of processes)", file=sys.stderr)


__all__ = ["chunk_count", "chunk_seed", "map_seeded_chunks", "note_idle_ranks", "random_state", "set_random_state"]
