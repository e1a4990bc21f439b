"""Spectral normalisation (Miyato et al. 2018, Algorithm 1) against closed forms, svdvals and torch's own."""

import copy

import pytest
import torch
import torch.nn.functional as F
from helpers import raises_one_line
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save
from torch import nn

from advlab.models.sagan import SAGANDiscriminator, SAGANGenerator
from advlab.models.sngan import SNGANDiscriminator
from advlab.models.spectral_norm import apply_spectral_norm, spectral_norm, spectral_norm_of, weight_matrix

CONVERGED = 600        # power iterations on one layer (a 512 x 2304 SNGAN layer needed about 500 for 1e-3)
NETWORK_FORWARDS = 300  # whole-network forwards (these width-8 networks needed 10-123, seeds 0-2)


def layers_with_spectral_norm(network: nn.Module) -> list[nn.Module]:
    return [m for m in network.modules() if spectral_norm_of(m) is not None]


def top_singular_value(layer: nn.Module, dim: int | None = None) -> float:
    """Largest singular value of the layer's effective (normalised) weight as a matrix."""
    dim = spectral_norm_of(layer).dim if dim is None else dim
    return torch.linalg.svdvals(weight_matrix(layer.weight.detach(), dim))[0].item()


def power_iterations(layer: nn.Module, times: int) -> None:
    """Evaluate the training-mode parametrized weight `times` times: one power iteration each."""
    for _ in range(times):
        _ = layer.weight


def original(layer: nn.Module) -> torch.Tensor:
    return layer.parametrizations.weight.original


def test_one_training_forward_is_one_step_of_algorithm_1():
    torch.manual_seed(0)
    layer = spectral_norm(nn.Linear(7, 5))
    sn = spectral_norm_of(layer)
    u0, w = sn.u.clone(), original(layer).detach()
    x = torch.randn(3, 7)
    out = layer(x)
    v = w.T @ u0 / torch.linalg.vector_norm(w.T @ u0)
    u = w @ v / torch.linalg.vector_norm(w @ v)
    torch.testing.assert_close(sn.v, v)
    torch.testing.assert_close(sn.u, u)
    torch.testing.assert_close(out, F.linear(x, w / (u @ w @ v), layer.bias))


@pytest.mark.parametrize("make", [lambda: nn.Linear(20, 12), lambda: nn.Conv2d(3, 16, 3),
                                  lambda: nn.Conv2d(16, 8, 4, 2, 1), lambda: nn.ConvTranspose2d(16, 5, 4, 2, 1)],
                         ids=["linear", "conv3x3", "conv4x4", "deconv"])
def test_top_singular_value_is_one_after_power_iterations(make):
    torch.manual_seed(1)
    layer = spectral_norm(make())
    assert top_singular_value(layer) >= 1 - 1e-5          # u^T W v <= sigma(W): never over-normalised
    power_iterations(layer, CONVERGED)
    assert abs(top_singular_value(layer) - 1) < 1e-3


@pytest.mark.parametrize("make, inputs", [(lambda: SNGANDiscriminator(16, 3, 8), (1, 3, 16, 16)),
                                          (lambda: SAGANGenerator(32, 16, 1, 8), (2, 32)),
                                          (lambda: SAGANDiscriminator(16, 1, 8), (1, 1, 16, 16))],
                         ids=["sngan-d", "sagan-g", "sagan-d"])
def test_every_wrapped_layer_of_a_network_reaches_sigma_one(make, inputs):
    torch.manual_seed(2)
    network = make()
    layers = layers_with_spectral_norm(network)
    x = torch.rand(inputs)
    with torch.no_grad():
        for _ in range(NETWORK_FORWARDS):                # training-mode forwards of the whole network
            network(x)
    tops = [top_singular_value(layer) for layer in layers]
    assert max(abs(t - 1) for t in tops) < 1e-3, tops


def test_transposed_convolution_is_normalised_as_out_by_in_times_kernel():
    torch.manual_seed(3)
    layer = spectral_norm(nn.ConvTranspose2d(8, 3, 4))        # weight (in 8, out 3, 4, 4)
    assert spectral_norm_of(layer).dim == 1
    power_iterations(layer, CONVERGED)
    assert abs(top_singular_value(layer, dim=1) - 1) < 1e-3  # the (3, 128) matrix
    assert abs(top_singular_value(layer, dim=0) - 1) > 1e-2  # not the (8, 48) one


@pytest.mark.parametrize("make", [lambda: nn.Conv2d(4, 6, 3), lambda: nn.ConvTranspose2d(6, 4, 4, 2, 1)],
                         ids=["conv", "deconv"])
def test_matches_torch_spectral_norm(make):
    """Same u, v: same sigma, output and gradient. Trained apart (torch updates u before v, Algorithm 1 v
    before u), both converge to the same normalised weight."""
    torch.manual_seed(4)
    ours = spectral_norm(make())
    theirs = torch.nn.utils.parametrizations.spectral_norm(make())
    with torch.no_grad():
        original(theirs).copy_(original(ours))
        theirs.bias.copy_(ours.bias)
        theirs.parametrizations.weight[0]._u.copy_(spectral_norm_of(ours).u)
        theirs.parametrizations.weight[0]._v.copy_(spectral_norm_of(ours).v)
    ours.eval(), theirs.eval()
    x = torch.randn(2, ours.in_channels, 6, 6)
    torch.testing.assert_close(ours(x), theirs(x))
    ours(x).square().sum().backward()
    theirs(x).square().sum().backward()
    torch.testing.assert_close(original(ours).grad, original(theirs).grad)
    ours.train(), theirs.train()
    power_iterations(ours, CONVERGED)
    power_iterations(theirs, CONVERGED)
    torch.testing.assert_close(ours.weight, theirs.weight, rtol=1e-4, atol=1e-6)


def test_eval_mode_does_not_update_u_and_uses_the_stored_estimate():
    torch.manual_seed(5)
    layer = spectral_norm(nn.Conv2d(3, 4, 3)).eval()
    sn = spectral_norm_of(layer)
    u, v = sn.u.clone(), sn.v.clone()
    x = torch.randn(2, 3, 5, 5)
    outputs = [layer(x) for _ in range(3)]
    assert torch.equal(sn.u, u) and torch.equal(sn.v, v)
    w = original(layer).detach()
    expected = F.conv2d(x, w / (u @ w.flatten(1) @ v), layer.bias)
    for out in outputs:
        torch.testing.assert_close(out, expected)
    layer.train()(x)
    assert not torch.equal(sn.u, u)


def test_state_dict_is_plain_tensors_and_round_trips_through_safetensors():
    torch.manual_seed(6)
    network = SNGANDiscriminator(16, 1, 8)
    x = torch.rand(4, 1, 16, 16)
    for _ in range(3):
        network(x)
    state = network.state_dict()
    assert all(type(t) is torch.Tensor for t in state.values())
    assert "net.0.parametrizations.weight.original" in state and "net.0.parametrizations.weight.0.u" in state
    loaded = safetensors_load(safetensors_save({k: t.contiguous() for k, t in state.items()}))

    torch.manual_seed(7)
    fresh = SNGANDiscriminator(16, 1, 8)
    assert not torch.equal(fresh(x), network(x))
    fresh.load_state_dict(loaded, strict=True)
    network.load_state_dict(loaded, strict=True)           # undo the forward just above on both sides
    assert torch.equal(fresh.eval()(x), network.eval()(x))
    assert torch.equal(fresh.train()(x), network.train()(x))  # same u, same power iteration
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), network.state_dict().values()))


def test_gradients_reach_every_original_weight():
    torch.manual_seed(8)
    network = SNGANDiscriminator(16, 3, 8)
    network(torch.rand(4, 3, 16, 16)).mean().backward()
    for layer in layers_with_spectral_norm(network):
        grad = original(layer).grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_gradient_is_the_papers_eq_12_with_u_and_v_constant():
    torch.manual_seed(9)
    layer = spectral_norm(nn.Linear(6, 4, bias=False)).eval()
    sn = spectral_norm_of(layer)
    w = original(layer).detach()
    x = torch.randn(5, 6)
    layer(x).sum().backward()
    sigma = sn.u @ w @ sn.v
    dw_sn = torch.ones(5, 4).T @ x                        # dL/dW_SN for L = sum(W_SN x)
    expected = (dw_sn - (dw_sn * w / sigma).sum() * torch.outer(sn.u, sn.v)) / sigma
    torch.testing.assert_close(original(layer).grad, expected)


def test_apply_spectral_norm_wraps_conv_deconv_linear_once():
    network = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ConvTranspose2d(2, 2, 3), nn.BatchNorm2d(2), nn.Flatten(),
                            nn.Linear(2, 1))
    assert apply_spectral_norm(network) is network
    assert len(layers_with_spectral_norm(network)) == 3
    apply_spectral_norm(network)
    assert all(len(m.parametrizations.weight) == 1 for m in layers_with_spectral_norm(network))
    assert spectral_norm_of(network[2]) is None


def test_deepcopy_keeps_an_independent_estimate():
    """GeneratorEMA deep-copies the generator; SAGAN's G is spectrally normalised."""
    network = SAGANGenerator(16, 8, 1, 4)
    twin = copy.deepcopy(network)
    z = torch.randn(3, 16)
    assert torch.equal(twin.eval()(z), network.eval()(z))
    network.train()(z)
    assert not torch.equal(spectral_norm_of(twin.net[0]).u, spectral_norm_of(network.net[0]).u)


def test_bad_inputs_are_one_line_errors():
    raises_one_line(lambda: spectral_norm(nn.ReLU()), "spectral norm", "ReLU")
    raises_one_line(lambda: spectral_norm(spectral_norm(nn.Linear(2, 2))), "already")
    raises_one_line(lambda: spectral_norm(nn.Linear(2, 2), iterations=0), "iterations")
