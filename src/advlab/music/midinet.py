"""MidiNet: melodies one bar at a time from a convolutional GAN conditioned on chords and the previous bar (Yang,
Chou & Yang 2017, "MidiNet: a convolutional generative adversarial network for symbolic-domain music generation",
ISMIR). The players are advlab.models.midinet's; this module is their game, and sequential generation.

The game (sec. 3 of the paper; the numbers are those of the authors' code, RichardYang40148/MidiNet v1/model.py):

    D descends  L_D = BCE(D(x, c), 0.9) + BCE(D(G(z, c, p), c), 0)
    G descends  L_G = BCE(D(G(z, c, p), c), 1)
                      + lambda_f * 1/2 || mean_n f(x) - mean_n f(G(z, c, p)) ||^2        (feature matching)
                      + lambda_x * 1/2 || mean_n x    - mean_n G(z, c, p)    ||^2

for real bars x with chords c and previous bars p, noise z ~ N(0, I) (100-d). The 0.9 is one-sided label
smoothing (Salimans et al. 2016): only D's target for real bars is softened. f is the output of D's first
convolution and the means run over the minibatch; lambda_f = 0.1 (features) and lambda_x = 0.01 (the bars
themselves), the code's values (1/2 ||.||^2 is TensorFlow's l2_loss). The paper's "creativity" knobs are these two
weights and how many of G's layers see the previous bar (advlab.models.midinet). G's first term is the
non-saturating loss. Each iteration takes one step of D and then, as the authors' code does ("run g_optim twice to
make sure that d_loss does not go to zero (different from paper)"), ``generator_steps`` = 2 steps of G on the same
z, chords and previous bars. Adam with lr 2e-4 and beta1 0.5 for both (the code's DCGAN settings), minibatch 72.

Under torchrun each rank draws the whole minibatch's noise from the game's own generator and keeps its share, so
the noise is that of one process; the minibatch means of feature matching, like batch norm's statistics, are
taken over each rank's share.

Generation (sec. 3, "conditioner CNN"; `generate`): bar 1 from z and its chord, its previous bar all zeros (as the
first bar of every training phrase) or a primer bar; bar t from a fresh z, chord t and bar t - 1 as generated and
binarised. G's sigmoid outputs are turned into a monophonic bar (`binarize`): at each time step the pitch of the
largest output, where the step's outputs sum to more than ``threshold`` (0.5 by default: a note is likelier than
a rest), else a silent step. The authors' demo takes the argmax at every step, so that their melodies never rest
(``threshold=0``); the training melodies of advlab.data.melodies have rests, hence the threshold. The generator
runs in eval mode (batch norm's running statistics), so a melody does not depend on the others drawn with
it (the authors' sampler used each minibatch's statistics).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.distributed import Distributed
from advlab.core.errors import AdvlabError
from advlab.core.game import Game
from advlab.core.precision import Precision
from advlab.models.midinet import PITCHES, STEPS

REAL_LABEL, FEATURE_WEIGHT, DATA_WEIGHT, GENERATOR_STEPS = 0.9, 0.1, 0.01, 2


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor, real_label: float = REAL_LABEL) -> Tensor:
    """L_D = BCE(D(x), real_label) + BCE(D(G(z)), 0), each the mean over the minibatch: mean softplus(-real) * l
    + mean softplus(real) * (1 - l) + mean softplus(fake), with l = real_label (0.9: one-sided label smoothing)."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_gan_loss(fake_logits: Tensor) -> Tensor:
    """G's non-saturating term: BCE(D(G(z)), 1) = mean softplus(-D(G(z)))."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def mean_matching(real: Tensor, fake: Tensor) -> Tensor:
    """1/2 || mean_n real - mean_n fake ||^2, summed over every other axis (TensorFlow's l2_loss of the difference
    of the minibatch means): the feature-matching distance of Salimans et al. 2016 that MidiNet applies to D's
    first-layer features and to the bars."""
    return 0.5 * (real.float().mean(0) - fake.float().mean(0)).pow(2).sum()


def binarize(probabilities: Tensor, threshold: float = 0.5) -> Tensor:
    """Sigmoid outputs (..., 16, 128) -> a monophonic piano roll of the same shape in {0, 1}: at each time step a 1
    at the largest output where the step's outputs sum to more than `threshold`, else an all-zero (silent) step.
    Threshold 0 (or below) puts a note on every step, as the authors' demo does.

    The sum is G's estimate of the chance that the step sounds: the real steps it imitates hold exactly one 1 (a
    note) or none (a rest), and the bar-mean matching term pulls the outputs' sum per step to the data's share of
    sounding steps. The largest output alone is no such estimate: where G hesitates between neighbouring pitches
    it spreads the step's mass over them and no single output passes one half (with "largest output > 0.5", a
    3,000-iteration run on bach left 19% of the steps silent against 8% in the held-out chorales; with the sum,
    9%)."""
    best = probabilities.argmax(dim=-1, keepdim=True)
    onehot = torch.zeros_like(probabilities).scatter_(-1, best, 1.0)
    if threshold <= 0:
        return onehot
    return onehot * (probabilities.sum(dim=-1, keepdim=True) > threshold).to(probabilities.dtype)


class MidiNet(Game):
    """The MidiNet game: G(z, chord, previous bar) against a chord-conditioned D, with feature matching and
    one-sided label smoothing.

    Args:
        generator: advlab.models.MidiNetGenerator (or any module (z, chords, previous) -> (N, 1, 16, 128) in
            [0, 1] with a ``noise_dim``).
        discriminator: advlab.models.MidiNetDiscriminator (or any module (bars, chords) -> (logits (N,),
            features)).
        lr: Adam learning rate of both players (2e-4, the code's).
        betas: Adam's betas ((0.5, 0.999)).
        real_label: D's target for real bars (0.9: one-sided label smoothing; 1.0 turns it off).
        feature_weight: lambda_f, weight of feature matching on D's first-layer features (0.1).
        data_weight: lambda_x, weight of matching the minibatch mean of the bars themselves (0.01).
        generator_steps: G steps per D step (2, as the authors' code; the paper describes 1).
        seed: seeds the game's noise generator (saved in checkpoints: a resumed run draws the same noise).
        dist: the torchrun context (a world of 1 by default).
        precision: autocast and loss scaling (fp32 by default).

    `train_iteration(bars, previous, chords)` takes what advlab.data.melodies.MelodyBars.sample returns: bars and
    previous bars (N, 1, 16, 128), chords (N, 13). It records d_loss, d_real and d_fake (D's mean probability of
    "real" on real and generated bars, before its step), and from G's last step g_gan, g_feature (the feature
    matching distance, unweighted), g_data (the bar-mean distance, unweighted) and g_loss (what G descends).
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, lr: float = 2e-4,
                 betas: tuple[float, float] = (0.5, 0.999), real_label: float = REAL_LABEL,
                 feature_weight: float = FEATURE_WEIGHT, data_weight: float = DATA_WEIGHT,
                 generator_steps: int = GENERATOR_STEPS, seed: int = 0, dist: Distributed | None = None,
                 precision: Precision | None = None):
        if lr <= 0 or not 0 < real_label <= 1 or min(feature_weight, data_weight) < 0 or generator_steps < 1:
            raise AdvlabError(f"MidiNet needs lr > 0, 0 < real_label <= 1, non-negative loss weights and at least "
                              f"one generator step; got lr={lr}, real_label={real_label}, feature_weight="
                              f"{feature_weight}, data_weight={data_weight}, generator_steps={generator_steps}")
        self.generator, self.discriminator = generator, discriminator
        self.real_label, self.feature_weight, self.data_weight = float(real_label), feature_weight, data_weight
        self.generator_steps = int(generator_steps)
        players = {"generator": generator, "discriminator": discriminator}
        optimizers = {name: torch.optim.Adam(module.parameters(), lr=lr, betas=betas)
                      for name, module in players.items()}
        super().__init__(players, optimizers, dist, precision)
        device = next(generator.parameters()).device
        self.noise = torch.Generator(device=device)
        self.noise.manual_seed(seed)

    def draw_noise(self, rows: int) -> Tensor:
        """z for this rank's `rows`: the whole minibatch's noise (rows x world size) drawn once, this rank's share
        kept, so that the noise does not depend on the number of processes."""
        total = rows * self.dist.world_size
        z = torch.randn(total, self.generator.noise_dim, generator=self.noise, device=self.noise.device)
        return z[self.dist.shard(total)]

    def train_iteration(self, bars: Tensor, previous: Tensor, chords: Tensor, record: bool = False) -> dict[str, float]:
        """One D step on real bars and G(z, chords, previous), then `generator_steps` G steps on the same z."""
        G, D = self.generator, self.discriminator
        G.train()
        D.train()
        z = self.draw_noise(len(bars))
        with self.precision.autocast():
            fake = G(z, chords, previous)
            real_logits, _ = D(bars, chords)
            fake_logits, _ = D(fake.detach(), chords)
            d_loss = discriminator_loss(real_logits.float(), fake_logits.float(), self.real_label)
        self.update(d_loss, "discriminator")
        stats = {"d_loss": d_loss, "d_real": torch.sigmoid(real_logits.float()).mean(),
                 "d_fake": torch.sigmoid(fake_logits.float()).mean()}
        for step in range(self.generator_steps):
            with self.precision.autocast():
                if step:  # G moved: generate again from the same z (the first step reuses D's fake bars)
                    fake = G(z, chords, previous)
                with self.frozen(D):
                    with torch.no_grad():
                        real_features = self.real_features(bars, chords)
                    logits, fake_features = D(fake, chords)
                g_gan = generator_gan_loss(logits.float())
                g_feature = mean_matching(real_features, fake_features)
                g_data = mean_matching(bars, fake)
                g_loss = g_gan + self.feature_weight * g_feature + self.data_weight * g_data
            self.update(g_loss, "generator")
        stats.update(g_gan=g_gan, g_feature=g_feature, g_data=g_data, g_loss=g_loss)
        result = self.statistics(stats) if record else {}
        self.end_iteration()
        return result

    def real_features(self, bars: Tensor, chords: Tensor) -> Tensor:
        """f(x) of the real bars under the current D: its ``features`` method where it has one (only the first
        layer runs, as in the authors' graph), else the second output of a whole pass."""
        features = getattr(self.discriminator, "features", None)
        return features(bars, chords) if callable(features) else self.discriminator(bars, chords)[1]

    def extra_state(self) -> dict[str, Tensor]:
        return {"noise": self.noise.get_state()}

    def restore_extra(self, tensors: dict[str, Tensor]) -> None:
        if "noise" in tensors:
            self.noise.set_state(tensors["noise"])

    def generate(self, n: int, bars: int, chords: Sequence[str] | Tensor | None = None, seed: int = 0,
                 progressions: Sequence[Tensor] | None = None, primer: Tensor | None = None,
                 threshold: float = 0.5) -> Tensor:
        """`generate` with this game's generator."""
        return generate(self.generator, n, bars, chords, seed, progressions, primer, threshold)


def chord_rows(chords: Sequence[str] | Tensor, bars: int) -> Tensor:
    """Chord names ("C", "Am", ...) or a (B, 13) tensor -> (bars, 13), the progression repeated or cut to `bars`."""
    if isinstance(chords, Tensor):
        table = chords.float()
    else:
        from advlab.music.chords import chord_vector  # beside this module: the 13-d encoding of a chord name

        if not chords:
            raise AdvlabError("no chords given: pass at least one chord name, e.g. C,G,Am,F")
        table = torch.stack([chord_vector(name) for name in chords]).float()
    if table.dim() != 2 or len(table) == 0:
        raise AdvlabError(f"chords must be a (bars, chord_dim) table, got {tuple(table.shape)}")
    return table[torch.arange(bars) % len(table)]


def draw_progressions(progressions: Sequence[Tensor], n: int, bars: int, generator: torch.Generator) -> Tensor:
    """n chord progressions (n, bars, 13), each that of a phrase drawn uniformly (with replacement) from
    `progressions` (the training phrases' (B, 13) chords), repeated or cut to `bars`."""
    if not progressions:
        raise AdvlabError("no chord progressions to draw from: pass chords (e.g. C,G,Am,F)")
    picks = torch.randint(len(progressions), (n,), generator=generator).tolist()
    return torch.stack([chord_rows(progressions[i], bars) for i in picks])


def primer_rows(primer: Tensor | None, n: int, pitches: int) -> Tensor:
    """The previous bar of bar 1 for n melodies, (n, 1, 16, pitches): zeros, or `primer` (one bar (16, pitches)
    for all, or one per melody, (n, 16, pitches) or (n, 1, 16, pitches))."""
    if primer is None:
        return torch.zeros(n, 1, STEPS, pitches)
    primer = primer.float().cpu()
    if primer.dim() == 2:
        primer = primer[None]
    if primer.dim() == 3:
        primer = primer[:, None]
    if primer.dim() != 4 or tuple(primer.shape[1:]) != (1, STEPS, pitches) or len(primer) not in (1, n):
        raise AdvlabError(f"a primer bar must be ({STEPS}, {pitches}) or one per melody ({n}, 1, {STEPS}, {pitches}), "
                          f"got {tuple(primer.shape)}")
    return primer.expand(n, -1, -1, -1).clone()


@torch.no_grad()
def generate(generator: nn.Module, n: int, bars: int, chords: Sequence[str] | Tensor | None = None, seed: int = 0,
             progressions: Sequence[Tensor] | None = None, primer: Tensor | None = None,
             threshold: float = 0.5) -> Tensor:
    """n melodies of `bars` bars, one bar at a time (MidiNet's sequential generation): bar t from fresh noise, chord
    t and the binarised bar t - 1 (all zeros, or `primer`, before bar 1).

    Args:
        generator: a MidiNet generator (eval mode is used and restored afterwards).
        n: melodies.
        bars: bars per melody (at least 1).
        chords: the progression every melody follows, as chord names (["C", "G", "Am", "F"]) or a (B, 13) tensor,
            repeated or cut to `bars`; or (n, bars, 13), one per melody; None: one progression per melody drawn
            from `progressions`.
        seed: seeds the noise and the progressions drawn (a CPU generator: the same melodies on any device).
        progressions: the chord progressions (each (B, 13)) of the training phrases, to draw from when `chords` is
            None.
        primer: the bar before bar 1 ((16, 128), or (n, 1, 16, 128)); None: a silent bar.
        threshold: `binarize`'s threshold (0.5).

    Returns:
        (n, bars, 16, 128) float tensor in {0, 1}, on the CPU, at most one note per time step.
    """
    if n < 1 or bars < 1:
        raise AdvlabError(f"generation needs n >= 1 melodies of bars >= 1, got n={n}, bars={bars}")
    rng = torch.Generator().manual_seed(seed)
    if chords is None:
        table = draw_progressions(progressions or [], n, bars, rng)
    elif isinstance(chords, Tensor) and chords.dim() == 3:
        if tuple(chords.shape[:2]) != (n, bars):
            raise AdvlabError(f"per-melody chords must be ({n}, {bars}, chord_dim), got {tuple(chords.shape)}")
        table = chords.float().cpu()
    else:
        table = chord_rows(chords, bars)[None].expand(n, -1, -1)
    pitches = getattr(generator, "pitches", PITCHES)
    previous = primer_rows(primer, n, pitches)
    noise = torch.randn(bars, n, generator.noise_dim, generator=rng)
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    try:
        melody = []
        for t in range(bars):
            out = generator(noise[t].to(device), table[:, t].to(device), previous.to(device)).float().cpu()
            previous = binarize(out, threshold)
            melody.append(previous[:, 0])
    finally:
        generator.train(was_training)
    return torch.stack(melody, dim=1)


__all__ = ["MidiNet", "binarize", "discriminator_loss", "draw_progressions", "generate", "generator_gan_loss",
           "mean_matching"]
