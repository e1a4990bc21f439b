"""advlab privacy membership RUN
(advlab.pipelines.security.membership_run and cli/privacy_membership.py): members are the
run's training rows, non-members its held-out rows, balanced; membership.json's keys and ranges, its figures equal
to the ROC of the saved scores, the loss attack's scores equal to a hand computation, shadows shared and reused,
label-only victims, nothing written outside RUN/privacy, and one clear error for each bad input."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import (
    assert_one_line_error,
    files_outside,
    newest_checkpoint_times,
    raises_one_line,
    run_cli,
    tiny_digits_target,
)

from advlab.pipelines.security.membership_run import MembershipRunConfig, membership_run
from advlab.pipelines.security.shadow_models import shadow_dir
from advlab.pipelines.train_classifier import load_classifier, run_split
from advlab.privacy.membership import ATTACKS, membership_roc

EVERY_ATTACK = ("loss", "correctness", "shadow", "lira", "rmia")
STABLE_KEYS = ("auc", "tpr_at_0.1%_fpr", "tpr_at_1%_fpr", "seconds")


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    return tiny_digits_target(tmp_path_factory.mktemp("membership") / "target")


@pytest.fixture(scope="module")
def every_attack(target):
    """The record and folder of every attack on the target with 4 shadows (online LiRA's least), and the files
    outside RUN/privacy before."""
    before = files_outside(target)
    folder = membership_run(MembershipRunConfig(target, EVERY_ATTACK, shadows=4, device="cpu", progress=False))
    return json.loads((folder / "membership.json").read_text()), folder, before


def checkpoint_times(run, shadows: int) -> list[int]:
    return newest_checkpoint_times(shadow_dir(run, index) for index in range(shadows))


def run_config(run, attacks, **changes) -> MembershipRunConfig:
    return MembershipRunConfig(str(run), tuple(attacks), **{"shadows": 4, "device": "cpu", "progress": False,
                                                            **changes})


def test_the_record_has_the_stable_keys_with_shares_in_range(every_attack):
    record, folder, _ = every_attack
    assert (record["members"], record["non_members"], record["shadows"]) == (898, 898, 4)
    assert record["subsampled"] == {"side": "non_members", "from": 899, "to": 898}
    assert list(record["attacks"]) == list(EVERY_ATTACK) and record["skipped"] == {}
    for figures in record["attacks"].values():
        assert all(type(figures[key]) is float for key in STABLE_KEYS)
        assert all(0 <= figures[key] <= 1 for key in STABLE_KEYS[:3]) and figures["seconds"] >= 0
        assert figures["tpr_at_0.1%_fpr"] <= figures["tpr_at_1%_fpr"]
    assert record["shadow_training"]["shadows"] == 4 and record["pool"] == 1797
    assert (folder / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_figures_are_the_roc_of_the_saved_scores_and_the_rows_are_the_split(target, every_attack):
    record, folder, _ = every_attack
    with np.load(folder / "scores.npz", allow_pickle=False) as saved:
        is_member, rows = saved["is_member"], saved["rows"]
        for name in EVERY_ATTACK:
            figures = membership_roc(saved[name], is_member).summary()
            assert figures == {key: record["attacks"][name][key] for key in figures}
    _, (train_rows, held_out_rows) = run_split(target)
    assert set(rows[is_member].tolist()) == set(train_rows.tolist())
    assert set(rows[~is_member].tolist()) < set(held_out_rows.tolist())


def test_the_loss_scores_are_the_log_probability_of_the_true_label(target, every_attack):
    _, folder, _ = every_attack
    model, _ = load_classifier(target, "cpu")
    data, _ = run_split(target)
    with np.load(folder / "scores.npz", allow_pickle=False) as saved:
        rows, loss = torch.from_numpy(saved["rows"]), torch.from_numpy(saved["loss"])
        correct = torch.from_numpy(saved["correctness"])
    logits = model(data.data[rows]).double()
    expected = -torch.nn.functional.cross_entropy(logits, data.labels[rows], reduction="none")
    assert torch.allclose(loss, expected, atol=1e-6)
    assert torch.equal(correct, (logits.argmax(1) == data.labels[rows]).double())


def test_nothing_is_written_outside_privacy_and_a_second_call_retrains_no_shadow(target, every_attack):
    _, _, before = every_attack
    assert files_outside(target) == before
    assert sorted(path.name for path in (Path(target) / "privacy").iterdir()) == ["membership", "shadows"]
    times = checkpoint_times(target, 4)
    folder = membership_run(run_config(target, ("shadow", "rmia")))
    training = json.loads((folder / "membership.json").read_text())["shadow_training"]
    assert (training["trained"], training["reused"], training["shadows_per_minute"]) == (0, 4, None)
    assert checkpoint_times(target, 4) == times


def test_more_shadows_train_only_the_new_ones(target, tmp_path):
    copy = tmp_path / "target"
    shutil.copytree(target, copy, ignore=shutil.ignore_patterns("privacy"))
    first = json.loads((membership_run(run_config(copy, ("shadow",), shadows=2)) / "membership.json").read_text())
    assert (first["shadow_training"]["trained"], first["shadow_training"]["reused"]) == (2, 0)
    times = checkpoint_times(copy, 2)
    second = json.loads((membership_run(run_config(copy, ("lira",))) / "membership.json").read_text())
    assert (second["shadow_training"]["trained"], second["shadow_training"]["reused"]) == (2, 2)
    assert checkpoint_times(copy, 2) == times and second["shadows"] == 4


def test_a_label_only_victim_skips_the_attacks_that_need_scores(target, every_attack):
    before, _, _ = every_attack
    folder = membership_run(run_config(target, ("loss", "correctness"), output="labels"))
    record = json.loads((folder / "membership.json").read_text())
    assert list(record["attacks"])[-1] == "correctness" and list(record["skipped"]) == ["loss"]
    assert record["attacks"]["correctness"]["output"] == "labels"
    # the earlier call's attacks (same seed, same examples) stay beside it, with their figures and scores
    assert record["attacks"]["loss"] == before["attacks"]["loss"] and record["attacks"]["loss"]["output"] == "logits"
    with np.load(folder / "scores.npz", allow_pickle=False) as saved:
        assert set(EVERY_ATTACK) <= set(saved.files)
        assert membership_roc(saved["lira"], saved["is_member"]).auc == record["attacks"]["lira"]["auc"]
    assert record["output"] == "labels" and record["shadows"] == 0
    assert record["label_only_attacks"] == [name for name, cls in ATTACKS.items() if not cls.needs_scores]
    raises_one_line(lambda: membership_run(run_config(target, ("loss", "lira"), output="labels")),
                    "need the victim's scores", "correctness")


def test_a_call_with_another_seed_replaces_the_earlier_attacks(target, tmp_path):
    copy = tmp_path / "target"
    shutil.copytree(target, copy, ignore=shutil.ignore_patterns("privacy"))
    membership_run(run_config(copy, ("loss",)))
    assert list(json.loads((membership_run(run_config(copy, ("correctness",))) / "membership.json").read_text())
                ["attacks"]) == ["loss", "correctness"]
    folder = membership_run(run_config(copy, ("correctness",), seed=1))
    assert list(json.loads((folder / "membership.json").read_text())["attacks"]) == ["correctness"]
    with np.load(folder / "scores.npz", allow_pickle=False) as saved:
        assert "loss" not in saved.files


def trained_on_every_row(target, out) -> Path:
    """A copy of `target` whose checkpoint record says it trained on all 1,797 rows and held none out (training
    train_classifier refuses to make such a run: it measures its accuracy on its held-out rows)."""
    shutil.copytree(target, out, ignore=shutil.ignore_patterns("privacy"))
    record_path = next((out / "checkpoints").glob("*.json"))
    record = json.loads(record_path.read_text())
    record["split"].update(kind="given", train_rows=list(range(1797)), test_rows=[])
    record_path.write_text(json.dumps(record))
    return out


def test_a_run_without_non_members_or_with_changed_data_is_refused(tmp_path, target):
    every_row = trained_on_every_row(target, tmp_path / "all")
    assert len(run_split(every_row)[1][1]) == 0
    raises_one_line(lambda: membership_run(run_config(every_row, ("loss",))), "all its data", "non-members")
    changed = tmp_path / "changed"
    shutil.copytree(target, changed, ignore=shutil.ignore_patterns("privacy"))
    config = changed / "config.yaml"
    config.write_text(config.read_text().replace("test_fraction: 0.5", "test_fraction: 0.4"))
    raises_one_line(lambda: membership_run(run_config(changed, ("loss",))), "non-members",
                    "cannot be rebuilt")
    assert not (changed / "privacy").exists() and not (every_row / "privacy").exists()


@pytest.mark.parametrize("attacks, changes, words", [
    (("loss", "pgd"), {}, ["unknown membership attack 'pgd'", "lira", "rmia"]),
    (("lira",), {"shadows": 2}, ["online LiRA needs at least 2 IN and 2 OUT"]),
    (("lira",), {"options": {"lira": {"steps": 3}}}, ["unknown option 'steps'", "fix_variance"]),
    (("loss",), {"options": {"lira": {"online": False}}}, ["options given for lira"]),
    (("loss",), {"output": "scores"}, ["unknown victim output 'scores'"]),
])
def test_bad_requests_are_one_clear_error_before_any_shadow_trains(tmp_path, target, attacks, changes, words):
    copy = tmp_path / "target"
    shutil.copytree(target, copy, ignore=shutil.ignore_patterns("privacy"))
    raises_one_line(lambda: membership_run(run_config(copy, attacks, **changes)), *words)
    assert not (copy / "privacy").exists()


def test_the_cli_prints_the_table_and_the_paths(target, capsys):
    status, out, _ = run_cli(["privacy", "membership", target, "--attacks", "loss,lira", "--shadows", "4",
                              "--lira-online", "false", "--device", "cpu", "--no-progress"], capsys)
    assert status == 0
    record = json.loads((Path(target) / "privacy" / "membership" / "membership.json").read_text())
    assert record["attacks"]["lira"]["options"] == {"online": False}
    lira = next(line for line in out.splitlines() if line.startswith("lira "))
    assert f"{record['attacks']['lira']['auc']:.4f}" in lira
    assert "membership.json" in out and "roc.png" in out and "scores.npz" in out


def test_the_cli_refuses_bad_input_with_exit_status_2(tmp_path, target, capsys):
    gan = tmp_path / "gan"
    assert run_cli(["gan", "train", "--data", "ring8", "--steps", "10", "--width", "8", "--depth", "2",
                    "--sample-every", "10", "--checkpoint-every", "10", "--tensorboard", "false", "--device", "cpu",
                    "--no-progress", "--out", str(gan)], capsys)[0] == 0
    (tmp_path / "empty").mkdir()
    for argv, words in [
        ([target, "--attacks", "loss,mia"], ["unknown membership attack 'mia'", "loss, correctness"]),
        ([target, "--attacks", "lira", "--shadows", "3"], ["online LiRA", "IN"]),
        ([target, "--attacks", "loss", "--output", "labels"], ["--output labels", "correctness"]),
        ([target, "--attacks", "lira", "--lira-shift", "two"], ["--lira-shift", "integer"]),
        ([str(gan), "--attacks", "loss"], ["not a classifier run"]),
        ([str(tmp_path / "empty"), "--attacks", "loss"], ["no config.yaml"]),
        ([str(tmp_path / "missing"), "--attacks", "loss"], ["no such run directory"]),
    ]:
        status, _, err = run_cli(["privacy", "membership", *argv, "--device", "cpu", "--no-progress"], capsys)
        assert_one_line_error(status, err, *words)
    assert not (gan / "privacy").exists() and not (tmp_path / "empty" / "privacy").exists()
