"""MNIST at its own size: the DCGAN-shaped image models take 28x28 from a 7x7 start; progressive growing resizes.

Issue 15, part 2: a new user's `advlab gan train --data mnist` (or the full MNIST's IDX files) must not stop
with "needs a power of two"; --image-size a model cannot reach is one clear error naming the flag.
"""

from __future__ import annotations

import pytest
import torch
from helpers import assert_one_line_error, raises_one_line, run_cli

from advlab.core.config import load_yaml
from advlab.models import DCGANDiscriminator, DCGANGenerator
from advlab.models.acgan import ACGANDiscriminator
from advlab.models.conditional import ConditionalDCGANDiscriminator, ConditionalDCGANGenerator, ProjectionDiscriminator
from advlab.models.dcgan import doublings, ladder
from advlab.pipelines.gan.gan_config import GANTrainConfig
from advlab.pipelines.gan.gan_setup import load_data


@pytest.mark.parametrize(("resolution", "start", "steps"),
                         [(8, 4, 1), (12, 6, 1), (14, 7, 1), (16, 4, 2), (28, 7, 2), (32, 4, 3), (56, 7, 3),
                          (64, 4, 4)])
def test_ladder_factors_the_side_into_a_4_to_7_start_and_doublings(resolution, start, steps):
    assert ladder(resolution) == (start, steps)
    assert start * 2**steps == resolution and doublings(resolution) == steps


@pytest.mark.parametrize("resolution", [0, 4, 7, 9, 15, 30, 36, 60, True, 28.0])
def test_a_side_no_start_reaches_is_a_one_line_error(resolution):
    raises_one_line(lambda: ladder(resolution, "SNGAN"), "SNGAN", "4 to 7 pixels times a power of two",
                    repr(resolution))


def test_dcgan_at_28_starts_from_7x7_and_ends_on_a_7x7_score():
    generator, discriminator = DCGANGenerator(16, 28, 1, 8), DCGANDiscriminator(28, 1, 8)
    first, last = generator.net[0], discriminator.net[-1]
    assert first.kernel_size == (7, 7) and last.kernel_size == (7, 7)
    assert generator(torch.randn(1, 16)).shape == (1, 1, 28, 28)
    maps = [layer for layer in generator.net if isinstance(layer, torch.nn.ConvTranspose2d)]
    assert len(maps) == 3  # 1x1 -> 7x7 -> 14x14 -> 28x28
    # at 32 the paper's 4x4 start is kept, so earlier checkpoints load unchanged
    assert DCGANGenerator(16, 32, 1, 8).net[0].kernel_size == (4, 4)


def test_conditional_and_acgan_players_take_28x28():
    torch.manual_seed(0)
    labels = torch.tensor([0, 3, 9])
    images = ConditionalDCGANGenerator(8, 10, 28, 1, 8)(torch.randn(3, 8), labels)
    assert images.shape == (3, 1, 28, 28)
    assert ConditionalDCGANDiscriminator(28, 10, 1, 8)(images, labels).shape == (3,)
    assert ProjectionDiscriminator(28, 10, 1, 8)(images, labels).shape == (3,)
    scores = ACGANDiscriminator(28, 10, 1, 8)(images)
    assert scores.source.shape == (3,) and scores.class_logits.shape == (3, 10)


def test_progressive_growing_resizes_mnist_to_32_and_says_so():
    notes = []
    config, data = load_data(GANTrainConfig(data="mnist", model="progan"), torch.device("cpu"), notes.append)
    assert config.image_size == 32 and data.sample_shape == (1, 32, 32)
    assert len(notes) == 1 and "28x28" in notes[0] and "32x32" in notes[0]
    config, data = load_data(GANTrainConfig(data="mnist", model="dcgan"), torch.device("cpu"), notes.append)
    assert config.image_size is None and data.sample_shape == (1, 28, 28) and len(notes) == 1


def test_gan_train_on_mnist_at_28_and_progan_records_its_size(tmp_path, capsys):
    tiny = ["--data", "mnist", "--width", "4", "--z-dim", "4", "--batch-size", "8", "--device", "cpu",
            "--tensorboard", "false"]
    assert run_cli(["gan", "train", *tiny, "--steps", "2", "--out", str(tmp_path / "g")], capsys)[0] == 0
    assert run_cli(["gan", "sample", str(tmp_path / "g"), "--n", "4", "--out", str(tmp_path / "s.png")], capsys)[0] == 0
    status, _, err = run_cli(["gan", "train", *tiny, "--model", "progan", "--steps", "2",
                              "--out", str(tmp_path / "p")], capsys)
    assert status == 0 and "resized to 32x32" in err
    assert load_yaml(tmp_path / "p" / "config.yaml")["image_size"] == 32


@pytest.mark.parametrize(("model", "size", "words"), [("dcgan", 30, ["--image-size 30", "4 to 7 pixels"]),
                                                      ("sagan", 36, ["--image-size 36", "sagan"]),
                                                      ("progan", 28, ["ProGAN", "power of two", "28"])])
def test_an_image_size_the_model_cannot_reach_is_one_clear_error(tmp_path, capsys, model, size, words):
    status, _, err = run_cli(["gan", "train", "--data", "mnist", "--model", model, "--image-size", str(size),
                              "--steps", "1", "--out", str(tmp_path / "x")], capsys)
    assert_one_line_error(status, err, *words)
    assert not (tmp_path / "x" / "checkpoints").exists()
