"""MI-FGSM: the iterative fast gradient sign method with momentum.

Dong, Liao, Pang, Su, Zhu, Hu & Li 2018, "Boosting Adversarial Attacks with Momentum", sec. 3.1,
Algorithm 1, eqs. (6)-(7): g_0 = 0, x_0 = x, and for t = 0 .. T - 1

    g_{t+1} = mu * g_t + grad_x J(x_t, y) / ||grad_x J(x_t, y)||_1,
    x_{t+1} = Clip_{x, eps}( x_t + alpha * sign(g_{t+1}) ),

with the paper's alpha = eps / T, T = 10, mu = 1.0 and (ImageNet) eps = 16/255. The momentum keeps
the direction of earlier steps, so the iterates leave poor local maxima and transfer better to other
models. The loop is ``MomentumIterative`` (advlab.attacks.momentum), which the rest of the family
changes one hook at a time.

Peers: torchattacks' MIFGSM defaults to alpha = 2/255 and eps = 8/255 (so T = 10 steps travel 2.5 eps);
advlab keeps the paper's alpha = eps / T. Like the authors' code, advlab and torchattacks divide the
gradient by its mean absolute value, ||grad||_1 / d (advlab.attacks.momentum says why); ART's
MomentumIterativeMethod by the L1 norm. The factor d is the same at every step, so all three give the
same images.
"""

from __future__ import annotations

from torch import nn

from advlab.attacks.momentum import PAPER_EPS, PAPER_STEPS, MomentumIterative


class MIFGSM(MomentumIterative):
    """MI-FGSM (Dong et al. 2018): ``MIFGSM(model, eps=16/255, steps=10, decay=1.0)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: Linf budget, or a list of budgets.
        alpha: step size (default eps / steps, the paper's).
        steps: iterations T.
        decay: momentum decay factor mu (0: BIM / I-FGSM with steps of eps / T).
        targeted: labels are target classes.
    """

    name = "mi-fgsm"
    paper = "Dong et al. 2018, Boosting Adversarial Attacks with Momentum"

    def __init__(self, model: nn.Module, eps=PAPER_EPS, alpha: float | None = None, steps: int = PAPER_STEPS,
                 decay: float = 1.0, targeted: bool = False):
        super().__init__(model, eps=eps, alpha=alpha, steps=steps, decay=decay, targeted=targeted)
