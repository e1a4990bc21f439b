"""CycleGAN: unpaired image-to-image translation (Zhu, Park, Isola & Efros 2017, "Unpaired image-to-image
translation using cycle-consistent adversarial networks").

Two generators, G_AB: A -> B (the paper's G: X -> Y) and G_BA: B -> A (the paper's F), and two discriminators,
D_A judging domain-A images (the paper's D_X: real a against G_BA(b)) and D_B judging domain-B images (D_Y). The
full objective (eq. 3) is

    L = L_GAN(G_AB, D_B) + L_GAN(G_BA, D_A) + lambda L_cyc(G_AB, G_BA) + identity_weight lambda L_identity

with, as sec. 4 trains it, the least-squares GAN loss (Mao et al. 2017) in place of eq. 1's log loss:

* each generator descends  E[(D(G(x)) - 1)^2]                                   -> g_gan_ab, g_gan_ba
* each discriminator descends  1/2 (E[(D(y) - 1)^2] + E[D(G(x))^2])  (halved "to slow down the rate at which D
  learns"), its fakes drawn from an image pool of the last 50 generated images (advlab.translation.image_pool)
                                                                                -> d_a, d_b
* the cycle-consistency loss of eq. 2, in both directions:
  cycle_a = E ||G_BA(G_AB(a)) - a||_1,  cycle_b = E ||G_AB(G_BA(b)) - b||_1,  weighted by lambda = 10
* the identity loss of sec. 5.2 (Taigman et al. 2017), which keeps colours when the input already looks like the
  target domain: identity_b = E ||G_AB(b) - b||_1, identity_a = E ||G_BA(a) - a||_1, weighted by 0.5 lambda.

The L1 terms are measured on the [-1, 1] scale the generators work in (as in the authors' code), i.e. twice the
mean absolute difference of the [0, 1] images, so lambda = 10 weighs them against the GAN terms as in the paper.
`cycle_error` reports the plain [0, 1] mean absolute error.

Optimisation (sec. 4): Adam, lr 2e-4, betas (0.5, 0.999), minibatch 1 in the paper; one Adam over both generators
and one per discriminator; each iteration takes the generators' step (discriminators frozen) and then one step of
each discriminator, on the fakes of that iteration's forward pass. The learning rate is constant for the first
``decay_from`` iterations (default half of ``steps``) and then falls linearly to zero at ``steps`` (the paper's
100 epochs at 2e-4 followed by 100 epochs of linear decay, counted in iterations).

Under torchrun each rank holds a contiguous share (`Distributed.shard`) of the global minibatch; the generated
images are gathered so that every rank runs the same pool (the same generator, seed and images) on the whole
minibatch and keeps its share of the pool's answer: the run is the run one process takes, to float rounding.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.checks import check_int, check_number
from advlab.core.distributed import Distributed
from advlab.core.errors import AdvlabError
from advlab.core.game import Game
from advlab.core.precision import Precision
from advlab.gan.losses import LeastSquaresLoss
from advlab.models.patchgan import PatchDiscriminator
from advlab.models.resnet_generator import ResnetGenerator, default_blocks
from advlab.translation.image_pool import ImagePool

DIRECTIONS = ("AtoB", "BtoA")
STATISTICS = ("d_a", "d_b", "g_gan_ab", "g_gan_ba", "cycle_a", "cycle_b", "identity_a", "identity_b", "g_loss")


# ---------------------------------------------------------------------- the losses

def generator_gan_loss(fake_out: Tensor) -> Tensor:
    """Least-squares loss a generator descends (CycleGAN sec. 4): E[(D(G(x)) - 1)^2] over every patch logit."""
    return ((fake_out.float() - 1.0) ** 2).mean()


def discriminator_gan_loss(real_out: Tensor, fake_out: Tensor) -> Tensor:
    """Least-squares loss a discriminator descends, halved: 1/2 (E[(D(y) - 1)^2] + E[D(G(x))^2]) (Mao et al. 2017,
    eq. 2 with a = 0, b = 1; advlab.gan.losses.LeastSquaresLoss)."""
    return LeastSquaresLoss().discriminator_loss(real_out.float(), fake_out.float())


def l1_distance(images: Tensor, references: Tensor) -> Tensor:
    """Mean |x - y| of [0, 1] images measured on the [-1, 1] scale: 2 mean |x - y| (eq. 2's ||.||_1, averaged)."""
    return 2.0 * F.l1_loss(images.float(), references.float())


def linear_decay(step: int, steps: int, decay_from: int) -> float:
    """Learning-rate factor at iteration ``step`` (0-based): 1 before ``decay_from``, then
    (steps - step) / (steps - decay_from), reaching 0 at ``steps`` (and staying there)."""
    return min(1.0, max(0.0, (steps - step) / max(steps - decay_from, 1)))


# ---------------------------------------------------------------------- the game

class CycleGAN(Game):
    """CycleGAN's game on minibatches of unpaired images: ``inputs`` from domain A, ``targets`` from domain B.

    Args:
        generator_ab: A -> B ([0, 1] images in and out; advlab.models.ResnetGenerator in the paper's setting).
        generator_ba: B -> A.
        discriminator_a: real domain-A images against G_BA's outputs (a 70x70 PatchGAN with instance norm).
        discriminator_b: real domain-B images against G_AB's outputs.
        lr: Adam's learning rate (2e-4).
        betas: Adam's betas ((0.5, 0.999)).
        cycle_weight: lambda of the cycle-consistency loss (10).
        identity_weight: the identity loss's weight as a fraction of lambda (0.5; 0 turns it off; it needs as many
            channels in A as in B).
        pool_size: images in each discriminator's pool of past fakes (50; 0 turns the pools off).
        steps: the iterations of the whole run, for the linear decay; None keeps the learning rate constant.
        decay_from: the iteration where the decay starts (default steps // 2).
        seed: seeds the two pools' generators (2 seed for pool A, 2 seed + 1 for pool B).
        dist: the torchrun context (a world of 1 by default).
        precision: autocast and loss scaling (fp32 by default).
    """

    def __init__(self, generator_ab: nn.Module, generator_ba: nn.Module, discriminator_a: nn.Module,
                 discriminator_b: nn.Module, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
                 cycle_weight: float = 10.0, identity_weight: float = 0.5, pool_size: int = 50,
                 steps: int | None = None, decay_from: int | None = None, seed: int = 0,
                 dist: Distributed | None = None, precision: Precision | None = None) -> None:
        check_number("lr", lr, 0.0, strict=True)
        self.cycle_weight = check_number("cycle_weight", cycle_weight)
        self.identity_weight = check_number("identity_weight", identity_weight)
        check_int("seed", seed, 0)
        players = {"generators": nn.ModuleDict({"ab": generator_ab, "ba": generator_ba}),
                   "discriminator_a": discriminator_a, "discriminator_b": discriminator_b}
        optimizers = {name: torch.optim.Adam(module.parameters(), lr=lr, betas=tuple(betas))
                      for name, module in players.items()}
        super().__init__(players, optimizers, dist, precision, _schedulers(optimizers, steps, decay_from))
        self.steps = steps
        self.pool_a = ImagePool(pool_size, torch.Generator().manual_seed(2 * seed))  # G_BA's outputs, for D_A
        self.pool_b = ImagePool(pool_size, torch.Generator().manual_seed(2 * seed + 1))  # G_AB's outputs, for D_B

    @property
    def generator_ab(self) -> nn.Module:
        return self.players["generators"]["ab"]

    @property
    def generator_ba(self) -> nn.Module:
        return self.players["generators"]["ba"]

    def train_iteration(self, inputs: Tensor, targets: Tensor, record: bool = False) -> dict[str, float]:
        """One iteration on unpaired real images a = ``inputs`` (N, C_A, H, W) and b = ``targets`` (M, C_B, H, W):
        the generators' step, then D_A's and D_B's. Records (when `record`) the unweighted terms of the module
        docstring and g_loss, the generators' weighted total."""
        real_a, real_b = inputs, targets
        self._check_identity(real_a, real_b)
        d_a_net, d_b_net = self.players["discriminator_a"], self.players["discriminator_b"]
        with self.frozen(d_a_net, d_b_net), self.precision.autocast():
            terms, fake_a, fake_b = self._generator_terms(real_a, real_b)
            g_loss = (terms["g_gan_ab"] + terms["g_gan_ba"]
                      + self.cycle_weight * (terms["cycle_a"] + terms["cycle_b"])
                      + self.identity_weight * self.cycle_weight * (terms["identity_a"] + terms["identity_b"]))
        self.update(g_loss, "generators")
        pooled_a, pooled_b = self._from_pool(self.pool_a, fake_a), self._from_pool(self.pool_b, fake_b)
        with self.precision.autocast():
            d_a = discriminator_gan_loss(d_a_net(real_a), d_a_net(pooled_a))
        self.update(d_a, "discriminator_a")
        with self.precision.autocast():
            d_b = discriminator_gan_loss(d_b_net(real_b), d_b_net(pooled_b))
        self.update(d_b, "discriminator_b")
        statistics = self.statistics({"d_a": d_a, "d_b": d_b, **terms, "g_loss": g_loss}) if record else {}
        self.end_iteration()
        return statistics

    def _generator_terms(self, real_a: Tensor, real_b: Tensor) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """The generators' loss terms (unweighted) and the fakes G_BA(b), G_AB(a)."""
        g_ab, g_ba = self.generator_ab, self.generator_ba
        fake_b, fake_a = g_ab(real_a), g_ba(real_b)
        terms = {"g_gan_ab": generator_gan_loss(self.players["discriminator_b"](fake_b)),
                 "g_gan_ba": generator_gan_loss(self.players["discriminator_a"](fake_a)),
                 "cycle_a": l1_distance(g_ba(fake_b), real_a),
                 "cycle_b": l1_distance(g_ab(fake_a), real_b)}
        if self.identity_weight > 0:
            terms["identity_a"] = l1_distance(g_ba(real_a), real_a)
            terms["identity_b"] = l1_distance(g_ab(real_b), real_b)
        else:
            terms["identity_a"] = terms["identity_b"] = torch.zeros((), device=real_a.device)
        return terms, fake_a, fake_b

    def _check_identity(self, real_a: Tensor, real_b: Tensor) -> None:
        if self.identity_weight > 0 and real_a.shape[1] != real_b.shape[1]:
            raise AdvlabError(f"CycleGAN's identity loss feeds B images to G_AB, which needs as many channels in A "
                              f"as in B (found {real_a.shape[1]} and {real_b.shape[1]}); pass identity_weight=0")

    def _from_pool(self, pool: ImagePool, fakes: Tensor) -> Tensor:
        """The pool's answer to this rank's fakes; under torchrun the pool sees the whole minibatch's fakes."""
        fakes = fakes.detach().float()
        if not self.dist.active:
            return pool.query(fakes)
        device = self.dist.collective_device
        counts = torch.zeros(self.dist.world_size, device=device)
        counts[self.dist.rank] = len(fakes)
        counts = self.dist.all_reduce_sum(counts).long().tolist()
        start = sum(counts[:self.dist.rank])
        everyone = torch.zeros((sum(counts), *fakes.shape[1:]), device=device)
        everyone[start:start + len(fakes)] = fakes.to(device)
        answer = pool.query(self.dist.all_reduce_sum(everyone))
        return answer[start:start + len(fakes)].to(fakes.device)

    # ------------------------------------------------------------------ inference and state

    def translate(self, inputs: Tensor, direction: str = "AtoB") -> Tensor:
        """[0, 1] images of domain A (``"AtoB"``) or B (``"BtoA"``) -> their translations, [0, 1] (eval mode, no
        gradients), on the generators' device."""
        if direction not in DIRECTIONS:
            raise AdvlabError(f"unknown direction {direction!r}; use AtoB or BtoA")
        generator = self.generator_ab if direction == "AtoB" else self.generator_ba
        device = next(generator.parameters()).device
        was_training = generator.training
        generator.eval()
        try:
            with torch.no_grad():
                return generator(inputs.to(device)).float().clamp(0.0, 1.0)
        finally:
            generator.train(was_training)

    def extra_state(self) -> dict[str, Tensor]:
        """Both image pools (images, count, generator state), so a resumed run continues exactly."""
        return {f"{name}.{key}": value for name, pool in (("pool_a", self.pool_a), ("pool_b", self.pool_b))
                for key, value in pool.state().items()}

    def restore_extra(self, tensors: dict[str, Tensor]) -> None:
        device = next(self.generator_ab.parameters()).device
        for name, pool in (("pool_a", self.pool_a), ("pool_b", self.pool_b)):
            prefix = f"{name}."
            part = {key[len(prefix):]: value for key, value in tensors.items() if key.startswith(prefix)}
            if not part:
                raise AdvlabError(f"the checkpoint holds no image pool {name!r}: it was not written by CycleGAN")
            pool.restore(part, device)


def _schedulers(optimizers: dict[str, torch.optim.Optimizer], steps: int | None,
                decay_from: int | None) -> dict[str, torch.optim.lr_scheduler.LRScheduler]:
    """One LambdaLR per optimiser with `linear_decay`; none when ``steps`` is None."""
    if steps is None:
        if decay_from is not None:
            raise AdvlabError("decay_from needs steps (the iteration where the learning rate reaches 0)")
        return {}
    check_int("steps", steps, 1)
    decay_from = steps // 2 if decay_from is None else check_int("decay_from", decay_from, 0)
    if decay_from > steps:
        raise AdvlabError(f"decay_from ({decay_from}) must not exceed steps ({steps})")
    factor = partial(linear_decay, steps=steps, decay_from=decay_from)
    return {name: torch.optim.lr_scheduler.LambdaLR(optimizer, factor) for name, optimizer in optimizers.items()}


def cyclegan_models(channels_a: int, channels_b: int, image_size: int, width: int = 64, blocks: int | None = None,
                    discriminator_width: int = 64, discriminator_layers: int = 3) -> dict[str, nn.Module]:
    """The paper's four networks (appendix 7.2), as keyword arguments of `CycleGAN`: ResNet generators with
    instance norm (``blocks`` default `default_blocks(image_size)`: 6 up to 128 px, 9 above) and 70x70 PatchGAN
    discriminators with instance norm (``discriminator_layers`` 3; fewer for images under 24 px)."""
    blocks = default_blocks(image_size) if blocks is None else blocks
    return {"generator_ab": ResnetGenerator(channels_a, channels_b, width, blocks),
            "generator_ba": ResnetGenerator(channels_b, channels_a, width, blocks),
            "discriminator_a": PatchDiscriminator(channels_a, discriminator_width, discriminator_layers, "instance"),
            "discriminator_b": PatchDiscriminator(channels_b, discriminator_width, discriminator_layers, "instance")}


def cycle_error(game: CycleGAN, a: Tensor, b: Tensor, batch_size: int = 64) -> dict[str, float]:
    """Mean absolute cycle error of [0, 1] images: {"a": mean |G_BA(G_AB(a)) - a|, "b": mean |G_AB(G_BA(b)) - b|}
    over every pixel of ``a`` (N, C_A, H, W) and ``b`` (M, C_B, H, W), in batches of ``batch_size``."""
    check_int("batch_size", batch_size, 1)
    if not len(a) or not len(b):
        raise AdvlabError("cycle_error needs at least one image of each domain")
    errors = {}
    for name, images, there, back in (("a", a, "AtoB", "BtoA"), ("b", b, "BtoA", "AtoB")):
        total = 0.0
        for chunk in images.split(batch_size):
            restored = game.translate(game.translate(chunk, there), back)
            total += float((restored - chunk.to(restored.device)).abs().sum())
        errors[name] = total / images.numel()
    return errors


__all__ = ["CycleGAN", "DIRECTIONS", "STATISTICS", "cycle_error", "cyclegan_models", "discriminator_gan_loss",
           "generator_gan_loss", "l1_distance", "linear_decay"]
