"""Print and photograph adversarial images — simulated — and the destruction rate.

Kurakin, Goodfellow & Bengio 2016, "Adversarial examples in the physical world". Sec. 3 prints
adversarial images, photographs the printout with a phone and crops the photo back to the
image, and measures how many adversarial images the trip "destroys" (classified correctly again)
with the destruction rate (sec. 3, "Destruction rate of adversarial images")

    d = sum_k C(X^k, y^k) ¬C(X^k_adv, y^k) C(T(X^k_adv), y^k)  /  sum_k C(X^k, y^k) ¬C(X^k_adv, y^k),

C(X, y) = 1 when X is classified as y: among the images the model got right that the attack
turned wrong, the share that the transformation T turns right again. Sec. 4 repeats the
measure for single artificial transformations: brightness, contrast, Gaussian blur, Gaussian
noise and JPEG encoding (``destruction_table``).

``simulate_print_photo`` stands in for the printer and the camera (it is a simulation, not the
paper's experiment), in the order light takes:

* alignment — the crop of the photo is a little rotated, shifted and zoomed;
* resampling — the photo has another resolution, so the crop is resized down and back up;
* optics — the print's dot spread and the lens blur the image slightly;
* light — the print compresses the range and the exposure varies: contrast and brightness;
* sensor — Gaussian noise;
* the camera's file — JPEG at a random quality (Pillow, per image; not differentiable).

``severity`` scales every range (0: the identity; 1: a careful photo; 2: a careless one).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from advlab.attacks.base import check_images, check_labels, model_device
from advlab.attacks.transforms import adjust_brightness, adjust_contrast, affine, gaussian_blur
from advlab.core.checks import check_number
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.core.seeding import make_generator

# The ranges at severity 1, each scaled by the severity (see the module docstring).
ROTATE_DEGREES = 3.0
TRANSLATE = 0.03      # fraction of the side
ZOOM = 0.03           # zoom factor 1 +- this
RESAMPLE = 0.25       # the crop is resized to a side (1 - u * this) times the original, u ~ U[0, 1]
BLUR_SIGMA = 0.5      # pixels
CONTRAST = (0.2, 0.05)  # factor in [1 - 0.2, 1 + 0.05]: prints lose contrast more often than gain it
BRIGHTNESS = 0.08
NOISE_STD = 0.03
JPEG_BEST, JPEG_DROP, JPEG_WORST = 95, 45, 10  # quality in [95 - 45 * severity, 95], at least 10

# Sec. 4's artificial transformations and the parameters swept for each (our grid).
DESTRUCTION_GRID: dict[str, tuple[float, ...]] = {
    "brightness": (-0.2, -0.1, 0.1, 0.2),     # added to every pixel
    "contrast": (0.6, 0.8, 1.2, 1.4),         # factor on the differences from the image mean
    "blur": (0.5, 1.0, 1.5),                  # Gaussian sigma in pixels
    "noise": (0.02, 0.05, 0.1),               # Gaussian std
    "jpeg": (90, 70, 50, 30, 10),             # JPEG quality
    "print-photo": (0.5, 1.0, 2.0),           # simulate_print_photo severity
}


# ---------------------------------------------------------------------- JPEG


def jpeg(images: Tensor, quality: int | Sequence[int] | Tensor) -> Tensor:
    """Each image JPEG-encoded at its quality (1..100) and decoded, through Pillow (8 bits a pixel).

    One channel is encoded as greyscale, three as RGB, any other count channel by channel.
    """
    qualities = torch.as_tensor(quality).flatten().tolist()
    qualities = qualities * len(images) if len(qualities) == 1 else qualities
    if len(qualities) != len(images):
        raise AdvlabError(f"jpeg: give one quality or one per image ({len(images)}), got {len(qualities)}")
    for value in qualities:
        if not 1 <= value <= 100:
            raise AdvlabError(f"jpeg: quality must lie in [1, 100], got {value}")
    pixels = (images.detach().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    decoded = np.stack([encode_decode(image, int(q)) for image, q in zip(pixels, qualities)])
    return torch.from_numpy(decoded).to(images.device, images.dtype) / 255


def encode_decode(image: np.ndarray, quality: int) -> np.ndarray:
    """(C, H, W) uint8 -> JPEG bytes -> (C, H, W) uint8."""
    if image.shape[0] == 3:
        return np.asarray(roundtrip(Image.fromarray(image.transpose(1, 2, 0), "RGB"), quality)).transpose(2, 0, 1)
    return np.stack([np.asarray(roundtrip(Image.fromarray(channel, "L"), quality)) for channel in image])


def roundtrip(picture: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert(picture.mode)


# ---------------------------------------------------------------------- the simulated trip


def uniform(n: int, low: float, high: float, generator: torch.Generator | None) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def resample(images: Tensor, factors: Tensor) -> Tensor:
    """Each image resized to `factor` times its side (bilinear, antialiased) and back."""
    height, width = images.shape[-2:]
    out = []
    for image, factor in zip(images, factors.tolist()):
        small = (max(1, round(height * factor)), max(1, round(width * factor)))
        if small == (height, width):
            out.append(image)
            continue
        shrunk = F.interpolate(image[None], size=small, mode="bilinear", antialias=True, align_corners=False)
        out.append(F.interpolate(shrunk, size=(height, width), mode="bilinear", align_corners=False)[0])
    return torch.stack(out)


@torch.no_grad()
def simulate_print_photo(images: Tensor, seed: int | None = None, severity: float = 1.0) -> Tensor:
    """Images after a simulated print and photo (module docstring): same shape, in [0, 1].

    Reproducible for a fixed `seed` (parameters and noise are drawn on the CPU, one set per image;
    None: torch's global generator).
    """
    images = check_images(images, "simulate_print_photo")
    if images.ndim != 4:
        raise AdvlabError(f"simulate_print_photo: images must be (N, C, H, W), got shape {tuple(images.shape)}")
    s = check_number("simulate_print_photo: severity", severity)
    if s == 0:
        return images.clone()
    n, generator = len(images), None if seed is None else make_generator(seed, torch.device("cpu"))
    on = {"device": images.device, "dtype": images.dtype}
    out = affine(images, uniform(n, -ROTATE_DEGREES * s, ROTATE_DEGREES * s, generator).to(**on),
                 uniform(n, 1 - ZOOM * s, 1 + ZOOM * s, generator).to(**on),
                 uniform(2 * n, -TRANSLATE * s, TRANSLATE * s, generator).view(n, 2).to(**on))
    out = resample(out, 1 - RESAMPLE * min(s, 2.0) * torch.rand(n, generator=generator))
    out = gaussian_blur(out, uniform(n, 0, BLUR_SIGMA * s, generator).to(**on))
    out = adjust_contrast(out, uniform(n, max(0.0, 1 - CONTRAST[0] * s), 1 + CONTRAST[1] * s, generator).to(**on))
    out = adjust_brightness(out, uniform(n, -BRIGHTNESS * s, BRIGHTNESS * s, generator).to(**on))
    noise = torch.randn(out.shape, generator=generator).to(**on)
    out = (out + uniform(n, 0, NOISE_STD * s, generator).to(**on).view(-1, 1, 1, 1) * noise).clamp(0, 1)
    worst = max(JPEG_WORST, round(JPEG_BEST - JPEG_DROP * s))
    return jpeg(out, torch.randint(worst, JPEG_BEST + 1, (n,), generator=generator))


# ---------------------------------------------------------------------- the destruction rate


@torch.no_grad()
def destruction_rate(model: nn.Module, clean: Tensor, adversarial: Tensor, labels: Tensor,
                     transform: Callable[[Tensor], Tensor]) -> float | None:
    """Kurakin et al.'s destruction rate d (module docstring) of `transform` on the adversarial images.

    None when no image counts (the model got none right whose adversarial version it got wrong).
    """
    what = "destruction_rate"
    device = model_device(model, clean)
    clean = check_images(clean, what).to(device)
    adversarial = check_images(adversarial, what).to(device)
    if adversarial.shape != clean.shape:
        raise AdvlabError(f"{what}: adversarial images of shape {tuple(adversarial.shape)} do not match "
                          f"the clean images' {tuple(clean.shape)}")
    labels = check_labels(labels, len(clean), what, "labels").to(device)
    with evaluating(model):
        correct = model(clean).argmax(1) == labels
        fooled = model(adversarial).argmax(1) != labels
        transformed = transform(adversarial).to(device)
        restored = model(transformed).argmax(1) == labels
    counted = correct & fooled
    if not counted.any():
        return None
    return float((counted & restored).sum()) / float(counted.sum())


def single_transform(name: str, parameter: float, seed: int) -> Callable[[Tensor], Tensor]:
    """Sec. 4's transformation `name` at one parameter value, as a function of the images."""
    generator = make_generator(seed, torch.device("cpu"))

    def noisy(images: Tensor) -> Tensor:
        noise = torch.randn(images.shape, generator=generator).to(images.device, images.dtype)
        return (images + parameter * noise).clamp(0, 1)

    transforms: dict[str, Callable[[Tensor], Tensor]] = {
        "brightness": lambda images: adjust_brightness(images, parameter),
        "contrast": lambda images: adjust_contrast(images, parameter),
        "blur": lambda images: gaussian_blur(images, parameter),
        "noise": noisy,
        "jpeg": lambda images: jpeg(images, int(parameter)),
        "print-photo": lambda images: simulate_print_photo(images, seed=seed, severity=parameter),
    }
    if name not in transforms:
        raise AdvlabError(f"unknown transform {name!r} for the destruction table; valid ones are: "
                          f"{', '.join(transforms)}")
    return transforms[name]


def destruction_table(model: nn.Module, clean: Tensor, adversarial: Tensor, labels: Tensor,
                      grid: Mapping[str, Sequence[float]] | None = None, seed: int = 0
                      ) -> list[dict[str, str | float | None]]:
    """One row per (transformation, parameter) of sec. 4: {"transform", "parameter", "destruction_rate"}.

    `grid` maps transformation names (brightness, contrast, blur, noise, jpeg, print-photo) to the
    parameter values to try; default ``DESTRUCTION_GRID``. Random ones (noise, print-photo) use `seed`.
    """
    rows: list[dict[str, str | float | None]] = []
    for name, values in (DESTRUCTION_GRID if grid is None else grid).items():
        for value in values:
            transform = single_transform(name, value, seed)
            rows.append({"transform": name, "parameter": value,
                         "destruction_rate": destruction_rate(model, clean, adversarial, labels, transform)})
    return rows

