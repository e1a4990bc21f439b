"""Slow: the backdoors work and the detectors find them, end to end through the runs (issue 16's checks).

Scikit-learn's digits at 16 px, the house SmallCNN (width 32), 20 epochs of Adam (the default), seed 0, one thread:
about 20 s per run here. Figures (advlab poison / detect, 10 epochs):
BadNets at 5%: clean accuracy 98.9%, attack success 98.8%; spectral signatures flag 94% of its poisons at
1.7% false positives; blended, 50 poisons, alpha 0.2, noise key: ASR 44% after 10 epochs, 99% after 20.
Neural Cleanse: 37 s per run; STRIP (100 overlays): TPR 0.70 at FPR 0 on the BadNets run.
BadNets' own MNIST reproduction (Gu et al. 2017, Table 2): CA 98.2%, ASR 99.95% at 10%.
"""

import json

import pytest

from advlab.core.config import from_mapping
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.security.detect_run import DetectRunConfig, detect_run
from advlab.pipelines.security.poison_run import PoisonRunConfig, poison_record, poison_run
from advlab.pipelines.train_classifier import train_classifier

pytestmark = pytest.mark.slow

DIGITS16 = {"data": "digits", "image_size": 16, "model": "cnn", "epochs": 20, "device": "cpu", "threads": 1,
            "seed": 0}


def classifier(out):
    return from_mapping(ClassifierTrainConfig, {**DIGITS16, "out": str(out)})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("poisoning-slow")
    clean = train_classifier(classifier(root / "clean"), progress=False, report=False).root
    badnets = poison_run(PoisonRunConfig("badnets", classifier(root / "bd"), {"target": 0, "rate": 0.05}),
                         progress=False, report=False).root
    return {"clean": clean, "badnets": badnets, "root": root}


def test_badnets_at_5_percent_fires_and_keeps_clean_accuracy(runs):
    record = poison_record(runs["badnets"])
    clean_accuracy = json.loads((runs["clean"] / "summary.json").read_text())["test_accuracy"]
    assert record["attack_success_rate"] >= 0.90
    assert record["clean_accuracy"] >= clean_accuracy - 0.02


def test_blended_with_50_poisons_fires(runs):
    blended = poison_run(PoisonRunConfig("blended", classifier(runs["root"] / "bl"),
                                         {"target": 0, "poisons": 50, "alpha": 0.2}), progress=False, report=False)
    record = poison_record(blended.root)
    assert record["poisons"] == 50
    assert record["attack_success_rate"] >= 0.80


def test_spectral_signatures_remove_90_percent_of_the_badnets_poisons(runs):
    out = detect_run(DetectRunConfig("spectral", str(runs["badnets"]), device="cpu", report=False))
    record = json.loads((out / "detection.json").read_text())
    assert record["tpr"] >= 0.90
    assert record["fpr"] <= 0.05


def test_neural_cleanse_flags_the_target_and_nothing_on_the_clean_model(runs):
    for name, expected in (("badnets", [0]), ("clean", [])):
        out = detect_run(DetectRunConfig("neural-cleanse", str(runs[name]), device="cpu", report=False))
        record = json.loads((out / "detection.json").read_text())
        assert record["flagged"] == expected, (name, record["anomaly_index"])
        if expected:
            assert record["anomaly_index"][0] > 2 and record["tpr"] == 1.0
        assert (out / "triggers.png").is_file()


def test_strip_flags_triggered_inputs_and_few_clean_ones(runs):
    out = detect_run(DetectRunConfig("strip", str(runs["badnets"]), device="cpu", report=False))
    record = json.loads((out / "detection.json").read_text())
    assert record["tpr"] >= 0.6 and record["fpr"] <= 0.05


@pytest.mark.parametrize("method", ["neural-cleanse", "fine-pruning"])
def test_a_repair_removes_the_backdoor_at_a_small_cost(runs, method):
    from advlab.pipelines.security.repair_run import RepairRunConfig, repair_run

    run = repair_run(RepairRunConfig(method, str(runs["badnets"]), str(runs["root"] / method), device="cpu",
                                     report=False))
    record = poison_record(run.root)
    assert record["attack_success_rate"] < 0.20
    if method == "neural-cleanse":  # the issue asks it of one of the two; fine-pruning's cost is reported
        assert record["clean_accuracy"] >= record["repair"]["before"]["clean_accuracy"] - 0.05


def test_poison_frogs_turn_their_targets_when_the_victim_retrains_its_last_layer(runs):
    """Shafahi et al. 2018: 50 poisons with a 30% watermark; measured: 8 of 8 targets (held-out 0-7) turned,
    clean accuracy 97.2-98.3% (98.9% before), about 8 s each."""
    from advlab.pipelines.train_classifier import held_out_split

    labels = held_out_split(runs["clean"])[1]
    turned = 0
    for target in [index for index in range(10) if int(labels[index]) != 3][:3]:
        run = poison_run(PoisonRunConfig("feature-collision", classifier(runs["root"] / f"fc{target}"),
                                         {"target_image": target, "base_class": 3, "poisons": 50, "steps": 400},
                                         surrogate=str(runs["clean"]), fine_tune="last-layer"),
                         progress=False, report=False)
        record = poison_record(run.root)
        turned += record["attack_success_rate"] == 1.0
        assert record["clean_accuracy"] >= json.loads((runs["clean"] / "summary.json").read_text())[
            "test_accuracy"] - 0.03
    assert turned >= 2
