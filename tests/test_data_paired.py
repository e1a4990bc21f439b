"""Paired sets for pix2pix: the built-ins (shapes, materials, edges, digits-outlines), label decoding, the user's
folder layouts and every bad input."""

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from advlab.core.errors import AdvlabError
from advlab.data.image_pairs import ImagePairs
from advlab.data.paired_sets import (
    HELD_OUT_PHOTOS,
    LABEL_COLOURS,
    MATERIAL_CLASSES,
    MATERIAL_COLOUR,
    MATERIAL_LABEL_COLOURS,
    PAIRED_SETS,
    SHAPE_CLASSES,
    decode_labels,
    encode_labels,
    label_coding,
    load_paired,
)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def shapes():
    return load_paired("shapes")


def test_every_builtin_is_listed_with_a_description():
    assert set(PAIRED_SETS) == {"shapes", "materials", "edges", "digits-outlines"}
    assert all(isinstance(text, str) and len(text) > 20 for text in PAIRED_SETS.values())


@pytest.mark.parametrize("name,channels,count", [("shapes", (3, 3), 1000), ("materials", (3, 3), 1000),
                                                 ("edges", (1, 3), 1000), ("digits-outlines", (1, 1), 5000)])
def test_builtin_shapes_split_and_range(name, channels, count):
    pairs = load_paired(name)
    held = pairs.held_out
    assert pairs.paired and held is not None and held.paired
    assert len(held) == count // 10 and len(pairs) == count - count // 10
    assert pairs.a_shape == held.a_shape == (channels[0], 32, 32)
    assert pairs.b_shape == held.b_shape == (channels[1], 32, 32)
    for images in (pairs.a, pairs.b, held.a, held.b):
        assert images.dtype == torch.float32 and 0 <= images.min() and images.max() <= 1


@pytest.mark.parametrize("name", ["shapes", "materials", "edges"])
def test_builtins_are_deterministic_in_the_seed(name):
    first, again, other = (load_paired(name, image_size=16, seed=s) for s in (3, 3, 4))
    for x, y in ((first.a, again.a), (first.b, again.b), (first.held_out.b, again.held_out.b)):
        assert torch.equal(x, y)
    assert not torch.equal(first.b, other.b)


def test_digits_outlines_split_is_seeded_and_keeps_every_class():
    first, again, other = (load_paired("digits-outlines", seed=s) for s in (0, 0, 1))
    assert torch.equal(first.held_out.a, again.held_out.a) and not torch.equal(first.held_out.a, other.held_out.a)
    assert len(torch.unique(first.held_out.a.flatten(1), dim=0)) == 500  # 500 distinct digits, none in training


def test_image_size_must_be_a_power_of_two_from_16_for_builtins():
    pairs = load_paired("shapes", image_size=64, held_out=0.5)
    assert pairs.a_shape == (3, 64, 64) and len(pairs) == len(pairs.held_out) == 500
    for size in (24, 8, 0, 48):
        with pytest.raises(AdvlabError, match="image_size"):
            load_paired("shapes", image_size=size)


def test_decode_labels_round_trip_and_tolerates_generator_noise(shapes):
    classes = torch.randint(len(SHAPE_CLASSES), (3, 8, 8))
    labels = encode_labels(classes)
    assert labels.shape == (3, 3, 8, 8)
    assert torch.equal(decode_labels(labels), classes)
    noisy = (labels + 0.3 * (torch.rand_like(labels) - 0.5)).clamp(0, 1)
    assert torch.equal(decode_labels(noisy), classes)
    decoded = decode_labels(shapes.a)
    assert torch.equal(encode_labels(decoded), shapes.a)  # the label images hold palette colours only
    counts = torch.bincount(decoded.flatten(), minlength=len(SHAPE_CLASSES))
    assert (counts > 0).all() and counts[0] == counts.max()  # every class occurs; background is the largest
    with pytest.raises(AdvlabError):
        decode_labels(torch.rand(2, 1, 8, 8))


def test_shapes_scenes_follow_the_label_map_but_are_no_colour_lookup(shapes):
    classes = decode_labels(shapes.a)
    scenes = shapes.b.permute(0, 2, 3, 1)  # (N, H, W, 3)
    means = torch.stack([scenes[classes == k].mean(0) for k in range(len(SHAPE_CLASSES))])
    spreads = torch.stack([scenes[classes == k].std(0).mean() for k in range(len(SHAPE_CLASSES))])
    # each shape class has its own mean colour in the scene (rectangle red-brown, circle yellow, triangle green,
    # ellipse blue), well apart from the others ...
    assert means[1].argmax() == 0 and means[2][:2].min() > means[2][2] and means[3].argmax() == 1
    assert means[4].argmax() == 2
    distances = torch.cdist(means, means) + torch.eye(len(SHAPE_CLASSES))
    assert distances.min() > 0.1
    # ... but the colour of a pixel varies within its class (texture, shading, rims): no per-pixel lookup
    assert (spreads > 0.05).all()
    assert LABEL_COLOURS.shape == (len(SHAPE_CLASSES), 3)


@pytest.fixture(scope="module")
def materials():
    return load_paired("materials")


def test_each_set_decodes_with_its_own_palette(materials):
    assert label_coding("shapes").classes == SHAPE_CLASSES and label_coding("materials").classes == MATERIAL_CLASSES
    assert MATERIAL_LABEL_COLOURS.shape == (len(MATERIAL_CLASSES), 3)
    classes = torch.randint(len(MATERIAL_CLASSES), (2, 8, 8))
    labels = encode_labels(classes, "materials")
    assert torch.equal(decode_labels(labels, "materials"), classes)
    assert not torch.equal(decode_labels(labels), classes)  # the shapes palette reads these colours otherwise
    noisy = (labels + 0.3 * (torch.rand_like(labels) - 0.5)).clamp(0, 1)
    assert torch.equal(decode_labels(noisy, "materials"), classes)
    decoded = decode_labels(materials.a, "materials")
    assert torch.equal(encode_labels(decoded, "materials"), materials.a)  # palette colours only
    shares = torch.bincount(decoded.flatten(), minlength=len(MATERIAL_CLASSES)) / decoded.numel()
    assert (shares - 1 / len(MATERIAL_CLASSES)).abs().max() < 0.03  # materials drawn uniformly
    for name in ("edges", "facades"):
        with pytest.raises(AdvlabError, match="shapes, materials"):
            label_coding(name)


def test_materials_share_one_colour_and_one_histogram(materials):
    classes = decode_labels(materials.a, "materials")
    pixels = [materials.b.permute(0, 2, 3, 1)[classes == k] for k in range(len(MATERIAL_CLASSES))]  # (n_k, 3) each
    means = torch.stack([p.mean(0) for p in pixels])
    medians = torch.stack([p.median(0).values for p in pixels])
    spreads = torch.stack([p.std(0) for p in pixels])
    quartiles = torch.stack([torch.quantile(p[:, 0], torch.tensor([0.25, 0.75])) for p in pixels])
    shared = torch.tensor(MATERIAL_COLOUR, dtype=torch.float32)
    assert (means - shared).abs().max() < 0.01 and (medians - shared).abs().max() < 0.02
    assert (spreads - spreads.mean(0)).abs().max() < 0.01 and spreads.min() > 0.15  # one contrast, a strong one
    assert (quartiles - quartiles.mean(0)).abs().max() < 0.02


def test_materials_pixels_are_unpredictable_from_the_label_map(materials, shapes):
    """The best per-pixel guess from (class, position) -- its mean over the set -- explains almost none of a
    materials scene's variance (random phase per region), but most of a shapes scene's (a colour per class)."""
    def unexplained(pairs, name):
        classes, values = decode_labels(pairs.a, name), pairs.b.mean(1)
        residual = 0.0
        for k in range(len(label_coding(name).classes)):
            inside = (classes == k).float()
            mean = (values * inside).sum(0) / inside.sum(0).clamp(min=1)
            residual += float((((values - mean) ** 2) * inside).sum())
        return residual / float(((values - values.mean()) ** 2).sum())

    assert unexplained(materials, "materials") > 0.97  # measured 0.994
    assert unexplained(shapes, "shapes") < 0.5  # measured 0.18


def test_materials_region_shapes_carry_no_class(materials):
    classes = decode_labels(materials.a, "materials").numpy()
    areas = [[] for _ in MATERIAL_CLASSES]
    for image in classes:
        for k in range(len(MATERIAL_CLASSES)):
            regions, count = ndimage.label(image == k)
            areas[k] += np.bincount(regions.ravel())[1:].tolist()
    mean_areas = np.array([np.mean(a) for a in areas])
    counts = np.array([len(a) for a in areas])
    assert np.abs(mean_areas / mean_areas.mean() - 1).max() < 0.15  # measured within 5%
    assert np.abs(counts / counts.mean() - 1).max() < 0.15


def test_materials_textures_are_the_documented_ones(materials):
    """Mean |difference| of neighbouring pixels inside one material: bricks run along their courses, stripes along
    the 45 degree diagonal, grass vertically; dots and checker have no such direction."""
    classes, values = decode_labels(materials.a, "materials"), materials.b.mean(1)
    size = values.shape[-1]

    def step(kind, dr, dc):
        here, there = (slice(0, size - 1), slice(1, size - 1)), (slice(dr, size - 1 + dr), slice(1 + dc, size - 1 + dc))
        same = (classes[:, here[0], here[1]] == kind) & (classes[:, there[0], there[1]] == kind)
        return float((values[:, here[0], here[1]] - values[:, there[0], there[1]])[same].abs().mean())

    bricks, stripes, dots, grass, checker = range(len(MATERIAL_CLASSES))
    assert step(bricks, 0, 1) < 0.6 * step(bricks, 1, 0)  # measured 0.08 vs 0.18
    assert step(stripes, 1, -1) < 0.2 * step(stripes, 1, 1)  # 0.02 vs 0.30
    assert step(grass, 1, 0) < 0.6 * step(grass, 0, 1)  # 0.06 vs 0.18
    for kind in (dots, checker):
        assert step(kind, 0, 1) == pytest.approx(step(kind, 1, 0), rel=0.15)


def test_edges_mark_the_photographs_strong_gradients():
    pairs = load_paired("edges")
    for split in (pairs, pairs.held_out):
        edges = split.a[:, 0] < 0.5
        assert set(torch.unique(split.a).tolist()) <= {0.0, 1.0}
        luma = split.b.mean(1).numpy()
        gradient = torch.from_numpy(np.hypot(ndimage.sobel(luma, axis=1), ndimage.sobel(luma, axis=2)))
        assert gradient[edges].mean() > 2 * gradient[~edges].mean()
        assert 0.03 < edges.float().mean() < 0.3
    assert HELD_OUT_PHOTOS  # the held-out crops come from these photographs only


def test_digits_outlines_are_the_boundary_of_the_thresholded_digit():
    pairs = load_paired("digits-outlines", held_out=0.02)
    digits, outlines = pairs.held_out.a[:, 0] >= 0.5, pairs.held_out.b[:, 0] > 0.5
    padded = torch.nn.functional.pad(digits, (1, 1, 1, 1))
    neighbours = [padded[:, 1 + dy:padded.shape[1] - 1 + dy, 1 + dx:padded.shape[2] - 1 + dx]
                  for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))]
    touches_background = ~torch.stack(neighbours).all(0)
    assert torch.equal(outlines, digits & touches_background)
    assert outlines.any(dim=(1, 2)).all()


def test_held_out_fraction_direction_and_no_held_out():
    pairs = load_paired("shapes", image_size=16, held_out=0.25)
    assert len(pairs) == 750 and len(pairs.held_out) == 250
    swapped = load_paired("shapes", image_size=16, held_out=0.25, direction="BtoA")
    assert torch.equal(swapped.a, pairs.b) and torch.equal(swapped.b, pairs.a)
    assert torch.equal(swapped.held_out.a, pairs.held_out.b)
    assert load_paired("edges", image_size=16, held_out=0).held_out is None
    assert load_paired("digits-outlines", held_out=0).held_out is None


# ---------------------------------------------------------------------- the user's folders

def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _random_image(rng, height, width, gray=False):
    return rng.integers(0, 256, (height, width) if gray else (height, width, 3), dtype=np.uint8)


def test_aligned_folder_splits_each_file_into_a_left_and_right(tmp_path):
    rng = np.random.default_rng(0)
    files = {f"im{i}.png": _random_image(rng, 16, 32) for i in range(10)}
    for name, array in files.items():
        _write(tmp_path / name, array)
    pairs = load_paired(tmp_path, held_out=0.2, seed=1)
    assert len(pairs) == 8 and len(pairs.held_out) == 2 and pairs.name == tmp_path.name
    halves = [tuple(torch.from_numpy(side).permute(2, 0, 1).float() / 255 for side in (a[:, :16], a[:, 16:]))
              for a in files.values()]
    for split in (pairs, pairs.held_out):
        for a, b in zip(split.a, split.b):  # each row is the left and the right half of one file
            assert sum(torch.equal(a, left) and torch.equal(b, right) for left, right in halves) == 1
    resized = load_paired(tmp_path, image_size=8, direction="BtoA")
    assert resized.a_shape == (3, 8, 8) and len(resized) + len(resized.held_out) == 10


def test_two_folders_of_same_named_files_any_extension_gray_beside_colour(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(4):
        _write(tmp_path / "A" / "sub" / f"{i}.png", _random_image(rng, 12, 20, gray=True))
        _write(tmp_path / "B" / "sub" / f"{i}.bmp", _random_image(rng, 12, 20))
    pairs = load_paired(str(tmp_path), held_out=0.25)
    assert pairs.a_shape == (1, 12, 20) and pairs.b_shape == (3, 12, 20)
    assert len(pairs) == 3 and len(pairs.held_out) == 1
    everything = ImagePairs(torch.cat([pairs.a, pairs.held_out.a]), torch.cat([pairs.b, pairs.held_out.b]), "all")
    for i in range(4):
        a = torch.from_numpy(np.array(Image.open(tmp_path / "A" / "sub" / f"{i}.png"))).float()[None] / 255
        b = torch.from_numpy(np.array(Image.open(tmp_path / "B" / "sub" / f"{i}.bmp"))).float().permute(2, 0, 1) / 255
        rows = [r for r in range(4) if torch.equal(everything.a[r], a)]
        assert len(rows) == 1 and torch.equal(everything.b[rows[0]], b)


def test_train_and_test_subfolders_give_the_held_out_split(tmp_path):
    rng = np.random.default_rng(2)
    for split, count in (("train", 6), ("test", 3)):
        for i in range(count):
            _write(tmp_path / split / f"{split}{i}.jpg", _random_image(rng, 16, 32))
    pairs = load_paired(tmp_path)
    assert len(pairs) == 6 and len(pairs.held_out) == 3
    (tmp_path / "test").rename(tmp_path / "val")
    assert len(load_paired(tmp_path).held_out) == 3


def test_folder_bad_inputs_one_clear_error_each(tmp_path):
    rng = np.random.default_rng(3)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AdvlabError, match="no images"):
        load_paired(empty)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.png").write_bytes(b"not a png")
    with pytest.raises(AdvlabError, match="cannot read"):
        load_paired(broken)
    unpaired = tmp_path / "unpaired"
    for name in ("a1", "a2", "same"):
        _write(unpaired / "A" / f"{name}.png", _random_image(rng, 8, 8))
    for name in ("b1", "same"):
        _write(unpaired / "B" / f"{name}.png", _random_image(rng, 8, 8))
    with pytest.raises(AdvlabError, match=r"use cyclegan") as error:
        load_paired(unpaired)
    assert "a1" in str(error.value) and "b1" in str(error.value)
    square = tmp_path / "square"
    _write(square / "x.png", _random_image(rng, 16, 16))
    with pytest.raises(AdvlabError, match="twice as wide"):
        load_paired(square)
    sizes = tmp_path / "sizes"
    _write(sizes / "A" / "x.png", _random_image(rng, 16, 16))
    _write(sizes / "B" / "x.png", _random_image(rng, 16, 20))
    with pytest.raises(AdvlabError, match="different sizes"):
        load_paired(sizes)
    mixed = tmp_path / "mixed"
    _write(mixed / "x.png", _random_image(rng, 16, 32))
    _write(mixed / "y.png", _random_image(rng, 8, 16))
    with pytest.raises(AdvlabError, match="image_size"):
        load_paired(mixed)
    assert load_paired(mixed, image_size=8, held_out=0).a_shape == (3, 8, 8)


def test_argument_errors_name_what_to_pass(tmp_path):
    with pytest.raises(AdvlabError, match="AtoB or BtoA"):
        load_paired("shapes", direction="AB")
    with pytest.raises(AdvlabError, match="shapes, materials, edges, digits-outlines"):
        load_paired("facades")
    file = tmp_path / "x.png"
    _write(file, np.zeros((4, 8), dtype=np.uint8))
    with pytest.raises(AdvlabError, match="not a folder"):
        load_paired(file)
    for bad in (1.0, -0.1, True):
        with pytest.raises(AdvlabError, match="held_out"):
            load_paired("shapes", held_out=bad)
