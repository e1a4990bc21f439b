"""The domain classifier and domain_score: the fraction of images assigned to a domain."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.data.image_pairs import ImagePairs
from advlab.metrics.domain_score import DomainClassifier, domain_score, train_domain_classifier


def dark_and_bright(count: int, seed: int, channels: int = 1) -> ImagePairs:
    """Domain A: pixels uniform in [0, 0.4]; domain B: uniform in [0.6, 1]; 8x8; a held-out set of 20 each."""
    generator = torch.Generator().manual_seed(seed)

    def side(low):
        return low + 0.4 * torch.rand(count, channels, 8, 8, generator=generator)

    held_out = ImagePairs(side(0.0)[:20], side(0.6)[:20], "held out", paired=False)
    return ImagePairs(side(0.0), side(0.6), "dark-bright", paired=False, held_out=held_out)


class Brightness(nn.Module):
    """Logits (0.5 - mean, mean - 0.5): domain B exactly when an image's mean exceeds 0.5."""

    def forward(self, images):
        mean = images.mean(dim=(1, 2, 3))
        return torch.stack([0.5 - mean, mean - 0.5], dim=1)


def test_domain_score_counts_the_images_assigned_to_the_domain():
    classifier = DomainClassifier(Brightness(), channels=1, image_size=4)
    images = torch.tensor([0.1, 0.7, 0.9, 0.2, 0.6]).view(5, 1, 1, 1).expand(5, 1, 4, 4)
    assert domain_score(classifier, images, "B") == pytest.approx(3 / 5)
    assert domain_score(classifier, images, "A") == pytest.approx(2 / 5)
    assert classifier.predict(images).tolist() == [0, 1, 1, 0, 1]


def test_a_trained_classifier_separates_clearly_separable_domains():
    data = dark_and_bright(200, seed=0)
    classifier = train_domain_classifier(data, steps=60)
    assert classifier.accuracy > 0.95
    fresh = dark_and_bright(100, seed=1)
    assert domain_score(classifier, fresh.a, "A") > 0.95 and domain_score(classifier, fresh.b, "B") > 0.95
    for images in (fresh.a, fresh.b):
        assert domain_score(classifier, images, "A") + domain_score(classifier, images, "B") == pytest.approx(1.0)


def test_training_is_seeded_and_leaves_the_global_generator_alone():
    data = dark_and_bright(64, seed=0)
    state = torch.get_rng_state()
    first = train_domain_classifier(data, seed=3, steps=5)
    assert torch.equal(torch.get_rng_state(), state)
    second, other = train_domain_classifier(data, seed=3, steps=5), train_domain_classifier(data, seed=4, steps=5)
    for mine, same in zip(first.network.parameters(), second.network.parameters()):
        assert torch.equal(mine, same)
    assert not all(torch.equal(a, b) for a, b in zip(first.network.parameters(), other.network.parameters()))


def test_accuracy_needs_held_out_images_and_grey_images_are_read_as_colour():
    data = dark_and_bright(40, seed=0, channels=3)
    plain = ImagePairs(data.a, data.b, "no held-out", paired=False)
    classifier = train_domain_classifier(plain, steps=40)
    assert classifier.accuracy is None and classifier.channels == 3
    grey = torch.full((4, 1, 8, 8), 0.9)
    assert domain_score(classifier, grey, "B") == domain_score(classifier, grey.expand(-1, 3, -1, -1), "B")


def test_refusals():
    classifier = DomainClassifier(Brightness(), channels=1, image_size=4)
    with pytest.raises(AdvlabError, match="use A or B"):
        domain_score(classifier, torch.rand(2, 1, 4, 4), "C")
    with pytest.raises(AdvlabError, match=r"\(N, 1, 4, 4\)"):
        domain_score(classifier, torch.rand(2, 1, 8, 8), "A")
    with pytest.raises(AdvlabError, match="at least one image"):
        domain_score(classifier, torch.rand(0, 1, 4, 4), "A")
    uneven = ImagePairs(torch.rand(4, 1, 8, 8), torch.rand(4, 1, 16, 16), "uneven", paired=False)
    with pytest.raises(AdvlabError, match="square images of one size"):
        train_domain_classifier(uneven)
