"""`advlab defend thermometer|tv-min|spatial-smoothing RUN --out DIR` end to end on a small digits run, then
`advlab attack pgd|bpda DIR`; bad options are one-line errors."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import assert_one_line_error, run_cli

from advlab.defenses.feature_squeezing import SpatialSmoothing
from advlab.defenses.preprocessed import Preprocessed, load_model, read_defense
from advlab.defenses.thermometer import ThermometerEncoding
from advlab.defenses.tv_minimisation import TotalVarianceMinimisation
from advlab.pipelines.train_classifier import classifier_record, held_out_split, image_shape

QUIET = ["--device", "cpu", "--threads", "1"]
VICTIM = ["--data", "digits", "--width", "8", "--epochs", "3", "--lr", "0.003", "--tensorboard", "false",
          "--no-progress", *QUIET]
MEASURE = ["--n", "20", "--attack-steps", "2", "--eot-samples", "2", "--no-progress", *QUIET]


@pytest.fixture(scope="module")
def victim(tmp_path_factory):
    from advlab.cli.main import main

    out = tmp_path_factory.mktemp("preprocess") / "clf"
    assert main(["classifier", "train", "--out", str(out), *VICTIM]) == 0
    return out


def attack_rows(run, attack, capsys) -> list[dict]:
    status, _, err = run_cli(["attack", attack, str(run), "--eps", "0.1", "--steps", "2", "--n", "10",
                              "--no-progress", *QUIET], capsys)
    assert status == 0, err
    return json.loads((run / "attacks" / attack / "results.json").read_text())["rows"]


def test_thermometer_trains_a_classifier_on_the_codes_and_takes_attacks(victim, tmp_path, capsys):
    out = tmp_path / "thermometer"
    status, text, err = run_cli(["defend", "thermometer", str(victim), "--levels", "8", "--epochs", "2",
                                 "--out", str(out), *MEASURE], capsys)
    assert status == 0, err
    assert "8-level thermometer codes (plain" in text and "naive PGD" in text and "BPDA" in text
    assert read_defense(out) == {"kind": "preprocess", "transform": "thermometer", "options": {"levels": 8},
                                 "base": str(victim.resolve())}
    tensors, meta = classifier_record(out)
    assert meta["sample_shape"] == [8, 8, 8] and meta["input_shape"] == [1, 8, 8] and image_shape(meta) == (1, 8, 8)
    status, _, err = run_cli(["privacy", "invert", str(out), "--class", "3", "--images", "1", "--iterations", "5",
                              "--device", "cpu", "--no-progress"], capsys)  # needs a classifier on images
    assert_one_line_error(status, err, "takes an encoding of the images", "(8, 8, 8)", "(1, 8, 8)")
    assert not (out / "privacy").exists()
    assert meta["split"] == classifier_record(victim)[1]["split"]
    for given, made in zip(held_out_split(victim), held_out_split(out)):
        assert torch.equal(given, made)
    model = load_model(out, "cpu")
    assert isinstance(model, Preprocessed) and isinstance(model.transform, ThermometerEncoding)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["training"]["epochs"] == 2 and summary["first_warning"]["n"] == 20
    assert summary["test_accuracy"] == pytest.approx(summary["training"]["test_accuracy"])
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2 and (out / "report.html").is_file()
    assert attack_rows(out, "pgd", capsys)[0]["n"] == 10 and attack_rows(out, "bpda", capsys)[0]["n"] == 10


def test_thermometer_trains_adversarially_through_the_soft_code_on_request(victim, tmp_path, capsys):
    out = tmp_path / "thermometer-at"
    status, text, err = run_cli(["defend", "thermometer", str(victim), "--levels", "4", "--epochs", "1",
                                 "--at-eps", "0.1", "--out", str(out), "--n", "5", "--attack-steps", "1",
                                 "--no-progress", *QUIET], capsys)
    assert status == 0, err
    training = json.loads((out / "summary.json").read_text())["training"]
    assert training["adversarial_training"].startswith("PGD-AT at eps 0.1") and "test_robust_accuracy" in training
    assert "PGD-AT at eps 0.1" in text


@pytest.mark.parametrize("verb, flags, kind, options", [
    ("tv-min", ["--steps", "20"], TotalVarianceMinimisation,
     {"keep_prob": 0.5, "lamb": 0.03, "norm": 2, "steps": 20}),
    ("spatial-smoothing", ["--window-size", "2"], SpatialSmoothing, {"window_size": 2}),
])
def test_tv_min_and_spatial_smoothing_runs_take_attacks(victim, tmp_path, capsys, verb, flags, kind, options):
    out = tmp_path / verb
    status, text, err = run_cli(["defend", verb, str(victim), *flags, "--out", str(out), *MEASURE], capsys)
    assert status == 0, err
    assert read_defense(out)["options"] == options and isinstance(load_model(out, "cpu").transform, kind)
    assert "BPDA leaves" in text
    assert attack_rows(out, "pgd", capsys)[0]["n"] == 10


def test_bad_options_are_one_line_errors_and_make_nothing(victim, tmp_path, capsys):
    spatial = tmp_path / "spatial"
    assert run_cli(["defend", "spatial-smoothing", str(victim), "--out", str(spatial), "--n", "2",
                    "--attack-steps", "1", "--no-progress", *QUIET], capsys)[0] == 0
    new = str(tmp_path / "a")
    cases = [
        (["thermometer", str(victim), "--levels", "1", "--out", new], ("thermometer", "levels", ">= 2")),
        (["thermometer", str(victim), "--at-eps", "2", "--out", new], ("--at-eps", "(0, 1]")),
        (["thermometer", str(victim), "--epochs", "0", "--out", new], ("--epochs", ">= 1")),
        (["thermometer", str(spatial), "--out", new], ("already a defended run",)),
        (["thermometer", str(victim), "--out", str(spatial)], ("already exists", "--overwrite")),
        (["tv-min", str(victim), "--keep-prob", "0", "--out", new], ("tv-min", "keep_prob")),
        (["tv-min", str(victim), "--norm", "3", "--out", new], ("tv-min", "norm", "1 or 2")),
        (["spatial-smoothing", str(victim), "--window-size", "0", "--out", new], ("spatial-smoothing", "window_size")),
        (["spatial-smoothing", str(victim), "--window-size", "9", "--out", new], ("window_size 9", "8x8")),
    ]
    for argv, words in cases:
        status, _, err = run_cli(["defend", *argv, *QUIET[:2]], capsys)
        assert_one_line_error(status, err, *words)
    assert not (tmp_path / "a").exists()

