"""SimBA: Simple Black-box Attack, a greedy walk along orthonormal directions on the output probability.

Guo, Gardner, You, Wilson & Weinberger 2019, "Simple Black-box Adversarial Attacks", Algorithm 1: with
p = p_h(y | x) the model's probability of the true class, pick a direction q from an orthonormal basis Q
without replacement and, for alpha in {-eps, +eps},

    p' = p_h(y | x + alpha q);   if p' < p:  x <- x + alpha q,  p <- p',  and go to the next q

(targeted: keep the step that raises the target's probability). The negative step is tried first, as the
authors' code does; the positive one is queried only when it did not help, so an iteration costs 1 or 2
queries (the paper's count). The bases (sec. 3.1-3.2): ``"pixel"``, the standard basis of the C x H x W
coordinates, in random order; ``"dct"``, the orthonormal 2-D DCT basis of each channel (advlab.attacks.dct),
in the authors' "strided" order: first the low-frequency block of the lowest ceil(freq_ratio H) x
ceil(freq_ratio W) frequencies, then rings of ``stride`` further rows and columns, random within each block
and across channels (the paper's ImageNet setting, 28 of 224 and stride 7, is freq_ratio 1/8, stride 1/32
of the side). eps = 0.2 (the paper's, pixels in [0, 1]). When the budget outlasts the basis, a new pass over
a fresh order begins (as ART does); the paper's runs stop within one pass.

As in the authors' batch code the walk keeps the perturbation's coefficients c in the basis, and the image
it queries is clip(x + mask * B(c), 0, 1) (B the identity or the inverse DCT): clipping never accumulates.
Every query's image differs from the clean one only inside the mask.

Threat model: SimBA has no budget of its own; it stops at the first adversarial iterate. Each accepted
step adds one orthogonal vector of norm eps, so after k accepted steps (in one pass) ||delta||_2 <= eps
sqrt(k) (clipping and the mask only shrink it). It is reported as a minimum-L2 attack (``norm = "l2"``,
``minimum_norm``: compare it by success rate and L2 at equal queries). With ``max_l2`` the walk is kept in
the L2 ball of that radius: a candidate outside it is not queried (it costs nothing) and counts as no
improvement.

Queries: ``queries`` is the budget per image including the base class's clean pass (which gives p and the
prediction at x); the prediction at every accepted iterate comes with the query that accepted it, so
checking success costs nothing. A candidate that would not change the image (clipped at the box, or
masked away) is not queried. An image stops once it fools the model, its budget is spent, or a whole pass
over the basis found nothing to query (the cap reached). The images
of a batch walk together, each with its own order, one model call per trial.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.dct import idct_2d
from advlab.attacks.lp import lp_norm
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError

BASES = ("pixel", "dct")
NORM_SLACK = 1e-6  # float rounding allowed on the max_l2 check


def strided_ranks(channels: int, height: int, width: int, freq_ratio: float, stride_ratio: float) -> Tensor:
    """(C, H, W) block index of each DCT coefficient in the strided order: 0 for the low-frequency block
    (u < ceil(ratio H), v < ceil(ratio W)), then 1, 2, ... for each ring of `stride` more rows and columns."""
    first_h, first_w = max(1, math.ceil(freq_ratio * height)), max(1, math.ceil(freq_ratio * width))
    step_h, step_w = max(1, math.ceil(stride_ratio * height)), max(1, math.ceil(stride_ratio * width))
    rings_h = ((torch.arange(height) - first_h).clamp(min=-1) // step_h + 1)[:, None]
    rings_w = ((torch.arange(width) - first_w).clamp(min=-1) // step_w + 1)[None, :]
    return torch.maximum(rings_h, rings_w).expand(channels, height, width)


class SimBA(Attack):
    """SimBA (Guo et al. 2019): ``SimBA(model, eps=0.2, basis="dct", queries=1000)(images, labels)``.

    Args:
        model: maps images (N, C, H, W) in [0, 1] to logits (N, classes); SimBA reads their softmax.
        eps: the step along each basis direction (the paper's epsilon, 0.2), or a list of them.
        basis: ``"pixel"`` (SimBA) or ``"dct"`` (SimBA-DCT).
        freq_ratio: SimBA-DCT's first block, this share of the lowest frequencies per side (1/8).
        stride_ratio: SimBA-DCT's rings, this share of the side each (1/32, at least one frequency).
        max_l2: keep the perturbation in the L2 ball of this radius (None: no cap, SimBA's default).
        queries: budget per image, the clean pass included (at most this many model evaluations per
            image); default 10000 (the paper's ImageNet untargeted budget).
        targeted: labels are target classes (their probability is raised).
        seed: seed of the orders (None: torch's global generator).
    """

    name = "simba"
    paper = "Guo, Gardner, You, Wilson & Weinberger 2019, Simple Black-box Adversarial Attacks"
    norm = "l2"
    minimum_norm = True  # no budget: it stops at the first adversarial iterate (see max_l2)
    black_box = True
    feedback = "scores"

    def __init__(self, model: nn.Module, eps=0.2, basis: str = "dct", freq_ratio: float = 1 / 8,
                 stride_ratio: float = 1 / 32, max_l2: float | None = None, queries: int = 10000,
                 targeted: bool = False, seed: int | None = None):
        super().__init__(model, eps=eps, targeted=targeted, seed=seed)
        if basis not in BASES:
            raise AdvlabError(f"{self.name}: unknown basis {basis!r}; valid bases are: {', '.join(BASES)}")
        self.basis = basis
        self.freq_ratio = check_number(f"{self.name}: freq_ratio", freq_ratio, 0.0, strict=True)
        self.stride_ratio = check_number(f"{self.name}: stride_ratio", stride_ratio, 0.0, strict=True)
        for what, value in (("freq_ratio", self.freq_ratio), ("stride_ratio", self.stride_ratio)):
            if value > 1:
                raise AdvlabError(f"{self.name}: {what} is a share of the image side and must lie in (0, 1], "
                                  f"got {value!r}")
        self.max_l2 = None if max_l2 is None else check_number(f"{self.name}: max_l2", max_l2, 0.0, strict=True)
        self.budget = check_int(f"{self.name}: queries", queries, 1)

    # ------------------------------------------------------------------ the walk

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        if images.ndim != 4:
            raise AdvlabError(f"{self.name}: images must have shape (N, C, H, W), got {tuple(images.shape)}")
        n, dims = len(images), images[0].numel()
        generator = self.generator(images.device)
        coefficients = torch.zeros(n, dims, dtype=images.dtype, device=images.device)
        adversarial = images.clone()
        best = self.probability(self.clean_logits, labels)
        spent = torch.ones(n, dtype=torch.int64, device=images.device)
        done = self.goal(self.clean_logits, labels) | (self.eps == 0)
        order, position = self.order(images, mask, generator), 0
        idle = torch.zeros(n, dtype=torch.int64, device=images.device)  # directions tried since the last query
        while True:
            live = (~done & (spent < self.budget) & (idle < dims)).nonzero().flatten()
            if len(live) == 0:
                break
            if position == dims:
                order, position = self.order(images, mask, generator), 0
            direction = order[live, position]
            position += 1
            improved = torch.zeros(len(live), dtype=torch.bool, device=images.device)
            idle[live] += 1
            for sign in (-1.0, 1.0):  # x - eps q first; x + eps q only where that did not help
                where = (~improved & (spent[live] < self.budget)).nonzero().flatten()
                trying = live[where]
                candidate = coefficients[trying].clone()
                candidate[torch.arange(len(trying), device=images.device), direction[where]] += sign * self.eps
                points = self.image(images[trying], candidate, None if mask is None else mask[trying])
                # a candidate that changes nothing (clipped, masked) or leaves the cap is not worth a query
                asking = self.inside(points, images[trying]) & (points != adversarial[trying]).flatten(1).any(1)
                if not asking.any():
                    continue
                where, asked, points, candidate = where[asking], trying[asking], points[asking], candidate[asking]
                logits = self.predict(points)
                spent[asked] += 1
                idle[asked] = 0
                probability = self.probability(logits, labels[asked])
                better = probability > best[asked] if self.targeted else probability < best[asked]
                kept = asked[better]
                coefficients[kept], adversarial[kept], best[kept] = candidate[better], points[better], \
                    probability[better]
                done[kept] = self.goal(logits[better], labels[kept])
                improved[where[better]] = True
        self.queries = spent
        return adversarial

    def probability(self, logits: Tensor, labels: Tensor) -> Tensor:
        return logits.softmax(1).gather(1, labels[:, None])[:, 0]

    def image(self, images: Tensor, coefficients: Tensor, mask: Tensor | None) -> Tensor:
        """clip(x + mask * B(c), 0, 1): the image a walk with coefficients c stands for."""
        delta = coefficients.view(images.shape)
        if self.basis == "dct":
            delta = idct_2d(delta)
        if mask is not None:
            delta = delta * mask
        return (images + delta).clamp(0.0, 1.0)

    def inside(self, points: Tensor, images: Tensor) -> Tensor:
        """Per candidate: within max_l2 of the clean image (always, without a cap)."""
        if self.max_l2 is None:
            return torch.ones(len(points), dtype=torch.bool, device=points.device)
        return lp_norm(points - images, 2) <= self.max_l2 + NORM_SLACK

    def order(self, images: Tensor, mask: Tensor | None, generator: torch.Generator | None) -> Tensor:
        """(N, C*H*W) a fresh order of the basis per image: random (pixel, masked coordinates first) or strided
        (dct: block by block, random inside each block)."""
        n, c, h, w = images.shape
        keys = torch.rand(n, c * h * w, generator=generator, device=images.device)
        if self.basis == "dct":
            ranks = strided_ranks(c, h, w, self.freq_ratio, self.stride_ratio).to(images.device)
            keys = keys + ranks.flatten().to(keys.dtype)[None, :]
        elif mask is not None:
            keys = keys + (~mask.flatten(1)).to(keys.dtype)  # directions the mask blocks come last
        return keys.argsort(1)

