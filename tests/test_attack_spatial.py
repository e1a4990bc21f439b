"""The spatial attack: the transformation by hand, exact query counts, mask, strength, and ART's departures."""

import numpy as np
import pytest
import torch
from helpers import TaggedCounter, tagged
from peers import art_classifier, robust_accuracy

from advlab.attacks.queries import QueryCounter
from advlab.attacks.spatial import Spatial, rotate_translate
from advlab.core.errors import AdvlabError


def test_shifts_and_rotations_by_hand():
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(rotate_translate(x, torch.zeros(2), torch.zeros(2, 2)), x)
    moved = rotate_translate(x, torch.zeros(2), torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    assert torch.allclose(moved[0, 0, :, 1:], x[0, 0, :, :-1], atol=1e-6) and (moved[0, 0, :, 0] == 0).all()
    assert torch.allclose(moved[1, 0, 2:], x[1, 0, :-2], atol=1e-6) and (moved[1, 0, :2] == 0).all()
    quarter = rotate_translate(x, torch.full((2,), 90.0), torch.zeros(2, 2))
    assert torch.allclose(quarter[:, 0], torch.rot90(x[:, 0], -1, (1, 2)), atol=1e-5)


def test_grid_is_the_papers_and_queries_are_exact(digits_cnn):
    attack = Spatial(digits_cnn.model)
    degrees, shifts = attack.grid((32, 32), "cpu", torch.float32)
    assert len(degrees) == 31 * 5 * 5 and degrees.abs().max() == 30 and shifts.abs().max() == 3
    images, mask = tagged(digits_cnn.images[:40])
    labels = digits_cnn.labels[:40]
    tagger = TaggedCounter(digits_cnn.model, len(images))
    counter = QueryCounter(tagger)
    result = Spatial(counter, max_translation=1 / 8, translations=3, rotations=11).run(images, labels, mask=mask)[0]
    assert tagger.broken_tags == 0  # no query changed the pixel the mask keeps
    assert torch.equal(result.queries, tagger.counts - 1)  # run() evaluates each result once more
    assert int(result.queries.max()) <= 1 + 3 * 3 * 11
    assert ((result.queries == 1 + 99) | result.success | (result.clean_pred != labels)).all()


def test_grid_beats_worst_of_ten_and_targets_are_reached(digits_cnn):
    images, labels = digits_cnn.images[:100], digits_cnn.labels[:100]
    grid = Spatial(digits_cnn.model).run(images, labels)[0].summary()["robust_accuracy"]
    worst = [Spatial(digits_cnn.model, search="random", seed=s).run(images, labels)[0].summary()["robust_accuracy"]
             for s in range(3)]
    assert grid < 0.05 and grid < min(worst) and max(worst) < 0.5, (grid, worst)  # measured 0.01, ~0.2
    targets = (labels + 1) % 10
    targeted = Spatial(digits_cnn.model, targeted=True).run(images, labels, targets)[0]
    with torch.no_grad():
        predicted = digits_cnn.model(targeted.adversarial).argmax(1)
    assert torch.equal(targeted.success, (predicted == targets) & (targets != labels))
    assert targeted.success.double().mean() > 0.2


def test_bad_parameters_are_one_line_errors(digits_cnn, digits_mlp):
    for kwargs, words in (({"max_rotation": 200.0}, "max_rotation"), ({"max_translation": 1.0}, "max_translation"),
                          ({"search": "line"}, "unknown search"), ({"rotations": 0}, "rotations")):
        with pytest.raises(AdvlabError, match=words):
            Spatial(digits_cnn.model, **kwargs)
    with pytest.raises(AdvlabError, match="must be .N, C, H, W."):
        Spatial(digits_mlp.model)(torch.rand(3, 64), torch.zeros(3, dtype=torch.long))


def test_art_applies_one_transformation_to_the_batch_and_never_shifts_rows(digits_cnn):
    """ART picks the one grid point that fools most of the batch, and takes the vertical range from x.shape[1] (the
    channel count): 12.5 % of 1 rounds to 0 rows. advlab picks the worst point per image on the same grid."""
    pytest.importorskip("art.attacks.evasion")
    from art.attacks.evasion import SpatialTransformation

    images, labels = digits_cnn.images[:100], digits_cnn.labels[:100]
    art = SpatialTransformation(art_classifier(digits_cnn.model, (1, 8, 8), 10), max_translation=12.5,
                                num_translations=3, max_rotation=30.0, num_rotations=11, verbose=False)
    adversarial = torch.from_numpy(art.generate(x=images.numpy(), y=labels.numpy())).float()
    assert art.attack_trans_x == 0  # the vertical shift never leaves 0
    ours = Spatial(digits_cnn.model, max_translation=1 / 8, translations=3, rotations=11).run(images, labels)[0]
    assert ours.summary()["robust_accuracy"] < robust_accuracy(digits_cnn.model, adversarial, labels) - 0.2
    assert np.isfinite(art.fooling_rate)
