"""advlab.models.representations: the default layer is the penultimate one (never the logits), names work,
a wrong name is one AdvlabError that lists valid names, and reading leaves the model as it was."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.models import LeNet5, MadryCNN, MLPClassifier, SmallCNN
from advlab.models.representations import choose_layer, representations

CASES = [  # model, image size, the logits layer, the penultimate width
    (lambda: SmallCNN(image_size=8, hidden=24), 8, "head.3", 24),
    (lambda: MadryCNN(image_size=8, width=4), 8, "head.3", 128),
    (lambda: LeNet5(image_size=16), 16, "head.5", 84),
    (lambda: MLPClassifier(in_features=64, width=20), 8, "net.5", 20),
]


def images(size: int, count: int = 5) -> torch.Tensor:
    return torch.rand(count, 1, size, size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("make, size, logits_name, width", CASES)
def test_default_is_the_input_of_the_logits_layer(make, size, logits_name, width):
    torch.manual_seed(0)
    model = make()
    x = images(size)
    layer = choose_layer(model, x)
    assert (layer.name, layer.side) == (logits_name, "input")
    features = representations(model, x)
    assert features.shape == (5, width)
    logits_module = dict(model.named_modules())[logits_name]
    with torch.no_grad():  # feeding the representation to the last layer gives the model's logits back
        torch.testing.assert_close(logits_module(features), model.eval()(x))
    assert features.shape[1] != model(x).shape[1]  # never the logits


def test_a_named_layer_is_its_output_flattened():
    torch.manual_seed(0)
    model = SmallCNN(image_size=8, width=4)
    x = images(8)
    features = representations(model, x, layer="features")
    torch.testing.assert_close(features, model.features(x).flatten(1))
    assert features.shape == (5, 8 * 2 * 2)


def test_penultimate_behind_a_functional_activation_and_a_wrapper():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(64, 12)
            self.out = nn.Linear(12, 3)

        def forward(self, x):
            return self.out(F.relu(self.body(x.flatten(1))))

    torch.manual_seed(0)
    model = nn.Sequential(nn.Identity(), Functional())
    x = images(8)
    layer = choose_layer(model, x)
    assert (layer.name, layer.side) == ("1.out", "input")
    torch.testing.assert_close(representations(model, x), F.relu(model[1].body(x.flatten(1))))


def test_a_trailing_log_softmax_is_passed_over():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.ReLU(), nn.Linear(12, 10), nn.LogSoftmax(1))
    layer = choose_layer(model, images(8))
    assert (layer.name, layer.side) == ("3", "input")
    assert representations(model, images(8)).shape == (5, 12)


def test_batches_give_the_same_rows_as_one_pass():
    torch.manual_seed(0)
    model = SmallCNN(image_size=8, width=4)
    x = images(8, 7)
    torch.testing.assert_close(representations(model, x, batch=3), representations(model, x, batch=100))


def test_eval_mode_no_grad_and_the_model_left_as_it_was():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.Dropout(0.9), nn.Linear(10, 4))
    model.train()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    x = images(8)
    first, second = representations(model, x), representations(model, x)
    torch.testing.assert_close(first, second)  # dropout off: eval mode
    assert not first.requires_grad
    assert model.training and all(module.training for module in model.modules())
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    assert not any(module._forward_hooks for module in model.modules())  # hooks removed


def test_unknown_layer_names_valid_ones():
    model = SmallCNN(image_size=8)
    with pytest.raises(AdvlabError, match=r"no layer 'head\.9'.*head\.3") as caught:
        representations(model, images(8), layer="head.9")
    assert "\n" not in str(caught.value)


def test_bad_images():
    with pytest.raises(AdvlabError, match="non-empty"):
        representations(SmallCNN(image_size=8), torch.zeros(0, 1, 8, 8))
