"""The GAN cells of advlab audit and the --train-images split they compare: tiny DCGAN runs on 8x8 digits trained
through the pipeline, the cells' records, evidence and refusals, and the run left as it was."""

import json
import shutil

import numpy as np
import pytest
import torch
from helpers import files_outside, raises_one_line, run_cli

from advlab.core.checkpoints import load_latest
from advlab.core.config import from_mapping
from advlab.data import load_dataset
from advlab.pipelines.gan.gan_config import GANTrainConfig
from advlab.pipelines.gan.gan_setup import load_split, split_rows
from advlab.pipelines.gan.train_gan import resume_config, train_gan
from advlab.pipelines.security import gan_audit
from advlab.pipelines.security.audit_cells import FAIL, NOT_MEASURED, PASS, PRIVACY, TEST_DATA, AuditContext
from advlab.pipelines.security.gan_audit import (
    GAN_CELLS,
    GAN_SETTINGS,
    gan_membership_cell,
    gan_memorisation_cell,
    is_gan_run,
)

DIGITS = 1797


def tiny_run(out, steps=40, **options):
    config = GANTrainConfig(out=str(out), data="digits", steps=steps, sample_every=1000, checkpoint_every=1000,
                            tensorboard=False, threads=1, **options)
    threads = torch.get_num_threads()
    try:
        train_gan(config, overwrite=True, progress=False, report=False)
    finally:
        torch.set_num_threads(threads)
    return out


def context(run, budget="quick", seed=0):
    return AuditContext(run=run, audit_dir=run / "audit", subject=run / "audit" / "subject", budget=budget,
                        seed=seed, device="cpu", progress=False)


@pytest.fixture(scope="module")
def held_out_run(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("gan") / "run", train_images=300)


@pytest.fixture(scope="module")
def audited(held_out_run):
    before = files_outside(held_out_run, "audit")
    ctx = context(held_out_run)
    cells = {name: cell(ctx) for name, cell in GAN_CELLS.items()}
    return ctx, cells, before


# ---------------------------------------------------------------------------------------------- --train-images


def test_split_rows_are_disjoint_complete_and_the_same_on_every_call():
    config = GANTrainConfig(data="digits", train_images=100, seed=3)
    training, held_out = split_rows(config, DIGITS)
    assert len(training) == 100 and len(held_out) == DIGITS - 100
    assert torch.equal(torch.cat([training, held_out]).sort().values, torch.arange(DIGITS))
    again = split_rows(config, DIGITS)
    assert torch.equal(again[0], training) and torch.equal(again[1], held_out)
    other_seed = split_rows(GANTrainConfig(data="digits", train_images=100, seed=4), DIGITS)[0]
    assert not torch.equal(other_seed, training)  # the run's seed chooses the rows
    everything = split_rows(GANTrainConfig(data="digits"), DIGITS)
    assert torch.equal(everything[0], torch.arange(DIGITS)) and len(everything[1]) == 0


def test_load_split_gives_the_rows_and_labels_of_the_data_set():
    config = GANTrainConfig(data="digits", train_images=50, seed=1)
    _, training, held_out = load_split(config)
    data = load_dataset("digits")
    rows = split_rows(config, DIGITS)
    for part, positions in zip((training, held_out), rows):
        assert torch.equal(part.data, data.data[positions]) and torch.equal(part.labels, data.labels[positions])
    assert load_split(GANTrainConfig(data="digits"))[2] is None


@pytest.mark.parametrize("options, words", [
    ({"data": "digits", "train_images": DIGITS}, ("--train-images 1797", "holds 1797 images", "1 to 1796")),
    ({"data": "digits", "train_images": 5000}, ("--train-images 5000", "1 to 1796")),
    ({"data": "ring8", "train_images": 10}, ("--train-images applies to image data", "2-D points", "mixture")),
])
def test_train_images_refusals_are_one_line(options, words):
    raises_one_line(lambda: load_split(GANTrainConfig(**options)), *words)


def test_train_images_refuses_point_arrays_and_zero(tmp_path):
    points = tmp_path / "points.npy"
    np.save(points, np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32))
    raises_one_line(lambda: load_split(GANTrainConfig(data="npy", data_path=str(points), train_images=10)),
                    "image data", "2-D points")
    raises_one_line(lambda: from_mapping(GANTrainConfig, {"data": "digits", "train_images": 0}),
                    "train_images", "positive")


def test_the_cli_has_the_flag_and_trains_on_the_rows(tmp_path, capsys):
    status, out, _ = run_cli(["gan", "train", "--help"], capsys)
    assert status == 0 and "--train-images" in out
    run = tmp_path / "cli"
    status, _, err = run_cli(["gan", "train", "--data", "digits", "--train-images", "64", "--steps", "2",
                              "--out", str(run), "--no-progress", "--tensorboard", "false"], capsys)
    assert status == 0, err
    assert resume_config(run).train_images == 64
    status, _, err = run_cli(["gan", "train", "--data", "digits", "--train-images", "1797", "--steps", "2",
                              "--out", str(tmp_path / "refused"), "--no-progress"], capsys)
    assert status == 2 and "1 to 1796" in err and "Traceback" not in err


def test_a_resumed_run_keeps_its_rows(tmp_path):
    whole = tiny_run(tmp_path / "whole", steps=12, train_images=40, seed=2)
    part = tiny_run(tmp_path / "part", steps=6, train_images=40, seed=2)
    train_gan(resume_config(part, steps=12), resume=True, progress=False, report=False)
    a, b = (load_latest(run / "checkpoints").tensors for run in (whole, part))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[key], b[key]) for key in a)  # the same minibatches: the same 40 rows


# ---------------------------------------------------------------------------------------------- the cells


def test_is_gan_run(held_out_run, tmp_path):
    assert is_gan_run(held_out_run)
    assert not is_gan_run(tmp_path)
    (tmp_path / "config.yaml").write_text((held_out_run / "config.yaml").read_text())
    assert not is_gan_run(tmp_path)  # no checkpoint
    (tmp_path / "checkpoints").symlink_to(held_out_run / "checkpoints")
    assert is_gan_run(tmp_path)
    (tmp_path / "config.yaml").write_text("epochs: 3\nmodel: cnn\n")
    assert not is_gan_run(tmp_path)
    (tmp_path / "config.yaml").write_text("no_such_option: 1\n")
    assert not is_gan_run(tmp_path)


def test_settings_name_every_budget_with_the_same_keys():
    assert set(GAN_SETTINGS) == {"quick", "standard", "thorough"}
    keys = {tuple(sorted(settings)) for settings in GAN_SETTINGS.values()}
    assert len(keys) == 1
    assert GAN_SETTINGS["quick"]["white_box_steps"] == 0 < GAN_SETTINGS["standard"]["white_box_steps"]
    for key in GAN_SETTINGS["quick"]:
        assert GAN_SETTINGS["quick"][key] <= GAN_SETTINGS["standard"][key] <= GAN_SETTINGS["thorough"][key]


def test_membership_cell_record_and_evidence(audited, held_out_run):
    ctx, cells, _ = audited
    cell = cells["membership"]
    record = cell.record()
    assert record["row"] == TEST_DATA and record["column"] == PRIVACY and record["reason"] is None
    attacks = record["details"]["attacks"]
    assert set(attacks) == {"LOGAN", "GAN-Leaks black-box"}  # quick: no white-box steps, no calibration
    assert record["value"] == max(figures["auc"] for figures in attacks.values())
    assert record["verdict"] == (PASS if record["value"] <= 0.60 else FAIL)
    assert "0.60" in record["threshold"]
    for figures in attacks.values():
        assert set(figures) == {"auc", "tpr_at_0.1%_fpr", "tpr_at_1%_fpr"} and 0 <= figures["auc"] <= 1
    assert record["evidence"] == "gan/membership.json"
    evidence = json.loads((ctx.audit_dir / record["evidence"]).read_text())
    for _, path in record["details"]["pictures"]:
        assert (ctx.audit_dir / path).stat().st_size > 1000
    # a balanced set: members among the run's training rows, non-members among its held-out rows, disjoint
    training_rows, held_out_rows = split_rows(resume_config(held_out_run), DIGITS)
    members = training_rows[evidence["training_positions"]]
    non_members = held_out_rows[evidence["held_out_positions"]]
    assert len(members) == len(non_members) == evidence["members"] == min(GAN_SETTINGS["quick"]["members"], 300)
    assert len(set(members.tolist())) == len(members) and not set(members.tolist()) & set(non_members.tolist())
    assert len(evidence["scores"]["LOGAN"]) == 2 * len(members)


def test_white_box_and_calibrated_attacks_at_higher_budgets(held_out_run, tmp_path, monkeypatch):
    small = {**GAN_SETTINGS["quick"], "members": 40, "leaks_candidates": 500, "white_box_steps": 5, "reference": 30}
    monkeypatch.setitem(GAN_SETTINGS, "thorough", small)
    ctx = AuditContext(run=held_out_run, audit_dir=tmp_path / "audit", subject=tmp_path / "subject",
                       budget="thorough", device="cpu")
    record = gan_membership_cell(ctx).record()
    names = {"LOGAN", "GAN-Leaks black-box", "GAN-Leaks white-box", "GAN-Leaks calibrated"}
    assert set(record["details"]["attacks"]) == names and record["details"]["reference_images"] == 30
    scores = {name: torch.tensor(values) for name, values in
              json.loads((ctx.audit_dir / "gan" / "membership.json").read_text())["scores"].items()}
    assert (scores["GAN-Leaks white-box"] >= scores["GAN-Leaks black-box"]).all()  # never a worse reconstruction
    reference = scores["GAN-Leaks calibrated"] - scores["GAN-Leaks white-box"]  # the reference's distance
    assert (reference > 0).all()


def test_memorisation_cell_record_and_evidence(audited):
    ctx, cells, _ = audited
    record = cells["memorisation"].record()
    assert record["row"] == TEST_DATA and record["column"] == PRIVACY
    details = record["details"]
    assert 0 <= record["value"] <= 1 and record["value"] == details["copy_share"]
    assert record["verdict"] == (PASS if record["value"] <= 0.05 else FAIL)
    assert details["samples"] == GAN_SETTINGS["quick"]["samples"]
    if details["birthday_support"] is None:  # no duplicate in any batch: unbounded above, and said so
        assert details["birthday_high"] is None and details["birthday_low"] > 0 and "above" in details["birthday_note"]
    else:
        assert details["birthday_low"] <= details["birthday_support"] <= details["birthday_high"]
    evidence = json.loads((ctx.audit_dir / record["evidence"]).read_text())
    assert evidence["training_images"] == 300 and evidence["held_out_images"] == DIGITS - 300
    for _, path in details["pictures"]:
        assert (ctx.audit_dir / path).exists()


class Replay(torch.nn.Module):
    """A generator that copies its stored images: z -> stored[bucket of z's first coordinate]."""

    def __init__(self, stored):
        super().__init__()
        self.register_buffer("stored", stored)

    def forward(self, z):
        index = (torch.special.ndtr(z[:, 0]) * len(self.stored)).long().clamp(0, len(self.stored) - 1)
        return self.stored[index]


def test_a_generator_that_replays_its_training_images_fails_both_cells(held_out_run, tmp_path, monkeypatch):
    load = gan_audit.load_subject

    def replaying(ctx):
        subject = load(ctx)
        replay = Replay(subject.training.data)
        subject.trainer.sampling_model = lambda: replay
        return subject

    monkeypatch.setattr(gan_audit, "load_subject", replaying)
    ctx = AuditContext(run=held_out_run, audit_dir=tmp_path / "audit", subject=tmp_path / "subject", budget="quick",
                       device="cpu")
    membership, copies = gan_membership_cell(ctx).record(), gan_memorisation_cell(ctx).record()
    assert membership["verdict"] == FAIL and membership["details"]["attacks"]["GAN-Leaks black-box"]["auc"] == 1.0
    assert copies["verdict"] == FAIL and copies["value"] == 1.0
    assert 150 <= copies["details"]["birthday_support"] <= 600  # a replay of 300 images
    assert [path for _, path in copies["details"]["pictures"]] == ["gan/copies.png"]
    assert (ctx.audit_dir / "gan" / "copies.png").stat().st_size > 1000


def test_the_cells_write_only_under_audit_gan(audited, held_out_run):
    ctx, _, before = audited
    assert files_outside(held_out_run, "audit") == before
    written = {path.relative_to(ctx.audit_dir).parts[0] for path in ctx.audit_dir.rglob("*") if path.is_file()}
    assert written == {"gan"}


def test_a_run_trained_on_every_image_is_not_measured(tmp_path):
    run = tiny_run(tmp_path / "all", steps=2)
    for cell in (gan_membership_cell, gan_memorisation_cell):
        record = cell(context(run)).record()
        assert record["verdict"] == NOT_MEASURED and record["value"] is None
        assert "trained on every image of digits" in record["reason"] and "--train-images N" in record["reason"]
    assert not (run / "audit").exists()


def test_model_only_is_not_measured(held_out_run, tmp_path):
    ctx = AuditContext(run=held_out_run, audit_dir=tmp_path / "audit", subject=tmp_path / "subject", budget="quick",
                       model_only=True)
    for cell in (gan_membership_cell, gan_memorisation_cell):
        record = cell(ctx).record()
        assert record["verdict"] == NOT_MEASURED and "--model-only" in record["reason"]


@pytest.mark.parametrize("options", [{"model": "cgan"}, {"pack": 2}, {"model": "acgan"}, {"model": "progan"}])
def test_conditional_packed_and_progressive_runs_are_measured(tmp_path, options):
    run = tiny_run(tmp_path / "variant", steps=4, train_images=100, **options)
    record = gan_membership_cell(context(run)).record()
    assert record["verdict"] in (PASS, FAIL)
    assert record["details"]["members"] == 100
    assert gan_memorisation_cell(context(run)).record()["verdict"] in (PASS, FAIL)


def test_advlab_audit_on_a_gan_run(held_out_run, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(held_out_run, run, ignore=shutil.ignore_patterns("audit"))
    before = files_outside(run, "audit")
    status, out, err = run_cli(["audit", str(run), "--budget", "quick", "--threads", "1", "--no-progress"], capsys)
    assert status == 0, err
    record = json.loads((run / "audit" / "audit.json").read_text())
    assert record["kind"] == "gan" and record["complete"] and record["order"] == ["membership", "memorisation"]
    assert record["settings"] == GAN_SETTINGS["quick"]
    assert all(cell["verdict"] in (PASS, FAIL) for cell in record["cells"].values())
    assert (run / "audit" / "report.html").exists() and (run / "audit" / "gan" / "roc.png").exists()
    assert files_outside(run, "audit") == before
