"""One-Pixel attack: exact query counts, the L0 count, the mask, targets, and torchattacks side by side."""

import numpy as np
import pytest
import torch
from helpers import TaggedCounter, tagged

from advlab.attacks.onepixel import OnePixel, donors
from advlab.attacks.queries import QueryCounter
from advlab.core.errors import AdvlabError


def changed_pixels(adversarial, images):
    """Pixels changed in any channel, per image."""
    return (adversarial != images).any(1).flatten(1).sum(1)


def test_donors_are_distinct_and_not_the_parent():
    r1, r2, r3 = donors(50, 6, torch.Generator().manual_seed(0), "cpu")
    parent = torch.arange(6).expand(50, 6)
    chosen = torch.stack([parent, r1, r2, r3])
    assert (chosen.sort(0).values.diff(dim=0) > 0).all()
    assert set(r3.flatten().tolist()) == set(range(6))  # every index can be drawn


@pytest.mark.parametrize("targeted", [False, True])
def test_queries_are_counted_exactly_and_never_exceed_the_budget(digits_cnn, targeted):
    images, mask = tagged(digits_cnn.images[:30])
    labels = digits_cnn.labels[:30]
    tagger = TaggedCounter(digits_cnn.model, len(images))
    counter = QueryCounter(tagger)
    attack = OnePixel(counter, pixels=2, population=20, iterations=5, targeted=targeted, seed=0)
    targets = (labels + 1) % 10 if targeted else None
    result = attack.run(images, labels, targets=targets, mask=mask)[0]
    attacked = tagger.counts - 1  # run() evaluates every result once more to measure it
    assert tagger.broken_tags == 0  # no query changed the pixel the mask keeps
    assert torch.equal(result.queries, attacked)
    assert int(counter.queries) == int(result.queries.sum()) + len(images)
    assert int(attacked.max()) == attack.max_queries() == 1 + 20 * 6
    assert ((result.queries - 1) % 20 == 0).all()  # whole populations
    assert (result.queries[result.success] < attack.max_queries()).any()
    assert (result.queries[~result.success & (result.clean_pred == labels)] == attack.max_queries()).all()


@pytest.mark.parametrize("pixels", [1, 3])
def test_l0_count_box_and_mask(digits_cnn, pixels):
    images, labels = digits_cnn.images[:40], digits_cnn.labels[:40]
    mask = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    mask[..., 1:7, 1:7] = True
    result = OnePixel(digits_cnn.model, pixels=pixels, population=30, iterations=5, seed=1).run(images, labels,
                                                                                               mask=mask)[0]
    adversarial = result.adversarial
    assert int(changed_pixels(adversarial, images).max()) <= pixels
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert torch.equal(adversarial[..., ~mask[0, 0]], images[..., ~mask[0, 0]])
    assert result.success.any()


def test_colour_images_change_whole_pixels():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 6 * 5, 4)).eval()
    images = torch.rand(8, 3, 6, 5)
    labels = model(images).argmax(1)
    adversarial = OnePixel(model, pixels=2, population=10, iterations=3, seed=0)(images, labels)
    assert int(changed_pixels(adversarial, images).max()) <= 2


def test_targeted_success_means_the_target_class(digits_cnn):
    images, labels = digits_cnn.images[:30], digits_cnn.labels[:30]
    targets = (labels + 1) % 10
    result = OnePixel(digits_cnn.model, pixels=5, population=40, iterations=10, targeted=True,
                      seed=0).run(images, labels, targets)[0]
    predicted = digits_cnn.model(result.adversarial).argmax(1)
    assert torch.equal(result.success, (predicted == targets) & (targets != labels))
    assert result.success.double().mean() > 0.1  # measured 0.20 at this small budget


def test_as_strong_as_torchattacks_at_the_same_population(digits_cnn):
    """3 pixels, 10 generations, 40 images, seeds 0-2. torchattacks' popsize is scipy's multiplier per parameter:
    popsize=33 over 3 x 3 parameters gives 33 // 9 = 3 per parameter, 27 candidates (advlab: population=30).
    Measured robust accuracy: advlab 0.425 / 0.475 / 0.425 (mean 0.44), torchattacks 0.475 / 0.425 / 0.575
    (mean 0.49; DE/best/1 with a dithered F in [0.5, 1))."""
    torchattacks = pytest.importorskip("torchattacks")
    images, labels = digits_cnn.images[:40], digits_cnn.labels[:40]
    ours, theirs = [], []
    for seed in range(3):
        result = OnePixel(digits_cnn.model, pixels=3, population=30, iterations=10, seed=seed).run(images, labels)[0]
        ours.append(result.summary()["robust_accuracy"])
        np.random.seed(seed)
        peer = torchattacks.OnePixel(digits_cnn.model, pixels=3, steps=10, popsize=33)
        with torch.no_grad():
            theirs.append(float((digits_cnn.model(peer(images, labels)).argmax(1) == labels).double().mean()))
    assert np.mean(ours) <= np.mean(theirs) + 0.02, (ours, theirs)


@pytest.mark.parametrize("options, words", [
    ({"pixels": 0}, "pixels"), ({"population": 3}, "population"), ({"iterations": -1}, "iterations"),
    ({"mutation": 0.0}, "mutation"), ({"mutation": 2.5}, "mutation"), ({"pixels": 1.5}, "pixels"),
])
def test_bad_options_raise_one_clear_error(digits_cnn, options, words):
    with pytest.raises(AdvlabError, match=words):
        OnePixel(digits_cnn.model, **options)


def test_more_pixels_than_the_image_has_are_refused(digits_cnn):
    with pytest.raises(AdvlabError, match=r"pixels = 65 is more than the 8 x 8 = 64"):
        OnePixel(digits_cnn.model, pixels=65)(digits_cnn.images[:2], digits_cnn.labels[:2])
