"""GAN-INT-CLS: text-to-image synthesis with a matching-aware discriminator and interpolated text embeddings (Reed,
Akata, Yan, Logeswaran, Schiele & Lee 2016, "Generative adversarial text to image synthesis", ICML).

A frozen text encoder phi (pre-trained, as Reed et al.'s was; advlab.text2image.embedding) maps a caption t to
h = phi(t). G(z, h) draws an image, D(x, h) scores "a real image that matches the text" (advlab.models.text_gan).

GAN-CLS (sec. 4.2, Algorithm 1), for a minibatch of images x, their captions' embeddings h and the embeddings h^ of
mismatched captions (another image's, whose attributes differ), z ~ N(0, 1):

    s_r = D(x, h)       real image, right text
    s_w = D(x, h^)      real image, wrong text  -- the matching-aware third kind of fake
    s_f = D(G(z, h), h) fake image, right text
    L_D = log s_r + (log(1 - s_w) + log(1 - s_f)) / 2           (maximised by D)
    L_G = log s_f                                               (maximised by G: the non-saturating form)

The wrong-text term's weight is ``cls_weight`` = 0.5 and the fake term's is 1 - cls_weight, as in the reference
code (reedscot/icml2016, main_cls_int.lua: cls_weight=0.5); cls_weight = 0 is the plain conditional GAN (no s_w
term, the fake term at weight 1).

GAN-INT (sec. 4.3, eq. 5): G is also trained on interpolations of the training embeddings,

    L_G += E_{t1, t2 ~ p_data}[log D(G(z, beta h1 + (1 - beta) h2), beta h1 + (1 - beta) h2)],   beta = 0.5,

which D judges with that interpolated embedding (D itself never sees interpolations). As in the reference code the
interpolations pair neighbouring rows of the minibatch (rows 2i and 2i + 1: N // 2 of them) and G's step draws
fresh noise for the N matched and N // 2 interpolated rows, scored by one forward pass of D over all of them;
``int_weight`` (1 in the paper's eq. 5) weighs the interpolated rows' mean against the matched rows' mean, 0
switching GAN-INT off. The four methods of the paper: GAN (cls_weight=0, int_weight=0), GAN-CLS (0.5, 0), GAN-INT
(0, 1), GAN-INT-CLS (0.5, 1).

Settings of the paper (sec. 5): Adam, lr 2e-4, beta1 0.5, minibatch 64, z 100 from N(0, 1), 64 x 64 images, ngf 128,
ndf 64, the embedding projected to 128. The reference code's schedule halves the learning rate every 100 epochs of
600; advlab keeps it constant (an epoch of the built-in sets is a few iterations).

Differences from the reference code, each a choice of the data rather than the algorithm: an image's embedding h
is that of one of its captions drawn at random each time (the reference averages 4 captions' embeddings), and the
wrong text is a mismatched caption (the reference pairs the right text with a wrong image -- the same kind of
negative). Noise comes from the game's own generator (saved with the checkpoint, so resuming continues exactly on
any device); under torchrun each rank takes its rows of the whole minibatch's noise, so that 2 ranks draw what 1
process draws.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.checks import check_int, check_number
from advlab.core.distributed import Distributed
from advlab.core.errors import AdvlabError
from advlab.core.game import Game
from advlab.core.precision import Precision

METHODS = {"gan": (0.0, 0.0), "gan-cls": (0.5, 0.0), "gan-int": (0.0, 1.0), "gan-int-cls": (0.5, 1.0)}


def method_weights(method: str) -> tuple[float, float]:
    """(cls_weight, int_weight) of one of the paper's four methods: gan, gan-cls, gan-int, gan-int-cls."""
    if method not in METHODS:
        raise AdvlabError(f"unknown text-to-image method {method!r}; choose one of {', '.join(METHODS)}")
    return METHODS[method]


def discriminator_loss(real_logits: Tensor, wrong_logits: Tensor | None, fake_logits: Tensor,
                       cls_weight: float = 0.5) -> Tensor:
    """-L_D of Algorithm 1 from D's logits: -[mean log s_r + w mean log(1 - s_w) + (1 - w) mean log(1 - s_f)],
    w = cls_weight (0.5: the paper's (log(1 - s_w) + log(1 - s_f)) / 2). ``wrong_logits`` may be None when w = 0.
    Each mean is over its rows; log s = -softplus(-logit), log(1 - s) = -softplus(logit)."""
    loss = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    loss = loss + (1 - cls_weight) * F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    if cls_weight:
        if wrong_logits is None:
            raise ValueError("cls_weight > 0 needs D's logits on real images with wrong text")
        loss = loss + cls_weight * F.binary_cross_entropy_with_logits(wrong_logits, torch.zeros_like(wrong_logits))
    return loss


def generator_loss(fake_logits: Tensor, interpolated_logits: Tensor | None = None, int_weight: float = 1.0) -> Tensor:
    """-L_G: -mean log s_f (non-saturating), plus int_weight * -mean log D(G(z, h_int), h_int) (eq. 5) when
    interpolated rows' logits are given."""
    loss = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    if interpolated_logits is not None and len(interpolated_logits) and int_weight:
        loss = loss + int_weight * F.binary_cross_entropy_with_logits(
            interpolated_logits, torch.ones_like(interpolated_logits))
    return loss


def interpolate_embeddings(first: Tensor, second: Tensor, beta: float = 0.5) -> Tensor:
    """beta * h1 + (1 - beta) * h2 (eq. 5; beta = 0.5: the mean of the two embeddings)."""
    return beta * first + (1 - beta) * second


def paired_interpolations(embeddings: Tensor, beta: float = 0.5) -> Tensor:
    """Interpolations of neighbouring rows: row i of the result mixes rows 2i (weight beta) and 2i + 1; (N // 2, E)."""
    pairs = len(embeddings) // 2
    return interpolate_embeddings(embeddings[0:2 * pairs:2], embeddings[1:2 * pairs:2], beta)


class GanIntCls(Game):
    """The GAN-INT-CLS game (module docstring): G and a matching-aware D conditioned on a frozen text encoder.

    Args:
        generator: (z (N, z_dim), h (N, E)) -> (N, C, H, W) [0, 1], e.g. ``TextToImageGenerator``; needs ``z_dim``.
        discriminator: (images, h) -> logits (N,), e.g. ``MatchingAwareDiscriminator``.
        text_encoder: tokens (N, L) long -> h (N, E); frozen (eval mode, no gradients) and saved with the players
            (as "text_encoder") so that a checkpoint holds everything sampling needs.
        lr: Adam learning rate of both players (2e-4 in the paper).
        betas: Adam's betas ((0.5, 0.999) in the paper).
        cls_weight: weight of the wrong-text term in D's loss (0.5: GAN-CLS; 0: no matching-aware term).
        int_weight: weight of the interpolated embeddings' term in G's loss (1: GAN-INT, eq. 5; 0: off).
        int_beta: beta of the interpolation (0.5 in the paper).
        seed: seeds the game's noise generator.
        dist: the torchrun context (a world of 1 by default).
        precision: autocast and loss scaling (fp32 by default).

    `train_iteration(images, tokens, mismatched_tokens)` records d_loss (-L_D), g_loss (-L_G), s_r, s_w, s_f (D's
    mean probabilities on real/right, real/wrong and fake/right, before D's step; s_w is measured without training
    on it when cls_weight is 0) and, when int_weight > 0, s_int (D's mean probability on the interpolated fakes
    during G's step).
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, text_encoder: nn.Module, lr: float = 2e-4,
                 betas: tuple[float, float] = (0.5, 0.999), cls_weight: float = 0.5, int_weight: float = 1.0,
                 int_beta: float = 0.5, seed: int = 0, dist: Distributed | None = None,
                 precision: Precision | None = None):
        check_number("lr", lr, strict=True)
        if not 0 <= check_number("cls_weight", cls_weight) < 1:
            raise AdvlabError(f"cls_weight must be in [0, 1) (0.5 in the paper), got {cls_weight}")
        check_number("int_weight", int_weight)
        if not 0 <= check_number("int_beta", int_beta) <= 1:
            raise AdvlabError(f"int_beta must be in [0, 1] (0.5 in the paper), got {int_beta}")
        self.generator, self.discriminator, self.text_encoder = generator, discriminator, text_encoder
        self.cls_weight, self.int_weight, self.int_beta = float(cls_weight), float(int_weight), float(int_beta)
        self.z_dim = check_int("generator.z_dim", getattr(generator, "z_dim", None), 1)
        text_encoder.eval().requires_grad_(False)
        players = {"generator": generator, "discriminator": discriminator, "text_encoder": text_encoder}
        optimizers = {"generator": torch.optim.Adam(generator.parameters(), lr=lr, betas=betas),
                      "discriminator": torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)}
        super().__init__(players, optimizers, dist, precision)
        device = next(generator.parameters()).device
        self.noise = torch.Generator(device=device)
        self.noise.manual_seed(seed)

    # -- pieces -------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, tokens: Tensor) -> Tensor:
        """h = phi(t) of (N, L) tokens with the frozen encoder: (N, E) float."""
        self.text_encoder.eval()
        return self.text_encoder(tokens).float()

    def draw_noise(self, rows: int) -> Tensor:
        """This rank's `rows` rows of N(0, 1) noise drawn for the whole minibatch (rows * world size)."""
        world = self.dist.world_size
        z = torch.randn(rows * world, self.z_dim, generator=self.noise, device=self.noise.device)
        return z[self.dist.rank * rows:(self.dist.rank + 1) * rows]

    def extra_state(self) -> dict[str, Tensor]:
        return {"noise_rng": self.noise.get_state()}

    def restore_extra(self, tensors: dict[str, Tensor]) -> None:
        if "noise_rng" in tensors:
            self.noise.set_state(tensors["noise_rng"].cpu())

    # -- one iteration ------------------------------------------------------------------------------------------
    def train_iteration(self, images: Tensor, tokens: Tensor, mismatched_tokens: Tensor,
                        record: bool = False) -> dict[str, float]:
        """One D step on (x, h), (x, h^) and (G(z, h), h), then one G step on fresh noise for the matched rows and
        the interpolated ones (Algorithm 1 with sec. 4.3)."""
        self.generator.train()
        self.discriminator.train()
        n = len(images)
        h, wrong = self.embed(tokens), self.embed(mismatched_tokens)
        with torch.no_grad(), self.precision.autocast():
            fakes = self.generator(self.draw_noise(n), h)
        with self.precision.autocast():
            real_logits = self.discriminator(images, h).float()
            fake_logits = self.discriminator(fakes, h).float()
            if self.cls_weight:
                wrong_logits = self.discriminator(images, wrong).float()
            d_loss = discriminator_loss(real_logits, wrong_logits if self.cls_weight else None, fake_logits,
                                        self.cls_weight)
        if not self.cls_weight and record:
            with torch.no_grad(), self.precision.autocast():
                wrong_logits = self.discriminator(images, wrong).float()
        self.update(d_loss, "discriminator")
        stats = {"d_loss": d_loss, "s_r": torch.sigmoid(real_logits).mean(),
                 "s_f": torch.sigmoid(fake_logits).mean()}
        if self.cls_weight or record:
            stats["s_w"] = torch.sigmoid(wrong_logits).mean()
        g_loss, interpolated = self.generator_step(h, n)
        stats["g_loss"] = g_loss
        if interpolated is not None:
            stats["s_int"] = torch.sigmoid(interpolated).mean()
        result = self.statistics(stats) if record else {}
        self.end_iteration()
        return result

    def generator_step(self, h: Tensor, n: int) -> tuple[Tensor, Tensor | None]:
        """G's step: -L_G on N matched rows (and N // 2 interpolated rows when int_weight > 0), judged by the
        frozen D in one pass; returns (the loss, the interpolated rows' logits or None)."""
        conditions, z = h, self.draw_noise(n)
        if self.int_weight:
            mixed = paired_interpolations(h, self.int_beta)
            conditions = torch.cat([h, mixed])
            z = torch.cat([z, self.draw_noise(len(mixed))])
        with self.precision.autocast(), self.frozen(self.discriminator):
            logits = self.discriminator(self.generator(z, conditions), conditions).float()
            interpolated = logits[n:] if self.int_weight else None
            g_loss = generator_loss(logits[:n], interpolated, self.int_weight)
        self.update(g_loss, "generator")
        return g_loss, interpolated

    # -- inference ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, tokens: Tensor, z: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """G's images (N, C, H, W) in [0, 1] for (N, L) tokens, in eval mode (the reference demo's evaluate()),
        from `z` or fresh N(0, 1) noise of `generator`."""
        return synthesise(self.generator, self.embed(tokens), z, generator)


def synthesise(generator: nn.Module, embeddings: Tensor, z: Tensor | None = None,
               noise: torch.Generator | None = None) -> Tensor:
    """G(z, h) in eval mode for (N, E) embeddings; z (N, z_dim) or drawn from `noise`; [0, 1] images out."""
    if z is None:
        device = embeddings.device
        z = torch.randn(len(embeddings), generator.z_dim, generator=noise, device=noise.device if noise else device)
    was_training = generator.training
    generator.eval()
    try:
        with torch.no_grad():
            return generator(z.to(embeddings.device), embeddings).float()
    finally:
        generator.train(was_training)


class ScaledEncoder(nn.Module):
    """phi(t) * scale: a text encoder's output brought to the scale the players expect. advlab's encoder returns
    unit-length vectors (coordinates ~ 1/sqrt(E)); the reference's char-CNN-RNN features are O(1) per coordinate,
    so the pipelines scale by sqrt(E) (unit root-mean-square coordinates): G's projection then starts on the scale
    of z instead of having to grow its weights sqrt(E)-fold at Adam's pace of about lr per step. The scale is a
    buffer, saved with the encoder's weights.

    Args:
        encoder: tokens (N, L) -> (N, E).
        scale: the factor.
    """

    def __init__(self, encoder: nn.Module, scale: float):
        super().__init__()
        self.encoder = encoder
        self.register_buffer("scale", torch.tensor(float(scale)))

    def forward(self, tokens: Tensor) -> Tensor:
        return self.encoder(tokens) * self.scale


def _parts(game_or_generator, encoder: nn.Module | None) -> tuple[nn.Module, nn.Module]:
    if isinstance(game_or_generator, GanIntCls):
        return game_or_generator.generator, encoder or game_or_generator.text_encoder
    if encoder is None:
        raise ValueError("a generator needs its text encoder")
    return game_or_generator, encoder


def encode_texts(vocabulary, texts: Sequence[str], caption_length: int, device: torch.device) -> Tensor:
    """(len(texts), caption_length) tokens; an unknown word is the vocabulary's AdvlabError naming it."""
    if not texts:
        raise AdvlabError("no text to draw: give at least one caption")
    return vocabulary.encode_all(list(texts), caption_length).to(device)


@torch.no_grad()
def generate(game_or_generator, encoder: nn.Module | None, vocabulary, texts: Sequence[str], n_per_text: int = 8,
             seed: int = 0, caption_length: int = 16) -> Tensor:
    """Images for captions: (len(texts) * n_per_text, C, H, W) in [0, 1], text i's samples in rows
    [i * n_per_text, (i + 1) * n_per_text), each from its own z ~ N(0, 1) (seeded; the same z for every text).

    Args:
        game_or_generator: a trained GanIntCls (its encoder is used when `encoder` is None) or a generator.
        encoder: the frozen text encoder (tokens -> embeddings), or None with a game.
        vocabulary: the encoder's vocabulary (``encode_all(captions, length)``); a word it never saw is an
            AdvlabError naming the word.
        texts: the captions.
        n_per_text: samples per caption.
        seed: seeds the noise.
        caption_length: tokens per caption (the data set's caption length, stored with the run).
    """
    generator, encoder = _parts(game_or_generator, encoder)
    check_int("n_per_text", n_per_text, 1)
    device = next(generator.parameters()).device
    encoder.eval()
    h = encoder(encode_texts(vocabulary, texts, caption_length, device)).float()
    noise = torch.Generator(device=device)
    noise.manual_seed(seed)
    z = torch.randn(n_per_text, generator.z_dim, generator=noise, device=device)
    return synthesise(generator, h.repeat_interleave(n_per_text, dim=0), z.repeat(len(texts), 1))


@torch.no_grad()
def interpolate(game_or_generator, encoder: nn.Module | None, vocabulary, first: str, second: str,
                steps: int = 8, n: int = 4, seed: int = 0, caption_length: int = 16) -> Tensor:
    """Fig. 5 of Reed et al.: images along beta * phi(first) + (1 - beta) * phi(second), beta from 1 to 0 in
    `steps` steps, with the noise of each row held fixed: (n * steps, C, H, W) in [0, 1], row r in
    [r * steps, (r + 1) * steps). Arguments as `generate`."""
    generator, encoder = _parts(game_or_generator, encoder)
    check_int("steps", steps, 2)
    check_int("n", n, 1)
    device = next(generator.parameters()).device
    encoder.eval()
    h = encoder(encode_texts(vocabulary, [first, second], caption_length, device)).float()
    betas = torch.linspace(1, 0, steps, device=device)[:, None]
    mixed = interpolate_embeddings(h[0:1], h[1:2], betas)  # (steps, E)
    noise = torch.Generator(device=device)
    noise.manual_seed(seed)
    z = torch.randn(n, generator.z_dim, generator=noise, device=device)
    return synthesise(generator, mixed.repeat(n, 1), z.repeat_interleave(steps, dim=0))


__all__ = ["GanIntCls", "METHODS", "ScaledEncoder", "discriminator_loss", "generate", "generator_loss", "interpolate",
           "interpolate_embeddings", "method_weights", "paired_interpolations", "synthesise"]
