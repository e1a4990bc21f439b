"""advlab detect: detection.json on a poisoned run, the truth it is judged against, and a run left untouched."""

import hashlib
import json
import subprocess
import sys

import pytest
import torch
from helpers import badnets_digits_run

from advlab import AdvlabError
from advlab.pipelines.security.detect_run import DetectRunConfig, detect_run
from advlab.pipelines.security.poison_run import training_set
from advlab.pipelines.train_classifier import load_classifier
from advlab.poisoning.detection import spectral_signatures


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory):
    return badnets_digits_run(tmp_path_factory.mktemp("detect") / "bd")


def fingerprint(run):
    """SHA-256 of every file of the run but its report and its detections."""
    return {str(path.relative_to(run)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(run.rglob("*")) if path.is_file()
            and not (path.name.startswith("report") or "detect" in path.relative_to(run).parts
                     or "plots" in path.relative_to(run).parts)}


def test_spectral_detection_record_matches_the_detector_and_the_truth(poisoned):
    before = fingerprint(poisoned)
    out = detect_run(DetectRunConfig("spectral", str(poisoned), device="cpu", report=False))
    record = json.loads((out / "detection.json").read_text())
    assert fingerprint(poisoned) == before  # the run inspected is never changed
    images, labels, truth = training_set(poisoned)
    model, _ = load_classifier(poisoned, device="cpu")
    expected = spectral_signatures(model, images, labels)
    assert record["flagged"] == expected.flagged.tolist()
    assert record["truth"] == truth.tolist() and record["poisoned"] == int(truth.sum())
    flags = torch.zeros(len(truth), dtype=torch.bool)
    flags[record["flagged"]] = True
    assert record["tpr"] == pytest.approx(float((flags & truth).sum() / truth.sum()))
    assert record["fpr"] == pytest.approx(float((flags & ~truth).sum() / (~truth).sum()))
    assert record["judged"] == "training" and record["detector"] == "spectral"


def test_an_existing_detection_is_kept_unless_overwrite(poisoned):
    config = DetectRunConfig("activation-clustering", str(poisoned), device="cpu", report=False)
    out = detect_run(config)
    first = (out / "detection.json").read_bytes()
    with pytest.raises(AdvlabError, match="already holds a detection"):
        detect_run(config)
    assert (out / "detection.json").read_bytes() == first
    detect_run(DetectRunConfig("activation-clustering", str(poisoned), device="cpu", report=False, overwrite=True))


@pytest.mark.parametrize("config,words", [
    (DetectRunConfig("spectrum", "x"), "valid detectors are: spectral"),
    (DetectRunConfig("spectral", "x", options={"rates": 0.1}), "unknown option 'rates'"),
    (DetectRunConfig("spectral", "no/such/run"), "no such run directory"),
])
def test_bad_requests_are_one_clear_error(config, words):
    with pytest.raises(AdvlabError, match=words):
        detect_run(config)


def test_cli_prints_the_rates(poisoned):
    done = subprocess.run([sys.executable, "-m", "advlab.cli.main", "detect", "spectral", str(poisoned), "--threads",
                           "1", "--overwrite", "--cut", "4"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "TPR" in done.stdout and "FPR" in done.stdout
    record = json.loads((poisoned / "detect" / "spectral" / "detection.json").read_text())
    assert record["options"] == {"cut": 4.0}


def test_a_layer_the_model_lacks_and_a_run_without_a_classifier_are_clear_errors(poisoned, tmp_path):
    with pytest.raises(AdvlabError, match="no layer|has no|valid"):
        detect_run(DetectRunConfig("spectral", str(poisoned), options={"layer": "no.such.layer"}, device="cpu",
                                   overwrite=True, report=False))
    (tmp_path / "notarun").mkdir()
    with pytest.raises(AdvlabError, match="config.yaml"):
        detect_run(DetectRunConfig("spectral", str(tmp_path / "notarun"), device="cpu", report=False))


def test_strip_judges_clean_and_triggered_held_out_inputs(poisoned):
    out = detect_run(DetectRunConfig("strip", str(poisoned), n=100, options={"overlays": 20}, device="cpu",
                                     report=False))
    record = json.loads((out / "detection.json").read_text())
    truth = torch.tensor(record["truth"])
    assert record["judged"] == "inputs" and len(truth) == record["size"]
    assert int((~truth).sum()) == 100  # the first 100 held-out images, clean ...
    assert int(truth.sum()) > 50  # ... and the triggered twins of those not of the target class
    assert record["tpr"] is not None and record["fpr"] is not None
