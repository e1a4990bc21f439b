"""Transfer attack: adversarial examples crafted on a surrogate model, then shown to the victim.

Szegedy et al. 2014, "Intriguing properties of neural networks", sec. 4.3 (adversarial examples
made for one network fool others trained differently), and Papernot, McDaniel & Goodfellow 2016,
"Transferability in Machine Learning: from Phenomena to Black-Box Attacks using Adversarial
Samples", sec. 3: the attacker runs a white-box attack (here FGSM, BIM or PGD) on a surrogate
it owns and hands the result to the victim, whose gradients it never sees.

The victim is queried once per image, by the base class's clean pass (so ``queries`` is 1 per
image), and its success is measured by the base class on the result; all the work is done on the
surrogate. The surrogate may live on another device than the victim; the images go to it and the
result comes back. Masks, eps lists and targeted attacks work as in the white-box attack.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.bim import BIM
from advlab.attacks.fgsm import FGSM
from advlab.attacks.lp import check_norm
from advlab.attacks.pgd import PGD
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError

WHITE_BOX = ("fgsm", "bim", "pgd")


class Transfer(Attack):
    """Transfer attack: ``Transfer(victim, surrogate, attack="pgd", eps=0.1)(images, labels)``.

    Args:
        model: the victim; maps images in [0, 1] to logits (N, classes). Only its clean pass is used.
        surrogate: the attacker's own model, attacked white-box; same inputs and classes as the victim.
        attack: the white-box attack run on the surrogate: ``"fgsm"``, ``"bim"`` or ``"pgd"``.
        eps: radius of the ball (Linf or L2), or a list of radii.
        alpha: step size of BIM or PGD (default: that attack's own default).
        steps: iterations of BIM or PGD (default: that attack's own default).
        norm: ``"linf"`` or ``"l2"`` (FGSM and PGD; BIM is Linf only).
        targeted: labels are target classes.
        seed: seed of PGD's random start (None: torch's global generator).
    """

    name = "transfer"
    black_box = True

    def __init__(self, model: nn.Module, surrogate: nn.Module, attack: str = "pgd", eps=8 / 255,
                 alpha: float | None = None, steps: int | None = None, norm: str = "linf",
                 targeted: bool = False, seed: int | None = None):
        super().__init__(model, eps=eps, targeted=targeted, seed=seed)
        if not isinstance(surrogate, nn.Module):
            raise AdvlabError(f"{self.name}: surrogate must be a torch.nn.Module, got {type(surrogate).__name__}")
        if attack not in WHITE_BOX:
            raise AdvlabError(f"{self.name}: unknown white-box attack {attack!r}; valid attacks are: "
                              f"{', '.join(WHITE_BOX)}")
        self.surrogate = surrogate
        self.attack = attack
        self.alpha = None if alpha is None else check_number(f"{self.name}: alpha", alpha, 0.0, strict=True)
        self.steps = None if steps is None else check_int(f"{self.name}: steps", steps, 1)
        self.norm = check_norm(norm, self.name)
        if attack == "bim" and self.norm != "linf":
            raise AdvlabError(f"{self.name}: BIM is an Linf attack; use attack='pgd' for norm={norm!r}")

    def white_box(self) -> Attack:
        """The white-box attack on the surrogate at the current eps."""
        if self.attack == "fgsm":
            return FGSM(self.surrogate, eps=self.eps, norm=self.norm, targeted=self.targeted)
        options = {} if self.alpha is None else {"alpha": self.alpha}
        if self.attack == "bim":
            return BIM(self.surrogate, eps=self.eps, steps=self.steps, targeted=self.targeted, **options)
        if self.steps is not None:
            options["steps"] = self.steps
        return PGD(self.surrogate, eps=self.eps, norm=self.norm, targeted=self.targeted, seed=self.seed, **options)

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        self.queries = torch.ones(len(images), dtype=torch.int64, device=images.device)  # the clean pass
        return self.white_box()(images, labels, mask)

    def __repr__(self) -> str:
        shown = {k: v for k, v in vars(self).items() if k not in ("model", "surrogate", "clean_logits", "queries")}
        shown["surrogate"] = type(self.surrogate).__name__
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"
