"""advlab audit (issue 22, part 1): the classifier cells, --model-only, resuming, and the refusals.

The audits here run at a tiny budget (TINY, patched over "quick") on an 8x8 digits CNN trained for two epochs; the
four-twin check at the real quick budget is tests/test_audit_slow.py (bench/audit.py --quick)."""

import json
import math

import pytest
import torch
from helpers import assert_one_line_error, cli_classifier_run, files_outside, raises_one_line, run_cli

from advlab.pipelines.security import audit as audit_module
from advlab.pipelines.security.audit import AuditConfig, audit_run
from advlab.pipelines.security.audit_cells import FAIL, NOT_MEASURED, PASS, Cell, at_least, at_most

CELLS = ["evasion", "backdoor", "availability", "membership", "extraction", "inversion"]
TINY = {"eps_scales": (1.0,), "robust_n": 24, "robust_budget": "fast", "robust_steps": 3, "robust_queries": 20,
        "check_images": 4, "cleanse_epochs": 2, "flip_rates": (0.3,), "shadows": 2,
        "membership_attacks": ("loss", "rmia"), "extraction_queries": (60,), "inversion_images": 1,
        "inversion_iterations": 20}


@pytest.fixture(autouse=True)
def tiny_budget(monkeypatch):
    monkeypatch.setitem(audit_module.SETTINGS, "quick", TINY)


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
    return cli_classifier_run(tmp_path_factory.mktemp("audit") / "clf",
                              ["--data", "digits", "--epochs", "2", "--threads", "1", "--device", "cpu"])


def audited(run, **options):
    threads = torch.get_num_threads()
    try:
        return audit_run(AuditConfig(run=str(run), device="cpu", threads=1, progress=False, **options))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def full_audit(classifier_run):
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(audit_module.SETTINGS, "quick", TINY)
        before = files_outside(classifier_run, "audit")
        path, record = audited(classifier_run)
        return path, record, before


def test_every_cell_is_measured_judged_and_linked_to_its_evidence(full_audit, classifier_run):
    path, record, _ = full_audit
    assert path == classifier_run / "audit" / "audit.json"
    assert json.loads(path.read_text()) == record
    assert record["format"] == "advlab-audit/1" and record["kind"] == "classifier" and record["complete"] is True
    assert record["order"] == CELLS and list(record["cells"]) == CELLS
    assert record["settings"]["eps"] == 0.2  # digits: advlab's yardstick
    for name, cell in record["cells"].items():
        assert cell["verdict"] in (PASS, FAIL), (name, cell["reason"])
        assert isinstance(cell["value"], float) and math.isfinite(cell["value"])
        assert cell["threshold"].startswith("pass when")
        assert (path.parent / cell["evidence"]).is_file(), name
        for _, picture in cell["details"].get("pictures", []):
            assert (path.parent / picture).is_file(), (name, picture)
        assert cell["seconds"] > 0
    assert record["seconds"] == pytest.approx(sum(cell["seconds"] for cell in record["cells"].values()), abs=0.1)
    assert (path.parent / "report.html").is_file() and (path.parent / "report.md").is_file()


def test_the_cells_hold_the_figures_of_the_pipelines_they_ran(full_audit):
    path, record, _ = full_audit
    cells = record["cells"]
    robustness = json.loads((path.parent / "subject" / "robustness.json").read_text())
    assert cells["evasion"]["value"] == robustness["robust_accuracy"]["0.2"]
    assert cells["evasion"]["verdict"] == (PASS if robustness["robust_accuracy"]["0.2"] >= 0.5 and all(
        check["passed"] for check in robustness["checks"]) else FAIL)
    membership = json.loads((path.parent / cells["membership"]["evidence"]).read_text())
    assert cells["membership"]["value"] == max(attack["auc"] for attack in membership["attacks"].values())
    assert set(membership["attacks"]) == {"loss", "rmia"} and membership["shadows"] == 2
    flipped = cells["availability"]["details"]
    assert cells["availability"]["value"] == pytest.approx(flipped["clean_accuracy"]
                                                           - flipped["accuracy_after_flipping"]["0.3"])
    poison = json.loads((path.parent / cells["availability"]["evidence"]).read_text())
    assert poison["attack"] == "label-flip" and poison["rate"] == 0.3
    cleanse = json.loads((path.parent / cells["backdoor"]["evidence"]).read_text())
    assert cells["backdoor"]["verdict"] == (FAIL if cleanse["flagged_classes"] else PASS)
    assert {"spectral", "activation-clustering"} <= set(cells["backdoor"]["details"])
    extraction = json.loads((path.parent / cells["extraction"]["evidence"]).read_text())
    assert cells["extraction"]["value"] == extraction["budgets"]["60"]["fidelity"]


def test_the_audit_never_touches_the_run_outside_its_folder(full_audit, classifier_run):
    _, _, before = full_audit
    assert files_outside(classifier_run, "audit") == before


def test_model_only_marks_the_cells_that_need_the_training_data_not_measured(tmp_path, capsys):
    run = cli_classifier_run(tmp_path / "clf", ["--data", "digits", "--epochs", "1", "--threads", "1",
                                                "--device", "cpu"])
    threads = torch.get_num_threads()
    try:
        status, out, _ = run_cli(["audit", str(run), "--model-only", "--device", "cpu", "--threads", "1",
                                  "--no-progress"], capsys)
    finally:
        torch.set_num_threads(threads)
    assert status == 0
    record = json.loads((run / "audit" / "audit.json").read_text())
    assert record["model_only"] is True
    printed = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in out.splitlines()
               if line.startswith("| ") and not line.startswith("| cell")}
    assert printed == {name: cell["verdict"] for name, cell in record["cells"].items()}
    assert f"audit: {run / 'audit' / 'audit.json'}" in out and f"report: {run / 'audit' / 'report.html'}" in out
    cells = record["cells"]
    for name in ("availability", "membership", "inversion"):
        assert cells[name]["verdict"] == NOT_MEASURED and cells[name]["value"] is None
        assert "--model-only" in cells[name]["reason"]
    for name in ("evasion", "backdoor", "extraction"):
        assert cells[name]["verdict"] in (PASS, FAIL)
    assert "not run" in cells["backdoor"]["details"]["training_set_detectors"]
    robustness = json.loads((run / "audit" / "subject" / "robustness.json").read_text())
    assert robustness["surrogate"]["kind"] == "run"  # no surrogate fitted on the training rows
    assert robustness["surrogate"]["run"] == str((run / "audit" / "subject").resolve())
    assert not (run / "audit" / "availability").exists()
    assert not (run / "audit" / "subject" / "privacy" / "shadows").exists()


def test_an_interrupted_audit_keeps_its_finished_cells_and_resumes(tmp_path, monkeypatch):
    run = cli_classifier_run(tmp_path / "clf", ["--data", "digits", "--epochs", "1", "--threads", "1",
                                                "--device", "cpu"])

    def interrupted(ctx):
        raise KeyboardInterrupt

    monkeypatch.setattr(audit_module, "membership_cell", interrupted)
    with pytest.raises(KeyboardInterrupt):
        audited(run)
    record = json.loads((run / "audit" / "audit.json").read_text())
    assert record["complete"] is False and list(record["cells"]) == ["evasion", "backdoor", "availability"]
    assert "membership" in (run / "audit" / "report.html").read_text()  # the report lists the missing cells
    finished = {name: record["cells"][name]["seconds"] for name in record["cells"]}
    monkeypatch.undo()
    monkeypatch.setitem(audit_module.SETTINGS, "quick", TINY)
    _, record = audited(run)
    assert record["complete"] is True and list(record["cells"]) == CELLS
    assert {name: record["cells"][name]["seconds"] for name in finished} == finished  # kept, not measured again
    raises_one_line(lambda: audited(run), "already holds a complete audit", "--overwrite")
    raises_one_line(lambda: audited(run, budget="standard"), "other settings", "--overwrite")


def test_a_user_error_in_one_cell_marks_it_not_measured_and_the_others_run(tmp_path, monkeypatch):
    from advlab.core.errors import AdvlabError

    run = cli_classifier_run(tmp_path / "clf", ["--data", "digits", "--epochs", "1", "--threads", "1",
                                                "--device", "cpu"])

    def unreadable(ctx):
        raise AdvlabError("data/x.npy: no such file")

    monkeypatch.setattr(audit_module, "extraction_cell", lambda ctx, eps: unreadable(ctx))
    monkeypatch.setattr(audit_module, "membership_cell", unreadable)
    _, record = audited(run, model_only=True)
    assert record["cells"]["extraction"]["verdict"] == NOT_MEASURED
    assert record["cells"]["extraction"]["reason"] == "data/x.npy: no such file"
    assert (record["cells"]["extraction"]["row"], record["cells"]["extraction"]["column"]) == ("test data", "privacy")
    assert record["cells"]["evasion"]["verdict"] in (PASS, FAIL) and record["complete"] is True


def test_bad_input_is_one_clear_line(tmp_path, capsys, classifier_run):
    status, _, err = run_cli(["audit", str(tmp_path / "nowhere")], capsys)
    assert_one_line_error(status, err, "no such run directory")
    (tmp_path / "empty").mkdir()
    status, _, err = run_cli(["audit", str(tmp_path / "empty")], capsys)
    assert_one_line_error(status, err, "neither a classifier run nor a GAN run")
    status, _, err = run_cli(["audit", str(classifier_run), "--budget", "lavish"], capsys)
    assert status == 2 and "invalid choice: 'lavish'" in err
    raises_one_line(lambda: audit_run(AuditConfig(run=str(classifier_run), budget="lavish")), "unknown --budget",
                    "quick, standard, thorough")
    status, _, err = run_cli(["audit", str(classifier_run), "--eps", "2"], capsys)
    assert_one_line_error(status, err, "--eps must lie in (0, 1]")


def test_an_unreadable_run_directory_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(audit_module.os, "access", lambda path, mode: False)
    (tmp_path / "run").mkdir()
    raises_one_line(lambda: audit_run(AuditConfig(run=str(tmp_path / "run"))), "not readable")


def test_verdict_rules_and_cell_invariants():
    assert at_least(0.5, 0.5) == PASS and at_least(0.49, 0.5) == FAIL and at_least(float("nan"), 0.5) == FAIL
    assert at_most(0.6, 0.6) == PASS and at_most(0.61, 0.6) == FAIL and at_most(float("nan"), 0.6) == FAIL
    with pytest.raises(ValueError):
        Cell(figure="x", value=None, verdict=PASS, threshold="t")
    with pytest.raises(ValueError):
        Cell(figure="x", value=0.3, verdict=NOT_MEASURED, threshold="t")
    with pytest.raises(ValueError):
        Cell(figure="x", value=0.3, verdict="maybe", threshold="t")
    assert Cell(figure="x", value=0.25, verdict=PASS, threshold="t", seconds=1.23456).record()["seconds"] == 1.23
