"""Masks for physical-world attacks: shapes, counts, symmetry, errors, and use as an attack's mask."""

import pytest
import torch
from torch import nn

from advlab.attacks.masks import eyeglass_mask, random_blocks_mask, rectangle_mask, stickers_mask
from advlab.attacks.pgd import PGD
from advlab.core.errors import AdvlabError


def test_rectangle_mask_by_hand():
    mask = rectangle_mask(6, 8, 1, 2, 3, 4)
    assert mask.shape == (6, 8) and mask.dtype == torch.bool
    assert int(mask.sum()) == 12
    expected = torch.zeros(6, 8, dtype=torch.bool)
    expected[1:4, 2:6] = True
    assert torch.equal(mask, expected)
    assert int(rectangle_mask(6, 8, 0, 0, 6, 8).sum()) == 48  # the whole image fits


def test_stickers_are_a_union_of_rectangles():
    mask = stickers_mask(10, 10, [(0, 0, 2, 3), (5, 5, 3, 3), (6, 6, 2, 2)])  # the third lies in the second
    assert int(mask.sum()) == 6 + 9
    overlapping = stickers_mask(10, 10, [(0, 0, 2, 2), (1, 1, 2, 2)])
    assert int(overlapping.sum()) == 4 + 4 - 1


@pytest.mark.parametrize("h, w, temples", [(32, 32, False), (24, 40, True), (31, 45, False), (8, 8, False)])
def test_eyeglass_mask_is_symmetric_and_a_frame(h, w, temples):
    mask = eyeglass_mask(h, w, temples=temples)
    assert mask.shape == (h, w) and mask.dtype == torch.bool
    assert torch.equal(mask, mask.flip(-1))
    assert 0 < int(mask.sum()) < h * w / 3
    assert not mask[0].any() and not mask[-1].any()  # the frame sits on the eye line, not the edges


def test_eyeglass_rims_are_rings_with_an_open_lens():
    mask = eyeglass_mask(32, 32)
    centre_row, left_centre = int(0.4 * 32), int(32 / 2 - 0.5 * 32 / 2)
    assert not mask[centre_row, left_centre]  # the lens itself is free
    assert mask[centre_row].sum() >= 4  # the row through the lenses crosses the rims (2 per lens)
    assert int(eyeglass_mask(32, 32, temples=True).sum()) > int(mask.sum())


def test_random_blocks_have_exact_counts_and_are_reproducible():
    mask = random_blocks_mask(8, 8, 3, 2, seed=0)
    assert mask.shape == (8, 8) and int(mask.sum()) == 3 * 4
    assert torch.equal(mask, random_blocks_mask(8, 8, 3, 2, seed=0))
    assert not torch.equal(mask, random_blocks_mask(8, 8, 3, 2, seed=1))
    cells = mask.view(4, 2, 4, 2).any(3).any(1)
    assert int(cells.sum()) == 3  # whole cells of the 2x2 grid
    assert int(random_blocks_mask(9, 9, 16, 2, seed=0).sum()) == 64  # all cells of the grid


@pytest.mark.parametrize("call, words", [
    (lambda: rectangle_mask(8, 8, 6, 0, 4, 2), "does not fit an image of 8x8"),
    (lambda: rectangle_mask(8, 8, -1, 0, 2, 2), "top must be an integer >= 0"),
    (lambda: rectangle_mask(8, 8, 0, 0, 0, 2), "height must be an integer >= 1"),
    (lambda: rectangle_mask(0, 8, 0, 0, 1, 1), "height must be an integer >= 1"),
    (lambda: stickers_mask(8, 8, []), "at least one box"),
    (lambda: stickers_mask(8, 8, [(0, 0, 2)]), r"a box is \(top, left, height, width\)"),
    (lambda: stickers_mask(8, 8, [(0, 0, 2, 2), (7, 7, 2, 2)]), "does not fit"),
    (lambda: eyeglass_mask(32, 32, eye_distance=0.2, lens_width=0.36), "the rims overlap"),
    (lambda: eyeglass_mask(32, 32, eye_distance=0.7, lens_width=0.4), "wider than the image"),
    (lambda: eyeglass_mask(32, 32, thickness=0.0), "thickness must be a number > 0"),
    (lambda: eyeglass_mask(32, 32, eye_row=1.5), "eye_row is a fraction"),
    (lambda: random_blocks_mask(8, 8, 5, 4), "do not fit an image of 8x8"),
    (lambda: random_blocks_mask(8, 8, 0, 2), "blocks must be an integer >= 1"),
])
def test_masks_that_do_not_fit_are_refused(call, words):
    with pytest.raises(AdvlabError, match=words):
        call()


def test_a_mask_confines_an_attack():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 10))
    x = torch.rand(4, 3, 16, 16)
    mask = stickers_mask(16, 16, [(2, 2, 3, 5), (10, 8, 4, 4)])
    adv = PGD(model, eps=0.1, steps=3, seed=0)(x, torch.arange(4), mask=mask)
    assert torch.equal(adv[..., ~mask], x[..., ~mask])
    assert (adv[..., mask] != x[..., mask]).float().mean() > 0.5
