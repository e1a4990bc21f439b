"""AdvGAN: a generator trained to turn any image into an adversarial example in one forward pass.

Xiao, Li, Zhu, He, Liu & Song 2018, "Generating Adversarial Examples with Adversarial Networks" (IJCAI), sec. 3.
A generator G maps an image x to a perturbation G(x), a discriminator D tells x from x' = x + G(x), and the
target model f is fooled by x':

    L_GAN   = E_x log D(x) + E_x log(1 - D(x + G(x)))                      (1)  (least squares here, see below)
    L_adv^f = E_x l_f(x + G(x), t)                                            (2)
    L_hinge = E_x max(0, ||G(x)||_2 - c)                                      (3)
    L       = L_adv^f + alpha L_GAN + beta L_hinge,   G, D = arg min_G max_D L (4)

with l_f Carlini & Wagner's loss on the logits z = f(x'): untargeted max(z_y - max_{j != y} z_j, -kappa) (leave
the true class y), targeted max(max_{j != t} z_j - z_t, -kappa) (reach t). Once trained, an attack is ONE forward
pass of G: the target model is not queried and no gradient is computed (this is the point of AdvGAN: it is
orders of magnitude faster per image than PGD once trained).

The choices made where the paper is silent, after the paper's sec. 4 and the authors' reference settings (as the
widely used PyTorch reimplementation mathcbc/advGAN_pytorch keeps them):

* G is pix2pix's U-Net (advlab.models.unet, Isola et al. 2017; the paper "adopts similar architectures for the
  generator and discriminator with image-to-image translation"), without dropout, and its tanh output is scaled by
  the Linf budget: G(x) = eps * tanh(U(x)), so x' = clip(x + G(x), 0, 1) always lies in the eps-ball (the
  reference code clamps G's output to [-eps, eps] instead, which stops the gradient of every clamped pixel; on the
  digits CNN at eps 0.1 that measured 0.25 held-out success against 0.27 for eps * tanh, 400 iterations, seed 0).
* D is pix2pix's PatchGAN (advlab.models.patchgan) with as many stride-2 layers as the image allows, up to 3 (the
  70 x 70 one; the reference code's D has three stride-2 layers too), one logit per patch.
* Both use instance norm (the reference code's G does; its D has batch norm): a minibatch shared by torchrun ranks
  then trains exactly as in one process, and G has no running statistics to differ between training and attack.
  pix2pix's batch norm did about as well (held-out success 0.26 against 0.24 for instance norm, one seed).
* L_GAN is least squares (Mao et al. 2017), as sec. 4 says and the reference code does: D minimises
  mean (D(x) - 1)^2 + mean D(x')^2, G minimises mean (D(x') - 1)^2 (the reference code squashes D's output with a
  sigmoid first; advlab keeps Mao et al.'s linear output).
* Adam with lr 0.001 (sec. 4), betas (0.9, 0.999) (the reference code's), batch 128 (sec. 4), one D step then one
  G step per minibatch, 60 epochs with the learning rate divided by 10 for the last sixth (the reference code's
  60 epochs on MNIST, lr / 10 from epoch 50); each epoch is a seeded permutation cut into whole minibatches.
* alpha = 0.1, beta = 1 and c = ``c_fraction`` * eps * sqrt(d) with c_fraction 1 (d = C H W; eps sqrt(d) is the
  L2 norm of a perturbation on a corner of the Linf ball, the largest G(x) = eps * tanh(...) can have, so by default
  the Linf bound alone limits G and the hinge binds only for c_fraction < 1, a soft L2 budget inside the ball). The
  paper gives no values; the reference code weighs 10 x the adversarial loss summed over the minibatch against 1 x
  the GAN loss and the mean L2 norm (its hinge commented out), i.e. it lets the adversarial loss dominate. Measured
  on held-out images at eps 0.1 (seed 0): on the MNIST CNN (500 iterations, width 16) alpha 1 with c_fraction 0.5
  held G to a mean ||G(x)||_2 of 1.74 (FGSM's perturbations: 2.11) and fooled 0.219, c_fraction 1 gave 0.251 and
  alpha 0.1 with it 0.283 (FGSM 0.258); on the digits CNN (400 iterations, seeds 0-2) 0.22-0.23 became 0.23-0.25 at
  eps 0.1 and 0.92-0.93 became 0.94-0.95 at eps 0.2.
* kappa = 10, not the paper's 0: G is trained on other images than it attacks, and without a margin it stops
  pushing a training image the moment it crosses the boundary, leaving held-out images short of it. On the digits
  CNN at eps 0.1 (alpha = beta = 1, c_fraction 0.5, 60 epochs, seed 0): held-out success 0.19 with kappa 0, 0.24
  with kappa 10 (that model's logit margins span about +-20); on the MNIST CNN (alpha 0.1, c_fraction 0.5, 400
  iterations, width 16, seed 0) 0.224 with kappa 0, 0.258 with kappa 10.
* Targeted: the paper trains one G per target class; advlab's G is conditioned on the target (one-hot planes
  appended to its input channels), trained on a random target other than the true class per image and
  minibatch, so one generator serves every target rule (``fit(targets=...)`` fixes them instead).

Measured on real MNIST (the default ``advlab classifier train --data mnist`` CNN after 5 epochs, 98.1% held out; G
trained on its 4,000 training rows for 500 iterations of 128 at width 16, about 105 s of one CPU thread; success on
the 1,000 held-out rows, seeds 0-2): eps 0.1 0.275-0.292 (FGSM 0.258, PGD-40 0.50), eps 0.2 0.924-0.947 (FGSM
0.747, PGD-40 0.979), eps 0.3 0.994-1.0 (FGSM 0.886; the paper reports 97%+ at eps 0.3), at 0.2-0.36 ms per image
against PGD-40's 44-54 ms (tests/test_attack_advgan_mnist_slow.py).

Modes (sec. 3.3):

* ``"semi-white-box"``: G is trained with the target model's gradients; at attack time G needs no access to it.
* ``"distilled"`` (black-box): a local model f (``surrogate``, default a fresh SmallCNN) is first trained on the
  target's labels of the training images (static distillation, ``distill_epochs`` epochs of Adam 0.001, one query
  per training image, answers cached), then G and D are trained against f while f keeps learning the target's
  answers on the fresh x' of every minibatch (dynamic distillation, eq. 5:
  min_f E_x H(f(x), b(x)) + E_x H(f(x + G(x)), b(x + G(x))), H the cross-entropy to b's labels), one update of
  f after each G step. Training queries: exactly (training images) + (iterations x batch size);
  ``training_queries`` holds the count. At attack time each image costs one query, the base class's clean pass
  (``queries`` is 1 per image, as for the transfer attack).

Saving and loading: ``save(path)`` writes the generator as safetensors, its description in the header
(``format`` advlab-advgan/1, image shape, classes, eps, mode, U-Net width and depth); ``AdvGAN(model,
generator=path)`` reuses it without training. Nothing is unpickled.

Under torchrun (advlab.core.distributed.current()) every rank draws the same minibatches, trains on its contiguous
share of each, and the gradients are averaged before every step (advlab.core.game.Game.update), so
the players stay identical on every rank; the static distillation's queries are split between the ranks and
gathered. The batch-norm statistics are per share; rank 0's are broadcast at the end.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save as safetensors_to_bytes
from torch import Tensor, nn
from tqdm import tqdm

from advlab.attacks.base import Attack, check_eps, check_images, check_labels, finish, model_device
from advlab.attacks.losses import margin
from advlab.core.checkpoints import atomic_write_bytes, parse_safetensors, read_described, restore_module
from advlab.core.checks import check_int, check_number
from advlab.core.distributed import Distributed, current
from advlab.core.errors import AdvlabError
from advlab.core.game import Game
from advlab.core.modes import evaluating
from advlab.core.precision import Precision
from advlab.core.seeding import make_generator
from advlab.models.classifiers import MLPClassifier, SmallCNN
from advlab.models.patchgan import PatchDiscriminator
from advlab.models.unet import UNetGenerator

FORMAT = "advlab-advgan/1"
MODES = ("semi-white-box", "distilled")
MAX_PATCH_LAYERS = 3  # the 70 x 70 PatchGAN
LABEL_CHUNK = 1024  # images per query when labelling the training images (static distillation)
NORM = "instance"  # in G and D: a minibatch shared by torchrun ranks trains as in one process, no running stats
LR_DECAY, DECAY_AFTER = 0.1, 5 / 6  # the reference code's lr / 10 from epoch 50 of its 60


# ---------------------------------------------------------------------- the losses, eq. (2) and (3)


def adversarial_loss(logits: Tensor, labels: Tensor, targeted: bool = False, kappa: float = 0.0) -> Tensor:
    """l_f of eq. (2), per image (N,): C&W's loss on the logits (N, classes), to minimise.

    Untargeted: max(z_y - max_{j != y} z_j, -kappa) for the true classes y; targeted:
    max(max_{j != t} z_j - z_t, -kappa) for the targets t. It reaches -kappa once the goal is met with margin kappa.
    """
    return (-margin(logits, labels, targeted)).clamp(min=-kappa)


def hinge_loss(perturbation: Tensor, c: float) -> Tensor:
    """L_hinge of eq. (3), per image (N,): max(0, ||G(x)||_2 - c) for perturbations (N, ...)."""
    return (perturbation.flatten(1).norm(dim=1) - c).clamp(min=0.0)


def lsgan_discriminator_loss(real: Tensor, fake: Tensor) -> Tensor:
    """D's least-squares loss (Mao et al. 2017): mean (D(x) - 1)^2 + mean D(x')^2, on D's raw outputs."""
    return (real - 1).pow(2).mean() + fake.pow(2).mean()


def lsgan_generator_loss(fake: Tensor) -> Tensor:
    """G's least-squares GAN loss: mean (D(x') - 1)^2."""
    return (fake - 1).pow(2).mean()


# ---------------------------------------------------------------------- the players


class PerturbationGenerator(nn.Module):
    """G of AdvGAN: images (N, C, H, W) in [0, 1] -> perturbations eps * tanh(U(x)) in [-eps, eps], same shape.

    Args:
        channels: image channels C.
        image_size: (H, W).
        eps: the Linf budget that scales the U-Net's tanh output.
        classes: 0 for an untargeted G; the number of classes for a targeted G, which takes one-hot target planes
            as extra input channels.
        width: the U-Net's first-layer filters.
        depth: the U-Net's stride-2 layers (None: down to 1 x 1, advlab.models.unet).
    """

    def __init__(self, channels: int, image_size: tuple[int, int], eps: float, classes: int = 0, width: int = 32,
                 depth: int | None = None):
        super().__init__()
        self.channels, self.image_size, self.eps, self.classes = channels, tuple(image_size), float(eps), classes
        self.unet = UNetGenerator(channels + classes, channels, max(image_size), width=width, depth=depth,
                                  dropout=0.0, output="tanh", norm=NORM)
        self.width, self.depth = width, self.unet.depth
        self.mode, self.model_classes = MODES[0], classes or None  # what it was trained in and against (fit sets)

    def forward(self, images: Tensor, targets: Tensor | None = None) -> Tensor:
        inputs = images
        if self.classes:
            planes = F.one_hot(targets, self.classes).to(images.dtype)[:, :, None, None]
            inputs = torch.cat([images, planes.expand(-1, -1, *images.shape[-2:])], dim=1)
        return self.eps * self.unet(inputs)

    def description(self) -> dict[str, str]:
        """The header metadata of a saved generator (what `load_generator` needs to rebuild it)."""
        return {"format": FORMAT, "channels": str(self.channels), "height": str(self.image_size[0]),
                "width": str(self.image_size[1]), "classes": str(self.classes), "eps": repr(self.eps),
                "unet_width": str(self.width), "unet_depth": str(self.depth), "mode": self.mode,
                "targeted": str(bool(self.classes)).lower(), "model_classes": str(self.model_classes or 0)}


def patch_layers(image_size: tuple[int, int]) -> int:
    """Stride-2 layers of the PatchGAN for this image size: the most (up to 3) that leave an output (3 * 2**layers
    <= the shorter side), at least 1."""
    side = min(image_size)
    return max(1, min(MAX_PATCH_LAYERS, int(math.floor(math.log2(max(side, 1) / 3))) if side >= 6 else 1))


def default_surrogate(channels: int, image_size: tuple[int, int], classes: int) -> nn.Module:
    """The distilled model when none is given: a SmallCNN (width 32) for square images of at least 4 pixels, else
    an MLP."""
    height, width = image_size
    if height == width and height >= 4:
        return SmallCNN(channels=channels, classes=classes, image_size=height, width=32)
    return MLPClassifier(channels * height * width, classes)


@contextmanager
def held(module: nn.Module):
    """`module` in eval mode with no parameter gradients inside the block; every flag restored afterwards (the
    target model is never trained, and a victim whose parameters were frozen stays frozen)."""
    flags = [(parameter, parameter.requires_grad) for parameter in module.parameters()]
    with evaluating(module):
        for parameter, _ in flags:
            parameter.requires_grad_(False)
        try:
            yield module
        finally:
            for parameter, flag in flags:
                parameter.requires_grad_(flag)


class AdvGANGame(Game):
    """One AdvGAN iteration (eq. 4, and eq. 5 in the distilled mode) as an advlab.translation Game.

    Players: ``generator`` (PerturbationGenerator), ``discriminator`` (PatchDiscriminator) and, distilled,
    ``distilled`` (the local model f); the target model is held (eval mode, no parameter gradients).
    ``train_iteration(images, goals, record)`` with goals the true classes (untargeted) or the targets records
    ``loss_d``, ``loss_gan``, ``loss_adv``, ``loss_hinge``, ``loss_g`` (eq. 4), ``l2`` (mean ||G(x)||_2) and
    ``success`` (share of the minibatch whose x' meets the goal on the model G is trained against), plus
    ``loss_distill`` (eq. 5) and ``target_success`` (the same share on the target's queried labels) when distilled.
    """

    def __init__(self, generator: PerturbationGenerator, discriminator: nn.Module, attacked: nn.Module,
                 alpha: float, beta: float, c: float, kappa: float, targeted: bool, lr: float = 1e-3,
                 distilled: nn.Module | None = None, target: nn.Module | None = None,
                 dist: Distributed | None = None, precision: Precision | None = None):
        players = {"generator": generator, "discriminator": discriminator}
        if distilled is not None:
            players["distilled"] = distilled
        optimizers = {name: torch.optim.Adam(player.parameters(), lr=lr, betas=(0.9, 0.999))
                      for name, player in players.items()}
        super().__init__(players, optimizers, dist, precision)
        self.attacked, self.target = attacked, target  # f of eq. (2); b, queried for eq. (5)
        self.alpha, self.beta, self.c, self.kappa, self.targeted = alpha, beta, c, kappa, targeted
        self.queries = 0  # this rank's queries of the target (distilled mode)

    def adversarial(self, images: Tensor, goals: Tensor) -> tuple[Tensor, Tensor]:
        """(x' = clip(x + G(x), 0, 1), G(x))."""
        perturbation = self.players["generator"](images, goals if self.targeted else None)
        return (images + perturbation).clamp(0.0, 1.0), perturbation

    def train_iteration(self, inputs: Tensor, targets: Tensor, record: bool = False, answers: Tensor | None = None,
                        weight: float = 1.0) -> dict[str, float]:
        """One D step, one G step and (distilled) one step of f, on this rank's share: `inputs` the images,
        `targets` the goal classes, `answers` the target's labels of the images (distilled mode), `weight` this
        share's weight in the global minibatch's mean (len(share) * world / len(minibatch))."""
        generator, discriminator = self.players["generator"], self.players["discriminator"]
        with self.precision.autocast():
            adversarial, perturbation = self.adversarial(inputs, targets)
            loss_d = lsgan_discriminator_loss(discriminator(inputs), discriminator(adversarial.detach()))
        self.update(weight * loss_d, "discriminator")
        with self.frozen(discriminator), held(self.attacked), self.precision.autocast():
            logits = self.attacked(adversarial)
            loss_adv = adversarial_loss(logits.float(), targets, self.targeted, self.kappa).mean()
            loss_gan = lsgan_generator_loss(discriminator(adversarial))
            l2 = perturbation.flatten(1).float().norm(dim=1)
            loss_hinge = (l2 - self.c).clamp(min=0.0).mean()
            loss_g = loss_adv + self.alpha * loss_gan + self.beta * loss_hinge
        self.update(weight * loss_g, "generator")
        values = {"loss_d": loss_d, "loss_gan": loss_gan, "loss_adv": loss_adv, "loss_hinge": loss_hinge,
                  "loss_g": loss_g, "l2": l2.mean(), "success": self.reached(logits.detach(), targets)}
        if "distilled" in self.players:
            values.update(self.distill(inputs, targets, answers, weight, generator))
        self.end_iteration()
        return self.statistics(values) if record else {}

    def distill(self, images: Tensor, goals: Tensor, answers: Tensor, weight: float,
                generator: nn.Module) -> dict[str, Tensor]:
        """Eq. (5): the target's labels of fresh x' (one query per image), then one step of f on
        H(f(x), b(x)) + H(f(x'), b(x'))."""
        with torch.no_grad(), evaluating(generator):
            fresh = self.adversarial(images, goals)[0]
        fresh_answers = self.query(fresh)
        distilled = self.players["distilled"]
        with self.precision.autocast():
            loss = (F.cross_entropy(distilled(images).float(), answers)
                    + F.cross_entropy(distilled(fresh).float(), fresh_answers))
        self.update(weight * loss, "distilled")
        reached = fresh_answers == goals if self.targeted else fresh_answers != goals
        return {"loss_distill": loss, "target_success": reached.double().mean()}

    @torch.no_grad()
    def query(self, images: Tensor) -> Tensor:
        """The target's labels of `images`: one query per image, counted."""
        self.queries += len(images)
        with evaluating(self.target):
            return self.target(images).argmax(1)

    def decay(self, factor: float) -> None:
        """Multiply every optimiser's learning rate by `factor`."""
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] *= factor

    def reached(self, logits: Tensor, goals: Tensor) -> Tensor:
        predicted = logits.argmax(1)
        return (predicted == goals if self.targeted else predicted != goals).double().mean()


# ---------------------------------------------------------------------- the attack


class AdvGAN(Attack):
    """AdvGAN (Xiao et al. 2018): ``AdvGAN(model, eps=0.1).fit(train_images, train_labels)(images, labels)``.

    Args:
        model: the target classifier; maps images in [0, 1] to logits (N, classes).
        eps: the Linf budget, one number > 0 (G's output is eps * tanh(...)); None: the generator file's eps, or
            0.1 without one.
        mode: ``"semi-white-box"`` (G trained with the target's gradients) or ``"distilled"`` (black-box: G trained
            against a local model distilled from the target's labels, sec. 3.3).
        generator: a generator file saved by ``save`` (safetensors) to attack with, instead of training one.
        epochs: passes over the training images in ``fit`` (the reference code's 60 on MNIST).
        steps: iterations (minibatches) in ``fit`` instead of epochs (None: use epochs).
        train_batch_size: images per training minibatch (128, the paper's).
        lr: Adam's learning rate for G, D and the distilled model (0.001, the paper's).
        alpha: weight of the GAN loss (eq. 4).
        beta: weight of the hinge loss (eq. 4).
        c_fraction: the hinge's bound c as a fraction of eps * sqrt(C H W), the L2 norm of a full-eps perturbation
            (1: the hinge never binds, the Linf ball alone bounds G; below 1: a soft L2 budget inside the ball).
        kappa: the confidence margin of the C&W loss (the paper's 0 leaves held-out images short of the boundary;
            see the module docstring).
        width: filters of the U-Net's first layer (and of the discriminator's).
        surrogate: the distilled model's architecture in the distilled mode (trained from its current weights on the
            target's labels; None: a fresh SmallCNN, or an MLP for images that are not square).
        distill_epochs: epochs of static distillation before G's training (distilled mode).
        targeted: labels are target classes (the generator is conditioned on them).
        seed: seeds the players' initialisation, the minibatches and the random training targets (None: 0).
    """

    name = "advgan"
    paper = "Xiao, Li, Zhu, He, Liu & Song 2018, Generating Adversarial Examples with Adversarial Networks"
    access = "white-box, or black-box (scores) distilled"
    uses_clean_logits = False

    def __init__(self, model: nn.Module, eps: float | None = None, mode: str = "semi-white-box",
                 generator: str | None = None, epochs: int = 60, steps: int | None = None,
                 train_batch_size: int = 128, lr: float = 1e-3, alpha: float = 0.1, beta: float = 1.0,
                 c_fraction: float = 1.0, kappa: float = 10.0, width: int = 32, surrogate: nn.Module | None = None,
                 distill_epochs: int = 10, targeted: bool = False, seed: int | None = None):
        loaded = None if generator is None else load_generator(generator)
        if eps is None:
            eps = loaded.eps if loaded is not None else 0.1
        if isinstance(eps, (list, tuple)):
            raise AdvlabError("advgan: a generator is trained for one eps; give one number, not a list")
        super().__init__(model, eps=eps, targeted=targeted, seed=seed)
        if self.eps <= 0 or self.eps > 1:
            raise AdvlabError(f"advgan: eps must be a number in (0, 1] (an Linf budget on [0, 1] images), got {eps!r}")
        if mode not in MODES:
            raise AdvlabError(f"advgan: unknown mode {mode!r}; valid modes are: {', '.join(MODES)}")
        if surrogate is not None and not isinstance(surrogate, nn.Module):
            raise AdvlabError(f"advgan: surrogate must be a torch.nn.Module, got {type(surrogate).__name__}")
        self.mode = mode
        self.black_box = mode == "distilled"
        self.epochs = check_int("advgan: epochs", epochs, 1)
        self.steps = None if steps is None else check_int("advgan: steps", steps, 1)
        self.train_batch_size = check_int("advgan: train_batch_size", train_batch_size, 1)
        self.lr = check_number("advgan: lr", lr, 0.0, strict=True)
        self.alpha = check_number("advgan: alpha", alpha)
        self.beta = check_number("advgan: beta", beta)
        self.c_fraction = check_number("advgan: c_fraction", c_fraction)
        self.kappa = check_number("advgan: kappa", kappa)
        self.width = check_int("advgan: width", width, 1)
        self.surrogate = surrogate
        self.distill_epochs = check_int("advgan: distill_epochs", distill_epochs, 0)
        self.generator_path = None if generator is None else str(generator)
        self.net: PerturbationGenerator | None = None
        self.training: dict = {}
        self.training_queries = 0
        self.static_queries = 0
        self.generator_calls = 0
        self.classes: int | None = None
        if loaded is not None:
            self.use_generator(loaded, str(generator))

    # ------------------------------------------------------------------ attack time

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        """x' = clip(x + G(x), 0, 1): one forward pass of G, no query of the target."""
        net = self.trained_generator(images)
        if net.classes and int(labels.max()) >= net.classes:
            raise AdvlabError(f"advgan: the generator was trained for targets 0..{net.classes - 1}; got "
                              f"{int(labels.max())}")
        with torch.no_grad(), evaluating(net):
            perturbation = net(images, labels if self.targeted else None)
        self.generator_calls += 1
        if self.black_box:
            self.queries = torch.ones(len(images), dtype=torch.int64, device=images.device)  # the clean pass
        return finish(images + perturbation, images, mask)

    def trained_generator(self, images: Tensor) -> PerturbationGenerator:
        """The generator, on the images' device, checked against their shape."""
        if self.net is None:
            raise AdvlabError("advgan: the generator is not trained; call fit(train_images, train_labels) first or "
                              "pass generator=PATH (advlab attack advgan trains it on the run's training rows)")
        expected = (self.net.channels, *self.net.image_size)
        if tuple(images.shape[1:]) != expected:
            raise AdvlabError(f"advgan: the generator was trained on images of shape {expected}; these have shape "
                              f"{tuple(images.shape[1:])}")
        return self.net.to(images.device)

    # ------------------------------------------------------------------ training

    def fit(self, images: Tensor, labels: Tensor, epochs: int | None = None, steps: int | None = None,
            batch_size: int | None = None, lr: float | None = None, seed: int | None = None,
            progress: bool = False, targets: Tensor | None = None) -> AdvGAN:
        """Train G and D (and, distilled, the local model) on `images` (N, C, H, W) in [0, 1] with their true
        `labels` (N,); returns the attack, ready to attack other images. Arguments left None take the attack's
        settings. Targeted: `targets` (N,) fixes each image's target (default: a random class other than the label,
        drawn anew for every minibatch). Records what happened in ``self.training`` (and ``training_queries``)."""
        epochs = self.epochs if epochs is None else check_int("advgan: epochs", epochs, 1)
        steps = self.steps if steps is None else check_int("advgan: steps", steps, 1)
        batch = self.train_batch_size if batch_size is None else check_int("advgan: batch_size", batch_size, 1)
        lr = self.lr if lr is None else check_number("advgan: lr", lr, 0.0, strict=True)
        seed = (self.seed or 0) if seed is None else check_int("advgan: seed", seed, 0)
        ctx = current()
        device = model_device(self.model, images)
        x = check_images(images, self.name).to(device)
        y = check_labels(labels, len(x), self.name, "labels").to(device)
        if not self.targeted and targets is not None:
            raise AdvlabError("advgan: targets were given to an untargeted attack; pass targeted=True")
        fixed = None if targets is None else check_labels(targets, len(x), self.name, "targets").to(device)
        batch = min(batch, len(x))
        if batch < ctx.world_size:
            raise AdvlabError(f"advgan: a training minibatch of {batch} images cannot be shared by "
                              f"{ctx.world_size} processes; use train_batch_size >= {ctx.world_size}")
        start = time.perf_counter()
        with evaluating(self.model):
            answers = self.label(x, ctx) if self.black_box else None
            classes = self.check_model(x, y, fixed, answers)
            game = self.setup(x, classes, lr, seed, ctx, device)
            sampler = make_generator(seed, torch.device("cpu"))
            if self.black_box:
                answers = answers.argmax(1)
                self.distill_statically(game, x, answers, batch, sampler, ctx, progress)
            iterations = steps or epochs * (len(x) // batch)
            history = self.train(game, x, y, fixed, answers, batch, iterations, sampler, classes, ctx, progress)
        game.synchronise()
        self.net = game.players["generator"].eval()
        self.net.mode, self.net.model_classes, self.classes = self.mode, classes, classes
        mine = torch.tensor([game.queries + self.static_queries], dtype=torch.float64, device=ctx.collective_device)
        self.training_queries = int(ctx.all_reduce_sum(mine).item())  # every rank's queries of the target
        self.generator_path = None
        self.training = {"images": len(x), "iterations": iterations, "epochs": iterations * batch / len(x),
                         "batch_size": batch, "lr": lr, "seed": seed, "mode": self.mode, "processes": ctx.world_size,
                         "queries": self.training_queries if self.black_box else None,
                         "seconds": time.perf_counter() - start, "last": history[-1] if history else {},
                         "history": history}
        return self

    def check_model(self, images: Tensor, labels: Tensor, targets: Tensor | None, answers: Tensor | None) -> int:
        """The target's number of classes, with the base class's checks (output shape, labels in range): from one
        clean pass on one image (semi-white-box), or from the logits of the static distillation's queries
        (`answers`, distilled: no query beyond those is made, so the count stays exact)."""
        if answers is None:
            classes = int(self.clean_pass(images[:1], labels[:1], None, "labels").shape[1])
        else:
            classes = int(answers.shape[1])
            if classes < 2:
                raise AdvlabError(f"advgan: the model must return logits of shape (N, classes) with at least 2 "
                                  f"classes; it returned {tuple(answers.shape)}")
        for name, tensor in (("labels", labels), ("targets", targets)):
            if tensor is not None and (int(tensor.min()) < 0 or int(tensor.max()) >= classes):
                raise AdvlabError(f"advgan: {name} must lie in [0, {classes - 1}] for a model with {classes} "
                                  f"classes; found {int(tensor.min())}..{int(tensor.max())}")
        return classes

    def setup(self, images: Tensor, classes: int, lr: float, seed: int, ctx: Distributed,
              device: torch.device) -> AdvGANGame:
        """The players, initialised under `seed` (the same on every rank, torch's global generator untouched), in
        their game."""
        shape = tuple(images.shape[-2:])
        c = self.c_fraction * self.eps * math.sqrt(images[0].numel())
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            generator = PerturbationGenerator(images.shape[1], shape, self.eps, classes if self.targeted else 0,
                                              self.width).to(device)
            discriminator = PatchDiscriminator(images.shape[1], width=self.width, layers=patch_layers(shape), norm=NORM)
            distilled = None
            if self.black_box:
                distilled = (default_surrogate(images.shape[1], shape, classes) if self.surrogate is None
                             else copy_module(self.surrogate)).to(device).train()
        return AdvGANGame(generator, discriminator.to(device), distilled if self.black_box else self.model,
                          self.alpha, self.beta, c, self.kappa, self.targeted, lr, distilled,
                          self.model if self.black_box else None, ctx, Precision("fp32", device))

    def label(self, images: Tensor, ctx: Distributed) -> Tensor:
        """The target's logits of every training image (static distillation: one query per image, the chunks of
        LABEL_CHUNK images split between the ranks and gathered), on the images' device; counted in
        ``static_queries``."""
        self.static_queries = 0

        @torch.no_grad()
        def ask(rows: slice) -> Tensor:
            part = images[rows]
            try:
                logits = self.model(part)
            except RuntimeError as error:
                detail = str(error).strip().splitlines()[0]
                raise AdvlabError(f"advgan: the model failed on images of shape {tuple(part.shape)}: "
                                  f"{detail}") from None
            if not isinstance(logits, Tensor) or logits.ndim != 2 or len(logits) != len(part):
                shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
                raise AdvlabError(f"advgan: the model must return logits of shape (N, classes) with N = {len(part)}; "
                                  f"it returned {shape}")
            self.static_queries += len(part)
            return logits.float()

        return ctx.gather_rows(ask, len(images), LABEL_CHUNK).to(images.device)

    def distill_statically(self, game: AdvGANGame, images: Tensor, answers: Tensor, batch: int,
                           sampler: torch.Generator, ctx: Distributed, progress: bool) -> None:
        """``distill_epochs`` epochs of f on H(f(x), b(x)) over the training images (no new query)."""
        distilled = game.players["distilled"]
        per_epoch = len(images) // batch
        bar = tqdm(total=self.distill_epochs * per_epoch, disable=not (progress and ctx.is_main), unit="step",
                   desc="advgan distil", dynamic_ncols=True, file=sys.stderr)
        for _ in range(self.distill_epochs):
            order = torch.randperm(len(images), generator=sampler)
            for first in range(0, per_epoch * batch, batch):
                rows, weight = share_of(order[first:first + batch], ctx)
                rows = rows.to(images.device)
                loss = F.cross_entropy(distilled(images[rows]), answers[rows])
                game.update(weight * loss, "distilled")
                bar.update(1)
        bar.close()

    def train(self, game: AdvGANGame, images: Tensor, labels: Tensor, fixed: Tensor | None, answers: Tensor | None,
              batch: int, iterations: int, sampler: torch.Generator, classes: int, ctx: Distributed,
              progress: bool) -> list[dict[str, float]]:
        """`iterations` minibatches of `batch` images (epochs of a seeded permutation, the last partial minibatch of
        each dropped, as the reference code does); the statistics of the last minibatch of each epoch (or of the
        last iteration)."""
        bar = tqdm(total=iterations, disable=not (progress and ctx.is_main), unit="step", desc="advgan",
                   dynamic_ncols=True, file=sys.stderr)
        per_epoch, history, done = len(images) // batch, [], 0
        while done < iterations:
            order = torch.randperm(len(images), generator=sampler)
            for index in range(min(per_epoch, iterations - done)):
                minibatch = order[index * batch:(index + 1) * batch]
                goals = self.goals(labels, fixed, minibatch, sampler, classes)
                rows, weight = share_of(minibatch, ctx)
                mine = goals[ctx.shard(len(minibatch))]
                rows = rows.to(images.device)
                done += 1
                if done == decay_at(iterations):
                    game.decay(LR_DECAY)
                record = index == per_epoch - 1 or done == iterations
                stats = game.train_iteration(images[rows], mine.to(images.device), record,
                                             None if answers is None else answers[rows], weight)
                if record:
                    history.append({"iteration": done, **{k: round(v, 6) for k, v in stats.items()}})
                    bar.set_postfix_str(f"success {stats['success']:.2f} l2 {stats['l2']:.3f}")
                bar.update(1)
        bar.close()
        return history

    def goals(self, labels: Tensor, fixed: Tensor | None, minibatch: Tensor, sampler: torch.Generator,
              classes: int) -> Tensor:
        """The classes G works towards for a minibatch: the true labels (untargeted), the fixed targets, or a
        random class other than the label drawn from `sampler` (the same on every rank)."""
        rows = minibatch.to(labels.device)
        if not self.targeted:
            return labels[rows].cpu()
        if fixed is not None:
            return fixed[rows].cpu()
        shift = torch.randint(1, classes, (len(minibatch),), generator=sampler)
        return (labels[rows].cpu() + shift) % classes

    # ------------------------------------------------------------------ saving and loading

    def save(self, path: str | Path) -> Path:
        """Write the trained generator to `path` (safetensors; its description in the header). Returns the path."""
        if self.net is None:
            raise AdvlabError("advgan: nothing to save; call fit(...) first")
        description = self.net.description()
        tensors = {f"generator.{key}": value.detach().cpu().contiguous()
                   for key, value in self.net.state_dict().items()}
        path = Path(path)
        atomic_write_bytes(path, safetensors_to_bytes(tensors, metadata=description))
        return path

    def use_generator(self, loaded: PerturbationGenerator, path: str) -> None:
        """Attack with a loaded generator; it must have been trained at this eps, mode and targeting."""
        if not math.isclose(loaded.eps, self.eps, rel_tol=1e-6):
            raise AdvlabError(f"advgan: the generator {path} was trained for eps {loaded.eps:g}, not {self.eps:g}; "
                              f"pass eps={loaded.eps:g} (--eps {loaded.eps:g}) or train a new one")
        if bool(loaded.classes) != self.targeted:
            kind = "targeted" if loaded.classes else "untargeted"
            raise AdvlabError(f"advgan: the generator {path} is {kind}; "
                              + ("give targets (--targeted-by/--target)" if loaded.classes else
                                 "train a targeted one for a targeted attack"))
        self.mode = loaded.mode
        self.black_box = loaded.mode == "distilled"
        self.classes = loaded.model_classes
        self.net = loaded.to(model_device(self.model, torch.empty(0))).eval()

    def __repr__(self) -> str:
        shown = {k: v for k, v in vars(self).items()
                 if k not in ("model", "clean_logits", "queries", "net", "training", "surrogate")}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def load_generator(path: str | Path) -> PerturbationGenerator:
    """The generator saved by ``AdvGAN.save`` at `path`, in eval mode, with ``mode`` and ``model_classes`` set;
    a file of another kind, or whose tensors do not fit its description, is an AdvlabError."""
    path = Path(path)
    payload, metadata = read_described(path, FORMAT, "advgan", "generator", "an AdvGAN generator")
    try:
        numbers = {key: int(metadata[key]) for key in ("channels", "height", "width", "classes", "unet_width",
                                                       "unet_depth", "model_classes")}
        eps = float(metadata["eps"])
        mode = metadata["mode"]
        check_eps(eps, "advgan")
    except (KeyError, ValueError, AdvlabError) as error:
        raise AdvlabError(f"advgan: the description in {path} is incomplete ({error})") from None
    if mode not in MODES:
        raise AdvlabError(f"advgan: {path} names an unknown mode {mode!r}")
    generator = PerturbationGenerator(numbers["channels"], (numbers["height"], numbers["width"]), eps,
                                      numbers["classes"], numbers["unet_width"], numbers["unet_depth"])
    try:
        restore_module(generator, "generator", parse_safetensors(payload, path))
    except AdvlabError as error:
        raise AdvlabError(f"advgan: {path} does not hold the generator its header describes "
                          f"({str(error).split(': ', 1)[-1]})") from None
    generator.mode, generator.model_classes = mode, numbers["model_classes"]
    return generator.eval()


def decay_at(iterations: int) -> int:
    """The iteration (1-based) from which the learning rate is divided by 10: the first of the last sixth, as the
    reference code's epoch 50 of 60 (never, for fewer than 6 iterations)."""
    return int(iterations * DECAY_AFTER) + 1 if iterations >= 6 else 0


def share_of(minibatch: Tensor, ctx: Distributed) -> tuple[Tensor, float]:
    """(this rank's contiguous share of a minibatch's rows, the weight of its mean loss: len(share) * world /
    len(minibatch), 1 in a world of 1), so that the ranks' averaged gradient is the whole minibatch's."""
    part = ctx.shard(len(minibatch))
    rows = minibatch[part]
    return rows, len(rows) * ctx.world_size / len(minibatch)


def copy_module(module: nn.Module) -> nn.Module:
    """A trainable copy of `module` (a surrogate run's classifier is loaded frozen)."""
    clone = copy.deepcopy(module)
    for parameter in clone.parameters():
        parameter.requires_grad_(True)
    return clone


__all__ = ["AdvGAN", "AdvGANGame", "PerturbationGenerator", "adversarial_loss", "hinge_loss", "load_generator",
           "lsgan_discriminator_loss", "lsgan_generator_loss"]
