"""pix2pix's U-Net generator and PatchGAN discriminator (Isola et al. 2017, appendix 6.1): shapes, ranges, depth,
dropout, skips, normalisation, and the 70 x 70 receptive field measured from gradients."""

import pytest
import torch
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.models.patchgan import PatchDiscriminator, receptive_field
from advlab.models.unet import UNetGenerator, default_depth


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    torch.manual_seed(0)


@pytest.mark.parametrize("size,shape", [(16, (16, 16)), (32, (32, 32)), (28, (28, 28)), (33, (33, 29)),
                                        (64, (17, 64))])
def test_unet_keeps_any_input_size(size, shape):
    g = UNetGenerator(3, 2, size, width=4)
    x = torch.rand(2, 3, *shape)
    y = g(x)
    assert y.shape == (2, 2, *shape)
    assert 0 <= y.min() and y.max() <= 1


@pytest.mark.parametrize("size,depth", [(256, 8), (512, 8), (128, 7), (32, 5), (28, 5), (33, 6), (16, 4)])
def test_unet_default_depth_reaches_one_pixel_capped_at_eight(size, depth):
    assert default_depth(size) == depth
    g = UNetGenerator(1, 1, size, width=2)
    strided = [m for m in g.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert g.depth == depth == len(strided)


def test_unet_channels_capped_and_norms_where_the_paper_puts_them():
    g = UNetGenerator(3, 3, 256, width=4)
    convs = [m for m in g.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 8, 16, 32, 32, 32, 32, 32]
    # batch norm after every encoder conv but the first (C64) and the innermost: 6, plus 7 in the decoder
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == 6 + 7
    drops = [m for m in g.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 3 and all(d.p == 0.5 for d in drops)


def test_unet_parameter_count_matches_the_reference_unet_256():
    # junyanz/pytorch-CycleGAN-and-pix2pix prints 54.414 M for unet_256 (ngf 64, 3 -> 3 channels) and
    # 2.769 M for the basic 70 x 70 D on 6 channels
    g = UNetGenerator(3, 3, 256)
    d = PatchDiscriminator(6)
    assert round(sum(p.numel() for p in g.parameters()) / 1e6, 3) == 54.414
    assert round(sum(p.numel() for p in d.parameters()) / 1e6, 3) == 2.769


def test_unet_tanh_output_is_the_image_output_rescaled():
    g = UNetGenerator(1, 1, 32, width=4, dropout=0.0, output="tanh").train()
    x = torch.rand(3, 1, 32, 32)
    raw = g(x)
    g.output = "image"
    assert -1 <= raw.min() < 0 < raw.max() <= 1
    torch.testing.assert_close(g(x), (raw + 1) / 2)


def test_unet_dropout_is_noise_in_train_mode_and_gone_without_it():
    x = torch.rand(2, 1, 32, 32)
    noisy = UNetGenerator(1, 1, 32, width=4).train()
    assert not torch.allclose(noisy(x), noisy(x))
    quiet = UNetGenerator(1, 1, 32, width=4, dropout=0.0).train()
    torch.testing.assert_close(quiet(x), quiet(x))
    assert not any(isinstance(m, nn.Dropout) for m in quiet.modules())


def test_unet_trains_with_a_batch_of_one_on_a_one_pixel_bottleneck():
    g = UNetGenerator(3, 3, 32, width=4).train()
    y = g(torch.rand(1, 3, 32, 32))
    y.mean().backward()
    assert all(p.grad is not None for p in g.parameters())


def test_unet_skips_concatenate_mirrored_layers_and_keep_detail_local():
    g = UNetGenerator(1, 1, 32, width=4, dropout=0.0).eval()
    encoder = [m.out_channels for m in g.modules() if isinstance(m, nn.Conv2d)]
    decoder = [m.in_channels for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    # decoder layers in module order run outermost first: each takes its own input plus encoder layer i's output
    assert encoder == [4, 8, 16, 32, 32]
    assert sorted(decoder) == sorted([2 * c for c in encoder[:-1]] + [encoder[-1]])
    x = torch.rand(1, 1, 32, 32, requires_grad=True)
    g(x)[0, 0, 5, 5].backward()
    grad = x.grad[0, 0].abs()
    # the shortest path from input pixel to output pixel is the outer skip: the output leans on its own neighbourhood
    assert grad[4:7, 4:7].mean() > 100 * grad[20:, 20:].mean()


def test_unet_instance_norm_option_and_bad_arguments():
    g = UNetGenerator(3, 3, 32, width=4, norm="instance")
    assert sum(isinstance(m, nn.InstanceNorm2d) for m in g.modules()) == 3 + 4
    assert g(torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    for kwargs in ({"output": "logits"}, {"norm": "group"}, {"depth": 1}, {"dropout": 1.0}):
        with pytest.raises(AdvlabError):
            UNetGenerator(3, 3, 32, **kwargs)


@pytest.mark.parametrize("side,out", [(256, 30), (64, 6), (70, 6), (32, 2), (24, 1)])
def test_patchgan_one_logit_per_patch(side, out):
    d = PatchDiscriminator(6, width=4)
    assert d(torch.rand(2, 6, side, side)).shape == (2, 1, out, out)


def test_patchgan_receptive_field_analytic():
    assert [receptive_field(n) for n in (1, 2, 3, 4)] == [16, 34, 70, 142]
    assert PatchDiscriminator(3, width=4).receptive_field == 70


@pytest.mark.parametrize("layers,side", [(1, 48), (2, 72), (3, 128)])
def test_patchgan_receptive_field_measured_from_gradients(layers, side):
    d = PatchDiscriminator(1, width=4, layers=layers).double().eval()  # eval: batch norm is per-pixel affine
    x = torch.rand(1, 1, side, side, dtype=torch.float64, requires_grad=True)
    out = d(x)
    centre = out.shape[-1] // 2
    out[0, 0, centre, centre].backward()
    rows, cols = (x.grad[0, 0] != 0).nonzero(as_tuple=True)
    height, width = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
    assert height == width == receptive_field(layers)
    window = x.grad[0, 0, rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    assert bool((window != 0).all())


def test_patchgan_instance_norm_keeps_samples_independent_batch_norm_does_not():
    x = torch.rand(2, 3, 32, 32)
    y = x.clone()
    y[1] = torch.rand(3, 32, 32)
    inst = PatchDiscriminator(3, width=4, norm="instance").train()
    torch.testing.assert_close(inst(x)[0], inst(y)[0])
    batch = PatchDiscriminator(3, width=4, norm="batch").train()
    assert not torch.allclose(batch(x)[0], batch(y)[0])


def test_patchgan_refuses_small_images_and_bad_arguments():
    with pytest.raises(AdvlabError, match="at least 24"):
        PatchDiscriminator(3, width=4)(torch.rand(1, 3, 16, 16))
    assert PatchDiscriminator(3, width=4, layers=2)(torch.rand(1, 3, 16, 16)).shape == (1, 1, 2, 2)
    for kwargs in ({"layers": 0}, {"norm": "layer"}):
        with pytest.raises(AdvlabError):
            PatchDiscriminator(3, **kwargs)


def test_initialisation_of_section_6_2():
    for model in (UNetGenerator(3, 3, 64, width=16), PatchDiscriminator(6, width=16)):
        convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        weights = torch.cat([c.weight.flatten() for c in convs])
        assert abs(weights.std().item() - 0.02) < 0.002 and abs(weights.mean().item()) < 0.002
        assert all(c.bias is None or not c.bias.any() for c in convs)
        scales = torch.cat([m.weight for m in model.modules() if isinstance(m, nn.BatchNorm2d)])
        assert abs(scales.mean().item() - 1) < 0.01
