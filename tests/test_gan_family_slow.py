"""Do conditional generators draw the class they are asked for? advlab's digits classifier is the judge.

The issue asks that "the conditional generator's samples carry their label (the digits classifier agrees with the
requested label for a stated fraction)". Each model trains on 16x16 digits with its preset (seed 0, one thread, STEPS
steps); 500 samples are drawn, 50 per class, and the feature network's classifier (advlab.metrics.features, 99%
accurate on held-out digits) labels them. Measured on this 2-core machine (printed with pytest -s; quoted in the
issue's closing note); the test asserts at least MIN_AGREEMENT, against 0.1 for a generator that ignores the label.
"""

from __future__ import annotations

import pytest
import torch

from advlab.core.config import from_mapping
from advlab.metrics import load_feature_net
from advlab.pipelines import GANTrainConfig, train_gan
from advlab.pipelines.gan_snapshots import draw
from advlab.pipelines.sample_gan import load_trained

STEPS = 600
SAMPLES = 500
MIN_AGREEMENT = 0.9  # measured: acgan 1.000, cgan 1.000 at seed 0


@pytest.mark.slow
@pytest.mark.parametrize("model", ["acgan", "cgan"])
def test_conditional_samples_carry_their_label(tmp_path, model):
    values = {"data": "digits", "image_size": 16, "model": model, "steps": STEPS, "out": str(tmp_path / model),
              "tensorboard": False, "threads": 1, "device": "cpu", "sample_every": STEPS, "checkpoint_every": STEPS}
    run = train_gan(from_mapping(GANTrainConfig, values), progress=False, report=False).root
    _, trainer = load_trained(run, "cpu")
    samples = draw(trainer, SAMPLES, seed=1)  # sample i asks for class i mod 10
    requested = torch.arange(SAMPLES) % 10
    predicted = load_feature_net("digits", image_size=16, progress=False).predict_labels(samples).reshape(-1)
    agreement = float((predicted == requested).float().mean())
    print(f"{model}: {STEPS} steps, the classifier agrees with the requested label for {agreement:.3f}")
    assert agreement >= MIN_AGREEMENT
