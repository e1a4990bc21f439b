"""Two-dimensional Gaussian mixtures used to measure mode collapse.

The settings follow Lin et al. 2018, "PacGAN: The power of two samples in generative
adversarial networks" (sec. 5, "2D-ring" and "2D-grid"), which take them from
Srivastava et al. 2017, "VEEGAN: Reducing mode collapse in GANs using implicit
variational learning" (sec. 5.1):

* ``ring8``: 8 Gaussians with means evenly spaced on a circle of radius 1, std 0.01;
* ``grid25``: 25 Gaussians with means on the grid {-4, -2, 0, 2, 4}^2, std 0.05.

Every mode has the same weight, so a sample picks its mode uniformly at random.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

RING8_RADIUS = 1.0
RING8_STD = 0.01
GRID25_COORDINATES = (-4.0, -2.0, 0.0, 2.0, 4.0)
GRID25_STD = 0.05


class GaussianMixture2D:
    """An equal-weight mixture of isotropic 2-D Gaussians sharing one standard deviation.

    Args:
        name: the registry name, e.g. ``"ring8"``.
        means: (K, 2) centres of the modes.
        std: the standard deviation of every mode, per coordinate.
    """

    kind = "points"
    sample_shape = (2,)
    labels = None

    def __init__(self, name: str, means: Tensor, std: float) -> None:
        self.name = name
        self.means = means.to(torch.float32)
        self.std = float(std)

    def __repr__(self) -> str:
        return f"GaussianMixture2D(name={self.name!r}, modes={len(self.means)}, std={self.std})"

    @property
    def num_modes(self) -> int:
        return int(self.means.shape[0])

    @property
    def classes(self) -> int:
        """The labels of a conditional game: the index of the mode a point was drawn from."""
        return self.num_modes

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """Draw ``n`` points, (n, 2) float32 on ``generator.device``; same state -> same points."""
        return self.sample_labelled(n, generator)[0]

    def sample_labelled(self, n: int, generator: torch.Generator, pack: int = 1) -> tuple[Tensor, Tensor]:
        """``n`` points and the index of the mode each came from (int64), drawn as :meth:`sample` draws them;
        with ``pack`` > 1, in runs of ``pack`` points from one mode (PacGAN in a conditional game)."""
        device = generator.device
        mode_index = torch.randint(self.num_modes, (n // pack,), generator=generator, device=device)
        mode_index = mode_index.repeat_interleave(pack)
        noise = torch.randn((n, 2), generator=generator, device=device)
        return self.means.to(device)[mode_index] + self.std * noise, mode_index

    def to(self, device: torch.device | str) -> GaussianMixture2D:
        """Move the means to ``device``; returns ``self``."""
        self.means = self.means.to(device)
        return self


def ring8() -> GaussianMixture2D:
    """8 Gaussians evenly spaced on the unit circle, std 0.01 (VEEGAN sec. 5.1)."""
    angles = torch.arange(8, dtype=torch.float64) * (2.0 * math.pi / 8)
    means = RING8_RADIUS * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return GaussianMixture2D("ring8", means.to(torch.float32), RING8_STD)


def grid25() -> GaussianMixture2D:
    """25 Gaussians with means on {-4, -2, 0, 2, 4}^2, std 0.05 (VEEGAN sec. 5.1)."""
    coordinates = torch.tensor(GRID25_COORDINATES, dtype=torch.float32)
    xs, ys = torch.meshgrid(coordinates, coordinates, indexing="ij")
    means = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
    return GaussianMixture2D("grid25", means, GRID25_STD)


class Spiral2D:
    """An Archimedean spiral of two turns, as in the TensorFlow Playground's spiral data (the playground's
    "spiral"):
    t ~ U(0, 1), angle 4 pi t, radius 0.1 + 0.9 t, plus Gaussian noise of std ``std`` per coordinate."""

    kind = "points"
    sample_shape = (2,)
    labels = None
    name = "spiral"

    def __init__(self, std: float = 0.02):
        self.std = std

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        device = generator.device
        t = torch.rand(n, generator=generator, device=device)
        angle, radius = 4 * math.pi * t, 0.1 + 0.9 * t
        curve = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)
        return curve + self.std * torch.randn((n, 2), generator=generator, device=device)

    def to(self, device: torch.device | str) -> Spiral2D:
        return self


TOY2D = {"ring8": ring8, "grid25": grid25, "spiral": Spiral2D}  # the built-in 2-D data sets, by name
