"""Inception Score: one class gives 1, balanced confident classes give C, hand-computed values, splits, errors."""

import numpy as np
import pytest
import torch
from helpers import raises_one_line

from advlab.metrics.inception_score import InceptionScore, inception_score, inception_score_from_logits


def one_hot(labels, classes):
    return np.eye(classes)[np.asarray(labels)]


def test_one_class_scores_one():
    assert inception_score(one_hot([2] * 40, 5), splits=4) == (1.0, 0.0)
    same_row = np.tile([0.1, 0.6, 0.3], (30, 1))
    result = inception_score(same_row, splits=3)
    assert result.mean == pytest.approx(1.0, abs=1e-14) and result.std == pytest.approx(0.0, abs=1e-14)


def test_balanced_confident_classes_score_the_class_count():
    result = inception_score(one_hot(np.arange(100) % 10, 10), splits=10)
    assert isinstance(result, InceptionScore)
    assert result.mean == pytest.approx(10.0, rel=1e-14) and result.std == pytest.approx(0.0, abs=1e-12)


def test_hand_computed_values():
    probabilities = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.5, 0.5]])
    # One split: p(y) = (1/2, 1/2); KL = log 2 for the confident rows and 0 for the others.
    assert inception_score(probabilities, splits=1).mean == pytest.approx(np.sqrt(2), rel=1e-14)
    # Two splits: exp(log 2) = 2 and exp(0) = 1.
    two = inception_score(probabilities, splits=2)
    assert two.mean == pytest.approx(1.5, rel=1e-14) and two.std == pytest.approx(0.5, rel=1e-14)
    # A soft row: p(y|x) = (0.9, 0.1), (0.2, 0.8); p(y) = (0.55, 0.45).
    soft = np.array([[0.9, 0.1], [0.2, 0.8]])
    kl = [0.9 * np.log(0.9 / 0.55) + 0.1 * np.log(0.1 / 0.45), 0.2 * np.log(0.2 / 0.55) + 0.8 * np.log(0.8 / 0.45)]
    assert inception_score(soft, splits=1).mean == pytest.approx(np.exp(np.mean(kl)), rel=1e-14)


def test_splits_are_consecutive_with_floor_boundaries():
    # N = 10, splits = 3: boundaries i * N // splits = 0, 3, 6, 10, so the parts hold classes
    # {0, 1, 2} -> 3, {0, 0, 0} -> 1 and {0, 1, 2, 3} -> 4 (np.array_split would cut 4, 3, 3).
    result = inception_score(one_hot([0, 1, 2, 0, 0, 0, 0, 1, 2, 3], 4), splits=3)
    assert result.mean == pytest.approx(8 / 3, rel=1e-14)
    assert result.std == pytest.approx(np.std([3.0, 1.0, 4.0]), rel=1e-12)


def test_logits_route_matches_softmax_and_survives_large_logits():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(60, 7)) * 3
    shifted = logits - logits.max(axis=1, keepdims=True)
    softmax = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    expected = inception_score(softmax, splits=6)
    result = inception_score_from_logits(torch.from_numpy(logits).float(), splits=6)
    assert result.mean == pytest.approx(expected.mean, rel=1e-6) and result.std == pytest.approx(expected.std, rel=1e-4)
    confident = inception_score_from_logits(1000.0 * one_hot(np.arange(50) % 5, 5), splits=5)
    assert confident.mean == pytest.approx(5.0, rel=1e-12)


def test_torch_input_and_float32():
    probabilities = one_hot(np.arange(12) % 4, 4).astype(np.float32)
    assert inception_score(torch.from_numpy(probabilities), splits=3) == inception_score(probabilities, splits=3)


def test_bad_inputs_raise_one_line_errors():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(20, 5))
    raises_one_line(lambda: inception_score(logits), "negative", "pass softmax(logits), not logits")
    raises_one_line(lambda: inception_score(np.abs(logits) + 1), "sums to", "pass softmax(logits), not logits")
    probabilities = one_hot(np.arange(20) % 5, 5)
    raises_one_line(lambda: inception_score(probabilities, splits=21), "splits (21)", "20")
    raises_one_line(lambda: inception_score(probabilities, splits=0), "splits", ">= 1")
    raises_one_line(lambda: inception_score(probabilities[0]), "probabilities", "shape (n, d)")
    raises_one_line(lambda: inception_score_from_logits(np.full((4, 3), np.nan), splits=1), "logits", "NaN")
    nearly = probabilities.copy()
    nearly[0] = [0.9995, 0, 0, 0, 0]
    assert inception_score(nearly, splits=2).mean > 1  # within the 1e-3 tolerance
