"""LOGAN's discriminator-score attack: scores follow D, batching and batch norm change nothing, bad input fails."""

import pytest
import torch
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.privacy.gan import LOGAN, discriminator_scores
from advlab.privacy.membership import membership_roc


class Brightness(nn.Module):
    """D(x) = 3 * mean pixel - 1, a known function."""

    def forward(self, x):
        return 3 * x.flatten(1).mean(1) - 1


def test_scores_are_the_discriminator_outputs_in_order():
    images = torch.rand(7, 1, 4, 4)
    scores = discriminator_scores(Brightness(), images)
    expected = 3 * images.flatten(1).double().mean(1) - 1
    assert scores.dtype == torch.float64 and scores.shape == (7,)
    assert torch.allclose(scores, expected, atol=1e-6)
    assert torch.equal(torch.argsort(scores), torch.argsort(expected))


def test_batch_size_and_batch_norm_do_not_change_scores():
    torch.manual_seed(0)
    d = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.LazyLinear(1))
    d(torch.rand(8, 1, 6, 6))  # materialise, update running stats
    d.train()
    images = torch.rand(10, 1, 6, 6)
    whole = LOGAN(d, batch_size=10).score(images)
    pieces = LOGAN(d, batch_size=3).score(images)
    assert torch.allclose(whole, pieces, atol=1e-6)
    assert d.training  # mode restored


def test_separable_scores_give_auc_one():
    members = torch.full((5, 1, 4, 4), 0.9) + 0.05 * torch.rand(5, 1, 4, 4)
    others = torch.full((5, 1, 4, 4), 0.1) + 0.05 * torch.rand(5, 1, 4, 4)
    scores = discriminator_scores(Brightness(), torch.cat([members, others]))
    roc = membership_roc(scores, torch.tensor([True] * 5 + [False] * 5))
    assert roc.auc == 1.0


@pytest.mark.parametrize("make, message", [
    (lambda: discriminator_scores(Brightness(), torch.rand(3, 1, 4, 4) * 2), "must lie in"),
    (lambda: discriminator_scores(lambda x: x, torch.rand(3, 1, 4, 4)), "nn.Module"),
    (lambda: discriminator_scores(nn.Flatten(), torch.rand(3, 1, 4, 4)), "one score per image"),
    (lambda: LOGAN(Brightness(), batch_size=0), "batch_size"),
])
def test_bad_input_is_one_clear_error(make, message):
    with pytest.raises(AdvlabError, match=message):
        make()
