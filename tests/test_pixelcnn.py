"""advlab's gated PixelCNN (advlab.models.pixelcnn): causal masks without a blind spot, a normalised likelihood,
training that lowers bits/dim on digits, sampling, its safetensors file, and one-line errors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from helpers import raises_one_line
from safetensors.torch import save_file

from advlab.models.pixelcnn import PixelCNN, batched_bits_per_dim, load_pixelcnn, save_pixelcnn, train_pixelcnn


def tiny(seed: int = 0, **sizes) -> PixelCNN:
    torch.manual_seed(seed)
    options = {"image_size": (8, 8), "width": 8, "layers": 4, **sizes}
    return PixelCNN(**options).eval()


def input_gradient_of_pixel(model: PixelCNN, images: torch.Tensor, row: int, column: int) -> torch.Tensor:
    """d (sum of pixel (row, column)'s logits) / d input, (H, W): which input pixels that output sees."""
    inputs = images.clone().requires_grad_(True)
    vertical = horizontal = inputs * 2 - 1  # the scaling logits() applies to the levels / (L - 1)
    for layer in model.stack:
        vertical, horizontal = layer(vertical, horizontal)
    grad, = torch.autograd.grad(model.head(horizontal)[0, :, row, column].sum(), inputs)
    return grad[0, 0]


@pytest.mark.parametrize("seed", [0, 1])
def test_each_pixels_output_sees_only_earlier_pixels_and_no_blind_spot(seed):
    model = tiny(seed)
    images = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
    for row, column in [(0, 0), (3, 4), (4, 4), (7, 7), (5, 0)]:
        seen = input_gradient_of_pixel(model, images, row, column).flatten() != 0
        position = row * 8 + column
        assert not seen[position:].any(), (row, column)  # itself and every later pixel: no influence
        if column > 0:
            assert seen[position - 1]  # the pixel on its left
        if row > 0:
            assert seen[position - 8]  # the pixel above
            # above and to the right: the plain PixelCNN's blind spot, which the two stacks remove
            assert seen[(row - 1) * 8 + min(column + 2, 7)]


def test_changing_later_pixels_leaves_earlier_outputs_unchanged():
    model = tiny(2, levels=16)
    levels = torch.randint(0, 16, (3, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    for position in (0, 9, 27, 63):
        changed = levels.clone().flatten(1)
        changed[:, position:] = torch.randint(0, 16, changed[:, position:].shape)
        logits, other = model.logits(levels).flatten(2), model.logits(changed.view_as(levels)).flatten(2)
        assert torch.equal(logits[:, :, :position + 1], other[:, :, :position + 1])  # outputs 0..position


def test_the_likelihood_sums_to_one_over_every_image():
    model = tiny(3, levels=3, image_size=(2, 2), width=4, layers=2, first_kernel=3)
    every = torch.tensor(list(itertools.product(range(3), repeat=4)), dtype=torch.float32).view(-1, 1, 2, 2) / 2
    with torch.no_grad():
        total = model.log_prob(every).double().exp().sum()
        bits = model.bits_per_dim(every)
    assert float(total) == pytest.approx(1.0, abs=1e-5)  # 81 images of 2 x 2 pixels, 3 levels each
    assert torch.allclose(bits, -model.log_prob(every) / (4 * math.log(2)))


def test_training_lowers_bits_per_dim_on_held_out_digits(digits_cnn):
    model = tiny(0)
    before = float(batched_bits_per_dim(model, digits_cnn.images).mean())
    history = train_pixelcnn(model, digits_cnn.train_images, epochs=2, lr=5e-3, progress=False)
    after = float(batched_bits_per_dim(model, digits_cnn.images).mean())
    assert before > 7.5  # an untrained net: about uniform over 256 levels (8 bits)
    assert after < 4.5 and history[-1] < history[0]  # measured 2.9-3.1 over seeds 0-2 (3 on held-out digits)
    assert not any(p.requires_grad is False for p in model.parameters())  # training leaves the weights trainable


def test_samples_are_on_the_grid_and_seeded():
    model = tiny(4, levels=16)
    first, again, other = model.sample(3, seed=1), model.sample(3, seed=1), model.sample(3, seed=2)
    assert first.shape == (3, 1, 8, 8) and torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(first * 15, (first * 15).round()) and 0 <= float(first.min()) <= float(first.max()) <= 1


def test_a_saved_model_loads_back_frozen_with_the_same_likelihood(tmp_path):
    model = tiny(5, levels=32)
    path = save_pixelcnn(model, tmp_path / "px", epochs=3)
    assert path == tmp_path / "px" / "pixelcnn.safetensors"
    loaded, metadata = load_pixelcnn(tmp_path / "px")
    images = torch.rand(4, 1, 8, 8)
    assert torch.equal(loaded.log_prob(images), model.log_prob(images))
    assert metadata["epochs"] == "3" and loaded.levels == 32 and not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())


def test_files_of_another_kind_are_one_line_errors(tmp_path):
    raises_one_line(lambda: load_pixelcnn(tmp_path / "none.safetensors"), "pixelcnn", "not found")
    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"), metadata={"format": "advlab-uap/1"})
    raises_one_line(lambda: load_pixelcnn(tmp_path / "other.safetensors"), "pixelcnn", "not a PixelCNN")
    description = tiny(0).description()
    save_file({"pixelcnn.w": torch.zeros(2)}, str(tmp_path / "bad.safetensors"), metadata=description)
    raises_one_line(lambda: load_pixelcnn(tmp_path / "bad.safetensors"), "pixelcnn", "does not hold")
    (tmp_path / "text.safetensors").write_text("not safetensors")
    raises_one_line(lambda: load_pixelcnn(tmp_path / "text.safetensors"), "not a safetensors file")


@pytest.mark.parametrize("build, words", [
    (lambda: PixelCNN(channels=3), ("pixelcnn", "1 channel", "3")),
    (lambda: PixelCNN(levels=1), ("pixelcnn: levels", ">= 2")),
    (lambda: PixelCNN(kernel=4), ("pixelcnn: kernel", "odd")),
    (lambda: PixelCNN(layers=0), ("pixelcnn: layers", ">= 1")),
    (lambda: PixelCNN(image_size=8), ("image_size", "(height, width)")),
    (lambda: tiny().log_prob(torch.rand(2, 1, 7, 8)), ("pixelcnn", "(N, 1, 8, 8)", "(2, 1, 7, 8)")),
    (lambda: tiny().log_prob(torch.rand(2, 1, 8, 8) * 2), ("pixelcnn", "[0, 1]")),
    (lambda: tiny().log_prob(torch.full((1, 1, 8, 8), math.nan)), ("pixelcnn", "NaN")),
    (lambda: tiny().log_prob(torch.zeros(1, 1, 8, 8, dtype=torch.long)), ("pixelcnn", "float")),
    (lambda: train_pixelcnn(tiny(), torch.rand(4, 1, 8, 8), epochs=0), ("pixelcnn: epochs", ">= 1")),
    (lambda: train_pixelcnn(tiny(), torch.rand(4, 1, 8, 8), lr=0), ("pixelcnn: lr", "> 0")),
    (lambda: tiny().sample(0), ("pixelcnn: n", ">= 1")),
])
def test_bad_input_is_one_line(build, words):
    raises_one_line(build, *words)
