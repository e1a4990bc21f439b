"""Square Attack: exact query counts, the feasible set, strength, and torchattacks / ART side by side."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import TaggedCounter, tagged
from peers import art_classifier, robust_accuracy
from torch import nn

from advlab.attacks.losses import margin
from advlab.attacks.lp import linf_bounds
from advlab.attacks.queries import QueryCounter
from advlab.attacks.square import (
    Square,
    bump,
    bump_as,
    corners,
    fraction,
    nested_squares,
    place,
    random_signs,
    window,
    window_at,
)
from advlab.core.errors import AdvlabError


def test_schedule_and_bump_match_the_paper_by_hand():
    # p halves after 10, 50, 200, ... of 10000 iterations, stretched to the budget
    assert [fraction(0.8, i, 10000) for i in (0, 10, 11, 50, 51, 8000, 8001, 9999)] == \
        [0.8, 0.8, 0.4, 0.4, 0.2, 0.8 / 256, 0.8 / 512, 0.8 / 512]
    assert fraction(0.8, 2, 1000) == 0.4  # iteration 2 of 1000 is iteration 20 of 10000
    # eq. (6): at Chebyshev distance m from the centre, sum_{j = m+1}^{n+1} 1 / j^2 (n = 1 for a 3x3)
    assert torch.allclose(nested_squares(3, 3), torch.tensor([[0.25, 0.25, 0.25], [0.25, 1.25, 0.25],
                                                              [0.25, 0.25, 0.25]], dtype=torch.float64))
    shape = bump(4)
    assert torch.allclose(shape.norm(), torch.tensor(1.0, dtype=torch.float64))
    assert (shape[:2] > 0).all() and (shape[2:] < 0).all() and torch.allclose(shape[:2], -shape[2:])


@pytest.mark.parametrize("norm, eps, targeted", [("linf", 0.1, False), ("l2", 0.7, False), ("linf", 0.2, True)])
def test_queries_are_counted_exactly_and_never_exceed_the_budget(digits_cnn, norm, eps, targeted):
    images, mask = tagged(digits_cnn.images[:60])
    labels = digits_cnn.labels[:60]
    tagger = TaggedCounter(digits_cnn.model, len(images))
    counter = QueryCounter(tagger)
    budget = 40
    attack = Square(counter, eps=eps, queries=budget, norm=norm, targeted=targeted, seed=0)
    targets = (labels + 1) % 10 if targeted else None
    result = attack.run(images, labels, targets=targets, mask=mask)[0]
    attacked = tagger.counts - 1  # run() evaluates every result once more to measure it
    assert tagger.broken_tags == 0  # no query ever changed a pixel outside the mask
    assert torch.equal(result.queries, attacked)
    assert int(attacked.max()) <= budget
    assert int(counter.queries) == int(result.queries.sum()) + len(images)
    # an image stops being queried once it is fooled, the others use the whole budget
    goal = targets if targeted else labels
    reached = (result.adv_pred == goal) if targeted else (result.adv_pred != goal)
    at_start = (result.clean_pred == goal) if targeted else (result.clean_pred != goal)
    assert (result.queries[at_start] == 1).all()
    assert (result.queries[~reached] == budget).all()
    assert (result.queries[reached & ~at_start] < budget).any()


def test_budget_of_one_or_two_queries(digits_cnn):
    images, labels = digits_cnn.images[:20], digits_cnn.labels[:20]
    for budget, expected in ((1, 1), (2, 2)):
        result = Square(digits_cnn.model, eps=0.05, queries=budget, seed=0).run(images, labels)[0]
        correct = result.clean_pred == labels
        assert (result.queries[correct] == expected).all() and (result.queries[~correct] == 1).all()
    assert torch.equal(Square(digits_cnn.model, eps=0.05, queries=1)(images, labels), images)


@pytest.mark.parametrize("norm, eps", [("linf", 0.2), ("l2", 1.0)])
def test_results_stay_in_the_ball_the_box_and_the_mask(digits_cnn, norm, eps):
    images, labels = digits_cnn.images[:50], digits_cnn.labels[:50]
    mask = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    mask[..., 2:6, :] = True
    result = Square(digits_cnn.model, eps=eps, queries=100, norm=norm, seed=1).run(images, labels, mask=mask)[0]
    adversarial = result.adversarial
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert torch.equal(adversarial[..., :2, :], images[..., :2, :])
    assert torch.equal(adversarial[..., 6:, :], images[..., 6:, :])
    p = float("inf") if norm == "linf" else 2.0
    assert float(result.norms(p).max()) <= eps + 1e-5
    assert float(result.summary()["robust_accuracy"]) < float(result.summary()["clean_accuracy"])


def test_linf_square_attack_is_strong_on_digits(digits_cnn):
    images, labels = digits_cnn.images[:100], digits_cnn.labels[:100]
    result = Square(digits_cnn.model, eps=0.3, queries=300, seed=0).run(images, labels)[0]
    summary = result.summary()
    # measured: clean 1.00, robust 0.00, median 17.5 queries per success
    assert summary["clean_accuracy"] > 0.95
    assert summary["robust_accuracy"] <= 0.05
    assert summary["queries_median"] < 100
    # the perturbation sits on the corners of the ball, as the sampling distribution puts it
    assert abs(summary["linf_median"] - 0.3) < 1e-5


def test_targeted_success_means_the_target_class(digits_cnn):
    images, labels = digits_cnn.images[:60], digits_cnn.labels[:60]
    targets = (labels + 3) % 10
    result = Square(digits_cnn.model, eps=0.3, queries=300, targeted=True, seed=0).run(images, labels, targets)[0]
    with torch.no_grad():
        predicted = digits_cnn.model(result.adversarial).argmax(1)
    assert torch.equal(result.success, (predicted == targets) & (targets != labels))
    assert result.success.double().mean() > 0.7  # measured 0.97


def test_same_seed_same_result(digits_mlp):
    images, labels = digits_mlp.images[:30], digits_mlp.labels[:30]
    first = Square(digits_mlp.model, eps=0.1, queries=50, norm="l2", seed=3)(images, labels)
    second = Square(digits_mlp.model, eps=0.1, queries=50, norm="l2", seed=3)(images, labels)
    assert torch.equal(first, second)


def test_as_strong_as_torchattacks_and_art_at_the_same_budget(digits_mlp):
    """Robust accuracy within 2 points of each peer, or lower.

    Budgets compare as candidates tried: advlab's `queries` counts the clean pass and the start,
    torchattacks' `n_queries` and ART's `max_iter` count the candidates after the start (ART also
    re-evaluates the current points every iteration, which advlab does not need). Measured on
    these 200 images, seeds 0-2: advlab 0.51 / 0.47 / 0.52, torchattacks 0.69 / 0.68 / 0.68,
    ART 0.68 / 0.64 / 0.66 — the margin is wide enough for one seed.
    """
    import torchattacks
    from art.attacks.evasion import SquareAttack

    images, labels = digits_mlp.images[:200], digits_mlp.labels[:200]
    eps, candidates, p_init = 0.1, 200, 0.05
    ours = Square(digits_mlp.model, eps=eps, queries=candidates + 2, p_init=p_init, seed=0).run(images, labels)[0]
    advlab = ours.summary()["robust_accuracy"]
    torch.manual_seed(0)
    peer = torchattacks.Square(digits_mlp.model, norm="Linf", eps=eps, n_queries=candidates, p_init=p_init, seed=0)
    torchattacks_accuracy = robust_accuracy(digits_mlp.model, peer(images, labels), labels)
    np.random.seed(0)
    art = SquareAttack(art_classifier(digits_mlp.model, (1, 8, 8), 10), norm=np.inf, eps=eps, max_iter=candidates,
                       p_init=p_init, verbose=False)
    adversarial = torch.from_numpy(art.generate(x=images.numpy(), y=np.eye(10)[labels.numpy()]))
    art_accuracy = robust_accuracy(digits_mlp.model, adversarial, labels)
    assert advlab <= torchattacks_accuracy + 0.02, (advlab, torchattacks_accuracy)
    assert advlab <= art_accuracy + 0.02, (advlab, art_accuracy)


@pytest.mark.slow
def test_l2_as_strong_as_torchattacks_on_the_cnn(digits_cnn):
    """L2, eps 0.8, 300 candidates, 200 images, seeds 0-2: measured advlab 0.29 / 0.30 / 0.31 against
    torchattacks 0.37 / 0.41 / 0.44 (ART's L2 version divides by zero on 8x8 images)."""
    import torchattacks

    images, labels = digits_cnn.images[:200], digits_cnn.labels[:200]
    ours = Square(digits_cnn.model, eps=0.8, queries=302, norm="l2", seed=0).run(images, labels)[0]
    peer = torchattacks.Square(digits_cnn.model, norm="L2", eps=0.8, n_queries=300, p_init=0.1, seed=0)
    theirs = robust_accuracy(digits_cnn.model, peer(images, labels), labels)
    assert ours.summary()["robust_accuracy"] <= theirs + 0.02


@pytest.mark.parametrize("options, words", [
    ({"queries": 0}, "queries"), ({"queries": -5}, "queries"), ({"queries": 2.5}, "queries"),
    ({"eps": -0.1}, "eps"), ({"norm": "l1"}, "norm"), ({"p_init": 0.0}, "p_init"), ({"p_init": 1.5}, "p_init"),
])
def test_bad_options_raise_one_clear_error(digits_mlp, options, words):
    with pytest.raises(AdvlabError, match=words):
        Square(digits_mlp.model, **options)


def test_images_without_height_and_width_are_refused(digits_mlp):
    flat = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), digits_mlp.model)
    with pytest.raises(AdvlabError, match=r"\(N, C, H, W\)"):
        Square(flat, eps=0.1, queries=10)(digits_mlp.images[:4].flatten(1), digits_mlp.labels[:4])


# ---------------------------------------------------------------------- the optimised search, draw for draw


def reference_linf(model, images, labels, eps, queries, p_init, seed, mask=None, targeted=False):
    """The Linf Square Attack as advlab first wrote it, kept here to pin the optimised class to it.

    Every iteration gathers the images still attacked and scatters them back; every redraw builds
    whole candidate images and compares them with x_hat. Square(...) draws the same random numbers
    in the same order and must return the very same tensors.
    """
    generator = torch.Generator().manual_seed(seed)

    def goal(logits, y):
        return logits.argmax(1) == y if targeted else logits.argmax(1) != y

    def score(x, y):
        with torch.no_grad():
            logits = model(x)
        loss = F.cross_entropy(logits, y, reduction="none") if targeted else -margin(logits, y)
        return loss, goal(logits, y)

    with torch.no_grad():
        todo = (~goal(model(images), labels)).nonzero().flatten()
    x, y, part = images[todo], labels[todo], None if mask is None else mask.expand_as(images)[todo]
    lower, upper = linf_bounds(x, eps, part)
    n, c, h, w = x.shape
    best = torch.clamp(x + eps * random_signs((n, c, 1, w), generator, x.device), lower, upper)
    best_loss, done = score(best, y)

    def draw(rows, side):
        top, left = corners(len(rows), h, w, side, generator, x.device)
        signs = random_signs((len(rows), c, 1, 1), generator, x.device)
        moved = torch.clamp(best[rows] + 2 * eps * signs, lower[rows], upper[rows])
        down = torch.arange(h)[None, :] - top[:, None]
        across = torch.arange(w)[None, :] - left[:, None]
        inside = ((down >= 0) & (down < side))[:, :, None] & ((across >= 0) & (across < side))[:, None, :]
        return torch.where(inside[:, None], moved, best[rows])

    for iteration in range(queries - 2):
        active = (~done).nonzero().flatten()
        if len(active) == 0:
            break
        side = min(max(round(math.sqrt(fraction(p_init, iteration, queries - 1) * h * w)), 1), max(min(h, w) - 1, 1))
        candidate = draw(active, side)
        for _ in range(10):
            same = ((candidate - best[active]).abs() < 1e-7).flatten(1).all(1)
            if not same.any():
                break
            redo = same.nonzero().flatten()
            candidate[redo] = draw(active[redo], side)
        loss, reached = score(candidate, y[active])
        better = (loss < best_loss[active]) | reached
        best[active] = torch.where(better[:, None, None, None], candidate, best[active])
        best_loss[active] = torch.where(better, loss, best_loss[active])
        done[active] = reached
    adversarial = images.clone()
    adversarial[todo] = best
    return adversarial


@pytest.mark.parametrize("eps, queries, p_init, targeted", [(0.1, 300, 0.8, False), (0.2, 200, 0.05, True)])
def test_linf_search_is_the_straightforward_one_draw_for_draw(digits_cnn, eps, queries, p_init, targeted):
    """Bit for bit the reference above (the optimised class looks redraws up in tables, keeps compact
    copies of the images still attacked and reads windows from lookup tables)."""
    images, labels = digits_cnn.images[:100], digits_cnn.labels[:100]
    goal = (labels + 3) % 10 if targeted else labels
    ours = Square(digits_cnn.model, eps=eps, queries=queries, p_init=p_init, targeted=targeted, seed=4)(images, goal)
    theirs = reference_linf(digits_cnn.model, images, goal, eps, queries, p_init, seed=4, targeted=targeted)
    assert torch.equal(ours, theirs)
    assert not torch.equal(ours, images)


def test_linf_search_draw_for_draw_with_channels_masks_and_idle_squares():
    """Three channels (one sign each), a non-square image, a mask, and an eps so small that no update
    changes anything (every draw is redrawn up to the cap, as the reference does)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 12 * 9, 32), nn.ReLU(), nn.Linear(32, 5)).eval()
    images = torch.rand(30, 3, 12, 9)
    with torch.no_grad():
        labels = model(images).argmax(1)
    mask = torch.rand(1, 1, 12, 9) > 0.3
    for eps in (0.05, 1e-9):
        ours = Square(model, eps=eps, queries=60, p_init=0.5, seed=2)(images, labels, mask)
        theirs = reference_linf(model, images, labels, eps, 60, 0.5, seed=2, mask=mask)
        assert torch.equal(ours, theirs), eps


def test_window_lookups_match_their_definition():
    """window() / window_at() (a table for small images, the direct form above WINDOW_TABLE) and
    place() against the definitions written out; bump_as() is bump() converted."""
    for height, width, side in ((8, 8, 1), (8, 8, 7), (12, 9, 4), (40, 40, 1), (40, 40, 30)):
        top = torch.arange(height - side + 1).repeat_interleave(width - side + 1)
        left = torch.arange(width - side + 1).repeat(height - side + 1)
        expected = torch.zeros(len(top), 1, height, width, dtype=torch.bool)
        for i, (row, col) in enumerate(zip(top.tolist(), left.tolist())):
            expected[i, 0, row:row + side, col:col + side] = True
        assert torch.equal(window(top, left, side, height, width), expected)
        assert torch.equal(window_at(left + top * (width - side + 1), side, height, width), expected)
        patches = torch.rand(len(top), side, side)
        placed = torch.zeros(len(top), 1, height, width)
        for i, (row, col) in enumerate(zip(top.tolist(), left.tolist())):
            placed[i, 0, row:row + side, col:col + side] = patches[i]
        assert torch.equal(place(patches, top, left, height, width), placed)
    assert torch.equal(bump_as(5, torch.float32, torch.device("cpu")), bump(5).float())
