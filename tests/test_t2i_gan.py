"""GAN-INT-CLS (advlab.models.text_gan, advlab.text2image.gan_int_cls): the matching-aware D loss at its definition
(Reed et al. 2016, Algorithm 1), the wrong-text weight 0.5, interpolation (eq. 5, beta = 0.5), the players' shapes
and their dependence on the text, exact resume of the game's state, sampling and interpolation grids."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.models.text_gan import MatchingAwareDiscriminator, TextToImageGenerator
from advlab.text2image.gan_int_cls import (
    GanIntCls,
    discriminator_loss,
    generate,
    generator_loss,
    interpolate,
    interpolate_embeddings,
    method_weights,
    paired_interpolations,
)


class MeanEncoder(nn.Module):
    """A stand-in text encoder: the mean of word embeddings (pad 0 ignored)."""

    def __init__(self, words: int = 12, dim: int = 8):
        super().__init__()
        self.table = nn.Embedding(words, dim, padding_idx=0)

    def forward(self, tokens):
        mask = (tokens > 0).float()[..., None]
        return (self.table(tokens) * mask).sum(1) / mask.sum(1).clamp(min=1)


class WordList:
    """A stand-in vocabulary with encode_all and the unknown-word error."""

    words = ["<pad>", "<end>", "a", "red", "blue", "green", "circle", "square", "small", "big"]

    def encode_all(self, captions, length):
        rows = []
        for caption in captions:
            ids = []
            for word in caption.lower().split():
                if word not in self.words:
                    raise AdvlabError(f"the text encoder never saw {word!r}")
                ids.append(self.words.index(word))
            rows.append((ids + [0] * length)[:length])
        return torch.tensor(rows)


def tiny_game(cls_weight=0.5, int_weight=1.0, seed=0) -> GanIntCls:
    torch.manual_seed(seed)
    g = TextToImageGenerator(embedding_dim=8, z_dim=6, projected_dim=5, resolution=16, channels=3, width=4)
    d = MatchingAwareDiscriminator(embedding_dim=8, projected_dim=5, resolution=16, channels=3, width=4)
    return GanIntCls(g, d, MeanEncoder(), cls_weight=cls_weight, int_weight=int_weight, seed=seed)


def batch(n=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, 16, 16, generator=gen)
    tokens = torch.randint(2, 10, (n, 5), generator=gen)
    wrong = torch.randint(2, 10, (n, 5), generator=gen)
    return images, tokens, wrong


def log_sigmoid(x: float) -> float:
    return math.log(1 / (1 + math.exp(-x)))


def test_discriminator_loss_is_algorithm_1_at_hand_set_scores():
    real, wrong, fake = torch.tensor([1.5, -0.2]), torch.tensor([0.3, 2.0]), torch.tensor([-1.0, 0.7])
    by_hand = -sum(log_sigmoid(r) + (log_sigmoid(-w) + log_sigmoid(-f)) / 2
                   for r, w, f in zip(real.tolist(), wrong.tolist(), fake.tolist())) / 2
    assert float(discriminator_loss(real, wrong, fake, 0.5)) == pytest.approx(by_hand, rel=1e-6)
    plain = -sum(log_sigmoid(r) + log_sigmoid(-f) for r, f in zip(real.tolist(), fake.tolist())) / 2
    assert float(discriminator_loss(real, None, fake, 0.0)) == pytest.approx(plain, rel=1e-6)


def test_the_wrong_text_term_weighs_half():
    """d(-L_D)/d(wrong logit) is 0.5 * sigmoid(w) / N: the wrong text counts half, as the fakes do."""
    real, fake = torch.tensor([0.4, -0.3, 1.1]), torch.tensor([0.2, 0.9, -0.5])
    wrong = torch.tensor([0.8, -1.2, 0.1], requires_grad=True)
    fake_grad = fake.clone().requires_grad_(True)
    discriminator_loss(real, wrong, fake_grad, 0.5).backward()
    assert torch.allclose(wrong.grad, 0.5 * torch.sigmoid(wrong.detach()) / 3)
    assert torch.allclose(fake_grad.grad, 0.5 * torch.sigmoid(fake) / 3)


def test_generator_loss_adds_eq_5_with_its_weight():
    fake, mixed = torch.tensor([0.5, -1.0]), torch.tensor([2.0])
    matched = -(log_sigmoid(0.5) + log_sigmoid(-1.0)) / 2
    assert float(generator_loss(fake)) == pytest.approx(matched, rel=1e-6)
    assert float(generator_loss(fake, mixed, 1.0)) == pytest.approx(matched - log_sigmoid(2.0), rel=1e-6)
    assert float(generator_loss(fake, mixed, 0.0)) == pytest.approx(matched, rel=1e-6)


def test_interpolation_at_half_is_the_mean():
    a, b = torch.randn(3, 8), torch.randn(3, 8)
    assert torch.allclose(interpolate_embeddings(a, b, 0.5), (a + b) / 2)
    assert torch.allclose(interpolate_embeddings(a, b, 1.0), a) and torch.allclose(interpolate_embeddings(a, b, 0.0), b)
    h = torch.randn(5, 8)
    mixed = paired_interpolations(h, 0.5)
    assert mixed.shape == (2, 8)
    assert torch.allclose(mixed[0], (h[0] + h[1]) / 2) and torch.allclose(mixed[1], (h[2] + h[3]) / 2)


def test_method_weights_and_bad_method():
    assert method_weights("gan-int-cls") == (0.5, 1.0) and method_weights("gan") == (0.0, 0.0)
    with pytest.raises(AdvlabError, match="gan-int-cls"):
        method_weights("gan-xyz")


class TableD(nn.Module):
    """A hand-set D: logit r for a real image (all ones) with the right text (embedding 1), w for a real image with
    the wrong text (embedding 2), f for a generated image (all zeros)."""

    def __init__(self, r, w, f):
        super().__init__()
        self.r, self.w, self.f = r, w, f
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, images, h):
        real = images.flatten(1).mean(1) > 0.5
        right = h[:, 0] < 1.5
        out = torch.where(real, torch.where(right, torch.tensor(self.r), torch.tensor(self.w)), torch.tensor(self.f))
        return out + self.dummy + 0.0 * images.flatten(1).mean(1)  # a path to G for its step


class ZeroG(nn.Module):
    z_dim = 3

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(()))

    def forward(self, z, h):
        return torch.zeros(len(z), 1, 4, 4) + self.scale * z[:, :1, None, None]


class FirstToken(nn.Module):
    def forward(self, tokens):
        return tokens[:, :1].float()


@pytest.mark.parametrize("cls_weight", [0.5, 0.0])
def test_game_records_the_loss_of_its_three_scores(cls_weight):
    r, w, f = 1.2, 0.4, -0.6
    game = GanIntCls(ZeroG(), TableD(r, w, f), FirstToken(), cls_weight=cls_weight, int_weight=0.0)
    images, right, wrong = torch.ones(4, 1, 4, 4), torch.ones(4, 3, dtype=torch.long), torch.full((4, 3), 2)
    stats = game.train_iteration(images, right, wrong, record=True)
    sigma = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    assert stats["s_r"] == pytest.approx(sigma(r)) and stats["s_w"] == pytest.approx(sigma(w))
    assert stats["s_f"] == pytest.approx(sigma(f))
    expected = -(math.log(sigma(r)) + cls_weight * math.log(1 - sigma(w)) + (1 - cls_weight) * math.log(1 - sigma(f)))
    assert stats["d_loss"] == pytest.approx(expected, rel=1e-6)
    moved = float(game.discriminator.dummy.detach())  # D took its step (Adam: -lr) before G's step judged with it
    assert moved == pytest.approx(-2e-4, rel=1e-3)
    assert stats["g_loss"] == pytest.approx(-math.log(sigma(f + moved)), rel=1e-6)
    assert game.step == 1


@pytest.mark.parametrize("size,residual", [(16, False), (32, True), (64, False)])
def test_players_shapes(size, residual):
    g = TextToImageGenerator(embedding_dim=8, z_dim=6, projected_dim=5, resolution=size, width=4, residual=residual)
    d = MatchingAwareDiscriminator(embedding_dim=8, projected_dim=5, resolution=size, width=4)
    with torch.no_grad():
        images = g(torch.randn(3, 6), torch.randn(3, 8))
    assert images.shape == (3, 3, size, size) and 0 <= float(images.min()) and float(images.max()) <= 1
    assert d(images, torch.randn(3, 8)).shape == (3,)


def test_bad_resolution_is_one_error():
    with pytest.raises(AdvlabError, match="GAN-INT-CLS"):
        TextToImageGenerator(resolution=30)


def test_outputs_depend_on_the_text():
    torch.manual_seed(0)
    g = TextToImageGenerator(embedding_dim=8, z_dim=6, projected_dim=5, resolution=16, width=4)
    d = MatchingAwareDiscriminator(embedding_dim=8, projected_dim=5, resolution=16, width=4)
    z, h = torch.randn(4, 6), torch.randn(4, 8)
    with torch.no_grad():
        first, other = g(z, h), g(z, torch.randn(4, 8))
        spread = first.std()  # how much the pixels vary at all
        assert (first - other).abs().mean() > 0.1 * spread
        assert torch.equal(first, g(z, h))  # the same text and noise: the same image
        scores = d(first, h)
        assert (scores - d(first, torch.randn(4, 8))).abs().mean() > 0.1 * scores.std()


def test_the_encoder_is_frozen_and_saved_with_the_players():
    game = tiny_game()
    before = {k: v.clone() for k, v in game.text_encoder.state_dict().items()}
    for _ in range(2):
        game.train_iteration(*batch())
    assert all(torch.equal(before[k], v) for k, v in game.text_encoder.state_dict().items())
    tensors, _ = game.state()
    assert any(key.startswith("text_encoder.") for key in tensors) and "extra.noise_rng" in tensors


@pytest.mark.parametrize("cls_weight,int_weight", [(0.5, 1.0), (0.0, 0.0)])
def test_iterations_run_and_resume_exactly(cls_weight, int_weight):
    straight = tiny_game(cls_weight, int_weight)
    for i in range(2):
        straight.train_iteration(*batch(seed=i))
    tensors, meta = straight.state()
    tensors = {k: v.clone() for k, v in tensors.items()}
    stats = [straight.train_iteration(*batch(seed=i), record=True) for i in (2, 3)]
    assert all(math.isfinite(v) for s in stats for v in s.values())
    assert {"d_loss", "g_loss", "s_r", "s_w", "s_f"} <= set(stats[0])
    assert ("s_int" in stats[0]) == bool(int_weight)
    resumed = tiny_game(cls_weight, int_weight, seed=5)  # other weights and noise seed, all replaced by restore
    resumed.restore(tensors, meta, 2)
    again = [resumed.train_iteration(*batch(seed=i), record=True) for i in (2, 3)]
    assert again == stats
    a, b = straight.state()[0], resumed.state()[0]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_generate_same_noise_per_text_and_unknown_word():
    game = tiny_game()
    images = generate(game, None, WordList(), ["a red circle", "a blue square"], n_per_text=3, seed=1,
                      caption_length=5)
    assert images.shape == (6, 3, 16, 16)
    assert torch.equal(images, generate(game, None, WordList(), ["a red circle", "a blue square"], 3, 1, 5))
    assert (images[:3] - images[3:]).abs().amax(dim=(1, 2, 3)).min() > 0  # other text, same noise: other images
    with pytest.raises(AdvlabError, match="purple"):
        generate(game, None, WordList(), ["a purple circle"], 2, caption_length=5)


def test_interpolation_ends_at_each_text():
    game = tiny_game()
    grid = interpolate(game, None, WordList(), "a red circle", "a blue square", steps=4, n=2, seed=3,
                       caption_length=5)
    assert grid.shape == (8, 3, 16, 16)
    ends = generate(game, None, WordList(), ["a red circle", "a blue square"], 2, seed=3, caption_length=5)
    assert torch.allclose(grid[0], ends[0], atol=1e-5) and torch.allclose(grid[3], ends[2], atol=1e-5)
    assert torch.allclose(grid[4], ends[1], atol=1e-5) and torch.allclose(grid[7], ends[3], atol=1e-5)
