"""Output defenses: what a prediction API returns instead of its full probability vector.

One place for the post-processors that every attack which reads a model's answers meets -- model extraction
and membership inference (through advlab.privacy.output_defenses, which puts one in front of a Victim) and
score-based evasion (through :class:`DefendedScores`, an nn.Module whose "logits" are the log of the defended
probabilities). A post-processor maps the model's probabilities p (N, K) to what the API shows: ``output``
"probabilities" (N, K) or "labels" (N,). The truncations come from Tramer, Zhang, Juels, Reiter & Ristenpart
2016 ("Stealing Machine Learning Models via Prediction APIs", sec. 6 class labels only, sec. 7 rounding
confidences) and Orekondy, Schiele & Fritz 2019 ("Knockoff Nets", sec. 6, truncated posteriors):

* ``top1``      -- the predicted class only, argmax_k p_k (:class:`LabelsOnly`);
* ``round:D``   -- round(p_k, D) (:class:`Rounded`); a row need not sum to 1 any more and a small probability
  becomes 0 (D = 0 keeps only a probability above 1/2);
* ``topK``      -- the K largest p_k as the model gave them, 0 elsewhere, *not* renormalised (:class:`TopK`,
  Orekondy et al.'s top-k as cloud APIs show it);
* ``cutoff:C``  -- every p_k < C set to 0 (:class:`HighConfidence`, ART's ``HighConfidence``);

and two perturbations, each in its own file:

* ``reverse-sigmoid[:beta=B,gamma=G]`` -- Lee et al. 2019's deceptive perturbation (defenses/reverse_sigmoid.py);
* ``noise[:SIGMA]``  -- Gaussian noise on the scores, clipped and renormalised (defenses/score_noise.py).

Every one but ``noise`` (and ``cutoff`` on a row whose top probability is below C) keeps the top-1 class, up to
ties that rounding makes (argmax then answers the first of the tied classes) and the rare reverse sigmoid case
its module describes. Where ART's post-processors differ: ``Rounded`` refuses 0 decimals; ``ClassLabels`` writes
a 1 into every row at *every* row's argmax (``class_labels[:, index_labels] = 1`` indexes columns for the whole
batch), so for a batch with several predicted classes each row shows several "labels" -- advlab's top1 answers
each row's own class.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.checks import check_number
from advlab.core.errors import AdvlabError
from advlab.defenses.reverse_sigmoid import ReverseSigmoid
from advlab.defenses.score_noise import DEFAULT_SIGMA, ScoreNoise

SPECS = ("none", "top1", "round:D", "topK", "cutoff:C", "reverse-sigmoid:beta=B,gamma=G", "noise:SIGMA")
SPEC_HELP = ("none; top1 (labels only); round:D (probabilities rounded to D decimals); topK (the K largest "
             "probabilities, e.g. top3); cutoff:C (probabilities below C set to 0); reverse-sigmoid[:beta=B,gamma=G] "
             "(Lee et al. 2019's deceptive perturbation, default beta=1,gamma=0.1); noise[:SIGMA] (Gaussian noise "
             "of standard deviation SIGMA on the probabilities, default 0.2)")


class LabelsOnly:
    """The predicted class only: p (N, K) -> argmax_k p_k (N,) (Tramer et al. 2016 sec. 6, class labels only)."""

    name = "top1 (labels only)"
    output = "labels"
    spec = "top1"

    def __call__(self, probabilities: Tensor) -> Tensor:
        return probabilities.argmax(1)


class Rounded:
    """Every probability rounded to `decimals` decimals (Tramer et al. 2016 sec. 7, rounding confidences).

    Args:
        decimals: decimals kept, >= 0.
    """

    name = "rounding"
    output = "probabilities"

    def __init__(self, decimals: int = 2):
        if isinstance(decimals, bool) or not isinstance(decimals, int) or decimals < 0:
            raise AdvlabError(f"rounding needs a whole number of decimals >= 0, got {decimals!r} (e.g. round:2)")
        self.decimals = decimals

    @property
    def spec(self) -> str:
        return f"round:{self.decimals}"

    def __call__(self, probabilities: Tensor) -> Tensor:
        return torch.round(probabilities, decimals=self.decimals)


class TopK:
    """The `k` largest probabilities, 0 elsewhere (Orekondy et al. 2019's top-k).

    Args:
        k: classes shown, >= 1.
        renormalise: rescale the kept ones to sum to 1 (default: as the model gave them).
    """

    name = "top-k"
    output = "probabilities"

    def __init__(self, k: int = 3, renormalise: bool = False):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise AdvlabError(f"top-k needs k >= 1 classes, got {k!r} (e.g. top3)")
        self.k, self.renormalise = k, bool(renormalise)

    @property
    def spec(self) -> str:
        return f"top{self.k}"

    def __call__(self, probabilities: Tensor) -> Tensor:
        kept = probabilities.topk(min(self.k, probabilities.shape[1]), dim=1)
        truncated = torch.zeros_like(probabilities).scatter(1, kept.indices, kept.values)
        return truncated / truncated.sum(1, keepdim=True) if self.renormalise else truncated


class HighConfidence:
    """Probabilities below `cutoff` set to 0 (ART's HighConfidence); a row whose largest probability is below the
    cutoff answers all zeros, and its label is lost.

    Args:
        cutoff: the smallest probability shown, in (0, 1].
    """

    name = "high confidence"
    output = "probabilities"

    def __init__(self, cutoff: float = 0.25):
        self.cutoff = check_number("high confidence: cutoff", cutoff, 0.0, strict=True)
        if self.cutoff > 1:
            raise AdvlabError(f"high confidence: cutoff must be at most 1, got {cutoff!r} (e.g. cutoff:0.25)")

    @property
    def spec(self) -> str:
        return f"cutoff:{self.cutoff:g}"

    def __call__(self, probabilities: Tensor) -> Tensor:
        return torch.where(probabilities < self.cutoff, torch.zeros_like(probabilities), probabilities)


# ---------------------------------------------------------------------- specs


EXAMPLES = ("none", "top1", "round:D (e.g. round:2)", "topK (e.g. top3)", "cutoff:C (e.g. cutoff:0.25)",
            "reverse-sigmoid[:beta=B,gamma=G] (e.g. reverse-sigmoid:beta=1,gamma=0.1)",
            "noise[:SIGMA] (e.g. noise:0.05)")


def spec_error(spec: str, problem: str) -> AdvlabError:
    return AdvlabError(f"output defense {spec!r}: {problem}; valid defenses: {', '.join(EXAMPLES)}")


def spec_number(spec: str, text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise spec_error(spec, f"{what} must be a number, got {text!r}") from None


def reverse_sigmoid_from(spec: str, text: str) -> ReverseSigmoid:
    """reverse-sigmoid, or reverse-sigmoid:beta=B,gamma=G (either key may be left out)."""
    options = {}
    for item in filter(None, text.split(",")):
        key, equals, value = item.partition("=")
        if not equals or key.strip() not in ("beta", "gamma"):
            raise spec_error(spec, f"reverse-sigmoid takes beta=B and gamma=G, got {item!r}")
        options[key.strip()] = spec_number(spec, value.strip(), key.strip())
    return ReverseSigmoid(**options)


def parse_output_defense(spec: str, seed: int = 0):
    """The post-processor `spec` names (None for "none"); see SPECS. `seed` seeds the noise defense."""
    text = str(spec).strip().lower()
    if text == "none":
        return None
    if text in ("top1", "labels"):
        return LabelsOnly()
    if match := re.fullmatch(r"top(\d+)", text):
        return TopK(int(match.group(1)))
    name, colon, rest = text.partition(":")
    if name == "round" and colon and rest.isdigit():
        return Rounded(int(rest))
    if name == "cutoff" and colon:
        return HighConfidence(spec_number(spec, rest, "cutoff"))
    if name == "reverse-sigmoid":
        return reverse_sigmoid_from(spec, rest)
    if name == "noise":
        return ScoreNoise(spec_number(spec, rest, "sigma") if colon else DEFAULT_SIGMA, seed)
    raise spec_error(spec, "unknown output defense")


def shown_probabilities(defense, probabilities: Tensor) -> Tensor:
    """What `defense` shows for `probabilities` (N, K), as scores (N, K): a label as a one-hot vector."""
    shown = defense(probabilities)
    if defense.output == "labels":
        return F.one_hot(shown.long(), probabilities.shape[1]).to(probabilities.dtype)
    return shown


class DefendedScores(nn.Module):
    """A classifier seen through an output defense: its "logits" are log(defense(softmax(model(x)))) (N, K), so
    that softmax gives back the defended probabilities (renormalised where the defense leaves them unnormalised)
    and argmax the class the API answers. A 0 the defense shows becomes the log of the dtype's smallest normal
    number (about -87 in float32), so that attacks' arithmetic stays finite.

    Args:
        model: the classifier (images in [0, 1] -> logits).
        defense: a post-processor (parse_output_defense, or any callable with an ``output``).
    """

    def __init__(self, model: nn.Module, defense):
        super().__init__()
        if defense is None or getattr(defense, "output", None) not in ("probabilities", "labels"):
            raise AdvlabError(f"DefendedScores needs an output defense, got {defense!r}")
        self.model, self.defense = model, defense

    def forward(self, images: Tensor) -> Tensor:
        shown = shown_probabilities(self.defense, self.model(images).softmax(1))
        return shown.clamp_min(torch.finfo(shown.dtype).tiny).log()


def defense_spec(defense) -> str:
    """The defense's spec as a record shows it ("none" for None)."""
    return "none" if defense is None else defense.spec


__all__ = ["SPECS", "SPEC_HELP", "DefendedScores", "HighConfidence", "LabelsOnly", "Rounded", "TopK",
           "defense_spec", "parse_output_defense", "shown_probabilities"]
