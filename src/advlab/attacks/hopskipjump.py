"""HopSkipJumpAttack: decision-based, it minimises the L2 or Linf norm from top-1 labels alone.

Chen, Jordan & Wainwright 2020, "HopSkipJumpAttack: A Query-Efficient Decision-Based Attack",
Algorithm 2. phi(x) = 1 when the model's top-1 label at x is adversarial (not the true class;
targeted: the target class), else 0. From an adversarial start x~_0, repeat for t = 1, 2, ...:

* boundary search (Algorithm 1): bisect between the image x* and x~_{t-1} until the interval is
  below theta = d^(-3/2) (L2) or d^(-2) (Linf), d the number of pixels (the paper's choice); for
  L2 the points are the blends (1 - a) x* + a x~, for Linf the clip of x~ to the box of radius a
  around x*; the adversarial end of the interval is x_t;
* gradient-direction estimate at x_t (eq. 9, with the baseline of eq. 16): B_t = B_0 sqrt(t) unit
  random vectors u_b (Gaussian for L2, uniform for Linf), probes x_t + delta_t u_b clipped to [0, 1], and
  v~ = mean_b (phi(x_t + delta_t u_b) - mean phi) u_b, the mean subtracted as a baseline (when all
  probes agree, v~ = +-mean u_b); delta_t = sqrt(d) theta d_{t-1} (L2) or d theta d_{t-1}
  (Linf), d_{t-1} = ||x~_{t-1} - x*||, and delta_1 = 0.1; the step direction is v~ / ||v~||_2
  (L2) or sign(v~) (Linf);
* geometric step-size search: xi_t = ||x_t - x*|| / sqrt(t), halved until phi(x_t + xi_t v) = 1,
  and x~_t = x_t + xi_t v.

The start (the authors' code): uniform noise until phi = 1, then a bisection of the blend towards
x* to a tolerance of 0.001. A targeted attack starts, as the paper does, from an image of the
target class: the nearest image of the batch that the model already puts in that class (its clean
pass tells, no query is spent), with noise as the fallback. The result is the adversarial boundary
point of least norm found; an image for which no start was found within the budget stays clean.
With a mask, noise and probes touch only the masked pixels, so every query keeps the rest.

Queries: ``queries`` is the budget per image including the base class's clean pass; every phase
queries only the images with budget left, the estimate's B_t is cut to what remains, and the
attack stops after ``steps`` iterations or when the budget is spent. B_0 = 100 (``samples``).
Images are attacked together: per-image state (boundary point, step size, remaining budget) is
vectorised and every model call takes all images in that phase.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.lp import batch_view, check_norm, lp_norm, normalize_l2
from advlab.attacks.nes import image_groups
from advlab.core.checks import check_int

START_TOLERANCE = 0.001  # bisection of the blend between the image and the noise that fooled the model
FIRST_DELTA = 0.1  # delta_1, a tenth of the pixel range (the authors' code)
MAX_HALVINGS = 64  # step-size halvings before giving up (x_t itself is adversarial, so this is a guard)
DISTANCE_ROWS = 512  # rows of the image-to-image distance matrix computed at once (targeted starts)


class HopSkipJump(Attack):
    """HopSkipJumpAttack (Chen et al. 2020): ``HopSkipJump(model, queries=1000)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes); only the top-1 label is used.
        queries: budget per image, the clean pass included (at most this many model evaluations
            per image); default 5000.
        norm: ``"l2"`` or ``"linf"``, the norm the attack minimises.
        steps: iterations (gradient estimates) at most; the authors' default 40.
        samples: B_0, the probes of the first gradient estimate; the t-th uses B_0 sqrt(t).
        targeted: labels are target classes.
        seed: seed of the noise and the probes (None: torch's global generator).
    """

    name = "hopskipjump"
    paper = "Chen, Jordan & Wainwright 2020, HopSkipJumpAttack: A Query-Efficient Decision-Based Attack"
    norms = ("l2", "linf")
    minimum_norm = True  # minimises the norm within its query budget
    feedback = "decisions"
    norm = "l2"
    black_box = True

    def __init__(self, model: nn.Module, queries: int = 5000, norm: str = "l2", steps: int = 40, samples: int = 100,
                 targeted: bool = False, seed: int | None = None):
        super().__init__(model, eps=None, targeted=targeted, seed=seed)
        self.budget = check_int(f"{self.name}: queries", queries, 1)
        self.norm = check_norm(norm, self.name)
        self.steps = check_int(f"{self.name}: steps", steps, 0)
        self.samples = check_int(f"{self.name}: samples", samples, 1)

    # ------------------------------------------------------------------ Algorithm 2

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        self.queries = torch.ones(len(images), dtype=torch.int64, device=images.device)
        todo = (~self.goal(self.clean_logits, labels)).nonzero().flatten()
        if self.budget < 2 or len(todo) == 0:
            return images
        generator = self.generator(images.device)
        starts, known = self.batch_starts(images, labels, mask, todo)
        run = _Run(self, images[todo], labels[todo], None if mask is None else mask[todo], generator)
        adversarial = images.clone()
        adversarial[todo] = run.search(starts, known)
        self.queries[todo] = run.spent
        return adversarial

    def batch_starts(self, images: Tensor, labels: Tensor, mask: Tensor | None,
                     todo: Tensor) -> tuple[Tensor, Tensor]:
        """Targeted: per attacked image, the nearest batch image the model puts in its target class.

        Returns (starts, known): `known` marks starts that are adversarial without a query (no
        mask: the clean pass classified that image). Untargeted attacks start from noise.
        """
        x = images[todo]
        starts, known = x.clone(), torch.zeros(len(todo), dtype=torch.bool, device=x.device)
        if not self.targeted:
            return starts, known
        predicted = self.clean_logits.argmax(1)
        p = 2.0 if self.norm == "l2" else float("inf")
        for rows in range(0, len(todo), DISTANCE_ROWS):
            part = slice(rows, rows + DISTANCE_ROWS)
            distance = torch.cdist(x[part].flatten(1), images.flatten(1), p=p)
            distance[predicted[None, :] != labels[todo[part]][:, None]] = float("inf")
            nearest = distance.argmin(1)
            found = torch.isfinite(distance.gather(1, nearest[:, None])[:, 0])
            chosen = images[nearest]
            if mask is not None:
                chosen = torch.where(mask[todo[part]], chosen, x[part])
            starts[part] = torch.where(batch_view(found, chosen), chosen, x[part])
            known[part] = found & (mask is None)
        return starts, known


class _Run:
    """One HopSkipJump run over the images still to attack: per-image state and budget."""

    def __init__(self, hsj: HopSkipJump, images: Tensor, labels: Tensor, mask: Tensor | None,
                 generator: torch.Generator | None):
        self.hsj, self.images, self.labels, self.mask, self.generator = hsj, images, labels, mask, generator
        self.linf = hsj.norm == "linf"
        self.spent = torch.ones(len(images), dtype=torch.int64, device=images.device)  # the clean pass
        d = images[0].numel()
        self.dimension = d
        self.theta = d ** -2.0 if self.linf else d ** -1.5

    # ------------------------------------------------------------------ queries

    def left(self, rows: Tensor) -> Tensor:
        return self.hsj.budget - self.spent[rows]

    def decide(self, points: Tensor, rows: Tensor) -> Tensor:
        """phi at each point, a query charged to its row (rows may repeat)."""
        self.spent.index_add_(0, rows, torch.ones_like(rows))
        return self.hsj.goal(self.hsj.predict(points.clamp(0.0, 1.0)), self.labels[rows])

    def distance(self, points: Tensor, rows: Tensor) -> Tensor:
        return lp_norm(points - self.images[rows], float("inf") if self.linf else 2.0)

    # ------------------------------------------------------------------ the algorithm

    def search(self, starts: Tensor, known: Tensor) -> Tensor:
        """The best adversarial point per image (the image itself where none was found)."""
        everyone = torch.arange(len(self.images), device=self.images.device)
        ready = self.verify(starts, known)
        starts = self.noise_starts(starts, ready)
        rows = ready.nonzero().flatten()
        starts[rows] = self.bisect(starts[rows], rows, blend=True, tolerance=START_TOLERANCE)
        self.best = self.images.clone()
        self.best_distance = torch.full((len(self.images),), float("inf"), device=self.images.device)
        boundary, far = self.images.clone(), starts
        boundary[rows] = self.bisect(far[rows], rows)
        self.remember(boundary[rows], rows)
        for t in range(1, self.hsj.steps + 1):
            rows = everyone[ready & (self.left(everyone) > 0)]
            if len(rows) == 0:
                break
            delta = self.delta(far[rows], rows, t)
            direction = self.direction(boundary[rows], rows, delta, t)
            far[rows] = self.step(boundary[rows], direction, rows, t)
            boundary[rows] = self.bisect(far[rows], rows)
            self.remember(boundary[rows], rows)
        return self.best

    def verify(self, starts: Tensor, known: Tensor) -> Tensor:
        """Which starts are adversarial: known ones, else one query for the batch starts under a mask."""
        ready = known.clone()
        check = (known == 0) & (starts != self.images).flatten(1).any(1)
        rows = check.nonzero().flatten()
        if len(rows):
            ready[rows] = self.decide(starts[rows], rows)
        return ready

    def noise_starts(self, starts: Tensor, ready: Tensor) -> Tensor:
        """Uniform noise (on the masked pixels) until it is adversarial or the budget is spent."""
        everyone = torch.arange(len(self.images), device=self.images.device)
        while True:
            rows = everyone[~ready & (self.left(everyone) > 0)]
            if len(rows) == 0:
                return starts
            x = self.images[rows]
            noise = torch.rand(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)
            if self.mask is not None:
                noise = torch.where(self.mask[rows], noise, x)
            fooled = self.decide(noise, rows)
            starts[rows[fooled]] = noise[fooled]
            ready[rows[fooled]] = True

    def project(self, far: Tensor, rows: Tensor, alpha: Tensor, blend: bool) -> Tensor:
        """The point at parameter alpha between the image and `far` (blend, or Linf box of radius alpha)."""
        x = self.images[rows]
        if blend:
            return x + batch_view(alpha, x) * (far - x)
        radius = batch_view(alpha, x)
        return torch.minimum(torch.maximum(far, x - radius), x + radius)

    def bisect(self, far: Tensor, rows: Tensor, blend: bool | None = None, tolerance: float | None = None) -> Tensor:
        """Algorithm 1: the adversarial end of the bisection between the images and adversarial `far`."""
        blend = not self.linf if blend is None else blend
        if blend:
            high = torch.ones(len(rows), device=far.device)
            threshold = torch.full_like(high, self.theta if tolerance is None else tolerance)
        else:
            high = self.distance(far, rows).float()
            threshold = torch.clamp(high * self.theta, max=self.theta)
        low = torch.zeros_like(high)
        while True:
            open_ = ((high - low) > threshold) & (self.left(rows) > 0)
            if not open_.any():
                return self.project(far, rows, high, blend)
            k = open_.nonzero().flatten()
            middle = (high[k] + low[k]) / 2
            fooled = self.decide(self.project(far[k], rows[k], middle, blend), rows[k])
            high[k] = torch.where(fooled, middle, high[k])
            low[k] = torch.where(fooled, low[k], middle)

    def delta(self, far: Tensor, rows: Tensor, t: int) -> Tensor:
        """delta_t, the paper's choice: sqrt(d) theta d_{t-1} (L2) or d theta d_{t-1} (Linf); 0.1 at first."""
        if t == 1:
            return torch.full((len(rows),), FIRST_DELTA, device=far.device)
        scale = self.dimension * self.theta if self.linf else math.sqrt(self.dimension) * self.theta
        return scale * self.distance(far, rows)

    def direction(self, boundary: Tensor, rows: Tensor, delta: Tensor, t: int) -> Tensor:
        """The estimated gradient direction at the boundary points (eqs. 9 and 16): B_t probes, cut to the budget."""
        wanted = int(self.hsj.samples * math.sqrt(t))
        counts = torch.clamp(self.left(rows), max=wanted)
        most = int(counts.max())
        estimates = []
        for group in image_groups(len(rows), most * boundary[0].numel()):
            estimates.append(self.estimate(boundary[group], rows[group], delta[group], counts[group], most))
        estimate = torch.cat(estimates)
        return estimate.sign() if self.linf else normalize_l2(estimate)

    def estimate(self, boundary: Tensor, rows: Tensor, delta: Tensor, counts: Tensor, most: int) -> Tensor:
        """Monte Carlo estimate with the baseline, `counts` probes per image (at most `most`)."""
        n = len(rows)
        shape = (n, most, *boundary.shape[1:])
        if self.linf:
            noise = torch.rand(shape, generator=self.generator, device=boundary.device, dtype=boundary.dtype) * 2 - 1
        else:
            noise = torch.randn(shape, generator=self.generator, device=boundary.device, dtype=boundary.dtype)
        if self.mask is not None:
            noise = noise * self.mask[rows][:, None]
        noise = normalize_l2(noise.flatten(0, 1)).view(shape)
        scale = delta.view(n, 1, *[1] * (boundary.ndim - 1))
        probes = (boundary[:, None] + scale * noise).clamp(0.0, 1.0)
        noise = (probes - boundary[:, None]) / scale
        valid = torch.arange(most, device=boundary.device)[None, :] < counts[:, None]
        owners = rows[:, None].expand(n, most)[valid]
        fooled = torch.zeros(n, most, device=boundary.device)
        fooled[valid] = self.decide(probes[valid], owners).float()
        sign = (2 * fooled - 1) * valid
        baseline = sign.sum(1) / counts.clamp(min=1)
        centred = (sign - baseline[:, None]) * valid
        unanimous = (baseline.abs() == 1)[:, None].float()
        weights = unanimous * baseline[:, None] * valid + (1 - unanimous) * centred
        return torch.einsum("nb,nb...->n...", weights, noise) / batch_view(counts.clamp(min=1).float(), boundary)

    def step(self, boundary: Tensor, direction: Tensor, rows: Tensor, t: int) -> Tensor:
        """Geometric step-size search: xi = ||x_t - x*|| / sqrt(t), halved until the step stays adversarial."""
        size = self.distance(boundary, rows) / math.sqrt(t)
        success = torch.zeros(len(rows), dtype=torch.bool, device=boundary.device)
        for _ in range(MAX_HALVINGS):
            open_ = ~success & (self.left(rows) > 0)
            if not open_.any():
                break
            k = open_.nonzero().flatten()
            candidate = (boundary[k] + batch_view(size[k], boundary) * direction[k]).clamp(0.0, 1.0)
            fooled = self.decide(candidate, rows[k])
            success[k] = fooled
            size[k] = torch.where(fooled, size[k], size[k] / 2)
        moved = (boundary + batch_view(size, boundary) * direction).clamp(0.0, 1.0)
        return torch.where(batch_view(success, boundary), moved, boundary)

    def remember(self, points: Tensor, rows: Tensor) -> None:
        """Keep each image's adversarial point of least norm."""
        distance = self.distance(points, rows)
        better = distance < self.best_distance[rows]
        self.best[rows[better]] = points[better]
        self.best_distance[rows[better]] = distance[better]
