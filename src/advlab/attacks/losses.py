"""The objectives attacks ascend, per image (shape (N,)): larger is better for the attacker.

* ``cross_entropy_objective`` — the loss of Goodfellow et al. 2015 and Madry et al. 2018:
  CE(z, y) untargeted; -CE(z, t) targeted (move towards the target).
* ``margin`` — Carlini & Wagner 2017's f_6 (sec. V.A): max_{j != y} z_j - z_y, positive exactly
  when the image is misclassified; targeted, z_t - max_{j != t} z_j.
* ``dlr_objective`` — Croce & Hein 2020's Difference of Logits Ratio (eq. 6), invariant to shifts
  and scales of the logits: -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3); the targeted version
  (sec. 4) is -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2), z_pi the logits sorted decreasingly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

DLR_EPS = 1e-12  # keeps the DLR denominator away from zero (the authors' code uses 1e-12 too)


def cross_entropy_objective(logits: Tensor, labels: Tensor, targeted: bool = False) -> Tensor:
    loss = F.cross_entropy(logits, labels, reduction="none")
    return -loss if targeted else loss


def best_other(logits: Tensor, labels: Tensor) -> Tensor:
    """max_{j != label} z_j per row."""
    others = logits.scatter(1, labels[:, None], float("-inf"))
    return others.max(1).values


def margin(logits: Tensor, labels: Tensor, targeted: bool = False) -> Tensor:
    """C&W f_6 as an objective to maximise; > 0 means the attack has reached its goal."""
    own = logits.gather(1, labels[:, None])[:, 0]
    difference = best_other(logits, labels) - own
    return -difference if targeted else difference


def dlr_objective(logits: Tensor, labels: Tensor, targeted: bool = False, targets: Tensor | None = None) -> Tensor:
    """DLR (untargeted, needs >= 3 classes) or targeted DLR (needs `targets`, >= 4 classes)."""
    ordered = logits.sort(dim=1, descending=True).values
    own = logits.gather(1, labels[:, None])[:, 0]
    if not targeted:
        return -(own - best_other(logits, labels)) / (ordered[:, 0] - ordered[:, 2] + DLR_EPS)
    target = logits.gather(1, targets[:, None])[:, 0]
    scale = ordered[:, 0] - (ordered[:, 2] + ordered[:, 3]) / 2
    return -(own - target) / (scale + DLR_EPS)



def input_gradient(model, images: Tensor, labels: Tensor, targeted: bool = False,
                   objective=cross_entropy_objective) -> tuple[Tensor, Tensor]:
    """(d objective.sum() / d images, logits): one forward and one backward, to the input only
    (no parameter gradients are computed or stored)."""
    images = images.detach().requires_grad_(True)
    logits = model(images)
    grad, = torch.autograd.grad(objective(logits, labels, targeted).sum(), images)
    return grad, logits.detach()
