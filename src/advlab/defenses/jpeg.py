"""JPEG compression as an input-transformation defense.

Dziugaite, Ghahramani & Roy 2016, "A study of the effect of JPG compression on adversarial
images", and Guo, Rana, Cisse & van der Maaten 2018, "Countering Adversarial Images using Input
Transformations", sec. 3 ("JPEG compression"): the image is compressed and decompressed before
it is classified, in the hope that the quantisation of the DCT coefficients removes the small
perturbation,

    t(x) = decode(encode(x, quality)).

Each image goes through Pillow's JPEG codec at ``quality`` (1..100), as an 8-bit greyscale
("L", one channel) or RGB (three channels) image, without chroma subsampling (4:4:4), so that
quality alone sets how much is lost; quality 100 is nearly the identity.

Pillow works on NumPy bytes, outside autograd. So that a naive gradient attack sees a zero gradient
instead of failing on a tensor without a graph, the output stays attached to the input with a
gradient of exactly zero: ``images * 0 + decoded.detach()``. That is the obfuscated gradient of
Athalye, Carlini & Wagner 2018 (sec. 4.1, "shattered gradients"); ``advlab.attacks.BPDA`` attacks
through it with the identity on the backward pass.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from advlab.core.errors import AdvlabError

MODES = {1: "L", 3: "RGB"}  # channels -> Pillow image mode


class JPEG(nn.Module):
    """images (N, 1 or 3, H, W) in [0, 1] -> the same images after JPEG at ``quality`` (1..100, default 75)."""

    randomized = False

    def __init__(self, quality: int = 75):
        super().__init__()
        if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
            raise AdvlabError(f"jpeg: quality must be an integer in 1..100, got {quality!r}")
        self.quality = quality

    def forward(self, images: Tensor) -> Tensor:
        if images.ndim != 4 or images.shape[1] not in MODES:
            raise AdvlabError(f"jpeg: needs images (N, 1 or 3, H, W), got shape {tuple(images.shape)}")
        pixels = (images.detach().clamp(0.0, 1.0) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        decoded = np.stack([self.compress(image) for image in pixels])
        decoded = torch.from_numpy(decoded).permute(0, 3, 1, 2).to(images.device, images.dtype) / 255
        return images * 0 + decoded  # zero gradient, still in the graph (see the module docstring)

    def compress(self, pixels: np.ndarray) -> np.ndarray:
        """One (H, W, C) uint8 image through encode and decode; (H, W, C) uint8 again."""
        mode = MODES[pixels.shape[-1]]
        buffer = io.BytesIO()
        Image.fromarray(pixels[..., 0] if mode == "L" else pixels).save(  # uint8 (H, W) -> L, (H, W, 3) -> RGB
            buffer, format="JPEG", quality=self.quality, subsampling=0)
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            array = np.asarray(decoded.convert(mode), dtype=np.uint8)
        return array[..., None] if mode == "L" else array

    def extra_repr(self) -> str:
        return f"quality={self.quality}"
