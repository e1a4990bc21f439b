"""Attack results in reports: the robustness table, the example grid, classifier runs in write_report."""

import json
import re

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from advlab.core.errors import AdvlabError
from advlab.reports import write_combined_report, write_report
from advlab.reports.attack_report import (
    amplified,
    attack_table,
    grid_rows,
    markdown_attack_table,
    pick_examples,
    read_attacks,
    save_attack_grid,
)

ROW = {"attack": "pgd", "eps": 0.1, "n": 360, "targeted": False, "clean_accuracy": 0.9861, "robust_accuracy": 0.6222,
       "success_rate": 0.369, "linf_median": 0.1, "linf_mean": 0.1, "l2_median": 0.65957, "l2_mean": 0.66167,
       "seconds": 1.234}


def test_table_cells_by_hand():
    head, cells = attack_table([ROW, {**ROW, "eps": 0.2, "robust_accuracy": 0.0, "success_rate": None,
                                      "linf_median": None, "linf_mean": None}])
    assert head == ["eps", "n", "clean acc", "robust acc", "success", "Linf median", "Linf mean", "L2 median",
                    "L2 mean", "time (s)"]
    assert cells[0] == ["0.1", "360", "98.6%", "62.2%", "36.9%", "0.1", "0.1", "0.6596", "0.6617", "1.23"]
    assert cells[1][:7] == ["0.2", "360", "98.6%", "0.0%", "—", "—", "—"]


def test_query_columns_only_for_black_box_rows():
    black_box = {**ROW, "queries_median": 41.0, "queries_mean": 97.25, "queries_max": 2000}
    head, cells = attack_table([black_box])
    assert head[-4:] == ["queries median", "queries mean", "queries max", "time (s)"]
    assert cells[0][-4:] == ["41", "97.25", "2000", "1.23"]
    table = markdown_attack_table([black_box])
    assert table.splitlines()[0].startswith("| eps | n |") and len(table.splitlines()) == 3
    assert "queries" not in markdown_attack_table([ROW])


def test_amplified_perturbation_by_hand():
    delta = torch.tensor([[[[0.0, 0.1], [-0.05, 0.02]]], [[[0.0, 0.0], [0.0, 0.0]]]])
    shown = amplified(delta)
    assert torch.allclose(shown[0, 0], torch.tensor([[0.5, 1.0], [0.25, 0.6]]))
    assert torch.equal(shown[1], torch.full((1, 2, 2), 0.5))  # no change is grey


def test_pick_examples_puts_successes_first():
    assert pick_examples(torch.tensor([False, True, False, True, True]), 4) == [1, 3, 4, 0]
    assert pick_examples(torch.tensor([False, False]), 12) == [0, 1]


def red_pixels(image: Image.Image) -> int:
    array = np.asarray(image.convert("RGB")).astype(int)
    return int(((array[..., 0] > 150) & (array[..., 1] < 80) & (array[..., 2] < 80)).sum())


def test_grid_layout_tiles_and_red_captions(tmp_path):
    clean = torch.zeros(3, 1, 8, 8)
    clean[:, :, 2:6, 2:6] = 1.0
    adversarial = (clean + 0.1 * torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    rows = grid_rows(clean, adversarial, torch.tensor([1, 2, 3]), torch.tensor([7, 2, 3]), [0, 1, 2])
    assert [row.changed for row in rows] == [True, False, False]
    assert rows[0].adversarial_caption == "pred 7" and rows[1].clean_caption == "pred 2"
    assert rows[0].note.startswith("Linf ")
    path = save_attack_grid(rows, tmp_path / "grid.png", title="pgd, eps 0.1")
    with Image.open(path) as image:
        grid = image.convert("RGB")
    assert grid.width > 3 * 72 and grid.height > 3 * 72
    assert red_pixels(grid) > 0
    unchanged = grid_rows(clean, adversarial, torch.tensor([1, 2, 3]), torch.tensor([1, 2, 3]), [0, 1, 2])
    with Image.open(save_attack_grid(unchanged, tmp_path / "same.png")) as image:
        assert red_pixels(image) == 0
    # the clean tile is the image upscaled 9x (72 / 8): a white square in the middle, black around it
    array = np.asarray(grid)[..., 0]
    whites = np.argwhere(array == 255)
    assert len(whites) > 0
    targeted = grid_rows(clean, adversarial, torch.tensor([1, 2, 3]), torch.tensor([7, 2, 3]), [0], names=["zero",
                         "one", "two", "three", "four", "five", "six", "seven"], targets=torch.tensor([7, 7, 7]))
    assert targeted[0].clean_caption == "pred one" and targeted[0].note.startswith("target seven, Linf")
    with pytest.raises(AdvlabError):
        save_attack_grid([], tmp_path / "none.png")


# ---------------------------------------------------------------------- reports of classifier runs


def classifier_run(root, name="clf", attacks=("pgd",)):
    """A classifier run directory as `advlab classifier train` and `advlab attack` leave it."""
    run = root / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"data": "digits", "model": "cnn", "epochs": 3,
                                                     "test_fraction": 0.2, "seed": 0}))
    (run / "metrics.jsonl").write_text("".join(json.dumps(
        {"kind": "train", "step": e, "train_loss": 1.0 / e, "train_accuracy": 0.5 + e / 10,
         "test_accuracy": 0.45 + e / 10}) + "\n" for e in (1, 2, 3)))
    (run / "summary.json").write_text(json.dumps({"epochs": 3, "test_accuracy": 0.75, "test_size": 360}))
    for attack in attacks:
        directory = run / "attacks" / attack
        clean = torch.rand(4, 1, 8, 8)
        rows = grid_rows(clean, (clean + 0.1).clamp(0, 1), torch.arange(4), torch.tensor([1, 0, 2, 3]), [0, 1, 2, 3])
        save_attack_grid(rows, directory / "grid.png", title=f"{attack} eps 0.1")
        (directory / "results.json").write_text(json.dumps({
            "attack": attack, "options": {"eps": 0.1, "steps": 40}, "targeted": False, "black_box": False,
            "seed": 0, "images": {"n": 360}, "rows": [{**ROW, "attack": attack}],
            "grids": [{"eps": 0.1, "file": "grid.png", "caption": f"{attack} at eps 0.1"}]}))
    return run


def html_images(page) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page.read_text())


def test_classifier_report_has_curves_summary_and_attacks(tmp_path):
    run = classifier_run(tmp_path, attacks=("pgd", "pgd-2", "fgsm"))
    page, md = write_report(run)
    text, md_text = page.read_text(), md.read_text()
    assert {"loss.png", "accuracy.png"} <= {p.name for p in (run / "plots").iterdir()}
    for body in (text, md_text):
        assert "Training curves" in body and "Attacks" in body and "Samples over time" not in body
        assert "robust acc" in body and "62.2%" in body and "36.9%" in body
        assert "options: eps=0.1, steps=40" in body
    assert "attacks/pgd/grid.png" in html_images(page) and "plots/accuracy.png" in html_images(page)
    assert "![pgd at eps 0.1](attacks/pgd/grid.png)" in md_text
    assert text.index(">fgsm<") < text.index(">pgd<") < text.index(">pgd-2<")
    assert all((run / link).is_file() for link in html_images(page))
    assert "<td>test_accuracy</td><td>0.75</td>" in text


def test_combined_report_with_a_gan_run_and_a_classifier(tmp_path):
    gan = tmp_path / "ring"
    (gan / "samples").mkdir(parents=True)
    (gan / "config.yaml").write_text(yaml.safe_dump({"data": "ring8", "loss": "hinge", "steps": 10, "seed": 0}))
    (gan / "metrics.jsonl").write_text(json.dumps({"kind": "train", "step": 10, "d_loss": 1.0, "g_loss": 0.5}) + "\n")
    clf = classifier_run(tmp_path)
    page, md = write_combined_report(tmp_path / "out", [gan, clf], title="demo")
    text = page.read_text()
    assert text.count("<section") == 2 and "Samples over time" in text and "Attacks" in text
    assert all((tmp_path / "out" / link).is_file() for link in html_images(page))
    # the options that differ come after the pictures and the summary figures, folded
    head = re.search(r"<details><summary>Options that differ[^<]*</summary>\s*<div[^>]*><table><tr>(.*?)</tr>",
                     text).group(1)
    assert "<th>data</th>" in head and "<th>loss</th>" not in head  # only the options both kinds have
    assert "../clf/attacks/pgd/grid.png" in md.read_text()


def test_a_run_without_attacks_and_a_corrupt_results_file(tmp_path):
    run = classifier_run(tmp_path, attacks=())
    assert read_attacks(run) == [] and "Attacks" not in write_report(run)[0].read_text()
    (run / "attacks" / "pgd").mkdir(parents=True)
    (run / "attacks" / "pgd" / "results.json").write_text("{not json")
    with pytest.raises(AdvlabError, match="unreadable attack results"):
        write_report(run)
