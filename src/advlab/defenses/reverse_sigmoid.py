"""Reverse sigmoid: a deceptive perturbation of the probabilities a prediction API returns.

Lee, Edwards, Molloy & Su 2019 (IBM Research), "Defending Against NN Model Stealing Attacks Using Deceptive
Perturbations" (IEEE S&P Workshops; arXiv:1806.00054), sec. 3, eqs. (3)-(4): the API answers y (a probability
vector) with

    r(y)  = beta * ( s(gamma * s^-1(y)) - 1/2 )          (the reverse sigmoid perturbation, per class)
    y_hat = alpha * ( y - r(y) ),   alpha = 1 / sum_k ( y_k - r(y_k) )     (the perturbed, renormalised output)

with s the sigmoid and s^-1(y) = log(y / (1 - y)) its inverse (the logit), beta > 0 the magnitude and
gamma > 0 a "dataset and model specific convergence parameter". With gamma < 1, s(gamma s^-1(y)) is flatter
than y itself, so y - r(y) squeezes every probability towards 1/2 and *reverses* the order of the small ones
(near y = 0, y - r(y) ~ beta / 2 + y - beta y^gamma decreases with y): a copy trained on the answers (a
KL or cross-entropy on y_hat) learns misleading scores and their gradients, while the largest probability stays
the largest for a confident model, so the API's top-1 answer keeps its accuracy (the paper's "almost
intact": it can change where the top class is below about 1/2 and some other class is nearly 0; the tests
measure how often on digits).

Departures from the paper, both needed for a probability vector: y - r(y) is clipped at 0 before the
renormalisation (it goes negative only for beta > 1; the paper leaves it unclipped), and a row whose every
entry clips to 0 would be uniform (it cannot happen for beta <= 2). s^-1(0) = -inf and s^-1(1) = +inf are taken
exactly (r(0) = -beta / 2, r(1) = beta / 2), in float64.

Where ART's ``ReverseSigmoid`` (art/defences/postprocessor/reverse_sigmoid.py) departs: it clips y to
[1e-9, 1 - 1e-9] before the logit, so every probability below 1e-9 -- the usual case for the other classes of a
confident network -- gets r(1e-9) instead of r(y) (for gamma 0.1 about -0.388 beta instead of up to -0.5 beta);
and it clips y - r(y) at 1 as well as 0 (which binds only for beta > 1). On probabilities in [1e-9, 1 - 1e-9] with
beta <= 1 the two agree (tests/test_output_defenses.py).
"""

from __future__ import annotations

import torch
from torch import Tensor

from advlab.core.checks import check_number


class ReverseSigmoid:
    """Lee et al. 2019's reverse sigmoid on probability vectors (N, K) -> (N, K); see the module docstring.

    Args:
        beta: the perturbation's magnitude, > 0 (ART's default 1).
        gamma: the convergence parameter, > 0; below 1 it flattens and reverses the small probabilities
            (ART's default 0.1).
    """

    name = "reverse sigmoid"
    output = "probabilities"

    def __init__(self, beta: float = 1.0, gamma: float = 0.1):
        self.beta = check_number("reverse sigmoid: beta", beta, 0.0, strict=True)
        self.gamma = check_number("reverse sigmoid: gamma", gamma, 0.0, strict=True)

    @property
    def spec(self) -> str:
        return f"reverse-sigmoid:beta={self.beta:g},gamma={self.gamma:g}"

    def perturbation(self, probabilities: Tensor) -> Tensor:
        """r(y) = beta (s(gamma s^-1(y)) - 1/2), elementwise (eq. 3)."""
        return self.beta * (torch.sigmoid(self.gamma * torch.logit(probabilities)) - 0.5)

    def __call__(self, probabilities: Tensor) -> Tensor:
        y = probabilities.double().clamp(0.0, 1.0)
        perturbed = (y - self.perturbation(y)).clamp_min(0.0)
        total = perturbed.sum(1, keepdim=True)
        uniform = torch.full_like(perturbed, 1.0 / perturbed.shape[1])
        return torch.where(total > 0, perturbed / total.clamp_min(1e-300), uniform).to(probabilities.dtype)

    def __repr__(self) -> str:
        return f"ReverseSigmoid(beta={self.beta!r}, gamma={self.gamma!r})"


__all__ = ["ReverseSigmoid"]
