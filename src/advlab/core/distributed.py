"""The distributed context: rank, world size and device of this process, and the few collectives advlab uses.

One process per device, launched by ``torchrun`` (or anything that sets the same environment: RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). This module is the only one that reads that
environment; trainers and evaluations ask :func:`context` and nothing else. Without it there is one
process, rank 0 of a world of 1, every collective is the identity and nothing is initialised, so a run
without torchrun is bit for bit what it was before.

The conventions, as stylegan2-ada-pytorch and PyTorch-StudioGAN keep them:

* every rank holds the same model, seeded the same; the gradients of a step are averaged across ranks
  (:meth:`Distributed.average_gradients`: one flat all-reduce per player, as stylegan3's training loop does,
  rather than the DDP wrapper, whose reducer cannot follow a player frozen for the other's step nor
  WGAN-GP's double backward), so the parameters stay identical on every rank, and
  :meth:`Distributed.check_consistency` proves it before a checkpoint;
* work that is divided (a minibatch, the images of an evaluation) is divided by the same rule on every
  rank: :meth:`Distributed.shard` (a contiguous share of a minibatch) and :meth:`Distributed.chunks` (whole
  fixed-size chunks dealt round robin, so a chunk is computed exactly as one process computes it);
* rank 0 alone writes files (:attr:`Distributed.is_main`) and shows progress.

The backend is gloo on the CPU and NCCL on CUDA; on CUDA, rank r uses ``cuda:LOCAL_RANK``.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError

DEFAULT_TIMEOUT_S = 1800.0  # a collective waits this long (a rank evaluating a large chunk, or dead) before it fails
T = TypeVar("T")


@dataclass(frozen=True)
class Distributed:
    """Where this process stands in the job: ``rank`` of ``world_size`` processes, ``local_rank`` on its machine.

    A world of 1 (the default) makes every method the identity.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """True on rank 0, the one process that writes files, logs and shows progress."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """True when there is more than one process."""
        return self.world_size > 1

    def device(self, name: str) -> torch.device:
        """The device of this rank for a ``--device`` name: ``cuda`` becomes ``cuda:LOCAL_RANK`` under torchrun."""
        device = resolve_device(name)
        if self.active and device.type == "cuda":
            if device.index is not None:  # "cuda:N"; "cuda" and "auto" name no index
                raise AdvlabError(f"--device {name} names one GPU, but under torchrun each rank takes its own "
                                  "(cuda:LOCAL_RANK); pass --device cuda")
            if self.local_rank >= torch.cuda.device_count():
                raise AdvlabError(f"rank {self.rank} wants cuda:{self.local_rank}, but this machine has "
                                  f"{torch.cuda.device_count()} GPU(s); use --nproc-per-node "
                                  f"{torch.cuda.device_count()} or fewer")
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        if self.active and device.type != self.backend_device_type:
            raise AdvlabError(f"the process group was started for {self.backend_device_type} ({self.backend}), "
                              f"but --device {name} is {device.type}")
        return device

    @property
    def backend_device_type(self) -> str:
        return "cuda" if self.backend == "nccl" else "cpu"

    # ------------------------------------------------------------------ collectives

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def all_gather_objects(self, value: T) -> list[T]:
        """Every rank's `value`, in rank order (pickled between advlab's own processes, never a user's file)."""
        if not self.active:
            return [value]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def broadcast_object(self, value: T, source: int = 0) -> T:
        """Rank `source`'s `value`, on every rank."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=source)
        return box[0]

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum over ranks of `tensor` (in place; returned)."""
        if self.active:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def all_true(self, flag: bool, device: torch.device | None = None) -> bool:
        """True when `flag` holds on every rank (one all-reduce), so that all ranks take the same branch."""
        if not self.active:
            return bool(flag)
        value = torch.tensor([0.0 if flag else 1.0], device=device or self.collective_device)
        return float(self.all_reduce_sum(value)) == 0.0

    @property
    def collective_device(self) -> torch.device:
        return torch.device("cuda", torch.cuda.current_device()) if self.backend == "nccl" else torch.device("cpu")

    def average_gradients(self, parameters: Sequence[nn.Parameter] | nn.Module) -> None:
        """Replace every gradient by its mean over ranks: one flat all-reduce (DDP's arithmetic: sum / world).

        Parameters without a gradient are skipped; every rank must have gradients for the same parameters.
        """
        if not self.active:
            return
        if isinstance(parameters, nn.Module):
            parameters = list(parameters.parameters())
        grads = [p.grad for p in parameters if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        self.all_reduce_sum(flat)
        flat.div_(self.world_size)
        _unflatten_into(flat, grads)

    def broadcast_buffers(self, *modules: nn.Module, source: int = 0) -> None:
        """Rank `source`'s buffers of `modules` (batch-norm running statistics and counters) on every rank, as the
        DDP wrapper broadcasts them, in one broadcast per dtype."""
        if not self.active:
            return
        by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
        for module in modules:
            for buffer in module.buffers():
                by_dtype.setdefault(buffer.dtype, []).append(buffer)
        for buffers in by_dtype.values():
            flat = torch.cat([buffer.detach().reshape(-1) for buffer in buffers])
            dist.broadcast(flat, src=source)
            _unflatten_into(flat, buffers)

    def check_consistency(self, module: nn.Module, name: str) -> None:
        """Refuse to go on when `module`'s parameters or buffers differ between ranks (stylegan2-ada's
        check_ddp_consistency, run before every checkpoint): an AdvlabError naming the first tensor that differs.
        One broadcast of rank 0's tensors (as float64) and one all-reduce of the verdict."""
        if not self.active:
            return
        named = [(key, tensor.detach()) for key, tensor in [*module.named_parameters(), *module.named_buffers()]]
        if not named:
            return
        local = torch.cat([tensor.to(torch.float64).reshape(-1) for _, tensor in named])
        reference = local.clone()
        dist.broadcast(reference, src=0)
        first_differing, offset = -1, 0
        for index, (_, tensor) in enumerate(named):
            if not torch.equal(local[offset:offset + tensor.numel()], reference[offset:offset + tensor.numel()]):
                first_differing = index
                break
            offset += tensor.numel()
        verdict = torch.tensor([first_differing if first_differing >= 0 else len(named)], dtype=torch.float64,
                               device=local.device)
        dist.all_reduce(verdict, op=dist.ReduceOp.MIN)
        if int(verdict) < len(named):
            raise AdvlabError(f"{name}.{named[int(verdict)][0]} differs between ranks; the processes are no longer "
                              "in step (a rank-dependent computation?): stopping before the checkpoint")

    def on_main(self, action: Callable[[], None]) -> None:
        """`action()` on rank 0 alone (creating a run directory, say); an AdvlabError it raises is raised on every
        rank, so that no rank waits for a rank 0 that refused."""
        refusal = None
        if self.is_main:
            try:
                action()
            except AdvlabError as error:
                if not self.active:
                    raise
                refusal = str(error)
        refusal = self.broadcast_object(refusal)
        if refusal is not None:
            raise AdvlabError(refusal)

    # ------------------------------------------------------------------ dividing work

    def check_divisible(self, batch: int, what: str = "batch size", unit: int = 1) -> None:
        """Refuse a `batch` that this world cannot split into equal shares of whole `unit`s (PacGAN's packs)."""
        if not self.active:
            return
        share = self.world_size * unit
        if batch % share:
            lower, higher = (batch // share) * share, (batch // share + 1) * share
            suggestion = f"{lower} or {higher}" if lower else f"{higher}"
            whole = "" if unit == 1 else f" of whole packs of {unit}"
            raise AdvlabError(f"the {what} {batch} cannot be split into {self.world_size} equal shares{whole}; "
                              f"use {suggestion}")

    def shard(self, n: int) -> slice:
        """This rank's contiguous share of n rows (the shares differ by at most one row)."""
        base, extra = divmod(n, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (1 if self.rank < extra else 0))

    def chunks(self, n: int, size: int) -> list[slice]:
        """This rank's chunks of n rows cut into chunks of `size` rows (the last may be short), dealt round robin:
        chunk c goes to rank c mod world size."""
        if size < 1:
            raise AdvlabError(f"chunk size must be at least 1, got {size}")
        starts = range(self.rank * size, n, self.world_size * size)
        return [slice(start, min(start + size, n)) for start in starts]

    def map_chunks(self, compute: Callable[[slice], T], n: int, size: int) -> list[T]:
        """`compute(chunk)` for every chunk of n rows in chunks of `size`, each chunk computed on one rank, and every
        result on every rank in chunk order: what one process computing the chunks in turn returns."""
        mine = [compute(chunk) for chunk in self.chunks(n, size)]
        if not self.active:
            return mine
        everyone = self.all_gather_objects(mine)
        ordered = []
        for index in range(len(range(0, n, size))):
            ordered.append(everyone[index % self.world_size][index // self.world_size])
        return ordered

    def gather_rows(self, compute: Callable[[slice], torch.Tensor], n: int, size: int) -> torch.Tensor:
        """`compute(chunk)` -> a tensor with one row per row of the chunk, for all n rows, concatenated in order on
        every rank (moved to the CPU to travel)."""
        parts = self.map_chunks(lambda chunk: compute(chunk).cpu(), n, size)
        return torch.cat(parts) if parts else torch.empty(0)


def _unflatten_into(flat: torch.Tensor, tensors: list[torch.Tensor]) -> None:
    """Copy consecutive pieces of `flat` into `tensors`, in order."""
    offset = 0
    for tensor in tensors:
        tensor.data.copy_(flat[offset:offset + tensor.numel()].view_as(tensor))
        offset += tensor.numel()


_CONTEXT: Distributed | None = None


def context(device: str | None = None) -> Distributed:
    """This process's distributed context, set up once from torchrun's environment (a world of 1 without it).

    The first call of a command passes its ``--device`` name, which picks the backend: NCCL for CUDA (``auto``
    on a machine with CUDA), gloo for the CPU.
    """
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = _from_environment(device)
    return _CONTEXT


def launched_by_torchrun() -> bool:
    """True in a process that torchrun started as one of several (its environment names a world of more than 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def current() -> Distributed:
    """The context set up so far, without setting one up (a world of 1 before the first :func:`context` call)."""
    return _CONTEXT or Distributed()


def _from_environment(device: str | None) -> Distributed:
    if not launched_by_torchrun():
        return Distributed()
    world_size = int(os.environ["WORLD_SIZE"])
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    wants_cuda = (device or "auto") != "cpu" and torch.cuda.is_available()
    backend = "nccl" if wants_cuda else "gloo"
    timeout = float(os.environ.get("ADVLAB_DIST_TIMEOUT", DEFAULT_TIMEOUT_S))
    if not dist.is_initialized():
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))
    return Distributed(rank=rank, world_size=world_size, local_rank=local_rank, backend=backend)


def shutdown() -> None:
    """Leave the process group (at the end of a command) and forget the context."""
    global _CONTEXT
    if dist.is_initialized():
        try:
            dist.barrier()  # no rank tears the group down under another still using it
        except (RuntimeError, dist.DistError):
            pass  # a rank died: leave what is left
        dist.destroy_process_group()
    _CONTEXT = None
