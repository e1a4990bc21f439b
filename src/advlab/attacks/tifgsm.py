"""TI-FGSM: momentum iterations on a Gaussian-smoothed gradient (translation invariance).

Dong, Pang, Su & Zhu 2019, "Evading Defenses to Transferable Adversarial Examples by Translation-Invariant
Attacks", sec. 3.2-3.3, eq. (8): the gradient of the loss averaged over all small translations of the
image is, approximately, the gradient at the image convolved with a kernel W, so the attack steps along
W * grad instead of grad (here with MI-FGSM's momentum, TI-MI-FGSM; with diversity_prob > 0 the gradient
is taken through DI's random resize-and-pad as well, TI-DIM, advlab.attacks.difgsm):

    g_{t+1} = mu * g_t + (W * grad_x J(x_t, y)) / ||W * grad_x J(x_t, y)||_1,
    x_{t+1} = Clip_{x, eps}( x_t + alpha * sign(g_{t+1}) ),

W the Gaussian kernel of side 2k + 1, W_ij ~ exp(-(i^2 + j^2) / (2 sigma^2)), normalised to sum 1, with
the paper's sigma = k / sqrt(3) (sec. 3.3), applied to each channel with zero padding ("same" size), and
alpha = eps / T, T = 10, mu = 1.0. The authors' code (attack_iter.py, gkern(15, 3)) and torchattacks
(nsig = 3) draw a narrower Gaussian, sigma = k / 3; ``sigma`` takes either.

The kernel size. The authors use 15 x 15 on 299 x 299 ImageNet images (k = 7). advlab's default keeps
that share of the image, k = round(7 H / 299), but at least k = 1: 3 x 3 on 8x8 digits and 28x28 MNIST
(a one-pixel shift is the smallest translation there is), 11 x 11 at 224, 15 x 15 at 299.

Peer: torchattacks' TIFGSM is TI-DI2-FGSM by default (mu = 0, diversity 0.5, a 15 x 15 kernel with
sigma = k / 3, alpha = 2/255) and convolves with groups=3, so it runs on three-channel images only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.attacks.difgsm import DIFGSM, PAPER_RATIO
from advlab.attacks.momentum import PAPER_EPS, PAPER_STEPS
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError

AUTHORS_RADIUS, AUTHORS_SIDE = 7, 299  # a 15 x 15 kernel on 299 x 299 images


def default_radius(side: int) -> int:
    """k for an image side: the authors' 7 at 299, in proportion elsewhere, at least 1."""
    return max(1, round(AUTHORS_RADIUS * side / AUTHORS_SIDE))


def gaussian_kernel(radius: int, sigma: float, like: Tensor) -> Tensor:
    """The (2k + 1) x (2k + 1) Gaussian of std `sigma` pixels, summing to 1, on `like`'s device and dtype."""
    offsets = torch.arange(-radius, radius + 1, device=like.device, dtype=like.dtype)
    line = torch.exp(-offsets ** 2 / (2 * sigma ** 2))
    kernel = line[:, None] * line[None, :]
    return kernel / kernel.sum()


class TIFGSM(DIFGSM):
    """TI-MI-FGSM (Dong et al. 2019): ``TIFGSM(model, eps=16/255, kernel_size=None)(images, labels)``.

    Args:
        model: maps images (N, C, H, W) in [0, 1] to logits (N, classes).
        eps: Linf budget, or a list of budgets.
        alpha: step size (default eps / steps).
        steps: iterations T.
        decay: momentum decay factor mu (1.0: TI-MI-FGSM; 0: TI-FGSM).
        kernel_size: side 2k + 1 of the Gaussian kernel, odd (default: 15 at 299 px as the authors, in
            proportion to the image side, at least 3).
        sigma: the kernel's standard deviation in pixels (default: the paper's k / sqrt(3); the authors'
            code and torchattacks use k / 3).
        diversity_prob: probability that a gradient is taken through DI's random resize-and-pad (0: none;
            0.5: TI-DIM).
        resize_ratio: the smallest resized side over the image side, for the diversity (DI's 299/330).
        targeted: labels are target classes.
        seed: seed of the diversity's draws (None: torch's global generator).
    """

    name = "ti-fgsm"
    paper = ("Dong et al. 2019, Evading Defenses to Transferable Adversarial Examples by Translation-Invariant "
             "Attacks")

    def __init__(self, model: nn.Module, eps=PAPER_EPS, alpha: float | None = None, steps: int = PAPER_STEPS,
                 decay: float = 1.0, kernel_size: int | None = None, sigma: float | None = None,
                 diversity_prob: float = 0.0, resize_ratio: float = PAPER_RATIO, targeted: bool = False,
                 seed: int | None = None):
        super().__init__(model, eps=eps, alpha=alpha, steps=steps, decay=decay, diversity_prob=diversity_prob,
                         resize_ratio=resize_ratio, targeted=targeted, seed=seed)
        if kernel_size is not None:
            check_int(f"{self.name}: kernel_size", kernel_size, 1)
            if kernel_size % 2 == 0:
                raise AdvlabError(f"{self.name}: kernel_size must be odd (2k + 1, centred), got {kernel_size}")
        self.kernel_size = kernel_size
        self.sigma = None if sigma is None else check_number(f"{self.name}: sigma", sigma, strict=True)

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        if images.ndim != 4:
            raise AdvlabError(f"{self.name}: the kernel smooths images (N, C, H, W); got shape "
                              f"{tuple(images.shape)}")
        radius = default_radius(min(images.shape[-2:])) if self.kernel_size is None else self.kernel_size // 2
        sigma = radius / math.sqrt(3) if self.sigma is None else self.sigma
        self.kernel = gaussian_kernel(radius, max(sigma, 1e-6), images)
        return super().perturb(images, labels, mask)

    def smooth(self, grad: Tensor) -> Tensor:
        """W * grad, each channel on its own, zero-padded to the same size."""
        channels, radius = grad.shape[1], self.kernel.shape[-1] // 2
        weight = self.kernel.expand(channels, 1, *self.kernel.shape)
        return F.conv2d(grad, weight, padding=radius, groups=channels)
