"""The training baselines that are no defense: label smoothing (Szegedy et al. 2016, sec. 7), mixup (Zhang et al.
2018, eq. 1) and CutMix (Yun et al. 2019, eq. 1-2) -- their losses by hand, the mixing of images and labels as the
equations say, the Beta draws, the config, and `advlab defend label-smoothing | mixup | cutmix`."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_one_line_error, raises_one_line, run_cli
from torch import nn

from advlab.core.config import from_mapping
from advlab.core.seeding import make_generator
from advlab.data import load_digits_images
from advlab.defenses.label_smoothing import LabelSmoothing
from advlab.defenses.mixup import CutMix, Mixup, beta_draw
from advlab.defenses.robust_training import make_objective
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.train_classifier import load_classifier, train_classifier

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def batch():
    digits = load_digits_images()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    return model, digits.data[:32], digits.labels[:32]


def test_label_smoothing_is_the_cross_entropy_against_the_smoothed_target_by_hand():
    model = nn.Identity()  # the "images" are the logits
    logits, label = [2.0, 0.5, -1.0], 1
    log_p = [v - math.log(sum(math.exp(u) for u in logits)) for v in logits]
    # q'(k) = (1 - 0.1) delta_{k,y} + 0.1 / 3
    target = [0.9 * (k == label) + 0.1 / 3 for k in range(3)]
    expected = -sum(q * lp for q, lp in zip(target, log_p))
    step = LabelSmoothing(0.1).loss(model, torch.tensor([logits]), torch.tensor([label]), make_generator(0, CPU))
    assert step.loss.item() == pytest.approx(expected, rel=1e-6)
    plain = -log_p[label]
    assert step.loss.item() > plain  # smoothing charges the confident right answer
    assert LabelSmoothing().smoothing == 0.1 and LabelSmoothing().evaluation_key is None  # no threat model


def replay_mixup(images, labels, alpha, seed):
    generator = make_generator(seed, CPU)
    weight = beta_draw(alpha, generator)
    partner = torch.randperm(len(images), generator=generator)
    return weight, partner


def soft_cross_entropy(logits, labels, partner, weight):
    """CE against y~ = lambda onehot(y_A) + (1 - lambda) onehot(y_B), written with probability targets."""
    target = weight * F.one_hot(labels, 10).float() + (1 - weight) * F.one_hot(labels[partner], 10).float()
    return F.cross_entropy(logits, target)


def test_mixup_mixes_images_and_labels_as_eq_1_says(batch):
    model, images, labels = batch
    step = Mixup(alpha=1.0).loss(model, images, labels, make_generator(5, CPU))
    weight, partner = replay_mixup(images, labels, 1.0, 5)
    assert 0 < weight < 1 and not torch.equal(partner, torch.arange(32))
    assert torch.allclose(step.inputs, weight * images + (1 - weight) * images[partner])
    assert torch.allclose(step.loss, soft_cross_entropy(model(step.inputs), labels, partner, weight), atol=1e-6)
    assert torch.allclose(step.logits, model(step.inputs))


@pytest.mark.parametrize("alpha", [1.0, 0.2])
def test_lambda_follows_beta_alpha_alpha(alpha):
    generator = make_generator(0, CPU)
    draws = np.array([beta_draw(alpha, generator) for _ in range(4000)])
    assert draws.min() >= 0 and draws.max() <= 1
    assert draws.mean() == pytest.approx(0.5, abs=0.02)
    assert draws.var() == pytest.approx(1 / (4 * (2 * alpha + 1)), rel=0.08)  # Beta(a, a): 1 / (4 (2a + 1))
    again = make_generator(0, CPU)
    assert beta_draw(alpha, again) == draws[0]  # reproducible from the run's generator


def test_cutmix_pastes_one_box_and_weights_the_labels_by_its_area(batch):
    model, images, labels = batch
    images = images + 0.01  # no pixel of x_A equals x_B's by chance (digits hold many zeros)
    for seed in range(6):
        step = CutMix(alpha=1.0).loss(model, images, labels, make_generator(seed, CPU))
        generator = make_generator(seed, CPU)
        drawn = beta_draw(1.0, generator)
        partner = torch.randperm(32, generator=generator)
        centre = int(torch.randint(0, 64, (1,), generator=generator))
        side = int(8 * math.sqrt(1 - drawn))  # eq. (2): r_w = W sqrt(1 - lambda), r_h = H sqrt(1 - lambda)
        row, column = centre // 8, centre % 8
        top, left = row - side // 2, column - side // 2
        inside = torch.zeros(8, 8, dtype=torch.bool)
        inside[max(top, 0):top + side, max(left, 0):left + side] = True
        expected = torch.where(inside, images[partner], images)  # eq. (1): M x_A + (1 - M) x_B, M = 0 in the box
        assert torch.equal(step.inputs, expected)
        from_a = 1 - float(inside.sum()) / 64  # the label weight: the share of x_A's pixels after clipping
        differs = (step.inputs != images).any(1).any(0)
        assert torch.equal(differs, inside & (images[partner] != images).any(1).any(0))
        assert torch.allclose(step.loss, soft_cross_entropy(model(step.inputs), labels, partner, from_a), atol=1e-6)


@pytest.mark.parametrize("call,words", [
    (lambda: LabelSmoothing(0.0), ["label-smoothing", "smoothing", "(0, 1)", "0.0"]),
    (lambda: LabelSmoothing(1.0), ["label-smoothing", "smoothing", "(0, 1)"]),
    (lambda: Mixup(alpha=0.0), ["mixup", "alpha", "> 0"]),
    (lambda: CutMix(alpha=-1.0), ["cutmix", "alpha", "> 0", "-1"]),
    (lambda: from_mapping(ClassifierTrainConfig, {"defense": "mixup", "smoothing": 0.1}),
     ["'smoothing' applies only to defense 'label-smoothing'", "'mixup'"]),
    (lambda: from_mapping(ClassifierTrainConfig, {"defense": "cutmix", "mixup_alpha": 1.0}),
     ["'mixup_alpha' applies only to defense 'mixup'", "'cutmix'"]),
    (lambda: from_mapping(ClassifierTrainConfig, {"cutmix_alpha": 1.0}), ["'cutmix_alpha' applies only", "'none'"]),
    (lambda: from_mapping(ClassifierTrainConfig, {"defense": "label-smoothing", "smoothing": 1.2}),
     ["'smoothing'", "between 0 and 1", "1.2"]),
    (lambda: from_mapping(ClassifierTrainConfig, {"defense": "mixup", "mixup_alpha": 0.0}), ["'mixup_alpha'", "> 0"]),
    (lambda: from_mapping(ClassifierTrainConfig, {"defense": "mixup", "eps": 0.1}),
     ["'eps' applies only to", "'mixup'"]),
])
def test_baseline_options_are_checked_in_one_line(call, words):
    raises_one_line(call, *words)


def test_the_baselines_default_to_their_papers_values():
    assert make_objective("label-smoothing").smoothing == 0.1
    assert make_objective("mixup").alpha == 1.0 and make_objective("cutmix").alpha == 1.0
    assert make_objective("mixup", mixup_alpha=0.4).alpha == 0.4
    assert make_objective("cutmix", cutmix_alpha=0.5, mixup_alpha=0.4).alpha == 0.5
    assert from_mapping(ClassifierTrainConfig, {"defense": "mixup", "epochs": 10}).warmup_epochs == 0
    config = from_mapping(ClassifierTrainConfig, {"defense": "label-smoothing", "smoothing": 0.2})
    assert config.undefended().smoothing is None


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("baselines") / "clf"
    train_classifier(from_mapping(ClassifierTrainConfig, {"data": "digits", "model": "mlp", "width": 16, "epochs": 1,
                                                          "device": "cpu", "threads": 1, "robust_eval_images": 30,
                                                          "out": str(out)}), progress=False, report=False)
    return out


@pytest.mark.parametrize("argv,defense,key,value", [
    (["label-smoothing", "--smoothing", "0.2"], "label-smoothing", "smoothing", 0.2),
    (["mixup", "--mixup-alpha", "0.4"], "mixup", "mixup_alpha", 0.4),
    (["cutmix", "--cutmix-alpha", "1.0"], "cutmix", "cutmix_alpha", 1.0),
    (["mixup"], "mixup", "mixup_alpha", None),
])
def test_defend_baseline_verbs_build_their_config(base_run, tmp_path, capsys, argv, defense, key, value):
    out = tmp_path / defense
    status, stdout, err = run_cli(["defend", argv[0], str(base_run), *argv[1:], "--epochs", "1", "--out", str(out),
                                   "--no-progress"], capsys)
    assert status == 0, err
    assert "held-out accuracy:" in stdout and "robust held-out accuracy" not in stdout  # no threat model
    config = load_classifier(out, "cpu")[1]
    assert config.defense == defense and getattr(config, key) == value and config.model == "mlp"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["defense"] == defense and "test_robust_accuracy" not in summary


def test_defend_help_says_the_baselines_are_no_defenses(capsys):
    status, stdout, _ = run_cli(["defend", "--help"], capsys)
    for verb in ("label-smoothing", "mixup", "cutmix"):
        assert verb in stdout
    assert " ".join(stdout.split()).count("NOT an adversarial defense") >= 3
    for verb, flag in (("label-smoothing", "--smoothing"), ("mixup", "--mixup-alpha"), ("cutmix", "--cutmix-alpha")):
        status, stdout, _ = run_cli(["defend", verb, "--help"], capsys)
        assert status == 0 and flag in stdout and "--eps" not in stdout and "--awp-gamma" not in stdout
        assert "NOT an adversarial defense" in " ".join(stdout.split())


def test_defend_baseline_errors_are_one_line(base_run, tmp_path, capsys):
    status, _, err = run_cli(["defend", "mixup", str(base_run), "--mixup-alpha", "0", "--out", str(tmp_path / "o"),
                              "--no-progress"], capsys)
    assert_one_line_error(status, err, "'mixup_alpha'", "> 0")
    assert not (tmp_path / "o").exists()
