"""DeepFool: the smallest step to the nearest decision boundary of the linearised classifier.

Moosavi-Dezfooli, Fawzi & Frossard 2016, "DeepFool: a simple and accurate method to fool deep
neural networks", Algorithm 2 (multi-class). At the current iterate x_i, with f_k the logits,
k_0 the true class and, for every other candidate class k,

    w'_k = grad f_k(x_i) - grad f_k0(x_i),        f'_k = f_k(x_i) - f_k0(x_i),

the nearest boundary of the linearised classifier is l = argmin_k |f'_k| / ||w'_k||_2 and the step
to it is r_i = |f'_l| / ||w'_l||_2^2 * w'_l (eq. 8; for an affine classifier this is exact and is
eq. 3's r = -f(x) w / ||w||^2 in the two-class case). The iterates are x_{i+1} = x_i + r_i, clipped
to [0, 1], and r = x_{i+1} - x_0 is their total. Since the iterates may converge onto the boundary
rather than cross it, the result is x_0 + (1 + overshoot) * r (sec. 3.2, "multiplied by a constant
1 + eta", eta = 0.02), clipped; an image stops as soon as that overshot point is misclassified
(the authors' code also tests the overshot point), or after ``steps`` iterations.

``norm="linf"`` is the l_inf variant of sec. 3.3 (q = 1, the dual norm): l = argmin_k |f'_k| /
||w'_k||_1 and r_i = |f'_l| / ||w'_l||_1 * sign(w'_l) (eq. 11).

As in the authors' code only the ``classes`` classes with the largest clean logits are candidates
(the true class included), which bounds the backward passes per iteration to ``classes``; all
images are attacked at once and an image that has flipped stops changing. With a mask the
linearisation is restricted to the pixels that may change (the gradients are zeroed elsewhere),
so r_i is the smallest step within that subspace. DeepFool minimises the perturbation itself:
it has no eps, and it is untargeted only (the paper's algorithm).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.lp import TINY, batch_view, check_norm, lp_norm
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError


class DeepFool(Attack):
    """DeepFool (Moosavi-Dezfooli et al. 2016): ``DeepFool(model, steps=50)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        steps: the most linearisation steps per image.
        overshoot: the total perturbation is scaled by 1 + overshoot (the paper's eta).
        classes: how many classes, by largest clean logit, are candidates (10, as the authors' code).
        norm: ``"l2"`` (Algorithm 2) or ``"linf"`` (sec. 3.3).
        targeted: must be False; DeepFool is an untargeted attack.
    """

    name = "deepfool"
    paper = ("Moosavi-Dezfooli, Fawzi & Frossard 2016, DeepFool: a simple and accurate method to fool deep neural "
             "networks")
    norms = ("l2", "linf")
    norm = None  # DeepFool minimises the perturbation; the results report its norms

    def __init__(self, model: nn.Module, steps: int = 50, overshoot: float = 0.02, classes: int = 10,
                 norm: str = "l2", targeted: bool = False):
        if targeted:
            raise AdvlabError(f"{self.name}: DeepFool is untargeted only (the paper's algorithm "
                              "moves to the nearest boundary); use cw or apgd for a targeted attack")
        super().__init__(model, eps=None, targeted=False)
        self.steps = check_int(f"{self.name}: steps", steps, 0)
        self.overshoot = check_number(f"{self.name}: overshoot", overshoot)
        self.classes = check_int(f"{self.name}: classes", classes, 2)
        self.distance = check_norm(norm, self.name)

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        candidates = self.candidate_classes(labels)
        total = torch.zeros_like(images)  # r = sum_i r_i, kept inside the box
        adversarial = images.clone()  # x_0 + (1 + overshoot) r, what the attack returns
        active = (self.clean_logits.argmax(1) == labels).nonzero().flatten()
        for _ in range(self.steps):
            if len(active) == 0:
                break
            step = self.linearised_step(images[active] + total[active], labels[active], candidates[active],
                                        None if mask is None else mask[active])
            total[active] = (images[active] + total[active] + step).clamp(0.0, 1.0) - images[active]
            adversarial[active] = (images[active] + (1 + self.overshoot) * total[active]).clamp(0.0, 1.0)
            active = active[self.predict(adversarial[active]).argmax(1) == labels[active]]
        return adversarial

    def candidate_classes(self, labels: Tensor) -> Tensor:
        """(N, K): the true class first, then the K - 1 other classes with the largest clean logits."""
        logits = self.clean_logits
        count = min(self.classes, logits.shape[1])
        others = logits.scatter(1, labels[:, None], float("-inf")).topk(count - 1, dim=1).indices
        return torch.cat([labels[:, None], others], dim=1)

    def linearised_step(self, x: Tensor, labels: Tensor, candidates: Tensor,
                        mask: Tensor | None) -> Tensor:
        """r_i: the step from x to the nearest boundary of the classifier linearised at x."""
        x = x.detach().requires_grad_(True)
        logits = self.model(x)
        chosen = logits.gather(1, candidates)  # (n, K), column 0 the true class
        grads = class_gradients(chosen, x)  # (K, n, ...)
        if mask is not None:
            grads = grads * mask
        w = (grads[1:] - grads[0]).transpose(0, 1)  # (n, K - 1, ...)
        f = (chosen[:, 1:] - chosen[:, :1]).detach()  # (n, K - 1)
        flat = w.flatten(2)
        dual = flat.abs().sum(2) if self.distance == "linf" else flat.norm(dim=2)
        nearest = (f.abs() / (dual + TINY)).argmin(1)
        rows = torch.arange(len(x), device=x.device)
        w_l, f_l, dual_l = w[rows, nearest], f[rows, nearest].abs(), dual[rows, nearest]
        if self.distance == "linf":
            step = batch_view(f_l / (dual_l + TINY), x) * w_l.sign()
        else:
            step = batch_view(f_l / (lp_norm(w_l, 2) ** 2 + TINY), x) * w_l
        return step.detach()


def class_gradients(chosen: Tensor, x: Tensor) -> Tensor:
    """(K, n, ...): the input gradient of each column of `chosen` (n, K), one backward per column.

    The rows of a batch do not interact, so the gradient of a column's sum gives every image's
    gradient of its own logit at once.
    """
    count = chosen.shape[1]
    grads = [torch.autograd.grad(chosen[:, k].sum(), x, retain_graph=k < count - 1)[0] for k in range(count)]
    return torch.stack(grads)
