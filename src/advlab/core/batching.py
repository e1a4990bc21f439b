"""How many images one forward pass should take when only the outputs are wanted (inference, no training).

On a CPU the cost per image of a convolutional network rises once one pass's activations no longer fit in the
cache. Measured on this project's 2-core machine, one torch thread, 4,096 images through the victim SmallCNN
(two 32- and two 64-channel 3x3 convolutions): at 28x28 (MNIST) 1.08 s at 32 images per pass, 1.17 s at 128 and
1.56 s at 256; at 16x16 (digits) flat from 64 to 256 (0.37 s) and 0.79 s at 1,024. A budget of input values per
pass keeps both near their best: 2**16 values is 83 MNIST images, 256 digits at 16 px, 21 RGB images at 32 px.
On a GPU large passes are what it wants, so the caller's own bound applies.
"""

from __future__ import annotations

from torch import Tensor

CPU_VALUES_PER_PASS = 2 ** 16  # input values (C*H*W per image) per forward pass on a CPU
DEVICE_IMAGES_PER_PASS = 1024  # images per forward pass on an accelerator


def images_per_pass(images: Tensor, limit: int = DEVICE_IMAGES_PER_PASS) -> int:
    """Images of `images` (N, C, H, W) to push through a network at once: on a CPU as many as fit in
    CPU_VALUES_PER_PASS input values (at least 1, at most `limit`), elsewhere `limit`."""
    if images.device.type != "cpu":
        return limit
    per_image = max(1, images[0].numel()) if len(images) else 1
    return max(1, min(limit, CPU_VALUES_PER_PASS // per_image))


__all__ = ["CPU_VALUES_PER_PASS", "DEVICE_IMAGES_PER_PASS", "images_per_pass"]
