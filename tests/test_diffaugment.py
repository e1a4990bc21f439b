"""DiffAugment (Zhao et al. 2020): shapes, gradients, determinism and each transform by hand."""

import pytest
import torch
from helpers import raises_one_line

from advlab.core.seeding import make_generator
from advlab.gan.diffaugment import (
    adjust_brightness,
    adjust_contrast,
    adjust_saturation,
    cut_out,
    diff_augment,
    parse_policy,
    translate,
)


def seeded(seed: int = 0) -> torch.Generator:
    return make_generator(seed, torch.device("cpu"))


def random_images(n=6, channels=3, size=16, seed=1):
    return torch.rand((n, channels, size, size), generator=seeded(seed))


@pytest.mark.parametrize("policy", ["color,translation,cutout", "color", "translation", "cutout",
                                    "cutout, color", ""])
@pytest.mark.parametrize("shape", [(4, 3, 16, 16), (5, 1, 8, 12)])
def test_shape_and_dtype_are_kept(policy, shape):
    images = torch.rand(shape, generator=seeded())
    out = diff_augment(images, policy, seeded(1))
    assert out.shape == images.shape and out.dtype == images.dtype


def test_empty_policy_is_the_identity():
    images = random_images()
    assert torch.equal(diff_augment(images, "", seeded()), images)


def test_gradient_reaches_the_images():
    images = random_images().requires_grad_(True)
    diff_augment(images, "color,translation,cutout", seeded()).square().sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert (images.grad != 0).float().mean() > 0.3  # cutout and translation drop at most ~1/2 of the pixels


def shifted_by_hand(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """out[y, x] = image[y - dy, x - dx] where that is inside the image, else 0."""
    out = torch.zeros_like(image)
    height, width = image.shape[-2:]
    for y in range(height):
        for x in range(width):
            if 0 <= y - dy < height and 0 <= x - dx < width:
                out[..., y, x] = image[..., y - dy, x - dx]
    return out


def test_translation_against_a_shift_by_hand():
    images = (torch.arange(40 * 2 * 8 * 8, dtype=torch.float32) + 1).view(40, 2, 8, 8)
    out = translate(images, seeded(3))
    for image, moved in zip(images, out):
        (dy, dx), = ((moved[0] == image[0, 4, 4]).nonzero() - 4).tolist()  # the centre pixel never leaves
        assert max(abs(dy), abs(dx)) <= 1  # round(8 / 8) = 1
        assert torch.equal(moved, shifted_by_hand(image, dy, dx))


def test_translation_gradient_marks_the_pixels_that_stay():
    """d(sum of translated)/d(input) is 1 where a pixel stays in the image: the kept area turned 180 degrees."""
    images = torch.ones((50, 1, 8, 8), requires_grad=True)
    out = translate(images, seeded(3))
    out.sum().backward()
    assert torch.equal(images.grad, out.detach().flip(2, 3))
    kept_per_image = images.grad.sum(dim=(1, 2, 3))
    assert ((kept_per_image >= 7 * 7) & (kept_per_image <= 64)).all() and (kept_per_image < 64).any()


def test_seeded_generator_is_deterministic_and_per_sample():
    images = random_images()
    first = diff_augment(images, generator=seeded(7))
    again = diff_augment(images, generator=seeded(7))
    other = diff_augment(images, generator=seeded(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    same_image = random_images(n=1).expand(8, -1, -1, -1)
    varied = diff_augment(same_image, generator=seeded(7))
    assert len({tuple(v.flatten().tolist()) for v in varied}) == 8  # each sample its own parameters


def test_generator_none_uses_torchs_global_generator():
    images = random_images()
    torch.manual_seed(5)
    first = diff_augment(images)
    torch.manual_seed(5)
    assert torch.equal(diff_augment(images), first)


def test_translation_moves_one_pixel_within_an_eighth_and_never_wraps():
    size, centre = 16, 8
    image = torch.zeros((400, 1, size, size))
    image[:, 0, centre, centre] = 1.0
    moved = translate(image, seeded(2))
    assert torch.equal(moved.sum(dim=(1, 2, 3)), torch.ones(400))  # the lit pixel stays in the image
    where = moved[:, 0].flatten(1).argmax(dim=1)
    shifts = {(int(i) // size - centre, int(i) % size - centre) for i in where}
    assert shifts == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}  # round(16 / 8) = 2, all 25

    corner = torch.zeros((400, 1, size, size))
    corner[:, 0, 0, 0] = 1.0
    moved = translate(corner, seeded(2))
    lit = moved[:, 0].nonzero()[:, 1:]
    assert (lit <= 2).all()  # moved down/right by at most 2, never wrapped to the far side
    dropped = (moved.sum(dim=(1, 2, 3)) == 0).float().mean()
    assert abs(dropped - 16 / 25) < 0.1  # shifted out whenever dy < 0 or dx < 0: 1 - (3/5)^2


def test_cutout_zeroes_a_quarter_of_the_image_when_inside():
    """A 16x16 image loses an 8x8 square (1/4 of the area) unless the border clips it."""
    images = torch.ones((2000, 2, 16, 16))
    out = cut_out(images, seeded(4))
    assert torch.equal(out[:, 0], out[:, 1])  # the same square in every channel
    zero = out[:, 0] == 0
    rows, cols = zero.any(dim=2).sum(dim=1), zero.any(dim=1).sum(dim=1)
    assert torch.equal(zero.sum(dim=(1, 2)), rows * cols)  # one rectangle
    assert rows.max() == 8 and cols.max() == 8 and rows.min() >= 4 and cols.min() >= 4
    inside = (rows == 8) & (cols == 8)
    assert torch.equal(zero[inside].float().mean(dim=(1, 2)), torch.full((int(inside.sum()),), 0.25))
    # the centre is uniform on {0, ..., 16}: the square has 4, 5, 6, 7, then 8 (nine times), 7, 6, 5, 4 rows
    expected_rows = (4 + 5 + 6 + 7 + 8 * 9 + 7 + 6 + 5 + 4) / 17
    assert abs(zero.float().mean() - (expected_rows / 16) ** 2) < 0.01
    assert abs(rows.float().mean() - expected_rows) < 0.1


def test_cutout_of_odd_sizes_rounds_half_up():
    out = cut_out(torch.ones((300, 1, 9, 5)), seeded(6))
    zero = out[:, 0] == 0
    assert zero.any(dim=2).sum(dim=1).max() == 5  # round(4.5) = 5 rows
    assert zero.any(dim=1).sum(dim=1).max() == 3  # round(2.5) = 3 columns


def test_color_transforms_by_hand():
    """Each colour transform against its closed form with the same draws."""
    images = random_images(n=4)
    draws = torch.rand(4, generator=seeded(9)).view(-1, 1, 1, 1)
    bright = adjust_brightness(images, seeded(9))
    assert torch.allclose(bright, images + draws / 2 - 0.25)
    channel_mean = images.mean(dim=1, keepdim=True)
    assert torch.allclose(adjust_saturation(images, seeded(9)), channel_mean + (images - channel_mean) * 2 * draws)
    image_mean = images.mean(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(adjust_contrast(images, seeded(9)), image_mean + (images - image_mean) * (draws + 0.5))


def test_color_leaves_values_outside_the_unit_interval_unclamped():
    images = torch.ones((200, 3, 4, 4))
    images[:, :, :2] = 0.0
    out = diff_augment(images, "color", seeded(0))
    assert out.max() > 1.0 and out.min() < 0.0


def test_grey_image_keeps_its_colour_under_saturation():
    grey = torch.full((3, 1, 4, 4), 0.3)
    assert torch.allclose(adjust_saturation(grey, seeded(0)), grey)


def test_parse_policy_keeps_the_order():
    assert parse_policy(" cutout,color ") == ("cutout", "color")
    assert parse_policy("") == ()


@pytest.mark.parametrize("policy", ["colour", "color,flip", "color,,cutout"])
def test_unknown_policy_is_one_line_listing_the_valid_names(policy):
    raises_one_line(lambda: diff_augment(random_images(), policy), "unknown DiffAugment policy", "color",
                    "translation", "cutout")


def test_wrong_image_shape_is_one_line():
    raises_one_line(lambda: diff_augment(torch.rand(3, 16, 16)), "(N, C, H, W)", "(3, 16, 16)")
    raises_one_line(lambda: parse_policy(None), "policy")
