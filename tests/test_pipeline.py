"""The run directory end to end: determinism, exact resume, NaN stop, samples, reports."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from advlab import AdvlabError
from advlab.core.checkpoints import list_checkpoints
from advlab.core.config import from_mapping
from advlab.gan.losses import NonSaturatingLoss
from advlab.pipelines.gan.gan_config import GANTrainConfig
from advlab.pipelines.gan.sample_gan import sample_run
from advlab.pipelines.gan.train_gan import resume_config, train_gan

FAST = {"width": 16, "depth": 2, "batch_size": 32, "log_every": 5, "sample_every": 20,
        "checkpoint_every": 10, "tensorboard": False, "device": "cpu"}


def config(out, **values):
    return from_mapping(GANTrainConfig, {**FAST, "out": str(out), **values})


def weights(run):
    path = list_checkpoints(run / "checkpoints")[-1][1].with_suffix(".safetensors")
    return load_file(path)


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_same_seed_same_weights(tmp_path):
    train_gan(config(tmp_path / "a", steps=30), progress=False, report=False)
    train_gan(config(tmp_path / "b", steps=30), progress=False, report=False)
    train_gan(config(tmp_path / "c", steps=30, seed=1), progress=False, report=False)
    assert_same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))
    assert not torch.equal(weights(tmp_path / "a")["generator.net.0.weight"],
                           weights(tmp_path / "c")["generator.net.0.weight"])


@pytest.mark.parametrize("loss", ["nonsaturating", "wgan-gp"])
def test_resume_is_bit_exact(tmp_path, loss):
    straight = tmp_path / "straight"
    train_gan(config(straight, steps=40, loss=loss), progress=False, report=False)
    split = tmp_path / "split"
    train_gan(config(split, steps=20, loss=loss), progress=False, report=False)
    train_gan(resume_config(split, steps=40), resume=True, progress=False, report=False)
    assert_same_weights(weights(straight), weights(split))
    lines = (split / "metrics.jsonl").read_text().splitlines()
    straight_lines = (straight / "metrics.jsonl").read_text().splitlines()
    strip = [{k: v for k, v in json.loads(x).items() if k != "time"} for x in lines]
    straight_strip = [{k: v for k, v in json.loads(x).items() if k != "time"} for x in straight_lines]
    assert strip == straight_strip


def test_dcgan_resume_is_bit_exact(tmp_path):
    values = {"data": "digits", "width": 8, "z_dim": 8, "steps": 12, "checkpoint_every": 6, "sample_every": 6}
    train_gan(from_mapping(GANTrainConfig, {**FAST, **values, "out": str(tmp_path / "a")}),
              progress=False, report=False)
    train_gan(from_mapping(GANTrainConfig, {**FAST, **values, "steps": 6, "out": str(tmp_path / "b")}),
              progress=False, report=False)
    train_gan(resume_config(tmp_path / "b", steps=12), resume=True, progress=False, report=False)
    assert_same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))


def test_run_directory_contents(tmp_path):
    run = train_gan(config(tmp_path / "r", steps=40, tensorboard=True), progress=False).root
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "report.html", "report.md",
                 "samples/step-000020.png", "samples/final.png"):
        assert (run / name).exists(), name
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert {"train/d_loss", "train/g_loss", "train/grad_norm_d", "eval/modes"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("train/d_loss")] == list(range(5, 41, 5))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["step"] == 40 and summary["total_modes"] == 8 and 0 <= summary["modes"] <= 8
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == list(range(5, 41, 5))
    assert {"d_loss", "g_loss", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"} <= set(train[0])
    assert [r["step"] for r in records if r["kind"] == "eval"] == [20, 40]
    assert "lr_g: 0.001" in (run / "config.yaml").read_text()  # resolved from the mlp preset


def test_refuses_to_clobber_a_run(tmp_path):
    train_gan(config(tmp_path / "r", steps=10), progress=False, report=False)
    with pytest.raises(AdvlabError, match="already holds a run"):
        train_gan(config(tmp_path / "r", steps=10), progress=False, report=False)
    train_gan(config(tmp_path / "r", steps=10), overwrite=True, progress=False, report=False)


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "r"
    train_gan(config(run, steps=10), progress=False, report=False)
    good = weights(run)
    original = NonSaturatingLoss.generator_loss
    monkeypatch.setattr(NonSaturatingLoss, "generator_loss",
                        lambda self, fake_out: original(self, fake_out) * float("nan"))
    with pytest.raises(AdvlabError, match="NaN or infinite by step 15.*step-000010"):
        train_gan(resume_config(run, steps=40), resume=True, progress=False, report=False)
    assert [s for s, _ in list_checkpoints(run / "checkpoints")] == [10]
    assert_same_weights(good, weights(run))


def test_sample_png_and_npy(tmp_path):
    run = train_gan(config(tmp_path / "r", steps=10), progress=False, report=False).root
    sample_run(run, 100, tmp_path / "s.npy", seed=3)
    array = np.load(tmp_path / "s.npy")
    assert array.shape == (100, 2) and np.isfinite(array).all()
    sample_run(run, 100, tmp_path / "again.npy", seed=3)
    assert np.array_equal(array, np.load(tmp_path / "again.npy"))
    assert sample_run(run, 50, tmp_path / "s.png").stat().st_size > 1000
    with pytest.raises(AdvlabError, match="must end in"):
        sample_run(run, 5, tmp_path / "s.jpg")


def test_resume_of_a_directory_without_a_run(tmp_path):
    with pytest.raises(AdvlabError, match="no config.yaml"):
        resume_config(tmp_path)


def test_threads_option(tmp_path):
    before = torch.get_num_threads()
    try:
        train_gan(config(tmp_path / "r", steps=5, threads=1), progress=False, report=False)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(AdvlabError, match="threads"):
        config(tmp_path / "x", threads=0)
