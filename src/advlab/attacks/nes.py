"""NES: Linf PGD on gradients estimated from queries (natural evolution strategies).

Ilyas, Engstrom, Athalye & Lin 2018, "Black-box Adversarial Attacks with Limited Queries and
Information", Algorithm 1 (the query-limited setting): the gradient of the loss L at x is
estimated from n/2 antithetic pairs of Gaussian directions u_i ~ N(0, I),

    g = 1 / (n sigma) * sum_{i=1}^{n/2} ( L(x + sigma u_i) - L(x - sigma u_i) ) u_i,

n queries per estimate, and that estimate drives Linf PGD (Madry et al. 2018, eq. 2):
x <- Pi( x + alpha * sign(g) ), the projection onto the eps-ball, [0, 1] and the mask. Algorithm 1
writes L as the probability of the class; like the authors' code we use its logarithm, the
cross-entropy (ascended; targeted, the cross-entropy to the target, descended), computed in
float64: a confident model's cross-entropy is ~1e-9 and its differences vanish in float32. After
each step the new iterate is queried once to see whether it already fools the model; an image
that does is not queried again. Defaults are the paper's (its table of hyper-parameters):
sigma = 0.001, n = 50, and alpha = eps / 5 (its learning rate 0.01 for eps = 0.05). The paper's
momentum and learning-rate decay are left out.

Queries: ``queries`` is the budget per image including the base class's clean pass, so every
iteration costs ``samples`` + 1 and the last estimate uses fewer pairs when that is all the budget
leaves; no image is evaluated more than ``queries`` times. The samples of several images go to the
model in one call (in groups that bound the memory).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.losses import cross_entropy_objective
from advlab.attacks.lp import linf_bounds, linf_step
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError

GROUP_ELEMENTS = 2 ** 24  # floats of noise per group of images (64 MiB): bounds memory and batch size


def image_groups(n: int, per_image: int, limit: int = GROUP_ELEMENTS) -> list[slice]:
    """Consecutive slices of range(n), each holding about `limit` elements (at least one image)."""
    size = max(1, limit // max(per_image, 1))
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


class NES(Attack):
    """NES attack (Ilyas et al. 2018): ``NES(model, eps=0.05, queries=1000)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: Linf radius, or a list of radii.
        alpha: PGD step size (default eps / 5, the paper's ratio of learning rate to eps).
        sigma: standard deviation of the search directions (the paper's 0.001).
        samples: queries per gradient estimate, an even number: samples / 2 antithetic pairs (the
            paper's 50).
        queries: budget per image, the clean pass included (at most this many model evaluations
            per image); default 5000.
        targeted: labels are target classes.
        seed: seed of the search directions (None: torch's global generator).
    """

    name = "nes"
    paper = "Ilyas, Engstrom, Athalye & Lin 2018, Black-box Adversarial Attacks with Limited Queries and Information"
    norm = "linf"
    black_box = True

    def __init__(self, model: nn.Module, eps=8 / 255, alpha: float | None = None, sigma: float = 0.001,
                 samples: int = 50, queries: int = 5000, targeted: bool = False, seed: int | None = None):
        super().__init__(model, eps=eps, targeted=targeted, seed=seed)
        self.alpha = None if alpha is None else check_number(f"{self.name}: alpha", alpha, 0.0, strict=True)
        self.sigma = check_number(f"{self.name}: sigma", sigma, 0.0, strict=True)
        self.samples = check_int(f"{self.name}: samples", samples, 2)
        if self.samples % 2:
            raise AdvlabError(f"{self.name}: samples must be even (samples / 2 antithetic pairs), got {samples}")
        self.budget = check_int(f"{self.name}: queries", queries, 1)

    def step_size(self) -> float:
        return self.eps / 5 if self.alpha is None else self.alpha

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        generator = self.generator(images.device)
        bounds = linf_bounds(images, self.eps, mask)
        adversarial = images.clone()
        spent = torch.ones(len(images), dtype=torch.int64, device=images.device)
        done = self.goal(self.clean_logits, labels) | (self.eps == 0)  # eps 0: nothing to search
        while (~done).any():
            active = (~done).nonzero().flatten()
            # every active image has spent the same so far; the last estimate takes what is left
            pairs = min(self.samples // 2, int(self.budget - spent[active].max() - 1) // 2)
            if pairs < 1:
                break
            part_mask = None if mask is None else mask[active]
            grad = self.estimate(adversarial[active], labels[active], part_mask, pairs, generator)
            stepped = linf_step(adversarial[active], grad, self.step_size(), (bounds[0][active], bounds[1][active]))
            adversarial[active] = stepped
            done[active] = self.goal(self.predict(stepped), labels[active])
            spent[active] += 2 * pairs + 1
        self.queries = spent
        return adversarial

    def estimate(self, images: Tensor, labels: Tensor, mask: Tensor | None, pairs: int,
                 generator: torch.Generator | None) -> Tensor:
        """Algorithm 1 with antithetic pairs: 2 * pairs queries per image; the gradient estimate."""
        grads = []
        for group in image_groups(len(images), 2 * pairs * images[0].numel()):
            x, y = images[group], labels[group]
            n = len(x)
            noise = torch.randn((n, pairs, *x.shape[1:]), generator=generator, device=x.device, dtype=x.dtype)
            if mask is not None:
                noise = noise * mask[group][:, None]
            points = torch.cat([x[:, None] + self.sigma * noise, x[:, None] - self.sigma * noise], dim=1)
            logits = self.predict(points.flatten(0, 1))
            # in float64: a confident model's cross-entropy (~1e-9) vanishes in float32, and the estimate with it
            loss = cross_entropy_objective(logits.double(), y.repeat_interleave(2 * pairs), self.targeted)
            loss = loss.view(n, 2, pairs)
            difference = (loss[:, 0] - loss[:, 1]) / (2 * pairs * self.sigma)  # (n, pairs)
            grads.append(torch.einsum("np,np...->n...", difference, noise.double()).to(x.dtype))
        return torch.cat(grads)
