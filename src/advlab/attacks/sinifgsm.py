"""SI-NI-FGSM: NI-FGSM on the gradient averaged over scaled copies of the image.

Lin, Song, He, Wang & Hopcroft 2020, "Nesterov Accelerated Gradient and Scale Invariance for Adversarial
Attacks", sec. 3.2, eq. (12) and Algorithm 1: a model's loss changes little when the image is scaled,
S_i(x) = x / 2^i, so the gradient is averaged over m such copies (a model augmentation for free),
taken at NI's look-ahead x^nes_t = x_t + alpha * mu * g_t:

    G_t     = (1 / m) * sum_{i=0}^{m-1} grad_x J(S_i(x^nes_t), y),
    g_{t+1} = mu * g_t + G_t / ||G_t||_1,
    x_{t+1} = Clip_{x, eps}( x_t + alpha * sign(g_{t+1}) ),

with the paper's m = 5, alpha = eps / T, T = 10, mu = 1.0. The gradient is with respect to x, so the
copy S_i contributes its gradient times 1 / 2^i (the chain rule; the authors' code and torchattacks
differentiate with respect to x as well). advlab applies S_i to the images as the model receives them,
in [0, 1] (the copies darken towards black), as torchattacks does; the paper's Inception models took
[-1, 1] inputs, where the same formula fades the image towards mid-grey.

Peer: torchattacks' SINIFGSM (defaults alpha = 2/255, eps = 8/255; advlab keeps alpha = eps / T).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.momentum import PAPER_EPS, PAPER_STEPS
from advlab.attacks.nifgsm import NIFGSM
from advlab.core.checks import check_int


class SINIFGSM(NIFGSM):
    """SI-NI-FGSM (Lin et al. 2020): ``SINIFGSM(model, eps=16/255, steps=10, scales=5)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: Linf budget, or a list of budgets.
        alpha: step size (default eps / steps, the paper's).
        steps: iterations T.
        decay: momentum decay factor mu (also scales the look-ahead).
        scales: the number m of scaled copies x / 2^i, i = 0 .. m - 1 (1: NI-FGSM).
        targeted: labels are target classes.
    """

    name = "si-ni-fgsm"
    paper = "Lin et al. 2020, Nesterov Accelerated Gradient and Scale Invariance for Adversarial Attacks"

    def __init__(self, model: nn.Module, eps=PAPER_EPS, alpha: float | None = None, steps: int = PAPER_STEPS,
                 decay: float = 1.0, scales: int = 5, targeted: bool = False):
        super().__init__(model, eps=eps, alpha=alpha, steps=steps, decay=decay, targeted=targeted)
        self.scales = check_int(f"{self.name}: scales", scales, 1)

    def gradient(self, point: Tensor, adversarial: Tensor, labels: Tensor, mask: Tensor | None,
                 generator: torch.Generator | None) -> Tensor:
        total = torch.zeros_like(point)
        for i in range(self.scales):
            total += self.loss_gradient(point / 2 ** i, labels, generator) / 2 ** i
        return total / self.scales
