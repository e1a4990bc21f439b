"""The clean-label backdoor: labels kept, only target rows changed, the eps-ball, the trigger, and it works."""

import json

import pytest
import torch
import torch.nn.functional as F
from victims import train_small_cnn

from advlab.core.errors import AdvlabError
from advlab.models import SmallCNN
from advlab.poisoning import CleanLabel, attack_success_rate, make_poison


def test_four_corner_trigger_by_hand():
    backdoor = CleanLabel(SmallCNN(), size=3)
    signs = backdoor.signs(8, 8)
    corner = torch.tensor([[1.0, -1, 1], [-1, 1, -1], [1, -1, 1]])
    for rows in (slice(0, 3), slice(5, 8)):
        for columns in (slice(0, 3), slice(5, 8)):
            assert torch.equal(signs[rows, columns], corner)
    assert int((signs != 0).sum()) == 36
    assert torch.equal(signs, signs.flip(1)) and torch.equal(signs, signs.flip(0))  # survives flips
    even = CleanLabel(SmallCNN(), size=4).signs(16, 16)
    assert torch.equal(even, even.flip(1)) and torch.equal(even, even.flip(0))
    only = CleanLabel(SmallCNN(), corners="bottom-right").signs(8, 8)
    assert int((only != 0).sum()) == 9 and torch.equal(only[5:, 5:], corner)


def test_full_amplitude_paints_white_and_black_and_reduced_adds():
    images = torch.full((2, 1, 8, 8), 0.5)
    backdoor = CleanLabel(SmallCNN(), amplitude=0.1, corners="bottom-right")
    painted = backdoor.apply_trigger(images)  # test_amplitude 1
    signs = backdoor.signs(8, 8)
    assert torch.equal(painted[0, 0][signs > 0], torch.ones(5))
    assert torch.equal(painted[0, 0][signs < 0], torch.zeros(4))
    assert torch.equal(painted[:, :, signs == 0], images[:, :, signs == 0])
    faint = backdoor.stamp(images, backdoor.amplitude)
    torch.testing.assert_close(faint[0, 0], 0.5 + 0.1 * signs)


@pytest.fixture(scope="module")
def poisoned_digits(digits_cnn):
    backdoor = CleanLabel(digits_cnn.model, target=3, poisons=40, eps=0.1, steps=10)
    images, labels = digits_cnn.train_images, digits_cnn.train_labels
    return backdoor, images, labels, backdoor.poison(images, labels, seed=0)


def test_labels_kept_and_only_target_rows_change(poisoned_digits):
    backdoor, images, labels, poisoned = poisoned_digits
    assert torch.equal(poisoned.labels, labels)
    assert len(poisoned.indices) == 40 and bool((labels[poisoned.indices] == 3).all())
    changed = (poisoned.images != images).flatten(1).any(1)
    assert torch.equal(changed.nonzero().flatten(), poisoned.indices)


def test_poisons_stay_in_the_eps_ball_outside_the_trigger_and_carry_it(poisoned_digits):
    backdoor, images, _, poisoned = poisoned_digits
    rows = poisoned.indices
    trigger = backdoor.trigger_mask(images)
    distance = (poisoned.images[rows] - images[rows])[:, :, ~trigger].abs()
    assert float(distance.max()) <= 0.1 + 1e-6 and float(distance.max()) > 0.05
    signs = backdoor.signs(8, 8)
    assert bool((poisoned.images[rows][:, :, signs > 0] == 1).all())
    assert bool((poisoned.images[rows][:, :, signs < 0] == 0).all())


def test_the_perturbation_makes_the_poisons_hard_for_the_model(poisoned_digits, digits_cnn):
    backdoor, images, labels, poisoned = poisoned_digits
    rows = poisoned.indices
    trigger_free = CleanLabel(digits_cnn.model, target=3, poisons=40, eps=0.0).poison(images, labels, seed=0)
    assert torch.equal(trigger_free.indices, rows)

    def loss(batch):
        return float(F.cross_entropy(digits_cnn.model(batch[rows]), labels[rows]))

    assert loss(poisoned.images) > loss(trigger_free.images) + 1.0


def test_seeded_and_json_options(digits_cnn):
    backdoor = make_poison("clean-label", model=digits_cnn.model, target=1, poisons=5, eps=0.05, steps=3)
    images, labels = digits_cnn.train_images[:300], digits_cnn.train_labels[:300]
    first, again = backdoor.poison(images, labels, seed=4), backdoor.poison(images, labels, seed=4)
    assert torch.equal(first.images, again.images) and torch.equal(first.indices, again.indices)
    options = json.loads(json.dumps(backdoor.options()))
    assert options["eps"] == 0.05 and options["target"] == 1 and options["corners"] == "all"
    assert CleanLabel(digits_cnn.model).rate == 0.05


def test_bad_input_is_one_clear_error(digits_cnn):
    model, images, labels = digits_cnn.model, digits_cnn.train_images, digits_cnn.train_labels
    with pytest.raises(AdvlabError, match="nn.Module"):
        CleanLabel("runs/clf")
    with pytest.raises(AdvlabError, match="eps"):
        CleanLabel(model, eps=-0.1)
    with pytest.raises(AdvlabError, match="eps"):
        CleanLabel(model, eps=2.0)
    with pytest.raises(AdvlabError, match="amplitude"):
        CleanLabel(model, amplitude=0.0)
    with pytest.raises(AdvlabError, match="test_amplitude"):
        CleanLabel(model, test_amplitude=1.5)
    with pytest.raises(AdvlabError, match="valid values"):
        CleanLabel(model, corners="top")
    with pytest.raises(AdvlabError, match="out of range"):
        CleanLabel(model, target=10, poisons=1).poison(images, labels)
    eligible = int((labels == 2).sum())
    with pytest.raises(AdvlabError, match=f"only {eligible}"):
        CleanLabel(model, target=2, poisons=eligible + 1).poison(images, labels)
    with pytest.raises(AdvlabError, match="overlap"):
        CleanLabel(model, size=5).apply_trigger(images[:2])


def test_the_adversarial_perturbation_is_what_plants_the_backdoor(digits_cnn):
    """100 of the 150 training zeros poisoned, labels untouched: at eps 0.3 the backdoor takes
    (ASR 0.70 measured), with the trigger alone (eps 0) it does not (0.04)."""
    images, labels = digits_cnn.train_images, digits_cnn.train_labels
    test_images, test_labels = digits_cnn.images, digits_cnn.labels
    rates = {}
    for eps in (0.0, 0.3):
        backdoor = CleanLabel(digits_cnn.model, target=0, poisons=100, eps=eps)
        poisoned = backdoor.poison(images, labels, seed=0)
        model = train_small_cnn(poisoned.images, poisoned.labels, epochs=10)
        rates[eps] = attack_success_rate(model, backdoor, test_images, test_labels, 10)
        assert float((model(test_images).argmax(1) == test_labels).float().mean()) > 0.9
    assert rates[0.3] > 0.5 and rates[0.0] < 0.2
