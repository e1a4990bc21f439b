"""The Wasserstein attack: PGD in a Wasserstein ball, projected by projected Sinkhorn iterations.

Wong, Schmidt & Kolter 2019, "Wasserstein Adversarial Examples via Projected Sinkhorn Iterations", sec. 3-4.
An image is a distribution of pixel mass (normalised by its total mass); the ball of radius eps holds the
images z to which the clean x can be carried by a transport plan Pi (Pi 1 = x, Pi^T 1 = z) of cost
<Pi, C> <= eps, where mass only moves within a local (2p+1)x(2p+1) neighbourhood of its pixel, inside its
channel, at cost C = ||displacement||_2^p (the authors' ``wasserstein_cost``; p = 2 by default). Each step:

    w     = x(t) + alpha sign(grad loss(x(t)))                (the authors' Linf step; "l2": alpha g / ||g||_2)
    x(t+1) = clip_[0,1](Proj_eps(w))

Proj_eps(w) = argmin_z ||z - w||^2 / 2 over the ball, with an entropy term 1/lambda sum Pi log Pi on the
plan, is solved in its dual (sec. 4, eq. 11) by block coordinate ascent over (alpha, beta, psi) (Algorithm
2, "projected Sinkhorn"); with u = exp(-alpha), v = exp(-beta), K = exp(-psi C - 1):

    u    = x / (K v)                                      (the plan's rows sum to x)
    z    = W(lambda exp(lambda w) (K u)) / lambda,  v = z / (K u)   (W: Lambert's W; columns sum to z)
    psi  = max(psi - t g / h, 0), g = -eps + <u, (C.K) v>, h = -<u, (C^2.K) v>   (a damped Newton step)

until the dual objective changes by less than ``tolerance`` (relative, the authors' 1e-4) or ``sinkhorn_iters``
pass. Lambert's W is evaluated from its argument's logarithm (Newton on w + log w = log z), so lambda w up to
~700 does not overflow. The transport cost of the plan <u, (C.K) v> is eps once psi > 0 (the constraint is
active), and the plan's marginals are x and z up to the Sinkhorn tolerance.

As the authors' ``attack`` does, the radius starts small (``eps``) and grows by ``eps_factor`` every
``eps_every`` steps for the images not yet fooled; an image that reaches its goal is never changed again.
``eps_factor=1`` keeps the radius fixed (PGD in one ball). The authors' defaults: lambda = 1000, a 5x5
neighbourhood, p = 2, alpha = 0.1 (Linf step), eps from 0.001 grown by 1.17 every 10 steps (their CIFAR-10
run), 400 steps. An image with no mass (all zeros) has nothing to move and stays as it is; with a mask, pixels
outside it are reset to the clean ones after every projection (which breaks mass conservation there).

ART's Wasserstein builds its default cost as (|di|^p + |dj|^p)^(1/p) (``_compute_cost_matrix``), the p-norm
of the displacement, where the authors use ||d||_2^p: for p = 2 ART prices a diagonal move at 1.41 instead of
2 and a two-pixel move at 2 instead of 4, so its ball of the same radius is larger. Passing the authors' cost
(``generate(..., cost_matrix=...)``) removes the difference.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.losses import input_gradient
from advlab.attacks.lp import batch_view, normalize_l2
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError

STEPS = ("linf", "l2")
NEWTON_STEPS = 30  # for Lambert's W: quadratic convergence from the starts below, far more than needed


def wasserstein_cost(kernel_size: int, p: float, device=None) -> Tensor:
    """C (k, k): the cost ||d||_2^p of moving mass by the offset d from the kernel's centre (float64)."""
    offsets = torch.arange(kernel_size, dtype=torch.float64, device=device) - kernel_size // 2
    return (offsets[:, None] ** 2 + offsets[None, :] ** 2) ** (p / 2)


def local_apply(kernel: Tensor, values: Tensor) -> Tensor:
    """(K v)_i = sum_d kernel[n, d] v_{i+d} per image n and channel, zero outside the image; `kernel` (N, k, k)
    is symmetric in d, so this is also K^T v."""
    n, channels, height, width = values.shape
    size = kernel.shape[-1]
    patches = F.unfold(values.reshape(n * channels, 1, height, width), size, padding=size // 2)
    patches = patches.view(n, channels, size * size, height * width)
    return (patches * kernel.reshape(n, 1, size * size, 1)).sum(2).view(n, channels, height, width)


def lambertw_of_exp(log_z: Tensor) -> Tensor:
    """W(exp(log_z)) on the principal branch, for any real log_z (-inf gives 0), by Newton on w + log w = log z."""
    tiny = log_z < -30  # W(z) = z - z^2 + ... = z to 1e-13
    small = torch.exp(log_z)
    log_z = log_z.clamp(min=-30)
    w = torch.where(log_z > 1, log_z - torch.log(log_z.clamp(min=1)), torch.exp(log_z.clamp(max=1)))
    for _ in range(NEWTON_STEPS):
        before, w = w, w * (1 + log_z - torch.log(w)) / (1 + w)
        if bool(((w - before).abs() <= 1e-12 * w).all()):
            break
    return torch.where(tiny, small, w)


def per_image_dot(a: Tensor, b: Tensor) -> Tensor:
    return (a * b).flatten(1).sum(1)


def sinkhorn_projection(clean: Tensor, point: Tensor, eps: Tensor, cost: Tensor, regularization: float,
                        iterations: int, tolerance: float = 1e-4) -> tuple[Tensor, Tensor]:
    """(z, transport cost): the projection of `point` onto the Wasserstein ball of radius `eps` (N,) around
    `clean`, both (N, C, H, W) in mass units (normalised to total mass 1 per image), and the cost <Pi, C> of the
    plan that carries `clean` to z. Stops when the dual objective changes by at most `tolerance` (relative; the
    authors' 1e-4 leaves the mass of z within ~2 % of 1 on 8x8 digits, 1e-8 within 0.02 %). Computed in float64."""
    x, w, eps, lam = clean.double(), point.double(), eps.double(), regularization
    n = len(x)
    psi = torch.ones(n, dtype=torch.float64, device=x.device)
    kernel = torch.exp(-psi[:, None, None] * cost - 1)
    v = torch.full_like(x, float(x[0].numel()))
    old = torch.full((n,), -math.inf, dtype=torch.float64, device=x.device)
    for _ in range(iterations):
        u = x / local_apply(kernel, v)
        ku = local_apply(kernel, u)
        log_ku = torch.log(ku)  # -inf where no mass lies within reach: W(0) = 0 there
        lambert = lambertw_of_exp(math.log(lam) + lam * w + log_ku)
        z = lambert / lam
        v = torch.where(ku > 0, z / ku.clamp(min=1e-300), torch.zeros_like(z))
        slack = -eps + per_image_dot(u, local_apply(kernel * cost, v))
        curvature = -per_image_dot(u, local_apply(kernel * cost ** 2, v))
        delta = torch.where(curvature < 0, slack / curvature.clamp(max=-1e-300), psi)
        psi = damped_newton(psi, delta)
        kernel = torch.exp(-psi[:, None, None] * cost - 1)
        objective = dual_objective(x, w, u, lambert - lam * w, v, kernel, psi, eps, lam)
        if ((objective - old).abs() <= tolerance * (1 + objective.abs())).all():
            break
        old = objective
    transport = per_image_dot(u, local_apply(kernel * cost, v))
    return z.to(point.dtype), transport.to(point.dtype)


def damped_newton(psi: Tensor, delta: Tensor) -> Tensor:
    """psi - t delta, t halved (down to 1/128) while that is negative, then clipped at 0 (the authors' step)."""
    step = torch.ones_like(psi)
    for _ in range(7):
        negative = psi - step * delta < 0
        if not negative.any():
            break
        step = torch.where(negative, step / 2, step)
    return (psi - step * delta).clamp(min=0.0)


def dual_objective(x, w, u, beta, v, kernel, psi, eps, lam) -> Tensor:
    """The dual of the projection (sec. 4), per image, with alpha = -log u (0 where x has no mass)."""
    alpha_x = torch.where(x > 0, -torch.log(u.clamp(min=1e-300)) * x, torch.zeros_like(x))
    return (-0.5 / lam * per_image_dot(beta, beta) - psi * eps - alpha_x.flatten(1).sum(1)
            - per_image_dot(beta, w) - per_image_dot(u, local_apply(kernel, v)))


class Wasserstein(Attack):
    """Wasserstein attack (Wong et al. 2019): ``Wasserstein(model, eps=0.001, steps=400)(images, labels)``.

    Args:
        model: maps images (N, C, H, W) in [0, 1] to logits (N, classes).
        eps: the starting radius of the Wasserstein ball (in mass units: 0.1 moves 10 % of an image's mass one
            pixel), or a list of them.
        steps: PGD steps.
        alpha: the step size (of the Linf step, or the L2 length of the L2 step).
        step: ``"linf"`` (alpha times the gradient's sign, the authors' attack scripts) or ``"l2"``.
        eps_factor: the radius grows by this factor (>= 1; 1 keeps it fixed) ...
        eps_every: ... every this many steps, for the images not yet fooled.
        p: the cost of moving mass by d pixels is ||d||_2^p.
        kernel_size: mass moves within a kernel_size x kernel_size neighbourhood (odd).
        regularization: lambda, the weight of the entropy term's inverse (larger: closer to the exact
            projection, slower to converge).
        sinkhorn_iters: the most projected Sinkhorn iterations per projection.
        tolerance: a projection stops when its dual objective changes by at most this (relative; the
            authors' 1e-4).
        targeted: labels are target classes.
    """

    name = "wasserstein"
    paper = "Wong et al. 2019, Wasserstein Adversarial Examples via Projected Sinkhorn Iterations"
    norm = None
    threat = "Wasserstein ball"
    uses_clean_logits = True

    def __init__(self, model: nn.Module, eps=0.001, steps: int = 400, alpha: float = 0.1, step: str = "linf",
                 eps_factor: float = 1.17, eps_every: int = 10, p: float = 2.0, kernel_size: int = 5,
                 regularization: float = 1000.0, sinkhorn_iters: int = 400, tolerance: float = 1e-4,
                 targeted: bool = False):
        super().__init__(model, eps=eps, targeted=targeted)
        self.steps = check_int(f"{self.name}: steps", steps, 1)
        self.alpha = check_number(f"{self.name}: alpha", alpha, strict=True)
        if step not in STEPS:
            raise AdvlabError(f"{self.name}: unknown step {step!r}; valid steps are: {', '.join(STEPS)}")
        self.step = step
        self.eps_factor = check_number(f"{self.name}: eps_factor", eps_factor, 1.0)
        self.eps_every = check_int(f"{self.name}: eps_every", eps_every, 1)
        self.p = check_number(f"{self.name}: p", p, 1.0)
        self.kernel_size = check_int(f"{self.name}: kernel_size", kernel_size, 1)
        if self.kernel_size % 2 == 0:
            raise AdvlabError(f"{self.name}: kernel_size must be odd (a neighbourhood centred on its pixel), got "
                              f"{kernel_size}")
        self.regularization = check_number(f"{self.name}: regularization", regularization, strict=True)
        self.sinkhorn_iters = check_int(f"{self.name}: sinkhorn_iters", sinkhorn_iters, 1)
        self.tolerance = check_number(f"{self.name}: tolerance", tolerance, strict=True)

    def move(self, x: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        """x + alpha sign(g) or x + alpha g / ||g||_2, g the loss gradient (zero outside the mask)."""
        grad, _ = input_gradient(self.model, x, labels, self.targeted)
        if mask is not None:
            grad = grad * mask
        direction = grad.sign() if self.step == "linf" else normalize_l2(grad)
        return x + self.alpha * direction

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        if images.ndim != 4:
            raise AdvlabError(f"{self.name}: images must be (N, C, H, W) to move mass between pixels, got shape "
                              f"{tuple(images.shape)}")
        cost = wasserstein_cost(self.kernel_size, self.p, images.device)
        mass = images.flatten(1).sum(1)
        radius = torch.full((len(images),), float(self.eps), dtype=images.dtype, device=images.device)
        reached = self.goal(self.clean_logits, labels) | (mass <= 0)
        x = images.clone()
        for t in range(self.steps):
            rows = (~reached).nonzero().flatten()
            if len(rows) == 0:
                break
            scale = batch_view(mass[rows], images[rows])
            target = self.move(x[rows], labels[rows], None if mask is None else mask[rows]) / scale
            projected, _ = sinkhorn_projection(images[rows] / scale, target, radius[rows], cost,
                                               self.regularization, self.sinkhorn_iters, self.tolerance)
            projected = (projected * scale).clamp(0.0, 1.0)
            if mask is not None:
                projected = torch.where(mask[rows], projected, images[rows])
            x[rows] = projected
            reached[rows] = self.reached(projected, labels[rows])
            if (t + 1) % self.eps_every == 0:
                radius[rows] = torch.where(reached[rows], radius[rows], radius[rows] * self.eps_factor)
        return x
