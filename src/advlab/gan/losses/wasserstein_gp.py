"""Wasserstein GAN with gradient penalty (Gulrajani et al. 2017, eq. 3 and Algorithm 1).

    L_D = E[D(x~)] - E[D(x)] + lambda * E[(||grad_x^ D(x^)||_2 - 1)^2]
    x^ = eps * x + (1 - eps) * x~,   eps ~ U[0, 1] per sample,   x~ = G(z)
    L_G = -E[D(G(z))]

D is a critic with a raw output. The paper's lambda is 10 and it advises against batch
normalisation in the critic (the penalty is per sample); advlab's image critic uses layer
normalisation with this loss.

`drift` adds progressive growing's drift term (Karras et al. 2018, appendix A.1: eps_drift = 0.001),
L_D += eps_drift * E[D(x)^2], which keeps the critic's output near zero; 0 (the default) leaves it out.
"""

from __future__ import annotations

import torch
from torch import nn

from advlab.gan.losses.base import GANLoss


class WassersteinGPLoss(GANLoss):
    name = "wgan-gp"

    def __init__(self, gp_weight: float = 10.0, drift: float = 0.0):
        self.gp_weight = gp_weight
        self.drift = drift

    def discriminator_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        loss = fake_out.mean() - real_out.mean()
        return loss + self.drift * (real_out ** 2).mean() if self.drift else loss

    def generator_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        return -fake_out.mean()

    def penalty(self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                generator: torch.Generator, share: tuple[slice, int] | None = None) -> torch.Tensor:
        return self.gp_weight * gradient_penalty(discriminator, real, fake, generator, share)


def gradient_penalty(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator, share: tuple[slice, int] | None = None) -> torch.Tensor:
    """E[(||grad D(x^)||_2 - 1)^2] on random interpolates x^ of real and fake samples.

    A PacGAN critic (`discriminator.pack` > 1, Lin et al. 2018) judges packs, so its input is the pack: one
    interpolation weight per pack, and the norm of the gradient with respect to the whole packed input,
    which is Gulrajani et al.'s eq. 3 applied to the packed critic (pack 1 is the plain penalty). With `share`
    = (rows, batch) the samples are these rows of a minibatch of `batch` (torchrun): the weights are drawn for the
    whole minibatch, as one process draws them, and these rows kept.
    """
    pack = getattr(discriminator, "pack", 1)
    rows, batch = share if share is not None else (slice(0, real.shape[0]), real.shape[0])
    shape = (batch // pack,) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, generator=generator, device=real.device, dtype=real.dtype)
    eps = eps[rows.start // pack:rows.stop // pack].repeat_interleave(pack, 0)
    mixed = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
    out = discriminator(mixed)
    (grad,) = torch.autograd.grad(out.sum(), mixed, create_graph=True)
    norms = grad.reshape(out.shape[0], -1).norm(2, dim=1)
    return ((norms - 1) ** 2).mean()
