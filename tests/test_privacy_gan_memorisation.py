"""Memorisation: copies of training images are flagged, fresh samples are not, ratios match a hand computation."""

import pytest
import torch

from advlab.core.errors import AdvlabError
from advlab.metrics.birthday import sample_with_replacement
from advlab.privacy.gan import memorisation, nearest_in
from advlab.reports.grids import save_pair_grid


def pool(seed=0, n=40):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 4, 4, generator=generator)


def test_a_generator_that_copies_is_flagged_everywhere():
    train, held_out = pool(0), pool(1)
    samples = train[torch.tensor([3, 3, 7, 0, 39])]
    result = memorisation(samples, train, held_out)
    assert result.copy_share == 1.0
    assert torch.equal(result.train_distances, torch.zeros(5, dtype=torch.float64))
    assert result.train_indices.tolist() == [3, 3, 7, 0, 39]
    assert torch.equal(result.pairs[0], result.pairs[1])
    assert result.summary()["copied_training_images"] == 4


def test_fresh_samples_of_the_distribution_are_not_copies():
    train, held_out, fresh = pool(0), pool(1), pool(2)
    result = memorisation(fresh, train, held_out)
    assert result.copy_share < 0.1
    assert 0.6 < float(result.ratios.median()) < 1.6
    assert len(result.pairs[0]) == int(result.copied.sum())


def test_ratio_matches_a_hand_computation():
    train = torch.tensor([[0.0, 0.0], [1.0, 1.0]]).view(2, 1, 1, 2)
    held_out = torch.tensor([[0.0, 0.5], [1.0, 0.0]]).view(2, 1, 1, 2)
    samples = torch.tensor([[0.1, 0.0], [0.0, 0.4], [1.0, 1.0]]).view(3, 1, 1, 2)
    result = memorisation(samples, train, held_out, threshold=0.5)
    assert result.train_distances.tolist() == pytest.approx([0.1, 0.4, 0.0])
    assert result.held_out_distances.tolist() == pytest.approx([0.26 ** 0.5, 0.1, 1.0])
    assert result.ratios.tolist() == pytest.approx([0.1 / 0.26 ** 0.5, 4.0, 0.0])
    assert result.copied.tolist() == [True, False, True]
    assert result.pair_ratios.tolist() == pytest.approx([0.0, 0.1 / 0.26 ** 0.5])  # lowest ratio first
    assert torch.equal(result.pairs[1][0], train[1])


def test_balance_subsamples_the_larger_set_and_keeps_train_indices():
    train, held_out = pool(0, 64), pool(1, 16)
    samples = train[[5, 60]]
    result = memorisation(samples, train, held_out, balance=True, seed=3)
    assert result.held_out_distances.shape == (2,)
    for i in range(2):  # whenever a copy's source was kept, its index points at it
        if result.train_distances[i] == 0:
            assert torch.equal(train[result.train_indices[i]], samples[i])
    unbalanced = memorisation(samples, train, held_out, balance=False)
    assert unbalanced.train_indices.tolist() == [5, 60]


def test_nearest_in_matches_brute_force():
    queries, reference = torch.randn(13, 5), torch.randn(21, 5)
    distances, indices = nearest_in(queries, reference)
    brute = torch.cdist(queries.double(), reference.double())
    assert torch.equal(indices, brute.argmin(1))
    assert torch.allclose(distances, brute.min(1).values)


def test_birthday_support_of_a_replaying_generator(tmp_path):
    train, held_out = pool(0, 64), pool(1, 64)
    replay = sample_with_replacement(train, seed=0)
    result = memorisation(replay(50), train, held_out, birthday_sampler=replay)
    assert result.copy_share == 1.0
    assert 32 <= result.birthday.support <= 128
    assert save_pair_grid(*result.pairs, tmp_path / "pairs.png").stat().st_size > 0  # the picture the audit shows
    assert len(memorisation(pool(2, 5), train, held_out, threshold=1e-9).pairs[0]) == 0


@pytest.mark.parametrize("make, message", [
    (lambda: memorisation(pool(0), pool(1, 8)[:, :, :2], pool(2)), "share one shape"),
    (lambda: memorisation(pool(0) * 3, pool(1), pool(2)), "must lie in"),
    (lambda: memorisation(pool(0), pool(1), pool(2), threshold=0), "threshold must be a ratio > 0"),
    (lambda: memorisation(pool(0), pool(1), pool(2), embed=lambda x: x), "features"),
])
def test_bad_input_is_one_clear_error(make, message):
    with pytest.raises(AdvlabError, match=message):
        make()
