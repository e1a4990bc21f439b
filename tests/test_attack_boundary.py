"""Boundary Attack: exact query counts, decisions only, adversarial results, norms that shrink with queries, ART."""

import numpy as np
import pytest
import torch
from helpers import Float32, LabelOnly, TaggedCounter, tagged
from peers import art_classifier

from advlab.attacks.boundary import Boundary
from advlab.attacks.queries import QueryCounter
from advlab.core.errors import AdvlabError


@pytest.mark.parametrize("targeted", [False, True])
def test_queries_are_counted_exactly_and_never_exceed_the_budget(digits_cnn, targeted):
    images, mask = tagged(digits_cnn.images[:30])
    labels = digits_cnn.labels[:30]
    tagger = TaggedCounter(digits_cnn.model, len(images))
    counter = QueryCounter(tagger)
    budget = 150
    targets = (labels + 1) % 10 if targeted else None
    result = Boundary(counter, queries=budget, targeted=targeted, seed=0).run(images, labels, targets=targets,
                                                                               mask=mask)[0]
    attacked = tagger.counts - 1  # run() evaluates every result once more to measure it
    assert tagger.broken_tags == 0  # no query (noise, bisection, orthogonal step, step) changed a kept pixel
    assert torch.equal(result.queries, attacked)
    assert int(counter.queries) == int(result.queries.sum()) + len(images)
    goal = targets if targeted else labels
    at_start = (result.clean_pred == goal) if targeted else (result.clean_pred != goal)
    assert (result.queries[at_start] == 1).all()
    assert (result.queries[~at_start] == budget).all()  # it walks until the budget is spent, never past it


def test_small_budgets_are_respected(digits_mlp):
    images, labels = digits_mlp.images[:30], digits_mlp.labels[:30]
    counter = QueryCounter(digits_mlp.model)
    for budget in (1, 2, 5, 17, 60):
        counter.reset()
        result = Boundary(counter, queries=budget, seed=0).run(images, labels)[0]
        correct = result.clean_pred == labels
        assert (result.queries[correct] == budget).all() and (result.queries[~correct] == 1).all()
        assert counter.queries == int(result.queries.sum()) + len(images)


def test_steps_bound_the_walk(digits_mlp):
    images, labels = digits_mlp.images[:20], digits_mlp.labels[:20]
    none = Boundary(digits_mlp.model, queries=500, steps=0, seed=0).run(images, labels)[0]
    some = Boundary(digits_mlp.model, queries=500, steps=5, seed=0).run(images, labels)[0]
    correct = none.clean_pred == labels
    assert (none.queries[correct] < 40).all()  # the start only: noise and its bisection
    assert ((some.queries - none.queries)[correct] <= 2 * 5).all()  # one or two queries a step


def test_it_uses_only_the_top_label(digits_mlp):
    """Decision-based: a model that shows only its top-1 label gives the same attack."""
    images, labels = digits_mlp.images[:20], digits_mlp.labels[:20]
    with_scores = Boundary(digits_mlp.model, queries=300, seed=2)(images, labels)
    labels_only = Boundary(LabelOnly(digits_mlp.model), queries=300, seed=2)(images, labels)
    assert torch.equal(with_scores, labels_only)


def test_changed_images_are_adversarial_and_the_norm_shrinks_with_queries(digits_cnn):
    images, labels = digits_cnn.images[:40], digits_cnn.labels[:40]
    few = Boundary(digits_cnn.model, queries=150, seed=0).run(images, labels)[0]
    many = Boundary(digits_cnn.model, queries=1000, seed=0).run(images, labels)[0]
    for result in (few, many):
        changed = (result.adversarial != result.clean).flatten(1).any(1)
        assert torch.equal(changed, result.success)  # a returned change is always adversarial, and vice versa
    # measured (40 images, seed 0): success 1.00 at both budgets; median L2 2.21 -> 0.77
    assert few.summary()["success_rate"] > 0.95 and many.summary()["success_rate"] > 0.95
    assert many.summary()["l2_median"] < 0.6 * few.summary()["l2_median"]


def test_targeted_reaches_the_targets(digits_cnn):
    images, labels = digits_cnn.images[:40], digits_cnn.labels[:40]
    targets = (labels + 3) % 10
    result = Boundary(digits_cnn.model, queries=300, targeted=True, seed=0).run(images, labels, targets)[0]
    with torch.no_grad():
        predicted = digits_cnn.model(result.adversarial).argmax(1)
    assert torch.equal(result.success, predicted == targets)
    assert result.success.double().mean() > 0.95  # every target class is in the batch: a start is known


def test_as_good_as_art_at_the_same_budget(digits_cnn):
    """Median L2 at the queries per image ART's BoundaryAttack really spends (counted) in 5 iterations.

    Measured (12 images, ~203 queries per image): median L2 ART 3.60 / 3.65 / 3.61 (numpy seeds 0-2), advlab
    2.04 / 2.49 / 1.97 (seeds 0-2), both fooling every image. ART spends up to 40 queries a step and starts from
    raw noise (the module docstring of advlab.attacks.boundary).
    """
    pytest.importorskip("art.attacks.evasion")
    from art.attacks.evasion import BoundaryAttack

    images, labels = digits_cnn.images[:12], digits_cnn.labels[:12]
    ours, theirs = [], []
    for seed in range(3):
        counter = QueryCounter(Float32(digits_cnn.model))
        np.random.seed(seed)
        art = BoundaryAttack(art_classifier(counter, (1, 8, 8), 10), targeted=False, max_iter=5, batch_size=64,
                             verbose=False)
        adversarial = torch.from_numpy(art.generate(x=images.numpy())).float()
        with torch.no_grad():
            fooled = digits_cnn.model(adversarial).argmax(1) != labels
        assert fooled.all()
        theirs.append(float((adversarial - images).flatten(1).norm(dim=1).median()))
        budget = counter.queries // len(images)
        summary = Boundary(digits_cnn.model, queries=budget, seed=seed).run(images, labels)[0].summary()
        assert summary["success_rate"] == 1.0
        ours.append(summary["l2_median"])
    assert np.mean(ours) <= 1.1 * np.mean(theirs)


@pytest.mark.parametrize("options, words", [
    ({"queries": 0}, "queries"), ({"steps": -1}, "steps"), ({"spherical_step": 0.0}, "spherical_step"),
    ({"source_step": 0.0}, "source_step"), ({"source_step": 1.0}, "source_step"), ({"adaptation": 1.0}, "adaptation"),
])
def test_bad_options_raise_one_clear_error(digits_mlp, options, words):
    with pytest.raises(AdvlabError, match=f"boundary: {words}"):
        Boundary(digits_mlp.model, **options)
