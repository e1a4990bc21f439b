"""The fast gradient sign method.

Goodfellow, Shlens & Szegedy 2015, "Explaining and Harnessing Adversarial Examples", sec. 4:

    x_adv = x + eps * sign(grad_x J(theta, x, y)),

one step to the corner of the Linf ball that the loss's linearisation favours; targeted, one step
down the loss of the target class. ``norm="l2"`` takes the step along the normalised gradient
instead (the "fast gradient method" of Miyato et al. 2016 / Kurakin et al.'s FGM), which is the
largest first-order increase within an L2 ball. The result is clipped to [0, 1] and the mask.
"""

from __future__ import annotations

from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.losses import input_gradient
from advlab.attacks.lp import check_norm, l2_step, linf_bounds, linf_step


class FGSM(Attack):
    """FGSM (Goodfellow et al. 2015): ``FGSM(model, eps=0.1)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: the step, which is the radius of the ball; or a list of them.
        norm: ``"linf"`` (the paper's sign step) or ``"l2"`` (normalised gradient).
        targeted: labels are target classes.
    """

    name = "fgsm"
    paper = "Goodfellow, Shlens & Szegedy 2015, Explaining and Harnessing Adversarial Examples"
    norms = ("linf", "l2")
    uses_clean_logits = False

    def __init__(self, model: nn.Module, eps=8 / 255, norm: str = "linf", targeted: bool = False):
        super().__init__(model, eps=eps, targeted=targeted)
        self.norm = check_norm(norm, self.name)

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        grad, _ = input_gradient(self.model, images, labels, self.targeted)
        if self.norm == "linf":
            return linf_step(images, grad, self.eps, linf_bounds(images, self.eps, mask))
        return l2_step(images, images, grad, self.eps, self.eps, mask)
