"""advlab classifier train --classes A,B: only those classes, relabelled; and the training_set hook."""

import json
import subprocess
import sys

import pytest
import torch

from advlab import AdvlabError
from advlab.core.config import from_mapping
from advlab.data import load_digits_images
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.train_classifier import held_out_split, run_split, train_classifier

TINY = {"data": "digits", "model": "mlp", "width": 16, "epochs": 2, "device": "cpu", "threads": 1}


def config(out=None, **values):
    return from_mapping(ClassifierTrainConfig, {**TINY, "out": None if out is None else str(out), **values})


def test_classes_keep_only_those_images_relabelled_in_the_given_order():
    digits = load_digits_images()
    data, (train_rows, test_rows) = run_split(config(classes=[7, 1]))
    sevens, ones = int((digits.labels == 7).sum()), int((digits.labels == 1).sum())
    assert len(data) == sevens + ones
    assert int((data.labels == 0).sum()) == sevens and int((data.labels == 1).sum()) == ones
    # the images kept are the digits' own, label 0 = class 7
    first_seven = digits.data[digits.labels == 7][0]
    assert torch.equal(data.data[data.labels == 0][0], first_seven)
    assert len(set(train_rows.tolist()) & set(test_rows.tolist())) == 0


@pytest.mark.parametrize("classes,words", [
    ([3], "two or more"), ([3, 3], "distinct"), ([1, -2], ">= 0")])
def test_bad_classes_are_refused(classes, words):
    with pytest.raises(AdvlabError, match=words):
        config(classes=classes)


def test_a_class_the_data_lacks_is_a_clear_error():
    with pytest.raises(AdvlabError, match="no image of class 12"):
        run_split(config(classes=[1, 12]))


def test_a_binary_run_records_its_classes_and_rebuilds_its_split(tmp_path):
    run = train_classifier(config(tmp_path / "run", classes=[1, 7]), progress=False, report=False)
    summary = json.loads(run.summary.read_text())
    assert summary["classes"] == 2
    images, labels = held_out_split(run.root)
    assert set(labels.tolist()) == {0, 1}
    assert len(images) == summary["test_size"]


def test_classes_flag_on_the_command_line(tmp_path):
    out = tmp_path / "cli"
    done = subprocess.run([sys.executable, "-m", "advlab.cli.main", "classifier", "train", "--data", "digits",
                           "--classes", "1,7", "--model", "mlp", "--width", "8", "--epochs", "1", "--threads", "1",
                           "--no-progress", "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "summary.json").read_text())["classes"] == 2


def test_training_set_hook_replaces_only_the_training_rows(tmp_path):
    seen = {}

    def all_zero_labels(images, labels):
        seen["rows"] = len(labels)
        return images, torch.zeros_like(labels)

    run = train_classifier(config(tmp_path / "hook", epochs=3), progress=False, report=False,
                           training_set=all_zero_labels)
    summary = json.loads(run.summary.read_text())
    assert seen["rows"] == summary["train_size"]
    assert summary["train_accuracy"] > 0.9  # judged on the replaced labels: the model says 0 everywhere ...
    assert summary["test_accuracy"] < 0.2  # ... and the clean held-out rows show it


def test_training_set_hook_must_keep_the_shape(tmp_path):
    with pytest.raises(AdvlabError, match="replacement training set"):
        train_classifier(config(tmp_path / "bad"), progress=False, report=False,
                         training_set=lambda images, labels: (images[:-1], labels[:-1]))
