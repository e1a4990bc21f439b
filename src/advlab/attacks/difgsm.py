"""DI-FGSM / M-DI2-FGSM: momentum iterations on the gradient through a random resize-and-pad.

Xie, Zhang, Zhou, Bai, Wang, Ren & Yuille 2019, "Improving Transferability of Adversarial Examples with
Input Diversity", sec. 3, eqs. (6)-(7): the gradient is taken through a random transformation T(x; p),
which with probability p resizes the image to a random size and pads it with zeros at a random place
(and with probability 1 - p leaves it alone), so the perturbation does not overfit one view of the image:

    g_{t+1} = mu * g_t + grad_x J(T(x_t; p), y) / ||grad_x J(T(x_t; p), y)||_1,
    x_{t+1} = Clip_{x, eps}( x_t + alpha * sign(g_{t+1}) ),

with p = 0.5 and mu = 1.0 (M-DI2-FGSM, the paper's strongest; mu = 0 is DI2-FGSM) and alpha = eps / T,
T = 10 (the momentum papers' schedule, used for the whole family here; the DI paper's own runs use the
BIM rule, alpha = 1/255 for min(eps + 4, 1.25 eps) steps in 0..255 units, advlab.attacks.bim).

The resize range. The paper resizes a 299 x 299 image to rnd x rnd, rnd uniform in [299, 330), and pads
it to 330 x 330 -- an Inception network takes any size. advlab's models take one size, so the same ratio
is kept by shrinking instead: the image is resized to s x s, s uniform in [round(r * H), H - 1] with
r = 299/330 (the smallest share of the output the image took in the paper; always at least one row of
padding, as rnd < 330 there), and padded back to H x H. On 8x8 digits that is s = 7; on 28x28 MNIST
s = 25..27; at 299 it is 271..298. Resizing is nearest-neighbour, as the authors' code (tf.image.
resize_images with NEAREST_NEIGHBOR); the top and left padding are uniform in 0..H - s, every placement
(the authors' code draws them from 0..H - s - 1, so the image never touches the bottom-right corner, and
on an 8x8 image with s = 7 it would always sit top-left). Every image draws its own size, place and
coin (the authors' code and torchattacks draw one for the whole batch), so an image's result does not
depend on the batch it came in.

Peer: torchattacks' DIFGSM (defaults mu = 0, alpha = 2/255, resize_rate = 0.9, one draw per batch,
bilinear resize, padding from 0..H - s - 1).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.losses import input_gradient
from advlab.attacks.momentum import PAPER_EPS, PAPER_STEPS, MomentumIterative
from advlab.core.checks import check_number
from advlab.core.errors import AdvlabError

PAPER_RATIO = 299 / 330  # the paper's image side over its padded side


def resize_pad_index(side: int, ratio: float, size_draws: Tensor, place_draws: Tensor) -> Tensor:
    """(N, side) source index of each output row (or column) after a nearest resize to s and a zero pad back
    to `side`; -1 where the output is padding. s = round(ratio * side) + floor(u (side - round(ratio * side))),
    the offset floor(v (side - s + 1)), for the uniform draws u = `size_draws`, v = `place_draws`."""
    smallest = max(1, round(ratio * side))
    sizes = smallest + torch.floor(size_draws * (side - smallest)).long()
    offsets = torch.floor(place_draws * (side - sizes + 1)).long()
    position = torch.arange(side, device=sizes.device)[None, :] - offsets[:, None]
    source = torch.div(position * side, sizes[:, None], rounding_mode="floor").clamp(max=side - 1)
    return torch.where((position >= 0) & (position < sizes[:, None]), source, -1)


def diverse_inputs(images: Tensor, probability: float, ratio: float, generator: torch.Generator | None) -> Tensor:
    """T(x; p) per image: with probability p, resized (nearest) into a random square and zero-padded back."""
    n, channels, height, width = images.shape

    def uniform() -> Tensor:
        return torch.rand(n, generator=generator, device=images.device)

    size_draws, top_draws, left_draws, coins = uniform(), uniform(), uniform(), uniform()
    rows = resize_pad_index(height, ratio, size_draws, top_draws)
    cols = resize_pad_index(width, ratio, size_draws, left_draws)
    keep = coins >= probability
    rows = torch.where(keep[:, None], torch.arange(height, device=images.device), rows)
    cols = torch.where(keep[:, None], torch.arange(width, device=images.device), cols)
    picked = images.gather(2, rows.clamp(min=0)[:, None, :, None].expand(n, channels, height, width))
    picked = picked.gather(3, cols.clamp(min=0)[:, None, None, :].expand(n, channels, height, width))
    inside = (rows >= 0)[:, None, :, None] & (cols >= 0)[:, None, None, :]
    return picked * inside


class DIFGSM(MomentumIterative):
    """M-DI2-FGSM (Xie et al. 2019): ``DIFGSM(model, eps=16/255, diversity_prob=0.5, decay=1.0)(images, labels)``.

    Args:
        model: maps images (N, C, H, W) in [0, 1] to logits (N, classes).
        eps: Linf budget, or a list of budgets.
        alpha: step size (default eps / steps).
        steps: iterations T.
        decay: momentum decay factor mu (1.0: M-DI2-FGSM; 0: DI2-FGSM).
        diversity_prob: probability p that a gradient is taken through the random resize-and-pad.
        resize_ratio: the smallest resized side over the image side (the paper's 299/330).
        targeted: labels are target classes.
        seed: seed of the transformations' draws (None: torch's global generator).
    """

    name = "di-fgsm"
    paper = "Xie et al. 2019, Improving Transferability of Adversarial Examples with Input Diversity"

    def __init__(self, model: nn.Module, eps=PAPER_EPS, alpha: float | None = None, steps: int = PAPER_STEPS,
                 decay: float = 1.0, diversity_prob: float = 0.5, resize_ratio: float = PAPER_RATIO,
                 targeted: bool = False, seed: int | None = None):
        super().__init__(model, eps=eps, alpha=alpha, steps=steps, decay=decay, targeted=targeted, seed=seed)
        self.diversity_prob = check_number(f"{self.name}: diversity_prob", diversity_prob)
        if self.diversity_prob > 1:
            raise AdvlabError(f"{self.name}: diversity_prob is a probability, in [0, 1]; got {diversity_prob!r}")
        self.resize_ratio = check_number(f"{self.name}: resize_ratio", resize_ratio, strict=True)
        if self.resize_ratio >= 1:
            raise AdvlabError(f"{self.name}: resize_ratio must lie in (0, 1), the smallest resized side over the "
                              f"image side; got {resize_ratio!r}")

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        if self.diversity_prob > 0 and (images.ndim != 4 or min(images.shape[-2:]) < 2):
            raise AdvlabError(f"{self.name}: input diversity resizes images (N, C, H, W) with H, W >= 2; got shape "
                              f"{tuple(images.shape)} (diversity_prob=0 turns it off)")
        return super().perturb(images, labels, mask)

    def loss_gradient(self, point: Tensor, labels: Tensor, generator: torch.Generator | None) -> Tensor:
        """grad_x J(T(x; p), y), T drawn afresh for every image at every call."""
        if self.diversity_prob == 0:
            return super().loss_gradient(point, labels, generator)

        def diverse_model(x: Tensor) -> Tensor:
            return self.model(diverse_inputs(x, self.diversity_prob, self.resize_ratio, generator))

        return input_gradient(diverse_model, point, labels, self.targeted)[0]
