"""advlab defend fine-pruning / neural-cleanse: a repaired copy of a poisoned run, its figures before and after."""

import hashlib
import json
import subprocess
import sys

import pytest
import torch
from helpers import badnets_digits_run

from advlab import AdvlabError
from advlab.core.config import from_mapping
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.security.poison_run import (
    PoisonRunConfig,
    poison_record,
    poison_run,
    training_set,
    triggered_held_out,
)
from advlab.pipelines.security.repair_run import RepairRunConfig, defender_clean_data, repair_run
from advlab.pipelines.train_classifier import held_out_split, load_classifier, run_split


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory):
    return badnets_digits_run(tmp_path_factory.mktemp("repair") / "bd")


def digest(run):
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run.rglob("*"))
            if p.is_file() and not p.name.startswith("report") and "plots" not in p.parts}


def test_fine_pruning_writes_a_repaired_copy_with_its_figures_before_and_after(poisoned, tmp_path):
    before = digest(poisoned)
    run = repair_run(RepairRunConfig("fine-pruning", str(poisoned), str(tmp_path / "fp"), {"epochs": 2},
                                     device="cpu", report=False))
    assert digest(poisoned) == before  # the source is never changed
    record, source = poison_record(run.root), poison_record(poisoned)
    repair = record["repair"]
    assert repair["method"] == "fine-pruning" and repair["source"] == str(poisoned)
    assert repair["before"] == {"clean_accuracy": source["clean_accuracy"],
                                "attack_success_rate": source["attack_success_rate"]}
    assert repair["pruned"] and repair["clean_images"] == round(0.2 * source["train_size"])
    # the figures now are the repaired model's, measured on the same held-out images
    model, _ = load_classifier(run.root, device="cpu")
    images, labels = held_out_split(run.root)
    assert record["clean_accuracy"] == pytest.approx(float((model(images).argmax(1) == labels).float().mean()))
    stamped, wanted = triggered_held_out(run.root)
    changed = wanted != labels
    assert record["attack_success_rate"] == pytest.approx(
        float((model(stamped[changed]).argmax(1) == wanted[changed]).float().mean()))
    # the poisoned training set travels with it, so the detectors still know the truth
    assert torch.equal(training_set(run.root)[2], training_set(poisoned)[2])


def test_the_defender_clean_data_are_training_rows_before_poisoning(poisoned):
    images, labels = defender_clean_data(poisoned, 0.2, seed=0)
    data, (train_rows, test_rows) = run_split(poisoned)
    held_out = {tuple(row.flatten().tolist()) for row in data.data[test_rows]}
    assert len(labels) == round(0.2 * len(train_rows))
    clean = {tuple(row.flatten().tolist()) for row in data.data[train_rows]}
    assert all(tuple(row.flatten().tolist()) in clean for row in images)
    assert not any(tuple(row.flatten().tolist()) in held_out for row in images[:20])
    again, _ = defender_clean_data(poisoned, 0.2, seed=0)
    assert torch.equal(images, again)


def test_neural_cleanse_unlearning_on_the_command_line(poisoned, tmp_path):
    out = tmp_path / "nc"
    done = subprocess.run([sys.executable, "-m", "advlab.cli.main", "defend", "neural-cleanse", str(poisoned),
                           "--out", str(out), "--threads", "1", "--cleanse-epochs", "3", "--epochs", "2"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "attack success rate:" in done.stdout and "->" in done.stdout
    record = json.loads((out / "poison.json").read_text())
    assert record["repair"]["method"] == "neural-cleanse" and record["repair"]["options"]["cleanse_epochs"] == 3


@pytest.mark.parametrize("values,words", [
    ({"method": "pruning"}, "valid repairs are: fine-pruning"),
    ({"options": {"epoch": 3}}, "unknown option 'epoch'"),
    ({"out": None}, "--out"),
    ({"clean_share": 1.5}, "clean_share"),
])
def test_bad_requests_are_one_clear_error(poisoned, tmp_path, values, words):
    config = {"method": "fine-pruning", "run": str(poisoned), "out": str(tmp_path / "x"), **values}
    with pytest.raises(AdvlabError, match=words):
        repair_run(RepairRunConfig(**config))


def test_the_source_is_refused_as_the_output(poisoned):
    with pytest.raises(AdvlabError, match="the run being changed"):
        repair_run(RepairRunConfig("fine-pruning", str(poisoned), str(poisoned), {"epochs": 0}, report=False))


def test_sanitize_relabels_a_label_flipped_set_and_retrains(tmp_path):
    classifier = from_mapping(ClassifierTrainConfig, {"data": "digits", "model": "mlp", "width": 32, "epochs": 3,
                                                      "device": "cpu", "threads": 1, "out": str(tmp_path / "lf")})
    flipped = poison_run(PoisonRunConfig("label-flip", classifier, {"rate": 0.2}), progress=False, report=False)
    run = repair_run(RepairRunConfig("sanitize", str(flipped.root), str(tmp_path / "clean"), {"k": 10},
                                     device="cpu", threads=1, progress=False, report=False))
    record = poison_record(run.root)
    assert record["repair"]["method"] == "sanitize" and record["repair"]["relabelled"] > 0
    assert record["repair"]["before"]["test_error"] == poison_record(flipped.root)["test_error"]
    assert record["test_error"] == pytest.approx(1 - json.loads(run.summary.read_text())["test_accuracy"])
    # the sanitised labels undo most flips: the repaired run's training set is relabelled where they were
    images, labels, mask = training_set(flipped.root)
    data, (train_rows, _) = run_split(flipped.root)
    true = data.labels[train_rows]
    changed = torch.tensor(record["repair"]["relabelled_rows"])
    restored = int((labels[changed] != true[changed]).sum())  # rows that were wrong before the vote
    assert restored >= 0.8 * len(changed)
