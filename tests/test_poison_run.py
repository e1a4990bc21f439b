"""advlab poison: a poisoned classifier run, its records, and the errors a user can cause."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from advlab import AdvlabError
from advlab.core.config import from_mapping
from advlab.data.pattern import load_pattern
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.security.poison_run import PoisonRunConfig, poison_record, poison_run, training_set
from advlab.pipelines.train_classifier import held_out_split, load_classifier, run_split
from advlab.poisoning import BadNets

TINY = {"data": "digits", "model": "mlp", "width": 32, "epochs": 4, "device": "cpu", "threads": 1}


def classifier(out, **values):
    return from_mapping(ClassifierTrainConfig, {**TINY, "out": str(out), **values})


@pytest.fixture(scope="module")
def badnets_run(tmp_path_factory):
    config = PoisonRunConfig("badnets", classifier(tmp_path_factory.mktemp("poison") / "bd"),
                             {"target": 0, "rate": 0.1})
    return poison_run(config, progress=False, report=False).root


def test_the_record_says_what_was_poisoned_and_what_it_achieved(badnets_run):
    record = poison_record(badnets_run)
    summary = json.loads((badnets_run / "summary.json").read_text())
    for key in ("attack", "target", "rate", "poisons", "clean_accuracy", "attack_success_rate", "train_size"):
        assert key in record
    assert record["attack"] == "badnets" and record["target"] == 0 and record["rate"] == 0.1
    assert record["train_size"] == summary["train_size"]
    assert record["poisons"] == round(0.1 * summary["train_size"])
    assert record["clean_accuracy"] == summary["test_accuracy"]
    # the attack success rate is measured on the held-out images of the other classes, recomputed here
    model, _ = load_classifier(badnets_run, device="cpu")
    images, labels = held_out_split(badnets_run)
    others = labels != 0
    triggered = BadNets(target=0, rate=0.1).apply_trigger(images[others])
    assert record["attack_success_rate"] == pytest.approx(float((model(triggered).argmax(1) == 0).float().mean()))


def test_the_training_set_is_the_clean_one_but_for_the_poisoned_rows(badnets_run):
    images, labels, mask = training_set(badnets_run)
    data, (train_rows, _) = run_split(badnets_run)
    clean_images, clean_labels = data.data[train_rows], data.labels[train_rows]
    indices = np.load(badnets_run / "poisoned_indices.npy")
    assert mask.sum() == len(indices) == poison_record(badnets_run)["poisons"]
    assert torch.equal(mask.nonzero().flatten(), torch.from_numpy(indices))
    assert torch.equal(images[~mask], clean_images[~mask]) and torch.equal(labels[~mask], clean_labels[~mask])
    assert bool((labels[mask] == 0).all()) and bool((clean_labels[mask] != 0).all())
    assert not torch.equal(images[mask], clean_images[mask])


def test_an_unpoisoned_run_gives_its_clean_training_rows(badnets_run, tmp_path):
    from advlab.pipelines.train_classifier import train_classifier

    run = train_classifier(classifier(tmp_path / "clean", epochs=1), progress=False, report=False)
    images, labels, mask = training_set(run.root)
    assert mask is None and len(labels) == json.loads(run.summary.read_text())["train_size"]
    assert poison_record(run.root) is None


def advlab(*argv):
    return subprocess.run([sys.executable, "-m", "advlab.cli.main", *argv], capture_output=True, text=True)


TINY_FLAGS = ["--data", "digits", "--model", "mlp", "--width", "16", "--epochs", "1", "--threads", "1",
              "--no-progress"]


def test_cli_takes_a_pattern_file_and_reports_the_figures(tmp_path):
    pattern = np.zeros((2, 2), dtype=np.float32)
    pattern[0, 0] = 1.0
    np.save(tmp_path / "trigger.npy", pattern)
    done = advlab("poison", "badnets", *TINY_FLAGS, "--rate", "0.05", "--target", "3", "--pattern",
                  str(tmp_path / "trigger.npy"), "--out", str(tmp_path / "cli"))
    assert done.returncode == 0, done.stderr
    assert "attack success rate" in done.stdout
    record = poison_record(tmp_path / "cli")
    assert record["target"] == 3 and record["options"]["pattern_shape"] == [1, 2, 2]


@pytest.mark.parametrize("flags,words", [
    (["--target", "12"], "out of range"),
    (["--rate", "1.5"], "rate"),
    (["--poisons", "100000"], "poisons"),
    (["--pattern", "missing.npy"], "not found"),
])
def test_cli_bad_input_is_one_line(tmp_path, flags, words):
    done = advlab("poison", "badnets", *TINY_FLAGS, *flags, "--out", str(tmp_path / "bad"))
    assert done.returncode == 2
    assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "bad" / "poison.json").exists()


def test_a_pattern_outside_the_unit_range_is_refused(tmp_path):
    np.save(tmp_path / "loud.npy", np.full((3, 3), 2.0, dtype=np.float32))
    with pytest.raises(AdvlabError, match=r"\[0, 1\]"):
        load_pattern(tmp_path / "loud.npy")


def test_a_model_option_is_refused(tmp_path):
    config = PoisonRunConfig("clean-label", classifier(tmp_path / "cl"), {"model": "x", "target": 0})
    with pytest.raises(AdvlabError, match="surrogate"):
        poison_run(config, progress=False, report=False)


def test_an_unknown_poison_names_the_valid_ones(tmp_path):
    with pytest.raises(AdvlabError, match="valid poisons are: badnets"):
        poison_run(PoisonRunConfig("badnet", classifier(tmp_path / "x")), progress=False, report=False)


def test_feature_collision_takes_a_held_out_image_and_records_its_fate(badnets_run, tmp_path):
    surrogate = str(badnets_run)  # any classifier run will do as the feature extractor
    config = PoisonRunConfig("feature-collision", classifier(tmp_path / "fc", epochs=1),
                             {"target_image": "5", "base_class": 3, "poisons": 4, "steps": 20}, surrogate=surrogate)
    run = poison_run(config, progress=False, report=False)
    record = poison_record(run.root)
    model, _ = load_classifier(run.root, device="cpu")
    target = held_out_split(run.root)[0][5:6]
    assert record["target_image"] == 5 and record["base_class"] == 3 and record["poisons"] == 4
    assert record["target_prediction"] == int(model(target).argmax(1))
    assert record["attack_success_rate"] == float(record["target_prediction"] == 3)
    assert record["surrogate"] == surrogate


def test_a_target_image_index_out_of_range_is_refused(badnets_run, tmp_path):
    config = PoisonRunConfig("feature-collision", classifier(tmp_path / "fc"), {"target_image": 99999, "base_class": 3},
                             surrogate=str(badnets_run))
    with pytest.raises(AdvlabError, match="not a held-out image"):
        poison_run(config, progress=False, report=False)


def test_trojan_is_implanted_into_a_copy_written_as_a_new_run(badnets_run, tmp_path):
    before = (badnets_run / "summary.json").read_text()
    options = {"target": 2, "trigger_steps": 10, "inversion_steps": 10, "per_class": 4, "epochs": 2}
    run = poison_run(PoisonRunConfig("trojan", classifier(tmp_path / "tj"), options, surrogate=str(badnets_run)),
                     progress=False, report=False)
    record = poison_record(run.root)
    assert record["attack"] == "trojan" and record["target"] == 2
    assert record["train_size"] == 40 and record["poisons"] == 8  # 4 inputs per class, 20% stamped
    assert 0 <= record["attack_success_rate"] <= 1
    assert (badnets_run / "summary.json").read_text() == before
    images, labels, mask = training_set(run.root)
    assert len(images) == 40 and int(mask.sum()) == 8 and bool((labels[mask] == 2).all())
    assert json.loads(run.summary.read_text())["derived_from"] == str(badnets_run)


def test_trojan_needs_a_run(tmp_path):
    with pytest.raises(AdvlabError, match="implants into a trained model"):
        poison_run(PoisonRunConfig("trojan", classifier(tmp_path / "tj")), progress=False, report=False)


def test_an_availability_poison_on_two_classes_records_the_learners_errors(tmp_path):
    config = PoisonRunConfig("svm", classifier(tmp_path / "svm", classes=[1, 7], test_fraction=0.7),
                             {"poisons": 5, "steps": 3})
    record = poison_record(poison_run(config, progress=False, report=False).root)
    for key in ("test_error", "linear_svm_test_error", "linear_svm_clean_test_error", "learner_test_error",
                "learner_clean_test_error"):
        assert 0 <= record[key] <= 1, key
    assert record["learner"] == "SVMPoison" and record["poisons"] == 5
    assert record["learner_test_error"] == record["linear_svm_test_error"]  # the default SVM is linear, C 1


def test_a_binary_only_poison_on_ten_classes_names_the_classes_flag(tmp_path):
    with pytest.raises(AdvlabError, match="--classes"):
        poison_run(PoisonRunConfig("svm", classifier(tmp_path / "svm10"), {"poisons": 5}), progress=False,
                   report=False)


def test_clean_label_without_a_run_trains_its_surrogate_first(tmp_path):
    config = PoisonRunConfig("clean-label", classifier(tmp_path / "cl", model="cnn", width=8, epochs=1),
                             {"target": 1, "rate": 0.02, "steps": 2})
    run = poison_run(config, progress=False, report=False)
    record = poison_record(run.root)
    images, labels, mask = training_set(run.root)
    data, (train_rows, _) = run_split(run.root)
    assert record["attack"] == "clean-label" and record["surrogate"] is None and 0 <= record["attack_success_rate"] <= 1
    assert bool((labels[mask] == 1).all()) and torch.equal(labels, data.labels[train_rows])  # labels untouched
    assert not (tmp_path / "cl" / "surrogate").exists()


def test_last_layer_fine_tuning_starts_from_the_run_and_changes_only_the_logits_layer(badnets_run, tmp_path):
    config = PoisonRunConfig("feature-collision", classifier(tmp_path / "ft", epochs=2),
                             {"target_image": 3, "base_class": 1, "poisons": 2, "steps": 5},
                             surrogate=str(badnets_run), fine_tune="last-layer")
    run = poison_run(config, progress=False, report=False)
    before, _ = load_classifier(badnets_run, device="cpu")
    after, _ = load_classifier(run.root, device="cpu")
    changed = {name for name, value in after.state_dict().items() if not torch.equal(value, before.state_dict()[name])}
    assert changed == {"net.5.weight", "net.5.bias"}  # the MLP's logits layer (Flatten, 2 x (Linear, ReLU), Linear)
    assert poison_record(run.root)["fine_tune"] == "last-layer"


def test_fine_tuning_needs_a_run(tmp_path):
    config = PoisonRunConfig("badnets", classifier(tmp_path / "x"), {"target": 0}, fine_tune="all")
    with pytest.raises(AdvlabError, match="starts from a trained model"):
        poison_run(config, progress=False, report=False)
