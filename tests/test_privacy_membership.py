"""Membership inference attacks (advlab.privacy.membership): the ROC against scikit-learn, and each attack's
score against a hand computation on toy shadows whose confidences are known exactly."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import raises_one_line
from scipy.stats import norm
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

from advlab.core.parameters import class_parameters
from advlab.privacy.membership import (
    ATTACKS,
    RMIA,
    CorrectnessAttack,
    LiRA,
    LossAttack,
    ShadowAttack,
    ShadowSet,
    membership_roc,
)
from advlab.privacy.membership.signals import augmented_views
from advlab.privacy.victim import Victim, module_victim

TAG_SCALE = 100  # example i carries i / 100 in pixel (0, 0, 0)


class Lookup(nn.Module):
    """A two-class model whose logits on example i are [0, c_i] (so p_1 = sigmoid(c_i) and the logit-scaled
    confidence of label 1 is exactly c_i), i read from the tag in pixel (0, 0, 0)."""

    def __init__(self, confidences):
        super().__init__()
        self.register_buffer("table", torch.as_tensor(confidences, dtype=torch.float64))
        self.anchor = nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, images):
        confidence = self.table[(images[:, 0, 0, 0] * TAG_SCALE).round().long()] + self.anchor
        return torch.stack([torch.zeros_like(confidence), confidence], 1)


def tagged_images(n: int) -> torch.Tensor:
    images = torch.zeros(n, 1, 4, 4)
    images[:, 0, 0, 0] = torch.arange(n) / TAG_SCALE
    return images


# Toy: 3 pool examples, label 1, 6 shadows; each example IN 3 of them and OUT of 3 (`MEMBERS`), so that the
# median of a world differs from its mean.
MEMBERS = torch.tensor([[1, 0, 1], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 1]], dtype=torch.bool)
SHADOW_CONFIDENCES = np.array([[4.0, 0.5, 3.0], [5.0, 2.5, -1.0], [1.0, 3.5, 0.0], [0.0, 0.2, 2.0],
                               [9.0, -2.0, 0.7], [0.4, 0.9, 6.0]])
TARGET_CONFIDENCES = np.array([3.0, 1.0, 2.5])
LABELS = torch.ones(3, dtype=torch.int64)


def toy_shadow_set() -> ShadowSet:
    return ShadowSet([Lookup(row) for row in SHADOW_CONFIDENCES], MEMBERS.clone())


def toy_fit(attack):
    return attack.fit_shadows(toy_shadow_set(), tagged_images(3), LABELS)


def worlds(example: int) -> tuple[np.ndarray, np.ndarray]:
    column, inside = SHADOW_CONFIDENCES[:, example], MEMBERS[:, example].numpy()
    return column[inside], column[~inside]


# ---------------------------------------------------------------------- ROC


def test_roc_equals_scikit_learn_with_ties():
    generator = np.random.default_rng(0)
    is_member = generator.random(400) < 0.4
    scores = np.round(generator.normal(size=400) + 0.8 * is_member, 1)  # rounding makes many ties
    roc = membership_roc(torch.from_numpy(scores), torch.from_numpy(is_member))
    fpr, tpr, thresholds = roc_curve(is_member, scores, drop_intermediate=False)
    np.testing.assert_allclose(roc.fpr, fpr, atol=1e-15)
    np.testing.assert_allclose(roc.tpr, tpr, atol=1e-15)
    np.testing.assert_array_equal(roc.thresholds[1:], thresholds[1:])
    assert roc.auc == pytest.approx(roc_auc_score(is_member, scores), abs=1e-12)


def test_tpr_at_extremes_and_ties():
    # members 1.0 0.9 0.5 0.5, non-members 0.8 0.5 0.1: at FPR 0 only the two members above 0.8 are flagged
    scores = [1.0, 0.9, 0.5, 0.5, 0.8, 0.5, 0.1]
    is_member = [True, True, True, True, False, False, False]
    roc = membership_roc(scores, is_member)
    assert roc.tpr_at(0.0) == 0.5
    assert roc.tpr_at(0.2) == 0.5  # the next point (FPR 1/3) is over budget
    assert roc.tpr_at(1 / 3) == 0.5
    assert roc.tpr_at(2 / 3) == 1.0  # the tie at 0.5 enters as one point: 2 members and 1 non-member together
    assert roc.tpr_at(1.0) == 1.0
    assert membership_roc([0.9, 0.1], [False, True]).tpr_at(0.0) == 0.0  # a non-member on top: nothing at FPR 0
    perfect = membership_roc([3.0, 2.0, 1.0, 0.0], [True, True, False, False])
    assert perfect.tpr_at(0.0) == 1.0 and perfect.auc == 1.0
    summary = roc.summary()
    assert set(summary) == {"auc", "tpr_at_0.1%_fpr", "tpr_at_1%_fpr"} and summary["tpr_at_1%_fpr"] == 0.5


def test_roc_refuses_bad_input():
    raises_one_line(lambda: membership_roc([0.1, float("nan")], [True, False]), "NaN")
    raises_one_line(lambda: membership_roc([0.1, 0.2], [True, True]), "both members and non-members")
    raises_one_line(lambda: membership_roc([0.1, 0.2, 0.3], [True, False]), "3 membership scores")
    raises_one_line(lambda: membership_roc([0.1, 0.2], [True, False]).tpr_at(1.5), "[0, 1]")


# ---------------------------------------------------------------------- LiRA


def test_online_lira_equals_hand_computation():
    scores = toy_fit(LiRA(shadows=6, fix_variance=False)).score(Lookup(TARGET_CONFIDENCES), tagged_images(3), LABELS)
    assert scores.dtype == torch.float64 and scores.shape == (3,)
    for example, target in enumerate(TARGET_CONFIDENCES):
        inside, outside = worlds(example)
        expected = (norm.logpdf(target, np.median(inside), np.std(inside))
                    - norm.logpdf(target, np.median(outside), np.std(outside)))
        assert float(scores[example]) == pytest.approx(expected, rel=1e-12)


def test_fixed_variance_lira_uses_one_spread_per_world():
    scores = toy_fit(LiRA(shadows=6, fix_variance=True)).score(Lookup(TARGET_CONFIDENCES), tagged_images(3), LABELS)
    sigma_in = np.std(SHADOW_CONFIDENCES[MEMBERS.numpy()])
    sigma_out = np.std(SHADOW_CONFIDENCES[~MEMBERS.numpy()])
    for example, target in enumerate(TARGET_CONFIDENCES):
        inside, outside = worlds(example)
        expected = (norm.logpdf(target, np.median(inside), sigma_in)
                    - norm.logpdf(target, np.median(outside), sigma_out))
        assert float(scores[example]) == pytest.approx(expected, rel=1e-12)


def test_offline_lira_pdf_and_cdf():
    target = Lookup(TARGET_CONFIDENCES)
    pdf = toy_fit(LiRA(shadows=6, online=False, fix_variance=False)).score(target, tagged_images(3), LABELS)
    cdf = toy_fit(LiRA(shadows=6, online=False, offline_test="cdf", fix_variance=False)).score(target, tagged_images(3),
                                                                                                 LABELS)
    for example, value in enumerate(TARGET_CONFIDENCES):
        _, outside = worlds(example)
        mean, sigma = np.median(outside), np.std(outside)
        assert float(pdf[example]) == pytest.approx(-norm.logpdf(value, mean, sigma), rel=1e-12)
        assert float(cdf[example]) == pytest.approx(norm.logcdf(value, mean, sigma), rel=1e-12)


def test_offline_lira_scores_examples_outside_the_pool_with_every_shadow_out():
    attack = toy_fit(LiRA(shadows=6, online=False, fix_variance=False))
    images = tagged_images(3)[:2]  # two images, not the pool of three and no pool_rows: seen by no shadow
    scores = attack.score(Lookup(TARGET_CONFIDENCES), images, LABELS[:2])
    for example in range(2):
        column = SHADOW_CONFIDENCES[:, example]
        expected = -norm.logpdf(TARGET_CONFIDENCES[example], np.median(column), np.std(column))
        assert float(scores[example]) == pytest.approx(expected, rel=1e-12)


def test_pool_rows_pick_the_examples_shadows():
    attack = toy_fit(LiRA(shadows=6, fix_variance=False))
    everything = attack.score(Lookup(TARGET_CONFIDENCES), tagged_images(3), LABELS)
    picked = attack.score(Lookup(TARGET_CONFIDENCES), tagged_images(3)[[2, 0]], LABELS[:2], pool_rows=[2, 0])
    assert torch.equal(picked, everything[[2, 0]])


def test_augmented_views_shift_with_reflected_edges_and_flip():
    images = torch.arange(2 * 16, dtype=torch.float32).view(2, 1, 4, 4) / 32
    views = augmented_views(images, shift=1)
    assert len(views) == 9 and torch.equal(views[0], images)
    padded = F.pad(images, (1, 1, 1, 1), mode="reflect")
    assert any(torch.equal(view, padded[..., 0:4, 2:6]) for view in views)  # up one row, left one column
    flipped = augmented_views(images, shift=0, flip=True)
    assert len(flipped) == 2 and torch.equal(flipped[1], images.flip(-1))
    raises_one_line(lambda: augmented_views(images, shift=4), "shift")


def test_lira_refuses_too_few_shadows_and_label_only_victims():
    two = ShadowSet([Lookup(row) for row in SHADOW_CONFIDENCES[:2]], MEMBERS[:2].clone())
    attack = LiRA(shadows=2).fit_shadows(two, tagged_images(3), LABELS)
    raises_one_line(lambda: attack.score(Lookup(TARGET_CONFIDENCES), tagged_images(3), LABELS),
                    "online LiRA needs at least 2 IN and 2 OUT", "train more shadows")

    def never(*args):
        raise AssertionError("no shadow should be trained")

    raises_one_line(lambda: LiRA(shadows=3).fit(never, tagged_images(3), LABELS), "at least 4 shadows")
    labels_only = Victim(lambda images: torch.ones(len(images)), "labels")
    raises_one_line(lambda: toy_fit(LiRA(shadows=6)).score(labels_only, tagged_images(3), LABELS), "LiRA",
                    "only labels")
    raises_one_line(lambda: LiRA().score(Lookup(TARGET_CONFIDENCES), tagged_images(3), LABELS), "fit")
    raises_one_line(lambda: toy_fit(LiRA(shadows=6)).score(Lookup(TARGET_CONFIDENCES), tagged_images(3)[:2],
                                                           LABELS[:2]), "pool_rows")
    raises_one_line(lambda: toy_fit(LiRA(shadows=6)).score(Lookup(TARGET_CONFIDENCES), tagged_images(3)[:2],
                                                           LABELS[:2], pool_rows=[0, 3]), "[0, 2]")
    raises_one_line(lambda: LiRA(offline_test="two-sided"), "offline_test", "pdf")
    raises_one_line(lambda: LiRA(shadows=6).fit_shadows(toy_shadow_set(), tagged_images(2), LABELS[:2]),
                    "covers 3 pool examples")


# ---------------------------------------------------------------------- RMIA


def sigmoid(values):
    return 1 / (1 + np.exp(-np.asarray(values)))


@pytest.mark.parametrize("online", [False, True])
def test_rmia_equals_hand_computation(online):
    a, gamma = 0.3, 1.1  # the toy ratios of ratios lie between 0.83 and 1.2: gamma splits them
    attack = toy_fit(RMIA(shadows=6, online=online, offline_a=a, gamma=gamma))
    scores = attack.score(Lookup(TARGET_CONFIDENCES), tagged_images(3), LABELS)
    reference = sigmoid(SHADOW_CONFIDENCES)  # p(x | theta') of label 1
    if online:
        p_x = reference.mean(0)
    else:
        out = ~MEMBERS.numpy()
        p_x = (1 + a) / 2 * np.array([reference[out[:, i], i].mean() for i in range(3)]) + (1 - a) / 2
    ratio = sigmoid(TARGET_CONFIDENCES) / p_x
    expected = [np.mean([ratio[x] / ratio[z] > gamma for z in range(3)]) for x in range(3)]
    np.testing.assert_array_equal(scores.numpy(), expected)
    assert sorted(expected) != [expected[0]] * 3  # the toy separates something


def test_rmia_population_rows():
    attack = toy_fit(RMIA(shadows=6))
    whole = attack.score(Lookup(TARGET_CONFIDENCES), tagged_images(3), LABELS)
    one = attack.score(Lookup(TARGET_CONFIDENCES), tagged_images(3), LABELS, population_rows=[1])
    assert set(one.tolist()) <= {0.0, 1.0} and one[1] == 0.0  # x = z is never above gamma = 1
    assert not torch.equal(one, whole)
    raises_one_line(lambda: attack.score(Lookup(TARGET_CONFIDENCES), tagged_images(3), LABELS, population_rows=[]),
                    "population_rows")
    raises_one_line(lambda: RMIA(offline_a=1.5), "offline_a")
    raises_one_line(lambda: RMIA(gamma=0.5), "gamma")


# ---------------------------------------------------------------------- loss, correctness, shadow attack


def test_loss_attack_is_minus_cross_entropy_and_correctness_works_on_labels():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    images, labels = torch.rand(20, 1, 4, 4), torch.randint(0, 3, (20,))
    with torch.no_grad():
        expected = -F.cross_entropy(model(images).double(), labels, reduction="none")
    torch.testing.assert_close(LossAttack().score(model, images, labels), expected)
    labels_only = module_victim(model, output="labels")
    with torch.no_grad():
        correct = (model(images).argmax(1) == labels).double()
    assert torch.equal(CorrectnessAttack().score(labels_only, images, labels), correct)
    raises_one_line(lambda: LossAttack().score(labels_only, images, labels), "loss attack", "only labels")


def test_shadow_attack_learns_in_from_out():
    # IN shadows are confident (5 +- a little) on their rows, OUT ones not (1 +- a little); so is the target
    generator = np.random.default_rng(0)
    n, shadows = 40, 8
    members = torch.from_numpy(np.array([generator.permutation(n) < n // 2 for _ in range(shadows)]))
    confidences = np.where(members.numpy(), 5.0, 1.0) + generator.normal(0, 0.3, (shadows, n))
    shadow_set = ShadowSet([Lookup(row) for row in confidences], members)
    is_member = np.arange(n) % 2 == 0
    target = Lookup(np.where(is_member, 5.0, 1.0) + generator.normal(0, 0.3, n))
    labels = torch.ones(n, dtype=torch.int64)
    attack = ShadowAttack(shadows=shadows, attack_model="logistic").fit_shadows(shadow_set, tagged_images(n), labels)
    assert membership_roc(attack.score(target, tagged_images(n), labels), is_member).auc == 1.0
    raises_one_line(lambda: attack.score(target, tagged_images(2), torch.zeros(2, dtype=torch.int64)),
                    "no attack model for class")
    raises_one_line(lambda: ShadowAttack(attack_model="svm"), "attack_model", "mlp")


def test_registry_and_contract():
    assert set(ATTACKS) == {"loss", "correctness", "shadow", "lira", "rmia"}
    assert [name for name, cls in ATTACKS.items() if not cls.needs_scores] == ["correctness"]
    assert [name for name, cls in ATTACKS.items() if cls.needs_shadows] == ["shadow", "lira", "rmia"]
    for cls in ATTACKS.values():
        for parameter in class_parameters(cls):
            assert not parameter.required and parameter.help, (cls.__name__, parameter.name)
    assert LossAttack().fit(None, tagged_images(3), LABELS) is not None  # no shadows: nothing to train
    assert math.isclose(LiRA().shadows, 16)


def test_lira_takes_a_global_variance_below_64_shadows_unless_told():
    per_example = toy_fit(LiRA(shadows=6, fix_variance=False)).score(Lookup(TARGET_CONFIDENCES), tagged_images(3),
                                                                      LABELS)
    fixed = toy_fit(LiRA(shadows=6, fix_variance=True)).score(Lookup(TARGET_CONFIDENCES), tagged_images(3), LABELS)
    default = toy_fit(LiRA(shadows=6)).score(Lookup(TARGET_CONFIDENCES), tagged_images(3), LABELS)
    assert torch.equal(default, fixed) and not torch.equal(default, per_example)
