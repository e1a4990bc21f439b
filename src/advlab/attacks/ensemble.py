"""An ensemble of classifiers fused into one: the surrogate of an ensemble transfer attack.

Liu, Chen, Liu & Song 2017, "Delving into Transferable Adversarial Examples and Black-box Attacks", sec. 3.2,
eq. (4): an adversarial example that fools k models at once is more likely to fool an unseen one as well, so the
attacker attacks the weighted average of their softmax outputs,

    J(x) = sum_i alpha_i J_i(x),        alpha_i >= 0,  sum_i alpha_i = 1,

with the cross-entropy -log(J(x) . 1_y). Dong et al. 2018, "Boosting Adversarial Attacks with Momentum",
sec. 3.2 ("attacking an ensemble of models"): fuse the logits instead,

    l(x) = sum_k w_k l_k(x),            w_k >= 0,  sum_k w_k = 1,

and attack the cross-entropy of softmax(l(x)); of the three fusions they compare (logits, predictions, losses)
the logits transfer best, so ``fusion="logits"`` is the default. ``fusion="softmax"`` is Liu et
al.'s: the module returns log J(x), whose softmax is J(x) itself, so any attack's cross-entropy on it is
-log(J(x) . 1_y) exactly.

The members may live on different devices: each gets the images on its own device, and the fused output comes
back on the images' device (gradients flow through the moves). Members of weight 0 are not run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from advlab.core.checks import check_number
from advlab.core.devices import module_device
from advlab.core.errors import AdvlabError

FUSIONS = ("logits", "softmax")


class Ensemble(nn.Module):
    """images (N, ...) in [0, 1] -> fused logits (N, classes): ``Ensemble([m1, m2, m3])(images)``.

    Args:
        models: the classifiers, each mapping images in [0, 1] to logits (N, classes), on any devices.
        weights: one weight >= 0 per model, normalised to sum 1 (None: equal weights).
        fusion: ``"logits"`` (the weighted sum of the logits, Dong et al. 2018) or ``"softmax"`` (the log of the
            weighted mean of the softmax outputs, Liu et al. 2017).
        owner: the name that starts every error message (the attack that builds the ensemble).
    """

    def __init__(self, models: Sequence[nn.Module], weights: Sequence[float] | None = None,
                 fusion: str = "logits", owner: str = "ensemble"):
        super().__init__()
        self.owner = owner
        models = list(models) if isinstance(models, (list, tuple)) else None
        if not models:
            raise AdvlabError(f"{owner}: the ensemble needs a non-empty list of models")
        for index, model in enumerate(models):
            if not isinstance(model, nn.Module):
                raise AdvlabError(f"{owner}: model {index} of the ensemble must be a torch.nn.Module, got "
                                  f"{type(model).__name__}")
        if fusion not in FUSIONS:
            raise AdvlabError(f"{owner}: unknown fusion {fusion!r}; valid fusions are: {', '.join(FUSIONS)}")
        self.members = nn.ModuleList(models)
        self.weights = normalised_weights(weights, len(models), owner)
        self.fusion = fusion

    def forward(self, images: Tensor) -> Tensor:
        outputs = [(weight, member(images.to(module_device(member, images.device))).to(images.device))
                   for weight, member in zip(self.weights, self.members) if weight > 0]
        shapes = {tuple(output.shape) for _, output in outputs}
        if len(shapes) > 1:
            raise AdvlabError(f"{self.owner}: the ensemble's models disagree on their output shapes "
                              f"{sorted(shapes)}; they must share inputs and classes")
        if self.fusion == "logits":
            return sum(weight * output for weight, output in outputs)
        terms = [math.log(weight) + torch.log_softmax(output, dim=1) for weight, output in outputs]
        return torch.logsumexp(torch.stack(terms), dim=0)

    def extra_repr(self) -> str:
        return f"weights={tuple(round(w, 4) for w in self.weights)}, fusion={self.fusion!r}"


def normalised_weights(weights: Sequence[float] | None, count: int, owner: str) -> tuple[float, ...]:
    """`count` weights >= 0 scaled to sum 1; equal ones for None."""
    if weights is None:
        return (1.0 / count,) * count
    if not isinstance(weights, (list, tuple)) or len(weights) != count:
        given = len(weights) if isinstance(weights, (list, tuple)) else type(weights).__name__
        raise AdvlabError(f"{owner}: weights must be one number per model ({count}), got {given}")
    values = [check_number(f"{owner}: weight {index}", value) for index, value in enumerate(weights)]
    total = sum(values)
    if total <= 0:
        raise AdvlabError(f"{owner}: the weights sum to 0; give at least one positive weight")
    return tuple(value / total for value in values)


__all__ = ["FUSIONS", "Ensemble", "normalised_weights"]
