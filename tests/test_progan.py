"""Progressive growing of GANs (Karras et al. 2018): equalised lr, pixel norm, minibatch stddev,
the fade-in of fig. 2 in G and D, the stage schedule, and a tiny training run through every stage."""

import math

import pytest
import torch
import torch.nn.functional as F
from helpers import raises_one_line

from advlab.core.seeding import make_generator
from advlab.data import load_digits_images
from advlab.data.tensor_data import TensorData
from advlab.gan.losses import make_loss
from advlab.gan.progressive import ProgressiveData, ProgressiveSchedule, Stage
from advlab.gan.trainer import GANTrainer
from advlab.models.progan import (
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStdDev,
    PixelNorm,
    ProGANDiscriminator,
    ProGANGenerator,
    downsample_to,
    pixel_norm,
    upsample_to,
)

Z_DIM, MAX_RES, WIDTH = 8, 16, 4


def networks(seed=0):
    torch.manual_seed(seed)
    return ProGANGenerator(Z_DIM, MAX_RES, 1, WIDTH), ProGANDiscriminator(MAX_RES, 1, WIDTH)


def noise(n=8, seed=1):
    return torch.randn(n, Z_DIM, generator=torch.Generator().manual_seed(seed))


def images(n=8, size=MAX_RES, seed=2):
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


# ---- equalised learning rate (sec. 4.1) -----------------------------------------------------------

@pytest.mark.parametrize("in_ch, out_ch, kernel, gain", [(3, 5, 3, math.sqrt(2)), (7, 2, 1, 1.0), (4, 6, 4, 2.0)])
def test_equalized_conv_scales_by_he_constant(in_ch, out_ch, kernel, gain):
    torch.manual_seed(0)
    layer = EqualizedConv2d(in_ch, out_ch, kernel, gain=gain)
    with torch.no_grad():
        layer.bias.normal_()
    fan_in = in_ch * kernel * kernel
    assert layer.scale == pytest.approx(gain / math.sqrt(fan_in))
    if gain == math.sqrt(2):
        assert layer.scale == pytest.approx(math.sqrt(2 / fan_in))
    x = torch.randn(2, in_ch, 9, 9)
    plain = F.conv2d(x, layer.weight * math.sqrt(gain**2 / fan_in), layer.bias, padding=kernel // 2)
    torch.testing.assert_close(layer(x), plain)


def test_equalized_linear_scales_by_he_constant():
    torch.manual_seed(0)
    layer = EqualizedLinear(50, 3)
    assert layer.scale == pytest.approx(math.sqrt(2 / 50))
    x = torch.randn(4, 50)
    torch.testing.assert_close(layer(x), x @ (layer.weight * math.sqrt(2 / 50)).T + layer.bias)
    assert EqualizedLinear(50, 1, gain=1.0).scale == pytest.approx(1 / math.sqrt(50))


def test_equalized_weights_start_standard_normal_and_biases_zero():
    torch.manual_seed(0)
    conv, linear = EqualizedConv2d(64, 64, 3), EqualizedLinear(256, 256)
    for layer in (conv, linear):
        assert abs(layer.weight.mean().item()) < 0.02 and abs(layer.weight.std().item() - 1) < 0.02
        assert torch.count_nonzero(layer.bias) == 0


def test_equalized_gradient_reaches_the_unscaled_weight_times_c():
    layer = EqualizedLinear(8, 1)
    x = torch.randn(3, 8)
    layer(x).sum().backward()
    torch.testing.assert_close(layer.weight.grad[0], x.sum(0) * math.sqrt(2 / 8))


# ---- pixel norm (sec. 4.2) ------------------------------------------------------------------------

def test_pixel_norm_gives_unit_rms_feature_vectors():
    x = torch.randn(3, 6, 5, 4) * torch.rand(3, 1, 5, 4) * 10
    y = pixel_norm(x)
    torch.testing.assert_close(y.pow(2).mean(dim=1), torch.ones(3, 5, 4))
    torch.testing.assert_close(PixelNorm()(x), y)


def test_pixel_norm_hand_value_and_latent_vectors():
    x = torch.tensor([[3.0, 4.0]])
    torch.testing.assert_close(pixel_norm(x), x / math.sqrt(12.5 + 1e-8))
    assert pixel_norm(torch.zeros(1, 4)).abs().max() == 0


# ---- minibatch stddev (sec. 3) --------------------------------------------------------------------

def test_minibatch_stddev_hand_computed_groups():
    # two groups of two; features (2 channels, 1x1)
    x = torch.tensor([[1.0, 0.0], [3.0, 4.0], [0.0, 0.0], [0.0, 2.0]]).view(4, 2, 1, 1)
    out = MinibatchStdDev(group_size=2)(x)
    assert out.shape == (4, 3, 1, 1)
    torch.testing.assert_close(out[:, :2], x)
    # group 0: stds |1-3|/2 = 1 and |0-4|/2 = 2 -> 1.5; group 1: stds 0 (-> sqrt(1e-8)) and 1
    expected = torch.tensor([1.5, 1.5, (1e-4 + 1) / 2, (1e-4 + 1) / 2])
    torch.testing.assert_close(out[:, 2, 0, 0], expected)


def test_minibatch_stddev_averages_over_positions_and_fills_the_map():
    x = torch.zeros(2, 1, 1, 2)
    x[1, 0, 0, 0] = 4.0  # position 0: std 2; position 1: std 0
    out = MinibatchStdDev(group_size=4)(x)
    assert out.shape == (2, 2, 1, 2)
    torch.testing.assert_close(out[:, 1], torch.full((2, 1, 2), (2 + 1e-4) / 2))


@pytest.mark.parametrize("n, group, groups", [(8, 4, 2), (6, 4, 1), (3, 4, 1), (5, 4, 1), (1, 4, 1)])
def test_minibatch_stddev_groups_divide_the_batch_or_take_all_of_it(n, group, groups):
    x = torch.randn(n, 3, 2, 2, dtype=torch.float64)
    stat = MinibatchStdDev(group)(x)[:, -1]
    size = n // groups
    for g in range(groups):
        members = x[g * size:(g + 1) * size]
        expected = torch.sqrt(members.var(dim=0, unbiased=False) + 1e-8).mean()
        torch.testing.assert_close(stat[g * size:(g + 1) * size], expected.expand(size, 2, 2))


# ---- stages and their validation ------------------------------------------------------------------

def test_new_networks_start_at_the_final_stage_and_shapes_at_every_stage():
    g, d = networks()
    assert (g.resolution, g.alpha) == (MAX_RES, 1.0) and (d.resolution, d.alpha) == (MAX_RES, 1.0)
    for resolution in (4, 8, 16):
        for alpha in (0.0, 0.3, 1.0):
            g.set_stage(resolution, alpha)
            d.set_stage(resolution, alpha)
            fake = g(noise())
            assert fake.shape == (8, 1, resolution, resolution)
            assert d(fake).shape == (8,)


@pytest.mark.parametrize("resolution", [12, 32, 2, 0, 64, True, 8.0])
def test_unreachable_resolution_is_one_line_naming_the_valid_ones(resolution):
    g, d = networks()
    for net in (g, d):
        raises_one_line(lambda net=net: net.set_stage(resolution, 1.0), "4, 8, 16", str(resolution))


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan"), "1"])
def test_alpha_outside_unit_interval_is_refused(alpha):
    g, _ = networks()
    raises_one_line(lambda: g.set_stage(8, alpha), "alpha", "[0, 1]")


@pytest.mark.parametrize("max_resolution", [4, 12, 0, 24])
def test_max_resolution_must_be_a_power_of_two_at_least_8(max_resolution):
    raises_one_line(lambda: ProGANGenerator(Z_DIM, max_resolution), "power of two", str(max_resolution))
    raises_one_line(lambda: ProGANDiscriminator(max_resolution), "power of two", str(max_resolution))


def test_discriminator_refuses_images_of_another_resolution():
    _, d = networks()
    d.set_stage(8, 1.0)
    raises_one_line(lambda: d(images(4, 16)), "resolution 8", "(N, 1, 8, 8)", "downsample_to")


def test_state_dict_keys_are_the_same_at_every_stage_and_load_across_stages():
    g, d = networks()
    keys = {(name, frozenset(net.state_dict())) for name, net in (("g", g), ("d", d))}
    for resolution in (4, 8, 16):
        g.set_stage(resolution, 0.5)
        d.set_stage(resolution, 0.5)
        assert {(name, frozenset(net.state_dict())) for name, net in (("g", g), ("d", d))} == keys
    g.set_stage(8, 0.25)
    saved, expected = g.state_dict(), g(noise())
    fresh, _ = networks(seed=5)
    fresh.load_state_dict(saved)
    fresh.set_stage(8, 0.25)
    torch.testing.assert_close(fresh(noise()), expected, rtol=0, atol=0)


# ---- fade-in (fig. 2) -----------------------------------------------------------------------------

@pytest.mark.parametrize("resolution", [8, 16])
def test_generator_fade_in_at_alpha_0_is_the_upsampled_low_resolution_path(resolution):
    g, _ = networks()
    z = noise()
    g.set_stage(resolution // 2, 1.0)
    low = g(z)
    g.set_stage(resolution, 0.0)
    faded = g(z)
    assert torch.equal(faded, low.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3))
    with torch.no_grad():  # the new block and toRGB play no part yet
        g.blocks[str(resolution)][1].weight.add_(1.0)
        g.to_rgb[str(resolution)].bias.add_(1.0)
    assert torch.equal(g(z), faded)


@pytest.mark.parametrize("resolution", [8, 16])
def test_generator_fade_in_at_alpha_1_is_the_new_high_resolution_path(resolution):
    g, _ = networks()
    z = noise()
    g.set_stage(resolution, 1.0)
    out = g(z)
    new = g.to_rgb[str(resolution)](g.blocks[str(resolution)](g.features(z, resolution // 2)))
    assert torch.equal(out, (new + 1) / 2)
    with torch.no_grad():  # the old toRGB plays no part any more
        g.to_rgb[str(resolution // 2)].bias.add_(1.0)
    assert torch.equal(g(z), out)


def test_generator_fade_in_mixes_the_two_paths_linearly():
    g, _ = networks()
    z = noise()
    g.set_stage(8, 0.0)
    old = g(z)
    g.set_stage(8, 1.0)
    new = g(z)
    g.set_stage(8, 0.3)
    torch.testing.assert_close(g(z), 0.7 * old + 0.3 * new)


@pytest.mark.parametrize("resolution", [8, 16])
def test_discriminator_fade_in_at_alpha_0_is_the_pooled_low_resolution_path(resolution):
    _, d = networks()
    x = images(8, resolution)
    d.set_stage(resolution // 2, 1.0)
    low = d(downsample_to(x, resolution // 2))
    d.set_stage(resolution, 0.0)
    faded = d(x)
    assert torch.equal(faded, low)
    with torch.no_grad():
        d.from_rgb[str(resolution)][0].bias.add_(1.0)
    assert torch.equal(d(x), faded)


@pytest.mark.parametrize("resolution", [8, 16])
def test_discriminator_fade_in_at_alpha_1_and_in_between(resolution):
    _, d = networks()
    x = images(8, resolution)
    d.set_stage(resolution, 1.0)
    out = d(x)
    new = d.blocks[str(resolution)](d.from_rgb[str(resolution)](x * 2 - 1))
    assert torch.equal(out, d.score(new, resolution // 2))
    with torch.no_grad():
        d.from_rgb[str(resolution // 2)][0].bias.add_(1.0)
    assert torch.equal(d(x), out)
    old = d.from_rgb[str(resolution // 2)](F.avg_pool2d(x, 2) * 2 - 1)
    d.set_stage(resolution, 0.4)
    torch.testing.assert_close(d(x), d.score(0.6 * old + 0.4 * new, resolution // 2))


def test_generator_output_is_linear_in_training_and_clipped_in_eval():
    g, _ = networks()
    z = noise(64)
    g.set_stage(16, 1.0)
    raw = g(z)
    assert raw.min() < 0 or raw.max() > 1  # N(0, 1) weights: the linear output strays out of [0, 1]
    g.eval()
    clipped = g(z)
    assert torch.equal(clipped, raw.clamp(0, 1))


# ---- real images at the current stage -------------------------------------------------------------

def test_downsample_to_average_pools_and_fades_like_the_generator():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    pooled = downsample_to(x, 2)
    torch.testing.assert_close(pooled, torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))
    assert torch.equal(downsample_to(x, 4), x)
    assert torch.equal(downsample_to(x, 1), torch.full((1, 1, 1, 1), 7.5))
    big = images(2, 16)
    fine, coarse = downsample_to(big, 8), upsample_to(downsample_to(big, 4), 8)
    torch.testing.assert_close(downsample_to(big, 8, alpha=0.25), 0.75 * coarse + 0.25 * fine)
    assert torch.equal(downsample_to(big, 4, alpha=0.25), downsample_to(big, 4))  # nothing fades at 4x4


@pytest.mark.parametrize("resolution", [12, 32, 0, 3])
def test_downsample_to_refuses_sizes_it_cannot_reach(resolution):
    raises_one_line(lambda: downsample_to(images(1, 16), resolution), "16x16", str(resolution))


def test_upsample_to_repeats_pixels():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    expected = torch.tensor([[1.0, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    assert torch.equal(upsample_to(x, 4)[0, 0], expected)
    raises_one_line(lambda: upsample_to(x, 6), "2x2", "6")


def test_progressive_data_samples_at_the_current_stage():
    data = ProgressiveData(TensorData(images(10, 16), torch.arange(10), "toy"))
    full = data.sample(4, make_generator(3, torch.device("cpu")))
    assert full.shape == (4, 1, 16, 16)
    data.set_stage(8, 0.5)
    staged, labels = data.sample_labelled(4, make_generator(3, torch.device("cpu")))
    assert torch.equal(staged, downsample_to(full, 8, 0.5))
    assert torch.equal(full, data.data.data[labels])


# ---- the schedule (sec. 3, A.1) -------------------------------------------------------------------

def test_schedule_hand_computed_steps():
    schedule = ProgressiveSchedule(16, 10)
    assert schedule.total_steps == 50  # 4 stable, 8 fade + stable, 16 fade + stable
    expected = {0: (4, 1.0), 9: (4, 1.0), 10: (8, 0.0), 15: (8, 0.5), 19: (8, 0.9), 20: (8, 1.0),
                29: (8, 1.0), 30: (16, 0.0), 31: (16, 0.1), 39: (16, 0.9), 40: (16, 1.0), 49: (16, 1.0),
                50: (16, 1.0), 10**6: (16, 1.0)}
    for step, (resolution, alpha) in expected.items():
        stage = schedule.stage_at(step)
        assert isinstance(stage, Stage) and stage.resolution == resolution
        assert stage.alpha == pytest.approx(alpha), step


def test_schedule_with_a_later_start_and_a_single_stage():
    later = ProgressiveSchedule(32, 3, start_resolution=8)
    assert later.total_steps == 15
    assert [tuple(later.stage_at(s)) for s in (0, 2, 3, 4, 6, 9, 10, 14)] == [
        (8, 1.0), (8, 1.0), (16, 0.0), (16, 1 / 3), (16, 1.0), (32, 0.0), (32, 1 / 3), (32, 1.0)]
    single = ProgressiveSchedule(8, 5, start_resolution=8)
    assert single.total_steps == 5 and single.stage_at(0) == (8, 1.0) == single.stage_at(7)


def test_schedule_alpha_rises_monotonically_and_resolution_never_shrinks():
    schedule = ProgressiveSchedule(32, 7)
    stages = [schedule.stage_at(s) for s in range(schedule.total_steps + 3)]
    for before, after in zip(stages, stages[1:]):
        assert after.resolution in (before.resolution, 2 * before.resolution)
        if after.resolution == before.resolution:
            assert after.alpha >= before.alpha
        else:
            assert (before.alpha, after.alpha) == (1.0, 0.0)


@pytest.mark.parametrize("kwargs, words", [
    ({"max_resolution": 12, "steps_per_stage": 5}, ["power of two", "12"]),
    ({"max_resolution": 16, "steps_per_stage": 0}, ["steps_per_stage", ">= 1"]),
    ({"max_resolution": 16, "steps_per_stage": 2.5}, ["steps_per_stage"]),
    ({"max_resolution": 16, "steps_per_stage": 5, "start_resolution": 32}, ["start_resolution", "4, 8, 16"]),
    ({"max_resolution": 16, "steps_per_stage": 5, "start_resolution": 6}, ["start_resolution", "6"]),
])
def test_schedule_validation(kwargs, words):
    raises_one_line(lambda: ProgressiveSchedule(**kwargs), *words)


def test_schedule_refuses_negative_steps_and_apply_sets_every_part():
    schedule = ProgressiveSchedule(16, 10)
    raises_one_line(lambda: schedule.stage_at(-1), "step", ">= 0")
    g, d = networks()
    data = ProgressiveData(TensorData(images(4, 16), None, "toy"))
    assert schedule.apply(35, g, d, data) == (16, 0.5)
    assert all((part.resolution, part.alpha) == (16, 0.5) for part in (g, d, data))


# ---- training through the stages ------------------------------------------------------------------

def train_through_stages(loss: str, steps_per_stage: int, width: int):
    """A tiny ProGAN on digits at 16x16, its stage set from the schedule before every iteration."""
    torch.manual_seed(0)
    g, d = ProGANGenerator(Z_DIM, 16, 1, width), ProGANDiscriminator(16, 1, width)
    data = ProgressiveData(load_digits_images(16))
    adam = lambda params: torch.optim.Adam(params, lr=1e-3, betas=(0.0, 0.99))  # noqa: E731 (the paper's A.1)
    trainer = GANTrainer(g, d, make_loss(loss), data, adam(g.parameters()), adam(d.parameters()),
                         make_generator(0, torch.device("cpu")), z_dim=Z_DIM, batch_size=16)
    schedule = ProgressiveSchedule(16, steps_per_stage)
    seen = set()
    for _ in range(schedule.total_steps):
        seen.add(schedule.apply(trainer.step, g, d, data).resolution)
        stats = trainer.train_iteration(record=True)
        assert all(math.isfinite(value) for value in stats.values()), stats
    assert trainer.check_finite() and seen == {4, 8, 16}
    with torch.no_grad():
        final = g.eval()(noise(8))
    assert final.shape == (8, 1, 16, 16) and torch.isfinite(final).all()
    assert 0 <= final.min() and final.max() <= 1
    return trainer


@pytest.mark.parametrize("loss", ["wgan-gp", "nonsaturating"])
def test_a_few_steps_through_every_stage_stay_finite(loss):
    trainer = train_through_stages(loss, steps_per_stage=2, width=4)
    assert trainer.step == 10


@pytest.mark.slow
def test_few_hundred_steps_of_wgan_gp_through_every_stage():
    trainer = train_through_stages("wgan-gp", steps_per_stage=60, width=8)
    assert trainer.step == 300
