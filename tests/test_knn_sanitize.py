"""kNN label sanitisation (Paudice et al. 2018): votes worked by hand, agreement with scikit-learn's
neighbours, a given representation, bad input, and digits with 20% of the labels flipped."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from advlab.core.errors import AdvlabError
from advlab.data import load_digits_images
from advlab.poisoning.repair.knn_sanitize import knn_sanitize


def line(*positions):
    """Points on a line as (N, 1, 1, 1) images."""
    return torch.tensor(positions, dtype=torch.float32).view(-1, 1, 1, 1)


def flipped_digits(seed: int, share: float = 0.2):
    """All 1,797 digits with a seeded `share` of the labels moved to another random class: (images, true labels,
    noisy labels, mask of the flipped rows)."""
    digits = load_digits_images()
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randperm(len(digits.labels), generator=generator)[:round(share * len(digits.labels))]
    noisy = digits.labels.clone()
    noisy[rows] = (digits.labels[rows] + torch.randint(1, 10, (len(rows),), generator=generator)) % 10
    mask = torch.zeros(len(noisy), dtype=torch.bool)
    mask[rows] = True
    return digits.data, digits.labels, noisy, mask


def test_votes_by_hand():
    # 0 1 2 3 on the left, 10 11 12 on the right; the point at 2 is labelled 1: its 3 neighbours (1, 3, 0) say 0
    images = line(0, 1, 2, 3, 10, 11, 12)
    labels = torch.tensor([0, 0, 1, 0, 1, 1, 1])
    new, changed = knn_sanitize(images, labels, k=3, eta=0.5)
    assert new.tolist() == [0, 0, 0, 0, 1, 1, 1] and changed.tolist() == [2]
    assert new.dtype == torch.int64
    # with 2 and 3 labelled 1, the left four see 2 of 3 neighbours disagree (0 and 1 go to 1, 2 and 3 to 0);
    # eta = 1 asks for all 3 neighbours to agree, which none of them does
    labels = torch.tensor([0, 0, 1, 1, 1, 1, 1])
    new, changed = knn_sanitize(images, labels, k=3, eta=0.5)
    assert new.tolist() == [1, 1, 0, 0, 1, 1, 1] and changed.tolist() == [0, 1, 2, 3]
    assert knn_sanitize(images, labels, k=3, eta=1.0)[1].tolist() == []
    # a tied vote goes to the smaller label, and reaches the threshold only when eta <= 0.5
    images, labels = line(0, 1, 2), torch.tensor([0, 2, 1])
    assert knn_sanitize(images, labels, k=2, eta=0.5)[0].tolist() == [1, 0, 0]
    assert knn_sanitize(images, labels, k=2, eta=0.6)[1].tolist() == []


def reference_sanitize(images, labels, k, eta):
    """The same rule with scikit-learn's neighbours and NumPy's vote counting."""
    points = images.flatten(1).double().numpy()
    _, order = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)
    new = labels.numpy().copy()
    for row, neighbours in enumerate(order):
        votes = labels.numpy()[[n for n in neighbours if n != row][:k]]
        counts = np.bincount(votes)
        if counts.max() >= eta * k:
            new[row] = counts.argmax()
    return new


def test_agrees_with_scikit_learn_neighbours():
    images, _, noisy, _ = flipped_digits(seed=4)
    for k, eta in ((10, 0.6), (7, 0.5)):
        new, changed = knn_sanitize(images, noisy, k=k, eta=eta)
        assert np.array_equal(new.numpy(), reference_sanitize(images, noisy, k, eta))
        assert torch.equal(changed, (new != noisy).nonzero().flatten())


def test_restores_most_flipped_labels_on_digits():
    """20% of the 1,797 digits' labels moved to another random class; k = 10, eta = 0.5 restores 96.1%, 93.9% and
    98.3% of them (seeds 0-2) and changes 1.0%, 1.1% and 1.0% of the clean labels."""
    for seed in range(3):
        images, labels, noisy, flipped = flipped_digits(seed)
        new, changed = knn_sanitize(images, noisy)
        assert float((new[flipped] == labels[flipped]).double().mean()) >= 0.93
        assert float((new[~flipped] != labels[~flipped]).double().mean()) <= 0.015
        assert float((new != labels).double().mean()) < 0.25 * float(flipped.double().mean())


def test_features_replace_the_input_space():
    images, labels, noisy, flipped = flipped_digits(seed=1)
    assert torch.equal(knn_sanitize(images, noisy, features=images.flatten(1))[0], knn_sanitize(images, noisy)[0])
    # a representation that separates the true classes restores every flipped label once k is large enough that
    # the 20% of wrong labels among a point's classmates (spread over 9 classes) never reach half the vote
    noise = torch.rand(len(labels), 10, generator=torch.Generator().manual_seed(0))
    separating = torch.nn.functional.one_hot(labels, 10).float() * 10 + noise
    new, changed = knn_sanitize(images, noisy, k=25, features=separating)
    assert torch.equal(new, labels) and torch.equal(changed, flipped.nonzero().flatten())


def test_bad_input():
    images, labels = line(0, 1, 2, 3), torch.tensor([0, 0, 1, 1])
    with pytest.raises(AdvlabError, match="k must be an integer >= 1"):
        knn_sanitize(images, labels, k=0)
    with pytest.raises(AdvlabError, match="too few for k=4"):
        knn_sanitize(images, labels, k=4)
    for eta in (0, 1.5, -0.2, float("nan")):
        with pytest.raises(AdvlabError, match="eta must be a share in"):
            knn_sanitize(images, labels, k=2, eta=eta)
    with pytest.raises(AdvlabError, match="labels must be"):
        knn_sanitize(images, labels.float(), k=2)
    with pytest.raises(AdvlabError, match="features must be a tensor"):
        knn_sanitize(images, labels, k=2, features=torch.zeros(3, 5))
    with pytest.raises(AdvlabError, match="NaN"):
        knn_sanitize(images, labels, k=2, features=torch.full((4, 2), float("nan")))
