"""Each loss against values computed by hand from its paper's equation."""

import math

import pytest
import torch
from torch import nn

from advlab import AdvlabError
from advlab.gan.losses import LOSSES, gradient_penalty, make_loss

REAL = torch.tensor([2.0, -1.0, 0.5])
FAKE = torch.tensor([-3.0, 0.0, 1.0])


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def mean(values):
    return sum(values) / len(values)


def test_minimax_discriminator_loss_is_minus_value_function():
    # V = E log D(x) + E log(1 - D(G(z))), D descends -V (Goodfellow et al. eq. 1)
    value = mean([math.log(sigmoid(r)) for r in REAL]) + mean([math.log(1 - sigmoid(f)) for f in FAKE])
    assert make_loss("minimax").discriminator_loss(REAL, FAKE).item() == pytest.approx(-value, rel=1e-6)


def test_minimax_generator_descends_log_one_minus_d():
    expected = mean([math.log(1 - sigmoid(f)) for f in FAKE])
    assert make_loss("minimax").generator_loss(FAKE).item() == pytest.approx(expected, rel=1e-6)


def test_nonsaturating_generator_ascends_log_d():
    expected = -mean([math.log(sigmoid(f)) for f in FAKE])
    assert make_loss("nonsaturating").generator_loss(FAKE).item() == pytest.approx(expected, rel=1e-6)
    # its discriminator is the minimax one
    assert make_loss("nonsaturating").discriminator_loss(REAL, FAKE).item() == pytest.approx(
        make_loss("minimax").discriminator_loss(REAL, FAKE).item())


def test_value_at_d_one_half_is_minus_log_four():
    zeros = torch.zeros(5)  # logit 0 means D = 1/2 everywhere
    assert make_loss("minimax").discriminator_loss(zeros, zeros).item() == pytest.approx(math.log(4))


def test_optimal_discriminator_gives_jensen_shannon_identity():
    # With D*(x) = p_data / (p_data + p_g) on a two-point space, -L_D = -log 4 + 2 JSD (eq. 5-6)
    p_data, p_g = torch.tensor([0.7, 0.3]), torch.tensor([0.2, 0.8])
    d_star = p_data / (p_data + p_g)
    logits = torch.log(d_star / (1 - d_star))
    value = (p_data * torch.log(d_star)).sum() + (p_g * torch.log(1 - d_star)).sum()
    m = (p_data + p_g) / 2
    jsd = 0.5 * (p_data * torch.log(p_data / m)).sum() + 0.5 * (p_g * torch.log(p_g / m)).sum()
    assert value.item() == pytest.approx(-math.log(4) + 2 * jsd.item(), rel=1e-6)
    # and the loss function reproduces V when the batch has the right proportions
    real = logits.repeat_interleave((p_data * 10).round().long())
    fake = logits.repeat_interleave((p_g * 10).round().long())
    assert -make_loss("minimax").discriminator_loss(real, fake).item() == pytest.approx(value.item(), rel=1e-5)


def test_least_squares_with_zero_one_coding():
    loss = make_loss("least-squares")
    d_expected = 0.5 * mean([(r - 1) ** 2 for r in REAL]) + 0.5 * mean([f ** 2 for f in FAKE])
    g_expected = 0.5 * mean([(f - 1) ** 2 for f in FAKE])
    assert loss.discriminator_loss(REAL, FAKE).item() == pytest.approx(d_expected)
    assert loss.generator_loss(FAKE).item() == pytest.approx(g_expected)


def test_hinge():
    loss = make_loss("hinge")
    d_expected = mean([max(0, 1 - r) for r in REAL]) + mean([max(0, 1 + f) for f in FAKE])
    assert loss.discriminator_loss(REAL, FAKE).item() == pytest.approx(d_expected)
    assert loss.generator_loss(FAKE).item() == pytest.approx(-mean(FAKE.tolist()))


def test_wasserstein_terms():
    loss = make_loss("wgan-gp")
    assert loss.discriminator_loss(REAL, FAKE).item() == pytest.approx(mean(FAKE.tolist()) - mean(REAL.tolist()))
    assert loss.generator_loss(FAKE).item() == pytest.approx(-mean(FAKE.tolist()))


def test_gradient_penalty_of_a_linear_critic():
    # D(x) = w.x has gradient w everywhere: penalty = (|w| - 1)^2 exactly
    critic = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 4.0]]))
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    gp = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx((5.0 - 1.0) ** 2)
    assert make_loss("wgan-gp", gp_weight=10.0).penalty(critic, real, fake, torch.Generator()).item() == \
        pytest.approx(160.0)


def test_gradient_penalty_is_differentiable_in_critic_weights():
    critic = nn.Linear(2, 1, bias=False)
    gp = gradient_penalty(critic, torch.randn(4, 2), torch.randn(4, 2), torch.Generator().manual_seed(1))
    gp.backward()
    w = critic.weight.detach()
    expected = 2 * (w.norm() - 1) * w / w.norm()  # d/dw (|w| - 1)^2
    assert torch.allclose(critic.weight.grad, expected, atol=1e-6)


def test_probability_view():
    assert torch.allclose(make_loss("minimax").probability(torch.zeros(2)), torch.full((2,), 0.5))
    assert torch.equal(make_loss("hinge").probability(REAL), REAL)


def test_registry_names_and_unknown_name():
    assert set(LOSSES) == {"minimax", "nonsaturating", "least-squares", "hinge", "wgan-gp"}
    with pytest.raises(AdvlabError, match="valid losses are: minimax, nonsaturating"):
        make_loss("wasserstein")
