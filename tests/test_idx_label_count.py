"""An IDX image/label pair whose counts differ (issue 15): one line that names both counts and both files,
from the library and from `advlab classifier train --data idx`."""

import struct

import numpy as np
from helpers import assert_one_line_error, raises_one_line, run_cli

from advlab.data import load_dataset, load_idx_images


def write_idx(path, array: np.ndarray):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())
    return path


def pair(tmp_path, images: int, labels: int):
    return (write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((images, 28, 28), np.uint8)),
            write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(labels) % 10))


def test_a_pair_whose_counts_differ_names_both_counts_and_both_files(tmp_path):
    images, labels = pair(tmp_path, 5, 4)
    for call in (lambda: load_idx_images(images, labels_path=labels),
                 lambda: load_dataset("idx", str(images), labels_path=str(labels))):
        raises_one_line(call, "4 labels", "5 images", str(images), str(labels))
    images, labels = pair(tmp_path, 3, 7)
    raises_one_line(lambda: load_idx_images(images, labels_path=labels), "7 labels", "3 images")
    images, labels = pair(tmp_path, 6, 6)
    assert load_idx_images(images, labels_path=labels).labels.tolist() == [0, 1, 2, 3, 4, 5]


def test_classifier_train_on_such_a_pair_exits_with_that_line(tmp_path, capsys):
    images, labels = pair(tmp_path, 5, 4)
    status, _, err = run_cli(["classifier", "train", "--data", "idx", "--data-path", str(images), "--labels-path",
                              str(labels), "--out", str(tmp_path / "run"), "--device", "cpu", "--no-progress"], capsys)
    assert_one_line_error(status, err, "4 labels", "5 images", images.name, labels.name)
    assert not (tmp_path / "run").exists()
