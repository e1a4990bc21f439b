"""`advlab attack transfer RUN --surrogate RUN_A,RUN_B`: an ensemble of surrogate runs from the command line, the
same attack as a direct Transfer on the loaded models; one surrogate run still works; bad paths are one line."""

import json

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, cli_classifier_run, run_cli

from advlab.attacks.transfer import Transfer
from advlab.cli.main import build_parser
from advlab.core.parameters import class_parameters
from advlab.pipelines.train_classifier import held_out_split, load_classifier

DIGITS = ["--data", "digits", "--epochs", "3", "--lr", "0.003", "--device", "cpu", "--threads", "1", "--no-progress"]
QUIET = ["--device", "cpu", "--threads", "1", "--no-progress"]
N = 40


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A victim CNN and two surrogates of other architectures or seeds (a few seconds)."""
    folder = tmp_path_factory.mktemp("transfer-cli")
    victim = cli_classifier_run(folder / "victim", [*DIGITS, "--width", "8"])
    mlp = cli_classifier_run(folder / "mlp", [*DIGITS, "--model", "mlp", "--width", "64", "--seed", "1"])
    cnn = cli_classifier_run(folder / "cnn", [*DIGITS, "--width", "8", "--seed", "2"])
    return victim, mlp, cnn


def saved(directory):
    return json.loads((directory / "results.json").read_text())


def direct(victim, surrogate, **options):
    model = load_classifier(victim, "cpu")[0]
    images, labels = held_out_split(victim)
    return Transfer(model, surrogate, **options).run(images[:N], labels[:N])[0]


def test_surrogate_flag_takes_one_or_several_runs():
    (surrogate,) = [p for p in class_parameters(Transfer) if p.name == "surrogate"]
    assert surrogate.is_model and surrogate.is_models
    parser = build_parser()
    attack = parser._subparsers._group_actions[0].choices["attack"]._subparsers._group_actions[0].choices["transfer"]
    help_text = " ".join(attack.format_help().split())
    for words in ("--surrogate RUN[,RUN...]", "a classifier run directory, or comma-separated ones; required",
                  "--weights VALUE", "(comma-separated numbers or none; default none)", "--fusion"):
        assert words in help_text, words


def test_an_ensemble_of_surrogate_runs(runs, capsys):
    victim, mlp, cnn = runs
    status, out, err = run_cli(["attack", "transfer", str(victim), "--surrogate", f"{mlp},{cnn}", "--attack", "fgsm",
                                "--eps", "0.2", "--weights", "3,1", "--n", str(N), *QUIET], capsys)
    assert status == 0, err
    record = saved(victim / "attacks" / "transfer")
    assert record["options"]["surrogate"] == [str(mlp), str(cnn)]
    assert record["options"]["weights"] == [3.0, 1.0] and record["options"]["fusion"] == "logits"
    models = [load_classifier(run, "cpu")[0] for run in (mlp, cnn)]
    expected = direct(victim, models, attack="fgsm", eps=0.2, weights=(3.0, 1.0), seed=0)
    assert record["rows"][0]["robust_accuracy"] == expected.summary()["robust_accuracy"]
    adversarial = np.load(victim / "attacks" / "transfer" / "adversarial.npy")
    assert np.array_equal(adversarial, expected.adversarial.numpy())
    assert record["rows"][0]["queries_max"] == 1  # the victim's clean pass only
    alone = direct(victim, models[0], attack="fgsm", eps=0.2)
    assert not torch.equal(alone.adversarial, expected.adversarial)  # both surrogates counted


def test_one_surrogate_run_works_as_before(runs, capsys, tmp_path):
    victim, mlp, _ = runs
    status, _, err = run_cli(["attack", "transfer", str(victim), "--surrogate", str(mlp), "--attack", "bim",
                              "--eps", "0.1", "--n", str(N), "--out", str(tmp_path / "one"), *QUIET], capsys)
    assert status == 0, err
    record = saved(tmp_path / "one")
    assert record["options"]["surrogate"] == str(mlp)
    expected = direct(victim, load_classifier(mlp, "cpu")[0], attack="bim", eps=0.1)
    assert np.array_equal(np.load(tmp_path / "one" / "adversarial.npy"), expected.adversarial.numpy())


@pytest.mark.parametrize("surrogate, words", [
    ("{mlp},{missing}", "missing"), (",", "--surrogate must name at least one classifier run directory"),
])
def test_bad_surrogate_runs_are_one_line(runs, capsys, tmp_path, surrogate, words):
    victim, mlp, _ = runs
    value = surrogate.format(mlp=mlp, missing=tmp_path / "missing")
    status, _, err = run_cli(["attack", "transfer", str(victim), f"--surrogate={value}", "--n", "4",
                              "--out", str(tmp_path / "bad"), *QUIET], capsys)
    assert_one_line_error(status, err, words)


def test_bad_ensemble_options_are_one_line(runs, capsys, tmp_path):
    victim, mlp, cnn = runs
    status, _, err = run_cli(["attack", "transfer", str(victim), "--surrogate", f"{mlp},{cnn}", "--weights", "1",
                              "--n", "4", "--out", str(tmp_path / "bad"), *QUIET], capsys)
    assert_one_line_error(status, err, "transfer: weights must be one number per model (2), got 1")
