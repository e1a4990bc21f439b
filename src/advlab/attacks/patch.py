"""The adversarial patch: one universal, localised, unbounded sticker that makes a model see a target.

Brown, Mané, Roy, Abadi & Gilmer 2017, "Adversarial Patch", sec. 2. A patch operator A(p, x, l, t)
pastes the patch p onto the image x at location l after a transformation t (a rotation and a
scaling). The patch is trained over images x ~ X, locations l ~ L and transformations t ~ T
(Expectation over Transformation, Athalye et al. 2017) to maximise

    (eq. 1)  p^ = argmax_p  E_{x~X, t~T, l~L}[ log Pr(y^ | A(p, x, l, t)) ],

the log-probability of the target class y^. Here p is a square of side ``size`` times the
image's side, its pixels kept in [0, 1]; every step draws a minibatch of the images, pastes the
patch `samples` times onto each at random angles in [-rotate, rotate] degrees, scales in
[scale_min, scale_max] and centres (the scaled square inside the image), and takes one Adam step
(learning rate ``lr``) on the mean of eq. (1) — untargeted, on the mean cross-entropy of the true
classes instead. The patch is universal: one patch for all the images.

Pasting is bilinear resampling of the patch and of its footprint (1 on the patch), so
A = (1 - footprint) * x + resampled patch: pixels the footprint does not reach are exactly x.

With a mask (the ``mask`` argument of the attack, True = may change), the centre is drawn among
the mask's pixels and the patch is clipped to the mask: the patch then lives where the mask
allows (e.g. a sign's face) and no pixel outside the mask changes.

Targets are the base class's: ``targeted=True`` and the labels given are the target classes,
one per image — Brown et al.'s patch has one target for all, e.g. ``torch.full((n,), k)`` (the
CLI's ``--target K``); different targets per image ask one patch to serve them all.

How to get at the patch: ``Patch.fit(images, labels)`` returns it (C, side, side) and
``Patch.apply(images, patch, generator)`` pastes it; calling the attack (``attack(images, labels)``)
trains a patch on the batch and returns the batch with it pasted at random places, and appends the
patch to ``attack.patches`` (a list shared with the copies the base class makes per eps), so
``attack.patch`` is the last one trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from advlab.attacks.base import Attack, check_images, check_labels, check_mask, model_device
from advlab.attacks.losses import cross_entropy_objective
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating


@dataclass
class Placement:
    """Where and how the patch goes on each image: angles (degrees), scales and centres (x, y) in pixels."""

    angles: Tensor  # (N,)
    scales: Tensor  # (N,)
    centres: Tensor  # (N, 2)


class Patch(Attack):
    """Adversarial patch (Brown et al. 2017): ``Patch(model, size=0.3, targeted=True)(images, targets)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        size: side of the patch as a fraction of the image's side, in (0, 1].
        steps: optimisation steps.
        lr: Adam's learning rate on the patch pixels.
        samples: placements (location, rotation, scale) per image per step.
        minibatch: images per step (a random minibatch of them when there are more).
        rotate: largest rotation of the patch, in degrees (drawn in [-rotate, rotate]).
        scale_min: smallest scale of the patch.
        scale_max: largest scale of the patch.
        targeted: labels are target classes (per image; Brown et al.'s patch has one target).
        seed: seed of the patch's start, the minibatches and the placements (None: torch's global generator).
    """

    name = "patch"
    paper = "Brown, Mané, Roy, Abadi & Gilmer 2017, Adversarial Patch"
    threat = "patch (a region of the mask)"
    norm = None

    def __init__(self, model: nn.Module, size: float = 0.3, steps: int = 200, lr: float = 0.05, samples: int = 4,
                 minibatch: int = 64, rotate: float = 20.0, scale_min: float = 0.8, scale_max: float = 1.2,
                 targeted: bool = False, seed: int | None = None):
        super().__init__(model, eps=None, targeted=targeted, seed=seed)
        self.size = check_number(f"{self.name}: size", size, 0.0, strict=True)
        if self.size > 1:
            raise AdvlabError(f"{self.name}: size must lie in (0, 1] (a fraction of the image side), got {size!r}")
        self.steps = check_int(f"{self.name}: steps", steps, 0)
        self.lr = check_number(f"{self.name}: lr", lr, 0.0, strict=True)
        self.samples = check_int(f"{self.name}: samples", samples, 1)
        self.minibatch = check_int(f"{self.name}: minibatch", minibatch, 1)
        self.rotate = check_number(f"{self.name}: rotate", rotate)
        self.scale_min = check_number(f"{self.name}: scale_min", scale_min, 0.0, strict=True)
        self.scale_max = check_number(f"{self.name}: scale_max", scale_max, 0.0, strict=True)
        if self.scale_min > self.scale_max:
            raise AdvlabError(f"{self.name}: scale_min ({scale_min}) must not exceed scale_max ({scale_max})")
        self.patches: list[Tensor] = []

    @property
    def patch(self) -> Tensor | None:
        """The last patch the attack trained (None before the first call)."""
        return self.patches[-1] if self.patches else None

    # ------------------------------------------------------------------ plain methods

    def fit(self, images: Tensor, labels: Tensor, mask: Tensor | None = None) -> Tensor:
        """A patch (C, side, side) trained on the images; `labels` are the targets when targeted,
        the true classes otherwise."""
        device = model_device(self.model, images)
        x = self.check_batch(images).to(device)
        goal = check_labels(labels, len(x), self.name, "labels").to(device)
        keep = None if mask is None else check_mask(mask, x, self.name).to(device)
        with evaluating(self.model), torch.enable_grad():
            self.clean_pass(x, goal, None, "labels")  # checks the model's output and the labels' range
            return self.train(x, goal, keep, self.generator(device))

    def apply(self, images: Tensor, patch: Tensor, generator: torch.Generator | None = None,
              mask: Tensor | None = None) -> Tensor:
        """The images with `patch` pasted at random places, angles and scales (drawn from `generator`)."""
        images = self.check_batch(images)
        if patch.ndim != 3 or patch.shape[0] != images.shape[1] or patch.shape[1] != patch.shape[2]:
            raise AdvlabError(f"{self.name}: a patch must be (C, side, side) with C = {images.shape[1]}, "
                              f"got shape {tuple(patch.shape)}")
        keep = None if mask is None else check_mask(mask, images, self.name)
        placement = self.place(images, patch.shape[-1], keep, generator)
        return paste(images, patch.to(images.device, images.dtype), placement, keep)

    def check_batch(self, images) -> Tensor:
        """Checked images (N, C, H, W) in [0, 1]."""
        images = check_images(images, self.name)
        if images.ndim != 4:
            raise AdvlabError(f"{self.name}: images must be (N, C, H, W), got shape {tuple(images.shape)}")
        return images

    def side(self, images: Tensor) -> int:
        """The patch's side in pixels."""
        return max(1, round(self.size * min(images.shape[-2:])))

    # ------------------------------------------------------------------ the algorithm

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        self.check_batch(images)
        generator = self.generator(images.device)
        patch = self.train(images, labels, mask, generator)
        self.patches.append(patch)
        with torch.no_grad():
            placement = self.place(images, patch.shape[-1], mask, generator)
            return paste(images, patch, placement, mask)

    def train(self, images: Tensor, goal: Tensor, mask: Tensor | None, generator: torch.Generator | None) -> Tensor:
        """Eq. (1) by Adam over minibatches x placements; the patch's pixels stay in [0, 1]."""
        shape = (images.shape[1], self.side(images), self.side(images))
        patch = torch.rand(shape, generator=generator, device=images.device, dtype=images.dtype)
        patch.requires_grad_(True)
        optimizer = torch.optim.Adam([patch], lr=self.lr)
        for _ in range(self.steps):
            rows = self.draw_rows(len(images), images.device, generator).repeat_interleave(self.samples)
            part_mask = None if mask is None else mask[rows]
            placement = self.place(images[rows], shape[-1], part_mask, generator)
            patched = paste(images[rows], patch, placement, part_mask)
            objective = cross_entropy_objective(self.model(patched), goal[rows], self.targeted).mean()
            patch.grad, = torch.autograd.grad(-objective, patch)  # gradients reach the patch only
            optimizer.step()
            with torch.no_grad():
                patch.clamp_(0.0, 1.0)
        return patch.detach()

    def draw_rows(self, n: int, device: torch.device, generator: torch.Generator | None) -> Tensor:
        """The images of one step: all of them, or a random minibatch."""
        if n <= self.minibatch:
            return torch.arange(n, device=device)
        return torch.randperm(n, generator=generator, device=device)[:self.minibatch]

    def place(self, images: Tensor, side: int, mask: Tensor | None, generator: torch.Generator | None) -> Placement:
        """Random angles, scales and centres: centres keep the scaled square inside the image, or,
        with a mask, are drawn among the mask's pixels."""
        n, height, width = len(images), images.shape[-2], images.shape[-1]
        options = {"generator": generator, "device": images.device, "dtype": images.dtype}
        angles = (2 * torch.rand(n, **options) - 1) * self.rotate
        scales = self.scale_min + (self.scale_max - self.scale_min) * torch.rand(n, **options)
        if mask is None:
            half = scales * side / 2
            room = torch.stack([(width - 2 * half).clamp(min=0), (height - 2 * half).clamp(min=0)], 1)
            low = torch.stack([torch.minimum(half, torch.full_like(half, width / 2)),
                               torch.minimum(half, torch.full_like(half, height / 2))], 1)
            centres = low + room * torch.rand(n, 2, **options)
        else:
            weights = mask.any(1).flatten(1).to(images.dtype)
            weights[weights.sum(1) == 0] = 1.0  # nowhere allowed: anywhere (the clip removes it all)
            index = torch.multinomial(weights, 1, generator=generator)[:, 0]
            centres = torch.stack([index % width, index // width], 1).to(images.dtype) + 0.5
        return Placement(angles, scales, centres)


def paste(images: Tensor, patch: Tensor, placement: Placement, mask: Tensor | None = None) -> Tensor:
    """A(p, x, l, t): the patch rotated, scaled and centred per `placement`, clipped to `mask`.

    Bilinear resampling of the patch and of its footprint; (1 - footprint) * x + patch, so pixels
    the footprint misses are exactly the image's. Differentiable in the patch and the images.
    """
    n, channels, height, width = images.shape
    side = patch.shape[-1]
    theta = sampling_map(placement, side, height, width)
    grid = F.affine_grid(theta, [n, channels, height, width], align_corners=False)
    drawn = F.grid_sample(patch.expand(n, -1, -1, -1), grid, mode="bilinear", padding_mode="zeros",
                          align_corners=False)
    ones = torch.ones((n, 1, side, side), device=images.device, dtype=images.dtype)
    footprint = F.grid_sample(ones, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if mask is not None:
        drawn, footprint = drawn * mask, footprint * mask
    return images * (1 - footprint) + drawn


def sampling_map(placement: Placement, side: int, height: int, width: int) -> Tensor:
    """(N, 2, 3) affine maps from the image's normalised coordinates to the patch's.

    An image point u (pixels) comes from the patch point R(angle) (u - centre) / (scale * side / 2),
    in the patch's normalised coordinates; u = (x_o + 1) * (width, height) / 2 for an output point x_o.
    """
    radians = placement.angles * (math.pi / 180)
    cos, sin = torch.cos(radians), torch.sin(radians)
    rotation = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)  # (N, 2, 2)
    half_image = torch.tensor([width / 2, height / 2], device=cos.device, dtype=cos.dtype)
    factor = (2 / (placement.scales * side))[:, None, None]
    linear = rotation * half_image[None, None, :] * factor
    offset = (rotation @ (half_image - placement.centres)[:, :, None]) * factor
    return torch.cat([linear, offset], 2)
