"""The Wasserstein attack: the projected Sinkhorn invariants, Lambert's W, masks, strength, errors."""

import numpy as np
import pytest
import torch

from advlab.attacks.wasserstein import (
    Wasserstein,
    lambertw_of_exp,
    local_apply,
    sinkhorn_projection,
    wasserstein_cost,
)
from advlab.core.errors import AdvlabError


def test_cost_and_lambert_w_by_hand():
    cost = wasserstein_cost(5, 2)
    assert cost[2, 2] == 0 and cost[2, 3] == 1 and cost[1, 1] == 2 and cost[0, 0] == 8
    scipy = pytest.importorskip("scipy.special")
    logs = torch.tensor([-50.0, -5, 0, 1, 10, 700], dtype=torch.float64)
    expected = np.real(scipy.lambertw(np.exp(logs.numpy())))
    assert np.allclose(lambertw_of_exp(logs).numpy(), expected, rtol=1e-10, atol=1e-20)
    assert lambertw_of_exp(torch.tensor([-float("inf")], dtype=torch.float64)).item() == 0.0


def test_local_apply_is_a_same_size_correlation():
    values = torch.zeros(1, 2, 5, 5, dtype=torch.float64)
    values[0, 1, 2, 2] = 1.0
    kernel = torch.arange(9, dtype=torch.float64).view(1, 3, 3)
    kernel = (kernel + kernel.flip(1, 2)) / 2  # symmetric, as the transport kernels are
    out = local_apply(kernel, values)
    assert out[0, 0].abs().sum() == 0  # mass never crosses channels
    assert torch.allclose(out[0, 1, 1:4, 1:4], kernel[0])


@pytest.mark.parametrize("eps", [0.02, 0.2])
def test_projection_conserves_mass_per_channel_and_keeps_the_cost_within_eps(digits_cnn, eps):
    clean = digits_cnn.images[:20].repeat(1, 2, 1, 1)  # two channels
    clean[:, 1] = clean[:, 1].flip(-1)
    mass = clean.flatten(1).sum(1).view(-1, 1, 1, 1)
    noise = 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    x, point = clean / mass, (clean + noise) / mass
    z, cost = sinkhorn_projection(x, point, torch.full((20,), eps), wasserstein_cost(5, 2), 1000.0, 1000, 1e-8)
    channel_mass = lambda t: t.sum((2, 3))  # noqa: E731
    assert torch.allclose(channel_mass(z), channel_mass(x), atol=2e-4)  # the plan keeps mass in its channel
    assert float(cost.max()) <= eps * (1 + 1e-4)
    # the projection moves towards the point: closer to it than the centre of the ball is
    assert ((z - point).flatten(1).norm(dim=1) < (x - point).flatten(1).norm(dim=1)).all()
    # a point inside the ball is (nearly) its own projection
    inside, inside_cost = sinkhorn_projection(x, x, torch.full((20,), eps), wasserstein_cost(5, 2), 1000.0, 1000,
                                              1e-8)
    assert float((inside - x).abs().max()) < 0.05 * float(x.max())  # the entropy term blurs a little
    assert float(inside_cost.max()) <= eps * (1 + 1e-4)


def test_attack_fools_the_model_respects_the_mask_and_freezes_successes(digits_cnn):
    images, labels = digits_cnn.images[:40], digits_cnn.labels[:40]
    mask = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    mask[..., 1:7, 1:7] = True
    result = Wasserstein(digits_cnn.model, eps=0.1, steps=20, eps_every=5).run(images, labels, mask=mask)[0]
    adversarial = result.adversarial
    assert torch.equal(adversarial[..., 0, :], images[..., 0, :]) and torch.equal(adversarial[..., 7], images[..., 7])
    assert result.summary()["robust_accuracy"] < result.summary()["clean_accuracy"] - 0.3  # measured ~0.45 lower
    # the mass is nearly conserved (the box and the Sinkhorn tolerance move a little)
    kept = adversarial.flatten(1).sum(1) / images.flatten(1).sum(1)
    assert (kept - 1).abs().max() < 0.1


def test_targeted_and_fixed_radius(digits_cnn):
    images, labels = digits_cnn.images[:30], digits_cnn.labels[:30]
    targets = (labels + 1) % 10
    result = Wasserstein(digits_cnn.model, eps=0.3, steps=20, targeted=True).run(images, labels, targets)[0]
    assert result.success.double().mean() > 0.3
    small = Wasserstein(digits_cnn.model, eps=0.005, steps=5, eps_factor=1.0).run(images, labels)[0]
    assert small.summary()["robust_accuracy"] >= result.summary()["clean_accuracy"] - 0.2


def test_bad_parameters_are_one_line_errors(digits_cnn):
    for kwargs, words in (({"kernel_size": 4}, "kernel_size must be odd"), ({"step": "l1"}, "unknown step"),
                          ({"eps_factor": 0.5}, "eps_factor"), ({"regularization": 0.0}, "regularization")):
        with pytest.raises(AdvlabError, match=words):
            Wasserstein(digits_cnn.model, **kwargs)
