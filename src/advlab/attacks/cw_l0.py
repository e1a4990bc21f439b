"""The Carlini & Wagner L0 attack: the L2 attack on a shrinking set of pixels, until it fails.

Carlini & Wagner 2017, "Towards Evaluating the Robustness of Neural Networks", sec. VI.B ("Our L0 attack").
L0 is not differentiable, so the attack eliminates pixels instead. Starting from the set A of all pixels (the
mask's, with one), each round

1. runs the L2 attack restricted to A (the tanh change of variables of sec. V.B, x' = (tanh(w) + 1) / 2 on A and
   the clean image elsewhere): minimise ||x' - x||_2^2 + c * f(x') with Adam, f = max(kappa - margin, 0) the
   f_6 of cw.py; c starts at the last round's value and doubles after every ``steps`` iterations without an
   adversarial iterate, up to ``largest_c`` (then the round has failed); the first adversarial iterate ends it
   (``doubling_search`` in cw.py), and each round starts from the last round's solution ("warm start");
2. on success, scores every pixel of A by g_i * delta_i, g = |grad margin(x + delta)| and delta = |x' - x|
   summed over the pixel's channels (the paper's "g_i . delta_i": how much f would change were the pixel
   reset), and removes the pixels of smallest score from A: as in the authors' code, several per round -- in
   increasing order of score, until 0.3 sqrt(number of changed pixels) are removed or a removed pixel scored
   above 0.01 ("we shrink multiple pixels at once when many pixels have small change");
3. stops when the L2 attack fails; the result is the last successful round's image (the clean image when the
   first round fails: it was never adversarial).

A pixel leaves A for good, all its channels at once (the L0 count is of pixels: the authors'
``independent_channels=False``). The authors' code takes g from the gradient of the whole loss in tanh space at
the solution, where the clamped f term is zero, so its g is the gradient of the distance alone; advlab follows
the paper's text and takes the gradient of the margin (the unclamped f_6) in image space. The authors' code also
asks for a margin of 0.01 where kappa = 0; here an iterate counts as adversarial when its margin exceeds kappa,
as in cw.py.

Defaults are the authors' (l0_attack.py): Adam at lr 1e-2, 1000 iterations per value of c, c from 1e-3 doubling
up to 2e6. A round that fails spends log2(largest_c / c) x ``steps`` iterations, and the last round always
fails: smaller ``steps`` and ``largest_c`` bound the time.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.cw import doubling_search
from advlab.attacks.losses import input_gradient, margin
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError

CHANGED = 1e-4  # a pixel whose channels all moved less than this counts as unchanged (the authors' threshold)
LARGE_SCORE = 0.01  # a round stops removing pixels after removing one that scored above this
SHARE = 0.3  # a round removes at most SHARE * sqrt(changed pixels) pixels


class CWL0(Attack):
    """C&W L0 (Carlini & Wagner 2017): ``CWL0(model, c=1e-3, steps=1000)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        c: the first round's trade-off constant (then each round starts from the last round's c).
        kappa: the confidence: how far the margin must exceed zero.
        steps: Adam iterations at one value of c before c doubles.
        lr: Adam's learning rate on w (tanh space).
        largest_c: a round fails when c reaches this value.
        targeted: labels are target classes.
    """

    name = "cw-l0"
    paper = "Carlini & Wagner 2017, Towards Evaluating the Robustness of Neural Networks"
    norm = None  # minimises the number of changed pixels itself
    norms = ("l0",)
    minimum_norm = True
    uses_clean_logits = False

    def __init__(self, model: nn.Module, c: float = 1e-3, kappa: float = 0.0, steps: int = 1000, lr: float = 1e-2,
                 largest_c: float = 2e6, targeted: bool = False):
        super().__init__(model, eps=None, targeted=targeted)
        self.c = check_number(f"{self.name}: c", c, 0.0, strict=True)
        self.kappa = check_number(f"{self.name}: kappa", kappa)
        self.steps = check_int(f"{self.name}: steps", steps, 1)
        self.lr = check_number(f"{self.name}: lr", lr, 0.0, strict=True)
        self.largest_c = check_number(f"{self.name}: largest_c", largest_c, 0.0, strict=True)
        if self.largest_c <= self.c:
            raise AdvlabError(f"{self.name}: largest_c ({largest_c:g}) must exceed c ({c:g}), or no round can run")

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        n = len(images)
        allowed = torch.ones((n, 1, *images.shape[2:]), dtype=torch.bool, device=images.device)
        if mask is not None:  # a pixel none of whose channels may change is not in A
            allowed &= mask.any(1, keepdim=True)
        free = allowed.expand(images.shape) if mask is None else allowed & mask
        const = torch.full((n,), self.c, dtype=images.dtype, device=images.device)
        best, previous = images.clone(), images.clone()
        active = torch.ones(n, dtype=torch.bool, device=images.device)
        while active.any():
            rows = active.nonzero()[:, 0]
            solved, solutions, found_c = doubling_search(
                self.objective(images[rows], labels[rows]), images[rows], previous[rows], free[rows], const[rows],
                self.steps, self.lr, self.largest_c)
            done = rows[solved]
            best[done], previous[done], const[done] = solutions[solved], solutions[solved], found_c[solved]
            active[rows[~solved]] = False
            allowed[done] = self.shrink(images[done], labels[done], solutions[solved], allowed[done])
            free = allowed.expand(images.shape) if mask is None else allowed & mask
            active &= allowed.flatten(1).any(1)
        return best

    def objective(self, images: Tensor, labels: Tensor):
        """The L2 attack's loss and its goal for `doubling_search`."""

        def loss_and_goal(adversarial: Tensor, rows: Tensor, const: Tensor) -> tuple[Tensor, Tensor]:
            goal = margin(self.model(adversarial), labels[rows], self.targeted)
            l2_squared = (adversarial - images[rows]).flatten(1).pow(2).sum(1)
            return l2_squared + const * torch.clamp(self.kappa - goal, min=0.0), goal > self.kappa

        return loss_and_goal

    def shrink(self, images: Tensor, labels: Tensor, solutions: Tensor, allowed: Tensor) -> Tensor:
        """The allowed sets after one successful round: the pixels of smallest g_i * delta_i removed."""
        grad, _ = input_gradient(self.model, solutions, labels, self.targeted, objective=margin)
        change = (solutions - images).abs()
        score = (change.sum(1) * grad.abs().sum(1)).flatten(1)  # (k, H * W)
        changed = (change > CHANGED).any(1).flatten(1).sum(1)
        allowed = allowed.flatten(1).clone()
        order = score.masked_fill(~allowed, float("inf")).argsort(1)
        for image in range(len(images)):
            limit = SHARE * float(changed[image]) ** 0.5
            removed = 0
            for pixel in order[image][: int(allowed[image].sum())].tolist():
                allowed[image, pixel] = False
                removed += 1
                if score[image, pixel] > LARGE_SCORE or removed >= limit:
                    break
        return allowed.view(-1, 1, *images.shape[2:])
