"""Unpaired sets for CycleGAN: the built-in digits-thick, shapes-textured and circles-squares, the user's two folders,
held-out splits, determinism and the refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.measure import label, regionprops

from advlab.core.errors import AdvlabError
from advlab.data.unpaired_sets import HELD_OUT_FRACTION, UNPAIRED_SETS, load_unpaired


def rows_as_bytes(images: torch.Tensor) -> set[bytes]:
    return {image.numpy().tobytes() for image in images}


@pytest.fixture(scope="module")
def built_in() -> dict:
    return {name: load_unpaired(name) for name in UNPAIRED_SETS}


@pytest.mark.parametrize("name, channels, per_side", [("digits-thick", 1, 2500), ("shapes-textured", 3, 1200),
                                                      ("circles-squares", 3, 1200)])
def test_built_in_shapes_range_and_held_out_split(built_in, name, channels, per_side):
    data = built_in[name]
    assert not data.paired and not data.held_out.paired
    held = round(HELD_OUT_FRACTION * per_side)
    assert data.a.shape == (per_side - held, channels, 32, 32) and data.b.shape == (per_side - held, channels, 32, 32)
    assert data.held_out.a.shape == (held, channels, 32, 32) and data.held_out.b.shape == (held, channels, 32, 32)
    for images in (data.a, data.b, data.held_out.a):
        assert images.dtype == torch.float32 and 0 <= float(images.min()) and float(images.max()) <= 1
    assert not rows_as_bytes(data.held_out.a) & rows_as_bytes(data.a)  # held-out images are never trained on
    assert not rows_as_bytes(data.held_out.b) & rows_as_bytes(data.b)


def test_built_in_sets_are_deterministic_and_follow_the_seed(built_in):
    again = load_unpaired("circles-squares")
    assert torch.equal(again.a, built_in["circles-squares"].a)
    assert torch.equal(again.held_out.b, built_in["circles-squares"].held_out.b)
    other = load_unpaired("circles-squares", seed=1)
    assert not torch.equal(other.a, again.a)
    digits = load_unpaired("digits-thick", seed=1)
    assert not torch.equal(digits.held_out.a, built_in["digits-thick"].held_out.a)


def test_digits_thick_b_has_thicker_strokes_and_shares_no_digit(built_in):
    data = built_in["digits-thick"]
    assert float(data.b.mean()) > 1.6 * float(data.a.mean())  # dilation by 3x3 roughly doubles the ink
    assert not rows_as_bytes(data.a) & rows_as_bytes(data.b)
    both = torch.cat([data.a, data.held_out.a, data.b, data.held_out.b])
    assert len(both) == 5000


def test_shapes_textured_b_is_striped(built_in):
    """Stripes add edges inside shapes: the mean absolute difference of neighbouring pixels grows in B."""
    data = built_in["shapes-textured"]

    def roughness(images):
        return float((images[..., 1:] - images[..., :-1]).abs().mean() + (images[..., 1:, :] - images[..., :-1, :])
                     .abs().mean())

    assert roughness(data.b) > 1.5 * roughness(data.a)
    assert all(float(image.min()) < 1 for image in data.a)  # every image holds at least one shape


def test_circles_squares_differ_in_geometry_not_in_area(built_in):
    """Squares fill their bounding box (extent 1), discs about pi / 4 of it; the shapes cover similar areas."""
    data = built_in["circles-squares"]

    def extents_and_area(images):
        extents, area = [], 0
        for image in images[:200]:
            mask = (image < 1).any(0).numpy()
            area += mask.sum()
            extents += [region.extent for region in regionprops(label(mask))]
        return float(np.mean(extents)), area

    (disc_extent, disc_area), (square_extent, square_area) = extents_and_area(data.a), extents_and_area(data.b)
    assert disc_extent < 0.85 and square_extent > 0.95
    assert 0.8 < square_area / disc_area < 1.25
    assert "geometry" in UNPAIRED_SETS["circles-squares"] and "failure" in UNPAIRED_SETS["circles-squares"]


def test_image_size_and_its_floor():
    data = load_unpaired("shapes-textured", image_size=16)
    assert data.a.shape[1:] == (3, 16, 16)
    assert load_unpaired("digits-thick", image_size=8).b.shape[1:] == (1, 8, 8)
    with pytest.raises(AdvlabError, match="at least 8"):
        load_unpaired("circles-squares", image_size=4)


def write_images(folder, count, size=(12, 10), mode="RGB", seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / f"{index:02d}.png")
    return folder


def test_two_folders_any_counts_with_held_out_and_common_size(tmp_path):
    path_a, path_b = write_images(tmp_path / "horses", 5), write_images(tmp_path / "zebras", 12, seed=1)
    data = load_unpaired(path_a=path_a, path_b=path_b)
    assert data.name == "horses-zebras" and not data.paired
    assert data.a.shape == (4, 3, 10, 12) and data.held_out.a.shape == (1, 3, 10, 12)
    assert data.b.shape == (11, 3, 10, 12) and data.held_out.b.shape == (1, 3, 10, 12)
    again = load_unpaired(path_a=str(path_a), path_b=str(path_b))
    assert torch.equal(again.held_out.b, data.held_out.b)
    resized = load_unpaired(path_a=path_a, path_b=path_b, image_size=16)
    assert resized.a.shape[1:] == (3, 16, 16)


def test_a_grey_folder_beside_a_colour_one_gets_three_channels(tmp_path):
    grey = write_images(tmp_path / "grey", 3, mode="L")
    data = load_unpaired(path_a=grey, path_b=write_images(tmp_path / "colour", 3))
    assert data.a.shape[1] == data.b.shape[1] == 3
    assert torch.equal(data.a[:, 0], data.a[:, 2])


def test_folder_refusals(tmp_path):
    good = write_images(tmp_path / "good", 3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(AdvlabError, match="no images found"):
        load_unpaired(path_a=good, path_b=tmp_path / "empty")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.png").write_bytes(b"not a png")
    write_images(broken, 2)
    with pytest.raises(AdvlabError, match="cannot read"):
        load_unpaired(path_a=broken, path_b=good)
    with pytest.raises(AdvlabError, match="domain B .*missing"):
        load_unpaired(path_a=good)
    with pytest.raises(AdvlabError, match="domain A .*missing"):
        load_unpaired(path_b=good)
    with pytest.raises(AdvlabError, match="at least 2 images"):
        load_unpaired(path_a=good, path_b=write_images(tmp_path / "one", 1))
    other_size = write_images(tmp_path / "big", 3, size=(16, 16))
    with pytest.raises(AdvlabError, match="pass image_size"):
        load_unpaired(path_a=good, path_b=other_size)
    with pytest.raises(AdvlabError, match="not both"):
        load_unpaired("digits-thick", path_a=good, path_b=good)
    with pytest.raises(AdvlabError, match="nothing there"):
        load_unpaired(path_a=tmp_path / "nowhere", path_b=good)


def test_unknown_name_lists_the_built_in_sets():
    with pytest.raises(AdvlabError, match="digits-thick, shapes-textured, circles-squares"):
        load_unpaired("horse2zebra")
    with pytest.raises(AdvlabError, match="domain A"):
        load_unpaired()
