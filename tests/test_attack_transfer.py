"""Transfer: examples crafted on a surrogate fool the victim, which is only queried for its clean pass."""

import pytest
import torch
from torch import nn

from advlab.attacks.pgd import PGD
from advlab.attacks.queries import QueryCounter
from advlab.attacks.transfer import Transfer
from advlab.core.errors import AdvlabError


class NoGradients(nn.Module):
    """A victim that refuses to be differentiated: it only answers queries."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images):
        if torch.is_grad_enabled() and images.requires_grad:
            raise AssertionError("the transfer attack asked the victim for a gradient")
        return self.model(images)


@pytest.mark.parametrize("attack", ["fgsm", "bim", "pgd"])
def test_mlp_examples_transfer_to_the_cnn(digits_cnn, digits_mlp, attack):
    images, labels = digits_cnn.images, digits_cnn.labels
    victim = QueryCounter(NoGradients(digits_cnn.model))
    result = Transfer(victim, digits_mlp.model, attack=attack, eps=0.3, seed=0).run(images, labels)[0]
    summary = result.summary()
    # measured: clean 0.99; robust 0.03 (FGSM), 0.01 (BIM, PGD)
    assert summary["clean_accuracy"] > 0.95
    assert summary["robust_accuracy"] < 0.2
    assert torch.equal(result.queries, torch.ones(len(images), dtype=torch.int64))
    assert victim.queries == 2 * len(images)  # the clean pass, and run()'s measurement of the result
    assert float(result.norms(float("inf")).max()) <= 0.3 + 1e-6


def test_it_is_the_white_box_attack_on_the_surrogate(digits_cnn, digits_mlp):
    images, labels = digits_cnn.images[:50], digits_cnn.labels[:50]
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[2:6] = True
    transferred = Transfer(digits_cnn.model, digits_mlp.model, attack="pgd", eps=0.2, steps=7, norm="l2",
                           seed=4)(images, labels, mask)
    direct = PGD(digits_mlp.model, eps=0.2, steps=7, norm="l2", seed=4)(images, labels, mask)
    assert torch.equal(transferred, direct)
    assert torch.equal(transferred[:, :, :2], images[:, :, :2])


def test_victim_robust_accuracy_falls_as_eps_grows(digits_cnn, digits_mlp):
    images, labels = digits_cnn.images[:120], digits_cnn.labels[:120]
    results = Transfer(digits_cnn.model, digits_mlp.model, attack="fgsm", eps=[0.05, 0.2, 0.3]).run(images, labels)
    accuracies = [result.summary()["robust_accuracy"] for result in results]
    assert accuracies[0] > accuracies[1] > accuracies[2]


def test_targeted_transfer(digits_cnn, digits_mlp):
    images, labels = digits_cnn.images[:100], digits_cnn.labels[:100]
    targets = (labels + 1) % 10
    attack = Transfer(digits_cnn.model, digits_mlp.model, attack="pgd", eps=0.3, steps=20, targeted=True, seed=0)
    result = attack.run(images, labels, targets)[0]
    with torch.no_grad():
        predicted = digits_cnn.model(result.adversarial).argmax(1)
    assert torch.equal(result.success, predicted == targets)
    assert result.success.double().mean() > 0.3


@pytest.mark.parametrize("options, words", [
    ({"surrogate": "runs/clf2"}, "surrogate"), ({"attack": "cw"}, "unknown white-box attack"),
    ({"attack": "bim", "norm": "l2"}, "BIM"), ({"steps": 0}, "steps"), ({"alpha": 0.0}, "alpha"),
    ({"norm": "l1"}, "norm"), ({"eps": -1.0}, "eps"),
])
def test_bad_options_raise_one_clear_error(digits_cnn, digits_mlp, options, words):
    options = {"surrogate": digits_mlp.model, **options}
    with pytest.raises(AdvlabError, match=words):
        Transfer(digits_cnn.model, **options)
