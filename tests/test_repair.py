"""Backdoor repair: fine-pruning (Liu et al. 2018) prunes the last convolution's least active channels within
the accuracy bound, keeps them pruned through fine-tuning and a state_dict round trip; Neural Cleanse unlearning
(Wang et al. 2019, sec. VI-C) stamps 20% of the clean rows with their labels kept. On the backdoored digits model
both bring the attack success below 20% with clean accuracy within 5 points; the model given is never modified."""

import pytest
import torch
from backdoored import backdoored_digits, trigger_mask, unchanged, weights
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.poisoning.detection import Detection
from advlab.poisoning.repair import fine_pruning, neural_cleanse_unlearning
from advlab.poisoning.repair import unlearning as unlearning_module
from advlab.poisoning.repair.fine_pruning import last_convolution, mean_activations
from advlab.poisoning.repair.unlearning import stamp_share


class NormNet(nn.Module):
    """conv BN ReLU conv BN ReLU, global average pool, linear: a last convolution followed by a BatchNorm."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3))

    def forward(self, images):
        return self.head(self.body(images))


def small_set(count: int = 48):
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(count, 1, 6, 6, generator=generator)
    return images, torch.randint(0, 3, (count,), generator=generator)


def norm_net() -> NormNet:
    torch.manual_seed(0)
    model = NormNet()
    with torch.no_grad():  # distinct batch-norm statistics, so a pruned channel's zero really comes from the zeros
        model.body[4].running_mean.uniform_(-0.5, 0.5)
        model.body[4].bias.uniform_(0.2, 0.5)
    return model.eval()


def test_the_last_convolution_and_its_batch_norm():
    model = norm_net()
    images, _ = small_set()
    name, convolution, norm = last_convolution(model, images)
    assert name == "body.3" and convolution is model.body[3] and norm is model.body[4]
    assert last_convolution(model, images, "body.0")[0] == "body.0"
    with pytest.raises(AdvlabError, match="a Linear"):
        last_convolution(model, images, "head.2")
    with pytest.raises(AdvlabError, match="needs a convolutional layer"):
        fine_pruning(nn.Sequential(nn.Flatten(), nn.Linear(36, 3)), images, torch.zeros(48, dtype=torch.int64))


def test_channels_pruned_in_increasing_mean_activation_and_stay_pruned():
    model = norm_net()
    before = weights(model)
    images, labels = small_set()
    activations = mean_activations(model, model.body[3], images)
    repaired, record = fine_pruning(model, images, labels, max_accuracy_drop=1.0, epochs=2, batch=16)
    assert record["pruned"] == activations.argsort(stable=True).tolist()  # a bound of 1 lets every channel go
    assert record["layer"] == "body.3" and record["channels"] == 6 and record["pruned_share"] == 1.0
    assert unchanged(model, before)
    pruned = torch.tensor(record["pruned"])
    for tensor in (repaired.body[3].weight, repaired.body[3].bias, repaired.body[4].weight, repaired.body[4].bias):
        assert bool((tensor[pruned] == 0).all())  # still zero after fine-tuning
    fresh = NormNet()
    fresh.load_state_dict(repaired.state_dict())  # zeros live in the state_dict
    with torch.no_grad():
        assert bool((fresh.eval().body[:5](images)[:, pruned] == 0).all())


def test_pruning_stops_at_the_accuracy_bound():
    model = norm_net()
    images, labels = small_set()
    _, record = fine_pruning(model, images, labels, max_accuracy_drop=0.05, epochs=0)
    assert record["accuracy_pruned"] >= record["accuracy_before"] - 0.05
    curve, kept = record["accuracy_curve"], len(record["pruned"])
    assert all(value >= record["accuracy_before"] - 0.05 for value in curve[:kept])
    if kept < 6:  # the channel that broke the bound was put back
        assert curve[kept] < record["accuracy_before"] - 0.05


def test_stamp_share_keeps_labels_and_stamps_a_fifth():
    images = torch.zeros(50, 1, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[0, 0, 0, 0] = 1
    stamped, rows = stamp_share(images, mask, torch.ones(1, 1, 4, 4), 0.2, seed=0)
    assert len(rows) == 10 and len(set(rows.tolist())) == 10
    changed = (stamped != images).flatten(1).any(1)
    assert changed.nonzero().flatten().tolist() == rows.tolist()
    assert bool((stamped[rows, 0, 0, 0] == 1).all()) and float(stamped.sum()) == 10


def test_unlearning_with_nothing_flagged_returns_an_unchanged_copy(monkeypatch):
    model = norm_net()
    images, labels = small_set()
    empty = Detection("neural-cleanse", "classes", [], 3, torch.zeros(3), 2.0,
                      {"flagged_classes": [], "masks": torch.zeros(3, 1, 6, 6), "patterns": torch.zeros(3, 1, 6, 6)})
    monkeypatch.setattr(unlearning_module, "neural_cleanse", lambda *args, **kwargs: empty)
    repaired, record = neural_cleanse_unlearning(model, images, labels)
    assert record["unlearned"] is False and record["flagged_classes"] == []
    assert repaired is not model and unchanged(repaired, weights(model))


def test_unlearning_bad_triggers():
    model = norm_net()
    images, labels = small_set()
    for options, words in [({"mask": torch.zeros(1, 6, 6)}, "both"),
                           ({"mask": torch.zeros(1, 5, 5), "pattern": torch.zeros(1, 5, 5)}, "mask must be"),
                           ({"mask": torch.zeros(1, 6, 6), "pattern": torch.zeros(3, 6, 6)}, "pattern must be"),
                           ({"mask": torch.full((1, 6, 6), 2.0), "pattern": torch.zeros(1, 6, 6)}, r"\[0, 1\]"),
                           ({"mask": torch.zeros(1, 6, 6), "pattern": torch.zeros(1, 6, 6), "stamped_share": 0},
                            "stamped_share")]:
        with pytest.raises(AdvlabError, match=words):
            neural_cleanse_unlearning(model, images, labels, **options)


def test_fine_pruning_removes_the_digits_backdoor():
    victim = backdoored_digits()
    before = weights(victim.model)
    accuracy, success = victim.accuracy(), victim.attack_success()
    repaired, record = fine_pruning(victim.model, victim.clean_images, victim.clean_labels)
    assert record["pruned"] and record["accuracy_pruned"] >= record["accuracy_before"] - 0.04
    assert victim.attack_success(repaired) < 0.2 <= success
    assert victim.accuracy(repaired) >= accuracy - 0.05
    assert unchanged(victim.model, before) and victim.attack_success() == success


def test_unlearning_the_true_trigger_beats_plain_fine_tuning():
    """The backdoor's own trigger as the 'reversed' one: unlearning removes the backdoor, while the same
    fine-tuning with an empty mask (stamps that change nothing) leaves most of it."""
    victim = backdoored_digits()
    mask = trigger_mask().float()[None]
    pattern = torch.zeros(1, 16, 16)
    pattern[0, -3:, -3:] = torch.tensor([[1.0, 0, 1], [0, 1, 0], [1, 0, 1]])
    repaired, record = neural_cleanse_unlearning(victim.model, victim.clean_images, victim.clean_labels,
                                                 mask=mask, pattern=pattern)
    plain, _ = neural_cleanse_unlearning(victim.model, victim.clean_images, victim.clean_labels,
                                         mask=torch.zeros(1, 16, 16), pattern=pattern)
    assert record["unlearned"] and record["triggers"] == 1 and len(record["stamped"]) == round(0.2 * 270)
    assert victim.attack_success(repaired) < 0.2 < victim.attack_success(plain)
    assert victim.accuracy(repaired) >= victim.accuracy() - 0.05


@pytest.mark.slow
def test_neural_cleanse_unlearning_removes_the_digits_backdoor():
    victim = backdoored_digits()
    before = weights(victim.model)
    repaired, record = neural_cleanse_unlearning(victim.model, victim.clean_images, victim.clean_labels)
    assert record["flagged_classes"] == [0] and record["unlearned"]
    assert victim.attack_success(repaired) < 0.2
    assert victim.accuracy(repaired) >= victim.accuracy() - 0.05
    assert unchanged(victim.model, before)
