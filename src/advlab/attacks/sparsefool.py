"""SparseFool: a few pixels, found by crossing DeepFool's linearised boundary one coordinate at a time.

Modas, Moosavi-Dezfooli & Frossard 2019, "SparseFool: a few pixels make a big difference" (CVPR),
sec. 3, Algorithms 1 and 2. Near an image the decision boundary is almost flat, so the sparsest
perturbation that crosses it is approximately the sparsest one that crosses its tangent hyperplane
{x : w^T (x - x_B) = 0}, an L1 problem (eq. 5) solved greedily in the box [l, u] = [0, 1]:

* Algorithm 2 (SparseFool). From x^(0) = x_0, until the image is misclassified: DeepFool (L2) from
  x^(i) gives r_adv; the boundary point is pushed further by lambda >= 1, x_B = x^(i) + lambda r_adv
  (lambda trades sparsity, small, for success, large; the authors' default 3), w = grad f_k(x_B) -
  grad f_{k(x_0)}(x_B) is the normal there (k the class of x_B; where x_B is still in the true class,
  the class DeepFool reached), and x^(i+1) = LinearSolver(x^(i), w, x_B).
* Algorithm 1 (LinearSolver). Repeatedly take the coordinate d with the largest |w_d| not used yet and
  move it by |w^T (x - x_B)| / |w_d| in the direction sign(w_d) that closes the gap, projected onto [0, 1];
  stop once the hyperplane is crossed. A coordinate either saturates at its bound (and the next largest
  |w_d| takes over) or closes the gap, so the loop is written here as one pass over the coordinates in
  decreasing |w_d|: cumulative sums of what each can contribute, |w_d| times its room to the bound.

As in the authors' code, the solver goes 1e-3 (in L2 along the unit normal) past the plane, an image
counts as fooled when x_0 + (1 + overshoot)(x^(i) - x_0) is misclassified, that overshot image is what
the attack returns, DeepFool runs up to 50 steps over the 10 classes with the largest logits, and the
outer loop runs up to 20 times. DeepFool's iterates are kept in [0, 1] (advlab's DeepFool convention).
The authors' code takes the normal at DeepFool's boundary point x^(i) + r_adv rather than at x_B; on the
digits CNN (lambda 3, 120 images) that is less sparse, median L0 8 against 5 at x_B, both 100 % success.

torchattacks' SparseFool departs from Algorithm 2 (tests/test_attack_sparsefool.py shows it): each
outer step runs the linear solver from the clean image x_0 instead of x^(i), with x_B = x_0 +
lambda (DeepFool(x^(i)) - x_0), so a step does not build on the coordinates found before; its DeepFool
overshoots every step and attacks one image at a time. It runs 10 outer steps by default.

All images are attacked at once; an image that is fooled stops. With a mask, w is zeroed outside it, so
neither DeepFool nor the solver moves a kept pixel. SparseFool is untargeted only (the paper's algorithm).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.deepfool import DeepFool
from advlab.attacks.lp import TINY, normalize_l2
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError

PAST_PLANE = 1e-3  # how far past the hyperplane the solver goes (the authors' beta), in L2 along the unit normal


class SparseFool(Attack):
    """SparseFool (Modas et al. 2019): ``SparseFool(model, steps=20, lam=3.0)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        steps: the most outer iterations (DeepFool + linear solver) per image (the authors' max_iter).
        lam: the paper's lambda >= 1: the boundary point is x^(i) + lam * DeepFool's perturbation; larger is more
            successful and less sparse.
        overshoot: an image is fooled when x_0 + (1 + overshoot)(x^(i) - x_0) is misclassified; also DeepFool's.
        deepfool_steps: the most DeepFool steps in each outer iteration.
        classes: how many classes, by largest logit, DeepFool considers.
        targeted: must be False; SparseFool is an untargeted attack.
    """

    name = "sparsefool"
    paper = "Modas, Moosavi-Dezfooli & Frossard 2019, SparseFool: a few pixels make a big difference"
    norm = None  # SparseFool minimises the number of changed coordinates; the results report its norms
    norms = ("l0",)
    minimum_norm = True

    def __init__(self, model: nn.Module, steps: int = 20, lam: float = 3.0, overshoot: float = 0.02,
                 deepfool_steps: int = 50, classes: int = 10, targeted: bool = False):
        if targeted:
            raise AdvlabError(f"{self.name}: SparseFool is untargeted only (the paper's algorithm crosses the "
                              "nearest boundary); use jsma for a targeted sparse attack")
        super().__init__(model, eps=None, targeted=False)
        self.steps = check_int(f"{self.name}: steps", steps, 0)
        self.lam = check_number(f"{self.name}: lam", lam, least=1.0)
        self.overshoot = check_number(f"{self.name}: overshoot", overshoot)
        self.deepfool = DeepFool(model, steps=check_int(f"{self.name}: deepfool_steps", deepfool_steps, 1),
                                 overshoot=self.overshoot, classes=check_int(f"{self.name}: classes", classes, 2))

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        current = images.clone()  # x^(i)
        adversarial = images.clone()  # x_0 + (1 + overshoot)(x^(i) - x_0), what the attack returns
        active = (self.clean_logits.argmax(1) == labels).nonzero().flatten()
        for _ in range(self.steps):
            if len(active) == 0:
                break
            x, keep = current[active], None if mask is None else mask[active]
            point, normal = self.boundary_point_and_normal(x, labels[active], keep)
            current[active] = linear_solver(x, normal, point)
            moved = current[active] - images[active]
            adversarial[active] = (images[active] + (1 + self.overshoot) * moved).clamp(0.0, 1.0)
            active = active[self.predict(adversarial[active]).argmax(1) == labels[active]]
        return adversarial

    def boundary_point_and_normal(self, x: Tensor, labels: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """x_B = x + lam r_adv, r_adv DeepFool's perturbation from x, and the unit normal w at x_B (zero outside
        the mask)."""
        deepfool = self.deepfool
        deepfool.clean_logits = self.predict(x)
        candidates = deepfool.candidate_classes(labels)
        total, reached = torch.zeros_like(x), labels.clone()
        active = torch.arange(len(x), device=x.device)
        for _ in range(deepfool.steps):
            if len(active) == 0:
                break
            step = deepfool.linearised_step(x[active] + total[active], labels[active], candidates[active],
                                            None if mask is None else mask[active])
            total[active] = (x[active] + total[active] + step).clamp(0.0, 1.0) - x[active]
            overshot = (x[active] + (1 + self.overshoot) * total[active]).clamp(0.0, 1.0)
            reached[active] = self.predict(overshot).argmax(1)
            active = active[reached[active] == labels[active]]
        point = x + self.lam * total
        return point, self.normal(point, labels, reached, mask)

    def normal(self, point: Tensor, labels: Tensor, reached: Tensor, mask: Tensor | None) -> Tensor:
        """grad f_k(x_B) - grad f_label(x_B), unit L2 norm; k the class of x_B, or where x_B is still classified as
        the label, the class DeepFool reached (else the best other class)."""
        point = point.detach().requires_grad_(True)
        logits = self.model(point)
        runner_up = best_other_class(logits.detach(), labels)
        other = logits.detach().argmax(1)
        other = torch.where(other == labels, torch.where(reached == labels, runner_up, reached), other)
        difference = logits.gather(1, other[:, None]) - logits.gather(1, labels[:, None])
        grad, = torch.autograd.grad(difference.sum(), point)
        if mask is not None:
            grad = grad * mask
        return normalize_l2(grad)


def best_other_class(logits: Tensor, labels: Tensor) -> Tensor:
    """argmax_{j != label} z_j per row."""
    return logits.scatter(1, labels[:, None], float("-inf")).argmax(1)


def linear_solver(x: Tensor, normal: Tensor, point: Tensor) -> Tensor:
    """Algorithm 1: cross the hyperplane {w^T (y - point) = 0} from x, moving the coordinates of largest |w_d|
    first, each as far as the box [0, 1] lets it, until the plane is crossed (PAST_PLANE beyond it)."""
    w, flat = normal.flatten(1), x.flatten(1)
    offset = (w * (flat - point.flatten(1))).sum(1)  # w^T (x - x_B): negative on the clean side
    gap = offset.abs() + PAST_PLANE  # how far w^T x must move
    direction = -offset.sign()[:, None] * w.sign()  # the way each coordinate closes the gap (0 where w_d = 0)
    room = torch.where(direction > 0, 1.0 - flat, flat) * (direction != 0)
    order = w.abs().argsort(dim=1, descending=True, stable=True)
    size, space = w.abs().gather(1, order), room.gather(1, order)
    reach = size * space  # what saturating each coordinate contributes to w^T x
    ahead = reach.cumsum(1) - reach  # what the coordinates before it contribute
    move = torch.minimum(space, ((gap[:, None] - ahead) / size.clamp(min=TINY)).clamp(min=0.0))
    moved = torch.zeros_like(flat).scatter(1, order, move)
    return (flat + direction * moved).view_as(x)
