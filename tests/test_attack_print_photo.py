"""Kurakin et al.'s destruction rate, by hand on a lookup model, and the simulated print and photo."""

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from advlab.attacks.pgd import PGD
from advlab.attacks.print_photo import (
    DESTRUCTION_GRID,
    destruction_rate,
    destruction_table,
    jpeg,
    simulate_print_photo,
)
from advlab.core.errors import AdvlabError


class GreyLevel(nn.Module):
    """A lookup classifier: an image whose mean is k/9 is class k (the nearest k wins)."""

    def forward(self, images):
        level = images.flatten(1).mean(1, keepdim=True) * 9
        return -(level - torch.arange(10.0)) ** 2


def grey(levels):
    return torch.tensor(levels, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 1, 4, 4) / 9


def test_destruction_rate_by_hand():
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    clean = grey([0, 1, 2, 3, 4, 6])        # C(X) = 1 1 1 1 1 0
    adversarial = grey([1, 1, 3, 4, 5, 6])  # ¬C(X_adv) = 1 0 1 1 1 1
    shift = grey([1, 0, 1, 0, 0, 1])        # T moves images 0, 2 and 5 down a level
    transform = lambda images: images - shift  # noqa: E731
    # counted: C(X) ¬C(X_adv) = images 0, 2, 3, 4; of those C(T(X_adv)) = images 0, 2 -> d = 2 / 4
    assert destruction_rate(GreyLevel(), clean, adversarial, labels, transform) == pytest.approx(0.5)
    # the identity destroys nothing; a transform that undoes the attack destroys everything counted
    assert destruction_rate(GreyLevel(), clean, adversarial, labels, lambda images: images) == 0.0
    assert destruction_rate(GreyLevel(), clean, adversarial, labels, lambda images: clean) == 1.0


def test_destruction_rate_is_none_when_no_image_counts():
    labels = torch.tensor([0, 1])
    assert destruction_rate(GreyLevel(), grey([0, 1]), grey([0, 1]), labels, lambda images: images) is None


def test_destruction_rate_refuses_mismatched_batches():
    with pytest.raises(AdvlabError, match="do not match"):
        destruction_rate(GreyLevel(), grey([0, 1]), grey([0, 1, 2]), torch.tensor([0, 1]), lambda images: images)


def test_simulation_keeps_shape_and_range_and_is_reproducible():
    x = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    first = simulate_print_photo(x, seed=1)
    assert first.shape == x.shape and first.dtype == x.dtype
    assert first.min() >= 0 and first.max() <= 1
    assert torch.equal(first, simulate_print_photo(x, seed=1))
    assert not torch.equal(first, simulate_print_photo(x, seed=2))
    assert torch.equal(simulate_print_photo(x, seed=1, severity=0.0), x)
    mild = (simulate_print_photo(x, seed=1, severity=0.5) - x).abs().mean()
    harsh = (simulate_print_photo(x, seed=1, severity=2.0) - x).abs().mean()
    assert 0 < mild < harsh


def test_simulation_refuses_bad_input():
    with pytest.raises(AdvlabError, match="severity must be a number >= 0"):
        simulate_print_photo(torch.rand(2, 1, 8, 8), severity=-1.0)
    with pytest.raises(AdvlabError, match="images must lie in"):
        simulate_print_photo(torch.rand(2, 1, 8, 8) + 2)


def test_jpeg_matches_pillow_and_loses_more_at_low_quality():
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    pixels = (x[0] * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="JPEG", quality=50)
    expected = torch.from_numpy(np.array(Image.open(buffer))).permute(2, 0, 1).float() / 255
    assert torch.allclose(jpeg(x, 50)[0], expected)
    assert (jpeg(x, 95) - x).abs().mean() < (jpeg(x, 10) - x).abs().mean()
    assert jpeg(torch.rand(2, 2, 8, 8), [30, 60]).shape == (2, 2, 8, 8)  # channel by channel
    with pytest.raises(AdvlabError, match="quality must lie in"):
        jpeg(x, 0)


def test_destruction_table_on_the_digits(digits_cnn):
    torch.set_num_threads(1)
    model, x, y = digits_cnn.model, digits_cnn.images[:64], digits_cnn.labels[:64]
    adversarial = PGD(model, eps=0.15, steps=10, seed=0)(x, y)
    rows = destruction_table(model, x, adversarial, y, {"brightness": (0.0, 0.1), "blur": (1.0,), "jpeg": (10,)})
    assert [(row["transform"], row["parameter"]) for row in rows] == [
        ("brightness", 0.0), ("brightness", 0.1), ("blur", 1.0), ("jpeg", 10)]
    assert rows[0]["destruction_rate"] == 0.0  # no change, nothing destroyed
    assert all(0 <= row["destruction_rate"] <= 1 for row in rows)
    assert len(destruction_table(model, x[:8], adversarial[:8], y[:8])) == sum(map(len, DESTRUCTION_GRID.values()))
    with pytest.raises(AdvlabError, match="unknown transform 'sepia'"):
        destruction_table(model, x, adversarial, y, {"sepia": (1.0,)})
