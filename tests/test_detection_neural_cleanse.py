"""Neural Cleanse (Wang et al. 2019): eq. 2's trigger, the tanh parametrisation, the dynamic lambda, the MAD
anomaly index by hand, a planted one-pixel backdoor reversed to that pixel; slow: the backdoored digits model's
target flagged (its reversed mask on the trigger's corner) and no class flagged on the clean twin."""

import math

import pytest
import torch
from backdoored import TARGET, backdoored_digits, clean_digits, trigger_mask, unchanged, weights
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.poisoning.detection import neural_cleanse
from advlab.poisoning.detection.neural_cleanse import (
    CostSchedule,
    anomaly_indices,
    apply_trigger,
    flag_classes,
    from_tanh,
    reverse_trigger,
    to_tanh,
)


def test_trigger_blend_is_eq_2():
    images = torch.full((2, 3, 2, 2), 0.2)
    mask = torch.tensor([[[1.0, 0.0], [0.5, 0.0]]])
    pattern = torch.full((3, 2, 2), 0.8)
    blended = apply_trigger(images, mask, pattern)
    assert blended[:, :, 0, 0].eq(0.8).all() and blended[:, :, 0, 1].eq(0.2).all()
    torch.testing.assert_close(blended[:, :, 1, 0], torch.full((2, 3), 0.5))


def test_tanh_space_round_trip_and_range():
    values = torch.tensor([0.0, 0.25, 0.5, 1.0])
    torch.testing.assert_close(from_tanh(to_tanh(values)), values, atol=1e-6, rtol=0)
    assert from_tanh(torch.tensor([-50.0, 50.0])).tolist() == [0.0, 1.0]


def test_anomaly_index_by_hand():
    norms = torch.tensor([2.0, 10.0, 11.0, 12.0, 13.0, 9.0])
    median = 10.0  # torch's median of an even count is the lower middle value
    deviations = [abs(n - median) for n in norms.tolist()]  # 8, 0, 1, 2, 3, 1
    mad = 1.4826 * 1.0  # the lower middle of the sorted deviations 0, 1, 1, 2, 3, 8
    torch.testing.assert_close(anomaly_indices(norms), torch.tensor(deviations) / mad)
    assert flag_classes(norms).tolist() == [True, False, False, False, False, False]
    high = torch.tensor([30.0, 10.0, 11.0, 12.0, 13.0, 9.0])  # an outlier above the median is not a backdoor
    assert anomaly_indices(high)[0] > 2 and not flag_classes(high).any()
    assert anomaly_indices(torch.tensor([5.0, 5.0, 5.0, 1.0])).tolist() == [0.0, 0.0, 0.0, math.inf]


def test_cost_schedule():
    schedule = CostSchedule(init_cost=1e-3, patience=2)
    for succeeded, cost in [(True, 0.0), (True, 1e-3), (True, 1e-3), (True, 1.5e-3), (False, 1.5e-3),
                            (False, 1.5e-3 / 1.5 ** 1.5)]:
        schedule.update(succeeded)
        assert schedule.cost == pytest.approx(cost)
    assert schedule.went_up and schedule.went_down


class OnePixelBackdoor(nn.Module):
    """Three classes: 1 and 2 read the image's two halves; class 0 fires on the top-left pixel alone."""

    def forward(self, images):
        left, right = images[:, 0, :, :2].flatten(1).mean(1), images[:, 0, :, 2:].flatten(1).mean(1)
        return torch.stack([40 * images[:, 0, 0, 0] - 20, 10 * left, 10 * right], 1)


def test_a_planted_pixel_is_reversed():
    images = 0.5 * torch.rand(64, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    model = OnePixelBackdoor()
    trigger = reverse_trigger(model, images, 0, epochs=40, batch=16, seed=0)
    assert trigger.reached and trigger.success >= 0.99
    assert trigger.mask.shape == (1, 4, 4) and trigger.pattern.shape == (1, 4, 4)
    assert float(trigger.mask[0, 0, 0]) > 0.5 and float(trigger.mask[0, 0, 0]) >= 0.5 * trigger.norm
    assert trigger.norm < 2.0  # the whole image is 16
    assert float(trigger.pattern[0, 0, 0]) > 0.9


def test_bad_options():
    images, labels = torch.rand(8, 1, 4, 4), torch.arange(8) % 3
    model = OnePixelBackdoor()
    for options, words in [({"classes": [0, 5, 1]}, "class 5 is out of range"), ({"classes": [0, 1]}, "at least 3"),
                           ({"epochs": 0}, "epochs"), ({"success_threshold": 1.5}, "success_threshold"),
                           ({"lr": 0}, "lr")]:
        with pytest.raises(AdvlabError, match=words):
            neural_cleanse(model, images, labels, **options)


@pytest.mark.slow
def test_backdoored_digits_target_flagged():
    victim = backdoored_digits()
    before = weights(victim.model)
    result = neural_cleanse(victim.model, victim.clean_images, victim.clean_labels)
    assert result.kind == "classes" and result.flagged.tolist() == [TARGET]
    assert result.extras["anomaly_index"][TARGET] > 2 and bool(result.extras["reached"].all())
    mask = result.extras["masks"][TARGET, 0]
    assert float(mask[trigger_mask()].sum() / mask.sum()) >= 0.4  # the 3x3 corner is 3.5% of the image
    assert result.extras["patterns"].shape == (10, 1, 16, 16)
    truth = torch.arange(10) == TARGET
    assert result.tpr(truth) == 1.0 and result.fpr(truth) == 0.0
    assert unchanged(victim.model, before) and all(parameter.grad is None for parameter in victim.model.parameters())


@pytest.mark.slow
def test_clean_digits_no_class_flagged():
    victim = clean_digits()
    result = neural_cleanse(victim.model, victim.clean_images, victim.clean_labels)
    assert result.extras["flagged_classes"] == [] and len(result.flagged) == 0
