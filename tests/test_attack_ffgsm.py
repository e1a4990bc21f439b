"""FFGSM (Wong et al. 2020's FGSM from a random start): one step of 1.25 eps from a uniform start, inside the
ball; the same robust accuracy as torchattacks' FFGSM over seeds."""

import numpy as np
import pytest
import torch
from peers import robust_accuracy

from advlab.attacks import FGSM, PGD
from advlab.attacks.ffgsm import FFGSM


def test_is_one_pgd_step_of_one_and_a_quarter_eps_from_a_random_start(digits_cnn):
    images, labels = digits_cnn.images[:64], digits_cnn.labels[:64]
    ours = FFGSM(digits_cnn.model, eps=0.1, seed=3)(images, labels)
    same = PGD(digits_cnn.model, eps=0.1, alpha=0.125, steps=1, random_start=True, seed=3)(images, labels)
    assert torch.equal(ours, same)
    assert float((ours - images).abs().max()) <= 0.1 + 1e-6 and ours.min() >= 0 and ours.max() <= 1
    assert FFGSM(digits_cnn.model, eps=0.2, alpha=0.05).step_size() == 0.05


def test_agrees_with_torchattacks_and_the_random_start_costs_little_against_fgsm(digits_cnn):
    torchattacks = pytest.importorskip("torchattacks")
    images, labels, model = digits_cnn.images, digits_cnn.labels, digits_cnn.model
    ours, theirs = [], []
    for seed in range(3):
        ours.append(robust_accuracy(model, FFGSM(model, eps=0.1, seed=seed)(images, labels), labels))
        torch.manual_seed(seed)
        peer = torchattacks.FFGSM(model, eps=0.1, alpha=0.125)(images, labels)
        theirs.append(robust_accuracy(model, peer, labels))
    # measured 0.735 against 0.750 (seeds 0-2): at most 2 points weaker, and not far stronger either
    assert np.mean(ours) <= np.mean(theirs) + 0.02 and np.mean(ours) >= np.mean(theirs) - 0.04, (ours, theirs)
    fgsm = robust_accuracy(model, FGSM(model, eps=0.1)(images, labels), labels)
    assert np.mean(ours) < robust_accuracy(model, images, labels) - 0.2  # it bites
    assert abs(np.mean(ours) - fgsm) < 0.15  # about as strong as FGSM from the image
