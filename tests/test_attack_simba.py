"""SimBA: the bases and their order, 1-2 queries per direction, masks, the L2 walk, targets and ART's SimBA."""

import math

import pytest
import torch
from helpers import TaggedCounter, tagged

from advlab.attacks.dct import idct_2d
from advlab.attacks.queries import QueryCounter
from advlab.attacks.simba import SimBA, strided_ranks
from advlab.core.errors import AdvlabError


def test_strided_order_starts_with_the_low_frequencies():
    ranks = strided_ranks(1, 8, 8, freq_ratio=1 / 4, stride_ratio=1 / 4)[0]
    assert ranks[:2, :2].eq(0).all() and ranks[:4, :4].le(1).all() and ranks[3, 3] == 1 and ranks[7, 0] == 3
    attack = SimBA(torch.nn.Flatten(), basis="dct", freq_ratio=1 / 4, stride_ratio=1 / 4)
    order = attack.order(torch.zeros(3, 1, 8, 8), None, torch.Generator().manual_seed(0))
    assert sorted(order[0, :4].tolist()) == [0, 1, 8, 9]  # the 2x2 block first, in a random order
    assert not torch.equal(order[0], order[1])  # each image its own order
    assert torch.equal(order.sort(1).values, torch.arange(64).expand(3, 64))


def test_each_dct_step_has_norm_eps():
    coefficients = torch.zeros(1, 1, 8, 8)
    coefficients[0, 0, 2, 3] = 0.2
    assert math.isclose(float(idct_2d(coefficients).norm()), 0.2, rel_tol=1e-5)


@pytest.mark.parametrize("basis, targeted", [("pixel", False), ("dct", False), ("dct", True)])
def test_queries_are_counted_exactly_and_the_mask_is_kept(digits_cnn, basis, targeted):
    images, mask = tagged(digits_cnn.images[:40])
    labels = digits_cnn.labels[:40]
    tagger = TaggedCounter(digits_cnn.model, len(images))
    counter = QueryCounter(tagger)
    budget = 60
    attack = SimBA(counter, eps=0.3, basis=basis, queries=budget, targeted=targeted, seed=0)
    targets = (labels + 1) % 10 if targeted else None
    result = attack.run(images, labels, targets=targets, mask=mask)[0]
    attacked = tagger.counts - 1
    assert tagger.broken_tags == 0  # no query changed a pixel outside the mask
    assert torch.equal(result.queries, attacked)
    assert int(attacked.max()) <= budget
    assert int(counter.queries) == int(result.queries.sum()) + len(images)
    assert result.success.any() and (result.queries[result.success] < budget).any()


def test_the_walk_is_an_l2_walk_of_eps_steps(digits_cnn):
    """Every accepted step is one basis vector of norm eps: ||delta||_2 <= eps sqrt(queries), and each pixel of the
    pixel basis's perturbation is a multiple of eps (one step per pass over the pixels) unless clipped."""
    images, labels = digits_cnn.images[:60], digits_cnn.labels[:60]
    result = SimBA(digits_cnn.model, eps=0.2, basis="pixel", queries=120, seed=0).run(images, labels)[0]
    delta = result.perturbation
    assert (result.norms(2) <= 0.2 * result.queries.double().sqrt() + 1e-5).all()
    clipped = (result.adversarial == 0) | (result.adversarial == 1)
    step = delta.abs()
    multiple = ((step / 0.2) - (step / 0.2).round()).abs() < 1e-4
    assert (multiple | clipped).all()


def test_max_l2_caps_the_walk(digits_cnn):
    images, labels = digits_cnn.images[:60], digits_cnn.labels[:60]
    capped = SimBA(digits_cnn.model, eps=0.2, basis="dct", max_l2=0.5, queries=300, seed=0).run(images, labels)[0]
    free = SimBA(digits_cnn.model, eps=0.2, basis="dct", queries=300, seed=0).run(images, labels)[0]
    assert float(capped.norms(2).max()) <= 0.5 + 1e-5
    assert float(free.norms(2).max()) > 0.5
    assert capped.summary()["success_rate"] < free.summary()["success_rate"]


def test_simba_beats_a_random_walk_of_the_same_steps(digits_cnn):
    """The scores matter: the same number of +-eps pixel steps drawn blindly fools far fewer images."""
    images, labels = digits_cnn.images[:100], digits_cnn.labels[:100]
    result = SimBA(digits_cnn.model, eps=0.2, basis="pixel", queries=61, seed=0).run(images, labels)[0]
    generator = torch.Generator().manual_seed(0)
    steps = int(result.queries.max()) // 2  # at least this many steps were accepted where the walk went on
    pixels = torch.rand(len(images), 64, generator=generator).argsort(1)[:, :steps]
    signs = torch.randint(0, 2, pixels.shape, generator=generator).float() * 2 - 1
    blind = torch.zeros(len(images), 64).scatter_(1, pixels, 0.2 * signs).view_as(images)
    with torch.no_grad():
        blind_fooled = (digits_cnn.model((images + blind).clamp(0, 1)).argmax(1) != labels).double().mean()
    # measured: SimBA-pixel fools 0.72 of the images at 61 queries, the blind walk of 30 steps none
    assert result.summary()["success_rate"] > float(blind_fooled) + 0.4


def test_targeted_success_means_the_target_class(digits_cnn):
    images, labels = digits_cnn.images[:40], digits_cnn.labels[:40]
    targets = (labels + 5) % 10
    result = SimBA(digits_cnn.model, basis="dct", queries=300, targeted=True, seed=0).run(images, labels, targets)[0]
    with torch.no_grad():
        predicted = digits_cnn.model(result.adversarial).argmax(1)
    assert torch.equal(result.success, predicted == targets)
    assert result.success.double().mean() > 0.5


def test_agrees_with_art_simba(digits_cnn):
    """At equal queries advlab's SimBA-DCT succeeds at least as often as ART's, with no larger median L2."""
    pytest.importorskip("art.attacks.evasion")
    import numpy as np
    from art.attacks.evasion import SimBA as ArtSimBA
    from peers import art_classifier

    images, labels = digits_cnn.images[:50], digits_cnn.labels[:50]
    classifier = art_classifier(torch.nn.Sequential(digits_cnn.model, torch.nn.Softmax(1)), (1, 8, 8), 10)
    ours, theirs = [], []
    for seed in range(2):
        mine = SimBA(digits_cnn.model, eps=0.2, basis="dct", freq_ratio=1 / 8, queries=101, seed=seed)(images, labels)
        np.random.seed(seed)
        peer = ArtSimBA(classifier, attack="dct", max_iter=50, epsilon=0.2, freq_dim=1, stride=1, verbose=False)
        art = torch.from_numpy(peer.generate(x=images.numpy(), y=np.eye(10, dtype=np.float32)[labels.numpy()]))
        for adversarial, out in ((mine, ours), (art, theirs)):
            with torch.no_grad():
                wrong = digits_cnn.model(adversarial).argmax(1) != labels
            norms = (adversarial - images).flatten(1).norm(dim=1)
            out.append((float(wrong.double().mean()), float(norms[wrong].median())))
    success = [sum(run[0] for run in runs) / 2 for runs in (ours, theirs)]
    median_l2 = [sum(run[1] for run in runs) / 2 for runs in (ours, theirs)]
    assert success[0] >= success[1] - 0.04, (ours, theirs)
    assert median_l2[0] <= 1.1 * median_l2[1], (ours, theirs)


@pytest.mark.parametrize("options, words", [
    ({"queries": 0}, "queries"), ({"basis": "wavelet"}, "basis"), ({"freq_ratio": 0.0}, "freq_ratio"),
    ({"stride_ratio": 2.0}, "stride_ratio"), ({"max_l2": 0.0}, "max_l2"), ({"eps": -0.5}, "eps"),
])
def test_bad_options_raise_one_clear_error(digits_mlp, options, words):
    with pytest.raises(AdvlabError, match=f"simba: {words}|simba: unknown {words}"):
        SimBA(digits_mlp.model, **options)
