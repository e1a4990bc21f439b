"""JSMA: the Jacobian-based saliency map attack, two features at a time (L0).

Papernot, McDaniel, Jha, Fredrikson, Celik & Swami 2016, "The Limitations of Deep Learning in
Adversarial Settings", sec. III-IV, Algorithms 2-3. A targeted attack: at the current image X, with
the forward derivative of the outputs F_j, the target t and the search domain Gamma (the features
that may still move), the saliency of a pair of features (p, q) is (eqs. 8-9 for pairs)

    alpha = sum_{i in {p, q}} dF_t(X) / dX_i,     beta = sum_{i in {p, q}} sum_{j != t} dF_j(X) / dX_i,
    S(p, q) = alpha * |beta|  if alpha > 0 and beta < 0, else 0        (theta > 0: increase features)
    S(p, q) = |alpha| * beta  if alpha < 0 and beta > 0, else 0        (theta < 0: decrease features)

The pair with the largest S (p != q, both in Gamma) moves by theta, clipped to [0, 1]; a feature that
reaches 0 or 1 leaves Gamma. The attack stops when the model predicts the target, Gamma is empty, no
pair is admissible (S = 0 everywhere: no pair raises the target while lowering the others), or after
max_iter = floor(gamma * d / 2) iterations (d features; each iteration changes at most two), so at most
2 * floor(gamma * d / 2) <= gamma * d features ever change. A feature is one entry of the image (a
pixel of a grey image, one channel of a colour pixel), as in the paper and both peers.

The forward derivative: the paper defines the map on the network function F; in its experiments (sec.
IV) it differentiates the last hidden layer, the logits Z, because the softmax's saturation makes the
probabilities' derivatives extreme (and with F = softmax, sum_j F_j = 1 makes beta = -alpha, so the
second term carries no information). advlab uses the logits, as torchattacks does (its Jacobian is of
``get_logits``) and as the authors' cleverhans code does. The two derivatives alpha and beta need are
two backward passes per iteration (of Z_t and of sum_{j != t} Z_j), not the whole Jacobian.

Untargeted use (not in the paper): a target class is chosen per image by ``target_rule`` --
``"runner-up"`` (default) the class with the second-highest clean logit, the cheapest to reach;
``"next"`` (label + 1) mod classes, torchattacks' rule; ``"random"`` a uniformly drawn other class,
ART's rule -- and the attack stops as soon as the image leaves its true class.

Differences from the peers: torchattacks' JSMA runs floor(gamma * d / 2) rounded up (ceil) iterations,
so it can change one feature more than gamma * d; when no pair is admissible its argmax over an all-zero
map picks the pair (0, 0) and keeps changing feature 0; for theta < 0 its map alpha * |beta| is negative
where admissible, so the argmax picks an inadmissible pair (the decreasing attack is broken). ART's
SaliencyMapMethod is not the pair map: it takes the two features with the largest target gradient
dF_t / dX_i alone (no beta term, no pairs), and checks gamma after each step, so it can exceed it by one
iteration.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.core.checks import check_number
from advlab.core.errors import AdvlabError

TARGET_RULES = ("runner-up", "next", "random")
PAIR_ELEMENTS = 2 ** 24  # pair scores (d x d per image) computed at once: bounds memory


class JSMA(Attack):
    """JSMA (Papernot et al. 2016): ``JSMA(model, theta=1.0, gamma=0.145, targeted=True)(images, targets)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        theta: change of a chosen feature per iteration, in (0, 1] to increase features or [-1, 0) to
            decrease them (the paper's +1: a chosen pixel becomes white).
        gamma: the most features that may change, as a share of all d features, in (0, 1]: at most
            floor(gamma * d / 2) iterations of two features (the paper's 14.5 % for MNIST).
        targeted: labels are target classes (the paper's attack).
        target_rule: untargeted only, the class each image is pushed towards: "runner-up" (the
            second-highest clean logit), "next" ((label + 1) mod classes, torchattacks') or "random"
            (ART's; drawn with seed).
        seed: seed of the "random" target rule (None: torch's global generator).
    """

    name = "jsma"
    paper = "Papernot et al. 2016, The Limitations of Deep Learning in Adversarial Settings"
    norm = "l0"

    def __init__(self, model: nn.Module, theta: float = 1.0, gamma: float = 0.145, targeted: bool = False,
                 target_rule: str = "runner-up", seed: int | None = None):
        super().__init__(model, eps=None, targeted=targeted, seed=seed)
        self.theta = check_number(f"{self.name}: theta", theta, -1.0)
        if self.theta == 0 or self.theta > 1:
            raise AdvlabError(f"{self.name}: theta must lie in [-1, 0) or (0, 1] for images in [0, 1], got {theta!r}")
        self.gamma = check_number(f"{self.name}: gamma", gamma, 0.0, strict=True)
        if self.gamma > 1:
            raise AdvlabError(f"{self.name}: gamma is a share of the features and must lie in (0, 1], got {gamma!r}")
        if target_rule not in TARGET_RULES:
            raise AdvlabError(f"{self.name}: unknown target_rule {target_rule!r}; valid rules are: "
                              f"{', '.join(TARGET_RULES)}")
        self.target_rule = target_rule

    def max_iterations(self, features: int) -> int:
        """The paper's max_iter = floor(d * gamma / 2): at most gamma * d features change."""
        return math.floor(features * self.gamma / 2 + 1e-9)

    # ------------------------------------------------------------------ the attack

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        targets = labels if self.targeted else self.choose_targets(labels)
        n = len(images)
        x = images.clone().flatten(1)
        domain = (x < 1) if self.theta > 0 else (x > 0)
        if mask is not None:
            domain &= mask.flatten(1)
        active = ~self.goal(self.clean_logits, labels)
        for _ in range(self.max_iterations(x.shape[1])):
            live = (active & domain.any(1)).nonzero().flatten()
            if len(live) == 0:
                break
            logits, toward, away = self.forward_derivatives(x[live].view(-1, *images.shape[1:]), targets[live])
            reached = self.goal(logits, labels[live])
            pairs = self.best_pairs(toward, away, domain[live])
            moving = ~reached & (pairs[:, 0] >= 0)
            active[live] = moving
            rows, pairs = live[moving], pairs[moving]
            for column in (0, 1):
                features = pairs[:, column]
                x[rows, features] = (x[rows, features] + self.theta).clamp(0.0, 1.0)
                at_bound = (x[rows, features] >= 1) if self.theta > 0 else (x[rows, features] <= 0)
                domain[rows, features] = ~at_bound & domain[rows, features]
        return x.view(n, *images.shape[1:])

    def choose_targets(self, labels: Tensor) -> Tensor:
        """The untargeted attack's target per image (see target_rule)."""
        classes = self.clean_logits.shape[1]
        if self.target_rule == "next":
            return (labels + 1) % classes
        if self.target_rule == "random":
            shift = torch.randint(1, classes, labels.shape, generator=self.generator(labels.device),
                                  device=labels.device)
            return (labels + shift) % classes
        return self.clean_logits.scatter(1, labels[:, None], -math.inf).argmax(1)

    def forward_derivatives(self, images: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(logits, dZ_t / dX, d sum_{j != t} Z_j / dX), the derivatives flattened to (n, d)."""
        images = images.detach().requires_grad_(True)
        logits = self.model(images)
        target_logit = logits.gather(1, targets[:, None]).sum()
        toward, = torch.autograd.grad(target_logit, images, retain_graph=True)
        away, = torch.autograd.grad(logits.sum() - target_logit, images)
        return logits.detach(), toward.flatten(1), away.flatten(1)

    def best_pairs(self, toward: Tensor, away: Tensor, domain: Tensor) -> Tensor:
        """(n, 2) the pair (p, q), p < q, of largest saliency per image; (-1, -1) where none is admissible."""
        n, d = toward.shape
        size = max(1, PAIR_ELEMENTS // (d * d))
        found = []
        distinct = ~torch.eye(d, dtype=torch.bool, device=toward.device)
        for start in range(0, n, size):
            part = slice(start, start + size)
            alpha = toward[part, :, None] + toward[part, None, :]
            beta = away[part, :, None] + away[part, None, :]
            if self.theta > 0:
                admissible = (alpha > 0) & (beta < 0)
            else:
                admissible = (alpha < 0) & (beta > 0)
            admissible &= domain[part, :, None] & domain[part, None, :] & distinct
            saliency = torch.where(admissible, (alpha * beta).abs(), -1.0).flatten(1)
            best = saliency.argmax(1)
            pairs = torch.stack([best // d, best % d], dim=1)
            found.append(torch.where(admissible.flatten(1).any(1)[:, None], pairs, -1))
        return torch.cat(found)
