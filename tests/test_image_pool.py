"""The image pool of Shrivastava et al. 2017 as CycleGAN uses it: store while filling, then an old image with
probability 1/2, chosen uniformly and replaced by the new one."""

from __future__ import annotations

import math

import pytest
import torch

from advlab.core.errors import AdvlabError
from advlab.translation.image_pool import ImagePool


def tagged(*tags: float) -> torch.Tensor:
    """(len(tags), 1, 2, 2) images whose every pixel is their tag, so that a returned image names itself."""
    return torch.tensor(tags, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 1, 2, 2).clone()


def tags_of(images: torch.Tensor) -> list[float]:
    return images[:, 0, 0, 0].tolist()


def stored_tags(pool: ImagePool) -> list[float]:
    return [float(image[0, 0, 0]) for image in pool.images]


def test_while_filling_every_image_is_stored_and_returned():
    pool = ImagePool(5, torch.Generator().manual_seed(0))
    assert tags_of(pool.query(tagged(1, 2, 3))) == [1, 2, 3]
    assert tags_of(pool.query(tagged(4, 5))) == [4, 5]
    assert stored_tags(pool) == [1, 2, 3, 4, 5] and len(pool) == 5


def test_a_minibatch_is_taken_image_by_image_across_the_filling_boundary():
    """Pool of 3 holding 2: the first new image is stored and returned; the rest meet a full pool."""
    pool = ImagePool(3, torch.Generator().manual_seed(1))
    pool.query(tagged(1, 2))
    returned = tags_of(pool.query(tagged(10, 11, 12, 13)))
    assert returned[0] == 10
    assert len(pool) == 3
    for tag in returned[1:]:
        assert tag in (1, 2, 10, 11, 12, 13)


def test_size_zero_returns_the_input_and_stores_nothing():
    pool = ImagePool(0)
    images = tagged(7, 8, 9).requires_grad_()
    returned = pool.query(images)
    assert torch.equal(returned, images.detach()) and not returned.requires_grad
    assert len(pool) == 0


def test_once_full_half_the_answers_are_old_images_chosen_uniformly_and_replaced():
    """Single-image queries on a full pool of 10: the number of old images returned is Binomial(n, 1/2); each old
    one left the pool and the new image took its slot; the slots are hit uniformly (chi-square)."""
    size, queries = 10, 2000
    pool = ImagePool(size, torch.Generator().manual_seed(3))
    pool.query(tagged(*range(size)))
    old, slots = 0, [0] * size
    for index in range(queries):
        new = 1000.0 + index
        before = stored_tags(pool)
        answer = tags_of(pool.query(tagged(new)))[0]
        after = stored_tags(pool)
        if answer == new:
            assert after == before
            continue
        old += 1
        slot = before.index(answer)
        slots[slot] += 1
        assert after == before[:slot] + [new] + before[slot + 1:]
    spread = 4 * math.sqrt(queries * 0.25)  # four binomial standard deviations: 89 images
    assert abs(old - queries / 2) < spread
    expected = old / size
    chi_square = sum((count - expected) ** 2 / expected for count in slots)
    assert chi_square < 40  # 9 degrees of freedom: P(chi2 > 40) ~ 1e-5


def test_returned_images_are_detached_and_stored_copies_do_not_alias_the_input():
    pool = ImagePool(2)
    images = tagged(1, 2).requires_grad_()
    assert not pool.query(images).requires_grad
    with torch.no_grad():
        images.mul_(0)
    assert stored_tags(pool) == [1, 2]


def test_same_seed_same_answers_and_state_round_trip_continues_exactly():
    first, second = ImagePool(4, torch.Generator().manual_seed(5)), ImagePool(4, torch.Generator().manual_seed(5))
    for step in range(6):
        batch = tagged(*(10.0 * step + k for k in range(3)))
        assert torch.equal(first.query(batch), second.query(batch))
    state = first.state()
    assert state["images"].shape == (4, 1, 2, 2) and int(state["count"]) == 4
    restored = ImagePool(4, torch.Generator().manual_seed(99))
    restored.restore(state)
    for step in range(6, 12):
        batch = tagged(*(10.0 * step + k for k in range(3)))
        assert torch.equal(first.query(batch), restored.query(batch))
    assert stored_tags(first) == stored_tags(restored)


def test_empty_pool_state_round_trip_and_refusals():
    empty = ImagePool(3).state()
    assert int(empty["count"]) == 0 and empty["images"].numel() == 0
    pool = ImagePool(3)
    pool.restore(empty)
    assert len(pool) == 0
    full = ImagePool(3)
    full.query(tagged(1, 2, 3))
    with pytest.raises(AdvlabError, match="pool size"):
        ImagePool(2).restore(full.state())
    with pytest.raises(AdvlabError, match="size"):
        ImagePool(-1)
