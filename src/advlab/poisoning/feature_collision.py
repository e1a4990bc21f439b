"""Feature collision ("poison frogs"): clean-label poisons that sit on a target image in feature space.

Shafahi, Huang, Najibi, Suciu, Studer, Dumitras & Goldstein 2018, "Poison Frogs! Targeted Clean-Label
Poisoning Attacks on Neural Networks", sec. 2, eq. (1):

    p = argmin_x ||f(x) - f(t)||^2 + beta ||x - b||^2,

a poison p that looks like a base image b of the base class (and keeps that label) while its
features f -- the penultimate representation, the input of the logits layer -- collide with those of
the target test image t, so that a model trained on it puts t on the base class's side. Algorithm 1
solves it by forward-backward splitting, from x_0 = b:

    forward step:   x^ = x_{i-1} - lambda * grad_x ||f(x_{i-1}) - f(t)||^2
    backward step:  x_i = (x^ + lambda * beta * b) / (1 + lambda * beta)

The backward step is the proximal step of (beta / 2) ||x - b||^2, so Algorithm 1 as printed (and as
done here) minimises ||f(x) - f(t)||^2 + (beta / 2) ||x - b||^2: eq. (1) with beta halved. Each
iterate is also clipped to [0, 1], the images' range, and lambda is a starting step: a poison whose
objective would rise keeps its previous iterate and halves its own lambda (a backtracking safeguard:
a fixed lambda diverges when the features' scale is far from the paper's, as it is on small digits).

beta defaults to the paper's rule (sec. 3), beta = 0.25 * (features / input size)^2 (their 2048
features over a 299x299x3 input).

For end-to-end training (sec. 4) one poison is not enough: several bases are used, and each base
carries a low-opacity watermark of the target, b <- (1 - opacity) * b + opacity * t (opacity up to
0.3 there) before the optimisation starts and as the anchor of the backward step. ``opacity=0`` gives
the transfer-learning attack of sec. 3.

Bases are drawn at random (seeded) from the training rows of ``base_class``; each poison replaces its
base in the training set, with the base's label.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import model_device
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.models.representations import Layer, choose_layer
from advlab.poisoning.base import PoisonedData, Poisoning, check_target, check_training_set
from advlab.poisoning.triggers import check_model, class_count, default_budget

BETA_SCALE = 0.25  # beta_0 of Shafahi et al. sec. 3


def layer_activation(model: nn.Module, layer: Layer, images: Tensor) -> Tensor:
    """The activations of `images` at `layer` (its input or output), as the layer sees them, with gradients
    flowing back to `images`. The model is called once; the caller sets its mode."""
    captured: list[Tensor] = []

    def capture(_module, inputs, output):
        captured.append(inputs[0] if layer.side == "input" else output)

    handle = layer.module.register_forward_hook(capture)
    try:
        model(images)
    finally:
        handle.remove()
    if not captured or not isinstance(captured[-1], Tensor):
        raise AdvlabError(f"{layer.describe()} gave no tensor in the model's forward pass; choose another layer")
    return captured[-1]


def layer_features(model: nn.Module, layer: Layer, images: Tensor) -> Tensor:
    """The (N, features) flattened activations of `images` at `layer`, with gradients (layer_activation)."""
    return layer_activation(model, layer, images).flatten(1)


class Objective:
    """What Algorithm 1 minimises per poison, ||f(x) - f(t)||^2 + (beta / 2) ||x - b||^2, with the gradient of
    its first term and the backward (proximal) step of its second."""

    def __init__(self, model: nn.Module, layer: Layer, goal: Tensor, anchors: Tensor, beta: float):
        self.model, self.layer, self.goal, self.anchors, self.beta = model, layer, goal, anchors, beta

    def __call__(self, poisons: Tensor) -> tuple[Tensor, Tensor]:
        """(values (P,), grad_x of the feature term (P, C, H, W)) at `poisons`."""
        current = poisons.detach().requires_grad_(True)
        with torch.enable_grad():
            collision = (layer_features(self.model, self.layer, current) - self.goal).pow(2).sum(1)
            grad = torch.autograd.grad(collision.sum(), current)[0]
        proximity = (current.detach() - self.anchors).flatten(1).pow(2).sum(1)
        return collision.detach() + self.beta / 2 * proximity, grad

    def backward_step(self, forward: Tensor, lr: Tensor) -> Tensor:
        """The proximal step of beta ||x - b||^2 from the forward iterate, step sizes `lr` (P,); clipped to [0, 1]."""
        weight = (lr * self.beta).view(-1, 1, 1, 1)
        return ((forward + weight * self.anchors) / (1 + weight)).clamp(0, 1)


def check_target_image(target_image, what: str) -> Tensor:
    """One image (C, H, W) or (1, C, H, W) in [0, 1], returned as (1, C, H, W); else an AdvlabError."""
    if isinstance(target_image, Tensor) and target_image.dim() == 3:
        target_image = target_image[None]
    if not isinstance(target_image, Tensor) or target_image.dim() != 4 or len(target_image) != 1:
        shape = tuple(target_image.shape) if isinstance(target_image, Tensor) else type(target_image).__name__
        raise AdvlabError(f"{what}: target_image must be one image (C, H, W), got {shape}")
    target_image = target_image.detach().float()
    if float(target_image.min()) < 0 or float(target_image.max()) > 1:
        raise AdvlabError(f"{what}: target_image must lie in [0, 1]")
    return target_image


class FeatureCollision(Poisoning):
    """Poison frogs (Shafahi et al. 2018): ``FeatureCollision(model, target_image, base_class=3).poison(x, y)``.

    Args:
        model: the trained classifier whose features the poisons collide in (e.g. the victim's pretrained net).
        target_image: the test image (C, H, W) in [0, 1] the attacker wants classified as base_class.
        base_class: the class the poisons are drawn from; they keep its label.
        rate: share of the training set to poison, in (0, 1] (give this or poisons).
        poisons: number of base images turned into poisons (default 10 when rate is not given either).
        beta: weight of beta ||x - b||^2 (default 0.25 (features / input size)^2, the paper's rule).
        lr: the forward step's starting size lambda (halved for a poison whenever its objective would rise).
        steps: iterations of Algorithm 1.
        opacity: opacity of the target watermark on the bases, in [0, 1) (0: no watermark).
        layer: name of the module whose output is the feature space (default: the input of the logits layer).
    """

    name = "feature-collision"

    def __init__(self, model: nn.Module, target_image: Tensor, base_class: int, rate: float | None = None,
                 poisons: int | None = None, beta: float | None = None, lr: float = 0.01, steps: int = 200,
                 opacity: float = 0.3, layer: str | None = None):
        super().__init__(*default_budget(rate, poisons, default_poisons=10))
        self.model = check_model(model, self.name)
        self.target_image = check_target_image(target_image, self.name)
        if isinstance(base_class, bool) or not isinstance(base_class, int) or base_class < 0:
            raise AdvlabError(f"{self.name}: base_class must be a class index >= 0, got {base_class!r}")
        self.base_class = base_class
        self.beta = None if beta is None else check_number(f"{self.name}: beta", beta)
        self.lr = check_number(f"{self.name}: lr", lr, strict=True)
        self.steps = check_int(f"{self.name}: steps", steps, 0)
        self.opacity = check_number(f"{self.name}: opacity", opacity)
        if self.opacity >= 1:
            raise AdvlabError(f"{self.name}: opacity must lie in [0, 1), got {opacity!r}")
        self.layer = layer

    def features(self, images: Tensor) -> Tensor:
        """Feature-space points (N, features) of `images` (N, C, H, W), without gradients, on their device."""
        device = model_device(self.model, images)
        with evaluating(self.model), torch.no_grad():
            layer = choose_layer(self.model, images.to(device), self.layer)
            return layer_features(self.model, layer, images.to(device)).to(images.device)

    def feature_distance(self, images: Tensor) -> Tensor:
        """||f(x) - f(t)||_2 (N,) of each image to the target image in feature space."""
        target = self.target_image.to(images)
        return (self.features(images) - self.features(target)).norm(dim=1)

    def collide(self, bases: Tensor) -> Tensor:
        """Algorithm 1 on the (watermarked) `bases` (P, C, H, W): the poisons, in [0, 1]."""
        target = self.target_image.to(bases)
        anchors = ((1 - self.opacity) * bases + self.opacity * target).clamp(0, 1)
        with evaluating(self.model):
            layer = choose_layer(self.model, anchors, self.layer)
            with torch.no_grad():
                goal = layer_features(self.model, layer, target)
            beta = self.beta if self.beta is not None else BETA_SCALE * (goal.shape[1] / target[0].numel()) ** 2
            objective = Objective(self.model, layer, goal, anchors, beta)
            poisons = anchors.clone()
            value, grad = objective(poisons)
            lr = torch.full((len(poisons),), self.lr, device=bases.device)
            for _ in range(self.steps):
                candidate = objective.backward_step(poisons - lr.view(-1, 1, 1, 1) * grad, lr)
                new_value, new_grad = objective(candidate)
                better = new_value <= value
                keep = better.view(-1, 1, 1, 1)
                poisons = torch.where(keep, candidate, poisons)
                value, grad = torch.where(better, new_value, value), torch.where(keep, new_grad, grad)
                lr = torch.where(better, lr, lr / 2)
        return poisons

    def poison(self, images: Tensor, labels: Tensor, seed: int = 0) -> PoisonedData:
        """`budget` base-class rows replaced by their poisons (labels kept); images (N, C, H, W), labels (N,)."""
        check_training_set(images, labels)
        check_target(self.base_class, class_count(labels))
        if tuple(self.target_image.shape[1:]) != tuple(images.shape[1:]):
            raise AdvlabError(f"{self.name}: the target image is {tuple(self.target_image.shape[1:])} but the "
                              f"training images are {tuple(images.shape[1:])}")
        candidates = (labels.cpu() == self.base_class).nonzero().flatten()
        rows = self.choose_rows(candidates, len(labels), seed).to(labels.device)
        poisoned = images.clone()
        if len(rows):
            device = model_device(self.model, images)
            poisoned[rows] = self.collide(images[rows].to(device)).to(images.device)
        return PoisonedData(poisoned, labels.clone(), rows)

    def options(self) -> dict:
        return {**super().options(), "base_class": self.base_class, "beta": self.beta, "lr": self.lr,
                "steps": self.steps, "opacity": self.opacity, "layer": self.layer}
