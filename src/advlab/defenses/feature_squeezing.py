"""Median smoothing and the feature-squeezing detector of Xu, Evans & Qi 2018.

Xu, Evans & Qi 2018, "Feature Squeezing: Detecting Adversarial Examples in Deep Neural Networks"
(NDSS).

* Sec. 3.2, local smoothing (``MedianSmoothing``; ``SpatialSmoothing`` is the same filter under ART's name and
  its ``window_size``, default 3): each pixel becomes the median of the ``size`` x ``size`` window
  around it, per channel. The paper's code is SciPy's ``median_filter`` and this matches it: the
  window of pixel i spans i - size//2 .. i - size//2 + size - 1 (for size 2: the pixel and its
  upper/left neighbours), the image is extended by mirroring at its edge (SciPy's "reflect":
  d c b a | a b c d | d c b a), and of an even number of values the upper median (rank
  size^2 // 2 of the sorted window) is taken. The median passes the gradient to the one pixel it
  selects, so this squeezer is differentiable almost everywhere.

* Sec. 4, the detector: the model's prediction on the input is compared with its predictions on
  squeezed copies of it,

      score(x) = max over squeezers s of || softmax f(x) - softmax f(s(x)) ||_1,

  and x is flagged as adversarial when score(x) exceeds a threshold, chosen on legitimate images
  so that a target share of them (5% in the paper) is flagged. The paper's squeezers for MNIST are
  1-bit depth and 2x2 median smoothing (``default_squeezers`` for one channel); for colour images
  5-bit depth and 2x2 median (the paper adds non-local means, not implemented here).

An adaptive attacker who also minimises the score evades the detector (He, Wei, Chen, Carlini &
Song 2017, "Adversarial example defenses: ensembles of weak defenses are not strong").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.defenses.bit_depth import BitDepth

SCORE_BATCH = 1024  # images per forward pass when scoring


class MedianSmoothing(nn.Module):
    """images (N, C, H, W) -> each pixel the median of its ``size`` x ``size`` window (default 2), per channel."""

    randomized = False
    name, option = "median", "size"  # how errors name the transform and its window option

    def __init__(self, size: int = 2):
        super().__init__()
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise AdvlabError(f"{self.name}: {self.option} must be an integer >= 1 (the window's side in pixels), "
                              f"got {size!r}")
        self.size = size

    def forward(self, images: Tensor) -> Tensor:
        if images.ndim != 4:
            raise AdvlabError(f"{self.name}: needs images (N, C, H, W), got shape {tuple(images.shape)}")
        height, width = images.shape[-2:]
        if self.size > min(height, width):
            raise AdvlabError(f"{self.name}: {self.option} {self.size} is larger than the {height}x{width} images")
        rows = window_indices(height, self.size, images.device)
        columns = window_indices(width, self.size, images.device)
        windows = images[:, :, rows[:, :, None, None], columns[None, None, :, :]]  # (N, C, H, k, W, k)
        windows = windows.permute(0, 1, 2, 4, 3, 5).flatten(-2)  # (N, C, H, W, k*k)
        return windows.sort(dim=-1).values[..., self.size ** 2 // 2]

    def extra_repr(self) -> str:
        return f"{self.option}={self.size}"


class SpatialSmoothing(MedianSmoothing):
    """ART's name for the same median filter (``SpatialSmoothing``, ``window_size``, default 3): images (N, C, H, W)
    -> each pixel the median of its ``window_size`` x ``window_size`` window, per channel.

    ART filters with SciPy's ``median_filter(mode="reflect")`` exactly as ``MedianSmoothing`` does (the upper median
    of an even window, whose centre lies at its lower right), so the two agree pixel for pixel. ART also accepts a
    window larger than the image; here that is refused, as for ``median``.

    Args:
        window_size: side of the square window in pixels (default 3, ART's).
    """

    name, option = "spatial-smoothing", "window_size"

    def __init__(self, window_size: int = 3):
        super().__init__(window_size)

    @property
    def window_size(self) -> int:
        return self.size


def window_indices(length: int, size: int, device: torch.device) -> Tensor:
    """(length, size): the indices of each position's window, i - size//2 + (0..size-1), mirrored at the edges
    like SciPy's "reflect" mode (the edge pixel repeats)."""
    offsets = torch.arange(size, device=device) - size // 2
    index = (torch.arange(length, device=device)[:, None] + offsets[None, :]) % (2 * length)
    return torch.where(index >= length, 2 * length - 1 - index, index)


def default_squeezers(channels: int) -> list[nn.Module]:
    """Xu et al.'s joint detector: 1-bit depth and 2x2 median for grey images, 5-bit and 2x2 median for colour."""
    return [BitDepth(1 if channels == 1 else 5), MedianSmoothing(2)]


def make_squeezers(specs: Sequence[str]) -> list[nn.Module]:
    """Squeezers from "name:value" specs: ``bit-depth:B`` (bits), ``median:S`` (window side), ``jpeg:Q`` (quality)."""
    from advlab.defenses.jpeg import JPEG

    kinds = {"bit-depth": BitDepth, "median": MedianSmoothing, "jpeg": JPEG}
    squeezers = []
    for spec in specs:
        name, _, value = str(spec).strip().partition(":")
        if name not in kinds or not value.strip().isdigit():
            raise AdvlabError(f"squeeze: unknown squeezer {spec!r}; give name:value with name one of "
                              f"{', '.join(kinds)}, e.g. bit-depth:1 or median:2")
        squeezers.append(kinds[name](int(value)))
    if not squeezers:
        raise AdvlabError("squeeze: give at least one squeezer, e.g. bit-depth:1,median:2")
    return squeezers


class ThresholdDetector(nn.Module):
    """A detector of adversarial inputs read as a score per image and a threshold set at a target false-positive
    rate on clean images (``calibrate``); ``detect`` flags scores above it. Subclasses define ``forward`` (the
    score), ``threshold`` and ``detector_name`` (the word its errors start with)."""

    @torch.no_grad()
    def scores(self, images: Tensor) -> Tensor:
        """The score of every image, in batches, in eval mode."""
        with evaluating(self):
            return torch.cat([self(images[start:start + SCORE_BATCH]) for start in range(0, len(images), SCORE_BATCH)])

    def calibrate(self, clean_images: Tensor, fpr: float = 0.05) -> float:
        """Set (and return) the threshold that flags floor(fpr * n) of these clean images (fewer on ties)."""
        if len(clean_images) == 0:
            raise AdvlabError(f"{self.detector_name}: calibrating the threshold needs at least one clean image")
        self.threshold = threshold_at_fpr(self.scores(clean_images), fpr, self.detector_name)
        return self.threshold

    def detect(self, images: Tensor) -> Tensor:
        """(N,) bool: score above the threshold."""
        if self.threshold is None:
            raise AdvlabError(f"{self.detector_name}: calibrate the detector on clean images before detecting")
        return self.scores(images) > self.threshold


class SqueezeDetector(ThresholdDetector):
    """Xu et al.'s detector: ``forward(images)`` is score(x) (N,); ``calibrate`` sets the threshold;
    ``detect`` flags images whose score exceeds it.

    Args:
        classifier: maps images in [0, 1] to logits (N, classes).
        squeezers: the transforms to compare with (default: ``default_squeezers`` of the images' channels).
    """

    def __init__(self, classifier: nn.Module, squeezers: list[nn.Module] | None = None):
        super().__init__()
        self.classifier = classifier
        self.squeezers = None if squeezers is None else nn.ModuleList(squeezers)
        self.threshold: float | None = None
        self.detector_name = "squeeze"

    def forward(self, images: Tensor) -> Tensor:
        """score(x) = max over squeezers of || softmax f(x) - softmax f(s(x)) ||_1 (differentiable where the
        squeezers are)."""
        squeezers = self.squeezers if self.squeezers is not None else default_squeezers(images.shape[1])
        plain = self.classifier(images).softmax(1)
        distances = [(plain - self.classifier(squeeze(images)).softmax(1)).abs().sum(1) for squeeze in squeezers]
        return torch.stack(distances).amax(0)


def threshold_at_fpr(scores: Tensor, fpr: float, detector: str = "detector") -> float:
    """The score above which floor(fpr * n) of these clean scores lie (fewer on ties): a detector's threshold at a
    target false-positive rate (Xu et al. 2018, sec. 4; Metzen et al. 2017's detectors are read the same way)."""
    if isinstance(fpr, bool) or not isinstance(fpr, (int, float)) or not 0 < fpr < 1:
        raise AdvlabError(f"{detector}: the target false-positive rate must lie in (0, 1), got {fpr!r}")
    ranked = scores.sort(descending=True).values
    return float(ranked[min(math.floor(fpr * len(ranked)), len(ranked) - 1)])
