"""GAN-Leaks: a replaying generator scores its members at distance 0; white-box never worse than black-box."""

import pytest
import torch
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.privacy.gan import GANLeaks, gan_leaks_scores
from advlab.privacy.membership import membership_roc


class Replay(nn.Module):
    """A 'generator' that returns stored images exactly: z (n, 1) -> stored[bucket of z]."""

    def __init__(self, stored):
        super().__init__()
        self.z_dim = 1
        self.register_buffer("stored", stored)

    def forward(self, z):
        index = (torch.special.ndtr(z[:, 0]) * len(self.stored)).long().clamp(0, len(self.stored) - 1)
        return self.stored[index]


class Linear(nn.Module):
    """A smooth generator: sigmoid(A z) as 1x4x4 images."""

    def __init__(self, z_dim=3):
        super().__init__()
        self.z_dim = z_dim
        self.a = nn.Linear(z_dim, 16)

    def forward(self, z):
        return torch.sigmoid(self.a(z)).view(-1, 1, 4, 4)


def digits():
    generator = torch.Generator().manual_seed(1)
    return torch.rand(16, 1, 4, 4, generator=generator), torch.rand(16, 1, 4, 4, generator=generator)


def test_replaying_generator_scores_members_at_zero_distance():
    train, others = digits()
    attack = GANLeaks(samples=2000, batch_size=300)
    result = attack.reconstruct(Replay(train), train)
    assert torch.equal(result.distances, torch.zeros(16, dtype=torch.float64))
    assert torch.equal(result.images, train)
    scores = attack.score(Replay(train), torch.cat([train, others]))
    assert (scores[16:] < 0).all()
    expected = -min((others[0] - image).pow(2).sum().item() for image in train)
    assert scores[16].item() == pytest.approx(expected, rel=1e-6)
    assert membership_roc(scores, torch.arange(32) < 16).auc == 1.0


def test_calibration_subtracts_the_reference_distance():
    train, others = digits()
    queries = torch.cat([train, others])
    plain = gan_leaks_scores(Replay(train), queries, samples=500)
    reference = gan_leaks_scores(Replay(others), queries, samples=500)
    calibrated = gan_leaks_scores(Replay(train), queries, reference=Replay(others), samples=500)
    assert torch.allclose(calibrated, plain - reference)
    assert torch.equal(gan_leaks_scores(Replay(train), queries, reference=Replay(train), samples=500),
                       torch.zeros(32, dtype=torch.float64))


@pytest.mark.parametrize("optimiser, lr", [("lbfgs", 0.5), ("adam", 0.05)])
def test_white_box_finds_what_black_box_misses(optimiser, lr):
    torch.manual_seed(0)
    g = Linear()
    with torch.no_grad():
        targets = g(torch.randn(6, 3))
    black = GANLeaks(samples=50).reconstruct(g, targets)
    white = GANLeaks(samples=50, steps=60, optimiser=optimiser, lr=lr, lambda3=0.0).reconstruct(g, targets)
    assert (white.distances <= black.distances).all()
    assert white.distances.max() < 0.1 * black.distances.min()
    with torch.no_grad():  # the returned latents and images belong together
        assert torch.allclose(g(white.latents), white.images, atol=1e-5)
    assert g.a.weight.grad is None  # the generator's weights get no gradients


def test_query_batching_does_not_change_scores():
    torch.manual_seed(0)
    g, queries = Linear(), torch.rand(9, 1, 4, 4)
    whole = GANLeaks(samples=300, steps=5, optimiser="adam", lr=0.05, batch_size=64).score(g, queries)
    parts = torch.cat([GANLeaks(samples=300, steps=5, optimiser="adam", lr=0.05, batch_size=64).score(g, part)
                       for part in (queries[:4], queries[4:])])
    assert torch.allclose(whole, parts, atol=1e-6)


@pytest.mark.parametrize("make, message", [
    (lambda: GANLeaks(optimiser="sgd"), "valid ones are: lbfgs, adam"),
    (lambda: GANLeaks(samples=0), "samples must be an integer >= 1"),
    (lambda: GANLeaks(noise="cauchy"), "unknown noise"),
    (lambda: GANLeaks().score(lambda z: z, torch.rand(2, 1, 4, 4)), "z_dim"),
    (lambda: GANLeaks(samples=10, z_dim=3).score(lambda z: z, torch.rand(2, 1, 4, 4)), "images"),
    (lambda: GANLeaks(samples=10).score(Linear(), torch.rand(2, 1, 4, 4) - 2), "must lie in"),
])
def test_bad_input_is_one_clear_error(make, message):
    with pytest.raises(AdvlabError, match=message):
        make()
