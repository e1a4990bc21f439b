"""PI-FGSM: amplified sign steps whose overflow beyond eps is spread onto the surrounding pixels.

Gao, Zhang, Song, Liu & Shen 2020, "Patch-wise Attack for Fooling Deep Neural Network" (ECCV), sec. 3,
Algorithm 1. With alpha = eps / T, an amplification factor beta and the cumulative amplification noise a (a_0 = 0),
each of the T iterations takes

    a_{t+1} = a_t + beta * alpha * sign(g_t),                    g_t = grad_x J(x_t, y)
    C = clip(|a_{t+1}| - eps, 0, inf) * sign(a_{t+1})             (the cut noise: what the eps-box would clip)
    a_{t+1} = a_{t+1} + gamma * sign(W_p * C)
    x_{t+1} = Clip_{x, eps}( x_t + beta * alpha * sign(g_t) + gamma * sign(W_p * C) ),

W_p * C the depthwise convolution of C with the project kernel: uniform 1 / (k_w^2 - 1) on a k_w x k_w window
(zero padded), 0 at its centre, so a pixel's overflow is moved to its neighbours, not back onto itself. The
paper's setting is eps = 16/255, T = 10, beta = 10, k_w = 3 and gamma = 16/255, which is beta * eps / T (the
authors' code sets gamma to that step, ``gamma = alpha_beta``); gamma's default here is beta * eps / T for any
eps. Clip_{x, eps} also keeps [0, 1] and the mask; the amplification noise a only grows where the mask lets a
pixel change, so no overflow is spread from a pixel the attack may not touch. Targeted (not in the paper, whose
experiments are untargeted transfer attacks): the gradient descends the cross-entropy to the target.

torchattacks' PIFGSM is this algorithm (a transcription of the authors' code) at the same defaults, but its
kernel is hard-coded for three channels (``F.conv2d(..., groups=3)`` fails on grayscale images), and its
``momentum`` and ``prob`` (input diversity) options are stored and never used: no momentum and no input
diversity enter its loop, as in Algorithm 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.losses import input_gradient
from advlab.attacks.lp import linf_bounds
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError


def project_kernel(size: int, channels: int, like: Tensor) -> Tensor:
    """W_p for a depthwise conv2d: (channels, 1, size, size), 1 / (size^2 - 1) off the centre, 0 at it."""
    kernel = torch.full((size, size), 1.0 / (size * size - 1), dtype=like.dtype, device=like.device)
    kernel[size // 2, size // 2] = 0.0
    return kernel.expand(channels, 1, size, size)


def spread(cut: Tensor, kernel: Tensor) -> Tensor:
    """W_p * C per channel, zero padded to the image's size."""
    return F.conv2d(cut, kernel, padding=kernel.shape[-1] // 2, groups=cut.shape[1])


class PIFGSM(Attack):
    """PI-FGSM (Gao et al. 2020): ``PIFGSM(model, eps=16/255, steps=10, beta=10)(images, labels)``.

    Args:
        model: maps images (N, C, H, W) in [0, 1] to logits (N, classes).
        eps: Linf budget, or a list of budgets.
        steps: iterations T (the base step is alpha = eps / T).
        beta: amplification factor: every step moves beta * eps / T.
        gamma: project factor, the size of the spread overflow's sign step (default beta * eps / T, the paper's).
        kernel_size: side k_w of the project kernel, odd and >= 3.
        targeted: labels are target classes.
    """

    name = "pi-fgsm"
    paper = "Gao et al. 2020, Patch-wise Attack for Fooling Deep Neural Network"
    norm = "linf"
    uses_clean_logits = False

    def __init__(self, model: nn.Module, eps=16 / 255, steps: int = 10, beta: float = 10.0,
                 gamma: float | None = None, kernel_size: int = 3, targeted: bool = False):
        super().__init__(model, eps=eps, targeted=targeted)
        self.steps = check_int(f"{self.name}: steps", steps, 1)
        self.beta = check_number(f"{self.name}: beta", beta, strict=True)
        self.gamma = None if gamma is None else check_number(f"{self.name}: gamma", gamma)
        self.kernel_size = check_int(f"{self.name}: kernel_size", kernel_size, 3)
        if self.kernel_size % 2 == 0:
            raise AdvlabError(f"{self.name}: kernel_size must be odd (the kernel is centred on a pixel), "
                              f"got {kernel_size}")

    def step_size(self) -> float:
        return self.beta * self.eps / self.steps

    def project_factor(self) -> float:
        return self.step_size() if self.gamma is None else self.gamma

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        if images.ndim != 4:
            raise AdvlabError(f"{self.name}: images must be (N, C, H, W) for the project kernel, got shape "
                              f"{tuple(images.shape)}")
        step, gamma = self.step_size(), self.project_factor()
        bounds = linf_bounds(images, self.eps, mask)
        kernel = project_kernel(self.kernel_size, images.shape[1], images)
        amplification, adversarial = torch.zeros_like(images), images
        for _ in range(self.steps):
            push = step * input_gradient(self.model, adversarial, labels, self.targeted)[0].sign()
            if mask is not None:
                push = push * mask
            amplification = amplification + push
            cut = (amplification.abs() - self.eps).clamp(min=0.0) * amplification.sign()
            projection = gamma * spread(cut, kernel).sign()
            if mask is not None:
                projection = projection * mask
            amplification = amplification + projection
            adversarial = torch.clamp(adversarial + push + projection, *bounds)
        return adversarial
