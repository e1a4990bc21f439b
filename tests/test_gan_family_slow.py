"""Do conditional generators draw the class they are asked for, and vary within it? advlab's digits classifier
is the judge of the class; the spread of the samples over z, against real digits', of the variety.

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
MIN_AGREEMENT = 0.8  # measured: cgan 0.954, acgan 1.000, acgan pack 2 0.928, projection pack 2 0.854
# Within-class diversity: the per-pixel standard deviation over z of the samples of one class, averaged over pixels
# and classes, as a share of the same figure for real 16x16 digits (0.129). A generator that ignores z scores 0.
MIN_DIVERSITY = 0.5
# (model, pack, diverse): measured at seed 0 on one thread (printed with pytest -s): within-class diversity
# cgan 0.61, acgan 0.14, acgan pack 2 0.68, projection pack 2 0.82 (unpacked projection: 0.17 at 750 steps).
# Unpacked ACGAN collapses within each class (its class term favours the most classifiable sample, Shu et al.
# 2017); PacGAN packs of one class (advlab.gan.pacgan) restore the diversity, which the acgan/2 case asserts.
CASES = [("cgan", 1, True), ("acgan", 1, False), ("acgan", 2, True), ("projection", 2, True)]


def within_class_diversity(images: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over classes of the per-pixel standard deviation across that class's images, averaged over pixels."""
    return sum(float(images[labels == c].std(0).mean()) for c in labels.unique()) / len(labels.unique())


@pytest.mark.slow
@pytest.mark.parametrize("model, pack, diverse", CASES)
def test_conditional_samples_carry_their_label_and_vary_within_it(tmp_path, model, pack, diverse):
    values = {"data": "digits", "image_size": 16, "model": model, "pack": pack, "steps": STEPS,
              "out": str(tmp_path / model), "tensorboard": False, "threads": 1, "device": "cpu",
              "sample_every": STEPS, "checkpoint_every": STEPS}
    run = train_gan(from_mapping(GANTrainConfig, values), progress=False, report=False).root
    _, trainer = load_trained(run, "cpu")
    samples = draw(trainer, SAMPLES, seed=1)  # sample i asks for class i mod 10
    requested = torch.arange(SAMPLES) % 10
    predicted = load_feature_net("digits", image_size=16, progress=False).predict_labels(samples).reshape(-1)
    agreement = float((predicted == requested).float().mean())
    real = trainer.data
    share = within_class_diversity(samples, requested) / within_class_diversity(real.data, real.labels)
    print(f"{model} pack {pack}: {STEPS} steps, the classifier agrees with the requested label for {agreement:.3f}; "
          f"within-class diversity {share:.2f} of the real digits'")
    assert agreement >= MIN_AGREEMENT
    if diverse:
        assert share >= MIN_DIVERSITY
