"""Defense-GAN with advlab's own generator, end to end: a digits DCGAN (8x8, 1,500 steps), a digits CNN,
`advlab defend defense-gan`, then `advlab attack bpda` on the defended run.

Measured here (one CPU thread, seed 0; the CNN trained 10 epochs; L = 50 steps, R = 4 starts, lr 0.1; PGD and
BPDA 10 steps, EOT over 2 draws; the first 60 held-out images): clean 0.919 (undefended 0.956), eps 0.2: naive
PGD 0.917, BPDA 0.133. The test asserts the shape of that, with room: clean >= 0.85, naive PGD within 0.1 of
clean, BPDA at least 0.3 below naive PGD. About 35 s of CPU (the GAN half of it).
"""

from __future__ import annotations

import json

import pytest
import torch
from helpers import run_cli

from advlab.core.config import from_mapping
from advlab.defenses.defense_gan import DefenseGAN
from advlab.defenses.preprocessed import Preprocessed, load_model
from advlab.pipelines.gan.gan_config import GANTrainConfig
from advlab.pipelines.gan.train_gan import train_gan

QUIET = ["--device", "cpu", "--threads", "1"]
GAN = {"data": "digits", "steps": 1500, "seed": 0, "tensorboard": False, "device": "cpu", "threads": 1}


@pytest.mark.slow
def test_bpda_with_eot_breaks_defense_gan_with_a_trained_dcgan(tmp_path, capsys):
    threads = torch.get_num_threads()
    try:
        gan = train_gan(from_mapping(GANTrainConfig, {**GAN, "out": str(tmp_path / "gan")}), progress=False,
                        report=False).root
        classifier = tmp_path / "clf"
        status, _, err = run_cli(["classifier", "train", "--data", "digits", "--epochs", "10", "--tensorboard",
                                  "false", "--no-progress", "--out", str(classifier), *QUIET], capsys)
        assert status == 0, err
        defended = tmp_path / "defense-gan"
        status, text, err = run_cli(["defend", "defense-gan", str(classifier), "--gan", str(gan), "--steps", "50",
                                     "--restarts", "4", "--eps", "0.2", "--n", "60", "--eot-samples", "2",
                                     "--no-progress", "--out", str(defended), *QUIET], capsys)
        assert status == 0, err
        with capsys.disabled():
            print(text)
        summary = json.loads((defended / "summary.json").read_text())
        warning = summary["first_warning"]
        assert summary["test_accuracy"] >= 0.85
        assert warning["eot_samples"] == 2 and warning["n"] == 60
        assert warning["pgd_accuracy"] >= summary["test_accuracy"] - 0.1
        assert warning["bpda_accuracy"] <= warning["pgd_accuracy"] - 0.3
        assert "overstates" in text
        model = load_model(defended, "cpu")
        assert isinstance(model, Preprocessed) and isinstance(model.transform, DefenseGAN) and model.randomized
        status, _, err = run_cli(["attack", "bpda", str(defended), "--eps", "0.2", "--steps", "5", "--samples", "2",
                                  "--n", "20", "--no-progress", *QUIET], capsys)
        assert status == 0, err
        row = json.loads((defended / "attacks" / "bpda" / "results.json").read_text())["rows"][0]
        assert row["robust_accuracy"] < row["clean_accuracy"]
    finally:
        torch.set_num_threads(threads)
