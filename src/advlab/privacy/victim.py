"""What a privacy attacker may query: a victim model seen only through its outputs.

Every privacy attack (membership inference, inversion, extraction) takes a :class:`Victim`.
``as_victim`` makes one from what a user has: an ``nn.Module`` (white-box attacks may also use its
gradients through ``victim.module``), or a black-box callable from images (N, C, H, W) in [0, 1] to
scores. The callable says what it returns:

* ``"logits"``        -- unnormalised scores (N, K); softmax gives the probabilities;
* ``"probabilities"`` -- a probability vector per image (N, K), rows summing to 1;
* ``"labels"``        -- only the predicted class (N,) -- the label-only setting of Choquette-Choo et
  al. 2021, where attacks that need scores do not apply (they raise an AdvlabError saying so).

The victim counts the images it was asked about (``queries``), since query budgets are part of the
threat model of extraction (Tramer et al. 2016, sec. 4; Orekondy et al. 2019, sec. 4).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating

Output = Literal["logits", "probabilities", "labels"]
OUTPUTS = ("logits", "probabilities", "labels")
QUERY_BATCH = 1024  # images per call of the victim
# a probability the victim shows as 0 (rounded, truncated) reads as the smallest normal float64, log about -708, so
# that every attack's arithmetic on log-probabilities stays finite
SMALLEST = torch.finfo(torch.float64).tiny


class Victim:
    """A model seen through its outputs; see the module docstring.

    Args:
        predict: images (N, C, H, W) -> scores of the kind `output` names.
        output: "logits", "probabilities" or "labels".
        module: the nn.Module behind `predict`, when the attacker has white-box access (else None).
        batch: images per call of `predict`.
    """

    def __init__(self, predict: Callable[[Tensor], Tensor], output: Output = "logits", module: nn.Module | None = None,
                 batch: int = QUERY_BATCH):
        if output not in OUTPUTS:
            raise AdvlabError(f"unknown victim output {output!r}; valid outputs are: {', '.join(OUTPUTS)}")
        self.predict = predict
        self.output = output
        self.module = module
        self.batch = batch
        self.queries = 0

    @property
    def label_only(self) -> bool:
        return self.output == "labels"

    @torch.no_grad()
    def query(self, images: Tensor) -> Tensor:
        """The raw outputs for `images`, in batches; counts the images as queries."""
        self.queries += len(images)
        parts = [self.predict(images[start:start + self.batch]) for start in range(0, len(images), self.batch)]
        return torch.cat(parts) if parts else torch.empty(0)

    def log_probabilities(self, images: Tensor, attack: str = "this attack") -> Tensor:
        """log p(k | x) (N, K), float64 (a probability shown as 0 reads as log SMALLEST, about -708); an AdvlabError
        naming `attack` for a label-only victim."""
        if self.label_only:
            raise AdvlabError(f"{attack} needs the victim's scores, but it returns only labels (label-only access); "
                              "attacks that apply to labels alone: the label-only ones (e.g. membership by "
                              "correctness, extraction by learning)")
        outputs = self.query(images).double()
        if self.output == "logits":
            return F.log_softmax(outputs, dim=1)
        return outputs.clamp_min(SMALLEST).log()

    def probabilities(self, images: Tensor, attack: str = "this attack") -> Tensor:
        """p(k | x) (N, K), float64; an AdvlabError naming `attack` for a label-only victim."""
        return self.log_probabilities(images, attack).exp()

    def labels(self, images: Tensor) -> Tensor:
        """The predicted class of each image (N,), int64: every victim gives these."""
        outputs = self.query(images)
        return outputs.long() if self.label_only else outputs.argmax(1)

    def white_box(self, attack: str = "this attack") -> nn.Module:
        """The module behind the victim, for an attack that follows its gradients (model inversion); an
        AdvlabError naming `attack` for a black-box victim (a callable, or a module seen only through
        probabilities or labels)."""
        if self.module is None:
            seen = "only labels" if self.label_only else f"only {self.output} and no gradients"
            raise AdvlabError(f"{attack} needs the victim's gradients (white-box access), but this victim shows "
                              f"{seen}; pass the model itself (an nn.Module or a classifier run)")
        return self.module


def true_class_logit(log_probabilities: Tensor, labels: Tensor) -> Tensor:
    """The logit-scaled confidence log(p_y / (1 - p_y)) of each row's label (Carlini et al. 2022, sec. 4.2,
    eq. 4), computed as log p_y - logsumexp_{k != y} log p_k so that it stays exact when p_y is near 1."""
    true = log_probabilities.gather(1, labels.view(-1, 1)).squeeze(1)
    others = log_probabilities.scatter(1, labels.view(-1, 1), float("-inf"))
    return true - torch.logsumexp(others, dim=1)


def module_victim(module: nn.Module, batch: int = QUERY_BATCH, output: Output = "logits") -> Victim:
    """A victim behind `module`, computed in eval mode on the module's device: white-box with its logits
    (`output` "logits"), or a black-box API that shows only the softmax probabilities or only the predicted
    labels (then `victim.module` is None: the attacker has no gradients)."""
    if output not in OUTPUTS:
        raise AdvlabError(f"unknown victim output {output!r}; valid outputs are: {', '.join(OUTPUTS)}")
    device = next(module.parameters()).device

    def predict(images: Tensor) -> Tensor:
        with evaluating(module):
            logits = module(images.to(device)).cpu()
        if output == "probabilities":
            return logits.softmax(1)
        return logits.argmax(1) if output == "labels" else logits

    return Victim(predict, output, module=module if output == "logits" else None, batch=batch)


def as_victim(target, output: Output | None = None) -> Victim:
    """A Victim from a Victim, an nn.Module or a callable; a callable must say its `output` ("logits",
    "probabilities" or "labels"). (A classifier run directory becomes a module in advlab.pipelines.)"""
    if isinstance(target, Victim):
        return target
    if isinstance(target, nn.Module):
        return module_victim(target)
    if callable(target):
        if output is None:
            raise AdvlabError("a black-box victim must say what it returns: output='logits', 'probabilities' or "
                              "'labels'")
        return Victim(target, output)
    raise AdvlabError(f"a victim is an nn.Module, a Victim or a callable, got {type(target).__name__}")


__all__ = ["OUTPUTS", "Victim", "as_victim", "module_victim", "true_class_logit"]
