"""TrojanNN: the mask, neuron selection by hand, the trigger firing its neuron, retraining, a trojan that works."""

import json

import pytest
import torch
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.models import SmallCNN
from advlab.models.representations import choose_layer
from advlab.poisoning import Trojan, attack_success_rate, make_poison
from advlab.poisoning.trojan import layer_neurons, parameters_after


def test_square_mask_rule_and_position():
    assert Trojan(area=0.2).box(8, 8) == (4, 4, 4)  # round(sqrt(0.2 * 64)) = 4, bottom-right
    assert Trojan(area=0.1).box(28, 28) == (19, 19, 9)
    assert Trojan(area=0.1, top=0, left=2).box(8, 8) == (0, 2, 3)
    mask = Trojan(area=0.2).trigger_mask(torch.zeros(1, 1, 8, 8))
    assert int(mask.sum()) == 16 and bool(mask[4:, 4:].all())


def mask_wired_mlp() -> nn.Module:
    """Flatten, Linear(64, 4), ReLU, Linear(4, 3): hidden unit 2 reads only the bottom-right 4x4 corner,
    unit 0 mostly the rest of the image, units 1 and 3 both evenly."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 4), nn.ReLU(), nn.Linear(4, 3))
    corner = torch.zeros(8, 8)
    corner[4:, 4:] = 1
    with torch.no_grad():
        model[1].weight.copy_(torch.stack([1.5 - corner, torch.full((8, 8), 0.3), corner * 0.5,
                                           torch.full((8, 8), -0.2)]).flatten(1))
        model[1].bias.zero_()
    return model


def test_neuron_selection_picks_the_unit_wired_to_the_mask():
    model = mask_wired_mlp()
    images = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    trojan = Trojan(layer="1", neurons=2)
    layer = choose_layer(model, images, "1")
    chosen = trojan.select_neurons(model, layer, images).tolist()
    assert chosen[0] == 2  # all of its weight on the mask; units 1 and 3 share 16/64 of theirs, unit 0 less
    assert chosen[1] in (1, 3)


def test_trigger_fires_the_selected_neuron_and_changes_only_the_mask():
    model = mask_wired_mlp()
    images = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 0.5
    trojan = Trojan(layer="1", trigger_steps=100)
    with pytest.raises(AdvlabError, match="no trigger yet"):
        trojan.apply_trigger(images)
    pattern = trojan.fit_trigger(model, images, seed=0)
    assert pattern.shape == (1, 4, 4) and float(pattern.min()) >= 0 and float(pattern.max()) <= 1
    assert torch.allclose(pattern, torch.ones(1, 4, 4))  # unit 2's weights are positive: all white drives it most
    triggered = trojan.apply_trigger(images)
    mask = trojan.trigger_mask(images)
    assert torch.equal(triggered[:, :, ~mask], images[:, :, ~mask])
    layer = choose_layer(model, images, "1")
    with torch.no_grad():
        before, after = layer_neurons(model, layer, images)[:, 2], layer_neurons(model, layer, triggered)[:, 2]
    assert bool((after > before.max()).all())


def test_parameters_after_a_layer():
    model = SmallCNN()
    probe = torch.zeros(2, 1, 8, 8)
    penultimate = parameters_after(model, choose_layer(model, probe, None))
    assert [id(p) for p in penultimate] == [id(p) for p in model.head[3].parameters()]
    after_features = parameters_after(model, choose_layer(model, probe, "features"))
    assert [id(p) for p in after_features] == [id(p) for p in model.head.parameters()]


@pytest.fixture(scope="module")
def implanted(digits_cnn):
    trojan = Trojan(target=0)
    model, retraining = trojan.implant(digits_cnn.model, digits_cnn.train_images, seed=0)
    return trojan, model.eval(), retraining


def test_the_trojan_works_on_the_digits_cnn(implanted, digits_cnn):
    """Reverse-engineered inputs only (no training data): measured ASR 0.88 at 96.7% accuracy (clean 99.2%)."""
    trojan, model, _ = implanted
    images, labels = digits_cnn.images, digits_cnn.labels
    assert float((model(images).argmax(1) == labels).float().mean()) > 0.93
    assert attack_success_rate(model, trojan, images, labels, 10) > 0.8
    assert attack_success_rate(digits_cnn.model, trojan, images, labels, 10) < 0.1


def test_implant_leaves_the_given_model_and_returns_the_retraining_set(implanted, digits_cnn):
    trojan, model, retraining = implanted
    assert model is not digits_cnn.model
    assert not any(parameter.requires_grad for parameter in digits_cnn.model.parameters())
    assert len(retraining.labels) == 200 and len(retraining.indices) == 40  # 20 per class, rate 0.2
    rows = retraining.indices
    assert bool((retraining.labels[rows] == 0).all())
    assert torch.equal(retraining.images[rows], trojan.apply_trigger(retraining.images[rows]))
    assert json.loads(json.dumps(trojan.options()))["selected_neurons"] == trojan.selected.tolist()


def test_real_data_and_partial_retraining(digits_cnn):
    images, labels = digits_cnn.train_images[:300], digits_cnn.train_labels[:300]
    trojan = make_poison("trojan", target=1, use_data=True, partial=True, trigger_steps=20, epochs=1)
    model, retraining = trojan.implant(digits_cnn.model, images, labels, seed=0)
    assert len(retraining.labels) == 300 and len(retraining.indices) == 60
    assert torch.equal(retraining.images[~retraining.mask()], images[~retraining.mask()])
    for name, parameter in model.named_parameters():
        original = dict(digits_cnn.model.named_parameters())[name]
        assert torch.equal(parameter, original) == (not name.startswith("head.3"))


def test_bad_input_is_one_clear_error(digits_cnn):
    model, images = digits_cnn.model, digits_cnn.train_images[:20]
    with pytest.raises(AdvlabError, match="area"):
        Trojan(area=0.0)
    with pytest.raises(AdvlabError, match="area"):
        Trojan(area=1.5)
    with pytest.raises(AdvlabError, match="image_shape"):
        Trojan().implant(model)
    with pytest.raises(AdvlabError, match="use_data"):
        Trojan(use_data=True).implant(model, images)
    with pytest.raises(AdvlabError, match="has 128"):
        Trojan(neurons=129).fit_trigger(model, images)
    with pytest.raises(AdvlabError, match="no layer"):
        Trojan(layer="nope").fit_trigger(model, images)
    with pytest.raises(AdvlabError, match="does not fit"):
        Trojan(top=6).fit_trigger(model, images)
    with pytest.raises(AdvlabError, match="no trigger yet"):
        Trojan().poison(images, digits_cnn.train_labels[:20])
    with pytest.raises(AdvlabError, match="out of range"):
        Trojan(target=10, use_data=True, trigger_steps=1, epochs=1).implant(model, images,
                                                                           digits_cnn.train_labels[:20])
