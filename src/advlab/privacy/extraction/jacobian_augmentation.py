"""Substitute training with Jacobian-based dataset augmentation.

Papernot, McDaniel, Goodfellow, Jha, Celik & Swami 2017, "Practical Black-Box Attacks against Machine
Learning", Algorithm 1 (sec. 4.1). The attacker owns a substitute F and a small seed set S_0 (a few
examples per class) and sees only the oracle's labels O(x). Each substitute training round rho:

    D_rho      = {(x, O(x)) : x in S_rho}                      label S_rho by the oracle
    F          = train(F, D_rho)                               fit the substitute to it
    S_{rho+1}  = S_rho  U  {x + lambda_rho * sign(J_F[O(x)]) : x in S_rho}

where J_F[O(x)] is the gradient, with respect to x, of the substitute's output for the oracle's class
(its logit, as in the authors' cleverhans tutorial): the new points step towards where F's decision
changes, so the set doubles every round and its points probe the oracle's boundaries. lambda = 0.1
(the paper's MNIST setting); sec. 5's refinement flips the step's sign every tau rounds,
lambda_rho = lambda * (-1)^floor(rho / tau), tau = 3, so the points do not all walk off in one direction.
The substitute keeps its weights from round to round (it is trained ``epochs`` passes each round).

Queries: each point is labelled once, so after round rho the oracle has answered |S_rho| = |S_0| 2^rho
queries. A query budget B stops the growth: the last round augments only a random subset of S_rho, so that
|S| = B exactly (a budget cap in the spirit of sec. 5's reservoir sampling). With several budgets the same
run serves them all: after the round whose set reaches each budget, a copy of the substitute is kept.
Only labels are used, so this works against label-only victims and any output defense.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from tqdm import tqdm

from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.core.seeding import make_generator
from advlab.privacy.extraction.copies import train_copy
from advlab.privacy.victim import Victim


@dataclass
class JacobianExtraction:
    """The substitutes kept at each budget (``copies[B]`` after |S| reached B), the size of S after each round
    (``sizes[0]`` = |S_0|), and the final set S with its oracle labels."""

    copies: dict[int, nn.Module] = field(default_factory=dict)
    sizes: list[int] = field(default_factory=list)
    images: Tensor | None = None
    labels: Tensor | None = None


class JacobianAugmentation:
    """Papernot et al. 2017, Algorithm 1: ``JacobianAugmentation().extract(victim, substitute, seed_images, [1000])``.

    Args:
        step: lambda, the augmentation step in pixel units of [0, 1] images (the paper's 0.1).
        tau: the sign of the step flips every tau rounds (sec. 5; the paper's 3); 0: never (Algorithm 1 as printed).
        epochs: passes of substitute training over S each round (the paper's 10).
        batch_size: substitute training minibatch.
        lr: Adam's learning rate for the substitute.
        seed: seeds the training order and the subset the last round augments.
        progress: show a progress bar over the rounds.
    """

    def __init__(self, step: float = 0.1, tau: int = 3, epochs: int = 10, batch_size: int = 64, lr: float = 1e-3,
                 seed: int = 0, progress: bool = False):
        self.step = check_number("jacobian: step", step, 0.0, strict=True)
        self.tau = check_int("jacobian: tau", tau, 0)
        self.epochs = check_int("jacobian: epochs", epochs, 1)
        self.batch_size = check_int("jacobian: batch_size", batch_size, 1)
        self.lr = check_number("jacobian: lr", lr, 0.0, strict=True)
        self.seed = seed
        self.progress = progress

    def step_at(self, rho: int) -> float:
        """lambda_rho = lambda * (-1)^floor(rho / tau) (sec. 5); lambda for every round when tau is 0."""
        return self.step if self.tau == 0 else self.step * (-1) ** (rho // self.tau)

    def extract(self, victim: Victim, substitute: nn.Module, seed_images: Tensor,
                budgets: list[int]) -> JacobianExtraction:
        """Algorithm 1 from `seed_images` (S_0) until |S| reaches each of `budgets` (queries, each >= |S_0|);
        `substitute` is deep-copied first (the caller's model is not trained)."""
        budgets = check_budgets(budgets, len(seed_images))
        generator = make_generator(self.seed, torch.device("cpu"))
        substitute = copy.deepcopy(substitute)
        images, labels = seed_images.cpu(), victim.labels(seed_images).cpu()
        found = JacobianExtraction(sizes=[len(images)])
        bar = tqdm(total=budgets[-1], initial=len(images), disable=not self.progress, unit="query",
                   desc="jacobian augmentation", dynamic_ncols=True, file=sys.stderr)
        rho = 0
        while True:
            train_copy(substitute, images, labels, self.epochs, self.batch_size, self.lr, generator)
            if len(images) in budgets:
                found.copies[len(images)] = copy.deepcopy(substitute)
            if len(images) >= budgets[-1]:
                break
            wanted = min(len(images), next(b for b in budgets if b > len(images)) - len(images))
            chosen = torch.randperm(len(images), generator=generator)[:wanted].sort().values
            new = augmented(substitute, images[chosen], labels[chosen], self.step_at(rho))
            images, labels = torch.cat([images, new]), torch.cat([labels, victim.labels(new).cpu()])
            found.sizes.append(len(images))
            bar.update(len(new))
            rho += 1
        bar.close()
        found.images, found.labels = images, labels
        return found


def check_budgets(budgets, seed_size: int) -> list[int]:
    """The budgets sorted, each an int >= the seed set's size (its labels are the first queries)."""
    budgets = sorted({check_int("jacobian: query budget", budget, 1) for budget in budgets})
    if not budgets:
        raise AdvlabError("jacobian: give at least one query budget")
    if budgets[0] < seed_size:
        raise AdvlabError(f"jacobian: a budget of {budgets[0]} queries is below the seed set's {seed_size} images, "
                          "whose labels are the first queries; raise the budget or take fewer seed images per class")
    return budgets


def augmented(substitute: nn.Module, images: Tensor, labels: Tensor, step: float) -> Tensor:
    """x + step * sign(d F(x)[label] / dx) for each image, clipped to [0, 1] (Algorithm 1's augmentation)."""
    device = next(substitute.parameters()).device
    x = images.to(device).clone().requires_grad_(True)
    with evaluating(substitute), torch.enable_grad():
        chosen = substitute(x).gather(1, labels.to(device).view(-1, 1)).sum()
        gradient, = torch.autograd.grad(chosen, x)
    return (images + step * gradient.sign().cpu()).clamp(0.0, 1.0)


def seed_set(images: Tensor, labels: Tensor, per_class: int, seed: int) -> tuple[Tensor, Tensor]:
    """`per_class` images of each class drawn at random (seeded) from (images, labels) -- the attacker's
    initial set S_0 (the paper's 150 MNIST test images, 15 a class); (images, their row numbers)."""
    check_int("jacobian: seed images per class", per_class, 1)
    order = torch.randperm(len(labels), generator=make_generator(seed, torch.device("cpu")))
    rows = torch.cat([order[labels[order] == k][:per_class] for k in labels.unique()])
    return images[rows], rows


__all__ = ["JacobianAugmentation", "JacobianExtraction", "seed_set"]
