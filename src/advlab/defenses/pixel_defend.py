"""PixelDefend: purify an image towards higher PixelCNN likelihood within an eps_defend window; detect by rank.

Song, Kim, Nowozin, Ermon & Kushman 2018, "PixelDefend: Leveraging Generative Models to Understand and Defend
against Adversarial Examples" (ICLR). A PixelCNN p trained on the clean training images (here advlab's own gated
PixelCNN, ``advlab.models.pixelcnn``; the paper used PixelCNN++) gives every image its exact likelihood.

Detection (sec. "Detecting adversarial examples", the permutation-test p-value): with the training images
X'_1..X'_N and the statistic T(X) = p(X), a test image X gets

    p-value = ( 1 + sum_{i=1}^{N} 1[ T(X'_i) <= T(X) ] ) / (N + 1),

the share of training images no more likely than X (``likelihood_p_values``; T is compared through bits/dim,
-log_2 p(X) / dims, which orders images of one size the same way). Adversarial examples have small p-values.

Purification (Algorithm 1): on 8-bit images x (values 0..255) and eps_defend (16 on their data), in raster
order over rows i, columns j (and channels k):

    R <- [ max(x[i,j,k] - eps_defend, 0),  min(x[i,j,k] + eps_defend, 255) ]
    P <- the 256-way softmax p(x*[i,j,k] | the already purified x*[<(i,j,k)])
    x*[i,j,k] <- argmax_{z in R} P[z]

Here images are in [0, 1]: they are quantised to the PixelCNN's L levels (round(x * (L - 1))), eps_defend is
given in [0, 1] units (default 16/255) and the window holds the levels z with |z - x| <= eps_defend * (L - 1); the
output is the purified levels divided by L - 1. The argmax is deterministic (the lowest level among equals), so
``randomized = False``. Each pixel position costs one PixelCNN forward pass, batched over the images.

Where ART's ``PixelDefend`` departs from Algorithm 1 (advlab follows the paper): ART evaluates the PixelCNN once,
on the unpurified image, and takes every pixel's argmax from those probabilities -- each pixel is conditioned on
the adversarial pixels before it, not on the purified ones the algorithm prescribes. It also quantises with
``(x * 255).astype(uint8)``, which truncates (0.5 -> 127) where advlab rounds. And it computes the window on uint8
scalars, so for a pixel within eps of black (x - eps wraps) or of white (x + eps + 1 wraps) the window is empty and
the pixel's argmax stays -1: NumPy 2 raises OverflowError storing it (ART 1.20.1 cannot purify a digit with a black
background at all), NumPy 1 stored 255 (black turned white); advlab clips the window to [0, L - 1] as Algorithm 1's
max/min say. Applied one pixel at a time, in raster order, to the image advlab has purified so far, on pixels
away from both ends, ART's step gives exactly advlab's output (the tests check it).

Purification is an inner search that attacks do not differentiate: the output stays in the autograd graph with a
gradient of exactly zero (``images * 0 + purified``), so naive PGD sees nothing. Athalye, Carlini & Wagner 2018
(sec. 5.4.1) broke PixelDefend with BPDA, treating the purified image as the input on the backward pass:
``Preprocessed(classifier, PixelDefend(...)).bpda()``.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor, nn

from advlab.core.checks import check_number
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.models.pixelcnn import PixelCNN, batched_bits_per_dim, check_images, load_pixelcnn, raster

WINDOW_TOLERANCE = 1e-6  # eps_defend * (L - 1) a float's rounding below a whole number of levels still counts it


class PixelDefend(nn.Module):
    """images in [0, 1] -> their PixelDefend purification (Algorithm 1) under a trained PixelCNN.

    Args:
        pixelcnn: a PixelCNN file, or the directory holding pixelcnn.safetensors (advlab defend pixel-defend writes
            DIR/pixelcnn), or a PixelCNN module.
        eps_defend: half-width of each pixel's search window in [0, 1] units, 0..1 (default 16/255, the paper's 16
            of 255; set it at least the attack's eps when that is known).
    """

    randomized = False

    def __init__(self, pixelcnn: str | Path | PixelCNN, eps_defend: float = 16 / 255):
        super().__init__()
        self.eps_defend = check_eps_defend(eps_defend)
        if isinstance(pixelcnn, PixelCNN):
            self.pixelcnn = pixelcnn
        elif isinstance(pixelcnn, (str, Path)):
            self.pixelcnn = load_pixelcnn(pixelcnn)[0]
        else:
            raise AdvlabError(f"pixel-defend: pixelcnn must be a PixelCNN file or directory, or an advlab PixelCNN "
                              f"module, got {type(pixelcnn).__name__}")
        for parameter in self.pixelcnn.parameters():
            parameter.requires_grad_(False)
        self.window = math.floor(self.eps_defend * (self.pixelcnn.levels - 1) + WINDOW_TOLERANCE)
        self.sample_shape = self.pixelcnn.sample_shape

    def forward(self, images: Tensor) -> Tensor:
        purified = self.purify(images)
        return images * 0 + purified.to(images.dtype)  # zero gradient, still in the graph (module docstring)

    @torch.no_grad()
    def purify(self, images: Tensor) -> Tensor:
        """Algorithm 1 on a batch (N, 1, H, W) in [0, 1]: the purified images, on the levels' grid, no gradient."""
        check_images(images, self.sample_shape, "pixel-defend")
        levels = self.pixelcnn.quantise(images)
        low, high = (levels - self.window).clamp(min=0), (levels + self.window).clamp(max=self.pixelcnn.levels - 1)
        grid = torch.arange(self.pixelcnn.levels, device=levels.device)
        purified = levels.clone()
        with evaluating(self.pixelcnn):
            for row, column in raster(self.pixelcnn.image_size):
                logits = self.pixelcnn.logits(purified)[:, :, 0, row, column]  # (N, L), given purified pixels before
                inside = (grid >= low[:, :, row, column]) & (grid <= high[:, :, row, column])
                purified[:, 0, row, column] = logits.masked_fill(~inside, -math.inf).argmax(1)
        return purified.to(images.dtype) / (self.pixelcnn.levels - 1)

    def extra_repr(self) -> str:
        return f"eps_defend={self.eps_defend:.4g} ({self.window} of {self.pixelcnn.levels - 1} levels)"


def check_eps_defend(value) -> float:
    """eps_defend as a float in [0, 1]; anything else is one AdvlabError."""
    value = check_number("pixel-defend: eps_defend", value)
    if value > 1:
        raise AdvlabError(f"pixel-defend: eps_defend must lie in [0, 1] (the images' range), got {value!r}")
    return value


def rank_p_values(scores: Tensor, reference: Tensor) -> Tensor:
    """(1 + #{reference bits/dim >= score}) / (N + 1) for each score: the permutation-test p-value of images
    whose bits/dim are `scores` against N training images whose bits/dim are `reference` (module docstring)."""
    no_more_likely = (reference.flatten()[None, :] >= scores.flatten()[:, None]).sum(1)
    return (1 + no_more_likely).double() / (reference.numel() + 1)


def likelihood_p_values(pixelcnn: PixelCNN, images: Tensor, training_images: Tensor, batch_size: int = 256) -> Tensor:
    """The p-value of each image (N,) under `pixelcnn` against `training_images` (sec. "Detecting adversarial
    examples"): small for images less likely than most training images, as adversarial examples are."""
    return rank_p_values(batched_bits_per_dim(pixelcnn, images, batch_size),
                         batched_bits_per_dim(pixelcnn, training_images, batch_size))


__all__ = ["PixelDefend", "check_eps_defend", "likelihood_p_values", "rank_p_values"]
