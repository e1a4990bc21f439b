"""Output defenses: what a prediction API may return instead of its full probability vector.

Tramer et al. 2016 ("Stealing Machine Learning Models via Prediction APIs": sec. 6, extraction given class
labels only; sec. 7, rounding confidences) and Orekondy et al. 2019 ("Knockoff Nets", their experiments with
truncated posteriors: top-k, rounding, argmax) let the victim answer with less, to see the extraction attacks
degrade. Each defense wraps a :class:`~advlab.privacy.victim.Victim` into another Victim that answers
every query from the wrapped one's probabilities:

* ``top1``     -- only the predicted class (a label-only victim; Tramer's class labels only, Orekondy's
  argmax);
* ``round:D``  -- every probability rounded to D decimals (Tramer's "rounding confidences"); the rows need
  not sum to 1 any more, and a small probability may become 0;
* ``topK``     -- the K largest probabilities as the model gave them and 0 elsewhere, *not* renormalised
  (Orekondy et al.'s top-k: the API shows the K most likely classes with their confidences, as cloud
  APIs do); ``top_k(victim, k, renormalise=True)`` rescales the K kept ones to sum to 1 instead.

A defended victim hides the module behind it (``module`` is None), so no attack can take gradients
around the defense. Each wrapper counts its own queries (and the wrapped victim counts them too).
"""

from __future__ import annotations

import re

import torch
from torch import Tensor

from advlab.core.errors import AdvlabError
from advlab.privacy.victim import Victim

DEFENSES = ("none", "top1", "round:D", "topK")


def label_only(victim: Victim) -> Victim:
    """The victim's predicted class only (N,) -- Tramer et al. 2016 sec. 6, class labels only."""
    return Victim(victim.labels, "labels", batch=victim.batch)


def rounded(victim: Victim, decimals: int) -> Victim:
    """The victim's probabilities rounded to `decimals` decimals -- Tramer et al. 2016 sec. 7."""
    if isinstance(decimals, bool) or not isinstance(decimals, int) or decimals < 0:
        raise AdvlabError(f"rounding needs a whole number of decimals >= 0, got {decimals!r} (e.g. round:2)")

    def predict(images: Tensor) -> Tensor:
        return torch.round(victim.probabilities(images, "rounding"), decimals=decimals)

    return Victim(predict, "probabilities", batch=victim.batch)


def top_k(victim: Victim, k: int, renormalise: bool = False) -> Victim:
    """The victim's `k` largest probabilities, 0 elsewhere; rescaled to sum to 1 with `renormalise` (the default
    keeps them as the model gave them: Orekondy et al. 2019's top-k)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise AdvlabError(f"top-k needs k >= 1 classes, got {k!r} (e.g. top3)")

    def predict(images: Tensor) -> Tensor:
        probabilities = victim.probabilities(images, "top-k")
        kept = probabilities.topk(min(k, probabilities.shape[1]), dim=1)
        truncated = torch.zeros_like(probabilities).scatter(1, kept.indices, kept.values)
        return truncated / truncated.sum(1, keepdim=True) if renormalise else truncated

    return Victim(predict, "probabilities", batch=victim.batch)


def output_defense(victim: Victim, spec: str) -> Victim:
    """`victim` behind the defense `spec` names: "none" (unchanged), "top1", "round:D" or "topK" (K >= 2)."""
    text = str(spec).strip().lower()
    if text == "none":
        return victim
    if text == "top1":
        return label_only(victim)
    if match := re.fullmatch(r"round:(\d+)", text):
        return rounded(victim, int(match.group(1)))
    if match := re.fullmatch(r"top(\d+)", text):
        return top_k(victim, int(match.group(1)))
    raise AdvlabError(f"unknown output defense {spec!r}; valid defenses are: none, top1, round:D (D decimals, "
                      "e.g. round:2), topK (e.g. top3)")


__all__ = ["DEFENSES", "label_only", "output_defense", "rounded", "top_k"]
