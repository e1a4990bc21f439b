"""advlab classifier train: config checks, a tiny run end to end, checkpoint round trip, the split."""

import importlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

from advlab import AdvlabError
from advlab.core.config import from_mapping
from advlab.data import load_digits_images
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.train_classifier import (
    build_classifier,
    held_out_split,
    load_classifier,
    split_rows,
    train_classifier,
)

pipeline = importlib.import_module("advlab.pipelines.train_classifier")  # the module, not the function
TINY = {"data": "digits", "model": "cnn", "width": 8, "epochs": 3, "batch_size": 64, "lr": 3e-3, "device": "cpu",
        "threads": 1}


def config(out, **values):
    return from_mapping(ClassifierTrainConfig, {**TINY, "out": str(out), **values})


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny CNN trained for 3 epochs; the tensors it saved, captured on their way to disk."""
    saved = {}
    original = pipeline.save_checkpoint

    def capture(directory, step, tensors, meta, keep=3):
        saved.update({name: tensor.detach().clone() for name, tensor in tensors.items()})
        return original(directory, step, tensors, meta, keep)

    threads = torch.get_num_threads()
    pipeline.save_checkpoint = capture
    try:
        run = train_classifier(config(tmp_path_factory.mktemp("clf") / "run"), progress=False).root
    finally:
        pipeline.save_checkpoint = original
        torch.set_num_threads(threads)
    return run, saved


# ---------------------------------------------------------------------- the config


@pytest.mark.parametrize("values,words", [
    ({"epoch": 3}, ["unknown option 'epoch'", "valid options are", "epochs", "test_fraction"]),
    ({"epochs": "many"}, ["'epochs'", "integer"]),
    ({"epochs": -2}, ["'epochs'", "positive"]),
    ({"epochs": 0}, ["'epochs'", "positive"]),
    ({"lr": 0}, ["'lr'", "positive"]),
    ({"test_fraction": 1.0}, ["test_fraction", "between 0 and 1"]),
    ({"model": "resnet"}, ["cnn", "mlp"]),
    ({"data": "npy", "data_path": "x.npy"}, ["no labels"]),
    ({"data": "ring8"}, ["points"]),
    ({"data": "cifar"}, ["unknown dataset", "digits, idx, folder"]),
    ({"data": "idx", "data_path": "x.idx"}, ["--labels-path"]),
    ({"labels_path": "y.idx"}, ["only to data 'idx'"]),
    ({"weight_decay": -1.0}, ["weight_decay"]),
])
def test_config_is_checked(values, words):
    with pytest.raises(AdvlabError) as error:
        from_mapping(ClassifierTrainConfig, values)
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_defaults_are_the_documented_victim():
    config = ClassifierTrainConfig()
    assert (config.data, config.model, config.model_width, config.test_fraction) == ("mnist", "cnn", 32, 0.2)
    assert ClassifierTrainConfig(model="mlp").model_width == 256


# ---------------------------------------------------------------------- training end to end


def test_tiny_run_end_to_end(tiny_run):
    run, _ = tiny_run
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "report.html", "report.md",
                 "checkpoints/step-000003.safetensors", "checkpoints/step-000003.json",
                 "plots/loss.png", "plots/accuracy.png"):
        assert (run / name).is_file(), name
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all({"train_loss", "train_accuracy", "test_accuracy"} <= set(r) for r in records)
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_size"] == 360 and summary["train_size"] == 1437 and summary["classes"] == 10
    assert summary["test_accuracy"] > 0.5  # chance is 0.1
    assert summary["test_accuracy"] == records[-1]["test_accuracy"]
    page = (run / "report.html").read_text()
    assert "Training curves" in page and "plots/accuracy.png" in page and "Samples over time" not in page
    record = json.loads((run / "checkpoints/step-000003.json").read_text())
    assert record["kind"] == "classifier" and record["config"]["width"] == 8
    assert record["sample_shape"] == [1, 8, 8] and len(record["split"]["test_rows"]) == 360


def test_checkpoint_round_trip_gives_identical_logits(tiny_run):
    run, saved = tiny_run
    model, loaded_config = load_classifier(run, "cpu")
    assert loaded_config == config(run)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    trained = build_classifier("cnn", (1, 8, 8), 10, 8)
    trained.load_state_dict({name[len("model."):]: tensor for name, tensor in saved.items()})
    trained.eval()
    images, labels = held_out_split(run)
    with torch.no_grad():
        assert torch.equal(model(images), trained(images))
        accuracy = (model(images).argmax(1) == labels).double().mean().item()
    assert accuracy == json.loads((run / "summary.json").read_text())["test_accuracy"]


def test_held_out_split_is_fixed_and_disjoint(tiny_run):
    run, _ = tiny_run
    train, test = split_rows(1797, 0.2, 0)
    again_train, again_test = split_rows(1797, 0.2, 0)
    assert torch.equal(train, again_train) and torch.equal(test, again_test)
    assert len(test) == 360 and not set(train.tolist()) & set(test.tolist())
    assert sorted(train.tolist() + test.tolist()) == list(range(1797))
    assert not torch.equal(split_rows(1797, 0.2, 1)[1], test)
    digits = load_digits_images()
    images, labels = held_out_split(run)
    assert torch.equal(images, digits.data[test]) and torch.equal(labels, digits.labels[test])
    from_config = held_out_split(config(run))
    assert torch.equal(from_config[0], images) and torch.equal(from_config[1], labels)
    record = json.loads((run / "checkpoints/step-000003.json").read_text())
    assert record["split"]["test_rows"] == test.tolist()


def test_same_seed_same_weights(tmp_path):
    a = train_classifier(config(tmp_path / "a", model="mlp", width=16, epochs=1), progress=False, report=False).root
    b = train_classifier(config(tmp_path / "b", model="mlp", width=16, epochs=1), progress=False, report=False).root
    c = train_classifier(config(tmp_path / "c", model="mlp", width=16, epochs=1, seed=1), progress=False,
                         report=False).root
    weights = [next(load_classifier(run, "cpu")[0].parameters()) for run in (a, b, c)]
    assert torch.equal(weights[0], weights[1]) and not torch.equal(weights[0], weights[2])


def test_refuses_to_clobber_a_run(tiny_run, tmp_path):
    run = train_classifier(config(tmp_path / "r", model="mlp", width=16, epochs=1), progress=False, report=False).root
    with pytest.raises(AdvlabError, match="already holds a run"):
        train_classifier(config(run, model="mlp", width=16, epochs=1), progress=False, report=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(AdvlabError, match="not an advlab run"):
        train_classifier(config(tmp_path / "other", epochs=1), overwrite=True, progress=False, report=False)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


# ---------------------------------------------------------------------- folder data


def write_folder(root, counts, size=6):
    """Random grey PNGs: counts[k] images in root/class_k/."""
    rng = np.random.default_rng(0)
    for k, count in enumerate(counts):
        (root / f"class_{k}").mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = (rng.random((size, size)) * 80 + 170 * k // max(len(counts) - 1, 1)).astype(np.uint8)
            Image.fromarray(pixels).save(root / f"class_{k}" / f"{i}.png")


def test_folder_data_labels_from_sub_folders_and_a_changed_folder(tmp_path):
    write_folder(tmp_path / "images", [10, 10])
    run = train_classifier(config(tmp_path / "run", data="folder", data_path=str(tmp_path / "images"), model="mlp",
                                  width=16, epochs=5, test_fraction=0.3), progress=False, report=False).root
    record = json.loads((run / "checkpoints/step-000005.json").read_text())
    assert record["classes"] == 2 and record["class_names"] == ["class_0", "class_1"]
    images, labels = held_out_split(run)
    assert images.shape == (6, 1, 6, 6) and set(labels.tolist()) <= {0, 1}
    write_folder(tmp_path / "images", [12, 10])
    with pytest.raises(AdvlabError, match="changed since training"):
        held_out_split(run)


def test_unlabelled_folder_is_a_clear_error(tmp_path):
    (tmp_path / "flat").mkdir()
    for i in range(4):
        Image.fromarray(np.full((6, 6), 40 * i, np.uint8)).save(tmp_path / "flat" / f"{i}.png")
    with pytest.raises(AdvlabError, match="no labels.*sub-folder"):
        train_classifier(config(tmp_path / "run", data="folder", data_path=str(tmp_path / "flat")), progress=False)
    assert not (tmp_path / "run").exists()


def test_cnn_needs_square_images():
    with pytest.raises(AdvlabError, match="square"):
        build_classifier("cnn", (1, 8, 6), 10, 8)
    assert build_classifier("mlp", (1, 8, 6), 10, 8)(torch.zeros(2, 1, 8, 6)).shape == (2, 10)


def test_loading_a_gan_run_or_nothing_is_refused(tmp_path):
    with pytest.raises(AdvlabError, match="no such run directory"):
        load_classifier(tmp_path / "absent")
    (tmp_path / "gan").mkdir()
    (tmp_path / "gan" / "config.yaml").write_text("data: ring8\nsteps: 10\n")
    with pytest.raises(AdvlabError, match="not a classifier run"):
        load_classifier(tmp_path / "gan")
