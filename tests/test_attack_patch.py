"""The adversarial patch (Brown et al. 2017): a trained patch beats a random one; pasting is local."""

import pytest
import torch

from advlab.attacks.masks import rectangle_mask
from advlab.attacks.patch import Patch, Placement, paste
from advlab.core.errors import AdvlabError

TARGET = 5


@pytest.fixture(scope="module")
def split(digits_cnn):
    """Images not of the target class: 64 to train the patch on, the rest held out."""
    torch.set_num_threads(1)
    keep = digits_cnn.labels != TARGET
    x, y = digits_cnn.images[keep], digits_cnn.labels[keep]
    return digits_cnn.model, x[:64], y[:64], x[64:]


def target_rate(model, images):
    return float((model(images).argmax(1) == TARGET).float().mean())


def test_a_trained_patch_beats_a_random_patch_on_held_out_images(split):
    # Measured: 0.895 of the held-out images go to the target with the trained 6x6 patch
    # (a 0.75 side on 8x8 digits), 0.019 with a random patch of the same size and placements.
    model, train_x, train_y, held_out = split
    attack = Patch(model, size=0.75, steps=50, lr=0.1, samples=2, targeted=True, seed=0)
    patch = attack.fit(train_x, torch.full_like(train_y, TARGET))
    assert patch.shape == (1, 6, 6) and patch.min() >= 0 and patch.max() <= 1
    with torch.no_grad():
        trained = target_rate(model, attack.apply(held_out, patch, torch.Generator().manual_seed(1)))
        random = max(target_rate(model, attack.apply(held_out, torch.rand(patch.shape, generator=g),
                                                     torch.Generator().manual_seed(1)))
                     for g in (torch.Generator().manual_seed(s) for s in range(3)))
    assert trained >= 0.6 and trained >= random + 0.4, (trained, random)


def test_pasting_touches_only_the_patch_area():
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    patch = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(1))
    placement = Placement(angles=torch.zeros(2), scales=torch.ones(2), centres=torch.tensor([[4.0, 4.0], [2.0, 6.0]]))
    out = paste(images, patch, placement)
    inside = [rectangle_mask(8, 8, 2, 2, 4, 4), rectangle_mask(8, 8, 4, 0, 4, 4)]  # rows, columns from (x, y)
    for k in range(2):
        assert torch.equal(out[k][:, ~inside[k]], images[k][:, ~inside[k]])
        assert torch.allclose(out[k][:, inside[k]].view(3, 4, 4), patch, atol=1e-6)
    turned = paste(images, patch, Placement(torch.tensor([90.0, 0.0]), torch.ones(2), placement.centres))
    assert torch.allclose(turned[0][:, 2:6, 2:6], torch.rot90(patch, 1, (1, 2)), atol=1e-6)


def test_the_attack_changes_only_pixels_near_its_patch_and_keeps_the_patch(split):
    model, train_x, train_y, _ = split
    options = {"size": 0.5, "steps": 3, "samples": 1, "rotate": 0.0, "scale_min": 1.0, "scale_max": 1.0, "seed": 0}
    attack = Patch(model, **options)
    adv = attack(train_x, train_y)
    changed = (adv != train_x)[:, 0]
    assert changed.flatten(1).any(1).all()
    for image in changed:  # a 4x4 patch at a sub-pixel centre touches a 5x5 window at most
        rows, columns = image.any(1).nonzero().flatten(), image.any(0).nonzero().flatten()
        assert rows.max() - rows.min() < 5 and columns.max() - columns.min() < 5
    assert attack.patch is not None and attack.patch.shape == (1, 4, 4)
    assert torch.equal(adv, Patch(model, **options)(train_x, train_y))


def test_a_mask_confines_the_patch(split):
    model, train_x, train_y, _ = split
    mask = rectangle_mask(8, 8, 0, 0, 4, 8)  # the top half
    attack = Patch(model, size=0.5, steps=3, samples=1, targeted=True, seed=0)
    with torch.no_grad():
        pasted = attack.apply(train_x, torch.rand(1, 4, 4), torch.Generator().manual_seed(0), mask=mask)
    assert torch.equal(pasted[..., ~mask], train_x[..., ~mask])
    assert (pasted[..., mask] != train_x[..., mask]).any()
    patch = attack.fit(train_x, torch.full_like(train_y, TARGET), mask=mask)
    assert patch.shape == (1, 4, 4)


def test_run_with_one_target_measures_targeted_success(split):
    model, train_x, train_y, _ = split
    targets = torch.full_like(train_y, TARGET)
    attack = Patch(model, size=0.75, steps=20, lr=0.1, samples=1, targeted=True, seed=0)
    result, = attack.run(train_x, train_y, targets)
    assert result.targeted and torch.equal(result.targets, targets)
    assert result.summary()["success_rate"] > 0.3
    assert len(attack.patches) == 1 and attack.patch.shape == (1, 6, 6)  # kept through the base class's copy


def test_untargeted_patch_lowers_accuracy(split):
    model, train_x, train_y, _ = split
    result, = Patch(model, size=0.75, steps=20, lr=0.1, samples=1, seed=0).run(train_x, train_y)
    assert result.summary()["robust_accuracy"] < 0.5 < result.summary()["clean_accuracy"]


@pytest.mark.parametrize("options, words", [
    ({"size": 0.0}, "size must be a number > 0"),
    ({"size": -0.2}, "size must be a number > 0"),
    ({"size": 1.5}, r"size must lie in \(0, 1\]"),
    ({"steps": -1}, "steps must be an integer >= 0"),
    ({"samples": 0}, "samples must be an integer >= 1"),
    ({"scale_min": 1.5, "scale_max": 1.0}, "scale_min .* must not exceed scale_max"),
    ({"minibatch": 0}, "minibatch must be an integer >= 1"),
    ({"lr": 0.0}, "lr must be a number > 0"),
])
def test_bad_options_are_refused(split, options, words):
    with pytest.raises(AdvlabError, match=words):
        Patch(split[0], **options)


def test_bad_targets_and_patch_shapes_are_refused(split):
    model, train_x, train_y, _ = split
    beyond = torch.full_like(train_y, 12)
    with pytest.raises(AdvlabError, match=r"must lie in \[0, 9\]"):
        Patch(model, steps=1, targeted=True)(train_x, beyond)
    with pytest.raises(AdvlabError, match=r"labels must lie in \[0, 9\]"):
        Patch(model, steps=1, targeted=True).fit(train_x, beyond)
    with pytest.raises(AdvlabError, match="a patch must be"):
        Patch(model).apply(train_x, torch.rand(3, 4, 4))
    with pytest.raises(AdvlabError, match=r"images must be \(N, C, H, W\)"):
        Patch(model).apply(train_x.flatten(1), torch.rand(1, 4, 4))
