"""Do the metrics rank generators the way a person would? A trained digits DCGAN against an untrained one
and noise, and a deliberately collapsed generator against real data (issue #4's marked-slow check).

The GAN is the demo's digits DCGAN (16x16, dcgan preset, seed 0), trained for STEPS steps through
`train_gan`; the judge is advlab's digits feature network at 16x16 (trained into a temporary cache).
Measured on this 2-core machine (one torch thread), 1000 samples each, the figures are printed by the test
(pytest -s) and quoted in the closing note of issue #4.
"""

from __future__ import annotations

import pytest
import torch

from advlab.core.config import from_mapping
from advlab.core.seeding import make_generator
from advlab.pipelines import GANTrainConfig, train_gan
from advlab.pipelines.demo import DEMO_RUNS
from advlab.pipelines.gan.evaluate_gan import Evaluator
from advlab.pipelines.gan.gan_snapshots import draw
from advlab.pipelines.gan.sample_gan import load_trained

STEPS = 1000
SAMPLES = 1000


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVLAB_CACHE", str(tmp_path / "cache"))


def trained_run(out, steps: int):
    values = {**DEMO_RUNS["digits"], "steps": steps, "out": str(out), "tensorboard": False, "threads": 1,
              "sample_every": max(steps, 1), "checkpoint_every": max(steps, 1), "eval_every": None}
    return train_gan(from_mapping(GANTrainConfig, values), progress=False, report=False).root


@pytest.mark.slow
def test_fid_ranks_trained_over_untrained_and_noise_and_sees_collapse(tmp_path, cache):
    trained = load_trained(trained_run(tmp_path / "trained", STEPS), "cpu")[1]
    untrained = load_trained(trained_run(tmp_path / "untrained", 1), "cpu")[1]
    evaluator = Evaluator(trained.data, ("fid", "kid", "prdc", "modes"), n=SAMPLES, seed=0)

    def noise(n, seed):
        return torch.rand(n, 1, 16, 16, generator=make_generator(seed, torch.device("cpu")))

    def collapsed(n, seed):  # the trained generator at one single z
        return draw(trained, 1, seed).expand(n, -1, -1, -1)

    figures = {name: evaluator.evaluate(source).figures for name, source in [
        ("trained", lambda n, seed: draw(trained, n, seed)), ("untrained", lambda n, seed: draw(untrained, n, seed)),
        ("noise", noise), ("collapsed", collapsed)]}
    for name, values in figures.items():
        print(name, {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()})
    fid = {name: values["fid"] for name, values in figures.items()}
    assert fid["trained"] < 0.25 * fid["untrained"]
    assert fid["trained"] < 0.25 * fid["noise"]
    assert figures["trained"]["kid"] < figures["untrained"]["kid"]
    assert figures["trained"]["modes"] >= 8
    assert figures["collapsed"]["modes"] <= 2 < 8 <= figures["trained"]["real_modes"]
    assert figures["collapsed"]["recall"] < 0.1 < figures["trained"]["recall"]
