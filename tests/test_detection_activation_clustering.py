"""Activation clustering (Chen et al. 2018): two planted populations split by size and silhouette, the criteria
and their thresholds, the penultimate layer (never the logits), and on the backdoored digits model the target
class's smaller cluster holds the poisons while the clean twin has no class flagged; the model is untouched."""

import sys

import numpy as np
import pytest
import torch
from backdoored import backdoored_digits, clean_digits, unchanged, weights
from sklearn.metrics import silhouette_score
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.poisoning.detection import activation_clustering
from advlab.poisoning.detection.activation_clustering import is_poisoned, two_clusters


def identity_model(features: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(features, 3))


def two_population_set(clean: int = 60, poisons: int = 15, seed: int = 0):
    """Class 0: `clean` rows near one point and `poisons` near another; class 1: one population. (N, 1, 4, 4)."""
    generator = torch.Generator().manual_seed(seed)
    images = 0.5 + 0.04 * torch.randn(2 * clean + poisons, 1, 4, 4, generator=generator)
    images[:poisons, 0, 3, 3] += 0.4
    labels = torch.tensor([0] * (clean + poisons) + [1] * clean)
    truth = torch.zeros(len(labels), dtype=torch.bool)
    truth[:poisons] = True
    return images.clamp(0, 1), labels, truth


@pytest.mark.parametrize("reduce", ["ica", "pca"])
def test_a_planted_population_is_the_flagged_smaller_cluster(reduce):
    images, labels, truth = two_population_set()
    result = activation_clustering(identity_model(16), images, labels, reduce=reduce, dims=5)
    assert result.extras["flagged_classes"] == [0]
    assert result.tpr(truth) == 1.0 and result.fpr(truth) == 0.0
    assert result.extras["relative_size"][0] == pytest.approx(15 / 75)
    assert result.extras["silhouette"][0] > result.extras["silhouette"][1]
    assert torch.allclose(result.scores[truth], torch.tensor(1 - 15 / 75))


def test_ica_tolerance_reaches_fastica(monkeypatch):
    """ART's looser tolerance (0.005) is an option: FastICA receives it and the planted population is still found."""
    module = sys.modules["advlab.poisoning.detection.activation_clustering"]  # the package exports the function
    seen = []
    original = module.FastICA

    def spy(*args, **kwargs):
        seen.append(kwargs["tol"])
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "FastICA", spy)
    images, labels, truth = two_population_set()
    result = activation_clustering(identity_model(16), images, labels, dims=5, ica_tolerance=0.005)
    assert seen == [0.005, 0.005] and result.tpr(truth) == 1.0


def test_two_clusters_share_and_silhouette_by_hand():
    rows = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [5.0, 5.0]])
    in_smaller, share, silhouette = two_clusters(rows, restarts=5, seed=0)
    assert in_smaller.tolist() == [False, False, False, True] and share == 0.25
    assert silhouette == pytest.approx(silhouette_score(rows, in_smaller.astype(int)))


def test_criteria():
    assert is_poisoned(0.2, 0.5, "both", 0.35, 0.2) and not is_poisoned(0.4, 0.5, "both", 0.35, 0.2)
    assert not is_poisoned(0.2, 0.1, "both", 0.35, 0.2) and is_poisoned(0.2, 0.1, "size", 0.35, 0.2)
    assert is_poisoned(0.45, 0.3, "silhouette", 0.35, 0.2) and not is_poisoned(0.35, 0.19, "silhouette", 0.35, 0.2)
    assert is_poisoned(0.35, 0.2, "both", 0.35, 0.2)  # the thresholds are inclusive (<= 35%)
    assert not is_poisoned(0.0, float("nan"), "size", 0.35, 0.2)  # a class that does not split


def test_bad_options():
    images, labels, _ = two_population_set()
    model = identity_model(16)
    for options, words in [({"reduce": "tsne"}, "reduce must be one of"), ({"criterion": "any"}, "criterion"),
                           ({"size_threshold": 0}, "size_threshold"), ({"dims": 0}, "dims"),
                           ({"layer": "2"}, "no layer '2'"), ({"classes": [5]}, "class 5 has no rows"),
                           ({"ica_tolerance": 0}, "ica_tolerance")]:
        with pytest.raises(AdvlabError, match=words):
            activation_clustering(model, images, labels, **options)


def test_backdoored_digits_target_class_flagged_poisons_found():
    victim = backdoored_digits()
    before = weights(victim.model)
    result = activation_clustering(victim.model, victim.train_images, victim.train_labels)
    assert 0 in result.extras["flagged_classes"]
    assert result.tpr(victim.poisoned) >= 0.6 and result.fpr(victim.poisoned) <= 0.03
    assert unchanged(victim.model, before)
    again = activation_clustering(victim.model, victim.train_images, victim.train_labels)
    assert torch.equal(again.flagged, result.flagged)  # deterministic for a seed


def test_clean_digits_no_class_flagged():
    victim = clean_digits()
    result = activation_clustering(victim.model, victim.train_images, victim.train_labels)
    assert result.extras["flagged_classes"] == [] and len(result.flagged) == 0
    assert max(result.extras["silhouette"].values()) < 0.2
