"""GeoDA: a decision-based attack that estimates the boundary's normal in a low-frequency subspace.

Rahmati, Moosavi-Dezfooli, Frossard & Dai 2020, "GeoDA: a geometric framework for black-box adversarial
attacks" (CVPR), Algorithm 1 and sec. 4. phi(x) = 1 when the model's top-1 label at x is not the true class.
Near an image x the decision boundary has a small mean curvature, so at a boundary point x_B it is close to
the hyperplane w^T (z - x_B) = 0 whose normal w GeoDA estimates from labels alone (sec. 3):

    w^ = (1 / N_t) sum_i z_i eta_i,   z_i = +1 if phi(x_B + sigma eta_i) = 1 else -1,

with eta_i Gaussian in the span of the low-frequency DCT basis (``advlab.attacks.dct``: the coefficients
(u, v) with u, v < ceil(ratio H), per channel; the authors keep 75 of 224 frequencies, ratio 0.335). The
smallest Lp step from x onto that hyperplane (eq. 13) is, for p = 2 and p = inf,

    v* = (w^T (x_B - x) / ||w||_2^2) w        and        v* = (w^T (x_B - x) / ||w||_1) sign(w),

and Algorithm 1 iterates, from a first boundary point x_B,0 (noise, then a binary search towards x):

    for t = 1..T:  w^_t at x_B,t-1 from N_t queries;  x_t = x + v*_t;  x_B,t = binary search on [x, x_t].

When x_t is not adversarial (the boundary bends away from the hyperplane) the step along v*_t is doubled
until it is. The binary search stops when the two ends are closer than ``tolerance`` in L2 (the authors'
1e-4); its adversarial end is x_B,t. The result is the boundary point of least norm found.

Query allocation (sec. 4.2, eq. 19): the bound on the final error is smallest for N_t proportional to
lambda^(-2t/3) (lambda < 1, the authors' 0.6): later iterations, closer to the minimal perturbation, get more
queries. The share is recomputed for each image before each estimate from what it has left, after keeping
``RESERVE`` queries (the authors' 25) for each remaining line search: N_t = (left - RESERVE (T - t + 1))
lambda^(-2t/3) / sum_{i >= t} lambda^(-2i/3), so queries a line search did not need flow to later estimates.
T (``steps=None``) follows the authors' rule: the T for which the first estimate gets 50 to 80 queries.

The start is HopSkipJump's (advlab.attacks.hopskipjump): uniform noise until phi = 1, then the bisection of the
blend towards x. Where the peers depart: ART's GeoDA and the authors' code estimate w at each iteration but step
along a running combination of all estimates (ART: their sum; the authors' code: 0.3 new + 0.7 old), fix N_t
before the attack with 25 queries per iteration kept aside whatever the start and the searches cost (their
``max_iter`` is a target, not a bound), walk from x in steps of 5 times the unnormalised estimate instead of
the hyperplane's v*, and ART's binary search stops at an L2 gap of 0.1 (its default ``bin_search_tol``) instead
of the authors' 1e-4: on 8x8 digits that doubles ART's median L2 and leaves some images unfooled
(tests/test_attack_geoda.py). ART 1.20 also calls ``np.mat``, which NumPy 2 removed. advlab follows Algorithm 1:
each step uses the estimate at the current boundary point, and no image exceeds its budget.

Queries: ``queries`` is the budget per image including the base class's clean pass; ``self.queries`` counts
every model evaluation of each image. Images are attacked together, every phase's queries in one call. With a
mask, the noise, the probes and the steps touch only the masked pixels. GeoDA is untargeted (the paper's).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.dct import idct_2d, low_frequency_mask
from advlab.attacks.hopskipjump import _Run
from advlab.attacks.lp import TINY, batch_view, check_norm, lp_norm, normalize_l2
from advlab.attacks.nes import image_groups
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError

RESERVE = 25  # queries kept for each iteration's line search (the authors' code)
FIRST_QUERIES = (50, 80)  # the authors' rule for T: the first estimate gets this many queries
MAX_DOUBLINGS = 20  # doublings of the step along v* before the iteration gives up


class GeoDA(Attack):
    """GeoDA (Rahmati et al. 2020): ``GeoDA(model, queries=1000)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes); only the top-1 label is used.
        queries: budget per image, the clean pass included (at most this many model evaluations per image).
        norm: ``"l2"`` or ``"linf"``, the norm of the step onto the estimated hyperplane (eq. 13).
        steps: T, the iterations (normal estimates); None: the authors' rule (the first estimate gets 50-80
            queries).
        lam: lambda of the query allocation N_t ~ lambda^(-2t/3) (eq. 19), in (0, 1]; 1 shares them equally.
        sigma: the probes' scale: x_B + sigma eta, eta Gaussian in the low-frequency subspace (the authors'
            0.0002).
        ratio: the share of DCT frequencies per axis that span the subspace (the authors' 75 of 224).
        tolerance: the binary searches stop when their ends are this close in L2 (the authors' 1e-4).
        targeted: must be False; GeoDA is untargeted.
        seed: seed of the noise and the probes (None: torch's global generator).
    """

    name = "geoda"
    paper = ("Rahmati, Moosavi-Dezfooli, Frossard & Dai 2020, GeoDA: a geometric framework for black-box "
             "adversarial attacks")
    norms = ("l2", "linf")
    norm = None  # GeoDA minimises the perturbation; the results report its norms
    black_box = True

    def __init__(self, model: nn.Module, queries: int = 4000, norm: str = "l2", steps: int | None = None,
                 lam: float = 0.6, sigma: float = 0.0002, ratio: float = 75 / 224, tolerance: float = 1e-4,
                 targeted: bool = False, seed: int | None = None):
        if targeted:
            raise AdvlabError(f"{self.name}: GeoDA is untargeted only (the paper's algorithm); use hopskipjump "
                              "for a targeted decision-based attack")
        super().__init__(model, eps=None, targeted=False, seed=seed)
        self.budget = check_int(f"{self.name}: queries", queries, 1)
        self.distance = check_norm(norm, self.name)
        self.steps = None if steps is None else check_int(f"{self.name}: steps", steps, 1)
        self.lam = check_number(f"{self.name}: lam", lam, 0.0, strict=True)
        if self.lam > 1:
            raise AdvlabError(f"{self.name}: lam must lie in (0, 1], got {lam!r}")
        self.sigma = check_number(f"{self.name}: sigma", sigma, 0.0, strict=True)
        self.ratio = check_number(f"{self.name}: ratio", ratio, 0.0, strict=True)
        if self.ratio > 1:
            raise AdvlabError(f"{self.name}: ratio must lie in (0, 1], got {ratio!r}")
        self.tolerance = check_number(f"{self.name}: tolerance", tolerance, 0.0, strict=True)

    def iterations(self) -> int:
        """T: ``steps``, or the authors' rule (the first of the T shares gets FIRST_QUERIES)."""
        if self.steps is not None:
            return self.steps
        return authors_iterations(self.budget, self.lam)

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        self.queries = torch.ones(len(images), dtype=torch.int64, device=images.device)
        todo = (~self.goal(self.clean_logits, labels)).nonzero().flatten()
        if self.budget < 2 or len(todo) == 0:
            return images
        run = _GeoRun(self, images[todo], labels[todo], None if mask is None else mask[todo],
                      self.generator(images.device))
        adversarial = images.clone()
        adversarial[todo] = run.search()
        self.queries[todo] = run.spent
        return adversarial


def authors_iterations(budget: int, lam: float) -> int:
    """The authors' T: from budget / 500, one more while the first share of (budget - RESERVE T) exceeds 80
    queries, one fewer while it is under 50."""
    def first_share(t: int) -> float:
        weights = [lam ** (-2 * i / 3) for i in range(t)]
        return (budget - RESERVE * t) * weights[0] / sum(weights)

    t, seen = max(1, round(budget / 500)), set()
    while t not in seen:
        seen.add(t)
        share = first_share(t)
        if share > FIRST_QUERIES[1]:
            t += 1
        elif share < FIRST_QUERIES[0] and t > 1:
            t -= 1
        else:
            break
    return t


class _GeoRun(_Run):
    """One GeoDA run over the images still to attack: HopSkipJump's queries, start and bookkeeping."""

    def __init__(self, geoda: GeoDA, images: Tensor, labels: Tensor, mask: Tensor | None,
                 generator: torch.Generator | None):
        super().__init__(geoda, images, labels, mask, generator)
        self.geoda, self.linf = geoda, geoda.distance == "linf"  # the norm of the bookkeeping (least norm kept)
        height, width = images.shape[-2:]
        self.frequencies = low_frequency_mask(height, width, geoda.ratio, images.device)

    def search(self) -> Tensor:
        everyone = torch.arange(len(self.images), device=self.images.device)
        ready = torch.zeros(len(self.images), dtype=torch.bool, device=self.images.device)
        starts = self.noise_starts(self.images.clone(), ready)
        self.best = self.images.clone()
        self.best_distance = torch.full((len(self.images),), float("inf"), device=self.images.device)
        rows = ready.nonzero().flatten()
        boundary = self.images.clone()
        boundary[rows] = self.line_search(starts[rows], rows)
        self.remember(boundary[rows], rows)
        total = self.geoda.iterations()
        for t in range(1, total + 1):
            rows = everyone[ready & (self.left(everyone) > 0)]
            if len(rows) == 0:
                break
            normal = self.normal(boundary[rows], rows, self.shares(rows, t, total))
            far = self.hyperplane_step(boundary[rows], normal, rows)
            found = (far != self.images[rows]).flatten(1).any(1)
            boundary[rows[found]] = self.line_search(far[found], rows[found])
            self.remember(boundary[rows], rows)
        return self.best

    # ------------------------------------------------------------------ sec. 4.2: the queries per estimate

    def shares(self, rows: Tensor, t: int, total: int) -> Tensor:
        """N_t per row: its budget left after RESERVE per remaining line search, times lambda^(-2t/3) over the
        remaining weights (eq. 19 on what is left)."""
        weights = [self.geoda.lam ** (-2 * i / 3) for i in range(t, total + 1)]
        available = self.left(rows) - RESERVE * (total - t + 1)
        share = torch.floor(available.double() * weights[0] / sum(weights)).long()
        if t == total:
            share = self.left(rows) - RESERVE
        return share.clamp(min=1)

    # ------------------------------------------------------------------ sec. 3: the normal at a boundary point

    def normal(self, boundary: Tensor, rows: Tensor, counts: Tensor) -> Tensor:
        """w^ at each boundary point from `counts` probes (cut to the budget), in groups that fit memory."""
        counts = torch.minimum(counts, self.left(rows))
        most = int(counts.max())
        parts = [self.estimate(boundary[g], rows[g], counts[g], most)
                 for g in image_groups(len(rows), most * boundary[0].numel())]
        return torch.cat(parts)

    def subspace_noise(self, n: int, like: Tensor) -> Tensor:
        """n Gaussian directions per image spanned by the low-frequency DCT basis (per channel)."""
        shape = (len(like), n, *like.shape[1:])
        coefficients = torch.randn(shape, generator=self.generator, device=like.device, dtype=like.dtype)
        return idct_2d(coefficients * self.frequencies)

    def estimate(self, boundary: Tensor, rows: Tensor, counts: Tensor, most: int) -> Tensor:
        """(1 / N) sum_i z_i eta_i, z_i = +1 where the probe x_B + sigma eta_i is adversarial, else -1."""
        n = len(rows)
        noise = self.subspace_noise(most, boundary)
        if self.mask is not None:
            noise = noise * self.mask[rows][:, None]
        probes = boundary[:, None] + self.geoda.sigma * noise
        valid = torch.arange(most, device=boundary.device)[None, :] < counts[:, None]
        owners = rows[:, None].expand(n, most)[valid]
        signs = torch.zeros(n, most, device=boundary.device, dtype=boundary.dtype)
        signs[valid] = 2 * self.decide(probes[valid], owners).to(boundary.dtype) - 1
        total = torch.einsum("nb,nb...->n...", signs, noise)
        return total / batch_view(counts.clamp(min=1).to(boundary.dtype), boundary)

    # ------------------------------------------------------------------ sec. 4: the step and the line search

    def hyperplane_step(self, boundary: Tensor, normal: Tensor, rows: Tensor) -> Tensor:
        """x + c v*: the step of eq. 13 onto the hyperplane, doubled until adversarial (x where none is)."""
        x = self.images[rows]
        direction = normal.sign() if self.linf else normalize_l2(normal)
        dual = lp_norm(normal, 1.0) if self.linf else lp_norm(normal, 2.0)
        reach = (normal * (boundary - x)).flatten(1).sum(1) / dual.clamp(min=TINY)
        size = torch.where(reach > 0, reach, self.distance(boundary, rows))  # a reversed estimate: the old radius
        found = torch.zeros(len(rows), dtype=torch.bool, device=x.device)
        for _ in range(MAX_DOUBLINGS):
            open_ = ~found & (self.left(rows) > 0)
            if not open_.any():
                break
            k = open_.nonzero().flatten()
            candidate = (x[k] + batch_view(size[k], x) * direction[k]).clamp(0.0, 1.0)
            found[k] = self.decide(candidate, rows[k])
            size[k] = torch.where(found[k], size[k], 2 * size[k])
        far = (x + batch_view(size, x) * direction).clamp(0.0, 1.0)
        return torch.where(batch_view(found, x), far, x)

    def line_search(self, far: Tensor, rows: Tensor) -> Tensor:
        """The adversarial end of the bisection between the images and adversarial `far`: its ends closer than
        ``tolerance`` in L2."""
        threshold = self.geoda.tolerance / lp_norm(far - self.images[rows], 2.0).clamp(min=TINY)
        high, low = torch.ones(len(rows), device=far.device), torch.zeros(len(rows), device=far.device)
        while True:
            open_ = ((high - low) > threshold) & (self.left(rows) > 0)
            if not open_.any():
                return self.project(far, rows, high, blend=True)
            k = open_.nonzero().flatten()
            middle = (high[k] + low[k]) / 2
            fooled = self.decide(self.project(far[k], rows[k], middle, blend=True), rows[k])
            high[k] = torch.where(fooled, middle, high[k])
            low[k] = torch.where(fooled, low[k], middle)
