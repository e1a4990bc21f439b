"""The run report's attacks section shows what an attack that learns adds to its results.json (AdvGAN): the
comparison with PGD (success, time per image, training), the speed-up and break-even computed by hand, how the
generator was trained (or reused) and its training record as a plot; other attacks show none of it."""

import json
import re
from html import unescape

import numpy as np
import pytest
import torch
import yaml
from helpers import run_cli
from PIL import Image

from advlab.reports.attack_report import grid_rows, save_attack_grid
from advlab.reports.render import write_report
from advlab.reports.sections.attacks import comparison_cells, speed_text, training_text

ROW = {"eps": 0.1, "n": 1000, "clean_accuracy": 0.98, "robust_accuracy": 0.7, "success_rate": 0.286,
       "linf_median": 0.1, "linf_mean": 0.1, "l2_median": 2.0, "l2_mean": 2.0, "seconds": 0.05}
HISTORY = [{"iteration": i, "loss_d": 0.5, "loss_gan": 0.2 + i / 1000, "loss_adv": 8.0 - i / 100,
            "loss_hinge": 0.1, "loss_g": 8.3 - i / 100, "l2": 1.2 + i / 1000, "success": i / 1000}
           for i in (31, 62, 93, 124)]
TRAINING = {"rows": "training split", "n": 4000, "held_out_rows": 1000, "attacked_rows": 1000, "seconds": 20.0,
            "images": 4000, "iterations": 124, "epochs": 3.968, "batch_size": 128, "lr": 0.001, "seed": 0,
            "mode": "semi-white-box", "processes": 1, "queries": None, "last": HISTORY[-1], "history": HISTORY}
COMPARISON = {"advgan": {"success_rate": 0.286, "robust_accuracy": 0.7, "seconds": 0.05, "ms_per_image": 0.05,
                         "training_seconds": 20.0},
              "pgd": {"success_rate": 0.5, "robust_accuracy": 0.49, "seconds": 2.5, "ms_per_image": 2.5, "steps": 40}}


def attack_dir(run, name, extra=None):
    directory = run / "attacks" / name
    clean = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    rows = grid_rows(clean, (clean + 0.1).clamp(0, 1), torch.arange(4), torch.tensor([1, 0, 2, 3]), [0, 1, 2, 3])
    save_attack_grid(rows, directory / "grid.png", title=f"{name} eps 0.1")
    attack = name.split("-")[0]
    (directory / "results.json").write_text(json.dumps({
        "attack": attack, "options": {"eps": 0.1}, "targeted": False, "black_box": False, "seed": 0,
        "images": {"n": 1000}, "rows": [{**ROW, "attack": attack}],
        "grids": [{"eps": 0.1, "file": "grid.png", "caption": f"{name} at eps 0.1"}], **(extra or {})}))


def classifier_run(root, attacks):
    run = root / "clf"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"data": "mnist", "model": "cnn", "epochs": 3,
                                                     "test_fraction": 0.2, "seed": 0}))
    (run / "metrics.jsonl").write_text(json.dumps({"kind": "train", "step": 1, "train_loss": 0.1}) + "\n")
    (run / "summary.json").write_text(json.dumps({"epochs": 3, "test_accuracy": 0.98, "test_size": 1000}))
    for name, extra in attacks.items():
        attack_dir(run, name, extra)
    return run


def learned(comparison=COMPARISON, training=TRAINING):
    return {"training": training, "generator": {"file": "generator.safetensors"},
            "time_per_image_ms": {"generation": 0.05, "training_per_attacked_image": 20.0},
            "comparison": comparison}


def test_comparison_speed_and_training_by_hand():
    assert comparison_cells(COMPARISON) == [["advgan", "28.6%", "70.0%", "0.050", "20.0"],
                                            ["pgd (40 steps)", "50.0%", "49.0%", "2.500", "—"]]
    # 2.5 / 0.05 = 50 times faster; 20 s / (2.5 - 0.05) ms = 8,163.3 images to pay for the training
    assert speed_text("advgan", COMPARISON) == ("advgan: 0.050 ms per image once trained, 50x faster than PGD-40 "
                                                "(2.500 ms); its 20.0 s of training pay for themselves after 8,163 "
                                                "images.")
    slower = {**COMPARISON, "advgan": {**COMPARISON["advgan"], "ms_per_image": 3.0}}
    assert "faster" not in speed_text("advgan", slower) and "3.000 ms per image" in speed_text("advgan", slower)
    text = training_text(TRAINING, {"file": "generator.safetensors"})
    assert text == ("Generator trained in 20.0 s on the run's 4000 training rows (not on the 1000 held-out rows "
                    "attacked here): 124 iterations, 4.0 epochs, batch 128, lr 0.001, semi-white-box mode, seed 0; "
                    "saved as generator.safetensors.")
    distilled = training_text({**TRAINING, "mode": "distilled", "queries": 19872, "processes": 2}, None)
    assert "distilled mode" in distilled and "2 processes" in distilled and "19,872 queries of the model" in distilled
    assert training_text({"reused": "/x/g.safetensors", "seconds": 0.0}, None) == (
        "Generator reused from /x/g.safetensors (no training).")


def test_report_shows_advgan_against_pgd_and_its_training(tmp_path):
    run = classifier_run(tmp_path, {"advgan": learned(), "pgd": None})
    page, md = write_report(run)
    html, markdown = page.read_text(), md.read_text()
    for body in (unescape(html), markdown):
        assert body.count("advgan against PGD") == 1 and "pgd against PGD" not in body
        assert "pgd (40 steps)" in body and "28.6%" in body and "2.500" in body
        assert "50x faster than PGD-40" in body and "after 8,163 images" in body
        assert "the run's 4000 training rows (not on the 1000 held-out rows attacked here)" in body
    plot = run / "plots" / "attack-advgan-training.png"
    assert plot.is_file() and "plots/attack-advgan-training.png" in re.findall(r'<img src="([^"]+)"', html)
    assert "(plots/attack-advgan-training.png)" in markdown
    # the comparison comes after the attack's own table and grid, before the next attack
    assert html.index(">advgan<") < html.index("attacks/advgan/grid.png") < html.index("advgan against PGD") \
        < html.index(">pgd<")
    with Image.open(plot) as image:  # one panel per recorded statistic: not a blank page
        pixels = np.asarray(image.convert("L"))
    assert image.width > 600 and (pixels < 128).mean() > 0.01


def test_a_reused_generator_has_no_training_plot(tmp_path):
    reused = learned(comparison={**COMPARISON, "advgan": {**COMPARISON["advgan"], "training_seconds": 0.0}},
                     training={"reused": "/runs/g.safetensors", "seconds": 0.0})
    run = classifier_run(tmp_path, {"advgan": reused})
    html = unescape(write_report(run)[0].read_text())
    assert "Generator reused from /runs/g.safetensors (no training)" in html and "50x faster" in html
    assert "pay for themselves" not in html and not (run / "plots" / "attack-advgan-training.png").exists()


@pytest.mark.parametrize("broken", [{"comparison": "nonsense", "training": TRAINING}, {"comparison": COMPARISON}])
def test_a_partial_record_shows_the_plain_attack(tmp_path, broken):
    run = classifier_run(tmp_path, {"advgan": broken})
    html = write_report(run)[0].read_text()
    assert ">advgan<" in html and "against PGD" not in html


def test_the_report_of_a_real_attack_advgan_run(tmp_path, capsys):
    """`advlab attack advgan` on a tiny digits run: the report's figures are results.json's."""
    from advlab.cli.main import main

    victim = tmp_path / "clf"
    threads = torch.get_num_threads()
    try:
        assert main(["classifier", "train", "--out", str(victim), "--data", "digits", "--width", "8", "--epochs", "1",
                     "--device", "cpu", "--threads", "1", "--no-progress"]) == 0
    finally:
        torch.set_num_threads(threads)
    status, _, err = run_cli(["attack", "advgan", str(victim), "--eps", "0.2", "--steps", "4", "--train-batch-size",
                              "32", "--width", "8", "--n", "16", "--device", "cpu", "--threads", "1",
                              "--no-progress"], capsys)
    assert status == 0, err
    record = json.loads((victim / "attacks" / "advgan" / "results.json").read_text())
    markdown = (victim / "report.md").read_text()  # the attack rewrote the victim's report
    for cells in comparison_cells(record["comparison"]):
        assert "| " + " | ".join(cells) + " |" in markdown
    assert f"the run's {record['training']['n']} training rows" in markdown and "4 iterations" in markdown
    assert (victim / "plots" / "attack-advgan-training.png").is_file()
