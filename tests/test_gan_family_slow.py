"""Do conditional generators draw the class they are asked for, and vary within it? advlab's digits classifier
is the judge of the class; the spread of the samples over z, against real digits', of the variety.

The issue asks that "the conditional generator's samples carry their label (the digits classifier agrees with the
requested label for a stated fraction)". Each model trains on 16x16 digits with its preset (one thread, STEPS steps)
at each of SEEDS; 500 samples are drawn, 50 per class, and the feature network's classifier
(advlab.metrics.features, 99% accurate on held-out digits) labels them. Measured on this 2-core machine (printed with
pytest -s); the test asserts the mean over seeds against chance (0.1 for a generator that ignores the label).
"""

from __future__ import annotations

import pytest
import torch

from advlab.core.config import from_mapping
from advlab.metrics import load_feature_net
from advlab.pipelines import GANTrainConfig, train_gan
from advlab.pipelines.gan.gan_snapshots import draw
from advlab.pipelines.gan.sample_gan import load_trained

STEPS = 600
SAMPLES = 500
SEEDS = (0, 1, 2)
# A run's agreement depends on its training trajectory, which differs between machines whose float kernels differ
# (seed 0 of acgan measured 1.000 here and 0.754 on an AMD EPYC without AVX-512), and it moves in steps of about 0.1:
# a generator that collapses within a class (acgan unpacked) draws each class right or wrong as a whole. So the test
# averages over SEEDS and asserts the mean against chance: a generator that ignores the label agrees with the
# uniformly requested one for exactly 0.1 in expectation. Measured here (seeds 0, 1, 2, one thread): cgan
# 0.958/0.976/0.992, acgan 1.000/0.974/1.000 (seeds 3-7, once: 0.978, 0.900, 0.908, 0.942, 0.844), acgan pack 2
# 0.926/0.908/0.900, projection pack 2 0.852/0.738/0.858. MIN_AGREEMENT is six times chance: it fails for a generator
# that ignores its label (0.1) or draws only half the classes (<= 0.55), and holds with four of ten classes wrong
# in every seed.
MIN_AGREEMENT = 0.6
# Within-class diversity: the per-pixel standard deviation over z of the samples of one class, averaged over pixels
# and classes, as a share of the same figure for real 16x16 digits (0.129). A generator that ignores z scores 0.
# Measured here (seeds 0, 1, 2): cgan 0.63/0.49/0.55, acgan pack 2 0.69/0.68/0.70, projection pack 2 0.82/0.74/0.86;
# the collapsed unpacked acgan 0.15/0.16/0.16 (seeds 3-7: 0.15-0.18). MIN_DIVERSITY sits between the collapsed
# acgan and the lowest diverse mean (cgan 0.56), more than twice the former.
MIN_DIVERSITY = 0.4
# Unpacked ACGAN collapses within each class (its class term favours the most classifiable sample, Shu et al.
# 2017); PacGAN packs of one class (advlab.gan.pacgan) restore the diversity, which the acgan/2 case asserts.
# The projection preset's n_dis 5 (Miyato & Koyama 2018) needs far more generator steps than this test affords:
# at 600 steps its agreement is 0.19/0.10/0.20 over seeds 0-2 (0.67 at 1,500 steps, seed 0), so the case plays one
# D step per G step, which tests the same conditioning (the projection discriminator) in the time.
CASES = [("cgan", 1, True, {}), ("acgan", 1, False, {}), ("acgan", 2, True, {}), ("projection", 2, True, {"k": 1})]


def within_class_diversity(images: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over classes of the per-pixel standard deviation across that class's images, averaged over pixels."""
    return sum(float(images[labels == c].std(0).mean()) for c in labels.unique()) / len(labels.unique())


def label_agreement_and_diversity(out, model: str, pack: int, seed: int, options: dict) -> tuple[float, float]:
    """Train one run; (share of SAMPLES whose class the digits classifier reads as the requested one, within-class
    diversity as a share of the real digits')."""
    values = {"data": "digits", "image_size": 16, "model": model, "pack": pack, "steps": STEPS, "seed": seed,
              "out": str(out), "tensorboard": False, "threads": 1, "device": "cpu", "sample_every": STEPS,
              "checkpoint_every": STEPS, **options}
    run = train_gan(from_mapping(GANTrainConfig, values), progress=False, report=False).root
    _, trainer = load_trained(run, "cpu")
    samples = draw(trainer, SAMPLES, seed=1)  # sample i asks for class i mod 10
    requested = torch.arange(SAMPLES) % 10
    predicted = load_feature_net("digits", image_size=16, progress=False).predict_labels(samples).reshape(-1)
    agreement = float((predicted == requested).float().mean())
    real = trainer.data
    return agreement, within_class_diversity(samples, requested) / within_class_diversity(real.data, real.labels)


@pytest.mark.slow
@pytest.mark.parametrize("model, pack, diverse, options", CASES, ids=[f"{m}-{p}-{d}" for m, p, d, _ in CASES])
def test_conditional_samples_carry_their_label_and_vary_within_it(tmp_path, model, pack, diverse, options):
    figures = [label_agreement_and_diversity(tmp_path / f"{model}-{seed}", model, pack, seed, options)
               for seed in SEEDS]
    agreement, share = (sum(column) / len(SEEDS) for column in zip(*figures))
    print(f"{model} pack {pack}: {STEPS} steps, seeds {SEEDS}: the classifier agrees with the requested label for "
          f"{', '.join(f'{a:.3f}' for a, _ in figures)} (mean {agreement:.3f}); within-class diversity "
          f"{', '.join(f'{d:.2f}' for _, d in figures)} (mean {share:.2f}) of the real digits'")
    assert agreement >= MIN_AGREEMENT
    if diverse:
        assert share >= MIN_DIVERSITY
