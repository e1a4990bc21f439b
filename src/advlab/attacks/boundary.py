"""The Boundary Attack: decision-based, it walks along the decision boundary towards the image (L2).

Brendel, Rauber & Bethge 2018, "Decision-Based Adversarial Attacks: Reliable Attacks Against Black-Box
Machine Learning Models", sec. 3 (Algorithm 1, Fig. 2). From an adversarial start o~_0, each step draws a
candidate o~_{k-1} + eta_k and keeps it if it is still adversarial (the model's top-1 label is not the
true class; targeted: it is the target class). With o the image and d = ||o - o~_{k-1}||_2, the
proposal eta_k (sec. 3.1) is

* an orthogonal step: Gaussian noise, its component along (o - o~_{k-1}) removed, scaled to delta d,
  and the sum put back on the sphere of radius d around o:
  s = o + (o~_{k-1} - o + eta_perp) / sqrt(1 + delta^2), clipped to [0, 1];
* a step towards the image of length epsilon d (corrected for the clipping's departure from the sphere):
  c = s + (epsilon d + ||o - s|| - d) (o - s) / ||o - s||, clipped to [0, 1].

Step sizes (sec. 3.2, the 50 % / 20 % rule): "we test whether the orthogonal perturbation is still
adversarial. If this is true, we make a small movement towards the target and test again". So each step
queries s, and c only where s is adversarial (one or two queries). Over each image's last 20 orthogonal
trials, a success rate above 50 % multiplies delta and epsilon by ``adaptation`` (the boundary looks
linear there), below 20 % divides both; over its last 10 steps towards the image (tried after an
adversarial s), above 50 % multiplies epsilon, below 20 % divides it; a window that moved a step size is
emptied. An image has converged when epsilon < 1e-7. The initial delta = epsilon = 0.01, adaptation = 1.5
and the thresholds are the authors' reference code (Foolbox's BoundaryAttack); the paper gives the rule,
not the numbers. That code tests s only every 10th step, over windows of 100 and 30 trials, a schedule
made for ImageNet runs of 10^5 queries and more: at a few thousand queries the step sizes barely adapt.
Measured on the 8x8 digits' SmallCNN (100 images, seed 0), median L2 at 1000 / 3000 queries: 1.99 / 0.92
with Foolbox's schedule, 0.68 / 0.60 with the paper's test at every step and windows of 20 and 10 (1.02 /
0.61 with windows of 100 and 30); ART reaches 0.80 at 819 queries.

The start (sec. 3.1): uniform noise until it is adversarial -- a targeted attack starts from an image of
the target class: the nearest image of the batch that the model already puts in that class (its clean
pass tells, no query is spent), with noise as the fallback -- then, as the authors' code does
(BlendedUniformNoiseAttack), the blend (1 - a) o + a o~_0 of least a that stays adversarial, found by
bisection to 0.001 (advlab.attacks.hopskipjump's start). An image for which no start was found within the
budget stays clean. With a mask, noise and steps touch only the masked pixels.

Differences from ART's BoundaryAttack (the peer): ART queries ``sample_size`` (20) orthogonal candidates
at every step, adapts delta by their success rate, then steps all the successful ones towards the image
and adapts epsilon by theirs -- up to 40 queries a step, where the paper's proposal costs one or two --
and it starts from raw uniform noise without the blend. ART's untargeted mode leaves
the model's prediction on the image, advlab the true label (the same for correctly classified images).

Queries: ``queries`` is the budget per image including the base class's clean pass; every model call
takes all the images in that phase, and an image is no longer queried once its budget is spent, it has
made ``steps`` steps, or it has converged.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.hopskipjump import START_TOLERANCE, HopSkipJump, _Run
from advlab.attacks.lp import TINY, batch_view, lp_norm
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError

SPHERICAL_WINDOW = 20  # orthogonal trials behind delta's success rate
STEP_WINDOW = 10  # steps towards the image behind epsilon's success rate
RAISE_ABOVE, LOWER_BELOW = 0.5, 0.2  # the 50 % / 20 % rule
CONVERGED = 1e-7  # epsilon below this: the image has converged


class Boundary(Attack):
    """Boundary Attack (Brendel et al. 2018): ``Boundary(model, queries=5000)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes); only the top-1 label is used.
        queries: budget per image, the clean pass included (at most this many model evaluations per image);
            default 5000.
        steps: steps (directions tried) at most; the authors' default 25000.
        spherical_step: delta, the initial orthogonal step relative to the distance to the image.
        source_step: epsilon, the initial step towards the image relative to that distance.
        adaptation: factor by which the success rates raise or lower the step sizes (> 1).
        targeted: labels are target classes.
        seed: seed of the noise and the directions (None: torch's global generator).
    """

    name = "boundary"
    paper = ("Brendel, Rauber & Bethge 2018, Decision-Based Adversarial Attacks: Reliable Attacks Against "
             "Black-Box Machine Learning Models")
    norm = None  # minimises the L2 norm of the perturbation
    norms = ("l2",)
    feedback = "decisions"
    black_box = True

    def __init__(self, model: nn.Module, queries: int = 5000, steps: int = 25000, spherical_step: float = 0.01,
                 source_step: float = 0.01, adaptation: float = 1.5, targeted: bool = False,
                 seed: int | None = None):
        super().__init__(model, eps=None, targeted=targeted, seed=seed)
        self.budget = check_int(f"{self.name}: queries", queries, 1)
        self.steps = check_int(f"{self.name}: steps", steps, 0)
        self.spherical_step = check_number(f"{self.name}: spherical_step", spherical_step, strict=True)
        self.source_step = check_number(f"{self.name}: source_step", source_step, strict=True)
        self.adaptation = check_number(f"{self.name}: adaptation", adaptation, 1.0, strict=True)
        if self.source_step >= 1:
            raise AdvlabError(f"{self.name}: source_step must be below 1 (a step of the whole distance lands on "
                              f"the image), got {source_step!r}")

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        self.queries = torch.ones(len(images), dtype=torch.int64, device=images.device)
        todo = (~self.goal(self.clean_logits, labels)).nonzero().flatten()
        if self.budget < 2 or len(todo) == 0:
            return images
        starts, known = target_class_starts(self, images, labels, mask, todo)
        run = _BoundaryRun(self, images[todo], labels[todo], None if mask is None else mask[todo],
                           self.generator(images.device))
        adversarial = images.clone()
        adversarial[todo] = run.search(starts, known)
        self.queries[todo] = run.spent
        return adversarial


def target_class_starts(attack: Attack, images: Tensor, labels: Tensor, mask: Tensor | None,
                        todo: Tensor) -> tuple[Tensor, Tensor]:
    """HopSkipJump's starts under L2: targeted, the nearest batch image of the target class (known: adversarial
    without a query); untargeted, the images themselves (noise follows)."""
    finder = HopSkipJump(attack.model, norm="l2", targeted=attack.targeted)
    finder.clean_logits = attack.clean_logits
    return finder.batch_starts(images, labels, mask, todo)


class _Window:
    """Each image's last `size` outcomes (a ring buffer, Foolbox's deque(maxlen=size)) and how many it holds."""

    def __init__(self, n: int, size: int, device: torch.device):
        self.values = torch.zeros(n, size, dtype=torch.bool, device=device)
        self.count = torch.zeros(n, dtype=torch.int64, device=device)
        self.size = size

    def push(self, rows: Tensor, outcomes: Tensor) -> None:
        self.values[rows, self.count[rows] % self.size] = outcomes
        self.count[rows] += 1

    def verdict(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        """(raise, lower) per row: a full window with a success rate above 50 % / below 20 %."""
        full = self.count[rows] >= self.size
        rate = self.values[rows].double().mean(1)
        return full & (rate > RAISE_ABOVE), full & (rate < LOWER_BELOW)

    def clear(self, rows: Tensor) -> None:
        self.count[rows] = 0


class _BoundaryRun(_Run):
    """One Boundary Attack over the images still to attack: per-image point, step sizes, statistics, budget."""

    def __init__(self, attack: Boundary, images: Tensor, labels: Tensor, mask: Tensor | None,
                 generator: torch.Generator | None):
        super().__init__(attack, images, labels, mask, generator)
        n, device = len(images), images.device
        self.attack = attack
        self.spherical = torch.full((n,), attack.spherical_step, dtype=torch.float64, device=device)
        self.source = torch.full((n,), attack.source_step, dtype=torch.float64, device=device)
        self.step = torch.ones(n, dtype=torch.int64, device=device)  # the step each image is in (from 1)
        self.spherical_window = _Window(n, SPHERICAL_WINDOW, device)
        self.step_window = _Window(n, STEP_WINDOW, device)

    def search(self, starts: Tensor, known: Tensor) -> Tensor:
        """The adversarial point per image after the walk (the image itself where no start was found)."""
        everyone = torch.arange(len(self.images), device=self.images.device)
        ready = self.verify(starts, known)
        starts = self.noise_starts(starts, ready)
        current = self.images.clone()
        rows = ready.nonzero().flatten()
        current[rows] = self.bisect(starts[rows], rows, blend=True, tolerance=START_TOLERANCE)
        while True:
            walking = ready & (self.left(everyone) > 0) & (self.step <= self.attack.steps) & (self.source >= CONVERGED)
            rows = everyone[walking]
            if len(rows) == 0:
                return current
            self.trial(current, rows)

    def candidates(self, current: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
        """(c, s) per row: the full candidate and the orthogonal one (sec. 3.1), computed in float64."""
        x, point = self.images[rows].double(), current.double()
        towards = x - point
        distance = lp_norm(towards, 2).clamp(min=TINY)
        unit = towards / batch_view(distance, towards)
        noise = torch.randn(x.shape, generator=self.generator, device=x.device, dtype=torch.float64)
        if self.mask is not None:
            noise = noise * self.mask[rows]
        noise = noise - batch_view((noise * unit).flatten(1).sum(1), noise) * unit
        delta = self.spherical[rows]
        noise = noise * batch_view(delta * distance / lp_norm(noise, 2).clamp(min=TINY), noise)
        spherical = (x + (noise - towards) / batch_view(torch.sqrt(1 + delta ** 2), noise)).clamp(0.0, 1.0)
        back = x - spherical
        back_norm = lp_norm(back, 2).clamp(min=TINY)
        length = (self.source[rows] * distance + back_norm - distance).clamp(min=0.0) / back_norm
        candidate = (spherical + batch_view(length, back) * back).clamp(0.0, 1.0)
        return candidate.to(current.dtype), spherical.to(current.dtype)

    def trial(self, current: Tensor, rows: Tensor) -> None:
        """One step per row: query the orthogonal candidate s; if it is adversarial, query c and keep it if it
        is adversarial and closer; then the 50 % / 20 % rule."""
        candidate, spherical = self.candidates(current[rows], rows)
        fooled = self.decide(spherical, rows)
        self.spherical_window.push(rows, fooled)
        k = (fooled & (self.left(rows) > 0)).nonzero().flatten()
        if len(k):
            fooled = self.decide(candidate[k], rows[k])
            self.step_window.push(rows[k], fooled)
            closer = self.distance(candidate[k], rows[k]) < self.distance(current[rows[k]], rows[k])
            kept = k[fooled & closer]
            current[rows[kept]] = candidate[kept]
        self.step[rows] += 1
        self.adapt(rows)

    def adapt(self, rows: Tensor) -> None:
        """The 50 % / 20 % rule on each row's full windows; a window that changed a step size is emptied."""
        up, down = self.spherical_window.verdict(rows)
        scale = self.scale(up, down)
        self.spherical[rows] *= scale
        self.source[rows] *= scale
        self.spherical_window.clear(rows[up | down])
        up, down = self.step_window.verdict(rows)
        self.source[rows] *= self.scale(up, down)
        self.step_window.clear(rows[up | down])

    def scale(self, up: Tensor, down: Tensor) -> Tensor:
        """adaptation where `up`, 1 / adaptation where `down`, else 1 (float64)."""
        one = torch.ones(len(up), dtype=torch.float64, device=up.device)
        return torch.where(up, one * self.attack.adaptation, torch.where(down, one / self.attack.adaptation, one))


__all__ = ["Boundary"]
