"""Feature collision (poison frogs): Algorithm 1's fixed point by hand, the watermark, and collisions on a CNN."""

import json

import pytest
import torch
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.models import SmallCNN
from advlab.poisoning import FeatureCollision, make_poison


def identity_features_model(pixels: int = 16) -> nn.Module:
    """A linear classifier whose penultimate representation is the flattened image itself: f(x) = x."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(pixels, 3))


def toy_set(n=30, size=4, classes=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=generator) * 0.8 + 0.1, torch.arange(n) % classes


def test_algorithm_1_reaches_the_minimiser_of_its_objective_when_features_are_pixels():
    """With f(x) = x, Algorithm 1's objective ||x - t||^2 + (beta / 2) ||x - b||^2 (its backward step is the
    proximal step of (beta / 2) ||x - b||^2) is minimised at (2 t + beta b) / (2 + beta)."""
    images, labels = toy_set()
    target = torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(9))
    poison = FeatureCollision(identity_features_model(), target, base_class=1, poisons=4, beta=0.5, lr=0.1,
                              steps=300, opacity=0.0)
    poisoned = poison.poison(images, labels, seed=0)
    rows = poisoned.indices
    expected = (2 * target + 0.5 * images[rows]) / 2.5
    torch.testing.assert_close(poisoned.images[rows], expected, atol=5e-4, rtol=0)  # float32 objective: ~1e-4


def test_no_steps_leaves_the_watermarked_base():
    images, labels = toy_set()
    target = torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(9))
    for opacity in (0.0, 0.3):
        poison = FeatureCollision(identity_features_model(), target, base_class=2, poisons=3, steps=0, opacity=opacity)
        poisoned = poison.poison(images, labels, seed=1)
        rows = poisoned.indices
        torch.testing.assert_close(poisoned.images[rows], (1 - opacity) * images[rows] + opacity * target,
                                   atol=1e-7, rtol=0)


def test_poisons_replace_base_class_rows_and_keep_their_labels():
    images, labels = toy_set()
    target = torch.rand(1, 4, 4)
    poisoned = FeatureCollision(identity_features_model(), target, base_class=1, poisons=5, steps=5).poison(
        images, labels, seed=0)
    rows = poisoned.indices
    assert len(rows) == 5 and bool((labels[rows] == 1).all())
    assert torch.equal(poisoned.labels, labels)
    keep = ~poisoned.mask()
    assert torch.equal(poisoned.images[keep], images[keep])
    assert float(poisoned.images.min()) >= 0 and float(poisoned.images.max()) <= 1


@pytest.fixture(scope="module")
def frogs(digits_cnn):
    """Ten poisons from the 3s colliding with a held-out 8 in the digits CNN's penultimate features."""
    target = digits_cnn.images[digits_cnn.labels == 8][0]
    images, labels = digits_cnn.train_images, digits_cnn.train_labels
    made = {beta: FeatureCollision(digits_cnn.model, target, base_class=3, poisons=10, beta=beta, steps=150)
            .poison(images, labels, seed=0) for beta in (None, 200.0)}
    return target, images, made


def test_poison_features_move_to_the_target(frogs, digits_cnn):
    target, images, made = frogs
    poison = FeatureCollision(digits_cnn.model, target, base_class=3)
    poisoned = made[None]
    rows = poisoned.indices
    before, after = poison.feature_distance(images[rows]), poison.feature_distance(poisoned.images[rows])
    assert bool((after < 0.2 * before).all())  # measured: 3-5% of the base's distance


def test_poisons_stay_closer_to_their_base_than_the_target_is_and_beta_pulls_them_closer(frogs):
    target, images, made = frogs
    rows = made[None].indices

    def distance_to_base(poisoned):
        return (poisoned.images[rows] - images[rows]).flatten(1).norm(dim=1)

    target_distance = (target - images[rows]).flatten(1).norm(dim=1)
    assert bool((distance_to_base(made[None]) < target_distance).all())
    assert bool((distance_to_base(made[200.0]) < distance_to_base(made[None])).all())


def test_seeded_json_options_and_default_budget(digits_cnn):
    target = digits_cnn.images[0]
    poison = make_poison("feature-collision", model=digits_cnn.model, target_image=target, base_class=3, steps=2)
    assert poison.poisons == 10
    images, labels = digits_cnn.train_images[:400], digits_cnn.train_labels[:400]
    first, again = poison.poison(images, labels, seed=3), poison.poison(images, labels, seed=3)
    assert torch.equal(first.images, again.images)
    options = json.loads(json.dumps(poison.options()))
    assert options["base_class"] == 3 and options["opacity"] == 0.3


def test_bad_input_is_one_clear_error():
    model, (images, labels) = SmallCNN(image_size=4), toy_set()
    target = torch.rand(1, 4, 4)
    with pytest.raises(AdvlabError, match="one image"):
        FeatureCollision(model, torch.rand(2, 1, 4, 4), base_class=0)
    with pytest.raises(AdvlabError, match=r"\[0, 1\]"):
        FeatureCollision(model, target * 3, base_class=0)
    with pytest.raises(AdvlabError, match="base_class"):
        FeatureCollision(model, target, base_class=-1)
    with pytest.raises(AdvlabError, match="opacity"):
        FeatureCollision(model, target, base_class=0, opacity=1.0)
    with pytest.raises(AdvlabError, match="lr"):
        FeatureCollision(model, target, base_class=0, lr=0.0)
    with pytest.raises(AdvlabError, match="nn.Module"):
        FeatureCollision(None, target, base_class=0)
    with pytest.raises(AdvlabError, match="out of range"):
        FeatureCollision(model, target, base_class=3, poisons=1).poison(images, labels)
    with pytest.raises(AdvlabError, match="only 10"):
        FeatureCollision(model, target, base_class=0, poisons=11).poison(images, labels)
    with pytest.raises(AdvlabError, match="training images are"):
        FeatureCollision(model, torch.rand(1, 5, 5), base_class=0, poisons=1).poison(images, labels)
    with pytest.raises(AdvlabError, match="no layer"):
        FeatureCollision(model, target, base_class=0, poisons=1, layer="nope").poison(images, labels)
