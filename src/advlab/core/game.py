"""What every trained game shares: players, their optimisers, one update, its statistics and its state.

pix2pix, CycleGAN, SRResNet and SRGAN (advlab.translation), AdvGAN (advlab.attacks.advgan), MidiNet (advlab.music),
GAN-INT-CLS (advlab.text2image) and a speech model's training (advlab.audio.training) are each a subclass that
defines `train_iteration` (one iteration on this rank's share of one minibatch: the tensors its data set's
`sample` returns, e.g. inputs and targets) and, for the image-to-image games, `translate` (inference). The base
class owns the plumbing that the GAN trainer (advlab.gan.trainer) has too, so that one training loop
(advlab.pipelines.game_loop) drives any of them alike:

* `update(loss, name)`: one optimiser step of one player — backward (loss-scaled under fp16,
  advlab.core.precision), the gradients averaged across torchrun ranks (advlab.core.distributed), optionally their
  global norm clipped, then the step.
  Under torchrun each rank holds a contiguous share of the global minibatch and the players take the step one
  process takes on the whole minibatch (to float rounding; batch-norm statistics are per share).
* `frozen(*modules)`: a player's parameters held still while the other's loss flows through it (Goodfellow et
  al.'s alternating updates).
* Every loss enters a float64 running sum on the device, so a NaN or infinity anywhere is caught by
  `check_finite` (called before every log and checkpoint) without a synchronisation per step.
* `state()`/`restore()`: players, optimisers, learning-rate schedulers and whatever `extra_state` a game adds
  (CycleGAN's image pools), as safetensors tensors plus JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from advlab.core.checkpoints import module_state, optimizer_state, restore_module, restore_optimizer
from advlab.core.distributed import Distributed
from advlab.core.errors import AdvlabError
from advlab.core.precision import Precision


class Game:
    """Players and optimisers of one game.

    Args:
        players: named modules, saved and checked under these names (e.g. {"generator": G, "discriminator": D}).
        optimizers: named optimisers; `update(loss, name)` steps ``optimizers[name]`` and averages the gradients
            of ``players[name]`` (so each optimiser is named after the player it moves; an optimiser over several
            players, as CycleGAN's over both generators, is named after a ``players`` entry that is a
            ``nn.ModuleDict`` of them).
        dist: the torchrun context (a world of 1 by default).
        precision: autocast and loss scaling (fp32 by default).
        schedulers: named learning-rate schedulers, stepped by `end_iteration` (CycleGAN's linear decay).
    """

    def __init__(self, players: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                 dist: Distributed | None = None, precision: Precision | None = None,
                 schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] | None = None) -> None:
        missing = sorted(set(optimizers) - set(players))
        if missing:
            raise ValueError(f"optimisers {missing} are not named after a player ({sorted(players)})")
        self.players = players
        self.optimizers = optimizers
        self.schedulers = schedulers or {}
        self.dist = dist or Distributed()
        device = next(iter(players.values())).parameters().__next__().device
        self.precision = precision or Precision("fp32", device)
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.step = 0

    # -- what a game defines ------------------------------------------------------------------------------------
    def train_iteration(self, *batch: Tensor, record: bool = False) -> dict[str, float]:
        """One iteration on this rank's share of a minibatch (the tensors the data set's `sample` returns, in its
        order: inputs and targets for image-to-image games); returns the statistics (floats, the mean over ranks,
        via `statistics`) when `record`, else {}. Must end with `end_iteration()`."""
        raise NotImplementedError

    def translate(self, inputs: Tensor) -> Tensor:
        """The trained mapping applied to [0, 1] images (no gradients, eval mode); [0, 1] images out."""
        raise NotImplementedError

    def extra_state(self) -> dict[str, Tensor]:
        """Tensors a game needs to continue exactly beyond players and optimisers (none by default)."""
        return {}

    def restore_extra(self, tensors: dict[str, Tensor]) -> None:
        """Inverse of `extra_state`."""

    # -- the plumbing -------------------------------------------------------------------------------------------
    def update(self, loss: Tensor, name: str, max_grad_norm: float | None = None) -> None:
        """One step of ``optimizers[name]`` on `loss`: backward, gradients of ``players[name]`` averaged across
        ranks, (their global norm clipped to `max_grad_norm` when given), step. The loss joins the running sum that
        `check_finite` reads."""
        optimizer = self.optimizers[name]
        optimizer.zero_grad(set_to_none=True)
        self.precision.backward(loss, optimizer)
        self.dist.average_gradients(self.players[name])
        self.loss_sum.add_(loss.detach().double())
        if max_grad_norm is not None:
            self.precision.unscale(optimizer)
            torch.nn.utils.clip_grad_norm_(self.players[name].parameters(), max_grad_norm)
        self.precision.step(optimizer)

    @contextmanager
    def frozen(self, *modules: nn.Module) -> Iterator[None]:
        """`modules`' parameters need no gradient inside the block (a discriminator during its generator's step)."""
        for module in modules:
            module.requires_grad_(False)
        try:
            yield
        finally:
            for module in modules:
                module.requires_grad_(True)

    def statistics(self, values: dict[str, Tensor]) -> dict[str, float]:
        """Scalar statistics as floats, each the mean over ranks (the figure of the whole minibatch): one
        collective for all of them."""
        if not values:
            return {}
        stacked = torch.stack([value.detach().double().reshape(()) for value in values.values()])
        return dict(zip(values, (self.dist.all_reduce_sum(stacked) / self.dist.world_size).tolist()))

    def end_iteration(self) -> None:
        """Count the iteration and step the learning-rate schedulers."""
        self.step += 1
        for scheduler in self.schedulers.values():
            scheduler.step()

    def synchronise(self) -> None:
        """Rank 0's buffers (batch-norm running statistics) on every rank before anything evaluates or saves."""
        self.dist.broadcast_buffers(*self.players.values())

    def check_consistency(self) -> None:
        """Every rank holds the same parameters (a check before each checkpoint under torchrun)."""
        for name, module in self.players.items():
            self.dist.check_consistency(module, name)

    def check_finite(self) -> bool:
        """False once any loss so far was NaN or infinite (on any rank)."""
        return self.dist.all_true(bool(torch.isfinite(self.loss_sum)))

    def state(self) -> tuple[dict[str, Tensor], dict]:
        """Everything needed to continue exactly: (tensors for safetensors, JSON-able meta)."""
        tensors = {"rng.torch": torch.get_rng_state()}
        meta: dict = {"schedulers": {name: s.state_dict() for name, s in self.schedulers.items()}}
        for name, module in self.players.items():
            tensors.update(module_state(module, name))
        for name, optimizer in self.optimizers.items():
            values, meta[f"optimizer.{name}"] = optimizer_state(optimizer, f"optimizer.{name}")
            tensors.update(values)
        tensors.update({f"extra.{key}": value for key, value in self.extra_state().items()})
        return tensors, meta

    def restore(self, tensors: dict[str, Tensor], meta: dict, step: int, source: str = "checkpoint") -> None:
        """Inverse of `state`; a checkpoint of another game or architecture is an AdvlabError."""
        for name, module in self.players.items():
            restore_module(module, name, tensors)
        for name, optimizer in self.optimizers.items():
            try:
                restore_optimizer(optimizer, f"optimizer.{name}", tensors, meta[f"optimizer.{name}"])
            except (KeyError, ValueError) as error:
                raise AdvlabError(f"{source} has no usable state of optimiser {name!r} ({error})") from None
        for name, scheduler in self.schedulers.items():
            scheduler.load_state_dict(meta.get("schedulers", {}).get(name, scheduler.state_dict()))
        self.restore_extra({key[len("extra."):]: value for key, value in tensors.items() if key.startswith("extra.")})
        torch.set_rng_state(tensors["rng.torch"])
        self.step = step
