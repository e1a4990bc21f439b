"""The spatial attack: the worst rotation and translation of each image, by grid search or worst-of-k.

Engstrom, Tran, Tsipras, Schmidt & Madry 2019, "Exploring the Landscape of Spatial Robustness", sec. 3. The
adversary picks a rotation theta in [-30, 30] degrees and a translation (du, dv) of at most 3 pixels of a 32x32
image (here 3/32 of the image's width and height, so sub-pixel on small images), and the image becomes

    x'(p) = x(R(-theta) (p - c - (du, dv)) + c)

(rotation about the centre c, bilinear interpolation, black where the source lies outside the image, as the
authors' spatial transformer does). It needs only the model's outputs:

* ``search="grid"``: all points of a grid (the paper's 5 translations per direction and 31 rotations: 775
  transformations), tried in turn; an image stops at the first transformation that reaches the goal, else
  keeps the one of highest cross-entropy loss;
* ``search="random"``: the paper's worst-of-k, k transformations drawn uniformly from the same ranges per
  image (k = 10), the same choice among them.

Every evaluation counts as a query (``self.queries``, the clean pass included; at most 1 + the number of
transformations). The result is no eps-ball perturbation: ``norm = None``, threat "rotation and translation".
With a mask, every candidate keeps the clean pixels outside it.

ART's SpatialTransformation departs from the paper in two ways (read in its ``generate``): it applies one
transformation to the whole batch (the one that fools the most images), not the worst one per image; and for
channels-first images it takes the vertical translation's pixel range from ``x.shape[1]``, the channel count,
so a 1-channel image is never shifted vertically unless the maximum translation is 50 % or more.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.losses import cross_entropy_objective
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError

SEARCHES = ("grid", "random")


def rotate_translate(images: Tensor, degrees: Tensor, shifts: Tensor) -> Tensor:
    """Each image rotated by `degrees` (N,) about its centre and moved by `shifts` (N, 2) pixels (right, down);
    bilinear, zeros outside."""
    height, width = images.shape[-2:]
    radians = degrees.to(images.dtype) * (math.pi / 180)
    cos, sin = torch.cos(radians), torch.sin(radians)
    half_w, half_h = width / 2, height / 2
    # a pixel p (relative to the centre, in pixels) reads the source at R(-theta)(p - shift); affine_grid works in
    # coordinates scaled to [-1, 1] per axis, hence the scalings by the half sizes
    theta = torch.zeros(len(images), 2, 3, dtype=images.dtype, device=images.device)
    theta[:, 0, 0], theta[:, 0, 1] = cos, sin * half_h / half_w
    theta[:, 1, 0], theta[:, 1, 1] = -sin * half_w / half_h, cos
    shifts = shifts.to(images.dtype)
    theta[:, 0, 2] = -(cos * shifts[:, 0] + sin * shifts[:, 1]) / half_w
    theta[:, 1, 2] = -(-sin * shifts[:, 0] + cos * shifts[:, 1]) / half_h
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class Spatial(Attack):
    """Spatial attack (Engstrom et al. 2019): ``Spatial(model, max_rotation=30.0)(images, labels)``.

    Args:
        model: maps images (N, C, H, W) in [0, 1] to logits (N, classes).
        max_rotation: the largest rotation, in degrees either way (the paper's 30).
        max_translation: the largest translation either way, as a share of the image's width (horizontal) and
            height (vertical); the paper's 3 pixels of 32 by default.
        rotations: grid points over [-max_rotation, max_rotation] (the paper's 31).
        translations: grid points per direction over [-max_translation, max_translation] (the paper's 5).
        search: ``"grid"`` (every grid point) or ``"random"`` (worst-of-k, k = samples).
        samples: transformations drawn per image by the random search (the paper's 10).
        targeted: labels are target classes.
        seed: seed of the random search (None: torch's global generator).
    """

    name = "spatial"
    paper = "Engstrom et al. 2019, Exploring the Landscape of Spatial Robustness"
    norm = None
    threat = "rotation and translation"
    black_box = True
    feedback = "scores"

    def __init__(self, model: nn.Module, max_rotation: float = 30.0, max_translation: float = 3 / 32,
                 rotations: int = 31, translations: int = 5, search: str = "grid", samples: int = 10,
                 targeted: bool = False, seed: int | None = None):
        super().__init__(model, eps=None, targeted=targeted, seed=seed)
        self.max_rotation = check_number(f"{self.name}: max_rotation", max_rotation)
        self.max_translation = check_number(f"{self.name}: max_translation", max_translation)
        if self.max_rotation > 180 or self.max_translation >= 1:
            raise AdvlabError(f"{self.name}: max_rotation must lie in [0, 180] degrees and max_translation in "
                              f"[0, 1) of the image size; got {max_rotation} and {max_translation}")
        self.rotations = check_int(f"{self.name}: rotations", rotations, 1)
        self.translations = check_int(f"{self.name}: translations", translations, 1)
        if search not in SEARCHES:
            raise AdvlabError(f"{self.name}: unknown search {search!r}; valid searches are: {', '.join(SEARCHES)}")
        self.search = search
        self.samples = check_int(f"{self.name}: samples", samples, 1)

    def grid(self, size: tuple[int, int], device, dtype) -> tuple[Tensor, Tensor]:
        """(degrees (K,), shifts (K, 2) in pixels): every combination of the grid's values."""
        height, width = size
        degrees = torch.linspace(-self.max_rotation, self.max_rotation, self.rotations, dtype=dtype, device=device)
        across = torch.linspace(-1, 1, self.translations, dtype=dtype, device=device) * self.max_translation
        du, dv, angle = torch.meshgrid(across * width, across * height, degrees, indexing="ij")
        return angle.flatten(), torch.stack([du.flatten(), dv.flatten()], 1)

    def candidates(self, images: Tensor, generator) -> tuple[Tensor, Tensor]:
        """(degrees (K, N), shifts (K, N, 2)): the transformations each image may be tried with, in order."""
        n, (height, width) = len(images), images.shape[-2:]
        device, dtype = images.device, images.dtype
        if self.search == "grid":
            degrees, shifts = self.grid((height, width), device, dtype)
            return degrees[:, None].expand(-1, n), shifts[:, None].expand(-1, n, -1)
        draw = torch.rand(self.samples, n, 3, generator=generator, device=device, dtype=dtype) * 2 - 1
        scale = torch.tensor([self.max_translation * width, self.max_translation * height], dtype=dtype,
                             device=device)
        return draw[..., 0] * self.max_rotation, draw[..., 1:] * scale

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        if images.ndim != 4:
            raise AdvlabError(f"{self.name}: images must be (N, C, H, W) to be rotated and moved, got shape "
                              f"{tuple(images.shape)}")
        degrees, shifts = self.candidates(images, self.generator(images.device))
        queries = torch.ones(len(images), dtype=torch.int64, device=images.device)
        active = ~self.goal(self.clean_logits, labels)
        best = images.clone()
        best_loss = cross_entropy_objective(self.clean_logits, labels, self.targeted)
        for angle, shift in zip(degrees, shifts):
            rows = active.nonzero().flatten()
            if len(rows) == 0:
                break
            candidate = rotate_translate(images[rows], angle[rows], shift[rows])
            if mask is not None:
                candidate = torch.where(mask[rows], candidate, images[rows])
            logits = self.predict(candidate)
            queries[rows] += 1
            loss = cross_entropy_objective(logits, labels[rows], self.targeted)
            done = self.goal(logits, labels[rows])
            take = done | (loss > best_loss[rows])
            best[rows[take]], best_loss[rows[take]] = candidate[take], loss[take]
            active[rows[done]] = False
        self.queries = queries
        return best
