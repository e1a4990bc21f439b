"""The GAN family through the house: every --model trains, resumes, samples and refuses bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, run_cli
from safetensors.torch import load_file

from advlab.core.checkpoints import list_checkpoints
from advlab.core.config import from_mapping
from advlab.pipelines.gan.gan_config import GANTrainConfig
from advlab.pipelines.gan.sample_gan import load_trained
from advlab.pipelines.gan.train_gan import resume_config, train_gan

TINY = {"data": "digits", "image_size": 8, "width": 8, "z_dim": 8, "batch_size": 16, "log_every": 2,
        "sample_every": 6, "checkpoint_every": 3, "tensorboard": False, "device": "cpu"}


def tiny(out, **values) -> GANTrainConfig:
    return from_mapping(GANTrainConfig, {**TINY, "out": str(out), **values})


def weights(run):
    return load_file(list_checkpoints(run / "checkpoints")[-1][1].with_suffix(".safetensors"))


@pytest.mark.parametrize("model", ["cgan", "projection", "acgan", "sngan", "sagan", "progan", "wgan-gp"])
def test_every_model_trains_and_resumes_bit_exactly(tmp_path, model):
    staged = {"stage_steps": 1} if model == "progan" else {}  # the same schedule for both runs: 4x4, fade, 8x8
    straight = train_gan(tiny(tmp_path / "a", model=model, steps=6, **staged), progress=False, report=False).root
    train_gan(tiny(tmp_path / "b", model=model, steps=3, **staged), progress=False, report=False)
    split = train_gan(resume_config(tmp_path / "b", steps=6), resume=True, progress=False, report=False).root
    a, b = weights(straight), weights(split)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert all(torch.isfinite(value).all() for value in a.values() if value.is_floating_point())


@pytest.mark.parametrize("model", ["cgan", "projection", "acgan"])
def test_conditional_models_train_packed_and_resume_bit_exactly(tmp_path, model):
    """PacGAN with labels (Lin et al. 2018 within a class): every conditional model takes --pack."""
    straight = train_gan(tiny(tmp_path / "a", model=model, steps=4, pack=2), progress=False, report=False).root
    train_gan(tiny(tmp_path / "b", model=model, steps=3, pack=2), progress=False, report=False)
    split = train_gan(resume_config(tmp_path / "b", steps=4), resume=True, progress=False, report=False).root
    a, b = weights(straight), weights(split)
    assert any(key.startswith("discriminator.discriminator.") for key in a)  # D sits in the Packed wrapper
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_presets_are_the_papers_settings(tmp_path):
    resolved = {model: tiny(tmp_path, model=model).resolved("images")
                for model in ("wgan-gp", "sngan", "sagan", "acgan", "projection", "progan")}
    wgan = resolved["wgan-gp"]
    assert (wgan.loss, wgan.k, wgan.lr_d, wgan.beta1, wgan.beta2) == ("wgan-gp", 5, 1e-4, 0.0, 0.9)
    sagan = resolved["sagan"]
    assert (sagan.loss, sagan.lr_g, sagan.lr_d, sagan.beta1) == ("hinge", 1e-4, 4e-4, 0.0)
    assert resolved["sngan"].loss == "hinge" and resolved["progan"].loss == "wgan-gp"
    projection = resolved["projection"]  # Miyato & Koyama 2018, sec. 5: n_dis 5 with Adam(2e-4, 0, 0.9)
    assert (projection.loss, projection.k, projection.lr_g, projection.lr_d, projection.beta1, projection.beta2) == \
        ("hinge", 5, 2e-4, 2e-4, 0.0, 0.9)
    assert resolved["acgan"].conditional and resolved["projection"].conditional
    # what the user sets wins over the preset
    assert tiny(tmp_path, model="sngan", loss="least-squares").resolved("images").loss == "least-squares"


def test_conditional_grid_has_a_column_per_class_and_label_sampling(tmp_path, capsys):
    run = tmp_path / "acgan"
    status, _, err = run_cli(["gan", "train", "--model", "acgan", "--data", "digits", "--image-size", "8", "--steps",
                              "4", "--width", "8", "--out", str(run), "--no-progress", "--tensorboard", "false"],
                             capsys)
    assert status == 0, err
    status, _, err = run_cli(["gan", "sample", str(run), "--label", "7", "--n", "5", "--out",
                              str(tmp_path / "sevens.npy")], capsys)
    assert status == 0, err
    sevens = np.load(tmp_path / "sevens.npy")
    assert sevens.shape == (5, 1, 8, 8)
    _, trainer = load_trained(run, "cpu")
    from advlab.pipelines.gan.gan_snapshots import draw

    assert np.allclose(draw(trainer, 5, 0, label=7).numpy(), sevens)
    assert not np.allclose(draw(trainer, 5, 0, label=3).numpy(), sevens)  # the label changes the samples


def test_conditional_mlp_on_a_mixture(tmp_path, capsys):
    run = tmp_path / "ring"
    status, _, err = run_cli(["gan", "train", "--data", "ring8", "--conditional", "--steps", "4", "--out", str(run),
                              "--no-progress", "--tensorboard", "false", "--width", "16"], capsys)
    assert status == 0, err
    _, trainer = load_trained(run, "cpu")
    assert trainer.conditional and trainer.classes == 8
    assert (run / "samples" / "final.png").is_file()


def test_progressive_schedule_is_stored_so_a_resumed_run_keeps_it(tmp_path):
    run = train_gan(tiny(tmp_path / "pg", model="progan", steps=10, image_size=16), progress=False, report=False).root
    assert resume_config(run).stage_steps == 2  # 10 steps over 5 phases (4, fade 8, 8, fade 16, 16)
    assert resume_config(run, steps=100).stage_steps == 2


def test_progressive_growing_samples_at_the_data_size_in_every_stage(tmp_path):
    run = train_gan(tiny(tmp_path / "pg", model="progan", steps=5, stage_steps=1, image_size=16), progress=False,
                    report=False).root
    _, trainer = load_trained(run, "cpu")
    assert trainer.schedule.stage_at(0).resolution == 4
    trainer.step = 1  # fading in 8x8: the generator emits 8x8, draw() hands out the data's 16x16
    from advlab.pipelines.gan.gan_snapshots import draw

    assert draw(trainer, 3, 0).shape == (3, 1, 16, 16)
    assert trainer.generator.resolution == 8


@pytest.mark.parametrize("argv, words", [
    (["--model", "progan", "--image-size", "12"], ["ProGAN", "power of two", "12"]),
    (["--model", "acgan", "--loss", "hinge"], ["acgan", "log loss"]),
    (["--model", "wgan-gp", "--loss", "hinge"], ["wgan-gp"]),
    (["--model", "sngan", "--conditional"], ["no conditional form"]),
    (["--pack", "0"], ["pack", "positive"]),
    (["--pack", "3"], ["not divisible by pack 3"]),
    (["--model", "dcgan", "--stage-steps", "5"], ["stage_steps", "progan"]),
    (["--model", "nope"], ["unknown model 'nope'"]),
    (["--model", "dcgan", "--drift", "0.1"], ["drift", "WGAN-GP"]),
    (["--model", "progan", "--drift", "-1"], ["drift", "zero or more"]),
])
def test_bad_model_options_are_one_line(tmp_path, capsys, argv, words):
    status, _, err = run_cli(["gan", "train", "--data", "digits", "--steps", "2", "--out", str(tmp_path / "r"),
                              "--no-progress", *argv], capsys)
    assert_one_line_error(status, err, *words)


def test_conditional_needs_labels(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((20, 1, 8, 8), dtype=np.float32))
    status, _, err = run_cli(["gan", "train", "--data", "npy", "--data-path", str(tmp_path / "x.npy"), "--model",
                              "cgan", "--steps", "2", "--out", str(tmp_path / "r"), "--no-progress"], capsys)
    assert_one_line_error(status, err, "no labels")


def test_label_errors(tmp_path, capsys):
    plain = train_gan(tiny(tmp_path / "plain", steps=2), progress=False, report=False).root
    status, _, err = run_cli(["gan", "sample", str(plain), "--label", "1", "--out", str(tmp_path / "x.png")], capsys)
    assert_one_line_error(status, err, "needs a conditional run")
    conditional = train_gan(tiny(tmp_path / "cgan", model="cgan", steps=2), progress=False, report=False).root
    status, _, err = run_cli(["gan", "sample", str(conditional), "--label", "10", "--out", str(tmp_path / "x.png")],
                             capsys)
    assert_one_line_error(status, err, "outside the run's labels 0..9")


def test_slerp_ends_at_its_endpoints_and_keeps_the_norm_of_orthogonal_unit_vectors():
    from advlab.pipelines.gan.interpolate_gan import slerp

    start, end = torch.tensor([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0], [4.0, 0.0, 0.0]])
    path = slerp(start, end, torch.linspace(0, 1, 5))
    assert torch.allclose(path[:, 0], start) and torch.allclose(path[:, -1], end)
    assert torch.allclose(path[0].norm(dim=1), torch.ones(5))  # on the unit circle all the way
    assert torch.allclose(path[0, 2], torch.tensor([2 ** -0.5, 2 ** -0.5, 0.0]))
    assert torch.allclose(path[1, 2], torch.tensor([3.0, 0.0, 0.0]))  # parallel vectors: the straight line


def test_interpolate_writes_a_rows_by_steps_grid(tmp_path, capsys):
    from PIL import Image

    run = train_gan(tiny(tmp_path / "cgan", model="cgan", steps=2), progress=False, report=False).root
    status, _, err = run_cli(["gan", "interpolate", str(run), "--out", str(tmp_path / "walk.png"), "--rows", "3",
                              "--steps", "4"], capsys)
    assert status == 0, err
    width, height = Image.open(tmp_path / "walk.png").size
    assert width / height == pytest.approx((4 * 10 + 2) / (3 * 10 + 2))  # 8px tiles, 2px padding, 4 by 3
    status, _, err = run_cli(["gan", "interpolate", str(run), "--out", str(tmp_path / "walk.jpg")], capsys)
    assert_one_line_error(status, err, ".png")


def test_diffaugment_trains_resumes_bit_exactly_and_changes_training(tmp_path):
    policy = {"diffaugment": "color,translation,cutout"}
    straight = train_gan(tiny(tmp_path / "a", steps=6, **policy), progress=False, report=False).root
    train_gan(tiny(tmp_path / "b", steps=3, **policy), progress=False, report=False)
    split = train_gan(resume_config(tmp_path / "b", steps=6), resume=True, progress=False, report=False).root
    plain = train_gan(tiny(tmp_path / "c", steps=6), progress=False, report=False).root
    a, b, c = weights(straight), weights(split), weights(plain)
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert not all(torch.equal(a[key], c[key]) for key in a if key.startswith("discriminator"))


@pytest.mark.parametrize("argv, words", [
    (["--data", "digits", "--diffaugment", "color,zoom"], ["unknown DiffAugment policy 'zoom'"]),
    (["--data", "ring8", "--diffaugment", "color"], ["transforms images"]),
])
def test_bad_diffaugment_is_one_line(tmp_path, capsys, argv, words):
    status, _, err = run_cli(["gan", "train", "--steps", "2", "--out", str(tmp_path / "r"), "--no-progress", *argv],
                             capsys)
    assert_one_line_error(status, err, *words)


def test_packed_run_on_points_draws_its_heatmap(tmp_path, capsys):
    run = tmp_path / "packed"
    status, _, err = run_cli(["gan", "train", "--data", "grid25", "--pack", "2", "--steps", "4", "--width", "16",
                              "--out", str(run), "--no-progress", "--tensorboard", "false"], capsys)
    assert status == 0, err
    assert (run / "samples" / "final.png").is_file()
    _, trainer = load_trained(run, "cpu")
    from advlab.pipelines.gan.gan_snapshots import judge_grid

    points = torch.randn(7, 2)
    with torch.no_grad():
        scores = judge_grid(trainer, points)
        by_hand = trainer.discriminator.discriminator(points.repeat_interleave(2, 0).reshape(7, 4))
    assert torch.allclose(scores, by_hand)


def test_wgan_gp_loss_brings_its_own_optimiser_settings(tmp_path):
    """--loss wgan-gp on a model whose preset plays another game takes Gulrajani et al.'s settings (the toy
    script's on 2-D points); the user's own values still win; progan keeps its paper's Adam(1e-3, 0, 0.99)."""
    points = from_mapping(GANTrainConfig, {"data": "ring8", "loss": "wgan-gp"}).resolved("points")
    assert (points.k, points.lr_g, points.lr_d, points.beta1, points.beta2, points.gp_weight) == \
        (5, 1e-4, 1e-4, 0.5, 0.9, 0.1)
    images = tiny(tmp_path, model="dcgan", loss="wgan-gp").resolved("images")
    assert (images.k, images.lr_d, images.beta1, images.beta2, images.gp_weight) == (5, 1e-4, 0.0, 0.9, 10.0)
    mine = from_mapping(GANTrainConfig, {"data": "ring8", "loss": "wgan-gp", "k": 2, "gp_weight": 1.0})
    assert (mine.resolved("points").k, mine.resolved("points").gp_weight) == (2, 1.0)
    progan = tiny(tmp_path, model="progan").resolved("images")
    assert (progan.lr_g, progan.beta2, progan.k) == (1e-3, 0.99, 1)
    plain = from_mapping(GANTrainConfig, {"data": "ring8"}).resolved("points")
    assert (plain.lr_g, plain.k, plain.gp_weight) == (1e-3, 1, 10.0)  # other losses: the mlp preset as before


def test_progan_critic_has_the_drift_term(tmp_path):
    """Karras et al. 2018, appendix A.1: L_D += 0.001 E[D(x)^2] in progan's preset, nowhere else by default."""
    from advlab.gan.losses import make_loss

    assert tiny(tmp_path, model="progan").resolved("images").drift == 1e-3
    assert tiny(tmp_path, model="wgan-gp").resolved("images").drift == 0.0
    assert tiny(tmp_path, model="progan", loss="hinge").resolved("images").drift == 0.0
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.5, -0.5])
    plain = make_loss("wgan-gp").discriminator_loss(real, fake)
    drifted = make_loss("wgan-gp", drift=1e-3).discriminator_loss(real, fake)
    assert torch.isclose(drifted - plain, torch.tensor(1e-3 * (1 + 9) / 2))


def test_progan_trains_packed_through_every_stage(tmp_path, capsys):
    """PacGAN around ProGAN's critic (issue 14): the CLI accepts --model progan --pack 2, so the packed critic must
    follow the schedule (4x4, fading in 8x8, 8x8) like an unpacked one, and the run must finish."""
    run = tmp_path / "packed-progan"
    status, _, err = run_cli(["gan", "train", "--model", "progan", "--pack", "2", "--data", "digits", "--image-size",
                              "8", "--steps", "4", "--stage-steps", "1", "--width", "8", "--batch-size", "16",
                              "--out", str(run), "--no-progress", "--tensorboard", "false"], capsys)
    assert status == 0, err
    assert any(key.startswith("discriminator.discriminator.") for key in weights(run))
    _, trainer = load_trained(run, "cpu")
    trainer.step = 1
    trainer.apply_stage()  # fading in 8x8 halfway through the schedule's second phase
    critic = trainer.discriminator.discriminator
    assert (critic.resolution, critic.alpha) == (8, 0.0) == (trainer.discriminator.resolution,
                                                             trainer.discriminator.alpha)
