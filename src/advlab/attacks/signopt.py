"""Sign-OPT: a hard-label attack that optimises the direction of the perturbation (L2), from decisions alone.

Cheng, Singh, Chen, Chen, Liu & Hsieh 2020, "Sign-OPT: A Query-Efficient Hard-label Adversarial Attack",
Algorithm 1, on the formulation of Cheng et al. 2019 (OPT attack, eq. 2): for a unit direction theta,
g(theta) = min { lambda > 0 : x0 + lambda theta is adversarial } (the distance to the decision boundary
along theta; the point is clipped to [0, 1] when queried), and the attack minimises g over theta. Each
iteration:

* the sign of the directional derivative from one query each (sec. 3.1): for K random unit vectors u_k,
  sign(g(theta + eps u_k) - g(theta)) = -1 if x0 + g(theta) (theta + eps u_k) / ||theta + eps u_k|| is
  adversarial, else +1; g_hat = (1 / K) sum_k sign_k u_k;
* theta <- (theta - eta g_hat) / ||.||, with eta from the line search of the authors' code: starting at
  eta = alpha, double it while g keeps decreasing (at most 15 times); if the first try failed, quarter it
  until g decreases (at most 15 times); alpha carries over between iterations, and when it falls below
  1e-4 it is reset to 1 and beta divided by 10; an image stops when beta < 1e-8;
* every g(theta') is computed as OPT's Algorithm 1 does, locally from the current value v: if x0 + v theta'
  is not adversarial, grow v_right by 1 % until it is (giving up beyond 20, the authors' cap), else shrink
  v_left by 1 % until it is not; then bisect [v_left, v_right] to the tolerance beta / 500.

The start (the authors' code): ``starts`` random Gaussian directions; each one that is adversarial at its
own length is searched by bisection to 0.001 (1e-5 targeted), after one query that says whether it can
beat the best so far at all; the best is theta_0. A targeted attack starts from images of the target
class -- the images of the batch that the model puts in that class (its clean pass tells), nearest first,
``starts`` of them -- with Gaussian directions as the fallback. Defaults: K = 200, eps = 0.001,
alpha = 0.2, beta = 0.001, 100 starts (the paper and its code). An image for which no adversarial direction
was found stays clean. With a mask, every direction is zero outside it.

Differences from ART's SignOPTAttack (the peer, a port of the authors' code): ART checks its query limit
only after an iteration, so an image may spend a whole iteration (~200 + line search queries) past it,
and its own count misses some queries (the last query of every growing or shrinking loop); advlab never
exceeds ``queries``. ART's untargeted criterion is the model's prediction on the image (advlab: the true
label, the same for correctly classified images), and its targeted start search bisects with the
untargeted criterion. ART takes the candidate images of a targeted attack in the order given, advlab the
nearest first.

Queries: ``queries`` is the budget per image including the base class's clean pass; every phase queries
all the images in it at once, and each image stops at its budget, after ``steps`` iterations, or when
beta < 1e-8.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.hopskipjump import _Run
from advlab.attacks.lp import batch_view, lp_norm, normalize_l2
from advlab.attacks.nes import image_groups
from advlab.core.checks import check_int, check_number

START_TOLERANCE = 1e-3  # the start's bisection (untargeted; the authors' code)
TARGETED_START_TOLERANCE = 1e-5
RATIO = 0.01  # OPT's local search grows or shrinks v by 1 % a query
FARTHEST = 20.0  # the local search gives up beyond this distance (the authors' cap)
LINE_SEARCH_TRIES = 15
SMALLEST_ALPHA, SMALLEST_BETA = 1e-4, 1e-8
TOLERANCE_SHARE = 500  # the local search's tolerance is beta / 500
DISTANCE_ROWS = 512  # rows of the image-to-image distance matrix computed at once (targeted starts)


class SignOPT(Attack):
    """Sign-OPT (Cheng et al. 2020): ``SignOPT(model, queries=20000)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes); only the top-1 label is used.
        queries: budget per image, the clean pass included (at most this many model evaluations per image);
            default 20000 (the authors' query limit).
        steps: iterations at most (sign estimate and line search); the authors' default 1000.
        samples: K, random directions (one query each) per sign estimate; default 200.
        smoothing: eps, the size of the random change of theta whose sign is measured.
        alpha: the line search's first step size.
        beta: sets the local search's tolerance (beta / 500); divided by 10 when the search stalls.
        starts: random directions (targeted: images of the target class) tried for the start.
        targeted: labels are target classes.
        seed: seed of the directions (None: torch's global generator).
    """

    name = "sign-opt"
    paper = "Cheng, Singh, Chen, Chen, Liu & Hsieh 2020, Sign-OPT: A Query-Efficient Hard-label Adversarial Attack"
    norm = None  # minimises the L2 norm of the perturbation
    norms = ("l2",)
    feedback = "decisions"
    black_box = True

    def __init__(self, model: nn.Module, queries: int = 20000, steps: int = 1000, samples: int = 200,
                 smoothing: float = 0.001, alpha: float = 0.2, beta: float = 0.001, starts: int = 100,
                 targeted: bool = False, seed: int | None = None):
        super().__init__(model, eps=None, targeted=targeted, seed=seed)
        self.budget = check_int(f"{self.name}: queries", queries, 1)
        self.steps = check_int(f"{self.name}: steps", steps, 0)
        self.samples = check_int(f"{self.name}: samples", samples, 1)
        self.smoothing = check_number(f"{self.name}: smoothing", smoothing, strict=True)
        self.alpha = check_number(f"{self.name}: alpha", alpha, strict=True)
        self.beta = check_number(f"{self.name}: beta", beta, SMALLEST_BETA, strict=True)
        self.starts = check_int(f"{self.name}: starts", starts, 1)

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        self.queries = torch.ones(len(images), dtype=torch.int64, device=images.device)
        todo = (~self.goal(self.clean_logits, labels)).nonzero().flatten()
        if self.budget < 2 or len(todo) == 0:
            return images
        run = _SignOptRun(self, images[todo], labels[todo], None if mask is None else mask[todo],
                          self.generator(images.device))
        if self.targeted:
            run.target_starts(self.target_pool(images, labels, todo))
        run.random_starts()
        run.optimise()
        adversarial = images.clone()
        adversarial[todo] = run.result()
        self.queries[todo] = run.spent
        return adversarial

    def target_pool(self, images: Tensor, labels: Tensor, todo: Tensor) -> tuple[Tensor, Tensor]:
        """The batch and, per attacked image, up to `starts` indices of batch images the clean pass puts in its
        target class, nearest first ((len(todo), starts), -1 where there are fewer)."""
        predicted = self.clean_logits.argmax(1)
        width = min(self.starts, len(images))
        pool = torch.full((len(todo), width), -1, dtype=torch.int64, device=images.device)
        for first in range(0, len(todo), DISTANCE_ROWS):
            part = slice(first, first + DISTANCE_ROWS)
            distance = torch.cdist(images[todo[part]].flatten(1), images.flatten(1))
            distance[predicted[None, :] != labels[todo[part]][:, None]] = float("inf")
            nearest = distance.topk(width, dim=1, largest=False)
            pool[part] = torch.where(torch.isfinite(nearest.values), nearest.indices, -1)
        return images, pool


class _SignOptRun(_Run):
    """One Sign-OPT run over the images still to attack: per-image direction, distance, step sizes, budget."""

    def __init__(self, attack: SignOPT, images: Tensor, labels: Tensor, mask: Tensor | None,
                 generator: torch.Generator | None):
        super().__init__(attack, images, labels, mask, generator)
        n, device = len(images), images.device
        self.attack = attack
        self.everyone = torch.arange(n, device=device)
        self.theta = torch.zeros_like(images)
        self.g = torch.full((n,), float("inf"), dtype=torch.float64, device=device)
        self.alpha = torch.full((n,), attack.alpha, dtype=torch.float64, device=device)
        self.beta = torch.full((n,), attack.beta, dtype=torch.float64, device=device)

    # ------------------------------------------------------------------ g(theta) and its searches

    def point(self, rows: Tensor, distance: Tensor, theta: Tensor) -> Tensor:
        """x0 + lambda theta, clipped to [0, 1] (computed in float64: the same point whenever it is asked)."""
        x = self.images[rows]
        return (x.double() + batch_view(distance, theta) * theta.double()).clamp(0.0, 1.0).to(x.dtype)

    def adversarial(self, rows: Tensor, distance: Tensor, theta: Tensor) -> Tensor:
        return self.decide(self.point(rows, distance, theta), rows)

    def bisect_down(self, rows: Tensor, theta: Tensor, low: Tensor, high: Tensor, tolerance: Tensor) -> Tensor:
        """Bisect [low, high] (high adversarial) to `tolerance`; the adversarial end."""
        while True:
            open_ = ((high - low) > tolerance) & (self.left(rows) > 0)
            if not open_.any():
                return high
            k = open_.nonzero().flatten()
            middle = (low[k] + high[k]) / 2
            fooled = self.adversarial(rows[k], middle, theta[k])
            high[k] = torch.where(fooled, middle, high[k])
            low[k] = torch.where(fooled, low[k], middle)

    def start_search(self, rows: Tensor, theta: Tensor, length: Tensor) -> Tensor:
        """The start's g(theta) for directions adversarial at `length` (the authors' fine-grained search):
        inf where theta cannot beat the row's best g (one query tells), else the bisection of [0, min]."""
        best = self.g[rows]
        high = torch.minimum(length, best)
        valid = torch.ones(len(rows), dtype=torch.bool, device=rows.device)
        k = ((length > best) & (self.left(rows) > 0)).nonzero().flatten()
        valid[(length > best) & (self.left(rows) == 0)] = False
        if len(k):
            valid[k] = self.adversarial(rows[k], best[k], theta[k])
        tolerance = TARGETED_START_TOLERANCE if self.attack.targeted else START_TOLERANCE
        k = valid.nonzero().flatten()
        found = torch.full_like(high, float("inf"))
        found[k] = self.bisect_down(rows[k], theta[k], torch.zeros_like(high[k]), high[k],
                                    torch.full_like(high[k], tolerance))
        return found

    def local_search(self, rows: Tensor, theta: Tensor, start: Tensor, tolerance: Tensor) -> Tensor:
        """g(theta) from the value `start` (OPT, Algorithm 1); inf where no adversarial point was found."""
        n = len(rows)
        high, low = start.clone(), start.clone()
        asked = self.left(rows) > 0
        verified = torch.zeros(n, dtype=torch.bool, device=rows.device)
        k = asked.nonzero().flatten()
        if len(k):
            verified[k] = self.adversarial(rows[k], start[k], theta[k])
        growing = asked & ~verified
        high[growing] *= 1 + RATIO
        low[verified] *= 1 - RATIO
        shrinking = verified.clone()
        while True:
            grow = (growing & (self.left(rows) > 0)).nonzero().flatten()
            shrink = (shrinking & (self.left(rows) > 0)).nonzero().flatten()
            if len(grow) + len(shrink) == 0:
                break
            both = torch.cat([grow, shrink])
            fooled = self.adversarial(rows[both], torch.cat([high[grow], low[shrink]]), theta[both])
            fooled_grow, fooled_shrink = fooled[:len(grow)], fooled[len(grow):]
            verified[grow[fooled_grow]] = True
            growing[grow[fooled_grow]] = False
            high[grow[~fooled_grow]] *= 1 + RATIO
            growing[grow[~fooled_grow & (high[grow] > FARTHEST)]] = False
            low[shrink[fooled_shrink]] *= 1 - RATIO
            shrinking[shrink[~fooled_shrink]] = False
        k = verified.nonzero().flatten()
        found = torch.full_like(high, float("inf"))
        found[k] = self.bisect_down(rows[k], theta[k], low[k], high[k], tolerance[k])
        return found

    # ------------------------------------------------------------------ the start

    def keep_better(self, rows: Tensor, theta: Tensor, found: Tensor) -> None:
        better = found < self.g[rows]
        self.theta[rows[better]] = theta[better]
        self.g[rows[better]] = found[better]

    def target_starts(self, pool: tuple[Tensor, Tensor]) -> None:
        """Directions towards batch images of the target class, nearest first, one query each to check."""
        images, indices = pool
        for column in range(indices.shape[1]):
            rows = self.everyone[(indices[:, column] >= 0) & (self.left(self.everyone) > 0)]
            if len(rows) == 0:
                return
            towards = images[indices[rows, column]] - self.images[rows]
            if self.mask is not None:
                towards = towards * self.mask[rows]
            self.try_directions(rows, towards)

    def random_starts(self) -> None:
        """`starts` Gaussian directions per image (targeted: only for the images without a start yet)."""
        wanted = torch.isinf(self.g) if self.attack.targeted else torch.ones_like(self.g, dtype=torch.bool)
        for _ in range(self.attack.starts):
            rows = self.everyone[wanted & (self.left(self.everyone) > 0)]
            if len(rows) == 0:
                return
            noise = torch.randn(self.images[rows].shape, generator=self.generator, device=self.images.device,
                                dtype=self.images.dtype)
            if self.mask is not None:
                noise = noise * self.mask[rows]
            self.try_directions(rows, noise)

    def try_directions(self, rows: Tensor, towards: Tensor) -> None:
        """Query x0 + `towards`; where adversarial, search g along it and keep it if it beats the best."""
        length = lp_norm(towards, 2).double()
        theta = normalize_l2(towards)
        fooled = self.adversarial(rows, length, theta) & (length > 0)
        k = fooled.nonzero().flatten()
        if len(k):
            self.keep_better(rows[k], theta[k], self.start_search(rows[k], theta[k], length[k]))

    # ------------------------------------------------------------------ Algorithm 1

    def optimise(self) -> None:
        active = torch.isfinite(self.g)
        for _ in range(self.attack.steps):
            rows = self.everyone[active & (self.left(self.everyone) > 0)]
            if len(rows) == 0:
                return
            gradient = self.sign_gradient(rows)
            self.line_search(rows, gradient)
            active &= self.beta >= SMALLEST_BETA

    def sign_gradient(self, rows: Tensor) -> Tensor:
        """g_hat at each row's theta from K single queries (cut to the budget left)."""
        counts = torch.clamp(self.left(rows), max=self.attack.samples)
        most = int(counts.max())
        estimates = []
        for group in image_groups(len(rows), most * self.images[0].numel()):
            estimates.append(self.sign_estimate(rows[group], counts[group], most))
        return torch.cat(estimates)

    def sign_estimate(self, rows: Tensor, counts: Tensor, most: int) -> Tensor:
        theta, n = self.theta[rows], len(rows)
        shape = (n, most, *theta.shape[1:])
        u = torch.randn(shape, generator=self.generator, device=theta.device, dtype=theta.dtype)
        if self.mask is not None:
            u = u * self.mask[rows][:, None]
        u = normalize_l2(u.flatten(0, 1)).view(shape)
        moved = normalize_l2((theta[:, None] + self.attack.smoothing * u).flatten(0, 1)).view(shape)
        valid = torch.arange(most, device=theta.device)[None, :] < counts[:, None]
        owners = rows[:, None].expand(n, most)[valid]
        fooled = self.adversarial(owners, self.g[owners], moved[valid])
        signs = torch.zeros(n, most, dtype=theta.dtype, device=theta.device)
        signs[valid] = 1 - 2 * fooled.to(theta.dtype)
        return torch.einsum("nk,nk...->n...", signs, u) / batch_view(counts.clamp(min=1).to(theta.dtype), theta)

    def line_search(self, rows: Tensor, gradient: Tensor) -> None:
        """The authors' line search on eta, then theta and g updated; alpha and beta as the code keeps them."""
        theta, g = self.theta[rows], self.g[rows]
        alpha, tolerance = self.alpha[rows], self.beta[rows] / TOLERANCE_SHARE
        best_theta, best_g = theta.clone(), g.clone()
        growing = torch.ones(len(rows), dtype=torch.bool, device=rows.device)
        for _ in range(LINE_SEARCH_TRIES):
            k = (growing & (self.left(rows) > 0)).nonzero().flatten()
            if len(k) == 0:
                break
            trial = self.moved(theta[k], alpha[k], gradient[k])
            found = self.local_search(rows[k], trial, best_g[k], tolerance[k])
            alpha[k] *= 2
            better = found < best_g[k]
            best_theta[k[better]], best_g[k[better]] = trial[better], found[better]
            growing[k[~better]] = False
        shrinking = best_g >= g
        for _ in range(LINE_SEARCH_TRIES):
            k = (shrinking & (self.left(rows) > 0)).nonzero().flatten()
            if len(k) == 0:
                break
            alpha[k] *= 0.25
            trial = self.moved(theta[k], alpha[k], gradient[k])
            found = self.local_search(rows[k], trial, best_g[k], tolerance[k])
            better = found < g[k]
            best_theta[k[better]], best_g[k[better]] = trial[better], found[better]
            shrinking[k[better]] = False
        stalled = alpha < SMALLEST_ALPHA
        alpha[stalled] = 1.0
        self.beta[rows[stalled]] *= 0.1
        self.alpha[rows], self.theta[rows], self.g[rows] = alpha, best_theta, best_g

    @staticmethod
    def moved(theta: Tensor, eta: Tensor, gradient: Tensor) -> Tensor:
        return normalize_l2(theta - batch_view(eta, theta).to(theta.dtype) * gradient)

    def result(self) -> Tensor:
        """x0 + g theta where a direction was found (the point a query found adversarial), else x0."""
        adversarial = self.images.clone()
        rows = self.everyone[torch.isfinite(self.g)]
        adversarial[rows] = self.point(rows, self.g[rows], self.theta[rows])
        return adversarial


__all__ = ["SignOPT"]
