"""Spectral normalisation (Miyato et al. 2018, "Spectral Normalization for Generative Adversarial Networks").

A layer's weight W is replaced by W_SN = W / sigma(W) (eq. 8), where sigma(W) is W's largest
singular value (eq. 7), estimated as in the paper's Algorithm 1 by power iteration with a
persistent vector u:

    v <- W^T u / ||W^T u||_2
    u <- W v / ||W v||_2
    sigma(W) ~ u^T W v

One iteration per forward pass in training mode (the paper's choice: W moves little per
update, so the u of the previous step is already a good start), none in eval mode, where the
stored u and v give sigma. u and v are constants for autograd, so the gradient is the paper's
eq. 12. A convolution weight (out, in, kh, kw) is viewed as the matrix (out, in*kh*kw), as the
paper does for convolutions; a transposed convolution stores (in, out, kh, kw), so its first
two axes are swapped before the reshape and the matrix is again (out, in*kh*kw).

The normalisation is a torch parametrization (`torch.nn.utils.parametrize`): the layer keeps
its trainable weight as ``parametrizations.weight.original`` and u, v as buffers
``parametrizations.weight.0.u`` / ``.v``, so ``state_dict()`` holds plain tensors only and a
checkpoint restores the estimate exactly. Note that each forward call counts: a trainer that
runs D on a real and then a fake batch makes two power iterations per D step (the estimate only
improves). A fresh u is drawn from the global torch RNG, like the layer's own initial weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError

NORMALISED_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def weight_matrix(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """`weight` as a matrix whose rows are indexed by axis `dim` (the output channels)."""
    return weight.movedim(dim, 0).flatten(1)


class SpectralNorm(nn.Module):
    """The parametrization W -> W / sigma(W) of Algorithm 1, with u and v as buffers.

    Args:
        weight: the layer's weight, used for shapes and the first v.
        dim: the axis of `weight` holding the output channels (0; 1 for transposed convolutions).
        iterations: power iterations per training-mode forward pass (default 1, the paper's).
        eps: guards the normalisations against division by zero.
    """

    def __init__(self, weight: torch.Tensor, dim: int = 0, iterations: int = 1, eps: float = 1e-12):
        super().__init__()
        self.dim, self.iterations, self.eps = dim, check_int("iterations", iterations, 1), eps
        matrix = weight_matrix(weight.detach(), dim)
        u = F.normalize(matrix.new_empty(matrix.shape[0]).normal_(), dim=0, eps=eps)
        self.register_buffer("u", u)
        self.register_buffer("v", F.normalize(matrix.T @ u, dim=0, eps=eps))

    @torch.no_grad()
    def power_iteration(self, matrix: torch.Tensor) -> None:
        """Algorithm 1's update of the persistent u (and v), `self.iterations` times, in place."""
        for _ in range(self.iterations):
            self.v.copy_(F.normalize(matrix.T @ self.u, dim=0, eps=self.eps))
            self.u.copy_(F.normalize(matrix @ self.v, dim=0, eps=self.eps))

    def sigma(self, weight: torch.Tensor) -> torch.Tensor:
        """u^T W v with the stored u and v (differentiable in W; u and v are constants)."""
        matrix = weight_matrix(weight, self.dim)
        # Clones: a later forward updates the buffers in place while this graph may still need them.
        return torch.dot(self.u.clone(), matrix @ self.v.clone())

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.power_iteration(weight_matrix(weight.detach(), self.dim))
        return weight / self.sigma(weight)

    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        """Assigning `layer.weight = W` stores W itself as the unnormalised weight."""
        return weight


def spectral_norm_of(module: nn.Module) -> SpectralNorm | None:
    """The SpectralNorm on `module.weight`, or None when it has none."""
    if not parametrize.is_parametrized(module, "weight"):
        return None
    found = [p for p in module.parametrizations.weight if isinstance(p, SpectralNorm)]
    return found[0] if found else None


def spectral_norm(module: nn.Module, iterations: int = 1) -> nn.Module:
    """Normalise `module.weight` by its spectral norm; returns `module` itself.

    Args:
        module: a layer with a weight of at least two dimensions (Linear, Conv2d, ConvTranspose2d, ...).
        iterations: power iterations per training-mode forward pass (default 1).

    Returns:
        `module`, whose ``weight`` is now W / sigma(W).
    """
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() < 2:
        raise AdvlabError(f"spectral norm needs a layer with a weight matrix; {type(module).__name__} has none")
    if spectral_norm_of(module) is not None:
        raise AdvlabError(f"this {type(module).__name__} already has spectral norm")
    dim = 1 if isinstance(module, nn.modules.conv._ConvTransposeNd) else 0
    parametrize.register_parametrization(module, "weight", SpectralNorm(weight, dim, iterations))
    return module


def apply_spectral_norm(network: nn.Module, iterations: int = 1) -> nn.Module:
    """Spectral norm on every Conv2d, ConvTranspose2d and Linear of `network` not yet normalised.

    Returns:
        `network` itself.
    """
    layers = [m for m in network.modules() if isinstance(m, NORMALISED_LAYERS) and spectral_norm_of(m) is None]
    for layer in layers:
        spectral_norm(layer, iterations)
    return network
