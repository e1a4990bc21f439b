"""GMI: generative model inversion, a search in the latent space of a GAN trained on public data.

Zhang, Jia, Pei, Wang, Li & Song 2020, "The Secret Revealer: Generative Model-Inversion Attacks Against Deep
Neural Networks" (CVPR), sec. 3.3, eqs. (3)-(5). A GAN (G, D) trained on public data (data of the same kind as
the private training set, but not its images) gives an image prior; the attack looks for the latent vector

    z* = arg min_z  L_prior(z) + lambda * L_id(z),                                   (eq. 3)
    L_prior(z) = -D(G(z))           (G(z) looks real to the public discriminator)    (eq. 4)
    L_id(z)    = -log C_y(G(z))     (the target C is confident G(z) is class y)     (eq. 5)

by stochastic gradient descent with momentum from several random starts z_0, and returns G(z*) of the start
whose final loss is lowest. The paper's settings (sec. 4.1 and the authors' attack code): lambda = 100, SGD with
learning rate 0.02 and momentum 0.9, 1500 iterations, 5 random starts, z clamped to [-1, 1] after each step.

One change for advlab: the authors' code averages the loss over a batch of 100 identities, so each z moves by
lr / 100 times its own gradient; here each z's loss is its own (summed over the batch, so that inverting one
class or ten gives the same images), and the default learning rate is the per-z rate of the authors' code,
0.02 / 100 = 2e-4. The attack differentiates through C, so it needs white-box access (``victim.module``).

G maps z (N, z_dim) to images in [0, 1] and D images to realness scores (N,), as advlab's GAN models do
(an advlab GAN run's sampling model and discriminator: advlab.pipelines.security.invert_run loads them); both are used
in eval mode and are not changed.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.gan.trainer import sample_noise
from advlab.privacy.inversion.result import Inversion, check_labels
from advlab.privacy.victim import as_victim

ATTACK = "GMI"
NOISES = ("gaussian", "uniform")


class GMI:
    """Zhang et al. 2020's generative model inversion (module docstring) with a public GAN prior (G, D).

    Args:
        generator: G, z (N, z_dim) -> images (N, C, H, W) in [0, 1], trained on public data.
        discriminator: D, images -> realness scores (N,), the same GAN's.
        identity_weight: lambda, the weight of L_id = -log C_y(G(z)) against L_prior = -D(G(z)) (default 100).
        iterations: SGD steps per start (default 1500).
        lr: the learning rate of SGD on each z (default 2e-4: the authors' 0.02 over their batch of 100).
        momentum: SGD's momentum (default 0.9).
        restarts: random starts z_0 per image; the one of lowest final loss is kept (default 5).
        z_clip: clamp z to [-z_clip, z_clip] after each step (default 1.0; None: no clamp).
        z_dim: the size of z, for a generator without a ``z_dim`` attribute (default None: G.z_dim).
        noise: the distribution of the starts z_0, the GAN's noise: gaussian (N(0, I)) or uniform (on [-1, 1]).
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, identity_weight: float = 100.0,
                 iterations: int = 1500, lr: float = 2e-4, momentum: float = 0.9, restarts: int = 5,
                 z_clip: float | None = 1.0, z_dim: int | None = None, noise: str = "gaussian"):
        self.generator, self.discriminator = generator, discriminator
        self.identity_weight = check_number(f"{ATTACK}: identity_weight", identity_weight)
        self.iterations = check_int(f"{ATTACK}: iterations", iterations, 1)
        self.lr = check_number(f"{ATTACK}: lr", lr, strict=True)
        self.momentum = check_number(f"{ATTACK}: momentum", momentum)
        self.restarts = check_int(f"{ATTACK}: restarts", restarts, 1)
        self.z_clip = None if z_clip is None else check_number(f"{ATTACK}: z_clip", z_clip, strict=True)
        z_dim = getattr(generator, "z_dim", None) if z_dim is None else z_dim
        if z_dim is None:
            raise AdvlabError(f"{ATTACK}: give z_dim for a generator without a z_dim attribute")
        self.z_dim = check_int(f"{ATTACK}: z_dim", z_dim, 1)
        if noise not in NOISES:
            raise AdvlabError(f"{ATTACK}: noise must be one of {', '.join(NOISES)}, got {noise!r}")
        self.noise = noise

    def invert(self, victim, labels, generator: torch.Generator | None = None, progress: bool = False) -> Inversion:
        """One image per label (N,): the best of `restarts` searches of eq. (3); see Inversion.

        `victim` is a white-box Victim or an nn.Module; `generator` (a CPU torch.Generator) draws the starts. G and
        D are moved to the victim's device.
        """
        module = as_victim(victim).white_box(ATTACK)
        device = next(module.parameters()).device
        self.generator.to(device), self.discriminator.to(device)
        with evaluating(module), evaluating(self.generator), evaluating(self.discriminator):
            self.check_shapes(module, device)
            classes = module(self.generator(torch.zeros(1, self.z_dim, device=device))).shape[1]
            labels = check_labels(labels, classes, ATTACK)
            targets = labels.repeat_interleave(self.restarts).to(device)
            z = sample_noise(len(targets), self.z_dim, self.noise, generator or torch.Generator().manual_seed(0))
            z = self.search(module, z.to(device), targets, progress)
            with torch.no_grad():
                images = self.generator(z)
                losses = self.losses(module, images, targets)
        best = losses.view(-1, self.restarts).argmin(1) + torch.arange(len(labels), device=device) * self.restarts
        steps = torch.full((len(labels),), self.iterations, dtype=torch.long)
        return Inversion(images[best].cpu(), labels, losses[best].cpu(), steps)

    def search(self, module: nn.Module, z: Tensor, targets: Tensor, progress: bool) -> Tensor:
        """`iterations` steps of SGD with momentum on eq. (3), every z at once (each z's loss its own)."""
        z = z.clone().requires_grad_(True)
        optimizer = torch.optim.SGD([z], lr=self.lr, momentum=self.momentum)
        bar = tqdm(total=self.iterations, disable=not progress, desc=ATTACK, unit="step", dynamic_ncols=True,
                   file=sys.stderr)
        for _ in range(self.iterations):
            with torch.enable_grad():
                loss = self.losses(module, self.generator(z), targets).sum()
                z.grad, = torch.autograd.grad(loss, z)  # only z's gradient: G, D and C keep theirs as they were
            optimizer.step()
            if self.z_clip is not None:
                with torch.no_grad():
                    z.clamp_(-self.z_clip, self.z_clip)
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item() / len(z):.3f}", refresh=False)
        bar.close()
        return z.detach()

    def losses(self, module: nn.Module, images: Tensor, targets: Tensor) -> Tensor:
        """L_prior + lambda L_id per image (eqs. 3-5)."""
        return self.prior_loss(images) + self.identity_weight * F.cross_entropy(module(images), targets,
                                                                                reduction="none")

    def prior_loss(self, images: Tensor) -> Tensor:
        """L_prior = -D(G(z)) per image (eq. 4)."""
        return -self.discriminator(images).reshape(len(images))

    @torch.no_grad()
    def check_shapes(self, module: nn.Module, device: torch.device) -> None:
        """G's images must be what the victim takes; a mismatch is an AdvlabError naming both shapes."""
        sample = self.generator(torch.zeros(1, self.z_dim, device=device))
        try:
            module(sample)
        except RuntimeError as error:
            raise AdvlabError(f"{ATTACK}: the GAN prior makes images of shape {tuple(sample.shape[1:])}, which the "
                              f"victim cannot take ({str(error).splitlines()[0]}); train the prior on images of the "
                              "victim's size and channels") from None


__all__ = ["GMI"]
