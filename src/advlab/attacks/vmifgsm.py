"""VMI-FGSM: MI-FGSM with variance tuning.

Wang & He 2021, "Enhancing the Transferability of Adversarial Attacks through Variance Tuning", sec. 3.2,
eq. (5) and Algorithm 1: each step adds to the gradient the previous step's gradient variance v_t,
the mean gradient over a neighbourhood of the previous iterate minus the gradient there,

    g^_{t+1} = grad_x J(x_t, y),
    g_{t+1}  = mu * g_t + (g^_{t+1} + v_t) / ||g^_{t+1} + v_t||_1,
    v_{t+1}  = (1 / N) * sum_{i=1}^{N} grad_x J(x_t + r_i, y) - g^_{t+1},   r_i ~ U[-beta eps, beta eps]^d,
    x_{t+1}  = Clip_{x, eps}( x_t + alpha * sign(g_{t+1}) ),

with v_0 = 0 and the paper's N = 20, beta = 1.5, alpha = eps / T, T = 10, mu = 1.0. The variance
stabilises the update direction, which transfers better. The neighbours are gradient queries, not
candidates: they may leave the eps-ball and [0, 1] (as in the paper and the peers); with a mask, r_i is
zero on the pixels that must not change. Each step costs N + 1 gradients.

Peer: torchattacks' VMIFGSM, the same loop with N = 5 by default (the paper's 20 here) and alpha = 2/255.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.momentum import PAPER_EPS, PAPER_STEPS, MomentumIterative
from advlab.core.checks import check_int, check_number


class VMIFGSM(MomentumIterative):
    """VMI-FGSM (Wang & He 2021): ``VMIFGSM(model, eps=16/255, samples=20, beta=1.5)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: Linf budget, or a list of budgets.
        alpha: step size (default eps / steps, the paper's).
        steps: iterations T.
        decay: momentum decay factor mu.
        samples: neighbours N drawn per step for the gradient variance.
        beta: the neighbourhood's half-width, in units of eps (r_i ~ U[-beta eps, beta eps]).
        targeted: labels are target classes.
        seed: seed of the neighbours' draws (None: torch's global generator).
    """

    name = "vmi-fgsm"
    paper = "Wang & He 2021, Enhancing the Transferability of Adversarial Attacks through Variance Tuning"

    def __init__(self, model: nn.Module, eps=PAPER_EPS, alpha: float | None = None, steps: int = PAPER_STEPS,
                 decay: float = 1.0, samples: int = 20, beta: float = 1.5, targeted: bool = False,
                 seed: int | None = None):
        super().__init__(model, eps=eps, alpha=alpha, steps=steps, decay=decay, targeted=targeted, seed=seed)
        self.samples = check_int(f"{self.name}: samples", samples, 1)
        self.beta = check_number(f"{self.name}: beta", beta)
        self.variance: Tensor | None = None

    def begin(self, images: Tensor) -> None:
        self.variance = torch.zeros_like(images)

    def gradient(self, point: Tensor, adversarial: Tensor, labels: Tensor, mask: Tensor | None,
                 generator: torch.Generator | None) -> Tensor:
        """g^_{t+1} + v_t; keeps v_{t+1}, the variance around the iterate, for the next step."""
        grad = self.loss_gradient(point, labels, generator)
        tuned = grad + self.variance
        self.variance = self.neighbourhood_gradient(adversarial, labels, mask, generator) - grad
        return tuned

    def neighbourhood_gradient(self, adversarial: Tensor, labels: Tensor, mask: Tensor | None,
                               generator: torch.Generator | None) -> Tensor:
        """The mean of grad J at N points x_t + r_i, r_i uniform in the cube of half-width beta * eps."""
        radius, total = self.beta * self.eps, torch.zeros_like(adversarial)
        for _ in range(self.samples):
            noise = torch.rand(adversarial.shape, generator=generator, device=adversarial.device,
                               dtype=adversarial.dtype)
            offset = (2 * noise - 1) * radius
            if mask is not None:
                offset = offset * mask
            total += self.loss_gradient(adversarial + offset, labels, generator)
        return total / self.samples
