"""Training and judging the attacker's copy of a victim, as the learning-based extractions share them.

Papernot et al. 2017 (sec. 4.1, substitute training) and Orekondy et al. 2019 (sec. 4.2, training the
knockoff) both fit a model of the attacker's choosing to the victim's answers on the attacker's queries:
cross-entropy to the victim's label, or -- where the victim gives scores -- to its probability vector
(soft labels; Orekondy et al. train on the full posterior). Two figures judge a copy (Jagielski et al. 2020's
terms, used by the extraction literature since): *fidelity*, the share of test inputs on which copy and
victim agree, and *accuracy*, the share the copy classifies correctly.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from advlab.privacy.victim import Victim, module_victim


def victim_targets(victim: Victim, images: Tensor) -> Tensor:
    """What the attacker learns from for `images`: labels (N,) int64 from a label-only victim, else a probability
    row per image (N, K) float32. Rows an output defense left not summing to 1 (rounding, top-k) are rescaled to
    sum to 1; a row it left all zero becomes uniform."""
    if victim.label_only:
        return victim.labels(images)
    probabilities = victim.probabilities(images, "extraction").float()
    sums = probabilities.sum(1, keepdim=True)
    uniform = torch.full_like(probabilities, 1 / probabilities.shape[1])
    return torch.where(sums > 0, probabilities / sums.clamp_min(1e-30), uniform)


def hard_labels(targets: Tensor) -> Tensor:
    """The class of each target: labels as they are, probability rows by their argmax."""
    return targets if targets.dim() == 1 else targets.argmax(1)


def train_copy(model: nn.Module, images: Tensor, targets: Tensor, epochs: int, batch_size: int, lr: float,
               generator: torch.Generator, progress: bool = False, what: str = "copy") -> nn.Module:
    """`model` fitted by Adam (`lr`) to the cross-entropy against `targets` (labels (N,) or probability rows (N, K))
    for `epochs` passes over `images` in shuffled minibatches; returned in eval mode. Works on the model's device."""
    device = next(model.parameters()).device
    images, targets = images.to(device), targets.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    batches = -(-len(images) // batch_size)
    bar = tqdm(total=epochs * batches, disable=not progress, unit="batch", desc=what, dynamic_ncols=True,
               file=sys.stderr, leave=False)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=generator).to(device)
        for first in range(0, len(order), batch_size):
            rows = order[first:first + batch_size]
            loss = F.cross_entropy(model(images[rows]), targets[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            bar.update(1)
    bar.close()
    return model.eval()


def copy_labels(model: nn.Module, images: Tensor) -> Tensor:
    """The copy's class for each image (N,), on the CPU (an attacker's own model: no queries counted anywhere)."""
    return module_victim(model).labels(images)


def agreement(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    """Share of `images` that `model` puts in `labels`' classes: fidelity against the victim's labels, accuracy
    against the true ones."""
    if len(images) == 0:
        return float("nan")
    return float((copy_labels(model, images) == labels.cpu()).double().mean())


__all__ = ["agreement", "copy_labels", "hard_labels", "train_copy", "victim_targets"]
