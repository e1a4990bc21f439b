"""Super-resolution data: patches of scikit-image's photographs or the user's folder, the held-out whole images."""

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from advlab.core.errors import AdvlabError
from advlab.data.image_pairs import ImagePairs
from advlab.data.superres_sets import (
    TEST_PHOTOS,
    TRAIN_PHOTOS,
    bicubic_downscale,
    bicubic_upscale,
    builtin_photo,
    dihedral,
    held_out_rows,
    load_superres,
    load_superres_test,
    superres_test_names,
)


def write_photos(folder, sizes, gray=False, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index, (height, width) in enumerate(sizes):
        shape = (height, width) if gray else (height, width, 3)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"photo{index:02d}.png")
    return folder


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_builtin_patches_have_the_shapes_of_their_scale(scale):
    data = load_superres("photos", scale=scale, patch=48 if scale != 8 else 64, count=20)
    patch = 48 if scale != 8 else 64
    assert isinstance(data, ImagePairs) and data.paired and data.scale == scale and data.name == "photos"
    assert data.a.shape == (20, 3, patch // scale, patch // scale) and data.b.shape == (20, 3, patch, patch)
    assert data.held_out.a.shape[1:] == data.a.shape[1:] and data.held_out.b.shape[1:] == data.b.shape[1:]
    assert 0 <= float(data.a.min()) and float(data.b.max()) <= 1


def test_default_patch_is_48_pixels():
    data = load_superres(count=3)
    assert data.b.shape[-1] == 48 and data.a.shape[-1] == 12


def test_low_resolution_patches_are_the_bicubic_downscale_of_the_high_ones_up_to_borders():
    data = load_superres("photos", scale=4, patch=64, count=8)
    inner = bicubic_downscale(data.b, 4)[..., 2:-2, 2:-2]  # away from the patch border the whole-image downscale
    assert torch.allclose(inner, data.a[..., 2:-2, 2:-2], atol=1e-5)  # and the patch's own agree


def test_draws_are_deterministic_and_seeded_while_the_held_out_patches_are_fixed():
    first, again = load_superres(count=16, seed=3), load_superres(count=16, seed=3)
    other = load_superres(count=16, seed=4)
    assert torch.equal(first.a, again.a) and torch.equal(first.b, again.b)
    assert not torch.equal(first.b, other.b)
    assert torch.equal(first.held_out.b, other.held_out.b)


def test_held_out_photographs_are_disjoint_from_training_ones():
    assert not set(TRAIN_PHOTOS) & set(TEST_PHOTOS) and len(TEST_PHOTOS) == 5
    digest = {name: hashlib.sha256(builtin_photo(name).numpy().tobytes()).hexdigest()
              for name in TRAIN_PHOTOS + TEST_PHOTOS}
    assert not {digest[n] for n in TRAIN_PHOTOS} & {digest[n] for n in TEST_PHOTOS}
    # scikit-image's cat is chelsea under another name: it must not enter training
    cat = hashlib.sha256(builtin_photo("cat").numpy().tobytes()).hexdigest()
    assert cat == digest["chelsea"] and cat not in {digest[n] for n in TRAIN_PHOTOS}


def test_no_training_patch_comes_from_a_held_out_image(tmp_path):
    """Held-out images of a folder (every tenth counting back from the last) are bright, the others dark: no
    training patch may hold a bright pixel, and every held-out patch does."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(12):
        bright = index in held_out_rows(12)
        pixels = rng.integers(200, 256, (40, 40, 3)) if bright else rng.integers(0, 100, (40, 40, 3))
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"p{index:02d}.png")
    data = load_superres(folder, scale=2, patch=16, count=200)
    assert float(data.b.max()) < 100 / 255 + 1e-6 and float(data.a.max()) < 0.5
    assert float(data.held_out.b.amin(dim=(1, 2, 3)).min()) > 199 / 255 - 1e-6


def test_test_images_are_whole_cropped_to_the_scale_and_downscaled():
    pairs = load_superres_test("photos", scale=8)
    assert len(pairs) == len(TEST_PHOTOS) == len(superres_test_names())
    chelsea_low, chelsea_high = pairs[list(TEST_PHOTOS).index("chelsea")]
    assert chelsea_high.shape == (1, 3, 296, 448)  # 300 x 451 cropped to multiples of 8
    assert chelsea_low.shape == (1, 3, 37, 56)
    assert torch.equal(chelsea_high[0], builtin_photo("chelsea")[:, :296, :448])
    assert torch.equal(chelsea_low, bicubic_downscale(chelsea_high, 8))


def test_dihedral_has_eight_distinct_symmetries():
    image = torch.arange(9.0).reshape(1, 3, 3)
    variants = {tuple(dihedral(image, code).flatten().tolist()) for code in range(8)}
    assert len(variants) == 8


def test_bicubic_of_a_linear_ramp_stays_a_ramp_in_the_interior():
    ramp = torch.linspace(0, 1, 64).repeat(1, 1, 64, 1)  # (1, 1, 64, 64), rising along the width
    low = bicubic_downscale(ramp, 4)
    centres = (ramp[0, 0, 0, 1::4] + ramp[0, 0, 0, 2::4]) / 2  # low pixel i covers high pixels 4i..4i+3
    assert low.shape == (1, 1, 16, 16)
    assert torch.allclose(low[0, 0, :, 2:-2], centres[2:-2].expand(16, 12), atol=1e-6)
    assert bicubic_upscale(low, 4).shape == (1, 1, 64, 64)


def test_a_folder_gives_patches_holds_out_every_tenth_image_and_tests_on_all(tmp_path):
    folder = write_photos(tmp_path / "photos", [(40, 52)] * 12)
    data = load_superres(folder, scale=2, patch=16, count=10)
    assert data.a.shape == (10, 3, 8, 8) and data.name == "photos"
    assert held_out_rows(12) == [11, 1] and held_out_rows(1) == [] and held_out_rows(2) == [1]
    pairs = load_superres_test(folder, scale=4)
    assert len(pairs) == 12 and pairs[0][1].shape == (1, 3, 40, 52) and pairs[0][0].shape == (1, 3, 10, 13)
    assert superres_test_names(folder)[0] == "photo00.png"
    held = load_superres_test(folder, scale=4, held_out_only=True)
    assert superres_test_names(folder, held_out_only=True) == ["photo01.png", "photo11.png"]
    assert len(held) == 2 and torch.equal(held[1][1], pairs[11][1])
    assert len(load_superres_test("photos", 4, held_out_only=True)) == len(TEST_PHOTOS)
    one = write_photos(tmp_path / "one", [(32, 32)])
    assert load_superres(one, scale=2, patch=16, count=4).held_out is None
    with pytest.raises(AdvlabError, match="holds none out"):
        load_superres_test(one, scale=2, held_out_only=True)


def test_a_gray_folder_stays_gray(tmp_path):
    folder = write_photos(tmp_path / "gray", [(30, 30), (24, 28)], gray=True)
    data = load_superres(folder, scale=2, patch=12, count=5)
    assert data.a.shape == (5, 1, 6, 6)
    assert load_superres_test(folder, 2)[1][1].shape == (1, 1, 24, 28)


def test_bad_input_is_one_clear_error(tmp_path):
    with pytest.raises(AdvlabError, match="2, 4 or 8"):
        load_superres(scale=3)
    with pytest.raises(AdvlabError, match="not a multiple of the scale 4"):
        load_superres(patch=50, scale=4)
    with pytest.raises(AdvlabError, match="no images found"):
        load_superres(tmp_path)
    with pytest.raises(AdvlabError, match="nothing there"):
        load_superres(tmp_path / "missing")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(AdvlabError, match="cannot read"):
        load_superres(tmp_path)
    small = write_photos(tmp_path / "small", [(64, 64), (20, 64)])
    with pytest.raises(AdvlabError, match="smaller than one 48-pixel patch"):
        load_superres(small, scale=4)
    with pytest.raises(AdvlabError, match="too small to evaluate"):
        load_superres_test(small, scale=8)
    with pytest.raises(AdvlabError, match="count"):
        load_superres(count=0)
