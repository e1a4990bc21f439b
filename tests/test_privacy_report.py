"""advlab privacy report: privacy.json's stable keys from the attacks' records, the report's Privacy section,
--beside, and the errors. The records here are written by hand (the attacks' own tests make real ones)."""

import json

import numpy as np
import pytest
from PIL import Image

from advlab.cli.main import main
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.security.privacy_report import privacy_report
from advlab.pipelines.train_classifier import train_classifier


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("privacy")
    made = {}
    for name in ("target", "target-dp"):
        config = ClassifierTrainConfig(out=str(root / name), data="digits", epochs=1, model="mlp", width=8,
                                       device="cpu", test_fraction=0.5)
        made[name] = train_classifier(config, progress=False, report=False).root
    return made


def picture(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((12, 20, 3), 200, dtype=np.uint8)).save(path)


def write(path, record):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def membership(auc):
    return {"members": 100, "non_members": 100, "shadows": 4,
            "attacks": {"loss": {"auc": auc, "tpr_at_0.1%_fpr": 0.01, "tpr_at_1%_fpr": 0.05, "seconds": 1.0},
                        "lira": {"auc": auc + 0.1, "tpr_at_0.1%_fpr": 0.08, "tpr_at_1%_fpr": 0.2, "seconds": 9.0}}}


def test_privacy_json_gathers_every_record_with_stable_keys(runs):
    target, twin = runs["target"], runs["target-dp"]
    write(target / "privacy/membership/membership.json", membership(0.6))
    picture(target / "privacy/membership/roc.png")
    write(target / "privacy/inversion/mi-face/inversion.json",
          {"method": "mi-face", "classes": {"3": {"attack_accuracy": 0.5, "nearest_private_distance": 2.0}},
           "attack_accuracy": 0.5, "nearest_private_distance": 2.0, "seconds": 3.0})
    picture(target / "privacy/inversion/mi-face/inverted.png")
    write(target / "privacy/extraction/knockoff/extraction.json",
          {"method": "knockoff", "budgets": {"500": {"fidelity": 0.8, "accuracy": 0.7, "transfer_rate": None,
                                                      "queries": 500},
                                              "5000": {"fidelity": 0.97, "accuracy": 0.9, "transfer_rate": 0.4,
                                                       "queries": 5000}}, "output_defense": "none", "seconds": 5})
    write(twin / "privacy/membership/membership.json", membership(0.5))
    summary = json.loads((twin / "summary.json").read_text())
    summary["dp"] = {"epsilon": 2.9, "delta": 1e-5, "noise_multiplier": 1.1, "max_grad_norm": 1.0,
                     "sampling_rate": 0.07, "steps": 100, "accountant": "rdp"}
    (twin / "summary.json").write_text(json.dumps(summary))

    path = privacy_report(target, beside=[twin])
    record = json.loads(path.read_text())
    assert path == target / "privacy" / "privacy.json"
    assert set(record) == {"membership", "inversion", "extraction", "dp", "beside"}
    assert record["membership"]["lira"] == {"auc": 0.7, "tpr_at_0.1%_fpr": 0.08, "tpr_at_1%_fpr": 0.2}
    assert record["inversion"] == {"mi-face": {"attack_accuracy": 0.5, "nearest_private_distance": 2.0}}
    assert record["extraction"]["knockoff"]["5000"] == {"fidelity": 0.97, "accuracy": 0.9}
    assert record["dp"] is None
    assert record["beside"][str(twin)]["dp"] == {"epsilon": 2.9, "delta": 1e-5}
    assert record["beside"][str(twin)]["membership"]["loss"]["auc"] == 0.5

    page = (target / "report.html").read_text()
    assert "Privacy" in page and "Membership inference" in page and "Model extraction" in page
    assert "target-dp (epsilon 2.9)" in page and "roc.png" in page and "inverted.png" in page
    markdown = (target / "report.md").read_text()
    assert "| target | lira | 0.7 | 8.0% | 20.0% |" in markdown
    assert "| target-dp (epsilon 2.9) | loss | 0.5 | 1.0% | 5.0% |" in markdown
    assert "| knockoff | 5000 | 97.0% | 90.0% |" in markdown


def test_a_dp_run_alone_has_a_privacy_section(runs):
    from advlab.reports.render import write_report

    write_report(runs["target-dp"])
    assert "trained with DP-SGD: epsilon = 2.9" in (runs["target-dp"] / "report.md").read_text()


def test_errors_are_one_clear_line(runs, tmp_path, capsys):
    fresh = tmp_path / "fresh"
    train_classifier(ClassifierTrainConfig(out=str(fresh), data="digits", epochs=1, model="mlp", width=8,
                                           device="cpu"), progress=False, report=False)
    assert main(["privacy", "report", str(fresh)]) == 2
    assert "no privacy results yet" in capsys.readouterr().err
    assert main(["privacy", "report", str(runs["target"]), "--beside", str(fresh)]) == 2
    assert "no membership results to put beside" in capsys.readouterr().err
    assert main(["privacy", "report", str(tmp_path / "nothing")]) == 2


@pytest.mark.parametrize("argv", [["privacy", "--help"], ["privacy", "membership", "--help"],
                                  ["privacy", "invert", "--help"], ["privacy", "extract", "--help"],
                                  ["privacy", "report", "--help"], ["defend", "dp-sgd", "--help"]])
def test_every_privacy_verb_has_help(argv, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0 and "usage: advlab" in capsys.readouterr().out
