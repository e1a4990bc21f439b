"""Eps warm-up (advlab.defenses.eps_warmup): the training radius ramps linearly, evaluation stays at the full eps."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import assert_one_line_error, raises_one_line, run_cli

from advlab.core.config import from_mapping
from advlab.defenses.eps_warmup import EpsWarmup
from advlab.defenses.pgd_at import PGDAdversarialTraining
from advlab.models import SmallCNN
from advlab.pipelines.classifier_config import ClassifierTrainConfig


def test_minibatch_b_of_the_ramp_trains_at_eps_b_over_n_then_at_eps():
    built = []

    def at_eps(eps):
        built.append(eps)
        return PGDAdversarialTraining(eps, steps=2)

    warmup = EpsWarmup(PGDAdversarialTraining(0.3, steps=2), at_eps, 4)
    torch.manual_seed(0)
    model, images, labels = SmallCNN(image_size=8), torch.rand(6, 1, 8, 8), torch.arange(6)
    seen = []
    for _ in range(6):
        eps = warmup.current_eps()
        step = warmup.loss(model, images, labels, torch.Generator().manual_seed(1))
        seen.append((eps, (step.inputs - images).abs().max().item()))
    assert [eps for eps, _ in seen] == pytest.approx([0.075, 0.15, 0.225, 0.3, 0.3, 0.3])
    assert built == pytest.approx([0.075, 0.15, 0.225])  # the full objective serves from the ramp's end on
    assert all(moved <= eps + 1e-6 for eps, moved in seen)
    assert seen[0][1] < 0.3 / 2  # the first minibatch really trains inside the small ball


def test_evaluation_and_options_are_the_full_objectives():
    full = PGDAdversarialTraining(0.3, steps=2)
    warmup = EpsWarmup(full, lambda eps: PGDAdversarialTraining(eps, steps=2), 10)
    assert warmup.name == "pgd-at" and warmup.evaluation_key == full.evaluation_key
    assert "eps 0.3" in warmup.evaluation_label
    assert warmup.options() == {**full.options(), "eps_warmup_batches": 10}
    torch.manual_seed(0)
    model, images, labels = SmallCNN(image_size=8), torch.rand(4, 1, 8, 8), torch.arange(4)
    assert torch.equal(warmup.evaluation_inputs(model, images, labels, 3), full.evaluation_inputs(model, images,
                                                                                                     labels, 3))
    assert EpsWarmup(full, None, 0).current_eps() == 0.3  # no ramp


@pytest.mark.parametrize(("options", "words"), [
    ({"eps_warmup": 2}, ["eps_warmup", "pgd-at, trades, fast-at", "'none'"]),
    ({"defense": "pgd-at", "eps": 0.3, "eps_warmup": -1}, ["eps_warmup", "zero or more"]),
    ({"defense": "pgd-at", "eps": 0.3, "eps_warmup": 30, "epochs": 20}, ["eps_warmup", "30", "20 epochs"]),
])
def test_bad_warmups_are_one_line_errors(options, words):
    raises_one_line(lambda: from_mapping(ClassifierTrainConfig, {"data": "digits", **options}).validate(), *words)


def test_the_flag_trains_and_is_recorded(tmp_path, capsys):
    out = tmp_path / "robust"
    status, _, err = run_cli(["classifier", "train", "--data", "digits", "--defense", "pgd-at", "--eps", "0.2",
                              "--attack-steps", "2", "--eps-warmup", "1", "--epochs", "1", "--robust-eval-images", "20",
                              "--threads", "1", "--device", "cpu", "--no-progress", "--out", str(out)], capsys)
    assert status == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["defense_options"]["eps_warmup_batches"] == 23  # ceil(1437 training rows / 64)
    status, _, err = run_cli(["defend", "adv-train", str(out), "--eps", "0.2", "--eps-warmup", "5", "--epochs", "2",
                              "--out", str(tmp_path / "x")], capsys)
    assert_one_line_error(status, err, "eps_warmup", "longer than the run")


@pytest.mark.parametrize(("options", "epochs"), [
    ({"defense": "pgd-at", "eps": 0.3}, 4), ({"defense": "trades", "eps": 0.3, "epochs": 9}, 1),
    ({"defense": "fast-at", "eps": 0.3, "epochs": 4}, 0), ({"defense": "pgd-at", "eps": 0.3, "eps_warmup": 0}, 0),
    ({"defense": "pgd-at", "eps": 0.3, "eps_warmup": 7}, 7), ({}, 0), ({"defense": "noise", "sigma": 0.25}, 0)])
def test_unset_the_adversarial_defenses_ramp_over_a_fifth_of_the_epochs(options, epochs):
    config = from_mapping(ClassifierTrainConfig, {"data": "mnist", **options})
    assert config.warmup_epochs == epochs
