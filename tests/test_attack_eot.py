"""EOT-PGD (Athalye et al. 2018): the threat model, masks, its reduction to PGD, expected success."""

import pytest
import torch

from advlab.attacks.eot import EOT, expected_success
from advlab.attacks.masks import rectangle_mask
from advlab.attacks.pgd import PGD
from advlab.attacks.transforms import TransformDistribution
from advlab.core.errors import AdvlabError

N = 48


@pytest.fixture(scope="module")
def batch(digits_cnn):
    torch.set_num_threads(1)
    return digits_cnn.model, digits_cnn.images[:N], digits_cnn.labels[:N]


@pytest.mark.parametrize("norm, eps", [("linf", 0.1), ("l2", 0.8)])
def test_stays_in_the_ball_and_the_box(batch, norm, eps):
    model, x, y = batch
    adv = EOT(model, eps=eps, steps=5, samples=4, norm=norm, seed=0)(x, y)
    p = float("inf") if norm == "linf" else 2.0
    norms = torch.linalg.vector_norm((adv - x).flatten(1), ord=p, dim=1)
    assert norms.max() <= eps + 1e-5
    assert adv.min() >= 0 and adv.max() <= 1
    assert norms.max() > eps / 2  # it did move


def test_a_masked_attack_changes_nothing_outside_the_mask(batch):
    model, x, y = batch
    mask = rectangle_mask(8, 8, 2, 2, 4, 4)
    for norm, eps in (("linf", 0.2), ("l2", 1.0)):
        adv = EOT(model, eps=eps, steps=5, samples=4, norm=norm, seed=0).perturb(x, y, mask.expand(x.shape))
        assert torch.equal(adv[..., ~mask], x[..., ~mask])  # perturb itself, before the base class's guarantee
        assert (adv[..., mask] != x[..., mask]).any()


def test_without_transforms_and_one_sample_it_is_pgd(batch):
    model, x, y = batch
    eot = EOT(model, eps=0.1, steps=6, samples=1, transforms=(), seed=3)(x, y)
    pgd = PGD(model, eps=0.1, steps=6, seed=3)(x, y)
    assert torch.equal(eot, pgd)


def test_is_reproducible_with_a_seed(batch):
    model, x, y = batch
    first = EOT(model, eps=0.1, steps=3, samples=2, seed=5)(x, y)
    again = EOT(model, eps=0.1, steps=3, samples=2, seed=5)(x, y)
    other = EOT(model, eps=0.1, steps=3, samples=2, seed=6)(x, y)
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_targeted_eot_reaches_the_target_under_transforms(batch):
    model, x, y = batch
    targets = (y + 1) % 10
    before = expected_success(model, x, targets, samples=10, targeted=True, seed=1).rate
    adv = EOT(model, eps=0.3, steps=10, samples=4, targeted=True, seed=0)(x, targets)
    after = expected_success(model, adv, targets, samples=10, targeted=True, seed=1)
    assert before < 0.05 and after.rate > 0.5
    assert after.per_image.shape == (N,) and after.per_image.min() >= 0 and after.per_image.max() <= 1


def test_expected_success_without_transforms_is_plain_success(batch):
    model, x, y = batch
    adv = PGD(model, eps=0.1, steps=5, seed=0)(x, y)
    fooled = (model(adv).argmax(1) != y).double()
    measured = expected_success(model, adv, y, transforms=(), samples=3)
    assert torch.equal(measured.per_image, fooled)
    assert measured.rate == pytest.approx(float(fooled.mean()))


def test_expected_success_is_reproducible_and_takes_a_distribution(batch):
    model, x, y = batch
    adv = PGD(model, eps=0.1, steps=5, seed=0)(x, y)
    first = expected_success(model, adv, y, samples=8, seed=2)
    assert torch.equal(first.per_image, expected_success(model, adv, y, samples=8, seed=2).per_image)
    wide = TransformDistribution(("rotate",), {"rotate": (-40.0, 40.0)})
    assert 0 <= expected_success(model, adv, y, transforms=wide, samples=4).rate <= 1
    assert torch.all(first.per_image * 8 == (first.per_image * 8).round())  # counts over 8 draws


@pytest.mark.parametrize("options, words", [
    ({"samples": 0}, "samples must be an integer >= 1"),
    ({"samples": -3}, "samples must be an integer >= 1"),
    ({"steps": -1}, "steps must be an integer >= 0"),
    ({"transforms": ("rotate", "warp")}, "eot-pgd: unknown transform 'warp'; valid transforms are: rotate"),
    ({"norm": "l1"}, "unknown norm"),
    ({"eps": -0.1}, "eps must be a number >= 0"),
])
def test_bad_options_are_refused(batch, options, words):
    model = batch[0]
    with pytest.raises(AdvlabError, match=words):
        EOT(model, **options)


def test_expected_success_refuses_bad_input(batch):
    model, x, y = batch
    with pytest.raises(AdvlabError, match="samples must be an integer >= 1"):
        expected_success(model, x, y, samples=0)
    with pytest.raises(AdvlabError, match="unknown transform"):
        expected_success(model, x, y, transforms=("spin",))
    with pytest.raises(AdvlabError, match="labels must have shape"):
        expected_success(model, x, y[:3])
