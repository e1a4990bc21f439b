"""SPSA: the Rademacher estimate, exact query counts, the feasible set, strength and torchattacks' SPSA."""

import pytest
import torch
from helpers import TaggedCounter, tagged

from advlab.attacks.losses import input_gradient, margin
from advlab.attacks.queries import QueryCounter
from advlab.attacks.spsa import SPSA
from advlab.core.errors import AdvlabError


def test_estimate_points_along_the_true_gradient(digits_mlp):
    """Algorithm 1 with many samples recovers the direction of the margin loss's gradient."""
    images, labels = digits_mlp.images[:8], digits_mlp.labels[:8]
    attack = SPSA(digits_mlp.model, eps=0.1, delta=0.001, samples=3000)
    estimate = attack.estimate(images, labels, None, 3000, torch.Generator().manual_seed(0))
    true, _ = input_gradient(digits_mlp.model, images, labels, objective=margin)
    cosine = torch.nn.functional.cosine_similarity(estimate.flatten(1), -true.flatten(1), dim=1)
    assert (cosine > 0.85).all(), cosine  # f = -margin is minimised


@pytest.mark.parametrize("targeted", [False, True])
def test_queries_are_counted_exactly_and_never_exceed_the_budget(digits_cnn, targeted):
    images, mask = tagged(digits_cnn.images[:40])
    labels = digits_cnn.labels[:40]
    tagger = TaggedCounter(digits_cnn.model, len(images))
    counter = QueryCounter(tagger)
    budget = 90  # clean + 2 x (2 x 16 + 1) + a last estimate of 11 samples + its check = 90
    attack = SPSA(counter, eps=0.3, lr=0.1, samples=16, queries=budget, targeted=targeted, seed=0)
    targets = (labels + 1) % 10 if targeted else None
    result = attack.run(images, labels, targets=targets, mask=mask)[0]
    attacked = tagger.counts - 1  # run() evaluates every result once more to measure it
    assert tagger.broken_tags == 0  # no query ever changed a pixel outside the mask
    assert torch.equal(result.queries, attacked)
    assert int(attacked.max()) == budget
    assert int(counter.queries) == int(result.queries.sum()) + len(images)
    goal = targets if targeted else labels
    reached = (result.adv_pred == goal) if targeted else (result.adv_pred != goal)
    assert (result.queries[~reached] == budget).all()
    spent = result.queries[reached]
    assert (((spent - 1) % 33 == 0) | (spent == budget)).all()
    assert (spent < budget).any()


def test_results_stay_in_the_ball_the_box_and_the_mask(digits_cnn):
    images, labels = digits_cnn.images[:40], digits_cnn.labels[:40]
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[:, 1:7] = True
    results = SPSA(digits_cnn.model, eps=[0.05, 0.2], lr=0.05, samples=16, queries=400, seed=0).run(
        images, labels, mask=mask)
    for eps, result in zip([0.05, 0.2], results):
        adversarial = result.adversarial
        assert adversarial.min() >= 0 and adversarial.max() <= 1
        assert float(result.norms(float("inf")).max()) <= eps + 1e-6
        assert torch.equal(adversarial[..., [0, 7]], images[..., [0, 7]])
    assert results[1].summary()["robust_accuracy"] < results[0].summary()["robust_accuracy"]


def test_spsa_beats_random_signs_at_the_same_budget(digits_cnn):
    images, labels = digits_cnn.images[:100], digits_cnn.labels[:100]
    eps = 0.2
    result = SPSA(digits_cnn.model, eps=eps, lr=0.05, samples=16, queries=1 + 10 * 33, seed=0).run(images, labels)[0]
    noise = torch.randint(0, 2, images.shape, generator=torch.Generator().manual_seed(0)).float() * 2 - 1
    with torch.no_grad():
        noisy = (digits_cnn.model((images + eps * noise).clamp(0, 1)).argmax(1) == labels).double().mean()
    # measured: clean 0.99, random signs 0.97, SPSA 0.15
    assert result.summary()["robust_accuracy"] < float(noisy) - 0.4


def test_targeted_success_means_the_target_class(digits_cnn):
    images, labels = digits_cnn.images[:40], digits_cnn.labels[:40]
    targets = (labels + 5) % 10
    attack = SPSA(digits_cnn.model, eps=0.3, lr=0.05, samples=16, queries=1 + 15 * 33, targeted=True, seed=0)
    result = attack.run(images, labels, targets)[0]
    with torch.no_grad():
        predicted = digits_cnn.model(result.adversarial).argmax(1)
    assert torch.equal(result.success, predicted == targets)
    assert result.success.double().mean() > 0.5


def test_same_seed_same_result(digits_mlp):
    images, labels = digits_mlp.images[:20], digits_mlp.labels[:20]
    first = SPSA(digits_mlp.model, eps=0.1, samples=8, queries=100, seed=5)(images, labels)
    second = SPSA(digits_mlp.model, eps=0.1, samples=8, queries=100, seed=5)(images, labels)
    assert torch.equal(first, second)


def test_agrees_with_torchattacks_spsa(digits_cnn):
    """Same robust accuracy as torchattacks' SPSA at the same iterations and samples (3 seeds)."""
    torchattacks = pytest.importorskip("torchattacks")
    images, labels = digits_cnn.images[:80], digits_cnn.labels[:80]
    eps, samples, iterations = 0.15, 8, 10
    ours, theirs = [], []
    for seed in range(3):
        attack = SPSA(digits_cnn.model, eps=eps, lr=0.02, samples=samples, queries=1 + iterations * (2 * samples + 1),
                      seed=seed)
        torch.manual_seed(seed)
        peer = torchattacks.SPSA(digits_cnn.model, eps=eps, lr=0.02, nb_iter=iterations, nb_sample=samples)
        with torch.no_grad():
            for adversarial, out in ((attack(images, labels), ours), (peer(images, labels), theirs)):
                out.append(float((digits_cnn.model(adversarial).argmax(1) == labels).double().mean()))
    gap = sum(ours) / 3 - sum(theirs) / 3
    # measured (robust accuracy, seeds 0-2): advlab 0.775, 0.750, 0.763; torchattacks 0.750, 0.775, 0.813 (mean gap
    # -1.7 pp); one image is 1.25 pp and the seeds' spread ~3 pp, so the test allows 6 pp (the bench's 360 images
    # judge the 2 pp)
    assert abs(gap) <= 0.06, (ours, theirs)


@pytest.mark.parametrize("options, words", [
    ({"queries": 0}, "queries"), ({"samples": 0}, "samples"), ({"delta": 0.0}, "delta"),
    ({"lr": -1.0}, "lr"), ({"eps": -0.5}, "eps"),
])
def test_bad_options_raise_one_clear_error(digits_mlp, options, words):
    with pytest.raises(AdvlabError, match=f"spsa: {words}"):
        SPSA(digits_mlp.model, **options)
