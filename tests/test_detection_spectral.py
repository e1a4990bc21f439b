"""Spectral signatures (Tran et al. 2018, Algorithm 1): scores against a hand computation, the 1.5 x rate
budget per class, the oriented and squared scores, the unknown-rate rule, and >= 90% of the BadNets poisons
flagged on the backdoored digits model without touching it."""

import json
import math

import numpy as np
import pytest
import torch
from backdoored import backdoored_digits, clean_digits, unchanged, weights
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.poisoning.detection import Detection, spectral_signatures


def identity_model(features: int) -> nn.Module:
    """A classifier whose penultimate representation is the flattened image itself."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(features, 3))


def clustered_set(clean: int = 40, poisons: int = 4, seed: int = 0):
    """Images (N, 1, 2, 2) in [0, 1]: class 0 with a far-off group of `poisons` rows, class 1 plain."""
    generator = torch.Generator().manual_seed(seed)
    images = 0.4 + 0.05 * torch.randn(2 * clean + poisons, 1, 2, 2, generator=generator)
    images[:poisons] += torch.tensor([0.5, 0.5, -0.3, 0.0]).view(1, 1, 2, 2)
    labels = torch.tensor([0] * (clean + poisons) + [1] * clean)
    truth = torch.zeros(len(labels), dtype=torch.bool)
    truth[:poisons] = True
    return images.clamp(0, 1), labels, truth


def test_squared_scores_are_the_papers_tau():
    images, labels, _ = clustered_set()
    result = spectral_signatures(identity_model(4), images, labels, rate=0.1, score="squared")
    for label in (0, 1):
        rows = (labels == label).numpy()
        features = images.flatten(1).numpy().astype(np.float64)[rows]
        centred = features - features.mean(0)
        top = np.linalg.svd(centred, full_matrices=False)[2][0]
        np.testing.assert_allclose(result.scores[rows].numpy(), (centred @ top) ** 2, rtol=1e-4, atol=1e-7)


def test_oriented_scores_point_to_the_minority_and_rank_like_tau_there():
    images, labels, truth = clustered_set()
    oriented = spectral_signatures(identity_model(4), images, labels, rate=0.1)
    squared = spectral_signatures(identity_model(4), images, labels, rate=0.1, score="squared")
    assert bool((oriented.scores[truth] > 0).all())
    torch.testing.assert_close(oriented.scores.square(), squared.scores)


def test_rate_flags_one_and_a_half_times_the_rate_in_every_class():
    images, labels, truth = clustered_set(clean=40, poisons=4)
    result = spectral_signatures(identity_model(4), images, labels, rate=0.1)
    assert isinstance(result, Detection) and result.kind == "rows" and result.size == len(labels)
    assert result.extras["class_flagged"] == {0: math.ceil(1.5 * 0.1 * 44), 1: 6}
    assert result.tpr(truth) == 1.0
    # the flagged rows are the highest scores of their class
    for label in (0, 1):
        rows = (labels == label).nonzero().flatten()
        flagged = result.mask()[rows]
        assert float(result.scores[rows][flagged].min()) >= float(result.scores[rows][~flagged].max())
        assert result.extras["class_thresholds"][label] == pytest.approx(float(result.scores[rows][flagged].min()))


def test_unknown_rate_flags_the_outlying_group_only():
    images, labels, truth = clustered_set(clean=60, poisons=5)
    result = spectral_signatures(identity_model(4), images, labels)
    assert result.tpr(truth) == 1.0 and result.fpr(truth) <= 0.03


def test_only_the_classes_asked_for():
    images, labels, _ = clustered_set()
    result = spectral_signatures(identity_model(4), images, labels, rate=0.2, classes=[1])
    assert bool((labels[result.flagged] == 1).all()) and bool((result.scores[labels == 0] == 0).all())


def test_bad_options():
    images, labels, _ = clustered_set()
    model = identity_model(4)
    for options, words in [({"rate": 0.0}, "rate must be a share"), ({"rate": 1.5}, "rate must be a share"),
                           ({"score": "cubed"}, "score must be one of"), ({"classes": [7]}, "class 7 has no rows"),
                           ({"layer": "nope"}, "no layer 'nope'"), ({"multiplier": 0}, "multiplier")]:
        with pytest.raises(AdvlabError, match=words):
            spectral_signatures(model, images, labels, **options)
    with pytest.raises(AdvlabError, match=r"\[0, 1\]"):
        spectral_signatures(model, images + 2, labels)


def test_backdoored_digits_poisons_flagged_and_model_untouched():
    victim = backdoored_digits()
    assert victim.attack_success() >= 0.9 and victim.accuracy() >= 0.95  # the victim really is backdoored
    before = weights(victim.model)
    target_rows = victim.train_labels == 0
    share = float(victim.poisoned.sum() / target_rows.sum())  # poisons among the target class's rows
    result = spectral_signatures(victim.model, victim.train_images, victim.train_labels, rate=share)
    assert result.tpr(victim.poisoned) >= 0.9
    assert unchanged(victim.model, before)
    unknown = spectral_signatures(victim.model, victim.train_images, victim.train_labels)
    assert unknown.tpr(victim.poisoned) >= 0.6 and unknown.fpr(victim.poisoned) <= 0.02
    summary = unknown.summary(victim.poisoned)
    assert summary["tpr"] == unknown.tpr(victim.poisoned) and len(summary["flagged"]) == len(unknown.flagged)


def test_clean_digits_few_false_positives():
    victim = clean_digits()
    result = spectral_signatures(victim.model, victim.train_images, victim.train_labels)
    assert result.fpr(victim.poisoned) <= 0.03 and math.isnan(result.tpr(victim.poisoned))


def test_detection_rates_and_record_by_hand():
    result = Detection("x", "rows", torch.tensor([4, 1]), 6, torch.tensor([0.0, 1, 2, 3, float("inf"), 5]), 0.5,
                       {"per_class": {0: float("nan")}, "images": torch.zeros(2, 1, 2, 2), "count": 3})
    truth = torch.tensor([False, True, True, False, False, False])
    assert result.flagged.tolist() == [1, 4] and result.mask().tolist() == [False, True, False, False, True, False]
    assert result.tpr(truth) == 0.5 and result.fpr(truth) == 0.25
    record = json.loads(json.dumps(result.summary(truth), allow_nan=False))
    assert record["flagged"] == [1, 4] and record["tpr"] == 0.5 and record["fpr"] == 0.25 and record["count"] == 3
    assert record["scores"][4] is None and record["per_class"] == {"0": None} and "images" not in record
    assert math.isnan(result.tpr(torch.zeros(6, dtype=torch.bool)))
    assert result.summary(torch.zeros(6, dtype=torch.bool))["tpr"] is None
    with pytest.raises(AdvlabError, match="boolean mask of the 6 rows"):
        result.tpr(torch.zeros(5, dtype=torch.bool))
