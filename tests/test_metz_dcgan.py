"""Metz et al.'s stacked-MNIST DCGAN with a weak D (PacGAN's Table 3 setting) and the --d-width option."""

from __future__ import annotations

import dataclasses

import torch
from helpers import assert_one_line_error, raises_one_line, run_cli
from safetensors.torch import load_file

from advlab.core.checkpoints import list_checkpoints
from advlab.core.config import from_mapping
from advlab.gan.pacgan import Packed
from advlab.models import MetzDiscriminator, MetzGenerator
from advlab.pipelines.gan.gan_config import GANTrainConfig
from advlab.pipelines.gan.gan_setup import build_discriminator, build_generator
from advlab.pipelines.gan.train_gan import resume_config, train_gan
from advlab.playground.gan_game import GanOptions, players, trainer_config


def conv_channels(module: torch.nn.Module) -> list[int]:
    return [layer.out_channels for layer in module.modules() if isinstance(layer, (torch.nn.Conv2d,
                                                                                 torch.nn.ConvTranspose2d))]


def test_the_networks_have_the_authors_shapes():
    """G: 4x4x64 -> 7x7x32 -> 14x14x16 -> 28x28x8 -> 3 channels; D at 1/4 of G: 2, 4, 8 channels, 4x4 maps."""
    generator, discriminator = MetzGenerator(), MetzDiscriminator()
    assert generator.project.out_features == 64 * 4 * 4 and generator.z_dim == 256
    assert conv_channels(generator) == [32, 16, 8, 3]
    assert conv_channels(discriminator) == [2, 4, 8] and discriminator.score.in_features == 8 * 4 * 4
    assert conv_channels(MetzDiscriminator(width=4)) == [4, 8, 16]  # "D is 1/2 size of G"
    generator.eval()
    images = generator(torch.randn(5, 256))
    assert images.shape == (5, 3, 28, 28) and 0 <= images.min() and images.max() <= 1
    assert discriminator(images).shape == (5,)
    # D's first layer is normalised too (the authors' code, unlike Radford et al.'s guideline)
    assert isinstance(discriminator.net[1], torch.nn.BatchNorm2d)


def test_the_discriminator_is_a_fraction_of_the_generator():
    g = sum(p.numel() for p in MetzGenerator().parameters())
    quarter = sum(p.numel() for p in MetzDiscriminator(width=2).parameters())
    half = sum(p.numel() for p in MetzDiscriminator(width=4).parameters())
    assert quarter < half < g and quarter < g / 50  # a deliberately weak D: a few hundred weights against 300k


def test_other_sizes_are_refused_in_one_line():
    raises_one_line(lambda: MetzGenerator(resolution=32), "28x28 stacked-MNIST DCGAN")
    raises_one_line(lambda: MetzDiscriminator(resolution=16), "cannot make 16x16")


def test_the_preset_is_pacgans_table_3_setting(tmp_path):
    config = from_mapping(GANTrainConfig, {"data": "stacked-mnist", "model": "metz-dcgan", "out": str(tmp_path)})
    resolved = config.resolved("images")
    assert (resolved.z_dim, resolved.width, resolved.d_width, resolved.batch_size) == (256, 8, 2, 128)
    assert (resolved.lr_g, resolved.lr_d, resolved.beta1, resolved.beta2, resolved.ema) == (1e-4, 2e-4, 0.5, 0.99,
                                                                                            0.0)
    packed = build_discriminator(dataclasses.replace(resolved, pack=2), (3, 28, 28))
    assert isinstance(packed, Packed) and packed.discriminator.net[0].in_channels == 6
    assert isinstance(build_generator(resolved, (3, 28, 28)), MetzGenerator)


def test_d_width_defaults_to_the_width_and_sets_d_alone(tmp_path):
    base = {"data": "digits", "image_size": 16, "out": str(tmp_path)}
    same = from_mapping(GANTrainConfig, {**base, "width": 16}).resolved("images")
    assert same.d_width == 16
    apart = from_mapping(GANTrainConfig, {**base, "width": 16, "d_width": 4}).resolved("images")
    assert conv_channels(build_discriminator(apart, (1, 16, 16)))[0] == 4
    assert conv_channels(build_generator(apart, (1, 16, 16)))[-2] == 16
    stored = {key: value for key, value in dataclasses.asdict(same).items() if key != "d_width"}
    older = from_mapping(GANTrainConfig, stored).resolved("images")  # a run stored before --d-width, reloaded
    assert conv_channels(build_discriminator(older, (1, 16, 16)))[0] == 16
    mlp = from_mapping(GANTrainConfig, {"data": "ring8", "width": 32, "d_width": 8, "out": str(tmp_path)})
    assert build_discriminator(mlp.resolved("points"), (2,)).net[0].out_features == 8


def test_the_playground_builds_each_player_at_its_own_width():
    options = GanOptions(g_width=16, d_width=8)
    generator, discriminator = players(options, trainer_config(options))
    assert generator.net[0].out_features == 16 and discriminator.net[0].out_features == 8


def test_trains_packed_resumes_bit_exactly_and_refuses_other_sizes(tmp_path, capsys):
    tiny = {"data": "stacked-mnist", "model": "metz-dcgan", "batch_size": 8, "pack": 2, "log_every": 2,
            "sample_every": 4, "checkpoint_every": 2, "tensorboard": False, "device": "cpu", "threads": 1}
    straight = train_gan(from_mapping(GANTrainConfig, {**tiny, "out": str(tmp_path / "a"), "steps": 4}),
                         progress=False, report=False).root
    train_gan(from_mapping(GANTrainConfig, {**tiny, "out": str(tmp_path / "b"), "steps": 2}), progress=False,
              report=False)
    split = train_gan(resume_config(tmp_path / "b", steps=4), resume=True, progress=False, report=False).root
    last = [load_file(list_checkpoints(run / "checkpoints")[-1][1].with_suffix(".safetensors"))
            for run in (straight, split)]
    assert last[0].keys() == last[1].keys() and all(torch.equal(last[0][k], last[1][k]) for k in last[0])
    status, _, err = run_cli(["gan", "train", "--data", "digits", "--model", "metz-dcgan", "--steps", "1",
                              "--out", str(tmp_path / "c")], capsys)
    assert_one_line_error(status, err, "metz-dcgan is the 28x28 stacked-MNIST DCGAN", "8x8")
