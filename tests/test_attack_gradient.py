"""FGSM, BIM and PGD: hand-computed steps on a linear model, and the invariants on digits."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advlab.attacks import BIM, FGSM, PGD, Transfer
from advlab.attacks.bim import kurakin_alpha, kurakin_steps
from advlab.core.errors import AdvlabError

TOL = 1e-6


def linear_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(6, 3)).double()


def linear_batch(n: int = 8, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    images = 0.2 + 0.6 * torch.rand(n, 1, 2, 3, generator=generator, dtype=torch.float64)
    return images, torch.randint(3, (n,), generator=generator)


def ce_gradient(model: nn.Sequential, images, labels):
    """d CE / d x for z = W x + b, by hand: W^T (softmax(z) - onehot(y))."""
    linear = model[1]
    z = images.flatten(1) @ linear.weight.T + linear.bias
    residual = F.softmax(z, 1) - F.one_hot(labels, 3).double()
    return (residual @ linear.weight).view_as(images)


def test_fgsm_is_one_signed_gradient_step():
    model, (images, labels) = linear_model(), linear_batch()
    expected = (images + 0.1 * ce_gradient(model, images, labels).sign()).clamp(0, 1)
    assert torch.allclose(FGSM(model, eps=0.1)(images, labels), expected, atol=1e-12)


def test_targeted_fgsm_steps_down_the_targets_loss():
    model, (images, labels) = linear_model(), linear_batch()
    targets = (labels + 1) % 3
    expected = (images - 0.1 * ce_gradient(model, images, targets).sign()).clamp(0, 1)
    assert torch.allclose(FGSM(model, eps=0.1, targeted=True)(images, targets), expected, atol=1e-12)


def test_fgsm_l2_steps_along_the_normalised_gradient():
    model, (images, labels) = linear_model(), linear_batch()
    grad = ce_gradient(model, images, labels)
    step = 0.05 * grad / grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    assert torch.allclose(FGSM(model, eps=0.05, norm="l2")(images, labels), images + step, atol=1e-12)


def test_two_pgd_steps_from_the_image_by_hand():
    model, (images, labels) = linear_model(), linear_batch()
    eps, alpha = 0.05, 0.03
    x = images
    for _ in range(2):
        x = x + alpha * ce_gradient(model, x, labels).sign()
        x = torch.min(torch.max(x, images - eps), images + eps).clamp(0, 1)
    attack = PGD(model, eps=eps, alpha=alpha, steps=2, random_start=False)
    assert torch.allclose(attack(images, labels), x, atol=1e-12)


def test_pgd_l2_step_projects_onto_the_ball():
    model, (images, labels) = linear_model(), linear_batch()
    eps, alpha = 0.05, 0.2  # one step overshoots the ball: the projection rescales it to eps
    grad = ce_gradient(model, images, labels)
    step = alpha * grad / grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    expected = images + step * eps / alpha
    attack = PGD(model, eps=eps, alpha=alpha, steps=1, norm="l2", random_start=False)
    assert torch.allclose(attack(images, labels), expected, atol=1e-12)


def test_bim_uses_kurakins_step_rule_and_is_pgd_without_random_start():
    assert kurakin_steps(16 / 255) == 20  # min(16 + 4, 1.25 * 16)
    assert kurakin_steps(4 / 255) == 5  # min(8, 5)
    assert kurakin_steps(0.0) == 1
    model, (images, labels) = linear_model(), linear_batch()
    bim = BIM(model, eps=8 / 255)
    assert bim.step_size() == 1 / 255
    pgd = PGD(model, eps=8 / 255, alpha=1 / 255, steps=10, random_start=False)
    assert torch.equal(bim(images, labels), pgd(images, labels))
    assert BIM(model, eps=0.1, steps=3).iterations() == 3


def test_bim_with_given_steps_reaches_the_edge_of_its_ball():
    """BIM(eps 0.3, steps 10) used to keep 1/255 per step: no pixel could move past 10/255 = 0.039 while the
    result was reported at eps 0.3 (failed before the fix: 0.0392 < 0.29)."""
    model, (images, labels) = linear_model(), linear_batch()
    adversarial = BIM(model, eps=0.3, steps=10)(images, labels)
    assert (adversarial - images).abs().max() >= 0.29
    assert (adversarial - images).abs().max() <= 0.3 + 1e-6
    lists = BIM(model, eps=[0.1, 0.3], steps=10)(images, labels)
    assert [float((x - images).abs().max()) for x in lists] == pytest.approx([0.1, 0.3], abs=0.01)


def test_bim_refuses_a_step_that_cannot_reach_eps():
    model = linear_model()
    with pytest.raises(AdvlabError, match=r"bim: alpha 0.00392157 x 10 steps moves a pixel at most 0.03922, less "
                                          r"than eps 0.3"):
        BIM(model, eps=0.3, alpha=1 / 255, steps=10)
    with pytest.raises(AdvlabError, match="less than eps 0.3"):
        BIM(model, eps=[0.01, 0.3], alpha=0.01, steps=10)  # every eps of a list is checked
    BIM(model, eps=0.3, alpha=0.03, steps=10)  # exactly reaches it: allowed


def test_transfer_with_bim_spreads_the_distance_too(digits_mlp, digits_cnn):
    images, labels = digits_cnn.images[:20], digits_cnn.labels[:20]
    attack = Transfer(digits_cnn.model, digits_mlp.model, attack="bim", eps=0.3, steps=10)
    assert float((attack(images, labels) - images).abs().max()) >= 0.29


def test_kurakin_alpha_spreads_the_papers_distance_over_the_given_steps():
    assert kurakin_alpha(16 / 255, 20) == pytest.approx(1 / 255)  # the paper's own step count: its 1/255
    assert kurakin_alpha(0.3, 20) == pytest.approx(81 / 255 / 20)  # min(76.5 + 4, 95.6) -> 81 steps' worth
    assert 20 * kurakin_alpha(0.3, 20) >= 0.3  # fewer steps still reach the edge of the ball


def test_pgd_without_steps_or_start_returns_the_image_and_eps_zero_changes_nothing():
    model, (images, labels) = linear_model(), linear_batch()
    assert torch.equal(PGD(model, eps=0.3, steps=0, random_start=False)(images, labels), images)
    assert torch.equal(PGD(model, eps=0.0, steps=5, seed=0)(images, labels), images)


def test_default_step_is_two_and_a_half_eps_over_steps():
    attack = PGD(linear_model(), eps=0.1, steps=40)
    attack.eps = 0.1
    assert attack.step_size() == pytest.approx(2.5 * 0.1 / 40)


def test_the_same_seed_gives_the_same_examples_and_another_seed_others(digits_cnn):
    images, labels = digits_cnn.images[:32], digits_cnn.labels[:32]
    first = PGD(digits_cnn.model, eps=0.1, steps=3, seed=7)(images, labels)
    assert torch.equal(first, PGD(digits_cnn.model, eps=0.1, steps=3, seed=7)(images, labels))
    assert not torch.equal(first, PGD(digits_cnn.model, eps=0.1, steps=3, seed=8)(images, labels))


# ---------------------------------------------------------------- invariants on the digits victim


LINF_ATTACKS = {
    "fgsm": lambda m, eps: FGSM(m, eps=eps),
    "bim": lambda m, eps: BIM(m, eps=eps),  # the paper's 30 steps of 1/255 for eps 0.1
    "pgd": lambda m, eps: PGD(m, eps=eps, steps=10, seed=0),
    "pgd-restarts": lambda m, eps: PGD(m, eps=eps, steps=5, restarts=3, seed=0),
}


@pytest.mark.parametrize("name", LINF_ATTACKS)
def test_linf_attacks_stay_in_the_ball_and_the_box(digits_cnn, name):
    images, labels = digits_cnn.images, digits_cnn.labels
    adversarial = LINF_ATTACKS[name](digits_cnn.model, 0.1)(images, labels)
    assert (adversarial - images).abs().max() <= 0.1 + TOL
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert (adversarial - images).abs().max() > 0.1 - TOL  # it did move, as far as allowed


@pytest.mark.parametrize("norm_eps", [0.5, 1.5])
def test_pgd_l2_stays_in_the_ball_and_the_box(digits_cnn, norm_eps):
    images, labels = digits_cnn.images, digits_cnn.labels
    adversarial = PGD(digits_cnn.model, eps=norm_eps, steps=10, norm="l2", restarts=2, seed=0)(images, labels)
    norms = (adversarial - images).flatten(1).norm(dim=1)
    assert norms.max() <= norm_eps * (1 + 1e-5)
    assert adversarial.min() >= 0 and adversarial.max() <= 1


@pytest.mark.parametrize("norm, eps", [("linf", 0.3), ("l2", 2.0)])
def test_a_masked_attack_changes_no_pixel_outside_its_mask(digits_cnn, norm, eps):
    images, labels = digits_cnn.images, digits_cnn.labels
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[2:6, 2:6] = True
    adversarial = PGD(digits_cnn.model, eps=eps, steps=10, norm=norm, seed=0)(images, labels, mask=mask)
    assert torch.equal(adversarial[..., ~mask], images[..., ~mask])
    assert (adversarial - images)[..., mask].abs().sum() > 0


def test_a_per_image_mask_is_honoured(digits_cnn):
    images, labels = digits_cnn.images[:20], digits_cnn.labels[:20]
    mask = torch.zeros(20, 1, 8, 8)
    mask[:10, :, :, :4] = 1  # the first ten may change their left half, the rest nothing
    adversarial = FGSM(digits_cnn.model, eps=0.3)(images, labels, mask=mask)
    assert torch.equal(adversarial[10:], images[10:])
    assert torch.equal(adversarial[:10, ..., 4:], images[:10, ..., 4:])


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_targeted_success_means_the_target_class(digits_cnn, attack):
    images, labels = digits_cnn.images, digits_cnn.labels
    targets = (labels + 1) % 10
    make = FGSM if attack == "fgsm" else lambda m, **o: PGD(m, steps=20, seed=0, **o)
    result = make(digits_cnn.model, eps=0.3, targeted=True).run(images, labels, targets=targets)[0]
    reached = result.adv_pred == targets
    assert torch.equal(result.success, reached & (targets != labels))
    if attack == "pgd":
        assert result.summary()["success_rate"] > 0.9


def test_robust_accuracy_falls_monotonically_with_eps_and_reaches_zero(digits_cnn):
    eps = [0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]
    results = PGD(digits_cnn.model, eps=eps, steps=20, seed=0).run(digits_cnn.images, digits_cnn.labels)
    robust = [r.summary()["robust_accuracy"] for r in results]
    assert robust[0] == results[0].summary()["clean_accuracy"] > 0.95
    assert all(later <= earlier for earlier, later in zip(robust, robust[1:])), robust
    assert robust[-1] == 0.0


def test_more_restarts_never_weaken_pgd(digits_cnn):
    images, labels = digits_cnn.images, digits_cnn.labels
    robust = [PGD(digits_cnn.model, eps=0.1, steps=5, restarts=r, seed=0).run(images, labels)[0]
              .summary()["robust_accuracy"] for r in (1, 3)]
    assert robust[1] <= robust[0]


def test_iterations_beat_one_step(digits_cnn):
    images, labels = digits_cnn.images, digits_cnn.labels
    fgsm = FGSM(digits_cnn.model, eps=0.1).run(images, labels)[0].summary()["robust_accuracy"]
    pgd = PGD(digits_cnn.model, eps=0.1, steps=20, seed=0).run(images, labels)[0].summary()["robust_accuracy"]
    assert pgd < fgsm
