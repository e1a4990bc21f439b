"""BadNets and blended injection: the trigger definitions, the planting, bad input, and a backdoor that works."""

import json

import pytest
import torch
from victims import train_small_cnn

from advlab.core.errors import AdvlabError
from advlab.data import load_digits_images
from advlab.poisoning import POISONS, BadNets, Blended, attack_success_rate, make_poison
from advlab.poisoning.triggers import checkerboard, corner_side


def random_set(n=60, channels=1, size=8, classes=10, seed=0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(n, channels, size, size, generator=generator)
    labels = torch.arange(n) % classes
    return images, labels


# ---------------------------------------------------------------- the patch trigger


def test_checkerboard_and_side_rule_by_hand():
    assert checkerboard(3)[0].tolist() == [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    assert [corner_side(s, s) for s in (8, 16, 28, 32, 64)] == [3, 3, 4, 4, 8]
    assert corner_side(2, 2) == 2 and corner_side(28, 16) == 3


def test_badnets_default_trigger_changes_exactly_the_bottom_right_patch():
    images, _ = random_set(5, channels=3, size=16)
    triggered = BadNets(target=0).apply_trigger(images)
    inside = torch.zeros(16, 16, dtype=torch.bool)
    inside[13:, 13:] = True
    assert torch.equal(triggered[:, :, ~inside], images[:, :, ~inside])
    expected = checkerboard(3).expand(3, 3, 3)
    assert torch.equal(triggered[:, :, 13:, 13:], expected.expand(5, 3, 3, 3))
    assert torch.equal(BadNets().trigger_mask(images), inside)


def test_badnets_user_pattern_at_a_position():
    images, _ = random_set(4, channels=3, size=10)
    pattern = torch.rand(3, 2, 4, generator=torch.Generator().manual_seed(1))
    triggered = BadNets(pattern=pattern, top=1, left=5).apply_trigger(images)
    assert torch.equal(triggered[:, :, 1:3, 5:9], pattern.expand(4, 3, 2, 4))
    outside = torch.ones(10, 10, dtype=torch.bool)
    outside[1:3, 5:9] = False
    assert torch.equal(triggered[:, :, outside], images[:, :, outside])
    assert not torch.equal(images[:, :, 1:3, 5:9], triggered[:, :, 1:3, 5:9])


def test_one_channel_pattern_goes_on_every_channel():
    images, _ = random_set(2, channels=3, size=8)
    triggered = BadNets(trigger="square", size=2).apply_trigger(images)
    assert bool((triggered[:, :, 6:, 6:] == 1).all())
    assert torch.equal(triggered[:, :, :6], images[:, :, :6])


# ---------------------------------------------------------------- planting


def test_badnets_all_to_one_poisons_exactly_the_budget_of_non_target_rows():
    images, labels = random_set(100)
    backdoor = BadNets(target=3, rate=0.1)
    poisoned = backdoor.poison(images, labels, seed=0)
    rows = poisoned.indices
    assert len(rows) == 10 and torch.equal(rows, rows.sort().values)
    assert bool((labels[rows] != 3).all())
    assert bool((poisoned.labels[rows] == 3).all())
    keep = ~poisoned.mask()
    assert torch.equal(poisoned.labels[keep], labels[keep]) and torch.equal(poisoned.images[keep], images[keep])
    assert torch.equal(poisoned.images[rows], backdoor.apply_trigger(images[rows]))
    assert torch.equal(images, random_set(100)[0])  # the input is not modified


def test_badnets_all_to_all_sends_k_to_k_plus_one():
    images, labels = random_set(50)
    poisoned = BadNets(all_to_all=True, poisons=20).poison(images, labels, seed=1)
    rows = poisoned.indices
    assert len(rows) == 20
    assert torch.equal(poisoned.labels[rows], (labels[rows] + 1) % 10)


def test_planting_is_seeded():
    images, labels = random_set(100)
    backdoor = BadNets(target=0, poisons=10)
    first, again = backdoor.poison(images, labels, seed=5), backdoor.poison(images, labels, seed=5)
    other = backdoor.poison(images, labels, seed=6)
    assert torch.equal(first.indices, again.indices) and torch.equal(first.images, again.images)
    assert not torch.equal(first.indices, other.indices)


def test_default_budgets_and_json_options():
    assert BadNets().rate == 0.1 and Blended().poisons == 50
    pattern = torch.ones(1, 2, 2)
    for poison in (BadNets(target=1, rate=0.2), BadNets(pattern=pattern), Blended(key="image", alpha=0.1)):
        json.dumps(poison.options())
    assert BadNets(pattern=pattern).options()["trigger"] == "pattern"
    assert Blended(alpha=0.1).options()["test_alpha"] == 0.1


# ---------------------------------------------------------------- blended


def test_blended_is_the_convex_combination_with_the_seeded_noise_key():
    images, labels = random_set(40, channels=3)
    key = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(7))
    backdoor = Blended(target=0, poisons=10, alpha=0.3, test_alpha=0.5, key_seed=7)
    torch.testing.assert_close(backdoor.apply_trigger(images), 0.5 * images + 0.5 * key, rtol=0, atol=1e-7)
    poisoned = backdoor.poison(images, labels, seed=0)
    rows = poisoned.indices
    torch.testing.assert_close(poisoned.images[rows], (1 - 0.3) * images[rows] + 0.3 * key, rtol=0, atol=1e-7)
    assert bool((poisoned.labels[rows] == 0).all()) and len(rows) == 10


def test_blended_alpha_one_is_the_key_itself():
    images, _ = random_set(3)
    pattern = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(2))
    assert torch.equal(Blended(pattern=pattern, alpha=1.0).apply_trigger(images), pattern.expand(3, 1, 8, 8))


def test_blended_image_key_is_a_greyscale_photograph_of_the_images_size():
    backdoor = Blended(key="image")
    grey = backdoor.key_pattern(torch.zeros(1, 1, 16, 12))
    colour = backdoor.key_pattern(torch.zeros(1, 3, 16, 16))
    assert grey.shape == (1, 16, 12) and colour.shape == (3, 16, 16)
    for key in (grey, colour):
        assert 0 <= float(key.min()) and float(key.max()) <= 1 and float(key.std()) > 0.05
    assert not torch.equal(colour[0], colour[1])  # real colour, not grey copied


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("make, message", [
    (lambda: BadNets(pattern=torch.ones(3, 3)), "(C, h, w)"),
    (lambda: BadNets(pattern=torch.full((1, 2, 2), 1.5)), "[0, 1]"),
    (lambda: BadNets(pattern=torch.full((1, 2, 2), -0.1)), "[0, 1]"),
    (lambda: BadNets(trigger="star"), "valid triggers"),
    (lambda: BadNets(size=0), "size"),
    (lambda: BadNets(top=-1), "top"),
    (lambda: BadNets(rate=0.0), "rate"),
    (lambda: BadNets(rate=1.5), "rate"),
    (lambda: BadNets(rate=0.1, poisons=5), "exactly one"),
    (lambda: Blended(alpha=0.0), "alpha"),
    (lambda: Blended(alpha=1.2), "alpha"),
    (lambda: Blended(test_alpha=-0.5), "test_alpha"),
    (lambda: Blended(key="kitty"), "valid keys"),
    (lambda: Blended(pattern=torch.full((1, 8, 8), 2.0)), "[0, 1]"),
])
def test_bad_options_are_one_clear_error(make, message):
    with pytest.raises(AdvlabError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        make()


def test_bad_data_for_a_trigger_is_one_clear_error():
    images, labels = random_set(30, channels=3)
    with pytest.raises(AdvlabError, match="channels"):
        BadNets(pattern=torch.ones(2, 2, 2)).apply_trigger(images)
    with pytest.raises(AdvlabError, match="does not fit"):
        BadNets(pattern=torch.ones(1, 9, 2)).apply_trigger(images)
    with pytest.raises(AdvlabError, match="does not fit"):
        BadNets(top=7).apply_trigger(images)
    with pytest.raises(AdvlabError, match="whole image"):
        Blended(pattern=torch.ones(1, 4, 4)).apply_trigger(images)
    with pytest.raises(AdvlabError, match="out of range"):
        BadNets(target=10, poisons=1).poison(images, labels)
    with pytest.raises(AdvlabError, match="only 27"):
        BadNets(target=0, poisons=28).poison(images, labels)
    with pytest.raises(AdvlabError, match=r"\[0, 1\]"):
        BadNets().apply_trigger(images * 2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_the_unit_range_check_names_the_range_and_rejects_nan(dtype):
    images, labels = random_set(30, channels=1)
    images = images.to(dtype)
    BadNets(target=0, poisons=3).poison(images, labels)  # in range: no error
    with pytest.raises(AdvlabError, match=r"found values in \[[0-9.e-]+, 2\]"):
        BadNets(target=0, poisons=3).poison(torch.cat([images, torch.full_like(images[:1], 2.0)]),
                                           torch.cat([labels, labels[:1]]))
    with pytest.raises(AdvlabError, match=r"\[0, 1\]"):
        BadNets(target=0, poisons=3).poison(torch.cat([images, -images[:1] - 0.5]), torch.cat([labels, labels[:1]]))
    broken = images.clone()
    broken[4, 0, 2, 2] = float("nan")
    with pytest.raises(AdvlabError, match="nan"):
        BadNets(target=0, poisons=3).poison(broken, labels)


def test_registry_names_every_poison_and_make_poison_checks_names():
    assert set(POISONS) == {"badnets", "blended", "clean-label", "label-flip", "feature-collision", "trojan", "svm",
                            "back-gradient"}
    assert isinstance(make_poison("badnets", target=2, rate=0.1), BadNets)
    with pytest.raises(AdvlabError, match="valid poisons are: badnets"):
        make_poison("badnet")
    with pytest.raises(AdvlabError, match="valid options are"):
        make_poison("blended", alfa=0.1)


# ---------------------------------------------------------------- it works


def test_badnets_backdoor_works_on_a_small_cnn_and_a_clean_one_ignores_it():
    digits = load_digits_images()
    order = torch.randperm(len(digits.data), generator=torch.Generator().manual_seed(0))
    train, test = order[:1400], order[1400:]
    backdoor = BadNets(target=0, rate=0.05)
    poisoned = backdoor.poison(digits.data[train], digits.labels[train], seed=0)
    backdoored = train_small_cnn(poisoned.images, poisoned.labels, epochs=6)
    clean = train_small_cnn(digits.data[train], digits.labels[train], epochs=6)
    images, labels = digits.data[test], digits.labels[test]
    accuracy = float((backdoored(images).argmax(1) == labels).float().mean())
    assert accuracy > 0.9
    assert attack_success_rate(backdoored, backdoor, images, labels, 10) > 0.9
    assert attack_success_rate(clean, backdoor, images, labels, 10) < 0.2
