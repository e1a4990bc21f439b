"""MidiNet (advlab.models.midinet, advlab.music.midinet): shapes, the conditions that steer G, the losses at their
definition, the update schedule, exact resume and sequential generation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.models.midinet import (
    MidiNetDiscriminator,
    MidiNetGenerator,
    broadcast,
    full_width_conv,
    join,
    width_one_transposed_conv,
)
from advlab.music.midinet import (
    MidiNet,
    binarize,
    discriminator_loss,
    generate,
    generator_gan_loss,
    mean_matching,
)

SMALL = {"width": 8, "hidden": 32, "conditioner_width": 4}


def melody_bars(n: int, seed: int = 0) -> torch.Tensor:
    """n monophonic bars (n, 1, 16, 128): a note in C4-B4 at every time step."""
    g = torch.Generator().manual_seed(seed)
    pitches = torch.randint(60, 72, (n, 16), generator=g)
    return torch.zeros(n, 1, 16, 128).scatter_(3, pitches[:, None, :, None], 1.0)


def chord_table(n: int, root: int = 0, minor: bool = False) -> torch.Tensor:
    chords = torch.zeros(n, 13)
    chords[:, root] = 1.0
    chords[:, 12] = float(minor)
    return chords


def small_players(seed: int = 0, previous_layers: int = 4) -> tuple[MidiNetGenerator, MidiNetDiscriminator]:
    torch.manual_seed(seed)
    return (MidiNetGenerator(previous_layers=previous_layers, **SMALL),
            MidiNetDiscriminator(width=8, hidden=32))


def perturbed(module: nn.Module, seed: int = 1) -> nn.Module:
    """Every parameter moved off its initialisation (biases start at zero, which would hide some inputs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    return module


def test_shapes_and_ranges():
    G, D = MidiNetGenerator(), MidiNetDiscriminator()
    z, chords, previous = torch.randn(3, 100), chord_table(3), melody_bars(3)
    bars = G(z, chords, previous)
    assert bars.shape == (3, 1, 16, 128) and 0 <= bars.min() and bars.max() <= 1
    logits, features = D(bars, chords)
    assert logits.shape == (3,) and features.shape == (3, 14, 8, 1)
    # the reference sizes: 157 input channels to every transposed convolution, 77 filters in D's second layer
    assert G.ups[0].in_channels == 157 and G.out.in_channels == 157 and D.conv2.out_channels == 77


def test_fast_paths_equal_the_convolutions():
    torch.manual_seed(0)
    cases = [(nn.Conv2d(1, 16, (1, 128), stride=(1, 2)), torch.randn(4, 1, 16, 128), full_width_conv),
             (nn.Conv2d(16, 16, (2, 1), stride=(2, 2)), torch.randn(4, 16, 16, 1), full_width_conv),
             (nn.Conv2d(27, 77, (4, 1), stride=(2, 2)), torch.randn(4, 27, 8, 1), full_width_conv),
             (nn.ConvTranspose2d(157, 128, (2, 1), stride=(2, 2)), torch.randn(4, 157, 8, 1),
              width_one_transposed_conv),
             (nn.ConvTranspose2d(157, 1, (1, 128), stride=(1, 2)), torch.randn(4, 157, 16, 1),
              width_one_transposed_conv)]
    for module, x, fast in cases:
        expected = module(x)
        assert fast(module, x).shape == expected.shape
        assert torch.allclose(fast(module, x), expected, atol=1e-5)
    D = perturbed(MidiNetDiscriminator())
    bars, chords = melody_bars(4), torch.rand(4, 13)
    assert torch.allclose(D.first_layer(bars, chords), D.conv1(join(bars, broadcast(chords, bars))), atol=1e-5)


def test_previous_bar_changes_the_output():
    G = perturbed(MidiNetGenerator(**SMALL)).eval()
    z, chords = torch.randn(4, 100), chord_table(4)
    one, other = G(z, chords, melody_bars(4, seed=1)), G(z, chords, melody_bars(4, seed=2))
    assert (one - other).abs().max() > 1e-3
    assert torch.equal(G(z, chords, melody_bars(4, seed=1)), one)  # and nothing else does
    blind = perturbed(MidiNetGenerator(previous_layers=0, **SMALL)).eval()
    assert torch.equal(blind(z, chords, melody_bars(4, seed=1)), blind(z, chords, melody_bars(4, seed=2)))


def test_previous_layers_choose_where_the_conditioner_enters():
    full, last = MidiNetGenerator(**SMALL), MidiNetGenerator(previous_layers=1, **SMALL)
    assert [full.receives_previous(i) for i in range(4)] == [True] * 4
    assert [last.receives_previous(i) for i in range(4)] == [False, False, False, True]
    assert last.ups[0].in_channels == 16 + 13 and last.out.in_channels == 16 + 13 + 4
    with pytest.raises(AdvlabError, match="previous_layers"):
        MidiNetGenerator(previous_layers=5)


def test_chord_changes_the_output():
    G = perturbed(MidiNetGenerator(**SMALL)).eval()
    z, previous = torch.randn(4, 100), melody_bars(4)
    c_major, a_minor = G(z, chord_table(4, 0), previous), G(z, chord_table(4, 9, minor=True), previous)
    assert (c_major - a_minor).abs().max() > 1e-3
    D = perturbed(MidiNetDiscriminator())
    bars = melody_bars(4)
    assert (D(bars, chord_table(4, 0))[0] - D(bars, chord_table(4, 7))[0]).abs().max() > 1e-4


def test_bad_shapes_are_refused():
    G, D = MidiNetGenerator(**SMALL), MidiNetDiscriminator()
    with pytest.raises(AdvlabError, match="previous bars"):
        G(torch.randn(2, 100), chord_table(2), torch.zeros(2, 1, 16, 64))
    with pytest.raises(AdvlabError, match="chords"):
        D(melody_bars(2), torch.zeros(2, 12))
    with pytest.raises(AdvlabError, match="noise"):
        G(torch.randn(2, 10), chord_table(2), melody_bars(2))


def test_discriminator_loss_at_its_definition():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    softplus = lambda x: math.log1p(math.exp(x))  # noqa: E731
    expected = (sum(0.9 * softplus(-r) + 0.1 * softplus(r) for r in (2.0, -1.0)) / 2
                + sum(softplus(f) for f in (0.5, -3.0)) / 2)
    assert discriminator_loss(real, fake).item() == pytest.approx(expected, rel=1e-6)
    # one-sided: the real logit's optimum is log(0.9 / 0.1), not +infinity; the fake target stays 0
    r = torch.tensor([math.log(9.0)], requires_grad=True)
    discriminator_loss(r, torch.tensor([-50.0])).backward()
    assert abs(r.grad.item()) < 1e-6
    no_smoothing = discriminator_loss(real, fake, real_label=1.0).item()
    assert no_smoothing == pytest.approx((softplus(-2.0) + softplus(1.0)) / 2 + (softplus(0.5) + softplus(-3.0)) / 2)


def test_mean_matching_by_hand():
    real = torch.tensor([[1.0, 0.0], [0.0, 0.0]])  # means (0.5, 0)
    fake = torch.tensor([[0.0, 1.0], [0.0, 1.0]])  # means (0, 1)
    assert mean_matching(real, fake).item() == pytest.approx(0.5 * (0.25 + 1.0))
    assert generator_gan_loss(torch.tensor([0.0])).item() == pytest.approx(math.log(2.0))


class FixedBars(nn.Module):
    """A stand-in G: the same bar sigmoid(p) for every row, whatever z, chord and previous bar; counts its calls."""

    noise_dim, pitches = 100, 128

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.zeros(1, 1, 16, 128))
        self.calls = 0

    def forward(self, z, chords, previous):
        self.calls += 1
        return torch.sigmoid(self.p).expand(len(z), -1, -1, -1)


class HandSetD(nn.Module):
    """A stand-in D: logit `logit` for every bar; features = the bars' time-step sums (N, 16); one unused weight so
    that it has something for Adam to hold."""

    def __init__(self, logit: float):
        super().__init__()
        self.logit, self.w = logit, nn.Parameter(torch.zeros(()))

    def forward(self, bars, chords):
        return torch.full((len(bars),), self.logit) + 0 * self.w, bars.sum(dim=3)[:, 0]


def test_game_losses_at_their_definition_on_a_hand_set_discriminator():
    G, D = FixedBars(), HandSetD(logit=1.5)
    game = MidiNet(G, D, generator_steps=1)
    real, chords = melody_bars(6), chord_table(6)
    stats = game.train_iteration(real, torch.zeros_like(real), chords, record=True)
    softplus = lambda x: math.log1p(math.exp(x))  # noqa: E731
    assert stats["d_loss"] == pytest.approx(0.9 * softplus(-1.5) + 0.1 * softplus(1.5) + softplus(1.5), rel=1e-6)
    assert stats["d_real"] == pytest.approx(stats["d_fake"])
    assert stats["d_real"] == pytest.approx(1 / (1 + math.exp(-1.5)))
    fake = torch.full((16, 128), 0.5)  # sigmoid(0): G's output when its loss was measured
    g_data = 0.5 * (real[:, 0].mean(0) - fake).pow(2).sum().item()
    g_feature = 0.5 * (real[:, 0].sum(2).mean(0) - fake.sum(1)).pow(2).sum().item()  # features: 1 vs 64 per step
    assert stats["g_gan"] == pytest.approx(softplus(-1.5), rel=1e-6)
    assert stats["g_data"] == pytest.approx(g_data, rel=1e-5)
    assert stats["g_feature"] == pytest.approx(g_feature, rel=1e-5) and g_feature == pytest.approx(0.5 * 16 * 63 ** 2)
    assert stats["g_loss"] == pytest.approx(softplus(-1.5) + 0.1 * g_feature + 0.01 * g_data, rel=1e-5)


def test_generator_takes_two_steps_per_discriminator_step():
    G, D = FixedBars(), HandSetD(logit=0.0)
    game = MidiNet(G, D)  # the code's generator_steps=2
    real, chords = melody_bars(4), chord_table(4)
    for _ in range(3):
        game.train_iteration(real, torch.zeros_like(real), chords)
    steps = lambda name: int(game.optimizers[name].state_dict()["state"][0]["step"])  # noqa: E731
    assert steps("generator") == 6 and steps("discriminator") == 3
    assert G.calls == 6  # one pass reused from D's step, one fresh pass after G's first step, per iteration
    assert game.step == 3


def test_a_few_iterations_learn_and_report_every_statistic():
    G, D = small_players()
    game = MidiNet(G, D, seed=3)
    real, chords = melody_bars(16), chord_table(16)
    first = game.train_iteration(real, torch.zeros_like(real), chords, record=True)
    for _ in range(30):
        last = game.train_iteration(real, torch.zeros_like(real), chords, record=True)
    assert set(first) == {"d_loss", "d_real", "d_fake", "g_gan", "g_feature", "g_data", "g_loss"}
    assert all(math.isfinite(v) for v in last.values()) and game.check_finite()
    assert last["g_data"] < first["g_data"]  # G's mean bar moves toward the data's


def run_iterations(game: MidiNet, batches: list[tuple[torch.Tensor, ...]]) -> list[dict[str, float]]:
    return [game.train_iteration(*batch, record=True) for batch in batches]


def test_resume_continues_exactly():
    batches = [(melody_bars(8, seed=s), melody_bars(8, seed=s + 50), chord_table(8, s % 12)) for s in range(6)]
    torch.manual_seed(7)
    straight = MidiNet(*small_players(seed=1), seed=5)
    expected = run_iterations(straight, batches)
    torch.manual_seed(7)
    first = MidiNet(*small_players(seed=1), seed=5)
    run_iterations(first, batches[:3])
    tensors, meta = first.state()
    tensors = {k: v.clone() for k, v in tensors.items()}
    torch.manual_seed(123)  # anything in between
    second = MidiNet(*small_players(seed=99), seed=42)
    second.restore(tensors, meta, step=3)
    resumed = run_iterations(second, batches[3:])
    assert resumed == expected[3:]
    for (name, a), b in zip(straight.generator.state_dict().items(), second.generator.state_dict().values()):
        assert torch.equal(a, b), name


def test_binarize_by_hand():
    probs = torch.zeros(5, 128)
    probs[0, 60], probs[0, 64] = 0.7, 0.6  # the largest wins
    probs[1, 62] = 0.3  # the step's outputs sum to 0.3 < 0.5: a silent step
    probs[2, 67] = 0.51
    probs[3, 64], probs[3, 65] = 0.3, 0.25  # no output above one half, but a note is likelier than not: 64
    probs[4] = 0.003  # 0.384 spread thinly over every pitch: silent
    bar = binarize(probs)
    assert bar[0].nonzero().flatten().tolist() == [60] and bar[1].sum() == 0 and bar[2, 67] == 1
    assert bar[3].nonzero().flatten().tolist() == [64] and bar[4].sum() == 0
    assert bar.sum() == 3
    assert binarize(probs, threshold=0.56)[3].sum() == 0
    always = binarize(probs, threshold=0)
    assert (always.sum(dim=1) == 1).all() and always[1, 62] == 1


class Recorder(nn.Module):
    """A stand-in G that remembers what it was given and answers with a bar whose pitch depends on the chord's
    root and the bar's index (so that the previous bar fed back can be checked)."""

    noise_dim, pitches = 100, 128

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.inputs: list[tuple[torch.Tensor, ...]] = []

    def forward(self, z, chords, previous):
        self.inputs.append((z.clone(), chords.clone(), previous.clone()))
        out = torch.full((len(z), 1, 16, 128), 0.1)
        pitch = 48 + chords[:, :12].argmax(1) + len(self.inputs)
        out[torch.arange(len(z)), 0, :, pitch] = 0.9
        return out


def test_generate_feeds_back_each_binarised_bar():
    G = Recorder()
    chords = torch.eye(13)[[0, 7, 9, 5]]  # C, G, A, F roots (as tensors)
    melodies = generate(G, 3, 6, chords, seed=0)
    assert melodies.shape == (3, 6, 16, 128)
    assert (melodies.sum(dim=3) == 1).all()  # one note per step (every output peak is 0.9)
    assert torch.equal(G.inputs[0][2], torch.zeros(3, 1, 16, 128))  # bar 1: a silent previous bar
    for t in range(1, 6):
        assert torch.equal(G.inputs[t][2][:, 0], melodies[:, t - 1])
        root = [0, 7, 9, 5][t % 4]  # the progression repeats
        assert (G.inputs[t][1][:, root] == 1).all()
        assert (melodies[:, t].argmax(dim=2) == 48 + root + t + 1).all()
    assert not torch.equal(G.inputs[0][0], G.inputs[1][0])  # fresh noise for every bar


def test_generate_is_seeded_and_draws_progressions():
    G = perturbed(MidiNetGenerator(**SMALL))
    progressions = [torch.eye(13)[[0, 5, 7, 0]], torch.eye(13)[[9, 2, 4, 9]]]
    a = generate(G, 4, 5, seed=1, progressions=progressions)
    assert torch.equal(a, generate(G, 4, 5, seed=1, progressions=progressions))
    assert not torch.equal(a, generate(G, 4, 5, seed=2, progressions=progressions))
    assert G.training  # restored
    recorder = Recorder()
    generate(recorder, 16, 4, seed=0, progressions=progressions)
    roots = recorder.inputs[0][1][:, :12].argmax(1)
    assert set(roots.tolist()) == {0, 9}  # each melody drew one of the two phrases
    with pytest.raises(AdvlabError, match="chord"):
        generate(G, 2, 4, seed=0)
    with pytest.raises(AdvlabError, match="bars"):
        generate(G, 2, 0, torch.eye(13)[:1])


def test_generate_starts_from_a_primer_bar():
    G = Recorder()
    primer = melody_bars(1, seed=4)[0, 0]
    generate(G, 2, 2, torch.eye(13)[:1], primer=primer)
    assert torch.equal(G.inputs[0][2], primer.expand(2, 1, 16, 128))
    with pytest.raises(AdvlabError, match="primer"):
        generate(G, 2, 2, torch.eye(13)[:1], primer=torch.zeros(16, 64))


def two_rank_iterations(distributed: bool) -> dict:
    """Three iterations of a small MidiNet on one fixed minibatch of 8 bars: under two gloo ranks (each its share of
    4 rows) or in one process."""
    from advlab.core.distributed import context

    dist = context("cpu") if distributed else None
    game = MidiNet(*small_players(seed=2), seed=9, dist=dist)
    bars, previous, chords = melody_bars(8, seed=3), melody_bars(8, seed=4), chord_table(8, 7)
    rows = game.dist.shard(8)
    noise = game.draw_noise(rows.stop - rows.start)
    game.noise.manual_seed(9)
    for _ in range(3):
        game.train_iteration(bars[rows], previous[rows], chords[rows])
    game.synchronise()  # rank 0's batch-norm statistics everywhere, as the loop does before a checkpoint
    tensors, _ = game.state()
    return {"noise": noise, "tensors": {k: v for k, v in tensors.items() if k.startswith("generator.")}}


@pytest.mark.slow  # two spawned processes: ~10-20 s on a busy 2-core machine
def test_two_ranks_share_the_noise_and_agree():
    from ranks import run_ranks

    alone = two_rank_iterations(False)
    first, second = run_ranks(two_rank_iterations, 2, True)
    assert torch.equal(torch.cat([first["noise"], second["noise"]]), alone["noise"])  # one draw, split
    for name, value in first["tensors"].items():
        assert torch.equal(value, second["tensors"][name]), name  # averaged gradients: the same players
        assert value.shape == alone["tensors"][name].shape
