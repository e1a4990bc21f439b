"""VNI-FGSM: NI-FGSM with variance tuning.

Wang & He 2021, "Enhancing the Transferability of Adversarial Attacks through Variance Tuning", sec. 3.2:
VMI-FGSM's loop (advlab.attacks.vmifgsm) with NI-FGSM's look-ahead (Lin et al. 2020, eq. 8),

    g^_{t+1} = grad_x J(x_t + alpha * mu * g_t, y),
    g_{t+1}  = mu * g_t + (g^_{t+1} + v_t) / ||g^_{t+1} + v_t||_1,
    v_{t+1}  = (1 / N) * sum_{i=1}^{N} grad_x J(x_t + r_i, y) - g^_{t+1},   r_i ~ U[-beta eps, beta eps]^d,
    x_{t+1}  = Clip_{x, eps}( x_t + alpha * sign(g_{t+1}) ),

with N = 20, beta = 1.5, alpha = eps / T, T = 10, mu = 1.0. The paper writes Algorithm 1 for VMI and
says VNI "similarly"; the neighbours are drawn around the iterate x_t and the variance subtracts the
look-ahead gradient g^_{t+1}, as the authors' code (vni_fgsm.py) and torchattacks' VNIFGSM do.

Peer: torchattacks' VNIFGSM (defaults N = 5, alpha = 2/255; advlab keeps the paper's N = 20, eps / T).
"""

from __future__ import annotations

from advlab.attacks.momentum import NesterovLookAhead
from advlab.attacks.vmifgsm import VMIFGSM


class VNIFGSM(NesterovLookAhead, VMIFGSM):
    """VNI-FGSM (Wang & He 2021): ``VNIFGSM(model, eps=16/255, samples=20, beta=1.5)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: Linf budget, or a list of budgets.
        alpha: step size (default eps / steps, the paper's).
        steps: iterations T.
        decay: momentum decay factor mu (also scales the look-ahead).
        samples: neighbours N drawn per step for the gradient variance.
        beta: the neighbourhood's half-width, in units of eps (r_i ~ U[-beta eps, beta eps]).
        targeted: labels are target classes.
        seed: seed of the neighbours' draws (None: torch's global generator).
    """

    name = "vni-fgsm"
    paper = "Wang & He 2021, Enhancing the Transferability of Adversarial Attacks through Variance Tuning"
