"""advlab classifier train on MNIST (issue 15): MNIST is the default data, its held-out split is a seeded stratified
one that the run records and that `advlab attack` and `advlab robustness` reload, and the LeNet-5 and Madry et al.
victims. The accuracy figures are in test_classifier_mnist_slow.py."""

import json

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, raises_one_line, run_cli

from advlab.core.config import from_mapping
from advlab.data import load_mnist, stratified_split
from advlab.models import LeNet5, MadryCNN
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.security import robustness
from advlab.pipelines.security.robustness import RobustnessConfig, robustness_run
from advlab.pipelines.train_classifier import (
    build_classifier,
    classifier_config,
    classifier_record,
    data_split,
    held_out_split,
    run_split,
    split_rows,
)

QUIET = ["--device", "cpu", "--threads", "1", "--no-progress"]


def parameters(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    """LeNet-5 trained for one epoch on MNIST by the command, defaults otherwise (the split's figures matter here)."""
    from advlab.cli.main import main

    out = tmp_path_factory.mktemp("mnist") / "clf"
    threads = torch.get_num_threads()
    try:
        assert main(["classifier", "train", "--out", str(out), "--model", "lenet", "--epochs", "1", *QUIET]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


# ---------------------------------------------------------------------- config and models


def test_mnist_is_the_default_data_and_lenet_has_no_width():
    config = ClassifierTrainConfig()
    assert (config.data, config.model) == ("mnist", "cnn")
    raises_one_line(lambda: from_mapping(ClassifierTrainConfig, {"data": "cifar"}), "mnist, digits, idx, folder")
    raises_one_line(lambda: from_mapping(ClassifierTrainConfig, {"model": "lenet", "width": 8}), "'lenet'",
                    "drop --width")
    assert ClassifierTrainConfig(model="madry").model_width == 16
    assert ClassifierTrainConfig(model="lenet").model_width == 6


def test_lenet5_has_the_papers_layers_at_28x28():
    model = LeNet5()
    assert model.features(torch.zeros(2, 1, 28, 28)).shape == (2, 16, 5, 5)  # S4: 16 maps of 5x5 (Fig. 2)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    # C1 156 + C3 2,416 + C5 48,120 + F6 10,164 + output 850
    assert parameters(model) == 61706
    assert LeNet5(3, 4, 12)(torch.zeros(1, 3, 12, 12)).shape == (1, 4)
    raises_one_line(lambda: LeNet5(image_size=8), "12x12", "--image-size")
    assert isinstance(build_classifier("lenet", (1, 28, 28), 10, 6), LeNet5)


def test_madry_cnn_at_width_32_is_the_papers_network():
    # conv 832 + conv 51,264 + fc 3,212,288 + fc 10,250: Madry et al.'s mnist_challenge model
    assert parameters(MadryCNN(width=32)) == 3274634
    model = build_classifier("madry", (1, 28, 28), 10, 16)
    assert isinstance(model, MadryCNN) and model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert MadryCNN(1, 10, 8, 4)(torch.zeros(1, 1, 8, 8)).shape == (1, 10)
    raises_one_line(lambda: build_classifier("madry", (1, 28, 20), 10, 16), "square", "--image-size")


# ---------------------------------------------------------------------- the stratified split


def test_the_stratified_split_deals_the_held_out_rows_class_by_class(mnist):
    labels = mnist.labels
    train, test = data_split(labels, 0.2, 0, "stratified")
    assert len(test) == 1000 and torch.bincount(labels[test]).tolist() == [100] * 10
    assert set(test.tolist()) == set(stratified_split(labels, 0.2, 0)[1].tolist())
    assert sorted(train.tolist() + test.tolist()) == list(range(len(labels)))
    assert labels[test[:10]].tolist() == list(range(10))  # the file is sorted by class; the split is not
    assert torch.bincount(labels[test[:200]]).tolist() == [20] * 10
    again = data_split(labels, 0.2, 0, "stratified")
    assert torch.equal(again[0], train) and torch.equal(again[1], test)
    assert not torch.equal(data_split(labels, 0.2, 1, "stratified")[1], test)
    random = data_split(labels, 0.2, 0, "random")
    assert all(torch.equal(a, b) for a, b in zip(random, split_rows(len(labels), 0.2, 0)))
    raises_one_line(lambda: data_split(labels, 0.2, 0, "by-hand"), "unknown split kind", "random, stratified")


def test_an_mnist_run_records_its_stratified_split(mnist_run, mnist):
    train, test = data_split(mnist.labels, 0.2, 0, "stratified")
    _, record = classifier_record(mnist_run)
    about = {"kind": "stratified", "seed": 0, "test_fraction": 0.2, "rows": 5000}
    assert record["split"] == {**about, "test_rows": test.tolist()}
    assert record["sample_shape"] == [1, 28, 28] and record["config"]["model"] == "lenet"
    summary = json.loads((mnist_run / "summary.json").read_text())
    assert summary["split"] == about and (summary["train_size"], summary["test_size"]) == (4000, 1000)
    images, labels = held_out_split(mnist_run)
    assert torch.equal(images, mnist.data[test]) and torch.equal(labels, mnist.labels[test])
    from_config = held_out_split(classifier_config(mnist_run))
    assert torch.equal(from_config[0], images) and torch.equal(from_config[1], labels)
    _, (train_rows, _) = run_split(mnist_run)
    assert torch.equal(train_rows, train)


def test_attack_pgd_on_an_mnist_run_attacks_the_stratified_held_out_images(mnist_run, mnist, capsys):
    status, _, err = run_cli(["attack", "pgd", str(mnist_run), "--eps", "0.3", "--steps", "2", "--n", "20",
                              *QUIET], capsys)
    assert status == 0, err
    adversarial = torch.from_numpy(np.load(mnist_run / "attacks" / "pgd" / "adversarial.npy"))
    _, test = data_split(mnist.labels, 0.2, 0, "stratified")
    assert (adversarial - mnist.data[test[:20]]).abs().amax() <= 0.3 + 1e-6  # each within eps of its image
    permuted = split_rows(5000, 0.2, 0)[1][:20]  # the digits' kind of split would have given other images
    assert (adversarial - mnist.data[permuted]).abs().amax() > 0.9
    results = json.loads((mnist_run / "attacks" / "pgd" / "results.json").read_text())
    assert results["images"]["n"] == 20


def test_robustness_on_an_mnist_run_evaluates_the_stratified_rows(mnist_run, mnist, monkeypatch):
    seen = {}
    evaluate, split = robustness.evaluate_robustness, robustness.run_split

    def spy_evaluate(model, images, labels, config, surrogate, *rest):
        seen["images"], seen["labels"] = images, labels
        return evaluate(model, images, labels, config, surrogate, *rest)

    def spy_split(source):
        seen["split"] = split(source)[1]
        return split(source)

    monkeypatch.setattr(robustness, "evaluate_robustness", spy_evaluate)
    monkeypatch.setattr(robustness, "run_split", spy_split)
    monkeypatch.setattr(robustness, "SURROGATE_EPOCHS", 1)
    config = RobustnessConfig(run=str(mnist_run), eps=(0.3,), n=10, steps=2, restarts=1, queries=5, targets=1,
                              check_images=4, device="cpu", threads=1, progress=False, report=False)
    robustness_run(config)
    train, test = data_split(mnist.labels, 0.2, 0, "stratified")
    assert torch.equal(seen["images"], mnist.data[test[:10]]) and seen["labels"].tolist() == list(range(10))
    assert torch.equal(seen["split"][0], train)  # the transfer attack's surrogate trains on the training rows
    assert json.loads((mnist_run / "robustness.json").read_text())["model"]["run"] == str(mnist_run.resolve())


# ---------------------------------------------------------------------- the command line


def test_the_help_shows_the_mnist_workflow(capsys):
    for argv in (["classifier", "train", "--help"], ["attack", "--help"], ["robustness", "--help"],
                 ["defend", "adv-train", "--help"]):
        status, out, _ = run_cli(argv, capsys)
        assert status == 0 and "--eps 0.3" in out and "--data mnist" in out, argv
    status, out, _ = run_cli(["classifier", "train", "--help"], capsys)
    assert "lenet" in out and "madry" in out and "default mnist" in out


def test_lenet_needs_images_of_12_pixels_on_the_command_line(tmp_path, capsys):
    status, _, err = run_cli(["classifier", "train", "--data", "digits", "--model", "lenet", "--out",
                              str(tmp_path / "run"), *QUIET], capsys)
    assert_one_line_error(status, err, "12x12", "--image-size 28")
    assert not (tmp_path / "run").exists()
