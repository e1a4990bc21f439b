"""The distributed context (advlab.core.distributed): a world of 1 is the identity; 2 gloo processes agree."""

from __future__ import annotations

import pytest
import torch
from ranks import run_ranks
from torch import nn

from advlab.core.distributed import Distributed, context
from advlab.core.errors import AdvlabError


def test_single_process_is_the_identity():
    single = context("cpu")
    assert (single.rank, single.world_size, single.is_main, single.active) == (0, 1, True, False)
    assert single.all_gather_objects(3) == [3]
    assert single.all_true(False) is False
    model = nn.Linear(2, 1)
    model(torch.ones(1, 2)).sum().backward()
    before = model.weight.grad.clone()
    single.average_gradients(model)
    assert torch.equal(model.weight.grad, before)


def test_shards_and_chunks_cover_every_row_once():
    for world in (1, 2, 3, 4):
        ranks = [Distributed(rank=r, world_size=world) for r in range(world)]
        for n in (0, 1, 7, 12):
            shard_rows = [i for ctx in ranks for i in range(n)[ctx.shard(n)]]
            assert shard_rows == list(range(n))
            chunk_rows = sorted(i for ctx in ranks for c in ctx.chunks(n, 3) for i in range(n)[c])
            assert chunk_rows == list(range(n))
    assert Distributed(rank=1, world_size=2).chunks(10, 3) == [slice(3, 6), slice(9, 10)]


def test_indivisible_batch_names_what_to_use():
    with pytest.raises(AdvlabError, match="use 62 or 64"):
        Distributed(rank=0, world_size=2).check_divisible(63)
    with pytest.raises(AdvlabError, match="whole packs of 4; use 56 or 64"):
        Distributed(rank=0, world_size=2).check_divisible(60, unit=4)
    Distributed(rank=0, world_size=2).check_divisible(64, unit=4)


def collectives() -> dict:
    ctx = context("cpu")
    model = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    (model(torch.full((1, 3), float(ctx.rank + 1)))).sum().backward()  # gradient (r + 1) * ones
    ctx.average_gradients(model)
    norm = nn.BatchNorm1d(2)
    with torch.no_grad():
        norm.running_mean.fill_(float(ctx.rank + 3))
        norm.num_batches_tracked.fill_(ctx.rank + 7)
    ctx.broadcast_buffers(norm, nn.Linear(1, 1))
    rows = ctx.gather_rows(lambda chunk: torch.arange(chunk.start, chunk.stop) * 10, 7, 2)
    consistent = True
    ctx.check_consistency(model, "model")
    with torch.no_grad():
        model.weight[0, 0] += ctx.rank
    try:
        ctx.check_consistency(model, "model")
    except AdvlabError as error:
        consistent = str(error)
    return {"rank": ctx.rank, "grad": model.weight.grad.tolist(), "rows": rows.tolist(),
            "objects": ctx.all_gather_objects(ctx.rank * 2), "all_true": ctx.all_true(ctx.rank == 0),
            "consistent": consistent, "main": ctx.is_main,
            "buffers": (norm.running_mean.tolist(), int(norm.num_batches_tracked))}


def test_two_gloo_processes_average_gather_and_check():
    first, second = run_ranks(collectives, 2)
    assert first["grad"] == second["grad"] == [[1.5, 1.5, 1.5]]  # the mean of 1 and 2
    assert first["rows"] == second["rows"] == [0, 10, 20, 30, 40, 50, 60]
    assert first["objects"] == [0, 2] and first["all_true"] is False and second["all_true"] is False
    assert first["consistent"] == second["consistent"]
    assert "model.weight differs between ranks" in first["consistent"]
    assert (first["main"], second["main"]) == (True, False)
    assert first["buffers"] == second["buffers"] == ([3.0, 3.0], 7)  # rank 0's running statistics everywhere
