"""Transfer attack: adversarial examples crafted on a surrogate model (or an ensemble of them), shown to the victim.

Szegedy et al. 2014, "Intriguing properties of neural networks", sec. 4.3 (adversarial examples
made for one network fool others trained differently), and Papernot, McDaniel & Goodfellow 2016,
"Transferability in Machine Learning: from Phenomena to Black-Box Attacks using Adversarial
Samples", sec. 3: the attacker runs a white-box attack on a surrogate it owns and hands the result
to the victim, whose gradients it never sees. The white-box attack is any registered attack that
works inside a budget with gradients (fgsm, bim, pgd, apgd, and the transfer-minded momentum,
input-diversity and translation-invariant FGSMs where they are registered); ``alpha``, ``steps``
and ``norm`` go to it where its signature takes them, the rest of its options keep their defaults.

Ensemble surrogate (Liu, Chen, Liu & Song 2017, "Delving into Transferable Adversarial Examples and
Black-box Attacks", sec. 3.2, eq. 4; Dong et al. 2018, "Boosting Adversarial Attacks with Momentum",
sec. 3.2): given a list of surrogates, the attack is run on their fusion (advlab.attacks.ensemble),
by default the weighted sum of their logits, l(x) = sum_k w_k l_k(x) with equal weights, which Dong
et al. found to transfer best; ``fusion="softmax"`` attacks Liu et al.'s weighted mean of the softmax
outputs instead.

The victim is queried once per image, by the base class's clean pass (so ``queries`` is 1 per
image), and its success is measured by the base class on the result; all the work is done on the
surrogate. The surrogates may live on other devices than the victim; the images go to them and the
result comes back. Masks, eps lists and targeted attacks work as in the white-box attack.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack, minimises_norm
from advlab.attacks.ensemble import Ensemble
from advlab.attacks.lp import check_norm
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.core.parameters import required_parameters, taken_options

NORM_WORDS = {"linf": "Linf", "l2": "L2", "l1": "L1", "l0": "L0"}


def white_box_attacks() -> dict[str, type[Attack]]:
    """The registered attacks a transfer attack can run on its surrogate (registry order)."""
    from advlab.attacks import ATTACKS  # here, not at the top: advlab.attacks imports this module

    return {name: cls for name, cls in ATTACKS.items() if refusal(cls) is None}


def refusal(cls: type[Attack]) -> str | None:
    """Why `cls` cannot be the white-box attack on a surrogate (None: it can)."""
    if getattr(cls, "black_box", False):
        return "a black-box attack; the surrogate is attacked with its gradients"
    if hasattr(cls, "fit"):
        return "an attack that learns before it attacks (fit), not a gradient attack on a budget"
    if getattr(cls, "threat", None):
        return f"an attack with its own kind of perturbation ({cls.threat}), not a budget eps"
    if minimises_norm(cls):
        return "a minimum-norm attack; a transfer attack works inside the budget eps"
    if "eps" not in taken_options(cls, {"eps": None}):
        return "an attack without a budget eps"
    needed = required_parameters(cls)
    if needed:
        return f"an attack that needs {', '.join(needed)}, which a transfer attack cannot give it"
    return None


def surrogate_module(surrogate, weights, fusion: str, owner: str) -> nn.Module:
    """The module to attack: `surrogate` itself, or the fusion of a list of them (advlab.attacks.ensemble)."""
    if isinstance(surrogate, (list, tuple)):
        return Ensemble(surrogate, weights, fusion, owner)
    if not isinstance(surrogate, nn.Module):
        raise AdvlabError(f"{owner}: surrogate must be a torch.nn.Module or a list of them, got "
                          f"{type(surrogate).__name__}")
    if weights is None and fusion == "logits":
        return surrogate
    return Ensemble([surrogate], weights, fusion, owner)


class Transfer(Attack):
    """Transfer attack (Papernot et al. 2016): ``Transfer(victim, surrogate, attack="pgd", eps=0.1)(images, labels)``.

    Args:
        model: the victim; maps images in [0, 1] to logits (N, classes). Only its clean pass is used.
        surrogate: the attacker's own model, attacked white-box, or a list of them (an ensemble surrogate:
            their fusion is attacked); same inputs and classes as the victim.
        attack: the white-box attack run on the surrogate: any registered attack with gradients and a budget
            (``"fgsm"``, ``"bim"``, ``"pgd"``, ``"apgd"``, ``"mi-fgsm"``, ...).
        eps: radius of the ball (Linf or L2), or a list of radii.
        alpha: step size of the white-box attack, where it takes one (default: that attack's own default).
        steps: iterations of the white-box attack, where it takes them (default: that attack's own default).
        norm: ``"linf"`` or ``"l2"`` (passed to the white-box attack where it takes a norm; else it must be
            that attack's own).
        weights: one weight per surrogate, normalised to sum 1 (None: equal weights).
        fusion: how an ensemble's outputs are fused: ``"logits"`` (weighted sum of the logits, Dong et al. 2018)
            or ``"softmax"`` (weighted mean of the softmax outputs, Liu et al. 2017).
        targeted: labels are target classes.
        seed: seed of the white-box attack's randomness, where it has any (None: torch's global generator).
    """

    name = "transfer"
    paper = ("Papernot, McDaniel & Goodfellow 2016, Transferability in Machine Learning: from Phenomena to "
             "Black-Box Attacks using Adversarial Samples")
    norms = ("linf", "l2")
    black_box = True
    feedback = "surrogate"

    def __init__(self, model: nn.Module, surrogate: nn.Module | tuple[nn.Module, ...], attack: str = "pgd",
                 eps=8 / 255, alpha: float | None = None, steps: int | None = None, norm: str = "linf",
                 weights: tuple[float, ...] | None = None, fusion: str = "logits", targeted: bool = False,
                 seed: int | None = None):
        super().__init__(model, eps=eps, targeted=targeted, seed=seed)
        self.surrogate = surrogate_module(surrogate, weights, fusion, self.name)
        self.attack = attack
        self.alpha = None if alpha is None else check_number(f"{self.name}: alpha", alpha, 0.0, strict=True)
        self.steps = None if steps is None else check_int(f"{self.name}: steps", steps, 1)
        self.norm = check_norm(norm, self.name)
        self.check_white_box()

    def white_box_class(self) -> type[Attack]:
        from advlab.attacks import ATTACKS  # here, not at the top: advlab.attacks imports this module

        if self.attack in ATTACKS and refusal(ATTACKS[self.attack]) is not None:
            raise AdvlabError(f"{self.name}: {self.attack!r} cannot attack the surrogate: it is "
                              f"{refusal(ATTACKS[self.attack])}; valid attacks are: {', '.join(white_box_attacks())}")
        if self.attack not in ATTACKS:
            raise AdvlabError(f"{self.name}: unknown white-box attack {self.attack!r}; valid attacks are: "
                              f"{', '.join(white_box_attacks())}")
        return ATTACKS[self.attack]

    def check_white_box(self) -> None:
        """Refuse options the chosen attack cannot take, then build it once so that it checks the rest."""
        cls = self.white_box_class()
        taken = taken_options(cls, {"alpha": None, "steps": None, "norm": None, "targeted": None})
        for option in ("alpha", "steps"):
            if getattr(self, option) is not None and option not in taken:
                raise AdvlabError(f"{self.name}: {self.attack} takes no {option}; leave it out")
        if "norm" not in taken and self.norm != cls.norm:
            raise AdvlabError(f"{self.name}: {cls.__name__} is an {NORM_WORDS.get(cls.norm, cls.norm)} attack; "
                              f"norm={self.norm!r} needs an attack that takes a norm, such as pgd")
        if self.targeted and "targeted" not in taken:
            raise AdvlabError(f"{self.name}: {self.attack} has no targeted mode")
        try:
            self.white_box()
        except AdvlabError as error:
            raise AdvlabError(f"{self.name}: {error}") from None

    def white_box(self) -> Attack:
        """The white-box attack on the surrogate at the current eps (a list of them before the attack runs)."""
        cls = self.white_box_class()
        options = taken_options(cls, {"eps": self.eps, "alpha": self.alpha, "steps": self.steps, "norm": self.norm,
                                      "targeted": self.targeted, "seed": self.seed})
        given = {name: value for name, value in options.items()
                 if (value is not None or name == "seed") and (name != "targeted" or value)}
        return cls(self.surrogate, **given)

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        self.queries = torch.ones(len(images), dtype=torch.int64, device=images.device)  # the clean pass
        return self.white_box()(images, labels, mask)

    def __repr__(self) -> str:
        shown = {k: v for k, v in vars(self).items() if k not in ("model", "surrogate", "clean_logits", "queries")}
        if isinstance(self.surrogate, Ensemble):
            members = ", ".join(type(member).__name__ for member in self.surrogate.members)
            shown["surrogate"] = f"Ensemble({members}; {self.surrogate.extra_repr()})"
        else:
            shown["surrogate"] = type(self.surrogate).__name__
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"
