"""HopSkipJump: exact query counts, decisions only, success, norms that shrink with queries, ART."""

import numpy as np
import pytest
import torch
from helpers import LabelOnly, TaggedCounter, tagged
from peers import art_classifier
from torch import nn

from advlab.attacks.hopskipjump import HopSkipJump
from advlab.attacks.queries import QueryCounter
from advlab.core.errors import AdvlabError


@pytest.mark.parametrize("norm, targeted", [("l2", False), ("linf", False), ("l2", True)])
def test_queries_are_counted_exactly_and_never_exceed_the_budget(digits_cnn, norm, targeted):
    images, mask = tagged(digits_cnn.images[:40])
    labels = digits_cnn.labels[:40]
    tagger = TaggedCounter(digits_cnn.model, len(images))
    counter = QueryCounter(tagger)
    budget = 300
    attack = HopSkipJump(counter, queries=budget, norm=norm, targeted=targeted, seed=0)
    targets = (labels + 1) % 10 if targeted else None
    result = attack.run(images, labels, targets=targets, mask=mask)[0]
    attacked = tagger.counts - 1  # run() evaluates every result once more to measure it
    assert tagger.broken_tags == 0  # no query (noise, bisection, probe, step) changed a pixel outside the mask
    assert torch.equal(result.queries, attacked)
    assert int(counter.queries) == int(result.queries.sum()) + len(images)
    goal = targets if targeted else labels
    at_start = (result.clean_pred == goal) if targeted else (result.clean_pred != goal)
    assert (result.queries[at_start] == 1).all()
    # HopSkipJump never stops early: every image it attacks spends the whole budget, and no more
    assert (result.queries[~at_start] == budget).all()


def test_small_budgets_are_respected(digits_mlp):
    images, labels = digits_mlp.images[:30], digits_mlp.labels[:30]
    counter = QueryCounter(digits_mlp.model)
    for budget in (1, 2, 5, 17, 120):
        counter.reset()
        result = HopSkipJump(counter, queries=budget, seed=0).run(images, labels)[0]
        correct = result.clean_pred == labels
        assert (result.queries[correct] == budget).all() and (result.queries[~correct] == 1).all()
        assert counter.queries == int(result.queries.sum()) + len(images)


def test_it_uses_only_the_top_label(digits_mlp):
    """Decision-based: a model that shows only its top-1 label gives the same attack."""
    images, labels = digits_mlp.images[:30], digits_mlp.labels[:30]
    with_scores = HopSkipJump(digits_mlp.model, queries=400, seed=2)(images, labels)
    labels_only = HopSkipJump(LabelOnly(digits_mlp.model), queries=400, seed=2)(images, labels)
    assert torch.equal(with_scores, labels_only)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_finds_adversarials_and_the_norm_shrinks_with_queries(digits_mlp, norm):
    images, labels = digits_mlp.images[:60], digits_mlp.labels[:60]
    p = "linf" if norm == "linf" else "l2"
    few = HopSkipJump(digits_mlp.model, queries=200, norm=norm, seed=0).run(images, labels)[0].summary()
    many = HopSkipJump(digits_mlp.model, queries=1500, norm=norm, seed=0).run(images, labels)[0].summary()
    # measured (100 images): success 1.00 at both budgets; median L2 0.82 -> 0.67, Linf 0.15 -> 0.12
    assert few["success_rate"] > 0.95 and many["success_rate"] > 0.95
    assert many[f"{p}_median"] < 0.9 * few[f"{p}_median"]


def test_targeted_starts_from_an_image_of_the_target_class(digits_cnn):
    images, labels = digits_cnn.images[:50], digits_cnn.labels[:50]
    targets = (labels + 4) % 10
    result = HopSkipJump(digits_cnn.model, queries=400, targeted=True, seed=0).run(images, labels, targets)[0]
    with torch.no_grad():
        predicted = digits_cnn.model(result.adversarial).argmax(1)
    assert torch.equal(result.success, predicted == targets)
    assert result.success.double().mean() > 0.9  # every target class is in the batch


def test_targeted_without_an_image_of_the_target_falls_back_to_noise(digits_mlp):
    # the MLP calls most uniform noise a 7 (72% of 2000 draws) and never a 3
    for target, least_success in ((7, 0.9), (3, 0.0)):
        keep = digits_mlp.labels != target
        images, labels = digits_mlp.images[keep][:20], digits_mlp.labels[keep][:20]
        targets = torch.full_like(labels, target)
        result = HopSkipJump(digits_mlp.model, queries=150, targeted=True, seed=0).run(images, labels, targets)[0]
        assert int(result.queries.max()) <= 150
        with torch.no_grad():
            predicted = digits_mlp.model(result.adversarial).argmax(1)
        assert torch.equal(result.success, predicted == target)
        assert result.success.double().mean() >= least_success
        failed = ~result.success
        assert torch.equal(result.adversarial[failed], images[failed])  # no start found: the image stays clean


@pytest.mark.slow
@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_as_good_as_art_at_the_same_budget(digits_mlp, norm):
    """Median norm of the adversarials at the queries per image ART's 10 iterations cost.

    Measured (50 images, about 2400 queries per image): L2 ART 0.805, advlab 0.648 / 0.612 / 0.642 (seeds
    0-2); Linf ART 0.157, advlab 0.114 / 0.110 / 0.116.
    """
    from art.attacks.evasion import HopSkipJump as ArtHopSkipJump

    class Float32(nn.Module):  # ART's bisection hands the model float64 arrays
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, images):
            return self.model(images.float())

    images, labels = digits_mlp.images[:50], digits_mlp.labels[:50]
    counter = QueryCounter(Float32(digits_mlp.model))
    np.random.seed(0)
    art = ArtHopSkipJump(art_classifier(counter, (1, 8, 8), 10), norm=2 if norm == "l2" else np.inf, max_iter=10,
                         max_eval=10000, init_eval=100, verbose=False)
    adversarial = torch.from_numpy(art.generate(x=images.numpy())).float()
    budget = counter.queries // len(images)
    p = 2.0 if norm == "l2" else float("inf")
    with torch.no_grad():
        fooled = digits_mlp.model(adversarial).argmax(1) != labels
    art_median = torch.linalg.vector_norm((adversarial - images).flatten(1), ord=p, dim=1)[fooled].median()
    ours = HopSkipJump(digits_mlp.model, queries=budget, norm=norm, seed=0).run(images, labels)[0].summary()
    assert ours["success_rate"] >= float(fooled.double().mean()) - 0.02
    assert ours[f"{norm}_median"] <= 1.05 * float(art_median)


@pytest.mark.parametrize("options, words", [
    ({"queries": 0}, "queries"), ({"norm": "l1"}, "norm"), ({"steps": -1}, "steps"), ({"samples": 0}, "samples"),
])
def test_bad_options_raise_one_clear_error(digits_mlp, options, words):
    with pytest.raises(AdvlabError, match=words):
        HopSkipJump(digits_mlp.model, **options)
