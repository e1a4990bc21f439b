"""Expectation over Transformation (EOT): adversarial examples that survive a distribution of transforms.

Athalye, Engstrom, Ilyas & Kwok 2018, "Synthesizing Robust Adversarial Examples" (arXiv 2017),
sec. 2. A plain adversarial example x' often stops fooling the model once the image is rotated,
rescaled, blurred or photographed. EOT optimises over a distribution T of transformations t:

    (1)  argmax_{x'} E_{t~T}[ log P(y_t | t(x')) ]
    (2)  subject to E_{t~T}[ d(t(x'), t(x)) ] < eps,
    (3)  in practice its Lagrangian relaxation, argmax E_t[log P(y_t | t(x'))] - lambda E_t[d(t(x'), t(x))],

optimised by gradient ascent with the gradient of the expectation estimated by sampling,
grad E_t[log P(y_t | t(x'))] = E_t[grad log P(y_t | t(x'))]. Here the distance is the Linf (or
L2) distance in image space and the constraint is kept by projection instead of a penalty, so
the optimiser is PGD (Madry et al. 2018) on the Monte-Carlo estimate of that gradient: at every
step `samples` transformations are drawn per image (fresh each step, from
``advlab.attacks.transforms``), all images x samples go through the model in one batch, and the
step follows the gradient of the mean objective. Targeted, the objective is
log P(target | t(x')) = -CE (eq. 1); untargeted, the expected cross-entropy of the true class.
The result is the last iterate.

``expected_success`` is the paper's evaluation measure: the share of sampled transformations
under which the adversarial image still reaches its goal, per image and overall.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from advlab.attacks.base import check_images, check_labels, model_device
from advlab.attacks.losses import cross_entropy_objective
from advlab.attacks.pgd import PGD
from advlab.attacks.transforms import TransformDistribution
from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.core.seeding import make_generator

DEFAULT_TRANSFORMS = ("rotate", "scale", "blur", "noise")


class EOT(PGD):
    """EOT-PGD (Athalye et al. 2018): ``EOT(model, eps=0.1, samples=16)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: radius of the ball (Linf or L2) in image space, or a list of radii.
        alpha: step size (default 2.5 * eps / steps).
        steps: gradient steps.
        samples: transformations drawn per image per step (the Monte-Carlo estimate of the expectation).
        transforms: names of the transformations (rotate, scale, translate, brightness, contrast,
            blur, noise); "name:low:high" sets a range, e.g. "rotate:-30:30" (from Python, a
            ``TransformDistribution`` also works).
        norm: ``"linf"`` or ``"l2"``.
        random_start: start at a uniform random point of the ball (else at the image).
        restarts: independent random starts; later ones only for images not yet fooled (untransformed).
        targeted: labels are target classes.
        seed: seed of the random start and of the transformations (None: torch's global generator).
    """

    name = "eot-pgd"
    paper = "Athalye, Engstrom, Ilyas & Kwok 2018, Synthesizing Robust Adversarial Examples"
    norms = ("linf", "l2")

    def __init__(self, model: nn.Module, eps=8 / 255, alpha: float | None = None, steps: int = 20,
                 samples: int = 8, transforms: tuple[str, ...] = DEFAULT_TRANSFORMS, norm: str = "linf",
                 random_start: bool = True, restarts: int = 1, targeted: bool = False, seed: int | None = None):
        super().__init__(model, eps=eps, alpha=alpha, steps=steps, norm=norm, random_start=random_start,
                         restarts=restarts, targeted=targeted, seed=seed)
        self.samples = check_int(f"{self.name}: samples", samples, 1)
        self.distribution = named_distribution(transforms, self.name)
        self.transforms = self.distribution.names

    def gradient(self, adversarial: Tensor, labels: Tensor, generator: torch.Generator | None) -> Tensor:
        """Gradient of the mean objective over `samples` transformations of each image: E_t[grad ...]."""
        adversarial = adversarial.detach().requires_grad_(True)
        transformed = self.distribution.with_generator(generator).sample(adversarial, self.samples)
        objective = cross_entropy_objective(self.model(transformed), labels.repeat_interleave(self.samples),
                                            self.targeted)
        grad, = torch.autograd.grad(objective.sum() / self.samples, adversarial)
        return grad


def named_distribution(transforms, name: str) -> TransformDistribution:
    """A TransformDistribution from names (or one given as is); errors name the attack."""
    if isinstance(transforms, TransformDistribution):
        return transforms
    try:
        return TransformDistribution(transforms)
    except AdvlabError as error:
        raise AdvlabError(f"{name}: {error}") from None


@dataclass
class ExpectedSuccess:
    """The share of sampled transformations under which each image reaches its goal."""

    per_image: Tensor  # (N,) in [0, 1]
    rate: float  # the mean over the images


@torch.no_grad()
def expected_success(model: nn.Module, adversarial: Tensor, labels: Tensor,
                     transforms: tuple[str, ...] | str | TransformDistribution = DEFAULT_TRANSFORMS,
                     samples: int = 100, targeted: bool = False, seed: int | None = 0) -> ExpectedSuccess:
    """Athalye et al.'s measure: E_{t~T}[ success(t(x')) ], estimated with `samples` draws per image.

    Success is "classified as the target" (`targeted`, `labels` are the targets) or "not classified
    as the label". Transformations are drawn per image, `samples` rounds of one forward pass of N
    images each (memory stays that of one batch).
    """
    what = "expected_success"
    samples = check_int(f"{what}: samples", samples, 1)
    device = model_device(model, adversarial)
    images = check_images(adversarial, what).to(device)
    labels = check_labels(labels, len(images), what, "labels").to(device)
    generator = None if seed is None else make_generator(seed, device)
    distribution = named_distribution(transforms, what).with_generator(generator)
    hits = torch.zeros(len(images), device=device, dtype=torch.float64)
    with evaluating(model):
        for _ in range(samples):
            predicted = model(distribution.sample(images)).argmax(1)
            hits += (predicted == labels) if targeted else (predicted != labels)
    per_image = (hits / samples).to(adversarial.device)
    return ExpectedSuccess(per_image=per_image, rate=float(per_image.mean()))
