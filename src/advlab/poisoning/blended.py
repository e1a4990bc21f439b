"""Blended injection: a key pattern blended into the whole image, relabelled to the target.

Chen, Liu, Li, Lu & Song 2017, "Targeted Backdoor Attacks on Deep Learning Systems Using Data
Poisoning", sec. 4.2 (the blended injection strategy): a poisoned input is the key k blended into
the image x with a blend ratio alpha,

    x' = Pi_blend^alpha(k, x) = (1 - alpha) * x + alpha * k          (their blended-injection eq.)

and is labelled with the target class. The training poisons use ``alpha`` and the trigger at test
time ``test_alpha`` (Chen et al. find a larger test-time alpha helps when the training alpha is
small; by default the two are equal). The key is

* ``"noise"``: their random pattern, each pixel drawn uniformly from [0, 1], fixed by ``key_seed``
  (one pattern of the images' shape, the same at training and at test time);
* ``"image"``: a photograph standing in for their Hello Kitty image: scikit-learn's bundled
  ``china.jpg`` (``sklearn.datasets.load_sample_image``; scikit-image is not a dependency here),
  centre-cropped to the images' aspect ratio, resized with antialiasing, greyscale (ITU-R 601 luma)
  unless the images have 3 channels;
* a user's tensor ``pattern`` (C, H, W) or (1, H, W) in [0, 1] of the images' size.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator
from advlab.poisoning.base import Backdoor, PoisonedData
from advlab.poisoning.triggers import (
    check_batch,
    check_channels,
    check_fraction,
    check_pattern,
    default_budget,
    plant_backdoor,
)

KEYS = ("noise", "image")
PHOTOGRAPH = "china.jpg"  # one of scikit-learn's two bundled sample photographs
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G, B


def noise_key(channels: int, height: int, width: int, seed: int) -> Tensor:
    """A (channels, height, width) pattern of independent uniform [0, 1) pixels, fixed by `seed`."""
    return torch.rand(channels, height, width, generator=make_generator(seed, torch.device("cpu")))


def photograph_key(channels: int, height: int, width: int) -> Tensor:
    """scikit-learn's bundled photograph as a (channels, height, width) key in [0, 1]: centre-cropped
    to the aspect ratio height:width, resized (bilinear, antialiased), greyscale unless channels == 3."""
    from sklearn.datasets import load_sample_image

    photo = torch.from_numpy(np.asarray(load_sample_image(PHOTOGRAPH), dtype=np.float32) / 255).permute(2, 0, 1)
    photo = centre_crop(photo, height / width)
    if channels != 3:
        photo = (photo * torch.tensor(LUMA)[:, None, None]).sum(0, keepdim=True).expand(channels, -1, -1)
    resized = F.interpolate(photo[None], size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return resized[0].clamp(0, 1).contiguous()


def centre_crop(image: Tensor, aspect: float) -> Tensor:
    """The largest centred crop of `image` (C, H, W) whose height / width is `aspect`."""
    height, width = image.shape[1:]
    if height / width > aspect:
        keep = round(width * aspect)
        top = (height - keep) // 2
        return image[:, top:top + keep]
    keep = round(height / aspect)
    left = (width - keep) // 2
    return image[:, :, left:left + keep]


class Blended(Backdoor):
    """Blended injection (Chen et al. 2017): ``Blended(target=0, poisons=50, alpha=0.2).poison(images, labels)``.

    Args:
        target: the class triggered inputs are sent to (all-to-one).
        rate: share of the training set to poison, in (0, 1] (give this or poisons).
        poisons: number of training images to poison (default 50 when rate is not given either).
        all_to_all: send class k to (k + 1) mod classes instead of one target.
        key: the key pattern, "noise" (uniform random pixels) or "image" (a photograph).
        alpha: blend ratio of the training poisons, in (0, 1]: x' = (1 - alpha) x + alpha key.
        test_alpha: blend ratio of the trigger at test time, in (0, 1] (default: alpha).
        key_seed: seed of the "noise" key.
        pattern: a key tensor (C, H, W) or (1, H, W) in [0, 1] of the images' size, instead of key.
    """

    name = "blended"

    def __init__(self, target: int = 0, rate: float | None = None, poisons: int | None = None,
                 all_to_all: bool = False, key: str = "noise", alpha: float = 0.2, test_alpha: float | None = None,
                 key_seed: int = 0, pattern: Tensor | None = None):
        super().__init__(target, *default_budget(rate, poisons, default_poisons=50), all_to_all=all_to_all)
        if key not in KEYS:
            raise AdvlabError(f"{self.name}: unknown key {key!r}; valid keys are: {', '.join(KEYS)}")
        self.key = key
        self.alpha = check_fraction(f"{self.name}: alpha", alpha)
        self.test_alpha = self.alpha if test_alpha is None else check_fraction(f"{self.name}: test_alpha", test_alpha)
        if isinstance(key_seed, bool) or not isinstance(key_seed, int):
            raise AdvlabError(f"{self.name}: key_seed must be an integer, got {key_seed!r}")
        self.key_seed = key_seed
        self.pattern = None if pattern is None else check_pattern(pattern, self.name)
        self.keys: dict[tuple[int, int, int], Tensor] = {}

    def key_pattern(self, images: Tensor) -> Tensor:
        """The key (C or 1, H, W) in [0, 1] for images like `images` (N, C, H, W), on their device."""
        channels, height, width = images.shape[1:]
        if self.pattern is not None:
            check_channels(self.pattern, images, self.name)
            if tuple(self.pattern.shape[1:]) != (height, width):
                raise AdvlabError(f"{self.name}: the key pattern is {tuple(self.pattern.shape[1:])} but the images "
                                  f"are {height}x{width}; a blended key covers the whole image")
            return self.pattern.to(images)
        shape = (channels, height, width)
        if shape not in self.keys:
            self.keys[shape] = noise_key(*shape, self.key_seed) if self.key == "noise" else photograph_key(*shape)
        return self.keys[shape].to(images)

    def blend(self, images: Tensor, alpha: float) -> Tensor:
        """(1 - alpha) * images + alpha * key, clamped to [0, 1] (it only guards float rounding)."""
        images = check_batch(images, self.name)
        return ((1 - alpha) * images + alpha * self.key_pattern(images)).clamp(0, 1)

    def apply_trigger(self, images: Tensor) -> Tensor:
        """The test-time trigger: `images` (N, C, H, W) blended with the key at test_alpha."""
        return self.blend(images, self.test_alpha)

    def poison(self, images: Tensor, labels: Tensor, seed: int = 0) -> PoisonedData:
        """Blend the key at alpha into `budget` non-target rows (all rows for all-to-all) and relabel them."""
        return plant_backdoor(self, images, labels, seed, trigger=lambda rows: self.blend(rows, self.alpha))

    def options(self) -> dict:
        return {**super().options(), "key": "pattern" if self.pattern is not None else self.key,
                "alpha": self.alpha, "test_alpha": self.test_alpha, "key_seed": self.key_seed}
