"""Training objectives by name: plain cross-entropy and the robust ones, behind one interface.

Robust training is the second min-max game of the house (DESIGN.md): min over theta of the
expected max over delta of the loss. Each objective lives in its own file, citing its paper:

    "none"     cross-entropy on the clean batch (this file)
    "pgd-at"   Madry et al. 2018, PGD adversarial training        (defenses/pgd_at.py)
    "trades"   Zhang et al. 2019, TRADES                          (defenses/trades.py)
    "fast-at"  Wong, Rice & Kolter 2020, FGSM from a random start (defenses/fast_at.py)
    "noise"    Cohen et al. 2019, Gaussian noise augmentation     (defenses/gaussian_noise.py)

An objective is an object with ``loss(model, images, labels, generator) -> TrainingStep``: the
scalar to minimise, the logits the training accuracy is read from, and the images the model
was trained on (adversarial, noisy or clean). The inner maximisation differentiates with respect
to the images only and runs with the model in eval mode (``Attack.__call__``), so it leaves no
gradients in the parameters; ``generator`` draws every random start and noise sample, which
keeps a run reproducible from its seed. ``evaluation_inputs`` gives the held-out images the
training curves measure robustness on (PGD-10 at the training eps, or noise at sigma), and
``epoch_check`` lets an objective stop training (fast-at's guard against catastrophic
overfitting). ``OBJECTIVES`` names the classes by import path, since their files import this one.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.attacks.pgd import PGD
from advlab.core.errors import AdvlabError

OBJECTIVES = {
    "none": "advlab.defenses.robust_training:StandardTraining",
    "pgd-at": "advlab.defenses.pgd_at:PGDAdversarialTraining",
    "trades": "advlab.defenses.trades:TRADES",
    "fast-at": "advlab.defenses.fast_at:FastAdversarialTraining",
    "noise": "advlab.defenses.gaussian_noise:GaussianNoiseTraining",
}
ADVERSARIAL = ("pgd-at", "trades", "fast-at")  # the objectives with an eps-ball threat model
EVALUATION_STEPS = 10  # PGD-10 measures the robustness the training curves show


@dataclass
class TrainingStep:
    """One minibatch of an objective: ``loss`` (scalar) to minimise, ``logits`` (N, classes) on
    ``inputs`` (N, C, H, W), the images the model trained on."""

    loss: Tensor
    logits: Tensor
    inputs: Tensor


@dataclass
class EpochCheck:
    """An objective's verdict after an epoch: its figures and whether to stop (and roll back)."""

    figures: dict[str, float]
    stop: bool = False
    reason: str = ""


class TrainingObjective:
    """Base class: cross-entropy on the clean batch; no robustness measure, no epoch check."""

    name = "none"
    evaluation_key: str | None = None  # the metrics key of the held-out robustness measure
    evaluation_label = ""  # that measure in words

    def loss(self, model: nn.Module, images: Tensor, labels: Tensor, generator: torch.Generator) -> TrainingStep:
        logits = model(images)
        return TrainingStep(F.cross_entropy(logits, labels), logits, images)

    def evaluation_inputs(self, model: nn.Module, images: Tensor, labels: Tensor, seed: int) -> Tensor:
        """Held-out images to measure robustness on (the same draw every epoch for one seed)."""
        raise NotImplementedError

    def epoch_check(self, model: nn.Module, images: Tensor, labels: Tensor, seed: int) -> EpochCheck | None:
        return None

    def options(self) -> dict[str, float | int | str]:
        """The objective's hyper-parameters, for summaries."""
        return {}


class StandardTraining(TrainingObjective):
    """Empirical risk minimisation: CE(f(x), y) on the clean batch."""


class AdversarialObjective(TrainingObjective):
    """An objective with an Linf threat model of radius ``eps``; robustness measured by PGD-10."""

    evaluation_key = "test_robust_accuracy"

    def __init__(self, eps: float):
        self.eps = check_eps(eps, self.name)
        self.evaluation_label = f"PGD-{EVALUATION_STEPS} (Linf, eps {self.eps:g})"

    def evaluation_inputs(self, model: nn.Module, images: Tensor, labels: Tensor, seed: int) -> Tensor:
        return PGD(model, eps=self.eps, steps=EVALUATION_STEPS, seed=seed)(images, labels)


class GeneratorPGD(PGD):
    """PGD whose random starts come from a generator the caller owns (one stream for a whole run),
    instead of a generator re-seeded at every call."""

    def __init__(self, model: nn.Module, generator: torch.Generator, **options):
        super().__init__(model, **options)
        self.shared_generator = generator

    def generator(self, device: torch.device) -> torch.Generator:
        return self.shared_generator


def check_eps(eps, name: str) -> float:
    """An Linf radius for images in [0, 1]: a number in (0, 1]."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps <= 1:
        raise AdvlabError(f"{name}: eps must be a number in (0, 1] (images are in [0, 1]), got {eps!r}")
    return float(eps)


def objective_class(name: str) -> type[TrainingObjective]:
    """The objective registered as `name` in OBJECTIVES."""
    if name not in OBJECTIVES:
        raise AdvlabError(f"unknown training defense {name!r}; valid ones are: {', '.join(OBJECTIVES)}")
    module, _, attribute = OBJECTIVES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def make_objective(name: str, eps: float | None = None, steps: int = 10, alpha: float | None = None,
                   beta: float = 6.0, sigma: float | None = None) -> TrainingObjective:
    """The objective `name` with the options it uses (the others are ignored).

    eps: Linf radius (pgd-at, trades, fast-at); steps, alpha: the inner PGD's steps and step size
    (pgd-at, trades; fast-at's step is alpha, default 1.25 eps); beta: TRADES' weight of the KL
    term; sigma: the noise's standard deviation (noise).
    """
    cls = objective_class(name)
    if name in ADVERSARIAL and eps is None:
        raise AdvlabError(f"defense {name!r} needs eps, the Linf radius it trains against (e.g. --eps 0.2)")
    if name == "pgd-at":
        return cls(eps=eps, steps=steps, alpha=alpha)
    if name == "trades":
        return cls(eps=eps, steps=steps, alpha=alpha, beta=beta)
    if name == "fast-at":
        return cls(eps=eps, alpha=alpha)
    if name == "noise":
        if sigma is None:
            raise AdvlabError("defense 'noise' needs sigma, the noise's standard deviation (e.g. --sigma 0.25)")
        return cls(sigma=sigma)
    return cls()
