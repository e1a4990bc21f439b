"""The run report's poisoning section: the poison's table and pictures, the detections, and their figures."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from advlab.core.config import from_mapping
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.security.detect_run import DetectRunConfig, detect_run
from advlab.pipelines.security.poison_run import PoisonRunConfig, poison_run
from advlab.pipelines.train_classifier import train_classifier
from advlab.reports.poisoning_plots import label_change, save_detection_figure, save_examples, save_triggered
from advlab.reports.render import write_report
from advlab.reports.sections.poisoning import flagged_text, poison_table

TINY = {"data": "digits", "model": "mlp", "width": 32, "epochs": 3, "device": "cpu", "threads": 1}
RED = (200, 0, 0)  # the captions of a backdoor that did not fire (advlab.reports.attack_report.CHANGED)


def classifier(out, **values):
    return from_mapping(ClassifierTrainConfig, {**TINY, "out": str(out), **values})


@pytest.fixture(scope="module")
def backdoored(tmp_path_factory):
    config = PoisonRunConfig("badnets", classifier(tmp_path_factory.mktemp("report") / "bd"),
                             {"target": 0, "rate": 0.1})
    return poison_run(config, progress=False).root


def png_size(path) -> tuple[int, int]:
    """(width, height) of a PNG file, checked to be one."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    with Image.open(path) as image:
        return image.size


def red_pixels(path) -> int:
    with Image.open(path) as image:
        return int((np.asarray(image.convert("RGB")) == RED).all(-1).sum())


def section(report: str, title: str) -> str:
    """The text of one '## title' section of a Markdown report."""
    start = report.index(f"## {title}\n")
    end = report.find("\n## ", start + 1)
    return report[start:] if end < 0 else report[start:end]


def test_a_backdoored_run_writes_its_pictures(backdoored):
    for name in ("examples.png", "trigger.png", "triggered.png"):
        width, height = png_size(backdoored / "poison" / name)
        assert 250 <= width <= 1500 and 80 <= height <= 800, (name, width, height)
    # 12 triggered images in two rows of six; 8 example pairs in two rows of four
    assert png_size(backdoored / "poison" / "triggered.png")[1] > 2 * 72


def test_the_report_shows_the_poison_right_after_the_summary(backdoored):
    markdown = (backdoored / "report.md").read_text()
    record = json.loads((backdoored / "poison.json").read_text())
    titles = [line[3:] for line in markdown.splitlines() if line.startswith("## ")]
    assert titles.index("Poisoning") == titles.index("Summary") + 1
    part = section(markdown, "Poisoning")
    row = f"| badnets | 0 | {record['poisons']} / {record['train_size']} | " \
          f"{100 * record['poisons'] / record['train_size']:.1f}% | {100 * record['clean_accuracy']:.1f}% | " \
          f"{100 * record['attack_success_rate']:.1f}% |"
    assert row in part and "attack success rate" in part
    for name in ("examples.png", "trigger.png", "triggered.png"):
        assert f"(poison/{name})" in part
    html = (backdoored / "report.html").read_text()
    assert '<img src="poison/triggered.png"' in html and "<h2>Poisoning</h2>" in html


def test_a_detection_appears_in_the_report_with_its_figure(backdoored):
    out = detect_run(DetectRunConfig("spectral", str(backdoored), device="cpu"))
    record = json.loads((out / "detection.json").read_text())
    width, height = png_size(out / "scores.png")
    assert 800 <= width <= 2000 and 300 <= height <= 700
    part = section((backdoored / "report.md").read_text(), "Poisoning")
    assert "### Detections" in part
    assert (f"| spectral | training rows | {len(record['flagged'])} of {record['size']} rows | "
            f"{100 * record['tpr']:.1f}% | {100 * record['fpr']:.1f}% |") in part
    assert "[detect/spectral/detection.json](detect/spectral/detection.json)" in part
    assert "(detect/spectral/scores.png)" in part
    html = (backdoored / "report.html").read_text()
    assert '<a href="detect/spectral/detection.json">' in html and '<img src="detect/spectral/scores.png"' in html
    # a figure lost (or older than its record) is drawn again when the report is rewritten
    (out / "scores.png").unlink()
    write_report(backdoored)
    assert png_size(out / "scores.png")[0] >= 800


def test_a_label_flip_run_shows_its_label_changes_and_test_error(tmp_path):
    run = poison_run(PoisonRunConfig("label-flip", classifier(tmp_path / "lf", epochs=1), {"rate": 0.2}),
                     progress=False).root
    assert (run / "poison" / "examples.png").is_file()
    assert not (run / "poison" / "trigger.png").exists() and not (run / "poison" / "triggered.png").exists()
    record = json.loads((run / "poison.json").read_text())
    part = section((run / "report.md").read_text(), "Poisoning")
    assert f"| label-flip | — | {record['poisons']} / {record['train_size']} |" in part
    assert "test error" in part and f"{100 * record['test_error']:.1f}% |" in part
    assert "Detections" not in part


def test_a_plain_run_has_no_poisoning_section_until_a_detection(tmp_path):
    run = train_classifier(classifier(tmp_path / "clean", epochs=1), progress=False).root
    assert "Poisoning" not in (run / "report.md").read_text()
    detect_run(DetectRunConfig("spectral", str(run), device="cpu"))
    part = section((run / "report.md").read_text(), "Poisoning")
    assert "| spectral | training rows |" in part and "| — | — |" in part  # no truth: no TPR or FPR
    assert "attack success rate" not in part and "test error" not in part


def test_triggered_captions_are_red_exactly_where_the_backdoor_missed(tmp_path):
    images = torch.rand(4, 1, 8, 8)
    wanted = torch.zeros(4, dtype=torch.int64)
    assert red_pixels(save_triggered(tmp_path / "hit.png", images, wanted.clone(), wanted)) == 0
    missed = save_triggered(tmp_path / "miss.png", images, torch.tensor([0, 3, 0, 0]), wanted)
    assert red_pixels(missed) > 10


def test_example_pairs_and_their_captions(tmp_path):
    clean = torch.zeros(3, 1, 8, 8)
    poisoned = clean.clone()
    poisoned[:, :, -2:, -2:] = 1
    width, height = png_size(save_examples(tmp_path / "e.png", clean, torch.tensor([3, 0, 5]), poisoned,
                                           torch.tensor([7, 0, 0])))
    assert width >= 3 * 2 * 8 * 9 and height >= 8 * 9  # three pairs of 8 px images at 9x, side by side
    assert [label_change(3, 7), label_change(0, 0)] == ["3 -> 7", "0 (kept)"]


def test_the_tables_say_what_the_records_hold():
    head, rows = poison_table({"attack": "badnets", "target": None, "options": {"all_to_all": True}, "poisons": 72,
                               "train_size": 1437, "rate": 0.05, "clean_accuracy": 0.9889,
                               "attack_success_rate": 0.988})
    assert head[-1] == "attack success rate"
    assert rows == [["badnets", "all-to-all (k -> k + 1)", "72 / 1437", "5.0%", "98.9%", "98.8%"]]
    targeted = poison_table({"attack": "feature-collision", "target": None, "base_class": 3, "target_image": 17,
                             "poisons": 1, "train_size": 100, "clean_accuracy": 0.9, "attack_success_rate": 1.0})[1][0]
    assert targeted[1:4] == ["held-out image 17 as class 3", "1 / 100", "1.0%"] and targeted[-1] == "100.0%"
    assert flagged_text({"kind": "rows", "judged": "training", "flagged": [1, 5], "size": 10}) == "2 of 10 rows"
    assert flagged_text({"kind": "rows", "judged": "inputs", "flagged": [], "size": 4}) == "0 of 4 inputs"
    assert flagged_text({"kind": "classes", "flagged": [0], "flagged_classes": [0], "size": 10}) == "class 0 of 10"
    assert flagged_text({"kind": "classes", "flagged": [], "flagged_classes": [], "size": 10}) == "no class of 10"


STRIP_RECORD = {"detector": "strip", "judged": "inputs", "kind": "rows", "flagged": [3], "size": 4, "threshold": 0.1,
                "scores": [0.3, 0.4, 0.35, 0.01], "truth": [False, False, False, True],
                "clean_entropies": [0.3, 0.32, 0.5, None], "frr": 0.01, "tpr": 1.0, "fpr": 0.0}
CLEANSE_RECORD = {"detector": "neural-cleanse", "judged": "classes", "kind": "classes", "flagged": [0], "size": 4,
                  "threshold": 2.0, "scores": [5.1, 0.5, 0.0, 1.2], "classes": [0, 1, 2, 3],
                  "norms": [4.0, 20.0, 22.0, 25.0], "anomaly_index": [5.1, 0.5, 0.0, 1.2], "flagged_classes": [0],
                  "truth": [True, False, False, False]}


@pytest.mark.parametrize("record", [STRIP_RECORD, CLEANSE_RECORD], ids=["strip", "neural-cleanse"])
def test_detection_figures_from_records(tmp_path, record):
    width, height = png_size(save_detection_figure(tmp_path, record))
    assert 600 <= width <= 1200 and 300 <= height <= 600
    assert save_detection_figure(tmp_path / "none", {**record, "scores": []}) is None
    assert not (tmp_path / "none").exists()
