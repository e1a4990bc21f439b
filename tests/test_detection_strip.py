"""STRIP (Gao et al. 2019): the entropy and blend definitions, the boundary at the clean FRR quantile, overlays
drawn without the input itself, and on the backdoored digits model triggered inputs flagged, clean ones kept,
the model untouched; on the clean twin triggered inputs are not flagged."""

import math

import pytest
import torch
from backdoored import backdoored_digits, clean_digits, stamp_trigger, unchanged, weights
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.poisoning.detection import strip
from advlab.poisoning.detection.strip import draw_overlays, prediction_entropy, superimpose


def test_entropy_in_bits():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0], [math.log(3.0), 0.0, -1e9, -1e9]])
    expected = [2.0, 0.0, -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))]
    torch.testing.assert_close(prediction_entropy(logits), torch.tensor(expected), atol=1e-5, rtol=0)


def test_blends():
    images = torch.tensor([0.2, 0.7]).view(1, 1, 1, 2)
    overlays = torch.tensor([[0.5, 0.5], [0.0, 0.9]]).view(1, 2, 1, 1, 2)
    summed = superimpose(images, overlays, "sum").flatten().tolist()
    assert summed == pytest.approx([0.7, 1.0, 0.2, 1.0])  # saturated sum
    assert superimpose(images, overlays, "average").flatten().tolist() == pytest.approx([0.35, 0.6, 0.1, 0.8])


def test_overlays_distinct_and_never_the_image_itself():
    indices = draw_overlays(30, 30, 29, torch.Generator().manual_seed(0), exclude_self=True)
    assert indices.shape == (30, 29)
    for row, drawn in enumerate(indices.tolist()):
        assert row not in drawn and len(set(drawn)) == 29


def test_boundary_is_the_clean_frr_quantile_and_flags_below_it():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 5))
    generator = torch.Generator().manual_seed(1)
    clean = torch.rand(60, 1, 4, 4, generator=generator)
    inputs = torch.rand(25, 1, 4, 4, generator=generator)
    result = strip(model, inputs, clean_images=clean, overlays=10, frr=0.1)
    clean_entropies = result.extras["clean_entropies"]
    assert clean_entropies.shape == (60,) and result.scores.shape == (25,)
    assert result.threshold == pytest.approx(float(torch.quantile(clean_entropies.double(), 0.1)))
    assert torch.equal(result.mask(), result.scores < result.threshold)
    assert int((clean_entropies < result.threshold).sum()) <= 0.1 * 60  # at most the FRR of the clean inputs
    again = strip(model, inputs, clean_images=clean, overlays=10, frr=0.1)
    assert torch.equal(again.scores, result.scores)  # seeded


def test_bad_options():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 5))
    inputs, clean = torch.rand(3, 1, 4, 4), torch.rand(20, 1, 4, 4)
    for options, words in [({}, "needs clean held-out images"),
                           ({"clean_images": clean, "overlays": 20}, "more than 20 clean images"),
                           ({"clean_images": clean, "overlays": 5, "frr": 1.0}, "frr"),
                           ({"clean_images": clean, "overlays": 5, "blend": "max"}, "blend"),
                           ({"clean_images": torch.rand(20, 1, 5, 5)}, "same shape")]:
        with pytest.raises(AdvlabError, match=words):
            strip(model, inputs, **options)


def triggered_and_clean(victim):
    others = victim.test_images[victim.test_labels != 0]
    inputs = torch.cat([others, stamp_trigger(others)])
    return inputs, torch.arange(len(inputs)) >= len(others)


def test_backdoored_digits_triggered_inputs_flagged():
    victim = backdoored_digits()
    before = weights(victim.model)
    inputs, truth = triggered_and_clean(victim)
    result = strip(victim.model, inputs, clean_images=victim.clean_images, overlays=50)
    assert result.tpr(truth) >= 0.85 and result.fpr(truth) <= 0.05
    assert float(result.scores[truth].mean()) < 0.5 * float(result.scores[~truth].mean())
    assert unchanged(victim.model, before)


def test_clean_digits_triggered_inputs_look_clean():
    victim = clean_digits()
    inputs, truth = triggered_and_clean(victim)
    result = strip(victim.model, inputs, clean_images=victim.clean_images, overlays=20)
    assert result.tpr(truth) <= 0.05 and result.fpr(truth) <= 0.05
