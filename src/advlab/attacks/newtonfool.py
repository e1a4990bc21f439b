"""NewtonFool: Newton-like descent of the true class's probability until the image leaves its class.

Jang, Wu & Jha 2017, "Objective Metrics and Gradient Descent Algorithms for Adversarial Examples in
Machine Learning" (ACSAC), sec. 4. With F = softmax(logits) the model's probabilities, l the true
class and K the number of classes, the attack looks for a small d with F_l(x_0 + d) ~ 1/K (the point
where the model stops being confident in l) by linearising F_l at the current iterate x_i:

    delta_i = min( eta ||x_0||_2 ||grad F_l(x_i)||_2 ,  F_l(x_i) - 1/K )
    d_i     = -delta_i grad F_l(x_i) / ||grad F_l(x_i)||_2^2,          x_{i+1} = x_i + d_i.

The first term caps each step at eta ||x_0|| in L2 (a trust region); the second is the Newton step that
would bring F_l to 1/K if F_l were linear. eta = 0.01 and 100 steps are ART's defaults.

advlab follows the paper where ART departs from it:

* F is the softmax of the model's logits, as the paper defines it; ART's NewtonFool uses whatever its
  classifier's ``predict`` returns, so on a classifier that returns logits (ART's PyTorchClassifier
  around a plain nn.Module) it descends the logit z_l, and compares z_l with 1/K.
* An image stops as soon as it is misclassified (the paper looks for a small d; a later step only
  moves the image further), and a misclassified clean image is returned unchanged; ART runs every
  step on every image, which drives F_l to the level set 1/K and past the boundary.
* The iterates are kept in [0, 1] (advlab's convention); ART clips only the final image.

NewtonFool is untargeted only (the paper's algorithm lowers the true class's probability). With a mask
the gradient is zeroed outside it, so the step and its norm live in the pixels that may change.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.lp import TINY, batch_view, lp_norm
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError


class NewtonFool(Attack):
    """NewtonFool (Jang et al. 2017): ``NewtonFool(model, steps=100, eta=0.01)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        steps: the most Newton steps per image (ART's max_iter).
        eta: each step moves the image at most eta * ||x_0||_2 in L2 (the paper's eta).
        targeted: must be False; NewtonFool is an untargeted attack.
    """

    name = "newtonfool"
    paper = ("Jang, Wu & Jha 2017, Objective Metrics and Gradient Descent Algorithms for Adversarial Examples in "
             "Machine Learning")
    norm = None  # NewtonFool minimises the perturbation; the results report its norms
    norms = ("l2",)
    minimum_norm = True

    def __init__(self, model: nn.Module, steps: int = 100, eta: float = 0.01, targeted: bool = False):
        if targeted:
            raise AdvlabError(f"{self.name}: NewtonFool is untargeted only (the paper's algorithm lowers the true "
                              "class's probability); use cw or apgd for a targeted attack")
        super().__init__(model, eps=None, targeted=False)
        self.steps = check_int(f"{self.name}: steps", steps, 0)
        self.eta = check_number(f"{self.name}: eta", eta, strict=True)

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        classes = self.clean_logits.shape[1]
        trust = self.eta * lp_norm(images, 2)  # eta ||x_0||, per image
        adversarial = images.clone()
        active = torch.arange(len(images), device=images.device)
        for _ in range(self.steps):
            probability, grad, logits = self.true_class_probability(
                adversarial[active], labels[active], None if mask is None else mask[active])
            still = logits.argmax(1) == labels[active]
            active, probability, grad = active[still], probability[still], grad[still]
            if len(active) == 0:
                break
            # grad F_l = F_l grad log F_l: the same step written with the log-probability's gradient, which
            # stays representable where a saturated softmax rounds F_l to 1 and its gradient to 0
            grad_norm = lp_norm(grad, 2).clamp(min=TINY)
            length = torch.minimum(trust[active], (probability - 1.0 / classes) / (probability * grad_norm))
            step = -batch_view(length / grad_norm, grad) * grad  # d_i = -delta_i grad F_l / ||grad F_l||^2
            adversarial[active] = (adversarial[active] + step).clamp(0.0, 1.0)
        return adversarial

    def true_class_probability(self, x: Tensor, labels: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """(F_l(x), grad log F_l(x) (zero outside the mask), logits) for each image."""
        x = x.detach().requires_grad_(True)
        logits = self.model(x)
        log_probability = logits.log_softmax(1).gather(1, labels[:, None])[:, 0]
        grad, = torch.autograd.grad(log_probability.sum(), x)
        if mask is not None:
            grad = grad * mask
        return log_probability.detach().exp(), grad, logits.detach()
