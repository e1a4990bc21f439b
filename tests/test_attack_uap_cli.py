"""`advlab attack uap RUN`: fitted on the run's training rows, the held-out rows attacked, the perturbation saved."""

import json

import numpy as np
from helpers import cli_classifier_run, run_cli

from advlab.attacks.uap import UAP

VICTIM = ["--data", "digits", "--width", "8", "--epochs", "3", "--lr", "0.003", "--device", "cpu", "--threads", "1",
          "--no-progress"]
QUIET = ["--device", "cpu", "--threads", "1", "--no-progress"]


def test_cli_fits_on_the_training_rows_and_saves_the_perturbation(tmp_path, capsys):
    from advlab.pipelines.train_classifier import held_out_split, load_classifier, run_split

    run = cli_classifier_run(tmp_path / "clf", VICTIM)
    status, out, err = run_cli(["attack", "uap", str(run), "--eps", "2.0", "--norm", "l2", "--passes", "1",
                                "--n", "24", *QUIET], capsys)
    assert status == 0, err
    directory = run / "attacks" / "uap"
    record = json.loads((directory / "results.json").read_text())
    _, (train_rows, _) = run_split(run)
    assert record["training"]["n"] == len(train_rows) == record["training"]["images"]
    assert record["artefact"] == "perturbation" and record["perturbation"]["file"] == "perturbation.safetensors"
    assert "perturbation trained on the run's" in out and "saved as perturbation.safetensors" in out
    model, _ = load_classifier(run, "cpu")
    images, labels = held_out_split(run)
    reused = UAP(model, norm="l2", perturbation_path=str(directory / "perturbation.safetensors"))
    assert np.array_equal(reused(images[:24], labels[:24]).numpy(), np.load(directory / "adversarial.npy"))
    status, out, err = run_cli(["attack", "uap", str(run), "--norm", "l2", "--perturbation-path",
                                str(directory / "perturbation.safetensors"), "--n", "24", "--out",
                                str(tmp_path / "again"), *QUIET], capsys)
    assert status == 0, err
    assert "perturbation reused from" in out
    assert np.array_equal(np.load(tmp_path / "again" / "adversarial.npy"), np.load(directory / "adversarial.npy"))
