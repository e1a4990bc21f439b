"""SRResNet and SRGAN's discriminator (Ledig et al. 2017, fig. 4): shapes, layout, sub-pixel shuffle, ranges."""

import pytest
import torch
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.models.srresnet import ResidualBlock, SRDiscriminator, SRResNet, SubPixelUpsample, bicubic_upscale


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_srresnet_upscales_by_its_factor_into_the_unit_range(scale):
    torch.manual_seed(0)
    model = SRResNet(channels=3, scale=scale, blocks=2, width=8)
    with torch.no_grad():
        out = model(torch.rand(2, 3, 5, 7))
    assert out.shape == (2, 3, 5 * scale, 7 * scale)
    assert 0 <= float(out.min()) and float(out.max()) <= 1
    assert len(model.upsample) == {2: 1, 4: 2, 8: 3}[scale]


def test_srresnet_follows_figure_4():
    model = SRResNet(channels=1, scale=4, blocks=3, width=16)
    head_conv, head_act = model.head
    assert head_conv.kernel_size == (9, 9) and isinstance(head_act, nn.PReLU)
    assert len(model.body) == 3 and all(isinstance(block, ResidualBlock) for block in model.body)
    kinds = [type(layer) for layer in model.body[0].body]
    assert kinds == [nn.Conv2d, nn.BatchNorm2d, nn.PReLU, nn.Conv2d, nn.BatchNorm2d]
    assert [type(layer) for layer in model.body_end] == [nn.Conv2d, nn.BatchNorm2d]
    stage = model.upsample[0]
    assert stage[0].out_channels == 64 and isinstance(stage[1], nn.PixelShuffle) and isinstance(stage[2], nn.PReLU)
    assert model.tail.kernel_size == (9, 9) and model.tail.out_channels == 1
    assert sum(p.numel() for p in SRResNet().parameters()) == pytest.approx(1.55e6, rel=0.01)  # the paper's 1.5 M


def test_residual_block_adds_its_input_and_starts_as_the_identity():
    torch.manual_seed(0)
    block = ResidualBlock(4)
    x = torch.randn(2, 4, 6, 6)
    assert torch.equal(block(x), x)  # zero gamma: the branch gives only the last BN's bias, 0
    nn.init.ones_(block.body[4].weight)
    assert torch.allclose(block(x), x + block.body(x)) and not torch.allclose(block(x), x)


def test_fresh_srresnet_is_head_upsampler_tail():
    torch.manual_seed(0)
    model = SRResNet(scale=4, blocks=2, width=8)
    low = torch.rand(2, 3, 5, 5)
    with torch.no_grad():
        shallow = (torch.tanh(model.tail(model.upsample(model.head(low)))) + 1) / 2
        assert torch.equal(model(low), shallow)


def test_long_skip_carries_the_head_around_the_body():
    torch.manual_seed(0)
    model = SRResNet(scale=2, blocks=1, width=4).eval()
    low = torch.rand(1, 3, 6, 6)
    for module in (model.body, model.body_end):
        for parameter in module.parameters():
            parameter.data.zero_()  # body and body_end output 0: the upsampler sees the head alone
    expected = (torch.tanh(model.tail(model.upsample(model.head(low)))) + 1) / 2
    assert torch.allclose(model(low), expected)


def test_pixel_unshuffle_inverts_pixel_shuffle_and_the_layout_is_shis():
    x = torch.arange(2 * 8 * 3 * 5, dtype=torch.float32).reshape(2, 8, 3, 5)
    shuffled = nn.PixelShuffle(2)(x)
    assert shuffled.shape == (2, 2, 6, 10)
    assert torch.equal(nn.PixelUnshuffle(2)(shuffled), x)
    for c in range(2):
        for i in range(2):
            for j in range(2):  # channel 4c + 2i + j goes to the sub-pixel (i, j) of channel c
                assert torch.equal(shuffled[:, c, i::2, j::2], x[:, 4 * c + 2 * i + j])


def test_upsampler_stage_places_its_convolution_channels_on_the_sub_pixel_grid():
    torch.manual_seed(0)
    stage = SubPixelUpsample(3)
    nn.init.constant_(stage[2].weight, 1.0)  # PReLU slope 1: the identity, so the layout shows
    x = torch.randn(1, 3, 4, 5)
    conv = stage[0](x)
    out = stage(x)
    assert out.shape == (1, 3, 8, 10)
    assert torch.allclose(out[:, 1, 1::2, 0::2], conv[:, 4 * 1 + 2 * 1 + 0])
    assert torch.allclose(nn.PixelUnshuffle(2)(out), conv)


@pytest.mark.parametrize("size", [16, 48, 96])
def test_discriminator_takes_any_patch_size(size):
    torch.manual_seed(0)
    model = SRDiscriminator(channels=3, width=8)
    assert model(torch.rand(3, 3, size, size)).shape == (3,)


def test_discriminator_follows_figure_4():
    model = SRDiscriminator(channels=3, width=64)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.features) == 7
    assert not isinstance(model.features[1], nn.BatchNorm2d)
    assert all(m.negative_slope == 0.2 for m in model.modules() if isinstance(m, nn.LeakyReLU))
    dense = [m for m in model.head if isinstance(m, nn.Linear)]
    assert [d.out_features for d in dense] == [1024, 1] and dense[0].in_features == 512 * 36
    # at the paper's 96 px the pooling changes nothing: the map is already 6x6
    features = model.features(torch.rand(1, 3, 96, 96))
    assert features.shape[-2:] == (6, 6) and torch.equal(model.pool(features), features)


def test_bicubic_upscale_shape_range_and_constant_images():
    low = torch.full((1, 3, 4, 6), 0.3)
    high = bicubic_upscale(low, 4)
    assert high.shape == (1, 3, 16, 24)
    assert torch.allclose(high, torch.full_like(high, 0.3))


@pytest.mark.parametrize("scale", [1, 3, 16, 4.0])
def test_scale_outside_2_4_8_is_refused(scale):
    with pytest.raises(AdvlabError, match="2, 4 or 8"):
        SRResNet(scale=scale)


def test_fresh_srresnet_weights_load_into_another():
    source, target = SRResNet(blocks=2, width=8), SRResNet(blocks=2, width=8)
    target.load_state_dict(source.state_dict())
    low = torch.rand(1, 3, 5, 5)
    assert torch.equal(source.eval()(low), target.eval()(low))
