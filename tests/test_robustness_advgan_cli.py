"""`advlab robustness RUN --advgan [--advgan-steps N]`: the flags reach RobustnessConfig, AdvGAN is trained on the
run's training rows and judged on the evaluated held-out rows like a direct run of the same generator, the printed
table and line say so, and bad combinations end in one line."""

import json

import pytest
from helpers import assert_one_line_error, cli_classifier_run, run_cli

from advlab.attacks import AdvGAN
from advlab.pipelines.train_classifier import held_out_split, load_classifier, run_split

VICTIM = ["--data", "digits", "--width", "8", "--epochs", "3", "--lr", "0.003", "--device", "cpu", "--threads", "1",
          "--no-progress"]
SMALL = ["--n", "24", "--steps", "2", "--queries", "10", "--targets", "1", "--check-images", "8", "--device", "cpu",
         "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def victim_run(tmp_path_factory):
    return cli_classifier_run(tmp_path_factory.mktemp("robustness-advgan") / "clf", VICTIM)


def test_advgan_flags_train_one_generator_per_eps_on_the_training_rows(victim_run, capsys):
    status, out, err = run_cli(["robustness", str(victim_run), "--eps", "0.1,0.3", "--advgan", "--advgan-steps", "3",
                                *SMALL], capsys)
    assert status == 0, err
    record = json.loads((victim_run / "robustness.json").read_text())
    _, (train_rows, _) = run_split(victim_run)
    assert record["advgan"]["rows"] == "training split" and record["advgan"]["n"] == len(train_rows)
    assert set(record["advgan"]["generators"]) == {"0.1", "0.3"}
    for about in record["advgan"]["generators"].values():
        assert about["iterations"] == 3 and about["images"] == len(train_rows) and about["seed"] == 0
    assert record["attacks"]["advgan"]["kind"] == "generative" and "advgan" not in record["ensemble"]["members"]
    # the figure is the one a generator trained alike gives on the same held-out images; an image the model got
    # wrong before the attack counts as broken (G perturbs every image and may push a wrong one back to its class)
    model, _ = load_classifier(victim_run, "cpu")
    data, _ = run_split(victim_run)
    images, labels = held_out_split(victim_run)
    for eps in (0.1, 0.3):
        attack = AdvGAN(model, eps=eps, steps=3, seed=0).fit(data.data[train_rows], data.labels[train_rows])
        result = attack.run(images[:24], labels[:24])[0]
        direct = ((result.clean_pred == result.labels) & (result.adv_pred == result.labels)).double().mean().item()
        assert record["per_attack"]["advgan"][f"{eps:g}"] == pytest.approx(direct)
        assert record["robust_accuracy"][f"{eps:g}"] <= direct
    header = next(line for line in out.splitlines() if line.startswith("| eps"))
    assert "AdvGAN" in header
    assert f"AdvGAN: one generator per eps, trained on the run's {len(train_rows)} training rows" in out
    assert "eps 0.1: 3 iterations" in out and "eps 0.3: 3 iterations" in out


def test_without_the_flag_there_is_no_advgan(victim_run, capsys):
    status, out, err = run_cli(["robustness", str(victim_run), "--eps", "0.1", *SMALL], capsys)
    assert status == 0, err
    record = json.loads((victim_run / "robustness.json").read_text())
    assert "advgan" not in record and "advgan" not in record["per_attack"] and "AdvGAN" not in out


@pytest.mark.parametrize("argv, words", [
    (["--advgan", "--norm", "l2", "--eps", "0.5"], ["AdvGAN", "Linf"]),
    (["--advgan", "--advgan-steps", "0"], ["--advgan-steps", ">= 1"]),
])
def test_bad_advgan_options_end_in_one_line(victim_run, capsys, argv, words):
    status, _, err = run_cli(["robustness", str(victim_run), *argv, "--no-progress"], capsys)
    assert_one_line_error(status, err, *words)
