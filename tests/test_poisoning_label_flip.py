"""Label flipping: exactly the requested count flips, to the right classes, and nothing else changes."""

import json

import pytest
import torch

from advlab.core.errors import AdvlabError
from advlab.poisoning import LabelFlip, make_poison


def labelled_set(n=200, classes=10, seed=0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 1, 4, 4, generator=generator)
    labels = torch.randint(classes, (n,), generator=generator)
    return images, labels


@pytest.mark.parametrize("budget, expected", [({"rate": 0.2}, 40), ({"poisons": 7}, 7), ({"rate": 1.0}, 200)])
def test_random_flip_changes_exactly_the_budget_to_other_present_classes(budget, expected):
    images, labels = labelled_set()
    poisoned = LabelFlip(**budget).poison(images, labels, seed=3)
    changed = (poisoned.labels != labels).nonzero().flatten()
    assert torch.equal(changed, poisoned.indices) and len(changed) == expected
    assert torch.equal(poisoned.images, images)
    assert set(poisoned.labels.tolist()) <= set(labels.tolist())


def test_random_flip_draws_uniformly_among_the_other_classes():
    labels = torch.zeros(3000, dtype=torch.long)
    labels[:3] = torch.tensor([1, 2, 3])  # classes present: 0, 1, 2, 3
    poisoned = LabelFlip(poisons=2997).poison(torch.zeros(3000, 1, 2, 2), labels, seed=0)
    flipped = poisoned.labels[poisoned.indices]
    from_zero = flipped[labels[poisoned.indices] == 0]
    counts = torch.bincount(from_zero, minlength=4)
    assert counts[0] == 0 and counts[4:].sum() == 0
    assert bool(((counts[1:].float() / len(from_zero) - 1 / 3).abs() < 0.04).all())


def test_binary_labels_that_are_not_zero_and_one_flip_to_each_other():
    labels = torch.tensor([1, 7] * 10)
    poisoned = LabelFlip(poisons=6).poison(torch.zeros(20, 1, 2, 2), labels, seed=0)
    rows = poisoned.indices
    assert torch.equal(poisoned.labels[rows], 8 - labels[rows])


def test_targeted_flip_source_to_target_and_any_to_target():
    images, labels = labelled_set()
    poisoned = LabelFlip(poisons=10, source=1, target=7).poison(images, labels, seed=0)
    rows = poisoned.indices
    assert len(rows) == 10 and bool((labels[rows] == 1).all()) and bool((poisoned.labels[rows] == 7).all())
    assert int((poisoned.labels != labels).sum()) == 10
    anything = LabelFlip(rate=0.25, target=2).poison(images, labels, seed=0)
    assert bool((labels[anything.indices] != 2).all()) and bool((anything.labels[anything.indices] == 2).all())
    assert int((anything.labels != labels).sum()) == 50


def test_random_flip_from_one_source_class():
    images, labels = labelled_set()
    poisoned = LabelFlip(poisons=5, source=4).poison(images, labels, seed=1)
    rows = poisoned.indices
    assert bool((labels[rows] == 4).all()) and bool((poisoned.labels[rows] != 4).all())


def test_seeded_and_json_options():
    images, labels = labelled_set()
    flip = make_poison("label-flip", rate=0.1)
    assert torch.equal(flip.poison(images, labels, seed=2).labels, flip.poison(images, labels, seed=2).labels)
    assert not torch.equal(flip.poison(images, labels, seed=2).labels, flip.poison(images, labels, seed=3).labels)
    options = json.loads(json.dumps(LabelFlip(poisons=3, target=1).options()))
    assert options["mode"] == "targeted" and options["target"] == 1 and options["poisons"] == 3


def test_bad_input_is_one_clear_error():
    images, labels = labelled_set()
    with pytest.raises(AdvlabError, match="out of range"):
        LabelFlip(poisons=1, target=10).poison(images, labels)
    with pytest.raises(AdvlabError, match="out of range"):
        LabelFlip(poisons=1, source=12, target=0).poison(images, labels)
    with pytest.raises(AdvlabError, match="can be poisoned"):
        LabelFlip(poisons=int((labels == 3).sum()) + 1, source=3, target=0).poison(images, labels)
    with pytest.raises(AdvlabError, match="can be poisoned"):
        LabelFlip(poisons=201).poison(images, labels)
    with pytest.raises(AdvlabError, match="rate"):
        LabelFlip(rate=1.01)
    with pytest.raises(AdvlabError, match="rate"):
        LabelFlip(rate=0)
    with pytest.raises(AdvlabError, match="same class"):
        LabelFlip(poisons=1, source=2, target=2)
    with pytest.raises(AdvlabError, match="class index"):
        LabelFlip(poisons=1, target=-1)
    with pytest.raises(AdvlabError, match="single class"):
        LabelFlip(poisons=1).poison(images, torch.zeros_like(labels))
