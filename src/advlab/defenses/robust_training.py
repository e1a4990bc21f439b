"""Training objectives by name: plain cross-entropy and the robust ones, behind one interface.

Robust training is the second min-max game of the house (DESIGN.md): min over theta of the
expected max over delta of the loss. Each objective lives in its own file, citing its paper:

    "none"     cross-entropy on the clean batch (this file)
    "pgd-at"   Madry et al. 2018, PGD adversarial training        (defenses/pgd_at.py)
    "trades"   Zhang et al. 2019, TRADES                          (defenses/trades.py)
    "fast-at"  Wong, Rice & Kolter 2020, FGSM from a random start (defenses/fast_at.py)
    "noise"    Cohen et al. 2019, Gaussian noise augmentation     (defenses/gaussian_noise.py)
    "mart"     Wang et al. 2020, MART (misclassification-aware)   (defenses/mart.py)
    "ibp"      Gowal et al. 2019, verified training with interval bound propagation (defenses/ibp.py)
    with awp_gamma: Wu, Xia & Wang 2020, adversarial weight perturbation on top of pgd-at, trades or mart
                                                                  (defenses/awp.py)

and three training baselines that are NOT adversarial defenses (no threat model, no robustness measure; they
are here to be compared against):

    "label-smoothing"  Szegedy et al. 2016, sec. 7               (defenses/label_smoothing.py)
    "mixup"            Zhang et al. 2018, eq. (1)                (defenses/mixup.py)
    "cutmix"           Yun et al. 2019, eq. (1)-(2)              (defenses/mixup.py)

An objective is an object with ``loss(model, images, labels, generator) -> TrainingStep``: the
scalar to minimise, the logits the training accuracy is read from, and the images the model
was trained on (adversarial, noisy or clean). The inner maximisation differentiates with respect
to the images only and runs with the model in eval mode (``Attack.__call__``), so it leaves no
gradients in the parameters; ``generator`` draws every random start and noise sample, which
keeps a run reproducible from its seed. ``evaluation_inputs`` gives the held-out images the
training curves measure robustness on (PGD-10 at the training eps, or noise at sigma), and
``epoch_check`` lets an objective stop training (fast-at's guard against catastrophic
overfitting). ``OBJECTIVES`` names the classes by import path, since their files import this one.
A step may carry ``restore``: called by the training loop once the gradients are in ``.grad`` and before the
optimiser step (AWP puts the weights back to w there, so that the step taken at w + v moves w).
An adversarial objective whose outer loss is a function of (x, x', y) -- pgd-at, trades, mart -- splits
``loss`` into ``craft`` (the inner maximisation) and ``loss_on`` (the outer loss at given x'), which AWP needs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
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
    "mart": "advlab.defenses.mart:MART",
    "ibp": "advlab.defenses.ibp:IBPTraining",
    "label-smoothing": "advlab.defenses.label_smoothing:LabelSmoothing",
    "mixup": "advlab.defenses.mixup:Mixup",
    "cutmix": "advlab.defenses.mixup:CutMix",
}
ADVERSARIAL = ("pgd-at", "trades", "fast-at", "mart", "ibp")  # the objectives with an eps-ball threat model
WEIGHT_PERTURBED = ("pgd-at", "trades", "mart")  # the objectives AWP (defenses/awp.py) can be put on
EVALUATION_STEPS = 10  # PGD-10 measures the robustness the training curves show


@dataclass
class TrainingStep:
    """One minibatch of an objective: ``loss`` (scalar) to minimise, ``logits`` (N, classes) on
    ``inputs`` (N, C, H, W), the images the model trained on; ``restore``, when set, is called after the
    backward pass and before the optimiser step (AWP: the weights back to w)."""

    loss: Tensor
    logits: Tensor
    inputs: Tensor
    restore: Callable[[], None] | None = None


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

    def loss(self, model: nn.Module, images: Tensor, labels: Tensor, generator: torch.Generator) -> TrainingStep:
        return self.loss_on(model, images, labels, self.craft(model, images, labels, generator))

    def craft(self, model: nn.Module, images: Tensor, labels: Tensor, generator: torch.Generator) -> Tensor:
        """The inner maximisation: x' (detached) in the eps-ball and [0, 1]."""
        raise NotImplementedError

    def loss_on(self, model: nn.Module, images: Tensor, labels: Tensor, adversarial: Tensor) -> TrainingStep:
        """The outer loss at the given adversarial images x'."""
        raise NotImplementedError


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
                   beta: float = 6.0, sigma: float | None = None, awp_gamma: float | None = None,
                   smoothing: float | None = None, mixup_alpha: float | None = None,
                   cutmix_alpha: float | None = None) -> TrainingObjective:
    """The objective `name` with the options it uses (the others are ignored).

    eps: Linf radius (pgd-at, trades, fast-at, mart); steps, alpha: the inner PGD's steps and step size
    (pgd-at, trades, mart; fast-at's step is alpha, default 1.25 eps); beta: TRADES' weight of the KL
    term, and MART's lambda; sigma: the noise's standard deviation (noise); awp_gamma: AWP's relative weight
    perturbation on top of pgd-at, trades or mart (None: no AWP); smoothing, mixup_alpha, cutmix_alpha: the
    baselines' options (None: their papers' defaults).
    """
    objective = base_objective(name, eps, steps, alpha, beta, sigma, smoothing, mixup_alpha, cutmix_alpha)
    if awp_gamma is None:
        return objective
    if name not in WEIGHT_PERTURBED:
        raise AdvlabError(f"adversarial weight perturbation (awp_gamma) applies only to defenses "
                          f"{', '.join(WEIGHT_PERTURBED)}, not {name!r}")
    from advlab.defenses.awp import AdversarialWeightPerturbation  # awp.py imports this file

    return AdversarialWeightPerturbation(objective, gamma=awp_gamma)


def base_objective(name: str, eps: float | None, steps: int, alpha: float | None, beta: float,
                   sigma: float | None, smoothing: float | None, mixup_alpha: float | None,
                   cutmix_alpha: float | None) -> TrainingObjective:
    """make_objective without AWP."""
    cls = objective_class(name)
    if name in ADVERSARIAL and eps is None:
        raise AdvlabError(f"defense {name!r} needs eps, the Linf radius it trains against (e.g. --eps 0.2)")
    if name == "pgd-at":
        return cls(eps=eps, steps=steps, alpha=alpha)
    if name in ("trades", "mart"):
        return cls(eps=eps, steps=steps, alpha=alpha, beta=beta)
    optional = {"label-smoothing": ("smoothing", smoothing), "mixup": ("alpha", mixup_alpha),
                "cutmix": ("alpha", cutmix_alpha)}
    if name in optional:
        key, value = optional[name]
        return cls() if value is None else cls(**{key: value})
    if name == "fast-at":
        return cls(eps=eps, alpha=alpha)
    if name == "ibp":  # its eps/kappa schedule: advlab.pipelines.train_classifier.training_objective
        return cls(eps=eps)
    if name == "noise":
        if sigma is None:
            raise AdvlabError("defense 'noise' needs sigma, the noise's standard deviation (e.g. --sigma 0.25)")
        return cls(sigma=sigma)
    return cls()
