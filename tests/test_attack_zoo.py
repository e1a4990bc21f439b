"""ZOO: the coordinate estimate, exact query counts, masks, the reduced space, c's search and ART's ZooAttack."""

import pytest
import torch
from helpers import TaggedCounter, tagged

from advlab.attacks.queries import QueryCounter
from advlab.attacks.zoo import ZOO
from advlab.core.errors import AdvlabError


def test_symmetric_differences_match_the_objectives_gradient(digits_mlp):
    """Eq. 6 at h = 1e-4 recovers each partial derivative of ||x - x0||^2 + c f(x)."""
    images, labels = digits_mlp.images[:4], digits_mlp.labels[:4]
    attack = ZOO(digits_mlp.model, c=1.0)
    c = torch.ones(4, dtype=torch.float64)
    delta = torch.full((4, 64), 0.05)
    chosen = torch.arange(64).expand(4, 64)
    objective, _, _ = attack.evaluate(images, labels, None, c, delta, chosen)
    estimate = (objective[:, 1:65] - objective[:, 65:]) / 2e-4
    x = (images + 0.05).clamp(0, 1).double().requires_grad_(True)
    logits = digits_mlp.model.double()(x)
    digits_mlp.model.float()
    log_probs = logits.log_softmax(1)
    own = log_probs.gather(1, labels[:, None])[:, 0]
    other = log_probs.scatter(1, labels[:, None], float("-inf")).amax(1)
    total = ((x - images.double()) ** 2).flatten(1).sum(1) + (own - other).clamp(min=0)
    true, = torch.autograd.grad(total.sum(), x)
    inside = ((images + 0.05) < 1 - 1e-3).flatten(1)  # the box's edge has no two-sided difference
    cosine = torch.nn.functional.cosine_similarity(estimate * inside, true.flatten(1) * inside, dim=1)
    assert (cosine > 0.99).all(), cosine


@pytest.mark.parametrize("targeted, resolution", [(False, None), (True, None), (False, 4)])
def test_queries_are_counted_exactly_and_the_mask_is_kept(digits_cnn, targeted, resolution):
    images, mask = tagged(digits_cnn.images[:30])
    labels = digits_cnn.labels[:30]
    tagger = TaggedCounter(digits_cnn.model, len(images))
    counter = QueryCounter(tagger)
    budget = 1 + 2 * 3 * (2 * 8 + 1) + 5  # two binary steps of 3 iterations of 8 coordinates; 5 left unspent
    attack = ZOO(counter, c=5.0, lr=0.1, coordinates=8, binary_steps=2, resolution=resolution, queries=budget,
                 targeted=targeted, seed=0)
    targets = (labels + 1) % 10 if targeted else None
    result = attack.run(images, labels, targets=targets, mask=mask)[0]
    attacked = tagger.counts - 1
    assert tagger.broken_tags == 0
    assert torch.equal(result.queries, attacked)
    assert (attacked == budget - 5).all()
    assert int(counter.queries) == int(result.queries.sum()) + len(images)


def test_zoo_finds_small_perturbations(digits_cnn):
    images, labels = digits_cnn.images[:30], digits_cnn.labels[:30]
    result = ZOO(digits_cnn.model, c=1.0, lr=0.05, coordinates=32, queries=1 + 40 * 65, seed=0).run(images, labels)[0]
    summary = result.summary()
    assert summary["success_rate"] > 0.9
    assert result.adversarial.min() >= 0 and result.adversarial.max() <= 1
    # failures are returned clean; successes are the least-L2 adversarial iterate
    assert torch.equal(result.adversarial[~result.success], images[~result.success])
    assert summary["l2_median"] < 1.5


def test_binary_search_lowers_the_norm(digits_cnn):
    images, labels = digits_cnn.images[:20], digits_cnn.labels[:20]
    one = ZOO(digits_cnn.model, c=10.0, lr=0.05, coordinates=32, queries=1 + 30 * 65, seed=0).run(images, labels)[0]
    searched = ZOO(digits_cnn.model, c=10.0, lr=0.05, coordinates=32, binary_steps=3, queries=1 + 3 * 30 * 65,
                   seed=0).run(images, labels)[0]
    assert searched.summary()["success_rate"] >= one.summary()["success_rate"]
    assert searched.summary()["l2_median"] < one.summary()["l2_median"]


def test_targeted_success_means_the_target_class(digits_cnn):
    images, labels = digits_cnn.images[:20], digits_cnn.labels[:20]
    targets = (labels + 5) % 10
    attack = ZOO(digits_cnn.model, c=5.0, lr=0.05, coordinates=32, queries=1 + 40 * 65, targeted=True, seed=0)
    result = attack.run(images, labels, targets)[0]
    with torch.no_grad():
        predicted = digits_cnn.model(result.adversarial).argmax(1)
    assert torch.equal(result.success, predicted == targets)
    assert result.success.double().mean() > 0.5


def test_agrees_with_art_where_art_follows_the_paper(digits_cnn):
    """ART's ZooAttack clips its perturbation to [0, 1] (it can only brighten pixels) and re-adds its accumulated
    noise to the moving iterate; at the same queries advlab's ZOO fools more images."""
    pytest.importorskip("art.attacks.evasion")
    import numpy as np
    from art.attacks.evasion import ZooAttack
    from peers import art_classifier

    images, labels = digits_cnn.images[:20], digits_cnn.labels[:20]
    coordinates, iterations = 16, 10
    mine = ZOO(digits_cnn.model, c=1.0, lr=0.1, coordinates=coordinates,
               queries=1 + iterations * (2 * coordinates + 1), seed=0)(images, labels)
    np.random.seed(0)
    peer = ZooAttack(art_classifier(digits_cnn.model, (1, 8, 8), 10), initial_const=1.0, learning_rate=0.1,
                     nb_parallel=coordinates, max_iter=iterations, binary_search_steps=1, use_resize=False,
                     use_importance=False, abort_early=False, batch_size=1, verbose=False)
    art = torch.from_numpy(peer.generate(x=images.numpy(), y=labels.numpy()))
    assert ((art - images) >= -1e-6).all()  # ART never darkens a pixel
    with torch.no_grad():
        ours = (digits_cnn.model(mine).argmax(1) != labels).double().mean()
        theirs = (digits_cnn.model(art).argmax(1) != labels).double().mean()
    assert ours >= theirs


@pytest.mark.parametrize("options, words", [
    ({"queries": 0}, "queries"), ({"c": 0.0}, "c"), ({"kappa": -1.0}, "kappa"), ({"lr": 0.0}, "lr"),
    ({"h": 0.0}, "h"), ({"coordinates": 0}, "coordinates"), ({"binary_steps": 0}, "binary_steps"),
    ({"resolution": 0}, "resolution"),
])
def test_bad_options_raise_one_clear_error(digits_mlp, options, words):
    with pytest.raises(AdvlabError, match=f"zoo: {words}"):
        ZOO(digits_mlp.model, **options)


def test_a_budget_below_one_iteration_is_refused(digits_mlp):
    attack = ZOO(digits_mlp.model, coordinates=128, queries=100)
    with pytest.raises(AdvlabError, match="cannot pay for one iteration"):
        attack(digits_mlp.images[:2], digits_mlp.labels[:2])
