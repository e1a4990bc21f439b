"""What every training-data poison shares: the poisoned set it returns, its budget, and its checks.

A poison takes a clean training set -- images (N, C, H, W) in [0, 1] and integer labels (N,) --
and returns a :class:`PoisonedData`: the whole training set after poisoning (same length, same
order; the poisoned rows changed in place, never appended) and the sorted row indices it changed,
so that a detector's true- and false-positive rates can be measured against the truth.

The budget is either ``rate`` (a share of the training set, in (0, 1]) or ``poisons`` (a count);
:meth:`Poisoning.budget` turns either into a count and checks it against the rows that may be
poisoned. A backdoor (:class:`Backdoor`) also has a ``target`` class and ``apply_trigger(images)``,
which stamps the trigger on test images to measure the attack success rate; all-to-all backdoors
(Gu et al. 2017, sec. 3.1) send class k to (k + 1) mod K instead of one target
(:meth:`Backdoor.triggered_labels`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from advlab.core.batching import images_per_pass
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.core.seeding import make_generator


@dataclass(frozen=True)
class PoisonedData:
    """A poisoned training set: `images` (N, C, H, W) and `labels` (N,) after poisoning, and the
    sorted row `indices` (long) that the poison changed (their images, their labels or both)."""

    images: Tensor
    labels: Tensor
    indices: Tensor

    def mask(self) -> Tensor:
        """A boolean (N,) mask of the poisoned rows."""
        flags = torch.zeros(len(self.labels), dtype=torch.bool, device=self.labels.device)
        flags[self.indices.to(self.labels.device)] = True
        return flags


def check_training_set(images: Tensor, labels: Tensor) -> None:
    """Images (N, C, H, W) in [0, 1] with N integer labels >= 0, or an AdvlabError that says what is wrong."""
    if not isinstance(images, Tensor) or images.dim() != 4:
        raise AdvlabError(f"images must be a tensor (N, C, H, W), got shape {tuple(getattr(images, 'shape', ()))}")
    if not isinstance(labels, Tensor) or labels.dim() != 1 or len(labels) != len(images):
        raise AdvlabError(f"labels must be a tensor (N,) with one label per image ({len(images)}), got shape "
                          f"{tuple(getattr(labels, 'shape', ()))}")
    if labels.dtype.is_floating_point or (len(labels) and int(labels.min()) < 0):
        raise AdvlabError("labels must be integer class indices >= 0")
    check_unit_range(images, "images")


def check_unit_range(images: Tensor, what: str) -> None:
    """`images` within [0, 1] (NaN is not), or an AdvlabError naming `what` and the range found."""
    if not len(images) or surely_in_unit_range(images):
        return
    low, high = value_range(images)
    if not (low >= 0 and high <= 1):  # written so that a NaN fails it
        raise AdvlabError(f"{what} must lie in [0, 1], found values in [{low:.3g}, {high:.3g}]")


UNIT_BITS = {torch.float32: (np.uint32, 0x3F800000), torch.float64: (np.uint64, 0x3FF0000000000000)}


def surely_in_unit_range(images: Tensor) -> bool:
    """True when a contiguous float CPU tensor lies in [0, +1.0], in ONE pass over its memory: read as unsigned
    integers, the IEEE-754 bit patterns of +0.0 .. +1.0 are exactly 0 .. the pattern of 1.0, and every negative
    number, -0.0, infinity and NaN reads larger. False means "look closer" (value_range): -0.0 and other dtypes
    or devices take that slower path. Half of the two-pass min/max check of a training set."""
    unsigned = UNIT_BITS.get(images.dtype)
    if unsigned is None or images.device.type != "cpu" or not images.is_contiguous():
        return False
    bits = images.detach().numpy().view(unsigned[0])
    return bool(bits.max() <= unsigned[1])


def value_range(images: Tensor) -> tuple[float, float]:
    """(least, greatest) value of a non-empty tensor. On the CPU NumPy's min and max (two vectorised passes) take
    about 0.6 of torch.aminmax's time at 0.4M-3M floats on one thread, so they are used there."""
    if images.device.type == "cpu" and images.dtype in (torch.float32, torch.float64):
        array = images.detach().numpy()
        return float(array.min()), float(array.max())
    low, high = torch.aminmax(images)
    return float(low), float(high)


def check_target(target: int | None, classes: int) -> None:
    """A target class in [0, classes), or an AdvlabError."""
    if target is None:
        return
    if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < classes:
        raise AdvlabError(f"target class {target!r} is out of range: the data have classes 0..{classes - 1}")


def check_budget(rate: float | None, poisons: int | None) -> None:
    """Exactly one of a rate in (0, 1] and a count of poisons >= 1, or an AdvlabError."""
    if (rate is None) == (poisons is None):
        raise AdvlabError("give the poisoning budget as exactly one of rate (a share in (0, 1]) and poisons (a count)")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1):
        raise AdvlabError(f"rate must be a share in (0, 1], got {rate!r}")
    if poisons is not None and (isinstance(poisons, bool) or not isinstance(poisons, int) or poisons < 1):
        raise AdvlabError(f"poisons must be an integer >= 1, got {poisons!r}")


class Poisoning:
    """Base class of a training-data poison; subclasses implement :meth:`poison`.

    Args:
        rate: share of the training set to poison, in (0, 1] (give this or poisons).
        poisons: number of training images to poison (give this or rate).
    """

    name = "poisoning"

    def __init__(self, rate: float | None = None, poisons: int | None = None):
        check_budget(rate, poisons)
        self.rate = rate
        self.poisons = poisons

    def budget(self, total: int, available: int) -> int:
        """The number of rows to poison in a training set of `total` rows of which `available` may be
        poisoned: round(rate * total) (at least 1) or `poisons`; more than `available` is an AdvlabError."""
        count = self.poisons if self.poisons is not None else max(1, round(self.rate * total))
        if count > available:
            raise AdvlabError(f"{self.name}: {count} poisons asked for, but only {available} of the {total} training "
                              "images can be poisoned")
        return count

    def choose_rows(self, candidates: Tensor, total: int, seed: int) -> Tensor:
        """`budget(total, len(candidates))` rows drawn without replacement from `candidates`, seeded, sorted."""
        count = self.budget(total, len(candidates))
        order = torch.randperm(len(candidates), generator=make_generator(seed, torch.device("cpu")))
        return candidates.cpu()[order[:count]].sort().values

    def poison(self, images: Tensor, labels: Tensor, seed: int = 0) -> PoisonedData:
        """The training set (images, labels) after poisoning, with the rows changed."""
        raise NotImplementedError

    def options(self) -> dict:
        """The options that define this poison, for poison.json (JSON-ready)."""
        return {"rate": self.rate, "poisons": self.poisons}


class Backdoor(Poisoning):
    """A poison that plants a trigger: triggered inputs go to `target` (all-to-one) or, with
    `all_to_all`, class k goes to (k + 1) mod classes (Gu et al. 2017, sec. 3.1).

    Args:
        target: the class triggered inputs are sent to (all-to-one).
        rate: share of the training set to poison, in (0, 1] (give this or poisons).
        poisons: number of training images to poison (give this or rate).
        all_to_all: send class k to (k + 1) mod classes instead of one target.
    """

    name = "backdoor"

    def __init__(self, target: int = 0, rate: float | None = None, poisons: int | None = None,
                 all_to_all: bool = False):
        super().__init__(rate, poisons)
        if isinstance(target, bool) or not isinstance(target, int) or target < 0:
            raise AdvlabError(f"target must be a class index >= 0, got {target!r}")
        self.target = target
        self.all_to_all = all_to_all

    def apply_trigger(self, images: Tensor) -> Tensor:
        """`images` (N, C, H, W) in [0, 1] with the trigger stamped on, in [0, 1]."""
        raise NotImplementedError

    def triggered_labels(self, labels: Tensor, classes: int) -> Tensor:
        """The labels the backdoor wants for triggered images of these true `labels`."""
        if self.all_to_all:
            return (labels + 1) % classes
        return torch.full_like(labels, self.target)

    def stamp_rows(self, images: Tensor, rows: Tensor) -> None:
        """Write the triggered versions of `images[rows]` into `images` (a copy the caller owns, already
        checked to lie in [0, 1])."""
        images[rows] = self.apply_trigger(images[rows])

    def source_rows(self, labels: Tensor) -> Tensor:
        """Rows whose triggered label differs from their own: every row for all-to-all, else the non-target ones."""
        if self.all_to_all:
            return torch.arange(len(labels))
        return (labels.cpu() != self.target).nonzero().flatten()

    def options(self) -> dict:
        return {**super().options(), "target": None if self.all_to_all else self.target,
                "all_to_all": self.all_to_all}


def attack_success_rate(model: torch.nn.Module, backdoor: Backdoor, images: Tensor, labels: Tensor,
                        classes: int, batch: int | None = None) -> float:
    """Share of the held-out `images` whose triggered label differs from their own (for all-to-one: those
    not of the target class) that `model` sends to the triggered label when the trigger is stamped on."""
    wanted = backdoor.triggered_labels(labels, classes)
    keep = wanted != labels
    if not bool(keep.any()):
        raise AdvlabError("no held-out image can show the backdoor: all are of the target class")
    images, wanted = images[keep], wanted[keep]
    hits, batch = 0, batch or images_per_pass(images)
    with evaluating(model), torch.no_grad():
        for first in range(0, len(images), batch):
            chunk = backdoor.apply_trigger(images[first:first + batch])
            hits += int((model(chunk).argmax(1) == wanted[first:first + batch]).sum())
    return hits / len(images)
