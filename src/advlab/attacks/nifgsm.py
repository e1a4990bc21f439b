"""NI-FGSM: momentum with a Nesterov look-ahead.

Lin, Song, He, Wang & Hopcroft 2020, "Nesterov Accelerated Gradient and Scale Invariance for Adversarial
Attacks", sec. 3.1, eqs. (8)-(10): g_0 = 0, x_0 = x, and for t = 0 .. T - 1

    x^nes_t = x_t + alpha * mu * g_t,
    g_{t+1} = mu * g_t + grad_x J(x^nes_t, y) / ||grad_x J(x^nes_t, y)||_1,
    x_{t+1} = Clip_{x, eps}( x_t + alpha * sign(g_{t+1}) ),

with the paper's alpha = eps / T, T = 10, mu = 1.0. Looking ahead along the accumulated direction
lets the iterates step over poor local maxima sooner. The look-ahead point is a gradient query, not
a candidate: it may leave the eps-ball and [0, 1] (as in the paper and the peers); with a mask it
moves only free pixels (the momentum is zero elsewhere).

The look-ahead's size depends on how g is normalised: the paper writes the L1 norm, under which every entry
of g_t is about t / d and the look-ahead all but vanishes (NI-FGSM then has MI-FGSM's robust accuracy);
advlab divides by the mean absolute value, as the authors' code and torchattacks do
(advlab.attacks.momentum, "The normalisation").

Peer: torchattacks' NIFGSM (defaults alpha = 2/255, eps = 8/255; advlab keeps alpha = eps / T).
"""

from __future__ import annotations

from torch import nn

from advlab.attacks.momentum import PAPER_EPS, PAPER_STEPS, MomentumIterative, NesterovLookAhead


class NIFGSM(NesterovLookAhead, MomentumIterative):
    """NI-FGSM (Lin et al. 2020): ``NIFGSM(model, eps=16/255, steps=10, decay=1.0)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: Linf budget, or a list of budgets.
        alpha: step size (default eps / steps, the paper's).
        steps: iterations T.
        decay: momentum decay factor mu (also scales the look-ahead).
        targeted: labels are target classes.
    """

    name = "ni-fgsm"
    paper = "Lin et al. 2020, Nesterov Accelerated Gradient and Scale Invariance for Adversarial Attacks"

    def __init__(self, model: nn.Module, eps=PAPER_EPS, alpha: float | None = None, steps: int = PAPER_STEPS,
                 decay: float = 1.0, targeted: bool = False):
        super().__init__(model, eps=eps, alpha=alpha, steps=steps, decay=decay, targeted=targeted)
