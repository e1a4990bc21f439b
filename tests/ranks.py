"""Run a function in N gloo processes, as torchrun would start them, for the distributed tests.

`run_ranks(function, world_size, *args)` starts `world_size` spawned processes with torchrun's environment
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT on a free port), calls `function(*args)` in each
(a module-level function, so that it pickles), and returns their results in rank order. A process that
raises makes run_ranks raise with its traceback; one that hangs past `timeout` is killed.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import socket
import traceback
from collections.abc import Callable
from typing import Any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _child(rank: int, world_size: int, port: int, function: Callable, args: tuple, results) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world_size),
                       "LOCAL_WORLD_SIZE": str(world_size), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                       "ADVLAB_DIST_TIMEOUT": os.environ.get("ADVLAB_DIST_TIMEOUT", "60")})
    import torch

    torch.set_num_threads(1)
    try:
        value = function(*args)
        results.put((rank, True, pickle.dumps(value)))  # plain pickle: tensors travel by value, not shared fds
    except BaseException:  # noqa: BLE001 -- reported to the parent
        results.put((rank, False, traceback.format_exc()))
    finally:
        from advlab.core.distributed import shutdown

        shutdown()


def run_ranks(function: Callable, world_size: int, *args: Any, timeout: float = 240.0) -> list[Any]:
    """`function(*args)` in `world_size` processes of one gloo group; their return values in rank order."""
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    port = free_port()
    processes = [spawn.Process(target=_child, args=(rank, world_size, port, function, args, results))
                 for rank in range(world_size)]
    for process in processes:
        process.start()
    collected: dict[int, Any] = {}
    failures = []
    try:
        for _ in range(world_size):
            rank, ok, value = results.get(timeout=timeout)
            (collected.__setitem__(rank, pickle.loads(value)) if ok else failures.append(f"rank {rank}:\n{value}"))
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    if failures:
        raise AssertionError("\n".join(failures))
    return [collected[rank] for rank in range(world_size)]
