"""The shared attack machinery: input checks, eval mode, devices, masks, eps sweeps, results."""

import pytest
import torch
from torch import nn

from advlab import AdvlabError
from advlab.attacks import ATTACKS, FGSM, PGD, QueryCounter, make_attack
from advlab.attacks.base import RANGE_TOLERANCE, check_mask
from advlab.attacks.results import AttackResult
from advlab.core.modes import evaluating
from advlab.models import Normalize


def linear_model(features: int = 4, classes: int = 3, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(features, classes))


def batch(n: int = 5, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 2, 2, generator=generator), torch.randint(3, (n,), generator=generator)


# ---------------------------------------------------------------- bad input: one clear error each


@pytest.mark.parametrize("images, message", [
    ([[0.5]], "must be a torch.Tensor"),
    (torch.zeros(5, 1, 2, 2, dtype=torch.int64), "float tensor"),
    (torch.zeros(4), "batch"),
    (torch.zeros(0, 1, 2, 2), "N >= 1"),
    (torch.full((5, 1, 2, 2), 1.01), "must lie in [0, 1]"),
    (torch.full((5, 1, 2, 2), -0.5), "must lie in [0, 1]"),
    (torch.full((5, 1, 2, 2), float("nan")), "NaN"),
])
def test_bad_images_are_refused(images, message):
    _, labels = batch()
    with pytest.raises(AdvlabError, match=message.replace("[", r"\[").replace("]", r"\]")):
        FGSM(linear_model(), eps=0.1)(images, labels)


def test_float_rounding_outside_the_box_is_accepted_and_clamped():
    images, labels = batch()
    images[0, 0, 0, 0] = 1 + RANGE_TOLERANCE / 2
    images[1, 0, 0, 0] = -RANGE_TOLERANCE / 2
    adversarial = FGSM(linear_model(), eps=0.0)(images, labels)
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert adversarial[0, 0, 0, 0] == 1 and adversarial[1, 0, 0, 0] == 0


@pytest.mark.parametrize("labels, message", [
    (torch.tensor([0, 1, 2, 0]), r"shape \(5,\)"),
    (torch.tensor([0.0, 1, 2, 0, 1]), "integer class indices"),
    (torch.tensor([0, 1, 2, 3, 1]), r"labels must lie in \[0, 2\]"),
    (torch.tensor([0, 1, 2, -1, 1]), r"labels must lie in \[0, 2\]"),
])
def test_bad_labels_are_refused(labels, message):
    images, _ = batch()
    with pytest.raises(AdvlabError, match=message):
        FGSM(linear_model(), eps=0.1)(images, labels)


def test_labels_may_be_a_list():
    images, labels = batch()
    assert torch.equal(FGSM(linear_model(), eps=0.1)(images, labels.tolist()),
                       FGSM(linear_model(), eps=0.1)(images, labels))


@pytest.mark.parametrize("model, message", [
    (nn.Sequential(nn.Flatten(), nn.Linear(4, 1)), "at least 2 classes"),
    (nn.Flatten(0), r"logits of shape \(N, classes\)"),
    (nn.Sequential(nn.Flatten(), nn.Linear(7, 3)), "the model failed on images"),
])
def test_models_with_the_wrong_output_are_refused(model, message):
    images, labels = batch()
    with pytest.raises(AdvlabError, match=message):
        FGSM(model, eps=0.1)(images, torch.zeros_like(labels))


def test_a_non_module_is_refused():
    with pytest.raises(AdvlabError, match="torch.nn.Module"):
        PGD(lambda x: x, eps=0.1)


@pytest.mark.parametrize("options, message", [
    ({"eps": -0.1}, "eps must be a number >= 0"),
    ({"eps": []}, "empty list"),
    ({"eps": [0.1, -1]}, "eps must be a number >= 0"),
    ({"eps": float("nan")}, "eps must be a number"),
    ({"steps": -1}, "steps must be an integer >= 0"),
    ({"restarts": 0}, "restarts must be an integer >= 1"),
    ({"alpha": -0.01}, "alpha must be a number >= 0"),
    ({"norm": "l1"}, "unknown norm 'l1'; valid norms are: linf, l2"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(AdvlabError, match=message):
        PGD(linear_model(), **options)


def test_unknown_attack_names_the_valid_ones():
    with pytest.raises(AdvlabError, match="unknown attack 'pgdd'; valid attacks are: .*pgd"):
        make_attack("pgdd", linear_model())
    assert isinstance(make_attack("pgd", linear_model(), eps=0.2), PGD)
    assert {"fgsm", "bim", "pgd"} <= set(ATTACKS)


@pytest.mark.parametrize("shape", [(2, 2), (1, 2, 2), (1, 1, 2, 2), (5, 1, 2, 2), (5, 1, 1, 2)])
def test_masks_that_broadcast_are_accepted(shape):
    images, _ = batch()
    assert check_mask(torch.ones(shape), images, "t").shape == images.shape


@pytest.mark.parametrize("mask, message", [
    (torch.ones(3, 3), "does not fit images of shape"),
    (torch.ones(4, 1, 2, 2), "does not fit images of shape"),
    (torch.full((2, 2), 0.5), "only 0 .keep. and 1"),
    ([[1, 0], [0, 1]], "must be a torch.Tensor"),
])
def test_bad_masks_are_refused(mask, message):
    images, labels = batch()
    with pytest.raises(AdvlabError, match=message):
        PGD(linear_model(), eps=0.1)(images, labels, mask=mask)


def test_run_needs_targets_exactly_when_targeted():
    images, labels = batch()
    with pytest.raises(AdvlabError, match="needs target labels"):
        PGD(linear_model(), targeted=True).run(images, labels)
    with pytest.raises(AdvlabError, match="untargeted attack"):
        PGD(linear_model()).run(images, labels, targets=labels)
    with pytest.raises(AdvlabError, match=r"targets must lie in \[0, 2\]"):
        PGD(linear_model(), targeted=True).run(images, labels, targets=labels + 3)


# ---------------------------------------------------------------- model mode, devices, autograd


class ModeRecorder(nn.Module):
    """Records its own training flag at every forward."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.Dropout(0.5))
        self.seen = []

    def forward(self, x):
        self.seen.append(self.training)
        return self.net(x)


def test_the_model_is_attacked_in_eval_mode_and_each_submodule_gets_its_mode_back():
    model = ModeRecorder()
    model.train()
    model.net[2].eval()  # a user froze this one on purpose
    images, labels = batch()
    PGD(model, eps=0.1, steps=3)(images, labels)
    assert model.seen and not any(model.seen)
    assert model.training and model.net[0].training and not model.net[2].training


def test_evaluating_restores_modes_after_an_error():
    model = ModeRecorder().train()
    with pytest.raises(RuntimeError), evaluating(model):
        raise RuntimeError("boom")
    assert model.training and model.net[2].training


def test_attacks_work_inside_no_grad_and_leave_parameters_without_grad():
    model = linear_model()
    images, labels = batch()
    with torch.no_grad():
        adversarial = PGD(model, eps=0.2, steps=5, seed=0)(images, labels)
    assert not torch.equal(adversarial, images)
    assert all(p.grad is None for p in model.parameters())


def test_the_result_comes_back_on_the_callers_device_and_dtype():
    images, labels = batch()
    adversarial = PGD(linear_model(), eps=0.1, steps=2, seed=0)(images, labels)
    assert adversarial.device == images.device and adversarial.dtype == images.dtype
    assert adversarial.shape == images.shape


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_a_cuda_model_attacks_cpu_images_on_the_gpu():
    model = linear_model().cuda()
    images, labels = batch()
    adversarial = PGD(model, eps=0.1, steps=2, seed=0)(images, labels)
    assert adversarial.device.type == "cpu"


# ---------------------------------------------------------------- eps sweeps, results, queries


def test_an_eps_sweep_gives_one_result_per_eps_from_one_clean_pass():
    model = QueryCounter(linear_model())
    images, labels = batch()
    sweep = FGSM(model, eps=[0.0, 0.1, 0.2])(images, labels)
    assert isinstance(sweep, list) and len(sweep) == 3
    assert model.calls == 1 + 3  # one clean pass, one gradient per eps
    for eps, adversarial in zip([0.0, 0.1, 0.2], sweep):
        assert torch.equal(adversarial, FGSM(linear_model(), eps=eps)(images, labels))


def test_results_carry_predictions_norms_and_time():
    images, labels = batch(20)
    model = linear_model()
    results = FGSM(model, eps=[0.05, 0.3]).run(images, labels)
    assert [r.eps for r in results] == [0.05, 0.3]
    for result in results:
        assert isinstance(result, AttackResult)
        assert torch.equal(result.clean_pred, model(images).argmax(1))
        assert torch.equal(result.adv_pred, model(result.adversarial).argmax(1))
        assert result.seconds > 0 and result.queries is None


def test_summary_figures_are_computed_as_defined():
    clean = torch.zeros(4, 1, 1, 2)
    adversarial = clean.clone()
    adversarial[0, 0, 0] = torch.tensor([0.3, 0.4])  # success: Linf 0.4, L2 0.5
    adversarial[1, 0, 0] = torch.tensor([0.1, 0.0])  # failure
    adversarial[2, 0, 0] = torch.tensor([0.6, 0.8])  # success: Linf 0.8, L2 1.0
    result = AttackResult(
        attack="x", eps=None, norm=None, targeted=False, clean=clean, adversarial=adversarial,
        labels=torch.tensor([0, 0, 0, 0]), targets=None,
        clean_pred=torch.tensor([0, 0, 0, 1]),  # image 3 is wrong to begin with
        adv_pred=torch.tensor([1, 0, 2, 1]), queries=torch.tensor([3, 10, 5, 1]), seconds=1.5)
    row = result.summary()
    assert row["clean_accuracy"] == 0.75
    assert row["robust_accuracy"] == 0.25
    assert row["success_rate"] == pytest.approx(2 / 3)
    assert row["linf_median"] == pytest.approx(0.6) and row["linf_mean"] == pytest.approx(0.6)
    assert row["l2_median"] == pytest.approx(0.75) and row["l2_mean"] == pytest.approx(0.75)
    assert row["queries_median"] == 4 and row["queries_mean"] == 4 and row["queries_max"] == 10
    assert row["seconds"] == 1.5


def test_targeted_summary_counts_the_target_class():
    clean = torch.zeros(3, 1, 1, 1)
    result = AttackResult(
        attack="x", eps=0.1, norm="linf", targeted=True, clean=clean, adversarial=clean + 0.1,
        labels=torch.tensor([0, 1, 2]), targets=torch.tensor([1, 1, 0]),  # image 1's target is its class
        clean_pred=torch.tensor([0, 1, 2]), adv_pred=torch.tensor([1, 1, 1]), queries=None, seconds=0.1)
    row = result.summary()
    assert row["success_rate"] == 0.5  # image 0 reached its target, image 2 did not
    assert row["robust_accuracy"] == pytest.approx(1 / 3)


def test_an_image_wrong_before_the_attack_is_never_robust():
    """A misclassified image that the perturbation happens to move onto its true class still counts as not robust
    (the module docstring's definition, as robustness.json and AutoAttack count it)."""
    clean = torch.zeros(3, 1, 1, 1)
    result = AttackResult(
        attack="x", eps=0.1, norm="linf", targeted=False, clean=clean, adversarial=clean + 0.1,
        labels=torch.tensor([0, 1, 2]), targets=None,
        clean_pred=torch.tensor([0, 0, 2]),  # image 1 is wrong to begin with
        adv_pred=torch.tensor([0, 1, 1]),  # image 0 survives, image 1 moves onto its class, image 2 is broken
        queries=None, seconds=0.1)
    assert result.summary()["robust_accuracy"] == pytest.approx(1 / 3)


def test_query_counter_counts_calls_and_images_and_enforces_a_budget():
    counter = QueryCounter(linear_model(), budget=12)
    images, _ = batch()
    counter(images)
    counter(images[:3])
    assert (counter.calls, counter.queries) == (2, 8)
    with pytest.raises(AdvlabError, match="query budget exceeded: 8 \\+ 5 > 12"):
        counter(images)
    assert counter.queries == 8
    counter.reset()
    assert (counter.calls, counter.queries) == (0, 0)


def test_normalize_standardises_per_channel_and_checks_its_arguments():
    layer = Normalize(mean=[0.5, 0.25], std=[0.5, 0.25])
    x = torch.rand(3, 2, 4, 4)
    expected = torch.stack([(x[:, 0] - 0.5) / 0.5, (x[:, 1] - 0.25) / 0.25], 1)
    assert torch.allclose(layer(x), expected)
    assert torch.allclose(Normalize(0.5, 2.0)(x), (x - 0.5) / 2)
    with pytest.raises(AdvlabError, match="std must be positive"):
        Normalize(0.5, 0.0)
    with pytest.raises(AdvlabError, match="one per channel"):
        Normalize([0.1, 0.2], [0.1, 0.2, 0.3])
    assert "mean" in dict(layer.named_buffers())  # moves with .to(device), saved in state_dict
