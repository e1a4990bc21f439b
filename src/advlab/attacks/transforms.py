"""A differentiable distribution of image transformations, for Expectation over Transformation.

Athalye, Engstrom, Ilyas & Kwok 2018, "Synthesizing Robust Adversarial Examples", sec. 2: the
attacker optimises an expectation E_{t~T}[...] over a distribution T of transformations t, and
estimates its gradient by sampling t, so every t must be differentiable in the image. The
transformations here are written on torch alone and are differentiable end to end:

* geometric — ``rotate`` (degrees, counter-clockwise as displayed), ``scale`` (zoom factor, > 1
  enlarges) and ``translate`` (shift as a fraction of the image side, per axis), about the image
  centre, composed into one affine map and resampled once (``affine_grid`` / ``grid_sample``,
  bilinear, zeros outside the image);
* photometric — ``brightness`` (added to every pixel), ``contrast`` (the differences from the
  image's mean multiplied by a factor), ``blur`` (a Gaussian of random sigma in pixels, as two
  separable 1-D convolutions, the edges replicated), ``noise`` (Gaussian, of random std).

Images are NCHW in [0, 1]; results are clamped back to [0, 1]. A ``TransformDistribution``
composes the named transformations in a fixed order (the geometric ones, then blur, contrast,
brightness, noise — the order light takes from a scene through a lens to a sensor), each with its
parameters drawn uniformly from its range independently for every image and every draw.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from advlab.core.errors import AdvlabError

GEOMETRIC = ("rotate", "scale", "translate")
PHOTOMETRIC = ("blur", "contrast", "brightness", "noise")
TRANSFORMS = GEOMETRIC + PHOTOMETRIC  # the order a distribution applies them in

# Default ranges, sized for small images (8x8 to 32x32): a tilt, a zoom, a shift of a pixel or
# so, a little light, a slight blur and sensor noise.
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "rotate": (-15.0, 15.0),      # degrees
    "scale": (0.9, 1.1),          # zoom factor
    "translate": (-0.1, 0.1),     # fraction of the image side, drawn per axis
    "brightness": (-0.1, 0.1),    # added to the pixels
    "contrast": (0.8, 1.2),       # factor on the differences from the mean
    "blur": (0.0, 0.6),           # Gaussian sigma in pixels
    "noise": (0.0, 0.05),         # Gaussian std
}
IDENTITY = {"rotate": 0.0, "scale": 1.0, "translate": 0.0, "brightness": 0.0, "contrast": 1.0, "blur": 0.0,
            "noise": 0.0}
LEAST = {"scale": 1e-3, "contrast": 0.0, "blur": 0.0, "noise": 0.0}  # smallest sensible parameter
BLUR_TRUNCATE = 3.0  # the Gaussian kernel reaches ceil(3 sigma) pixels either side


# ---------------------------------------------------------------------- single transformations


def per_image(value: Tensor | float, images: Tensor, columns: int | None = None) -> Tensor:
    """A parameter as a tensor (N,) (or (N, columns)) on the images' device and dtype."""
    value = torch.as_tensor(value, device=images.device, dtype=images.dtype)
    shape = (len(images),) if columns is None else (len(images), columns)
    return value.expand(shape) if value.ndim < len(shape) else value


def affine(images: Tensor, degrees: Tensor | float = 0.0, scales: Tensor | float = 1.0,
           shifts: Tensor | float = 0.0) -> Tensor:
    """Rotate by `degrees` (counter-clockwise), zoom by `scales` and shift by `shifts` = (right,
    down) fractions of the side (one pair, or (N, 2)), about the centre: one bilinear resampling.
    Each parameter is one number or one per image.

    Works in pixel units, so a rotation of a non-square image is a true rotation.
    """
    n, _, height, width = images.shape
    radians = per_image(degrees, images) * (math.pi / 180)
    scales, shifts = per_image(scales, images), per_image(shifts, images, 2)
    cos, sin = torch.cos(radians), torch.sin(radians)
    # The sampling map, output point -> input point: R(angle) (u - shift) / scale. In the
    # normalised coordinates of affine_grid (x right, y down, both in [-1, 1]) a pixel-unit
    # rotation becomes D^-1 R D with D = diag(width, height).
    aspect = width / height
    linear = torch.stack([torch.stack([cos, -sin / aspect], 1), torch.stack([sin * aspect, cos], 1)], 1)
    linear = linear / scales[:, None, None]
    offset = -(linear @ (2 * shifts)[:, :, None])
    theta = torch.cat([linear, offset], 2)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def rotate(images: Tensor, degrees: Tensor | float) -> Tensor:
    return affine(images, degrees=degrees)


def rescale(images: Tensor, scales: Tensor | float) -> Tensor:
    return affine(images, scales=scales)


def translate(images: Tensor, shifts: Tensor | float) -> Tensor:
    return affine(images, shifts=shifts)


def adjust_brightness(images: Tensor, deltas: Tensor | float) -> Tensor:
    return (images + per_image(deltas, images).view(-1, 1, 1, 1)).clamp(0.0, 1.0)


def adjust_contrast(images: Tensor, factors: Tensor | float) -> Tensor:
    """mean + factor * (x - mean), the mean taken over each whole image."""
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (mean + per_image(factors, images).view(-1, 1, 1, 1) * (images - mean)).clamp(0.0, 1.0)


def gaussian_kernels(sigmas: Tensor) -> Tensor:
    """(N, K) normalised 1-D Gaussians, each cut at ceil(3 sigma) pixels (sigma 0: the identity)."""
    radius = int(math.ceil(BLUR_TRUNCATE * float(sigmas.max()))) if len(sigmas) else 0
    offsets = torch.arange(-radius, radius + 1, device=sigmas.device, dtype=sigmas.dtype)
    spread = sigmas.clamp(min=1e-6)[:, None]
    weights = torch.exp(-offsets ** 2 / (2 * spread ** 2))
    weights = weights * (offsets.abs() <= torch.ceil(BLUR_TRUNCATE * sigmas)[:, None])
    return weights / weights.sum(1, keepdim=True)


def gaussian_blur(images: Tensor, sigmas: Tensor | float) -> Tensor:
    """A Gaussian blur of `sigmas` pixels per image: rows, then columns, edges replicated."""
    n, channels, height, width = images.shape
    kernels = gaussian_kernels(per_image(sigmas, images)).repeat_interleave(channels, 0)  # (N*C, K)
    radius = (kernels.shape[1] - 1) // 2
    flat = images.reshape(1, n * channels, height, width)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="replicate"), kernels[:, None, None, :],
                    groups=n * channels)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="replicate"), kernels[:, None, :, None],
                    groups=n * channels)
    return flat.reshape(images.shape)


def gaussian_noise(images: Tensor, stds: Tensor | float, generator: torch.Generator | None = None) -> Tensor:
    noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    return (images + per_image(stds, images).view(-1, 1, 1, 1) * noise).clamp(0.0, 1.0)


# ---------------------------------------------------------------------- parsing names and ranges


def parse_spec(spec: str) -> tuple[str, tuple[float, float] | None]:
    """"rotate" -> ("rotate", None); "rotate:-30:30" -> ("rotate", (-30.0, 30.0))."""
    if not isinstance(spec, str):
        raise AdvlabError(f"transforms must be names such as 'rotate', got {spec!r}")
    name, *bounds = [part.strip() for part in spec.split(":")]
    if name not in TRANSFORMS:
        raise AdvlabError(f"unknown transform {name!r}; valid transforms are: {', '.join(TRANSFORMS)}")
    if not bounds:
        return name, None
    try:
        low, high = (float(bound) for bound in bounds)
    except ValueError:
        raise AdvlabError(f"transform {spec!r}: write a range as name:low:high, e.g. rotate:-30:30") from None
    return name, (low, high)


def check_range(name: str, bounds) -> tuple[float, float]:
    """A finite (low, high) with low <= high, inside the transformation's domain."""
    try:
        low, high = (float(bound) for bound in bounds)
    except (TypeError, ValueError):
        raise AdvlabError(f"transform {name}: a range must be two numbers (low, high), got {bounds!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise AdvlabError(f"transform {name}: the range must be finite with low <= high, got ({low:g}, {high:g})")
    if name in LEAST and low < LEAST[name]:
        raise AdvlabError(f"transform {name}: the range must start at >= {LEAST[name]:g}, got {low:g}")
    return low, high


def parse_transforms(specs: str | Iterable[str], ranges: Mapping[str, tuple[float, float]] | None = None
                     ) -> dict[str, tuple[float, float]]:
    """Names (optionally "name:low:high"; a comma-separated string also works) -> {name: range}
    in the order of application. `ranges` overrides the defaults for any named transformation."""
    if isinstance(specs, str):
        specs = [part for part in specs.split(",") if part.strip()]
    chosen: dict[str, tuple[float, float]] = {}
    for spec in specs:
        name, bounds = parse_spec(spec)
        if name in chosen:
            raise AdvlabError(f"transform {name!r} is given twice")
        chosen[name] = check_range(name, bounds if bounds is not None else DEFAULT_RANGES[name])
    for name, bounds in (ranges or {}).items():
        if name not in chosen:
            raise AdvlabError(f"a range was given for {name!r}, which is not among the transforms "
                              f"{', '.join(chosen) or '(none)'}")
        chosen[name] = check_range(name, bounds)
    return {name: chosen[name] for name in TRANSFORMS if name in chosen}


# ---------------------------------------------------------------------- the distribution


class TransformDistribution:
    """The composition of the named transformations with independently drawn parameters.

    ``TransformDistribution(("rotate", "blur"), {"rotate": (-30, 30)}, generator).sample(x, 8)``
    gives 8 transformed copies of every image, (N * 8, C, H, W), image-major: rows
    i*8 .. i*8+7 are image i. Names may carry their range ("rotate:-30:30"); ``ranges``
    overrides the defaults (``DEFAULT_RANGES``) too.
    """

    def __init__(self, names: str | Iterable[str] = ("rotate", "scale", "blur", "noise"),
                 ranges: Mapping[str, tuple[float, float]] | None = None,
                 generator: torch.Generator | None = None):
        self.ranges = parse_transforms(names, ranges)
        self.generator = generator

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.ranges)

    def with_generator(self, generator: torch.Generator | None) -> TransformDistribution:
        """The same distribution drawing from another generator."""
        return TransformDistribution(self.names, self.ranges, generator)

    def draw(self, n: int, device: torch.device, dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
        """Parameters for n transformations: {name: (n,)} ((n, 2) for translate), uniform in each range."""
        parameters = {}
        for name, (low, high) in self.ranges.items():
            shape = (n, 2) if name == "translate" else (n,)
            uniform = torch.rand(shape, generator=self.generator, device=device, dtype=dtype)
            parameters[name] = low + (high - low) * uniform
        return parameters

    def apply(self, images: Tensor, parameters: Mapping[str, Tensor]) -> Tensor:
        """The transformations with the given parameters (one set per image), in order."""
        if any(name in parameters for name in GEOMETRIC):
            images = affine(images, parameters.get("rotate", 0.0), parameters.get("scale", 1.0),
                            parameters.get("translate", 0.0))
        if "blur" in parameters:
            images = gaussian_blur(images, parameters["blur"])
        if "contrast" in parameters:
            images = adjust_contrast(images, parameters["contrast"])
        if "brightness" in parameters:
            images = adjust_brightness(images, parameters["brightness"])
        if "noise" in parameters:
            images = gaussian_noise(images, parameters["noise"], self.generator)
        return images

    def sample(self, images: Tensor, samples: int = 1) -> Tensor:
        """`samples` independently transformed copies of each image, (N * samples, C, H, W)."""
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise AdvlabError(f"samples must be an integer >= 1, got {samples!r}")
        if images.ndim != 4:
            raise AdvlabError(f"transforms need images (N, C, H, W), got shape {tuple(images.shape)}")
        copies = images.repeat_interleave(samples, 0) if samples > 1 else images
        return self.apply(copies, self.draw(len(copies), images.device, images.dtype))

    def __repr__(self) -> str:
        return f"TransformDistribution({self.ranges})"
