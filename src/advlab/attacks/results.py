"""What an attack did to a batch, and the figures a robustness table shows.

Definitions (the ones papers and peers use):

* clean accuracy — the share of images the model classifies correctly;
* robust accuracy — the share it still classifies correctly after the attack (an image the
  model got wrong to begin with counts as not robust);
* success — untargeted: correct before, wrong after; targeted: classified as the target class
  after (images whose target is their true class are left out of the rate);
* success rate — successes over the images that could succeed (correct before, untargeted);
* norms — Linf and L2 of the perturbation, median and mean over the successful examples (how
  far the attack had to go where it worked; CW and DeepFool report them that way);
* queries — model calls per image (black-box attacks), median and mean over the successful
  examples (as Square and HopSkipJump report them) and the maximum over all.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class AttackResult:
    """One attack at one eps on one batch. Tensors are on the caller's device."""

    attack: str
    eps: float | None
    norm: str | None
    targeted: bool
    clean: Tensor
    adversarial: Tensor
    labels: Tensor | None  # true classes
    targets: Tensor | None  # target classes (targeted attacks)
    clean_pred: Tensor | None  # None only from attack(...), which measures nothing
    adv_pred: Tensor | None
    queries: Tensor | None  # per image, black-box attacks only
    seconds: float

    @property
    def perturbation(self) -> Tensor:
        return self.adversarial - self.clean

    def norms(self, p: float) -> Tensor:
        """Per-image Lp norm of the perturbation (p = inf or 2)."""
        return torch.linalg.vector_norm(self.perturbation.flatten(1).double(), ord=p, dim=1)

    @property
    def eligible(self) -> Tensor:
        """Images the attack could succeed on (see the module docstring)."""
        if self.targeted:
            return self.targets != self.labels
        return self.clean_pred == self.labels

    @property
    def success(self) -> Tensor:
        """Per image: did the attack reach its goal?"""
        reached = self.adv_pred == self.targets if self.targeted else self.adv_pred != self.labels
        return reached & self.eligible

    def summary(self) -> dict[str, float | int | str | None]:
        """The row of a robustness table."""
        n = len(self.labels)
        success = self.success
        eligible = int(self.eligible.sum())
        row: dict[str, float | int | str | None] = {
            "attack": self.attack, "eps": self.eps, "n": n, "targeted": self.targeted,
            "clean_accuracy": share(self.clean_pred == self.labels),
            "robust_accuracy": share((self.adv_pred == self.labels) & (self.clean_pred == self.labels)),
            "success_rate": int(success.sum()) / eligible if eligible else None,
        }
        for name, p in (("linf", float("inf")), ("l2", 2.0)):
            row[f"{name}_median"], row[f"{name}_mean"] = median_mean(self.norms(p)[success])
        if self.queries is not None:
            row["queries_median"], row["queries_mean"] = median_mean(self.queries[success].double())
            row["queries_max"] = int(self.queries.max())
        row["seconds"] = self.seconds
        return row


def share(flags: Tensor) -> float:
    return float(flags.double().mean())


def median_mean(values: Tensor) -> tuple[float | None, float | None]:
    """(median, mean) of a 1-D tensor; (None, None) when it is empty."""
    if values.numel() == 0:
        return None, None
    values = values.cpu().double()
    return float(values.quantile(0.5)), float(values.mean())
