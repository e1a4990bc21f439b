"""The Carlini & Wagner L2 attack: the smallest L2 perturbation, found by Adam and a search over c.

Carlini & Wagner 2017, "Towards Evaluating the Robustness of Neural Networks", sec. V-VI. With the
change of variables of sec. V.B ("box constraints", method 3)

    x' = (tanh(w) + 1) / 2,                     which keeps x' in [0, 1] for every w,

the attack minimises (sec. VI, "Our L2 attack")

    ||x' - x||_2^2 + c * f(x'),   f(x') = max(max_{i != t} Z(x')_i - Z(x')_t, -kappa)

over w with Adam (f is the paper's f_6; Z the logits; t the target; untargeted, f(x') =
max(Z(x')_y - max_{i != y} Z(x')_i, -kappa) with y the true class, the sign flipped). kappa is the
confidence: an iterate counts as adversarial when its margin exceeds kappa. As in the authors' code the
loss is written f + kappa = max(kappa - margin, 0) >= 0 (the same gradient): the early abort compares
losses by ratio, which only means "no longer decreasing" for a positive loss.

The constant c is chosen per image by the paper's binary search (sec. VI): start at ``c``; after
each run of ``steps`` Adam iterations from the clean image, an image that was never adversarial
gets c * 10 while no upper bound is known, and the midpoint of its bounds once one is; an image
that was adversarial takes c as its new upper bound and the midpoint. Over the whole search each
image keeps the adversarial iterate of smallest L2 (the paper's "best L2"). Images that never
become adversarial are returned unchanged, as the clean image.

As in the authors' code, w starts at atanh((2x - 1) * 0.999999) (x' equals x up to 5e-7, and
pixels at 0 or 1 stay finite), and with ``abort_early`` a run stops when its total loss has not
decreased by 0.01% over the last tenth of the iterations. With a mask only the masked pixels are
optimised; the others are the clean image exactly.

Defaults: c = 1e-2 is ART's initial constant and the low end of the range the paper plots for
c (Fig. 2); the authors' code starts at 1e-3, one more x10 step. ``binary_steps`` = 9 is the
authors' default; their 10 000 Adam steps are cut to 1 000 (abort_early stops most runs sooner).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.losses import margin
from advlab.attacks.lp import batch_view
from advlab.core.checks import check_int, check_number

TANH_SHRINK = 0.999999  # keeps atanh finite at pixels 0 and 1 (the authors' factor)
ABORT_TOLERANCE = 0.9999  # abort a run when its loss exceeds this share of the last check's
GROWTH = 10.0  # c grows by this factor while no adversarial example is known


class CW(Attack):
    """C&W L2 (Carlini & Wagner 2017): ``CW(model, c=1e-2, steps=1000)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        c: the initial trade-off constant between distance and f (per image, then searched).
        kappa: the confidence: how far the margin must exceed zero (0: just across the boundary).
        steps: Adam iterations per binary-search step.
        binary_steps: runs of the binary search over c.
        lr: Adam's learning rate on w.
        abort_early: stop a run when its loss stops decreasing (the authors' code does).
        targeted: labels are target classes.
    """

    name = "cw"
    paper = "Carlini & Wagner 2017, Towards Evaluating the Robustness of Neural Networks"
    norms = ("l2",)
    uses_clean_logits = False
    norm = None  # CW minimises the L2 norm itself; the results report it

    def __init__(self, model: nn.Module, c: float = 1e-2, kappa: float = 0.0, steps: int = 1000,
                 binary_steps: int = 9, lr: float = 0.01, abort_early: bool = True, targeted: bool = False):
        super().__init__(model, eps=None, targeted=targeted)
        self.c = check_number(f"{self.name}: c", c, 0.0, strict=True)
        self.kappa = check_number(f"{self.name}: kappa", kappa)
        self.steps = check_int(f"{self.name}: steps", steps, 0)
        self.binary_steps = check_int(f"{self.name}: binary_steps", binary_steps, 1)
        self.lr = check_number(f"{self.name}: lr", lr, 0.0, strict=True)
        self.abort_early = bool(abort_early)

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        n = len(images)
        const = torch.full((n,), self.c, dtype=images.dtype, device=images.device)
        lower, upper = torch.zeros_like(const), torch.full_like(const, float("inf"))
        best, best_l2 = images.clone(), torch.full_like(const, float("inf"))
        start = to_tanh(images)
        for _ in range(self.binary_steps):
            found = self.descend(images, labels, mask, start, const, best, best_l2)
            const, lower, upper = next_constants(found, const, lower, upper)
        return best

    def descend(self, images: Tensor, labels: Tensor, mask: Tensor | None, start: Tensor, const: Tensor,
                best: Tensor, best_l2: Tensor) -> Tensor:
        """One run of Adam at the constants `const`; updates `best`/`best_l2` in place.

        Returns which images were adversarial at some iterate of this run.
        """
        w = start.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([w], lr=self.lr)
        found = torch.zeros(len(images), dtype=torch.bool, device=images.device)
        check_every, previous = max(self.steps // 10, 1), float("inf")
        for step in range(self.steps):
            adversarial = to_image(w, images, mask)
            logits = self.model(adversarial)
            l2_squared = (adversarial - images).flatten(1).pow(2).sum(1)
            goal = margin(logits, labels, self.targeted)  # > 0: the goal is reached
            loss = (l2_squared + const * torch.clamp(self.kappa - goal, min=0.0)).sum()
            with torch.no_grad():
                success = goal > self.kappa
                found |= success
                better = success & (l2_squared < best_l2)
                best_l2.copy_(torch.where(better, l2_squared, best_l2))
                best.copy_(torch.where(batch_view(better, best), adversarial, best))
            if self.abort_early and step % check_every == 0:
                if loss.item() > previous * ABORT_TOLERANCE:
                    break
                previous = loss.item()
            w.grad, = torch.autograd.grad(loss, w)
            optimizer.step()
        return found


def to_image(w: Tensor, images: Tensor, mask: Tensor | None) -> Tensor:
    """x' = (tanh(w) + 1) / 2 where the mask allows, the clean image elsewhere."""
    adversarial = (torch.tanh(w) + 1) / 2
    return adversarial if mask is None else torch.where(mask, adversarial, images)


def to_tanh(images: Tensor) -> Tensor:
    """The w that `to_image` maps back to the images (up to 5e-7): atanh((2x - 1) * 0.999999)."""
    return torch.atanh((2 * images - 1) * TANH_SHRINK)


def next_constants(found: Tensor, const: Tensor, lower: Tensor, upper: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """One step of the paper's binary search over c per image: (const, lower, upper) for the next run.

    An image adversarial in the last run (`found`) takes its c as the new upper bound, the others as the new lower
    bound; c becomes the midpoint once an upper bound is known, and grows x10 until then.
    """
    upper = torch.where(found, torch.minimum(upper, const), upper)
    lower = torch.where(found, lower, torch.maximum(lower, const))
    return torch.where(upper.isfinite(), (lower + upper) / 2, const * GROWTH), lower, upper


# ---------------------------------------------------------------------- the search of the L0 and Linf attacks


class RowAdam:
    """Adam (Kingma & Ba 2015; torch's defaults) on the rows of a batch that are still running.

    All rows start together; a row that stops is no longer stepped, so the rows that step share one step count.
    """

    def __init__(self, like: Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.lr, self.betas, self.eps, self.t = lr, betas, eps, 0
        self.m, self.v = torch.zeros_like(like), torch.zeros_like(like)

    def step(self, w: Tensor, grad: Tensor, rows: Tensor) -> None:
        """w[rows] -= one Adam step on `grad` (the gradient of those rows), in place."""
        beta1, beta2 = self.betas
        self.t += 1
        self.m[rows] = beta1 * self.m[rows] + (1 - beta1) * grad
        self.v[rows] = beta2 * self.v[rows] + (1 - beta2) * grad.square()
        m_hat, v_hat = self.m[rows] / (1 - beta1 ** self.t), self.v[rows] / (1 - beta2 ** self.t)
        w[rows] -= self.lr * m_hat / (v_hat.sqrt() + self.eps)


def doubling_search(objective, images: Tensor, starts: Tensor, mask: Tensor | None, const: Tensor, steps: int,
                    lr: float, largest: float, factor: float = 2.0) -> tuple[Tensor, Tensor, Tensor]:
    """The search over c of C&W's L0 and Linf attacks (sec. VI.B-C; ``doit`` in the authors' code).

    Per image, Adam in tanh space from `starts` (a warm start) at the constant c; the first iterate that meets the
    objective's goal is the image's solution and ends its search; after `steps` iterations without one, c grows by
    `factor` and Adam goes on from where it is; an image whose c reaches `largest` has failed.
    `objective(adversarial, rows, const)` gives (loss (k,), goal met (k,) bool) for the images `rows`.

    Returns (solved (N,) bool, solutions (N, ...): `starts` where unsolved, const (N,): each solution's c).
    """
    w = to_tanh(starts)
    adam = RowAdam(w, lr)
    const, solutions = const.clone(), starts.clone()
    solved = torch.zeros(len(images), dtype=torch.bool, device=images.device)
    running, spent = const < largest, 0
    while running.any():
        rows = running.nonzero()[:, 0]
        w_rows = w[rows].requires_grad_(True)
        adversarial = to_image(w_rows, images[rows], None if mask is None else mask[rows])
        loss, met = objective(adversarial, rows, const[rows])
        grad, = torch.autograd.grad(loss.sum(), w_rows)
        with torch.no_grad():
            solutions[rows[met]] = adversarial[met]
            solved[rows[met]] = True
            adam.step(w, grad[~met], rows[~met])
            spent += 1
            if spent % steps == 0:
                const = torch.where(running & ~solved, const * factor, const)
            running = running & ~solved & (const < largest)
    return solved, solutions, const
