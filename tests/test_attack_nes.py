"""NES: the gradient estimate, exact query counts, the feasible set and strength."""

import pytest
import torch
from helpers import TaggedCounter, tagged

from advlab.attacks.losses import input_gradient
from advlab.attacks.nes import NES, image_groups
from advlab.attacks.queries import QueryCounter
from advlab.core.errors import AdvlabError


def test_estimate_points_along_the_true_gradient(digits_mlp):
    """Algorithm 1 with many pairs recovers the direction of the cross-entropy's gradient."""
    images, labels = digits_mlp.images[:8], digits_mlp.labels[:8]
    attack = NES(digits_mlp.model, eps=0.1, sigma=0.001, samples=4000, seed=0)
    estimate = attack.estimate(images, labels, None, pairs=2000, generator=torch.Generator().manual_seed(0))
    true, _ = input_gradient(digits_mlp.model, images, labels)
    cosine = torch.nn.functional.cosine_similarity(estimate.flatten(1), true.flatten(1), dim=1)
    # 64 pixels, 4000 samples: the estimate's cosine with the gradient is about sqrt(1 / (1 + 64 / 4000))
    assert (cosine > 0.9).all(), cosine
    targeted = NES(digits_mlp.model, samples=4000, targeted=True, seed=0)
    reverse = targeted.estimate(images, labels, None, pairs=2000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(reverse, -estimate)


def test_groups_cover_every_image_once():
    assert image_groups(10, 3, limit=7) == [slice(0, 2), slice(2, 4), slice(4, 6), slice(6, 8), slice(8, 10)]
    assert image_groups(3, 100, limit=10) == [slice(0, 1), slice(1, 2), slice(2, 3)]
    assert image_groups(5, 1) == [slice(0, 5)]


@pytest.mark.parametrize("targeted", [False, True])
def test_queries_are_counted_exactly_and_never_exceed_the_budget(digits_cnn, targeted):
    images, mask = tagged(digits_cnn.images[:40])
    labels = digits_cnn.labels[:40]
    tagger = TaggedCounter(digits_cnn.model, len(images))
    counter = QueryCounter(tagger)
    budget = 130  # clean + 2 x (50 + 1) + a last estimate of 13 pairs + its check = 130
    attack = NES(counter, eps=0.3, alpha=0.15, samples=50, queries=budget, targeted=targeted, seed=0)
    targets = (labels + 1) % 10 if targeted else None
    result = attack.run(images, labels, targets=targets, mask=mask)[0]
    attacked = tagger.counts - 1  # run() evaluates every result once more to measure it
    assert tagger.broken_tags == 0  # no query ever changed a pixel outside the mask
    assert torch.equal(result.queries, attacked)
    assert int(attacked.max()) == budget
    assert int(counter.queries) == int(result.queries.sum()) + len(images)
    goal = targets if targeted else labels
    reached = (result.adv_pred == goal) if targeted else (result.adv_pred != goal)
    assert (result.queries[~reached] == budget).all()
    # fooled images stop after the iteration that fooled them: 1 + k * 51 queries (or the last, short one)
    spent = result.queries[reached]
    assert (((spent - 1) % 51 == 0) | (spent == budget)).all()
    assert (result.queries[reached] < budget).any()


def test_results_stay_in_the_ball_the_box_and_the_mask(digits_cnn):
    images, labels = digits_cnn.images[:40], digits_cnn.labels[:40]
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[:, 1:7] = True
    attack = NES(digits_cnn.model, eps=0.2, alpha=0.05, queries=300, seed=0)
    result = attack.run(images, labels, mask=mask)[0]
    adversarial = result.adversarial
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert float(result.norms(float("inf")).max()) <= 0.2 + 1e-6
    assert torch.equal(adversarial[..., [0, 7]], images[..., [0, 7]])
    assert result.summary()["robust_accuracy"] < result.summary()["clean_accuracy"]


def test_nes_is_strong_on_digits(digits_mlp):
    images, labels = digits_mlp.images[:100], digits_mlp.labels[:100]
    result = NES(digits_mlp.model, eps=0.3, queries=1000, seed=0).run(images, labels)[0]
    summary = result.summary()
    # measured: clean 1.00, robust 0.05, median 205 queries per success
    assert summary["clean_accuracy"] > 0.95
    assert summary["robust_accuracy"] < 0.2
    assert summary["queries_median"] < 500


def test_targeted_success_means_the_target_class(digits_mlp):
    images, labels = digits_mlp.images[:40], digits_mlp.labels[:40]
    targets = (labels + 5) % 10
    result = NES(digits_mlp.model, eps=0.3, queries=1000, targeted=True, seed=0).run(images, labels, targets)[0]
    with torch.no_grad():
        predicted = digits_mlp.model(result.adversarial).argmax(1)
    assert torch.equal(result.success, predicted == targets)
    assert result.success.double().mean() > 0.5


def test_same_seed_same_result(digits_mlp):
    images, labels = digits_mlp.images[:20], digits_mlp.labels[:20]
    first = NES(digits_mlp.model, eps=0.1, queries=200, seed=5)(images, labels)
    second = NES(digits_mlp.model, eps=0.1, queries=200, seed=5)(images, labels)
    assert torch.equal(first, second)


@pytest.mark.parametrize("options, words", [
    ({"queries": 0}, "queries"), ({"samples": 7}, "even"), ({"samples": 0}, "samples"),
    ({"sigma": 0.0}, "sigma"), ({"alpha": -1.0}, "alpha"), ({"eps": -0.5}, "eps"),
])
def test_bad_options_raise_one_clear_error(digits_mlp, options, words):
    with pytest.raises(AdvlabError, match=words):
        NES(digits_mlp.model, **options)
