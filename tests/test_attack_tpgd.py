"""TPGD (TRADES' inner maximisation as an attack): torchattacks' TPGD exactly, the TRADES defense's own loop,
no labels needed, and the invariants (ball, box, mask, eps lists)."""

import pytest
import torch
from helpers import perturb_masked
from peers import robust_accuracy

from advlab.attacks.tpgd import TPGD, kl_divergence
from advlab.core.errors import AdvlabError
from advlab.defenses.trades import TRADES

EPS = 0.1


def test_tpgd_is_torchattacks_tpgd(digits_cnn):
    """Same start noise (torch's generator seeded alike), same KL, same steps: the same images, bit for bit."""
    torchattacks = pytest.importorskip("torchattacks")
    model, images, labels = digits_cnn.model, digits_cnn.images, digits_cnn.labels
    for seed in (0, 1):  # equal image for image: two seeds show the draws line up
        ours = TPGD(model, eps=EPS, steps=10, seed=seed)(images)
        torch.manual_seed(seed)
        theirs = torchattacks.TPGD(model, eps=EPS, alpha=2.5 * EPS / 10, steps=10)(images, labels)
        assert float(((ours - theirs).abs() > 1e-6).double().mean()) < 0.002
        assert robust_accuracy(model, ours, labels) == robust_accuracy(model, theirs, labels)


def test_the_trades_defense_runs_the_same_loop(digits_cnn):
    images = digits_cnn.images[:40]
    trades = TRADES(eps=EPS, steps=5, alpha=0.03)
    inner = trades.adversarial(digits_cnn.model, images, torch.Generator().manual_seed(3))
    assert torch.equal(inner, TPGD(digits_cnn.model, eps=EPS, alpha=0.03, steps=5, seed=3)(images))


def test_labels_are_not_needed_and_not_used(digits_cnn):
    model, images = digits_cnn.model, digits_cnn.images[:40]
    without = TPGD(model, eps=EPS, seed=0)(images)
    assert torch.equal(without, TPGD(model, eps=EPS, seed=0)(images, (digits_cnn.labels[:40] + 3) % 10))


def test_tpgd_moves_the_prediction_further_than_noise(digits_cnn):
    model, images, labels = digits_cnn.model, digits_cnn.images, digits_cnn.labels
    adversarial = TPGD(model, eps=EPS, seed=0)(images)
    noise = (images + EPS * torch.sign(torch.randn(images.shape, generator=torch.Generator().manual_seed(0))))
    with torch.no_grad():
        clean = model(images)
        ours, noisy = kl_divergence(clean, model(adversarial)), kl_divergence(clean, model(noise.clamp(0, 1)))
    assert float(ours.mean()) > 5 * float(noisy.mean())
    assert robust_accuracy(model, adversarial, labels) < robust_accuracy(model, images, labels) - 0.1


def test_ball_box_mask_and_eps_lists(digits_cnn):
    model, images, labels = digits_cnn.model, digits_cnn.images[:40], digits_cnn.labels[:40]
    mask = torch.zeros_like(images, dtype=torch.bool)
    mask[..., 2:6, 2:6] = True
    adversarial = perturb_masked(TPGD(model, eps=EPS, seed=0), model, images, labels, mask)
    assert (adversarial - images)[mask].abs().max() > EPS / 2
    results = TPGD(model, eps=[0.05, 0.2], seed=0)(images)
    for eps, result in zip([0.05, 0.2], results):
        assert float((result - images).abs().max()) <= eps + 1e-6
        assert float((result - images).abs().max()) >= eps - 1e-6  # sign steps reach the edge of the ball
        assert result.min() >= 0 and result.max() <= 1


def test_bad_options_are_one_line_errors(digits_cnn):
    with pytest.raises(AdvlabError, match="tpgd: alpha must be a number > 0"):
        TPGD(digits_cnn.model, alpha=0.0)
    with pytest.raises(AdvlabError, match="tpgd: steps must be an integer >= 1"):
        TPGD(digits_cnn.model, steps=0)
    with pytest.raises(AdvlabError, match="tpgd: eps must be a number >= 0"):
        TPGD(digits_cnn.model, eps=-0.1)
