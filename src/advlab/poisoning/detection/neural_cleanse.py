"""Neural Cleanse: reverse-engineer the smallest trigger for every class; a backdoor's target needs a tiny one.

Wang, Yao, Shan, Li, Viswanath, Zheng & Zhao 2019, "Neural Cleanse: identifying and mitigating backdoor
attacks in neural networks" (IEEE S&P), sec. IV. A trigger is a mask m (H x W, in [0, 1], shared by the
channels) and a pattern p (C x H x W, in [0, 1]) applied as (eq. 2)

    A(x, m, p) = (1 - m) * x + m * p,

and for each candidate target y_t the smallest one is found by (eq. 3)

    min_{m, p}  CE(f(A(x, m, p)), y_t) + lambda * |m|_1    over clean images x (here those not of class y_t).

The appendix's optimisation: m and p live in tanh space (m = (tanh(m') + 1) / 2, the same for p) so they stay in
[0, 1]; Adam (lr 0.1, betas 0.5 and 0.9); lambda starts at 0 until the trigger's attack success reaches the
threshold (99%) for ``patience`` epochs, is then set to ``init_cost`` (1e-3) and adjusted dynamically: multiplied
by 1.5 after ``patience`` epochs above the threshold, divided by 1.5^1.5 after ``patience`` epochs below it; the
smallest |m|_1 seen with success >= the threshold is kept; the search stops early once lambda has moved both ways
and that best norm has not improved by 1% for ``early_stop_patience`` epochs. An epoch is one pass over the
images in minibatches of ``batch``.

Outlier detection (sec. IV): with the L1 norms n_k of the K reversed masks, the median absolute deviation
MAD = 1.4826 x median_k |n_k - median(n)| (1.4826: the consistency constant for a normal distribution), the
anomaly index of class k is |n_k - median(n)| / MAD, and a class is flagged when its norm is below the median and
its anomaly index exceeds 2 (a 95% chance of being an outlier).

Cost and figures on one CPU thread, the tests' 16 px digits SmallCNN (width 16), 10 classes, 270 clean images,
batch 32, 30 epochs (the default; early stopping did not trigger in 30): about 15 s for all 10 classes. On the
BadNets victim (3x3 corner trigger, 9 pixels) the target's mask has L1 norm 5.6 against 25-34 for the others
(anomaly index 5.8), half its mass on the trigger's corner; on the clean twin the largest index, 2.3, is above
the median and no class is flagged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.core.seeding import make_generator
from advlab.poisoning.detection.result import Detection, check_inputs, check_share

MAD_SCALE = 1.4826
ANOMALY_THRESHOLD = 2.0
COST_MULTIPLIER = 1.5
IMPROVEMENT = 0.99  # a new best norm must be 1% below the last one to reset early stopping
TANH_MARGIN = 1 - 1e-6  # keeps atanh finite when starting from values at the ends of [0, 1]


@dataclass
class ReversedTrigger:
    """The smallest trigger found for one target: mask (1, H, W), pattern (C, H, W), both in [0, 1], its L1
    norm, its attack success on the images, whether it reached the success threshold, and the epochs run."""

    mask: Tensor
    pattern: Tensor
    norm: float
    success: float
    reached: bool
    epochs: int


def apply_trigger(images: Tensor, mask: Tensor, pattern: Tensor) -> Tensor:
    """Eq. 2: (1 - mask) * images + mask * pattern, for images (N, C, H, W), mask (1, H, W), pattern (C, H, W)."""
    return (1 - mask) * images + mask * pattern


def from_tanh(raw: Tensor) -> Tensor:
    """tanh space -> [0, 1]."""
    return (torch.tanh(raw) + 1) / 2


def to_tanh(values: Tensor) -> Tensor:
    """[0, 1] -> tanh space (the inverse of from_tanh)."""
    return torch.atanh((2 * values - 1) * TANH_MARGIN)


class CostSchedule:
    """Neural Cleanse's dynamic lambda: 0 until the attack succeeds for `patience` epochs, then `init_cost`,
    up by 1.5 after `patience` epochs of success, down by 1.5^1.5 after `patience` epochs of failure."""

    def __init__(self, init_cost: float, patience: int):
        self.init_cost, self.patience = init_cost, patience
        self.cost = 0.0
        self.above = self.below = 0
        self.went_up = self.went_down = False

    def update(self, succeeded: bool) -> None:
        """Count one epoch that did (or did not) reach the success threshold and adjust lambda."""
        self.above, self.below = (self.above + 1, 0) if succeeded else (0, self.below + 1)
        if self.cost == 0:
            if self.above >= self.patience:
                self.cost, self.above = self.init_cost, 0
            return
        if self.above >= self.patience:
            self.cost, self.above, self.went_up = self.cost * COST_MULTIPLIER, 0, True
        elif self.below >= self.patience:
            self.cost, self.below, self.went_down = self.cost / COST_MULTIPLIER ** 1.5, 0, True


def reverse_trigger(model: nn.Module, images: Tensor, target: int, epochs: int = 30, batch: int = 32,
                    lr: float = 0.1, init_cost: float = 1e-3, success_threshold: float = 0.99, patience: int = 5,
                    early_stop_patience: int = 10, seed: int = 0) -> ReversedTrigger:
    """Eq. 3 for one `target` over `images` (N, C, H, W) (none of them of class `target`), the model in eval
    mode; the model's parameters get no gradients. See :func:`neural_cleanse` for the options."""
    device = images.device
    generator = make_generator(seed, torch.device("cpu"))
    height, width = images.shape[2:]
    mask_raw = to_tanh(torch.rand(1, height, width, generator=generator)).to(device).requires_grad_(True)
    pattern_raw = to_tanh(torch.rand(images.shape[1:], generator=generator)).to(device).requires_grad_(True)
    optimizer = torch.optim.Adam([mask_raw, pattern_raw], lr=lr, betas=(0.5, 0.9))
    schedule = CostSchedule(init_cost, patience)
    best: tuple[float, Tensor, Tensor, float] | None = None
    stale = 0
    labels = torch.full((len(images),), target, dtype=torch.int64, device=device)
    epochs_run = 0
    for epochs_run in range(1, epochs + 1):  # noqa: B007 (reported below)
        hits = 0
        order = torch.randperm(len(images), generator=generator)
        for first in range(0, len(images), batch):
            rows = order[first:first + batch].to(device)
            mask, pattern = from_tanh(mask_raw), from_tanh(pattern_raw)
            logits = model(apply_trigger(images[rows], mask, pattern))
            loss = F.cross_entropy(logits, labels[rows]) + schedule.cost * mask.sum()
            mask_raw.grad, pattern_raw.grad = torch.autograd.grad(loss, [mask_raw, pattern_raw])
            optimizer.step()
            hits += int((logits.argmax(1) == target).sum())
        success = hits / len(images)
        with torch.no_grad():
            norm = float(from_tanh(mask_raw).sum())
        if success >= success_threshold and (best is None or norm < best[0]):
            improved = best is None or norm < IMPROVEMENT * best[0]
            best = (norm, from_tanh(mask_raw).detach().clone(), from_tanh(pattern_raw).detach().clone(), success)
            stale = 0 if improved else stale + 1
        else:
            stale += 1
        schedule.update(success >= success_threshold)
        if best is not None and schedule.went_up and schedule.went_down and stale >= early_stop_patience:
            break
    if best is None:  # never reached the threshold: report the last trigger and its success
        with torch.no_grad():
            mask, pattern = from_tanh(mask_raw).detach(), from_tanh(pattern_raw).detach()
        return ReversedTrigger(mask, pattern, float(mask.sum()), success, False, epochs_run)
    norm, mask, pattern, success = best
    return ReversedTrigger(mask, pattern, norm, success, True, epochs_run)


def anomaly_indices(norms: Tensor) -> Tensor:
    """(K,) |n_k - median(n)| / (1.4826 median_k |n_k - median(n)|): the MAD anomaly index of each norm;
    0 where a norm equals the median, inf for a different norm when the MAD is 0."""
    deviations = (norms - norms.median()).abs()
    mad = MAD_SCALE * deviations.median()
    if mad == 0:
        return torch.where(deviations > 0, torch.tensor(math.inf), torch.tensor(0.0))
    return deviations / mad


def flag_classes(norms: Tensor, threshold: float = ANOMALY_THRESHOLD) -> Tensor:
    """Bool (K,): classes whose norm is below the median with an anomaly index above `threshold`."""
    return (norms < norms.median()) & (anomaly_indices(norms) > threshold)


def check_options(epochs, batch, lr, init_cost, success_threshold, patience, early_stop_patience,
                  anomaly_threshold) -> None:
    check_int("epochs", epochs, 1)
    check_int("batch", batch, 1)
    check_number("lr", lr, 0.0, strict=True)
    check_number("init_cost", init_cost, 0.0, strict=True)
    check_share("success_threshold", success_threshold)
    check_int("patience", patience, 1)
    check_int("early_stop_patience", early_stop_patience, 1)
    check_number("anomaly_threshold", anomaly_threshold, 0.0)


def model_classes(model: nn.Module, images: Tensor) -> int:
    """The number of logits `model` gives an image."""
    with evaluating(model), torch.no_grad():
        logits = model(images[:1])
    if logits.dim() != 2:
        raise AdvlabError(f"the model must return logits (N, classes), got shape {tuple(logits.shape)}")
    return logits.shape[1]


def neural_cleanse(model: nn.Module, images: Tensor, labels: Tensor, classes: Sequence[int] | None = None,
                   epochs: int = 30, batch: int = 32, lr: float = 0.1, init_cost: float = 1e-3,
                   success_threshold: float = 0.99, patience: int = 5, early_stop_patience: int = 10,
                   anomaly_threshold: float = ANOMALY_THRESHOLD, seed: int = 0) -> Detection:
    """Reverse a minimal trigger per class and flag the classes whose trigger is anomalously small.

    Args:
        model: the classifier to inspect; never modified (no parameter gets a gradient).
        images: clean images (N, C, H, W) in [0, 1] on the model's device (held-out data; a few hundred do).
        labels: their true labels (N,) int64; a class's trigger is optimised on the images of the other classes.
        classes: the candidate targets to reverse (default: every class the model outputs); the anomaly index
            compares them with each other, so give at least 3.
        epochs: most passes over the images per class (default 30); early stopping usually ends sooner.
        batch: images per optimisation step (default 32).
        lr: Adam's learning rate on the tanh-space mask and pattern (default 0.1).
        init_cost: lambda once the trigger first succeeds (default 1e-3).
        success_threshold: the attack success a trigger must keep (default 0.99).
        patience: epochs above or below the threshold before lambda moves (default 5).
        early_stop_patience: epochs without a 1% smaller successful mask before stopping (default 10).
        anomaly_threshold: flag classes below the median norm with an anomaly index above this (default 2).
        seed: seeds the initial mask and pattern and the minibatch order (default 0).

    Returns:
        Detection of kind "classes" over the `classes` inspected (size K): flagged classes, scores (K,) = their
        anomaly indices (higher is more suspicious), threshold = anomaly_threshold; extras ``classes``,
        ``norms`` (K,) L1 norms of the reversed masks, ``anomaly_index`` (K,), ``flagged_classes``,
        ``attack_success`` (K,), ``reached`` (K,) whether the trigger reached the threshold, ``epochs`` (K,),
        ``masks`` (K, 1, H, W) and ``patterns`` (K, C, H, W) in [0, 1] (for the report's images), ``seconds``.
    """
    check_inputs(model, images, labels)
    check_options(epochs, batch, lr, init_cost, success_threshold, patience, early_stop_patience, anomaly_threshold)
    count = model_classes(model, images)
    classes = list(range(count)) if classes is None else list(classes)
    for value in classes:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < count:
            raise AdvlabError(f"class {value!r} is out of range: the model has classes 0..{count - 1}")
    if len(set(classes)) < 3:
        raise AdvlabError(f"the anomaly index compares classes: give at least 3 distinct classes, got {classes}")
    start = time.perf_counter()
    triggers = []
    with evaluating(model):
        for value in classes:
            others = images[labels.to(images.device) != value]
            if len(others) == 0:
                raise AdvlabError(f"no clean image outside class {value} to reverse its trigger on")
            triggers.append(reverse_trigger(model, others, value, epochs, batch, lr, init_cost, success_threshold,
                                            patience, early_stop_patience, seed + value))
    norms = torch.tensor([trigger.norm for trigger in triggers])
    indices = anomaly_indices(norms)
    flags = flag_classes(norms, anomaly_threshold)
    flagged_classes = [value for value, flag in zip(classes, flags.tolist()) if flag]
    return Detection("neural-cleanse", "classes", [classes.index(value) for value in flagged_classes], len(classes),
                     indices, anomaly_threshold,
                     {"classes": classes, "norms": norms, "anomaly_index": indices, "flagged_classes": flagged_classes,
                      "attack_success": torch.tensor([trigger.success for trigger in triggers]),
                      "reached": torch.tensor([trigger.reached for trigger in triggers]),
                      "epochs": torch.tensor([trigger.epochs for trigger in triggers]),
                      "masks": torch.stack([trigger.mask.cpu() for trigger in triggers]),
                      "patterns": torch.stack([trigger.pattern.cpu() for trigger in triggers]),
                      "seconds": time.perf_counter() - start})


__all__ = ["ReversedTrigger", "anomaly_indices", "apply_trigger", "flag_classes", "neural_cleanse",
           "reverse_trigger"]
