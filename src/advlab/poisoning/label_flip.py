"""Label flipping: the availability poison that changes labels and never images.

The baseline of the poisoning literature (Biggio, Nelson & Laskov 2011, "Support Vector Machines
Under Adversarial Label Noise", sec. 4: random label flips as the reference attack; Xiao, Xiao &
Eckert 2012, "Adversarial Label Flips Attack on Support Vector Machines"): a budget of training
rows get a wrong label.

* random (no ``target``): each chosen row gets a label drawn uniformly from the classes present in
  the training set other than its own, so every chosen row really is flipped;
* targeted (``target`` given): the chosen rows are relabelled ``target``; they are drawn from the
  rows of class ``source`` (``source`` -> ``target``) or from every non-target row (any -> target).

``source`` restricts the rows drawn from in both modes. Exactly ``budget`` rows change label (the
rows are drawn with ``choose_rows`` over the eligible ones), and no image changes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator
from advlab.poisoning.base import PoisonedData, Poisoning, check_target, check_training_set
from advlab.poisoning.triggers import class_count


def check_class_option(name: str, value) -> int | None:
    """None or a class index >= 0, or an AdvlabError."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise AdvlabError(f"label-flip: {name} must be a class index >= 0 (or None), got {value!r}")
    return value


class LabelFlip(Poisoning):
    """Random or targeted label flipping: ``LabelFlip(rate=0.2).poison(images, labels, seed=0)``.

    Args:
        rate: share of the training set to flip, in (0, 1] (give this or poisons).
        poisons: number of training labels to flip (give this or rate).
        target: flip the chosen rows to this class (None: each to a random other class).
        source: draw the rows to flip only from this class (None: from every class but the target).
    """

    name = "label-flip"

    def __init__(self, rate: float | None = None, poisons: int | None = None, target: int | None = None,
                 source: int | None = None):
        super().__init__(rate, poisons)
        self.target = check_class_option("target", target)
        self.source = check_class_option("source", source)
        if target is not None and source == target:
            raise AdvlabError(f"label-flip: source and target are the same class ({target}); nothing would flip")

    def eligible_rows(self, labels: Tensor) -> Tensor:
        """Rows that may be flipped: of class `source` if given, and never already of class `target`."""
        keep = torch.ones(len(labels), dtype=torch.bool)
        labels = labels.cpu()
        if self.source is not None:
            keep &= labels == self.source
        if self.target is not None:
            keep &= labels != self.target
        return keep.nonzero().flatten()

    def poison(self, images: Tensor, labels: Tensor, seed: int = 0) -> PoisonedData:
        """The training set with `budget` labels flipped; images (N, C, H, W) unchanged, labels (N,) int64."""
        check_training_set(images, labels)
        classes = class_count(labels)
        check_target(self.target, classes)
        check_target(self.source, classes)
        rows = self.choose_rows(self.eligible_rows(labels), len(labels), seed).to(labels.device)
        flipped = labels.clone()
        if self.target is not None:
            flipped[rows] = self.target
        else:
            flipped[rows] = self.random_other_labels(labels[rows].cpu(), labels, seed).to(labels.device)
        return PoisonedData(images.clone(), flipped, rows)

    @staticmethod
    def random_other_labels(own: Tensor, labels: Tensor, seed: int) -> Tensor:
        """For each of the `own` labels, one drawn uniformly from the other classes present in `labels`."""
        present = labels.unique().cpu()
        if len(present) < 2:
            raise AdvlabError("label-flip: the training set has a single class; there is no other label to flip to")
        draws = torch.randint(len(present) - 1, (len(own),), generator=make_generator(seed, torch.device("cpu")))
        position = torch.searchsorted(present, own)  # where each own label sits among the present classes
        return present[draws + (draws >= position).long()]

    def options(self) -> dict:
        return {**super().options(), "mode": "random" if self.target is None else "targeted",
                "target": self.target, "source": self.source}
