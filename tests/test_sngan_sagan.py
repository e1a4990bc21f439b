"""SNGAN (Miyato et al. 2018, Table 3) and SAGAN (Zhang et al. 2018) networks and SAGAN's self-attention block."""

import pytest
import torch
from helpers import raises_one_line
from torch import nn

from advlab.core.seeding import make_generator
from advlab.data.tensor_data import TensorData
from advlab.gan.ema import GeneratorEMA
from advlab.gan.losses import make_loss
from advlab.gan.trainer import GANTrainer
from advlab.models.sagan import SAGANDiscriminator, SAGANGenerator
from advlab.models.self_attention import SelfAttention
from advlab.models.sngan import SNGANDiscriminator, SNGANGenerator
from advlab.models.spectral_norm import spectral_norm_of

WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
PAIRS = {"sngan": (SNGANGenerator, SNGANDiscriminator), "sagan": (SAGANGenerator, SAGANDiscriminator)}


def weighted_layers(network: nn.Module) -> list[nn.Module]:
    return [m for m in network.modules() if isinstance(m, WEIGHTED)]


def has(network: nn.Module, kind: type) -> bool:
    return any(isinstance(m, kind) for m in network.modules())


# --- self-attention ---------------------------------------------------------------------------------------------

def attention_by_loops(block: SelfAttention, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eqs. 1-3 position by position for one image x (C, H, W): (y (C, H, W), beta (P, P))."""
    c, height, width = x.shape
    columns = x.reshape(c, -1)
    f, g, h = (conv.weight.detach().reshape(conv.out_channels, c) for conv in (block.f, block.g, block.h))
    positions = columns.shape[1]
    s = torch.tensor([[float(f @ columns[:, i] @ (g @ columns[:, j])) for j in range(positions)]
                      for i in range(positions)])
    beta = torch.stack([torch.exp(s[:, j]) / torch.exp(s[:, j]).sum() for j in range(positions)])
    o = torch.stack([sum(beta[j, i] * (h @ columns[:, i]) for i in range(positions)) for j in range(positions)], 1)
    return (block.gamma.detach() * o + columns).reshape(c, height, width), beta


def test_attention_block_keeps_the_shape_and_starts_as_the_identity():
    torch.manual_seed(0)
    block = SelfAttention(16)
    x = torch.randn(2, 16, 5, 7)
    assert block.gamma.item() == 0.0
    assert block.f.out_channels == block.g.out_channels == 2 and block.h.out_channels == 16
    y = block(x)
    assert y.shape == x.shape
    assert torch.equal(y, x)


def test_attention_follows_eqs_1_to_3():
    torch.manual_seed(1)
    block = SelfAttention(8)
    with torch.no_grad():
        block.gamma.fill_(0.7)
        for conv in (block.f, block.g):
            conv.weight.mul_(3)                       # sharper attention than the near-uniform default
    x = torch.randn(2, 8, 3, 4)
    y, beta = block.attend(x)
    assert beta.shape == (2, 12, 12)
    torch.testing.assert_close(beta.sum(dim=2), torch.ones(2, 12))
    assert not torch.allclose(y, x)
    assert beta.max() > 2 / 12                        # not uniform: the test would see a transposed beta
    for n in range(2):
        expected_y, expected_beta = attention_by_loops(block, x[n])
        torch.testing.assert_close(beta[n], expected_beta, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(y[n], expected_y, rtol=1e-4, atol=1e-5)


def test_gradient_reaches_gamma_at_zero():
    torch.manual_seed(2)
    block = SelfAttention(8)
    x = torch.randn(2, 8, 4, 4)
    weights = torch.randn_like(x)
    (block(x) * weights).sum().backward()
    beta = block.attention(x).detach()
    o = (block.h(x).detach().flatten(2) @ beta.transpose(1, 2)).view_as(x)
    torch.testing.assert_close(block.gamma.grad, (o * weights).sum())
    assert block.gamma.grad.abs() > 0


def test_spectral_attention_normalises_its_three_convolutions():
    block = SelfAttention(4, spectral=True)
    assert block.f.out_channels == 1
    assert all(spectral_norm_of(conv) is not None for conv in (block.f, block.g, block.h))
    assert all(spectral_norm_of(conv) is None for conv in SelfAttention(4).modules())


# --- shapes and architecture ------------------------------------------------------------------------------------

@pytest.mark.parametrize("family", ["sngan", "sagan"])
@pytest.mark.parametrize("resolution", [8, 16, 28, 32])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(family, resolution, channels):
    torch.manual_seed(3)
    make_g, make_d = PAIRS[family]
    generator, discriminator = make_g(16, resolution, channels, 8), make_d(resolution, channels, 8)
    images = generator(torch.randn(5, 16))
    assert images.shape == (5, channels, resolution, resolution)
    assert images.min() >= 0 and images.max() <= 1
    assert discriminator(images).shape == (5,)


def test_sngan_is_table_3_at_32_pixels():
    generator, discriminator = SNGANGenerator(128, 32, 3, 64), SNGANDiscriminator(32, 3, 64)
    g_layers = [(m.in_features, m.out_features) if isinstance(m, nn.Linear) else
                (m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0]) for m in weighted_layers(generator)]
    assert g_layers == [(128, 4 * 4 * 512), (512, 256, 4, 2), (256, 128, 4, 2), (128, 64, 4, 2), (64, 3, 3, 1)]
    d_convs = [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0])
               for m in weighted_layers(discriminator) if isinstance(m, nn.Conv2d)]
    assert d_convs == [(3, 64, 3, 1), (64, 64, 4, 2), (64, 128, 3, 1), (128, 128, 4, 2), (128, 256, 3, 1),
                       (256, 256, 4, 2), (256, 512, 3, 1)]
    assert discriminator.net[-1].in_features == 4 * 4 * 512
    slopes = {m.negative_slope for m in discriminator.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.1}


def test_sngan_normalises_d_only_and_batch_norms_g_only():
    generator, discriminator = SNGANGenerator(16, 16, 1, 8), SNGANDiscriminator(16, 1, 8)
    assert all(spectral_norm_of(m) is not None for m in weighted_layers(discriminator))
    assert all(spectral_norm_of(m) is None for m in weighted_layers(generator))
    assert has(generator, nn.BatchNorm2d) and not has(discriminator, nn.BatchNorm2d)


def test_sagan_normalises_every_layer_of_both_networks():
    generator, discriminator = SAGANGenerator(16, 16, 1, 8), SAGANDiscriminator(16, 1, 8)
    for network in (generator, discriminator):
        layers = weighted_layers(network)
        assert all(spectral_norm_of(m) is not None for m in layers)
        assert sum(isinstance(m, SelfAttention) for m in network.modules()) == 1
        assert all(spectral_norm_of(conv) is not None for conv in (network.attention.f, network.attention.h))
    assert has(generator, nn.BatchNorm2d) and not has(discriminator, nn.BatchNorm2d)


def size_seen_by_attention(network: nn.Module, inputs: torch.Tensor) -> tuple[int, int]:
    """(height, width) of the feature map entering the attention block."""
    seen = []
    handle = network.attention.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[-2:]))
    with torch.no_grad():
        network(inputs)
    handle.remove()
    return tuple(seen[0])


@pytest.mark.parametrize("attention_at, expected", [(None, 16), (4, 4), (8, 8), (16, 16)])
def test_attention_sits_at_the_requested_size(attention_at, expected):
    torch.manual_seed(4)
    generator = SAGANGenerator(16, 32, 1, 8, attention_at=attention_at)
    discriminator = SAGANDiscriminator(32, 1, 8, attention_at=attention_at)
    assert generator.attention_at == discriminator.attention_at == expected
    assert size_seen_by_attention(generator, torch.randn(2, 16)) == (expected, expected)
    assert size_seen_by_attention(discriminator, torch.rand(2, 1, 32, 32)) == (expected, expected)


def test_default_attention_is_the_largest_map_below_the_output():
    assert SAGANGenerator(16, 16, 1, 8).attention_at == 8
    assert SAGANDiscriminator(8, 1, 8).attention_at == 4
    assert SAGANGenerator(16, 28, 1, 8).attention_at == 14


def test_at_28_pixels_the_stacks_start_from_7x7():
    """MNIST at its own size: G's first map and D's last are 7x7 (28 = 7 x 2^2), attention may sit at 7 or 14."""
    z = torch.randn(2, 16)
    sngan_g, sngan_d = SNGANGenerator(16, 28, 1, 8), SNGANDiscriminator(28, 1, 8)
    assert sngan_g.net[1].unflattened_size == (32, 7, 7) and sngan_d.net[-1].in_features == 32 * 7 * 7
    sagan_g = SAGANGenerator(16, 28, 1, 8, attention_at=7)
    assert sagan_g.net[0].kernel_size == (7, 7) and isinstance(sagan_g.net[3], SelfAttention)
    sagan_d = SAGANDiscriminator(28, 1, 8, attention_at=7)
    assert sagan_d.net[-1].kernel_size == (7, 7) and sagan_d(sagan_g(z)).shape == (2,)
    raises_one_line(lambda: SAGANGenerator(16, 28, 1, 8, attention_at=4), "attention_at", "7, 14", "4")


@pytest.mark.parametrize("make", [lambda r: SNGANGenerator(16, r, 1, 8), lambda r: SNGANDiscriminator(r, 1, 8),
                                  lambda r: SAGANGenerator(16, r, 1, 8), lambda r: SAGANDiscriminator(r, 1, 8)],
                         ids=["sngan-g", "sngan-d", "sagan-g", "sagan-d"])
@pytest.mark.parametrize("resolution", [4, 9, 30, 0])
def test_bad_resolution_is_one_line_error(make, resolution):
    raises_one_line(lambda: make(resolution), "resolution", "power of two", str(resolution))


@pytest.mark.parametrize("attention_at", [32, 2, 6, 64])
def test_attention_the_stack_never_reaches_is_one_line_error(attention_at):
    raises_one_line(lambda: SAGANGenerator(16, 32, 1, 8, attention_at=attention_at), "attention_at", "4, 8, 16",
                    str(attention_at))
    raises_one_line(lambda: SAGANDiscriminator(32, 1, 8, attention_at=attention_at), "attention_at", "discriminator")


def test_bad_sizes_are_one_line_errors():
    raises_one_line(lambda: SNGANGenerator(0, 16, 1, 8), "z_dim")
    raises_one_line(lambda: SNGANDiscriminator(16, 0, 8), "channels")
    raises_one_line(lambda: SAGANGenerator(16, 16, 1, 0), "width")


# --- a short hinge-loss game ------------------------------------------------------------------------------------

@pytest.mark.parametrize("family", ["sngan", "sagan"])
def test_twenty_hinge_steps_stay_finite(family):
    torch.manual_seed(5)
    make_g, make_d = PAIRS[family]
    generator, discriminator = make_g(16, 16, 1, 8), make_d(16, 1, 8)
    images = torch.rand(64, 1, 16, 16, generator=torch.Generator().manual_seed(5))
    trainer = GANTrainer(
        generator=generator, discriminator=discriminator, loss=make_loss("hinge"),
        data=TensorData(images, None, "noise"),
        optimizer_g=torch.optim.Adam(generator.parameters(), lr=1e-4, betas=(0.0, 0.9)),
        optimizer_d=torch.optim.Adam(discriminator.parameters(), lr=4e-4, betas=(0.0, 0.9)),
        sampler=make_generator(5, torch.device("cpu")), z_dim=16, batch_size=16,
        ema=GeneratorEMA(generator, 0.99))
    before = [p.detach().clone() for p in discriminator.parameters()]
    for step in range(20):
        stats = trainer.train_iteration(record=step == 19)
    assert trainer.check_finite()
    assert all(torch.isfinite(torch.tensor(value)) for value in stats.values())
    assert all(torch.isfinite(p).all() for p in [*generator.parameters(), *discriminator.parameters()])
    assert any(not torch.equal(a, b) for a, b in zip(before, discriminator.parameters()))
    assert torch.isfinite(trainer.sampling_model()(torch.randn(4, 16))).all()
    if family == "sagan":
        assert discriminator.attention.gamma.item() != 0.0
        assert generator.attention.gamma.item() != 0.0
