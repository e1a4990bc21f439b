"""The Square Attack: score-based black-box random search, Linf and L2.

Andriushchenko, Croce, Flammarion & Hein 2020, "Square Attack: a query-efficient black-box
adversarial attack via random search", Algorithm 1: start at x_hat = the initialisation, then
repeat: draw an update delta from a distribution P, x_new = Pi_S(x_hat + delta), one query, keep
x_new if its loss L is lower. Only the sampling distribution differs between the norms:

* Linf (Alg. 2): the start is vertical stripes, x + eps * (one random sign per column and
  channel); an update is a square of side h at a uniform random position, one random sign per
  channel, of value +-2 eps, so after the projection the square sits on a corner of the ball;
  an update that would not change x_hat is drawn again without a query. The authors' code redraws
  only the signs, at the same position, until the square changes something; advlab redraws the
  position and the signs, at most 10 times, then spends the query.
* L2 (Alg. 3): the start is a grid of bumps (side = image side // 5) with random signs, scaled
  to norm eps; an update moves the perturbation's mass inside window W1 onto the "nested
  squares" bump eta of eq. (6) (two rectangles of opposite sign, randomly rotated by 90
  degrees), takes the mass of a second window W2 and the unused budget eps^2 - ||nu||^2 with
  it, and the result is put back on the sphere of radius eps.

The side h follows the fraction of pixels p(i) changed per update: h = round(sqrt(p * H * W)),
p(i) = p_init halved at iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of 10000,
rescaled to the budget as the authors' code does. The loss is the paper's margin
L = z_y - max_{j != y} z_j (untargeted) and the cross-entropy to the target (targeted).

Queries: ``queries`` is the budget per image including the clean pass the base class makes
(``clean_logits``), so an image costs 1 (clean) + 1 (initialisation) + one per iteration, at most
``queries`` in all; an image stops being queried once it is misclassified (reaches the target).
Every image draws its own windows and signs (the paper's algorithm, one image at a time), while
each model call takes all the images still attacked.

Differences from the peers, for budgets that compare: torchattacks' ``Square(n_queries=q)``
and ART's ``SquareAttack(max_iter=q)`` try q candidates after the start, so they match advlab's
``queries = q + 2``; both draw one window (and, for Linf, one sign) for the whole batch.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.lp import TINY, batch_view, check_norm, linf_bounds, normalize_l2
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError

HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)  # of 10000 iterations: p halves after each
SCHEDULE_LENGTH = 10000
DEFAULT_P_INIT = {"linf": 0.05, "l2": 0.1}  # the authors' standard values (README, attack.py)
SAME = 1e-7  # a candidate closer than this to x_hat everywhere would waste a query
REDRAWS = 10  # draws of an update before a query is spent on it anyway (eps = 0, tiny masks)
SIGN_VALUES = (-1.0, 1.0)  # randint(0, 2) -> -1, +1, as random_signs maps them
WINDOW_TABLE = 1 << 20  # largest table of all squares' windows kept (corners x H x W booleans)


@functools.lru_cache(maxsize=64)
def sign_steps(eps: float, device: torch.device) -> Tensor:
    """(2, 1, 1, 1, 1): the Linf update's step for sign index 0 and 1, -2 eps and +2 eps (as random_signs'
    float32 signs times 2 eps, so that x_hat + step is the same float either way)."""
    return 2 * eps * torch.tensor(SIGN_VALUES, device=device).view(2, 1, 1, 1, 1)


def fraction(p_init: float, iteration: int, total: int) -> float:
    """p(i): p_init halved at each milestone passed, the schedule stretched to `total` iterations."""
    scaled = int(iteration / total * SCHEDULE_LENGTH)
    return p_init / 2 ** sum(scaled > milestone for milestone in HALVINGS)


def nested_squares(rows: int, cols: int) -> Tensor:
    """eta^(rows, cols) of eq. (6): at Chebyshev distance m from the centre, sum_{j=m+1}^{n+1} 1/j^2."""
    n = max(rows, cols) // 2
    tail = (1.0 / torch.arange(1, n + 2, dtype=torch.float64) ** 2).flip(0).cumsum(0).flip(0)
    distance = torch.maximum((torch.arange(rows) - rows // 2).abs()[:, None],
                             (torch.arange(cols) - cols // 2).abs()[None, :])
    return tail[distance]


def bump(side: int) -> Tensor:
    """The L2 update's shape: eta^(side, side//2) over -eta^(side, side - side//2), unit norm."""
    top, bottom = nested_squares(side // 2, side), nested_squares(side - side // 2, side)
    shape = torch.cat([top, -bottom], dim=0)
    return shape / shape.norm()


@functools.lru_cache(maxsize=64)
def bump_as(side: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """bump(side) in `dtype` on `device`, made once (the L2 update draws it every iteration)."""
    return bump(side).to(dtype=dtype, device=device)


def random_signs(shape: tuple[int, ...], generator, device) -> Tensor:
    return torch.randint(0, 2, shape, generator=generator, device=device).float() * 2 - 1


def corners(n: int, height: int, width: int, side: int, generator, device) -> tuple[Tensor, Tensor]:
    """Top-left corners of n squares of `side`, uniform over the positions inside the image."""
    top = torch.randint(0, height - side + 1, (n,), generator=generator, device=device)
    left = torch.randint(0, width - side + 1, (n,), generator=generator, device=device)
    return top, left


@functools.lru_cache(maxsize=256)
def spans(side: int, length: int, device: torch.device) -> Tensor:
    """(length - side + 1, length) bool: row t is True on t..t + side - 1 (a square's rows or columns)."""
    offsets = torch.arange(length, device=device)[None, :] - torch.arange(length - side + 1, device=device)[:, None]
    return (offsets >= 0) & (offsets < side)


def window(top: Tensor, left: Tensor, side: int, height: int, width: int) -> Tensor:
    """(n, 1, H, W) bool: True inside each image's square."""
    inside_rows = spans(side, height, top.device)[top]
    inside_cols = spans(side, width, left.device)[left]
    return (inside_rows[:, :, None] & inside_cols[:, None, :])[:, None]


@functools.lru_cache(maxsize=32)
def windows(side: int, height: int, width: int, device: torch.device) -> Tensor:
    """(corners, 1, H, W) bool: the square at each corner top * (W - side + 1) + left."""
    squares = spans(side, height, device)[:, None, :, None] & spans(side, width, device)[None, :, None, :]
    return squares.reshape(-1, 1, height, width)


def window_at(corner: Tensor, side: int, height: int, width: int) -> Tensor:
    """window() for corners given as top * (W - side + 1) + left; a lookup for images up to 32x32."""
    cols = width - side + 1
    if (height - side + 1) * cols * height * width > WINDOW_TABLE:
        return window(corner // cols, corner % cols, side, height, width)
    return windows(side, height, width, corner.device)[corner]


def unchanged(idle: Tensor, images: Tensor, signs: Tensor, corner: Tensor) -> Tensor:
    """Per draw (k,): does the square leave every pixel as it is? `idle` [sign, image, (channel,) corner]
    from linf_candidate; the draws' images (k,), sign indices (k,) or (k, c) and corners (k,)."""
    if idle.ndim == 3:
        return idle[signs, images, corner]
    channels = torch.arange(signs.shape[1], device=signs.device)
    return idle[signs, images[:, None], channels, corner[:, None]].all(1)


@functools.lru_cache(maxsize=256)
def offsets(side: int, length: int, device: torch.device) -> Tensor:
    """(length - side + 1, length): for a square starting at t, each row's index inside it, clamped to 0..side-1."""
    return (torch.arange(length, device=device)[None, :] - torch.arange(length - side + 1, device=device)[:, None]
            ).clamp(0, side - 1)


def place(patches: Tensor, top: Tensor, left: Tensor, height: int, width: int) -> Tensor:
    """(n, s, s) patches written at each image's corner into zeros (n, 1, H, W)."""
    n, side = patches.shape[0], patches.shape[1]
    rows, cols = offsets(side, height, top.device)[top], offsets(side, width, left.device)[left]
    picked = patches[torch.arange(n, device=top.device)[:, None, None], rows[:, :, None], cols[:, None, :]]
    inside = window(top, left, side, height, width)[:, 0]
    return (picked * inside)[:, None]


def channel_norms(x: Tensor) -> Tensor:
    """L2 norm over each (image, channel) plane, shape (n, c, 1, 1)."""
    return x.pow(2).sum(dim=(2, 3), keepdim=True).sqrt()


class Square(Attack):
    """Square Attack (Andriushchenko et al. 2020): ``Square(model, eps=0.3, queries=1000)(images, labels)``.

    Args:
        model: maps images (N, C, H, W) in [0, 1] to logits (N, classes).
        eps: radius of the ball (Linf or L2), or a list of radii.
        queries: budget per image, the clean pass included (at most this many model evaluations
            per image); default 5000, the budget AutoAttack gives the Square Attack.
        p_init: initial fraction of the pixels an update changes (default: 0.05 for Linf, 0.1 for
            L2, the authors' standard values; robust models like larger ones, e.g. 0.3 to 0.8).
        norm: ``"linf"`` (Alg. 2) or ``"l2"`` (Alg. 3).
        targeted: labels are target classes (the loss is then the cross-entropy to the target).
        seed: seed of the random search (None: torch's global generator).
    """

    name = "square"
    paper = ("Andriushchenko, Croce, Flammarion & Hein 2020, Square Attack: a query-efficient black-box "
             "adversarial attack via random search")
    norms = ("linf", "l2")
    black_box = True

    def __init__(self, model: nn.Module, eps=8 / 255, queries: int = 5000, p_init: float | None = None,
                 norm: str = "linf", targeted: bool = False, seed: int | None = None):
        super().__init__(model, eps=eps, targeted=targeted, seed=seed)
        self.budget = check_int(f"{self.name}: queries", queries, 1)
        self.norm = check_norm(norm, self.name)
        if p_init is None:
            p_init = DEFAULT_P_INIT[self.norm]
        self.p_init = check_number(f"{self.name}: p_init", p_init, 0.0, strict=True)
        if self.p_init > 1:
            raise AdvlabError(f"{self.name}: p_init is a fraction of the pixels and must lie in (0, 1], got {p_init!r}")

    # ------------------------------------------------------------------ the search

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        if images.ndim != 4:
            raise AdvlabError(f"{self.name}: images must have shape (N, C, H, W), got {tuple(images.shape)}")
        self.queries = torch.ones(len(images), dtype=torch.int64, device=images.device)
        todo = (~self.goal(self.clean_logits, labels)).nonzero().flatten()
        if self.budget < 2 or self.eps == 0 or len(todo) == 0:
            return images
        part_mask = None if mask is None else mask[todo]
        best, spent = self.search(images[todo], labels[todo], part_mask, self.generator(images.device))
        adversarial = images.clone()
        adversarial[todo] = best
        self.queries[todo] = spent
        return adversarial

    def search(self, images: Tensor, labels: Tensor, mask: Tensor | None,
               generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """Algorithm 1 on images the model still gets right: (best iterates, queries per image).

        The loop works on compact copies of the images still attacked (their rows in `live`, in
        their original order, so every image draws what it would draw one at a time): they shrink
        only when an image reaches its goal, instead of being gathered and scattered back every
        iteration.
        """
        bounds = linf_bounds(images, self.eps, mask)
        best = self.initial(images, mask, bounds, generator)
        best_loss, done = self.score(best, labels)
        spent = torch.full((len(images),), 2, dtype=torch.int64, device=images.device)  # clean pass + start
        total = self.budget - 1  # the search's own queries, as the authors count n_iters
        live = (~done).nonzero().flatten()
        x, y, lower, upper = images[live], labels[live], bounds[0][live], bounds[1][live]
        part_mask = None if mask is None else mask[live]
        current, current_loss = best[live], best_loss[live]
        iterations = 0
        for iteration in range(self.budget - 2):
            if len(live) == 0:
                break
            iterations += 1
            p = fraction(self.p_init, iteration, total)
            candidate = self.candidate(x, current, part_mask, (lower, upper), p, generator)
            loss, reached = self.score(candidate, y)
            better = (loss < current_loss) | reached
            current = torch.where(batch_view(better, candidate), candidate, current)
            current_loss = torch.where(better, loss, current_loss)
            if reached.any():  # these images are done: keep their iterate, stop querying them
                finished = live[reached]
                best[finished] = current[reached]
                spent[finished] = 2 + iterations
                keep = ~reached
                live, x, y, lower, upper = live[keep], x[keep], y[keep], lower[keep], upper[keep]
                current, current_loss = current[keep], current_loss[keep]
                part_mask = None if part_mask is None else part_mask[keep]
        best[live] = current
        spent[live] = 2 + iterations
        return best, spent

    def score(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """One query per image: (loss to minimise, goal reached)."""
        logits = self.predict(images)
        if self.targeted:
            loss = F.cross_entropy(logits, labels, reduction="none")
        else:  # the margin z_y - max_{j != y} z_j (advlab.attacks.losses.margin, negated, in fewer steps)
            column = labels[:, None]
            loss = logits.gather(1, column)[:, 0] - logits.scatter(1, column, -math.inf).amax(1)
        return loss, self.goal(logits, labels)

    # ------------------------------------------------------------------ the sampling distributions

    def initial(self, images: Tensor, mask: Tensor | None, bounds: tuple[Tensor, Tensor],
                generator: torch.Generator | None) -> Tensor:
        if self.norm == "linf":
            n, c, _, w = images.shape
            stripes = random_signs((n, c, 1, w), generator, images.device)
            return torch.clamp(images + self.eps * stripes, *bounds)
        return self.l2_initial(images, mask, generator)

    def candidate(self, images: Tensor, best: Tensor, mask: Tensor | None, bounds: tuple[Tensor, Tensor],
                  p: float, generator: torch.Generator | None) -> Tensor:
        if self.norm == "l2":
            return self.l2_candidate(images, best, mask, p, generator)
        return self.linf_candidate(images, best, bounds, p, generator)

    def linf_candidate(self, images: Tensor, best: Tensor, bounds: tuple[Tensor, Tensor], p: float,
                       generator: torch.Generator | None) -> Tensor:
        """Alg. 2: a square of +-2 eps (one sign per channel) on x_hat, projected onto the feasible box.

        An update that would not change x_hat (every pixel of its square already on that side of
        the box) is drawn again, up to REDRAWS times, before a query is spent on it. Whether a
        draw changes anything is looked up in a table made once per iteration (per sign, image,
        channel and corner: does the square leave all its pixels as they are), so a redraw costs
        its three random draws and a lookup, not a candidate image.
        """
        n, c, h, w = images.shape
        side = min(max(round(math.sqrt(p * h * w)), 1), max(min(h, w) - 1, 1))
        device = images.device
        rows, cols = h - side + 1, w - side + 1  # the corners a square can have
        moved = torch.clamp(best + sign_steps(self.eps, device), *bounds)  # (2, n, c, h, w): x_hat -+ 2 eps
        kept = (moved - best).abs() < SAME
        if side > 1:  # a square keeps its side^2 pixels: sums over squares from a summed-area table
            sums = F.pad(kept.cumsum(3, dtype=torch.int32).cumsum(4, dtype=torch.int32), (1, 0, 1, 0))
            kept = (sums[..., side:, side:] - sums[..., :-side, side:] - sums[..., side:, :-side]
                    + sums[..., :-side, :-side]) == side * side
        idle = kept.view(2, n, rows * cols) if c == 1 else kept.view(2, n, c, rows * cols)

        def draw(k: int) -> tuple[Tensor, Tensor]:
            """k squares: sign indices (k,) or (k, c) (0: -1, 1: +1) and corners top * cols + left (k,)."""
            top, left = corners(k, h, w, side, generator, device)
            signs = torch.randint(0, 2, (k,) if c == 1 else (k, c), generator=generator, device=device)
            return signs, left.add(top, alpha=cols)

        signs, corner = draw(n)
        everyone = torch.arange(n, device=device)
        redo, fresh_signs, fresh_corner = everyone, signs, corner
        for _ in range(REDRAWS):
            redo = redo[unchanged(idle, redo, fresh_signs, fresh_corner)]
            if len(redo) == 0:
                break
            fresh_signs, fresh_corner = draw(len(redo))
            signs[redo], corner[redo] = fresh_signs, fresh_corner
        chosen = moved[signs, everyone] if c == 1 else moved[signs, everyone[:, None], torch.arange(c, device=device)]
        return torch.where(window_at(corner, side, h, w), chosen, best)

    def l2_initial(self, images: Tensor, mask: Tensor | None, generator: torch.Generator | None) -> Tensor:
        """A grid of bumps of side H // 5 with random signs per image and channel, scaled to norm eps."""
        n, c, h, w = images.shape
        side = max(min(h, w) // 5, 1)
        delta = torch.zeros_like(images)
        first_row, first_col = (h - h // side * side) // 2, (w - w // side * side) // 2
        for row in range(first_row, h - side + 1, side):
            for col in range(first_col, w - side + 1, side):
                shape = bump(side).to(images)
                if torch.rand(1, generator=generator, device=images.device).item() > 0.5:
                    shape = shape.T
                signs = random_signs((n, c, 1, 1), generator, images.device)
                delta[:, :, row:row + side, col:col + side] += shape * signs
        if mask is not None:
            delta = delta * mask
        return (images + self.eps * normalize_l2(delta)).clamp(0.0, 1.0)

    def l2_candidate(self, images: Tensor, best: Tensor, mask: Tensor | None, p: float,
                     generator: torch.Generator | None) -> Tensor:
        """Alg. 3: move the mass of windows W1 and W2 (and the unused budget) onto a bump in W1."""
        n, c, h, w = images.shape
        side = max(round(math.sqrt(p * h * w)), 3)
        side = min(side + 1 if side % 2 == 0 else side, min(h, w))
        nu = best - images
        top1, left1 = corners(n, h, w, side, generator, images.device)
        top2, left2 = corners(n, h, w, side, generator, images.device)
        first, second = window(top1, left1, side, h, w), window(top2, left2, side, h, w)
        shapes = bump_as(side, images.dtype, images.device).expand(n, side, side)
        turned = torch.rand(n, generator=generator, device=images.device) > 0.5
        shapes = torch.where(turned[:, None, None], shapes.transpose(1, 2), shapes)
        eta = place(shapes, top1, left1, h, w) * random_signs((n, c, 1, 1), generator, images.device)
        if mask is not None:
            eta = eta * mask
        unused = (self.eps ** 2 - nu.flatten(1).pow(2).sum(1)).clamp(min=0.0)
        inside = nu * first
        temporary = eta / (channel_norms(eta) + TINY) + inside / (channel_norms(inside) + TINY)
        available = (channel_norms(nu * (first | second)) ** 2 + batch_view(unused, nu) / c).sqrt()
        moved = torch.where(first | second, torch.zeros_like(nu), nu)
        moved = moved + first * temporary / (channel_norms(temporary) + TINY) * available
        return (images + self.eps * normalize_l2(moved)).clamp(0.0, 1.0)
