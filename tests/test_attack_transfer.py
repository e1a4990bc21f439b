"""Transfer: examples crafted on a surrogate (or an ensemble of them) fool the victim, which is only queried for its
clean pass; any registered white-box attack on a budget runs on the surrogate."""

import pytest
import torch
from torch import nn
from victims import train_small_cnn

from advlab.attacks.apgd import APGD
from advlab.attacks.ensemble import Ensemble
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
    ({"surrogate": "runs/clf2"}, "surrogate"), ({"attack": "nope"}, "unknown white-box attack 'nope'; valid"),
    ({"attack": "cw"}, "'cw' cannot attack the surrogate: it is a minimum-norm attack"),
    ({"attack": "square"}, "'square' cannot attack the surrogate: it is a black-box attack"),
    ({"attack": "advgan"}, "'advgan' cannot attack the surrogate: it is an attack that learns"),
    ({"attack": "transfer"}, "black-box"), ({"attack": "fgsm", "steps": 5}, "fgsm takes no steps"),
    ({"attack": "apgd", "alpha": 0.1}, "apgd takes no alpha"),
    ({"attack": "bim", "norm": "l2"}, "BIM is an Linf attack"), ({"steps": 0}, "steps"), ({"alpha": 0.0}, "alpha"),
    ({"attack": "bim", "eps": 0.1, "alpha": 0.001, "steps": 3}, "transfer: bim: alpha"),
    ({"norm": "l1"}, "norm"), ({"eps": -1.0}, "eps"), ({"surrogate": []}, "non-empty list"),
    ({"surrogate": ["runs/a"]}, "model 0 of the ensemble must be a torch.nn.Module"),
    ({"weights": (1.0, 2.0)}, "one number per model \\(1\\), got 2"), ({"weights": (0.0,)}, "sum to 0"),
    ({"weights": (-1.0,)}, "weight 0 must be a number >= 0"), ({"fusion": "mean"}, "unknown fusion 'mean'"),
])
def test_bad_options_raise_one_clear_error(digits_cnn, digits_mlp, options, words):
    options = {"surrogate": digits_mlp.model, **options}
    with pytest.raises(AdvlabError, match=words):
        Transfer(digits_cnn.model, **options)


# ---------------------------------------------------------------------- any white-box attack


def test_any_registered_white_box_attack_runs_on_the_surrogate(digits_cnn, digits_mlp):
    images, labels = digits_cnn.images[:40], digits_cnn.labels[:40]
    transferred = Transfer(digits_cnn.model, digits_mlp.model, attack="apgd", eps=0.1, steps=8, seed=3)(images,
                                                                                                        labels)
    direct = APGD(digits_mlp.model, eps=0.1, steps=8, seed=3)(images, labels)
    assert torch.equal(transferred, direct)


def test_the_usable_attacks_are_read_from_the_registry(monkeypatch):
    from advlab.attacks import ATTACKS
    from advlab.attacks.transfer import white_box_attacks

    usable = white_box_attacks()
    assert {"fgsm", "bim", "pgd", "apgd"} <= set(usable)
    assert not {"cw", "deepfool", "square", "nes", "hopskipjump", "transfer", "advgan", "patch"} & set(usable)

    class Stepper(PGD):  # a newly registered white-box attack is picked up by name
        name = "stepper"

    monkeypatch.setitem(ATTACKS, "stepper", Stepper)
    assert "stepper" in white_box_attacks()
    attack = Transfer(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), nn.Sequential(nn.Flatten(), nn.Linear(64, 10)),
                      attack="stepper", eps=0.1, steps=2, alpha=0.05, norm="l2", seed=0)
    built = attack.white_box()
    assert isinstance(built, Stepper)
    assert (built.eps, built.steps, built.alpha, built.norm, built.seed) == (0.1, 2, 0.05, "l2", 0)


# ---------------------------------------------------------------------- the ensemble surrogate


def test_logits_fusion_is_the_weighted_sum_and_softmax_fusion_the_weighted_mean(digits_cnn, digits_mlp):
    images = digits_cnn.images[:30]
    with torch.no_grad():
        cnn, mlp = digits_cnn.model(images), digits_mlp.model(images)
        summed = Ensemble([digits_cnn.model, digits_mlp.model], weights=(3.0, 1.0))(images)
        averaged = Ensemble([digits_cnn.model, digits_mlp.model], weights=(3.0, 1.0), fusion="softmax")(images)
        equal = Ensemble([digits_cnn.model, digits_mlp.model])(images)
        alone = Ensemble([digits_cnn.model, digits_mlp.model], weights=(0.0, 2.0))(images)
    assert torch.allclose(summed, 0.75 * cnn + 0.25 * mlp, atol=1e-5)
    assert torch.allclose(equal, (cnn + mlp) / 2, atol=1e-5)
    assert torch.equal(alone, mlp)  # weight 0: the model is not run; weight 1: its logits exactly
    probabilities = 0.75 * cnn.softmax(1) + 0.25 * mlp.softmax(1)
    assert torch.allclose(averaged.softmax(1), probabilities, atol=1e-6)
    assert torch.allclose(averaged.exp().sum(1), torch.ones(30), atol=1e-5)  # log-probabilities


def test_a_list_of_surrogates_is_the_white_box_attack_on_their_fusion(digits_cnn, digits_mlp):
    images, labels = digits_cnn.images[:50], digits_cnn.labels[:50]
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[1:7] = True
    victim = QueryCounter(NoGradients(digits_cnn.model))
    surrogates = [digits_mlp.model, digits_cnn.model]
    for fusion in ("logits", "softmax"):
        result = Transfer(victim, surrogates, attack="pgd", eps=0.15, steps=6, fusion=fusion, weights=(2.0, 1.0),
                          seed=5).run(images, labels, mask=mask)[0]
        ensemble = Ensemble(surrogates, weights=(2.0, 1.0), fusion=fusion)
        direct = PGD(ensemble, eps=0.15, steps=6, seed=5)(images, labels, mask)
        assert torch.equal(result.adversarial, direct)
        assert torch.equal(result.queries, torch.ones(50, dtype=torch.int64))
        assert torch.equal(result.adversarial[:, :, [0, 7]], images[:, :, [0, 7]])
        assert float(result.norms(float("inf")).max()) <= 0.15 + 1e-6
    assert victim.queries == 2 * 2 * 50  # per fusion: the clean pass and run()'s measurement of the result
    single = Transfer(digits_cnn.model, [digits_mlp.model], attack="fgsm", eps=0.1)(images, labels)
    assert torch.equal(single, Transfer(digits_cnn.model, digits_mlp.model, attack="fgsm", eps=0.1)(images, labels))


@pytest.fixture(scope="module")
def small_cnn(digits_cnn):
    """A second, narrower CNN (another seed): a surrogate of another architecture than the MLP (0.4 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = train_small_cnn(digits_cnn.train_images, digits_cnn.train_labels, 10, seed=1, width=8, hidden=64)
    torch.set_num_threads(threads)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def test_an_ensemble_of_two_surrogates_transfers_better_than_either(digits_cnn, digits_mlp, small_cnn):
    images, labels = digits_cnn.images, digits_cnn.labels

    def robust(surrogate, fusion="logits"):
        accuracies = [Transfer(digits_cnn.model, surrogate, attack="pgd", eps=0.2, fusion=fusion, seed=seed)
                      .run(images, labels)[0].summary()["robust_accuracy"] for seed in range(3)]
        return sum(accuracies) / len(accuracies)

    # measured on the 360 held-out digits, PGD-10 at eps 0.2, seeds 0-2: MLP 0.283, small CNN 0.383, both fused by
    # logits 0.224, by softmax 0.301 (each seed alike within 0.04)
    mlp, cnn, fused = robust(digits_mlp.model), robust(small_cnn), robust([digits_mlp.model, small_cnn])
    assert fused < min(mlp, cnn) - 0.03, (mlp, cnn, fused)
    assert fused < robust([digits_mlp.model, small_cnn], "softmax") - 0.03  # Dong et al.: logits fuse best


def test_members_that_disagree_on_classes_are_refused(digits_cnn, digits_mlp):
    five = nn.Sequential(nn.Flatten(), nn.Linear(64, 5))
    attack = Transfer(digits_cnn.model, [digits_mlp.model, five], attack="fgsm", eps=0.1)
    with pytest.raises(AdvlabError, match="disagree on their output shapes"):
        attack(digits_cnn.images[:4], digits_cnn.labels[:4])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_surrogates_on_another_device_than_the_victim(digits_cnn, digits_mlp):
    import copy

    images, labels = digits_cnn.images[:40], digits_cnn.labels[:40]
    on_gpu = [copy.deepcopy(digits_mlp.model).cuda(), copy.deepcopy(digits_cnn.model).cuda()]
    mixed = [digits_mlp.model, copy.deepcopy(digits_cnn.model).cuda()]
    on_cpu = Transfer(digits_cnn.model, [digits_mlp.model, digits_cnn.model], attack="bim", eps=0.1)
    expected = on_cpu.run(images, labels)[0].summary()["robust_accuracy"]
    for surrogates in (on_gpu, mixed):
        result = Transfer(digits_cnn.model, surrogates, attack="bim", eps=0.1).run(images, labels)[0]
        assert result.adversarial.device.type == "cpu" and result.queries.device.type == "cpu"
        assert float(result.norms(float("inf")).max()) <= 0.1 + 1e-6
        # the same attack up to the GPU's float rounding (a sign of a tiny gradient may flip)
        assert abs(result.summary()["robust_accuracy"] - expected) <= 0.05
