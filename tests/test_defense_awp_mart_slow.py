"""MART and PGD-AT+AWP against PGD-AT at the same budget, under advlab's worst case, on the 8x8 digits.

Budget (one thread, scikit-learn's 1,797 digits, the seeded 80/20 split: 360 held-out images): SmallCNN of width
16, 10 epochs of Adam (lr 2e-3, batch 64), eps 0.1 (Linf), PGD-5 inside (step 2.5 eps / 5), the eps ramped over
the first 2 epochs (and AWP, gamma 5e-3, from then on), seed 0; a plainly trained network of the same recipe
beside them. `evaluate_robustness` (its fast budget: FGSM, PGD, APGD-CE, APGD-T and Square, worst case per
image, no transfer member) then attacks all 360 held-out images at eps 0.1.

Measured on the development machine, worst case (clean) for seeds 0 / 1 / 2 (/tmp/s15/measure.py):

    standard     0.408 / 0.425 / 0.367   (clean 0.969 / 0.956 / 0.956)
    PGD-AT       0.789 / 0.778 / 0.731   (clean 0.986 / 0.981 / 0.975)
    PGD-AT+AWP   0.797 / 0.792 / 0.731   (clean 0.981 / 0.978 / 0.953)
    MART         0.792 / 0.817 / 0.769   (clean 0.981 / 0.969 / 0.972)

At this scale AWP does not beat PGD-AT beyond noise: +0.8, +1.4 and 0.0 points (mean +0.7); MART is ahead by
+0.3, +3.9 and +3.8 points (mean +2.7), not beyond noise for every seed. The test (seed 0) therefore asks what
held for every seed: both at least PGD-AT's worst case minus 2 points and at most 6 points above it (the bound
on "by how little"), every robust network >= 0.70 worst case and >= 0.94 clean, and plain training <= 0.50 and
at least 25 points below PGD-AT.
"""

from __future__ import annotations

import pytest
import torch

from advlab.core.config import from_mapping
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.security.robustness import RobustnessConfig, evaluate_robustness
from advlab.pipelines.train_classifier import held_out_split, load_classifier, train_classifier

pytestmark = pytest.mark.slow

SEED, EPS = 0, 0.1
COMMON = {"data": "digits", "model": "cnn", "width": 16, "epochs": 10, "device": "cpu", "threads": 1,
          "robust_eval_images": 0, "attack_steps": 5, "seed": SEED}
RECIPES = {"standard": {}, "pgd-at": {"defense": "pgd-at", "eps": EPS},
           "pgd-at+awp": {"defense": "pgd-at", "eps": EPS, "awp_gamma": 5e-3},
           "mart": {"defense": "mart", "eps": EPS}}


def clean_and_worst_case(out, options) -> tuple[float, float]:
    threads = torch.get_num_threads()
    try:
        config = from_mapping(ClassifierTrainConfig, {**COMMON, **options, "out": str(out)})
        run = train_classifier(config, progress=False, report=False).root
        model, _ = load_classifier(run, "cpu")
        images, labels = held_out_split(run)
        record = evaluate_robustness(model, images, labels, RobustnessConfig(eps=(EPS,), n=len(images),
                                                                             check_images=20, seed=SEED, device="cpu",
                                                                             threads=1, progress=False, report=False))
    finally:
        torch.set_num_threads(threads)
    return record["clean_accuracy"], record["robust_accuracy"][f"{EPS:g}"]


def test_mart_and_awp_hold_pgd_ats_worst_case_and_by_how_little_they_beat_it(tmp_path):
    figures = {name: clean_and_worst_case(tmp_path / name, options) for name, options in RECIPES.items()}
    print("\ndigits, eps 0.1, 360 held-out images (clean, worst case): "
          + ", ".join(f"{name} {clean:.3f} {worst:.3f}" for name, (clean, worst) in figures.items()))
    pgd_at = figures["pgd-at"][1]
    for name in ("pgd-at", "pgd-at+awp", "mart"):
        clean, worst = figures[name]
        assert clean >= 0.94 and worst >= 0.70, name
    for name in ("pgd-at+awp", "mart"):
        assert pgd_at - 0.02 <= figures[name][1] <= pgd_at + 0.06, name
    assert figures["standard"][1] <= 0.50 and pgd_at - figures["standard"][1] >= 0.25
