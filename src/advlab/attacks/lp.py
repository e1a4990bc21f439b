"""The geometry of Linf and L2 threat models: norms, projections, random starts, steps.

The feasible set of an attack at eps is the intersection of the eps-ball around the clean image,
the box [0, 1] and (with a mask) the pixels the attacker may change. For Linf that intersection
is a box per pixel, [lower, upper] (``linf_bounds``), so projecting onto it is one clamp. For L2
the projection onto the ball (a rescaling, ``project_l2``) is followed by the clamp to [0, 1],
which only moves coordinates towards the clean image and so never leaves the ball; masked
pixels never move because their gradient and random start are zeroed.
"""

from __future__ import annotations

import torch
from torch import Tensor

from advlab.core.errors import AdvlabError

TINY = 1e-12  # guards divisions by a zero norm
ORDERS = {"linf": float("inf"), "l2": 2.0, "l1": 1.0}  # a norm's name -> its p


def check_norm(norm: str, name: str) -> str:
    if norm not in ("linf", "l2"):
        raise AdvlabError(f"{name}: unknown norm {norm!r}; valid norms are: linf, l2")
    return norm


def batch_view(values: Tensor, like: Tensor) -> Tensor:
    """(N,) -> (N, 1, 1, ...) to broadcast against `like`."""
    return values.view(-1, *([1] * (like.ndim - 1)))


def lp_norm(x: Tensor, p: float) -> Tensor:
    """Per-sample Lp norm of a batch, (N,)."""
    return torch.linalg.vector_norm(x.flatten(1), ord=p, dim=1)


def unit_noise(images: Tensor, norm: str, mask: Tensor | None, generator: torch.Generator | None) -> Tensor:
    """A random direction of norm 1 (in `norm`: linf, l2 or l1) per image, zero outside the mask: the random
    starts of APGD and FAB as their authors draw them, uniform in the cube for Linf and Gaussian otherwise."""
    shape, device, dtype = images.shape, images.device, images.dtype
    if norm == "linf":
        noise = 2 * torch.rand(shape, generator=generator, device=device, dtype=dtype) - 1
    else:
        noise = torch.randn(shape, generator=generator, device=device, dtype=dtype)
    if mask is not None:
        noise = noise * mask
    return noise / batch_view(lp_norm(noise, ORDERS[norm]).clamp(min=TINY), noise)


def normalize_l2(x: Tensor) -> Tensor:
    """Each sample scaled to unit L2 norm (zero stays zero)."""
    return x / batch_view(lp_norm(x, 2) + TINY, x)


def project_l2(delta: Tensor, eps: float) -> Tensor:
    """Each sample of `delta` scaled into the L2 ball of radius eps."""
    norms = lp_norm(delta, 2)
    factor = torch.clamp(eps / (norms + TINY), max=1.0)
    return delta * batch_view(factor, delta)


def linf_bounds(images: Tensor, eps: float, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """Per-pixel [lower, upper]: the eps-box around the images, inside [0, 1] and the mask."""
    lower, upper = (images - eps).clamp(min=0.0), (images + eps).clamp(max=1.0)
    if mask is not None:
        lower, upper = torch.where(mask, lower, images), torch.where(mask, upper, images)
    return lower, upper


def random_linf(images: Tensor, eps: float, bounds: tuple[Tensor, Tensor],
                generator: torch.Generator | None) -> Tensor:
    """A uniform draw from the eps-box around the images, clamped to the feasible box."""
    noise = torch.rand(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    return torch.clamp(images + (2 * noise - 1) * eps, *bounds)


def random_l2(images: Tensor, eps: float, mask: Tensor | None, generator: torch.Generator | None) -> Tensor:
    """A uniform draw from the L2 ball of radius eps (over the masked pixels), clamped to [0, 1]."""
    direction = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    if mask is not None:
        direction = direction * mask
    free = direction[0].numel() if mask is None else mask.flatten(1).sum(1).clamp(min=1)
    radius = torch.rand(len(images), generator=generator, device=images.device, dtype=images.dtype)
    radius = eps * radius ** (1.0 / free)
    return (images + normalize_l2(direction) * batch_view(radius, images)).clamp(0.0, 1.0)


def linf_step(adversarial: Tensor, grad: Tensor, alpha: float, bounds: tuple[Tensor, Tensor]) -> Tensor:
    """x + alpha * sign(grad), projected onto the feasible box (Madry et al. 2018, eq. 2)."""
    return torch.clamp(adversarial + alpha * grad.sign(), *bounds)


def l2_step(adversarial: Tensor, images: Tensor, grad: Tensor, alpha: float, eps: float,
            mask: Tensor | None) -> Tensor:
    """x + alpha * grad / ||grad||_2, projected onto the L2 ball, then into [0, 1]."""
    if mask is not None:
        grad = grad * mask
    moved = adversarial + alpha * normalize_l2(grad)
    return (images + project_l2(moved - images, eps)).clamp(0.0, 1.0)
