"""ZOO: Carlini & Wagner's L2 attack with gradients estimated coordinate by coordinate from queries.

Chen, Zhang, Sharma, Yi & Hsieh 2017, "ZOO: Zeroth Order Optimization Based Black-box Attacks to Deep
Neural Networks without Training Substitute Models", Algorithm 2 (ZOO-ADAM). The objective is C&W's

    minimise_x  ||x - x0||_2^2 + c f(x),   f(x) = max( log F(x)_y - max_{i != y} log F(x)_i, -kappa )

(eq. 5, untargeted; targeted, eq. 4: max( max_{i != t} log F(x)_i - log F(x)_t, -kappa )), F the model's
softmax. Each iteration picks a batch of coordinates i at random (``coordinates``, the paper's 128) and
estimates each partial derivative by the symmetric difference (eq. 6)

    g_i = ( f_obj(x + h e_i) - f_obj(x - h e_i) ) / 2h,    h = 1e-4,

then takes one ADAM step per coordinate with its own moments and step count: M_i <- b1 M_i + (1 - b1) g_i,
v_i <- b2 v_i + (1 - b2) g_i^2, delta_i = -eta (M_i / (1 - b1^T_i)) / (sqrt(v_i / (1 - b2^T_i)) + 1e-8),
eta = 0.01, b1 = 0.9, b2 = 0.999 (the paper's). The constant c is fixed, or found by C&W's binary
search (``binary_steps`` > 1: halve the interval after a success, multiply c by 10 while none).

Attack-space reduction (sec. III-D): with ``resolution`` = r the perturbation lives on an r x r grid per
channel and is upsampled bilinearly to the image, x = clip(x0 + mask * D(delta), 0, 1), so each estimate
covers r^2 C coordinates instead of H W C. The hierarchical growth of that grid and importance sampling
(sec. III-E) are not implemented: on 8x8 digits (64 coordinates) they buy nothing.

Queries: ``queries`` is the budget per image including the base class's clean pass. An iteration costs
2 * coordinates + 1: the current iterate is evaluated along with the estimate (as the authors' code
does), which gives its loss and prediction; the best adversarial iterate (least L2) found is returned, the
clean image where none was. The budget is shared equally by the binary-search steps (each restarts from
x0 with fresh ADAM moments). ZOO minimises the perturbation: it has no eps (``norm = None``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.lp import batch_view
from advlab.attacks.nes import image_groups
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError

BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8
NO_UPPER = 1e10  # C&W's "no successful c yet"


class ZOO(Attack):
    """ZOO-ADAM (Chen et al. 2017): ``ZOO(model, c=1.0, queries=10000)(images, labels)``.

    Args:
        model: maps images (N, C, H, W) in [0, 1] to logits (N, classes).
        c: the weight of the classification loss (the first c of the binary search).
        kappa: confidence margin of the loss (0).
        lr: ADAM's learning rate eta (the paper's 0.01).
        h: step of the symmetric differences (the paper's 1e-4).
        coordinates: coordinates estimated and updated per iteration (the paper's 128; at most all of them).
        binary_steps: binary-search steps over c (1: c stays fixed).
        resolution: side of the reduced attack space (sec. III-D); None attacks every pixel.
        queries: budget per image, the clean pass included (at most this many model evaluations per image);
            default 10000.
        targeted: labels are target classes.
        seed: seed of the coordinate draws (None: torch's global generator).
    """

    name = "zoo"
    paper = ("Chen, Zhang, Sharma, Yi & Hsieh 2017, ZOO: Zeroth Order Optimization Based Black-box Attacks to "
             "Deep Neural Networks without Training Substitute Models")
    norms = ("l2",)
    norm = None  # ZOO minimises the L2 norm; the results report it
    black_box = True
    feedback = "scores"

    def __init__(self, model: nn.Module, c: float = 1.0, kappa: float = 0.0, lr: float = 0.01, h: float = 1e-4,
                 coordinates: int = 128, binary_steps: int = 1, resolution: int | None = None, queries: int = 10000,
                 targeted: bool = False, seed: int | None = None):
        super().__init__(model, eps=None, targeted=targeted, seed=seed)
        self.c = check_number(f"{self.name}: c", c, 0.0, strict=True)
        self.kappa = check_number(f"{self.name}: kappa", kappa, 0.0)
        self.lr = check_number(f"{self.name}: lr", lr, 0.0, strict=True)
        self.h = check_number(f"{self.name}: h", h, 0.0, strict=True)
        self.coordinates = check_int(f"{self.name}: coordinates", coordinates, 1)
        self.binary_steps = check_int(f"{self.name}: binary_steps", binary_steps, 1)
        self.resolution = None if resolution is None else check_int(f"{self.name}: resolution", resolution, 1)
        self.budget = check_int(f"{self.name}: queries", queries, 1)

    # ------------------------------------------------------------------ the search over c

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        if images.ndim != 4:
            raise AdvlabError(f"{self.name}: images must have shape (N, C, H, W), got {tuple(images.shape)}")
        n, device = len(images), images.device
        self.queries = torch.ones(n, dtype=torch.int64, device=device)
        space = self.space_shape(images)
        coordinates = min(self.coordinates, space[0] * space[1] * space[2])
        per_step = (self.budget - 1) // self.binary_steps
        iterations = per_step // (2 * coordinates + 1)
        if iterations == 0:
            raise AdvlabError(f"{self.name}: a budget of {self.budget} queries cannot pay for one iteration "
                              f"(2 x {coordinates} coordinates + 1) in each of {self.binary_steps} binary-search "
                              f"steps; give at least {1 + self.binary_steps * (2 * coordinates + 1)}")
        generator = self.generator(device)
        best, best_l2 = images.clone(), torch.full((n,), float("inf"), device=device)
        c = torch.full((n,), self.c, dtype=torch.float64, device=device)
        lower, upper = torch.zeros_like(c), torch.full_like(c, NO_UPPER)
        for _ in range(self.binary_steps):
            found, found_l2 = self.descend(images, labels, mask, c, coordinates, iterations, generator)
            success = torch.isfinite(found_l2)
            better = found_l2 < best_l2
            best[better], best_l2[better] = found[better], found_l2[better]
            upper = torch.where(success, torch.minimum(upper, c), upper)
            lower = torch.where(success, lower, torch.maximum(lower, c))
            c = torch.where(upper < NO_UPPER / 10, (lower + upper) / 2, c * 10)
            self.queries += iterations * (2 * coordinates + 1)
        return best

    # ------------------------------------------------------------------ Algorithm 2 at one c

    def descend(self, images: Tensor, labels: Tensor, mask: Tensor | None, c: Tensor, coordinates: int,
                iterations: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """ZOO-ADAM from x0: (the least-L2 adversarial iterate per image, its squared L2; inf where none)."""
        n, device = len(images), images.device
        space = self.space_shape(images)
        dims = space[0] * space[1] * space[2]
        delta = torch.zeros(n, dims, dtype=images.dtype, device=device)
        first, second = torch.zeros_like(delta), torch.zeros_like(delta)
        steps = torch.zeros(n, dims, dtype=torch.int64, device=device)
        found, found_l2 = images.clone(), torch.full((n,), float("inf"), device=device)
        rows = torch.arange(n, device=device)[:, None]
        for _ in range(iterations):
            chosen = self.draw(n, dims, coordinates, mask, images, generator)
            objective, logits, current = self.evaluate(images, labels, mask, c, delta, chosen)
            grad = ((objective[:, 1:coordinates + 1] - objective[:, coordinates + 1:]) / (2 * self.h)).to(delta.dtype)
            reached = self.goal(logits, labels)
            l2 = (current - images).flatten(1).pow(2).sum(1)
            better = reached & (l2 < found_l2)
            found[better], found_l2[better] = current[better], l2[better]
            steps[rows, chosen] += 1
            first[rows, chosen] = BETAS[0] * first[rows, chosen] + (1 - BETAS[0]) * grad
            second[rows, chosen] = BETAS[1] * second[rows, chosen] + (1 - BETAS[1]) * grad * grad
            t = steps[rows, chosen].to(images.dtype)
            update = (first[rows, chosen] / (1 - BETAS[0] ** t)) / ((second[rows, chosen] / (1 - BETAS[1] ** t)).sqrt()
                                                                     + ADAM_EPSILON)
            delta[rows, chosen] -= self.lr * update
            if self.resolution is None:  # keep x0 + delta in the box
                flat = images.flatten(1)
                delta[rows, chosen] = torch.clamp(delta[rows, chosen], -flat[rows, chosen], 1 - flat[rows, chosen])
        return found, found_l2

    def draw(self, n: int, dims: int, coordinates: int, mask: Tensor | None, images: Tensor,
             generator: torch.Generator | None) -> Tensor:
        """(n, coordinates) distinct coordinates per image, uniformly at random; at full resolution the ones the
        mask lets change come first."""
        keys = torch.rand(n, dims, generator=generator, device=images.device)
        if mask is not None and self.resolution is None:
            keys = keys - mask.flatten(1).to(keys.dtype)
        return keys.argsort(1)[:, :coordinates]

    def evaluate(self, images: Tensor, labels: Tensor, mask: Tensor | None, c: Tensor, delta: Tensor,
                 chosen: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The objective at delta and at delta +- h e_i for the chosen i: 2 * coordinates + 1 queries per image.

        Returns (objective (n, 1 + 2 k): current, then +h, then -h; logits at the current iterate; the current
        iterate)."""
        n, k = chosen.shape
        objectives, logits_now, now = [], [], []
        for group in image_groups(n, (2 * k + 1) * images[0].numel()):
            base = delta[group]
            m = len(base)
            plus = torch.zeros(m, k, base.shape[1], dtype=base.dtype, device=base.device)
            plus.scatter_(2, chosen[group][:, :, None], self.h)
            shifts = torch.cat([torch.zeros_like(plus[:, :1]), plus, -plus], dim=1)
            points = self.image(images[group], base[:, None] + shifts, None if mask is None else mask[group])
            logits = self.predict(points.flatten(0, 1)).view(m, 2 * k + 1, -1)
            objective = self.objective(points, images[group], logits, labels[group], c[group])
            objectives.append(objective)
            logits_now.append(logits[:, 0])
            now.append(points[:, 0])
        return torch.cat(objectives), torch.cat(logits_now), torch.cat(now)

    # ------------------------------------------------------------------ the pieces

    def space_shape(self, images: Tensor) -> tuple[int, int, int]:
        c, h, w = images.shape[1:]
        return (c, h, w) if self.resolution is None else (c, self.resolution, self.resolution)

    def image(self, images: Tensor, delta: Tensor, mask: Tensor | None) -> Tensor:
        """x = clip(x0 + mask * D(delta), 0, 1) for delta (m, j, dims) around images (m, C, H, W): (m, j, C, H, W)."""
        m, j = delta.shape[:2]
        c, h, w = images.shape[1:]
        space = self.space_shape(images)
        moved = delta.reshape(m * j, *space)
        if self.resolution is not None:
            moved = F.interpolate(moved, size=(h, w), mode="bilinear", align_corners=False)
        moved = moved.view(m, j, c, h, w)
        if mask is not None:
            moved = moved * mask[:, None]
        return (images[:, None] + moved).clamp(0.0, 1.0)

    def objective(self, points: Tensor, images: Tensor, logits: Tensor, labels: Tensor, c: Tensor) -> Tensor:
        """||x - x0||^2 + c f(x) (eqs. 4, 5) for points (m, j, ...) with logits (m, j, classes): (m, j)."""
        log_probs = logits.double().log_softmax(2)
        index = labels[:, None, None].expand(-1, log_probs.shape[1], 1)
        own = log_probs.gather(2, index)[..., 0]
        other = log_probs.scatter(2, index, float("-inf")).amax(2)
        gap = other - own if self.targeted else own - other
        loss = gap.clamp(min=-self.kappa)
        distance = (points - images[:, None]).flatten(2).double().pow(2).sum(2)
        return distance + batch_view(c, loss) * loss  # float64: the differences of h = 1e-4 are small
