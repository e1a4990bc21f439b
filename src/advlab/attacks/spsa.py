"""SPSA: Linf PGD-style descent on gradients estimated from random +-1 perturbations, with Adam.

Uesato, O'Donoghue, van den Oord & Kohli 2018, "Adversarial Risk and the Dangers of Evaluating Against
Weak Attacks", Algorithm 1 (SPSA, Spall 1992): to minimise f at x_t, draw n Rademacher vectors v_i in
{-1, +1}^D and estimate

    g = 1/n sum_i ( f(x_t + delta v_i) - f(x_t - delta v_i) ) / (2 delta) * v_i^{-1}

(v^{-1} the element-wise inverse, = v_i for +-1 entries), 2n queries; then x_{t+1} = Adam step on g,
projected onto the eps-ball around the clean image, the box [0, 1] and the mask. f is the paper's margin
loss on the logits, f = z_y - max_{j != y} z_j (minimised; targeted, max_{j != t} z_j - z_t), i.e.
``-advlab.attacks.losses.margin``. Defaults are the paper's: delta = 0.01, Adam with learning rate 0.01
(betas 0.9, 0.999, epsilon 1e-8, as torch.optim.Adam), and n = 128 samples per step (torchattacks'
and advertorch's default; the paper's own runs use larger batches of samples).

Queries: ``queries`` is the budget per image including the base class's clean pass. Every iteration
costs 2 * samples (the estimate) + 1: the new iterate is queried once, and an image that already fools the
model is not queried again (early stopping, as in the paper's evaluation, "until an adversarial example
is found"). The last estimate uses fewer samples when that is all the budget leaves; no image is
evaluated more than ``queries`` times. The query points x +- delta v are not clipped to [0, 1] (as in the
paper and both peers: clipping would halve the finite difference of pixels at 0 or 1); they differ from
the iterate only inside the mask. Every image draws its own v_i (torchattacks draws one v_i for the whole
batch, which leaves each image's estimate the same in distribution).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.losses import margin
from advlab.attacks.lp import linf_bounds
from advlab.attacks.nes import image_groups
from advlab.core.checks import check_int, check_number

BETAS = (0.9, 0.999)  # Adam's, as torch.optim.Adam
ADAM_EPSILON = 1e-8


class SPSA(Attack):
    """SPSA attack (Uesato et al. 2018): ``SPSA(model, eps=0.05, queries=5000)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: Linf radius, or a list of radii.
        delta: size of the +-1 perturbations of the finite differences (the paper's 0.01).
        lr: Adam's learning rate (the paper's 0.01).
        samples: Rademacher vectors per gradient estimate, 2 queries each (128).
        queries: budget per image, the clean pass included (at most this many model evaluations per
            image); default 5000.
        targeted: labels are target classes.
        seed: seed of the perturbations (None: torch's global generator).
    """

    name = "spsa"
    paper = ("Uesato, O'Donoghue, van den Oord & Kohli 2018, Adversarial Risk and the Dangers of Evaluating "
             "Against Weak Attacks")
    norm = "linf"
    black_box = True
    feedback = "scores"

    def __init__(self, model: nn.Module, eps=8 / 255, delta: float = 0.01, lr: float = 0.01, samples: int = 128,
                 queries: int = 5000, targeted: bool = False, seed: int | None = None):
        super().__init__(model, eps=eps, targeted=targeted, seed=seed)
        self.delta = check_number(f"{self.name}: delta", delta, 0.0, strict=True)
        self.lr = check_number(f"{self.name}: lr", lr, 0.0, strict=True)
        self.samples = check_int(f"{self.name}: samples", samples, 1)
        self.budget = check_int(f"{self.name}: queries", queries, 1)

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        generator = self.generator(images.device)
        bounds = linf_bounds(images, self.eps, mask)
        adversarial = images.clone()
        first, second = torch.zeros_like(images), torch.zeros_like(images)  # Adam's moments
        spent = torch.ones(len(images), dtype=torch.int64, device=images.device)
        done = self.goal(self.clean_logits, labels) | (self.eps == 0)
        step = 0
        while (~done).any():
            active = (~done).nonzero().flatten()
            # every active image has spent the same so far; the last estimate takes what is left
            samples = min(self.samples, int(self.budget - spent[active].max() - 1) // 2)
            if samples < 1:
                break
            step += 1
            part_mask = None if mask is None else mask[active]
            grad = self.estimate(adversarial[active], labels[active], part_mask, samples, generator)
            first[active] = BETAS[0] * first[active] + (1 - BETAS[0]) * grad
            second[active] = BETAS[1] * second[active] + (1 - BETAS[1]) * grad * grad
            update = (first[active] / (1 - BETAS[0] ** step)) / ((second[active] / (1 - BETAS[1] ** step)).sqrt()
                                                                 + ADAM_EPSILON)
            stepped = torch.clamp(adversarial[active] - self.lr * update, bounds[0][active], bounds[1][active])
            adversarial[active] = stepped
            done[active] = self.goal(self.predict(stepped), labels[active])
            spent[active] += 2 * samples + 1
        self.queries = spent
        return adversarial

    def loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """The paper's f, to minimise: z_y - max_{j != y} z_j (targeted: max_{j != t} z_j - z_t)."""
        return -margin(logits, labels, self.targeted)

    def estimate(self, images: Tensor, labels: Tensor, mask: Tensor | None, samples: int,
                 generator: torch.Generator | None) -> Tensor:
        """Algorithm 1's g for each image: 2 * samples queries per image."""
        grads = []
        for group in image_groups(len(images), 2 * samples * images[0].numel()):
            x, y = images[group], labels[group]
            n = len(x)
            signs = torch.randint(0, 2, (n, samples, *x.shape[1:]), generator=generator, device=x.device)
            v = signs.to(x.dtype) * 2 - 1
            if mask is not None:
                v = v * mask[group][:, None]
            points = torch.cat([x[:, None] + self.delta * v, x[:, None] - self.delta * v], dim=1)
            loss = self.loss(self.predict(points.flatten(0, 1)), y.repeat_interleave(2 * samples)).view(n, 2, samples)
            difference = (loss[:, 0] - loss[:, 1]) / (2 * self.delta * samples)  # (n, samples)
            grads.append(torch.einsum("ns,ns...->n...", difference, v))  # v^{-1} = v for +-1 entries
        return torch.cat(grads)
