"""Tests for advlab.data: toy mixtures, TensorData, digits, IDX, image folders, npy, registry."""

from __future__ import annotations

import gzip
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from advlab.core.errors import AdvlabError
from advlab.data import (
    DATASETS,
    GaussianMixture2D,
    TensorData,
    grid25,
    load_dataset,
    load_digits_images,
    load_idx_images,
    load_image_folder,
    load_npy,
    read_idx,
    resize_images,
    ring8,
)


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- toy2d ---------------------------------------------------------------------------


def test_ring8_means_on_unit_circle_at_multiples_of_45_degrees():
    mixture = ring8()
    assert mixture.means.shape == (8, 2) and mixture.means.dtype == torch.float32
    assert mixture.std == 0.01
    for k, (x, y) in enumerate(mixture.means.tolist()):
        angle = k * math.pi / 4
        assert x == pytest.approx(math.cos(angle), abs=1e-7)
        assert y == pytest.approx(math.sin(angle), abs=1e-7)
    assert mixture.means[0].tolist() == [1.0, 0.0]
    assert mixture.means[2].tolist() == pytest.approx([0.0, 1.0], abs=1e-7)


def test_grid25_means_are_the_grid():
    mixture = grid25()
    assert mixture.std == 0.05
    expected = {(float(x), float(y)) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    found = {tuple(row) for row in mixture.means.tolist()}
    assert found == expected and len(mixture.means) == 25


@pytest.mark.parametrize("make", [ring8, grid25])
def test_mixture_attributes(make):
    mixture = make()
    assert mixture.kind == "points" and mixture.sample_shape == (2,) and mixture.labels is None
    assert mixture.to("cpu") is mixture


@pytest.mark.parametrize("make", [ring8, grid25])
def test_mixture_per_mode_std_and_uniform_modes(make):
    mixture = make()
    samples = mixture.sample(50_000, seeded(1))
    assert samples.shape == (50_000, 2) and samples.dtype == torch.float32
    nearest = torch.cdist(samples.double(), mixture.means.double()).argmin(dim=1)
    counts = torch.bincount(nearest, minlength=len(mixture.means)).double()
    expected = 50_000 / len(mixture.means)
    assert counts.min() > 0.85 * expected and counts.max() < 1.15 * expected
    offsets = samples.double() - mixture.means.double()[nearest]
    per_mode_mean = torch.zeros(len(counts), 2, dtype=torch.float64).index_add_(0, nearest, offsets)
    per_mode_mean /= counts[:, None]
    per_mode_var = torch.zeros(len(counts), 2, dtype=torch.float64)
    per_mode_var.index_add_(0, nearest, (offsets - per_mode_mean[nearest]).square())
    per_mode_std = (per_mode_var / (counts[:, None] - 1)).sqrt()
    assert per_mode_mean.abs().max() < 0.1 * mixture.std
    assert torch.allclose(per_mode_std, torch.full_like(per_mode_std, mixture.std), rtol=0.1)


def test_mixture_same_seed_same_samples_other_seed_different():
    first = ring8().sample(100, seeded(7))
    again = ring8().sample(100, seeded(7))
    other = ring8().sample(100, seeded(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_mixture_sample_follows_documented_recipe():
    mixture = grid25()
    generator = seeded(3)
    index = torch.randint(25, (10,), generator=generator)
    expected = mixture.means[index] + 0.05 * torch.randn((10, 2), generator=generator)
    assert torch.equal(mixture.sample(10, seeded(3)), expected)


# --- TensorData ------------------------------------------------------------------------


def test_tensor_data_sampling_is_deterministic_and_draws_existing_rows():
    rows = torch.arange(20, dtype=torch.float32).reshape(10, 2)
    data = TensorData(rows, torch.arange(10), "rows")
    assert len(data) == 10 and data.kind == "points" and data.sample_shape == (2,)
    batch = data.sample(64, seeded(5))
    assert torch.equal(batch, data.sample(64, seeded(5)))
    assert batch.shape == (64, 2)
    assert all(row in rows.tolist() for row in batch.tolist())
    assert len({tuple(row) for row in batch.tolist()}) > 5  # drawn, not one row repeated


def test_tensor_data_images_kind_and_label_mismatch():
    images = TensorData(torch.zeros(3, 1, 4, 4), None, "zeros")
    assert images.kind == "images" and images.sample_shape == (1, 4, 4)
    with pytest.raises(AdvlabError, match="label"):
        TensorData(torch.zeros(3, 2), torch.zeros(2, dtype=torch.int64), "bad")


# --- resize and digits -------------------------------------------------------------------


def test_resize_keeps_range_and_is_noop_at_same_size():
    images = torch.rand(2, 3, 8, 8, generator=seeded(0))
    assert resize_images(images, 8) is images
    bigger = resize_images(images, 20)
    assert bigger.shape == (2, 3, 20, 20)
    assert bigger.min() >= 0 and bigger.max() <= 1
    assert resize_images(torch.full((1, 1, 8, 8), 0.25), 3).allclose(torch.tensor(0.25))


def test_digits_shape_range_labels():
    digits = load_digits_images()
    assert digits.data.shape == (1797, 1, 8, 8) and digits.data.dtype == torch.float32
    assert digits.data.min() == 0.0 and digits.data.max() == 1.0
    assert digits.labels.dtype == torch.int64 and set(digits.labels.tolist()) == set(range(10))
    assert digits.kind == "images"
    # every value is a count 0..16 divided by 16
    assert torch.equal(digits.data * 16, (digits.data * 16).round())


@pytest.mark.parametrize("size", [16, 32])
def test_digits_resized(size):
    digits = load_digits_images(image_size=size)
    assert digits.data.shape == (1797, 1, size, size)
    assert digits.data.min() >= 0.0 and digits.data.max() <= 1.0
    assert digits.data.max() > 0.9


# --- IDX ------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray, type_code: int) -> bytes:
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + big_endian.tobytes()


def write(path: Path, content: bytes, gzipped: bool = False) -> Path:
    path.write_bytes(gzip.compress(content) if gzipped else content)
    return path


@pytest.mark.parametrize("gzipped", [False, True])
def test_idx_uint8_images_and_labels_round_trip(tmp_path, gzipped):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    # a name that does not say gzip: detection is by magic bytes
    image_file = write(tmp_path / "images.idx", idx_bytes(images, 0x08), gzipped)
    label_file = write(tmp_path / "labels.idx", idx_bytes(labels, 0x08), gzipped)
    assert np.array_equal(read_idx(image_file), images)
    loaded = load_idx_images(image_file, labels_path=label_file)
    assert loaded.data.shape == (5, 1, 4, 3)
    assert torch.allclose(loaded.data[:, 0], torch.from_numpy(images).float() / 255)
    assert loaded.labels.tolist() == [3, 1, 4, 1, 5] and loaded.labels.dtype == torch.int64


@pytest.mark.parametrize("gzipped", [False, True])
def test_idx_float32_round_trip(tmp_path, gzipped):
    images = np.linspace(0, 1, 2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    path = write(tmp_path / "floats.idx", idx_bytes(images, 0x0D), gzipped)
    array = read_idx(path)
    assert array.dtype == np.float32 and np.array_equal(array, images)
    loaded = load_idx_images(path, image_size=6)
    assert loaded.data.shape == (2, 1, 6, 6)


@pytest.mark.parametrize(
    ("dtype", "code"),
    [(np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C), (np.float64, 0x0E)],
)
def test_idx_other_types_read_back(tmp_path, dtype, code):
    array = np.array([[-3, 7], [100, -100]], dtype=dtype)
    assert np.array_equal(read_idx(write(tmp_path / "a.idx", idx_bytes(array, code))), array)


def test_idx_float_out_of_range_rejected(tmp_path):
    path = write(tmp_path / "f.idx", idx_bytes(np.full((1, 2, 2), 2.0, np.float32), 0x0D))
    with pytest.raises(AdvlabError, match=r"\[0, 1\]"):
        load_idx_images(path)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\x01\x02\x08\x01" + struct.pack(">I", 2) + b"ab", ["bad magic", "01 02 08 01"]),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 2) + b"ab", ["unknown", "0x07"]),
        (b"\x00\x00", ["truncated header", "found 2 bytes"]),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 2), ["truncated header", "16 bytes"]),
        (b"\x00\x00\x08\x02" + struct.pack(">II", 2, 3) + b"abc", ["6 bytes", "found 3"]),
        (b"\x00\x00\x08\x01" + struct.pack(">I", 2) + b"abcd", ["extra", "2 bytes", "found 4"]),
    ],
    ids=["magic", "type-code", "short-magic", "short-dims", "short-payload", "extra-bytes"],
)
def test_idx_errors_explain_themselves(tmp_path, content, words):
    path = write(tmp_path / "broken.idx", content)
    with pytest.raises(AdvlabError) as caught:
        read_idx(path)
    message = str(caught.value)
    assert "broken.idx" in message
    for word in words:
        assert word in message


def test_idx_truncated_payload_in_gzip_and_missing_file(tmp_path):
    images = np.zeros((2, 2, 2), np.uint8)
    path = write(tmp_path / "cut.gz", idx_bytes(images, 0x08)[:-1], gzipped=True)
    with pytest.raises(AdvlabError, match="expected|need"):
        read_idx(path)
    with pytest.raises(AdvlabError, match="not found"):
        read_idx(tmp_path / "missing.idx")
    with pytest.raises(AdvlabError, match="gzip"):
        read_idx(write(tmp_path / "bad.gz", b"\x1f\x8bnot really gzip"))


def test_idx_labels_must_match_images(tmp_path):
    images = write(tmp_path / "i.idx", idx_bytes(np.zeros((3, 2, 2), np.uint8), 0x08))
    labels = write(tmp_path / "l.idx", idx_bytes(np.zeros(2, np.uint8), 0x08))
    with pytest.raises(AdvlabError, match=r"\(3,\)"):
        load_idx_images(images, labels_path=labels)
    with pytest.raises(AdvlabError, match="shape"):
        load_idx_images(labels)  # 1-D is not images


# --- image folder -----------------------------------------------------------------------


def save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def test_image_folder_grayscale_classes(tmp_path):
    save(tmp_path / "zebra" / "a.png", np.full((4, 4), 255, np.uint8))
    save(tmp_path / "ant" / "b.PNG", np.full((4, 4), 51, np.uint8))
    save(tmp_path / "ant" / "nested" / "c.bmp", np.zeros((4, 4), np.uint8))
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    data = load_image_folder(tmp_path)
    assert data.data.shape == (3, 1, 4, 4) and data.kind == "images"
    # sorted: ant/b.PNG, ant/nested/c.bmp, zebra/a.png; classes sorted: ant=0, zebra=1
    assert data.labels.tolist() == [0, 0, 1]
    assert data.data[:, 0, 0, 0].tolist() == pytest.approx([0.2, 0.0, 1.0])


def test_image_folder_mixed_gray_and_rgb_gives_three_channels(tmp_path):
    rgb = np.zeros((5, 6, 3), np.uint8)
    rgb[..., 0] = 255
    save(tmp_path / "red.png", rgb)
    save(tmp_path / "gray.png", np.full((5, 6), 128, np.uint8))
    data = load_image_folder(tmp_path)
    assert data.labels is None  # images lie directly in the folder
    assert data.data.shape == (2, 3, 5, 6)
    assert data.data[0, :, 0, 0].tolist() == pytest.approx([128 / 255] * 3)  # gray.png first
    assert data.data[1, :, 0, 0].tolist() == [1.0, 0.0, 0.0]
    gray = load_image_folder(tmp_path, channels=1)
    assert gray.data.shape == (2, 1, 5, 6)
    assert gray.data[1, 0, 0, 0].item() == pytest.approx(0.299, abs=1e-6)


def test_image_folder_sixteen_bit_grayscale_scaled(tmp_path):
    save(tmp_path / "deep.png", np.full((2, 2), 65535 // 5, np.uint16))
    data = load_image_folder(tmp_path)
    assert data.data.shape == (1, 1, 2, 2)
    assert data.data[0, 0, 0, 0].item() == pytest.approx(0.2, abs=1e-4)


def test_image_folder_sizes_must_agree_unless_resized(tmp_path):
    save(tmp_path / "small.png", np.zeros((4, 4), np.uint8))
    save(tmp_path / "large.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(AdvlabError, match="image_size"):
        load_image_folder(tmp_path)
    assert load_image_folder(tmp_path, image_size=6).data.shape == (2, 1, 6, 6)


def test_image_folder_errors(tmp_path):
    with pytest.raises(AdvlabError, match=r"no images found.*\.png"):
        load_image_folder(tmp_path)
    with pytest.raises(AdvlabError, match="directory"):
        load_image_folder(tmp_path / "nowhere")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    with pytest.raises(AdvlabError, match="broken.png"):
        load_image_folder(tmp_path)
    with pytest.raises(AdvlabError, match="channels"):
        load_image_folder(tmp_path, channels=2)


# --- npy -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((4, 5, 6), (4, 1, 5, 6)),
        ((4, 5, 6, 1), (4, 1, 5, 6)),
        ((4, 5, 6, 3), (4, 3, 5, 6)),
        ((4, 1, 5, 6), (4, 1, 5, 6)),
        ((4, 3, 5, 6), (4, 3, 5, 6)),
    ],
)
def test_npy_image_layouts(tmp_path, shape, expected):
    array = np.arange(math.prod(shape), dtype=np.int64).reshape(shape) % 256
    np.save(tmp_path / "x.npy", array.astype(np.uint8))
    data = load_npy(tmp_path / "x.npy")
    assert data.data.shape == expected and data.kind == "images"
    if len(shape) == 4 and shape[-1] in (1, 3):
        reference = array.transpose(0, 3, 1, 2)
    else:
        reference = array.reshape(expected)
    assert torch.allclose(data.data, torch.from_numpy(reference).float() / 255)


def test_npy_points_and_float_images(tmp_path):
    points = np.array([[-10.5, 3.0], [1e3, -2.0]], dtype=np.float64)
    np.save(tmp_path / "p.npy", points)
    loaded = load_npy(tmp_path / "p.npy")
    assert loaded.kind == "points" and loaded.data.dtype == torch.float32
    assert loaded.data.tolist() == points.tolist()
    with pytest.raises(AdvlabError, match="image_size"):
        load_npy(tmp_path / "p.npy", image_size=8)
    np.save(tmp_path / "f.npy", np.full((2, 3, 3), 0.5, np.float32))
    assert load_npy(tmp_path / "f.npy", image_size=5).data.shape == (2, 1, 5, 5)


@pytest.mark.parametrize(
    ("array", "words"),
    [
        (np.full((2, 4, 4), 1.5, np.float32), r"\[0, 1\]"),
        (np.full((2, 4, 4), -0.1, np.float64), r"\[0, 1\]"),
        (np.full((2, 4, 4), np.nan, np.float32), "NaN"),
        (np.array([[np.inf, 0.0]]), "finite"),
        (np.zeros((3, 5)), r"\(3, 5\)"),
        (np.zeros((2, 4, 4, 2), np.uint8), r"\(2, 4, 4, 2\)"),
        (np.zeros(7), r"\(7,\)"),
        (np.zeros((2, 4, 4), np.int32), "int32"),
    ],
)
def test_npy_rejects_bad_values_shapes_dtypes(tmp_path, array, words):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(AdvlabError, match=words):
        load_npy(tmp_path / "bad.npy")


class CreatesMarkerWhenUnpickled:
    """Unpickling this runs Path.touch(marker): a stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_npy_never_unpickles(tmp_path):
    marker = tmp_path / "unpickled"
    hostile = np.empty(1, dtype=object)
    hostile[0] = CreatesMarkerWhenUnpickled(marker)
    np.save(tmp_path / "hostile.npy", hostile, allow_pickle=True)
    assert not marker.exists()
    with pytest.raises(AdvlabError, match="hostile.npy.*never unpickles"):
        load_npy(tmp_path / "hostile.npy")
    assert not marker.exists()
    import pickle

    (tmp_path / "plain.pkl").write_bytes(pickle.dumps(CreatesMarkerWhenUnpickled(marker)))
    with pytest.raises(AdvlabError, match="plain.pkl"):
        load_npy(tmp_path / "plain.pkl")
    assert not marker.exists()


def test_npy_missing_file_and_npz(tmp_path):
    with pytest.raises(AdvlabError, match="not found"):
        load_npy(tmp_path / "missing.npy")
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 2)))
    with pytest.raises(AdvlabError, match="npz"):
        load_npy(tmp_path / "two.npz")


# --- registry --------------------------------------------------------------------------


def test_registry_names():
    assert set(DATASETS) == {"ring8", "grid25", "mnist", "stacked-mnist", "digits", "stacked-digits", "idx", "folder",
                             "npy"}
    stacked = load_dataset("stacked-digits", image_size=16)
    assert stacked.sample_shape == (3, 16, 16) and int(stacked.labels.max()) < 1000
    assert isinstance(load_dataset("ring8"), GaussianMixture2D)
    assert load_dataset("grid25").name == "grid25"
    assert load_dataset("digits", image_size=16).data.shape == (1797, 1, 16, 16)


def test_load_dataset_unknown_name_lists_valid_names():
    with pytest.raises(AdvlabError) as caught:
        load_dataset("cifar10")
    for name in DATASETS:
        assert name in str(caught.value)


@pytest.mark.parametrize("name", ["idx", "folder", "npy"])
def test_load_dataset_file_sets_need_a_path(name):
    with pytest.raises(AdvlabError, match="data_path"):
        load_dataset(name)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"name": "ring8", "image_size": 16}, "image_size"),
        ({"name": "digits", "image_size": 0}, "positive"),
        ({"name": "digits", "image_size": -3}, "positive"),
        ({"name": "digits", "path": "x.npy"}, "data_path"),
        ({"name": "npy", "path": "x.npy", "labels_path": "y"}, "labels_path"),
    ],
)
def test_load_dataset_refuses_options_that_do_not_apply(kwargs, words):
    with pytest.raises(AdvlabError, match=words):
        load_dataset(**kwargs)


def test_load_dataset_reads_files(tmp_path):
    images = write(tmp_path / "i.idx", idx_bytes(np.zeros((3, 4, 4), np.uint8), 0x08))
    labels = write(tmp_path / "l.idx", idx_bytes(np.array([0, 1, 2], np.uint8), 0x08))
    loaded = load_dataset("idx", str(images), image_size=8, labels_path=str(labels))
    assert loaded.data.shape == (3, 1, 8, 8) and loaded.labels.tolist() == [0, 1, 2]
    np.save(tmp_path / "p.npy", np.zeros((5, 2)))
    assert load_dataset("npy", str(tmp_path / "p.npy")).kind == "points"
    save(tmp_path / "pics" / "a.png", np.zeros((3, 3), np.uint8))
    assert len(load_dataset("folder", str(tmp_path / "pics"))) == 1


def test_a_path_given_as_data_is_read_as_the_users_files(tmp_path):
    """`--data ./my_images` (the issue's form) is `--data folder --data-path ./my_images`; .npy and IDX alike."""
    from advlab.data import kind_of_path

    folder = tmp_path / "images" / "cats"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((8, 8), 40 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    by_path = load_dataset(str(tmp_path / "images"))
    by_kind = load_dataset("folder", str(tmp_path / "images"))
    assert torch.equal(by_path.data, by_kind.data) and by_path.sample_shape == (1, 8, 8)
    np.save(tmp_path / "x.npy", np.zeros((4, 2), dtype=np.float32))
    assert kind_of_path(str(tmp_path / "x.npy"), None) == ("npy", str(tmp_path / "x.npy"))
    missing = str(tmp_path / "train-images-idx3-ubyte.gz")
    assert kind_of_path(missing, None) == (missing, None)  # no such file: passed on, then an unknown data set
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"")
    assert kind_of_path(str(tmp_path / "t10k-images-idx3-ubyte"), None)[0] == "idx"
    assert kind_of_path("mnist", None) == ("mnist", None)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(AdvlabError, match="not a folder of images, a .npy file or an IDX file"):
        load_dataset(str(tmp_path / "notes.txt"))
