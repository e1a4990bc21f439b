"""Thermometer encoding (Buckman et al. 2018): the code by hand and against ART, the soft thermometer of Athalye et
al. 2018 on BPDA's backward pass, and naive PGD blunted where BPDA is not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import raises_one_line
from torch import nn
from victims import fit

from advlab.attacks import BPDA, PGD
from advlab.attacks.losses import input_gradient
from advlab.defenses.preprocessed import Preprocessed, transform_class
from advlab.defenses.thermometer import ThermometerEncoding
from advlab.models import SmallCNN


def test_the_code_lights_the_bits_below_the_pixel_value():
    x = torch.tensor([0.0, 0.1, 0.25, 0.5, 0.74, 0.99, 1.0, 0.3]).view(1, 2, 2, 2)
    code = ThermometerEncoding(4)(x)  # thresholds 0, 1/4, 1/2, 3/4
    assert code.shape == (1, 8, 2, 2)
    expected = {0.0: [1, 0, 0, 0], 0.1: [1, 0, 0, 0], 0.25: [1, 1, 0, 0], 0.5: [1, 1, 1, 0], 0.74: [1, 1, 1, 0],
                0.99: [1, 1, 1, 1], 1.0: [1, 1, 1, 1], 0.3: [1, 1, 0, 0]}
    for c in range(2):  # channel c's bits are channels 4c .. 4c + 3
        for i in range(2):
            for j in range(2):
                value = round(float(x[0, c, i, j]), 2)
                assert code[0, 4 * c:4 * c + 4, i, j].tolist() == expected[value], (c, i, j)


@pytest.mark.parametrize("levels, channels", [(4, 1), (16, 3), (10, 1)])
def test_the_code_equals_arts_thermometer_encoding_off_the_thresholds(levels, channels):
    from art.defences.preprocessor import ThermometerEncoding as ARTThermometer

    images = torch.rand(5, channels, 6, 7, generator=torch.Generator().manual_seed(levels))
    art = ARTThermometer(clip_values=(0.0, 1.0), num_space=levels, channels_first=True)
    theirs, _ = art(images.numpy().copy())
    assert np.array_equal(ThermometerEncoding(levels)(images).numpy(), theirs)


def test_on_a_threshold_the_paper_lights_the_bit_and_art_does_not():
    from art.defences.preprocessor import ThermometerEncoding as ARTThermometer

    x = torch.tensor([0.25, 0.5]).view(1, 1, 1, 2)  # exactly k / l for l = 4 (the paper floors: floor(4x) >= k)
    ours = ThermometerEncoding(4)(x)[0, :, 0].T.tolist()
    theirs = ARTThermometer(clip_values=(0.0, 1.0), num_space=4, channels_first=True)(x.numpy().copy())[0][0, :, 0].T
    assert ours == [[1, 1, 0, 0], [1, 1, 1, 0]]
    assert theirs.tolist() == [[1, 0, 0, 0], [1, 1, 0, 0]]


def test_the_code_is_the_floor_of_the_soft_thermometer():
    encoding = ThermometerEncoding(16)
    x = torch.rand(4, 3, 5, 5, generator=torch.Generator().manual_seed(1))
    x[0, 0, 0] = torch.arange(5) / 16  # on thresholds too
    soft = encoding.approximate(x)
    assert torch.equal(soft.floor(), encoding(x)) and float(soft.min()) >= 0 and float(soft.max()) <= 1
    assert torch.equal(encoding.approximate(torch.ones(1, 1, 1, 1)), torch.ones(1, 16, 1, 1))


class Linear(nn.Module):
    """logits = (w . code, 0) for a code of `channels` channels at one pixel."""

    def __init__(self, weights: torch.Tensor):
        super().__init__()
        self.weights = weights

    def forward(self, code):
        score = (code[:, :, 0, 0] * self.weights).sum(1)
        return torch.stack([score, torch.zeros_like(score)], 1)


def test_naive_gradient_is_zero_and_bpdas_is_the_soft_thermometers():
    levels = 4
    weights = torch.tensor([1.0, 2.0, 3.0, 4.0])
    model = Preprocessed(Linear(weights), ThermometerEncoding(levels)).eval()
    x = torch.tensor([0.1, 0.3, 0.6, 0.9]).view(4, 1, 1, 1)
    labels = torch.zeros(4, dtype=torch.long)
    assert torch.equal(input_gradient(model, x, labels)[0], torch.zeros_like(x))
    # d score / dx = l * w_k for the one bit k = floor(l x) + 1 whose ramp x lies on (none above the last)
    x.requires_grad_(True)
    grad, = torch.autograd.grad(model.bpda()(x)[:, 0].sum(), x)
    assert grad.flatten().tolist() == pytest.approx([4 * 2.0, 4 * 3.0, 4 * 4.0, 0.0])
    assert torch.equal(model.bpda()(x), model(x))  # the forward pass is the code's


def test_bpda_refuses_a_shape_changing_transform_without_an_approximation():
    class Doubler(nn.Module):
        def forward(self, images):
            return torch.cat([images, images], 1)

    model = Preprocessed(nn.Sequential(nn.Flatten(), nn.Linear(8, 2)), Doubler())
    raises_one_line(lambda: model.bpda()(torch.rand(1, 1, 2, 2)), "bpda", "Doubler", "(2, 2, 2)", "approximate(x)")


@pytest.mark.parametrize("levels, words", [(1, ("levels", ">= 2", "1")), (True, ("levels", "True")),
                                           (2.5, ("levels", "2.5"))])
def test_bad_levels_are_one_line_errors(levels, words):
    raises_one_line(lambda: ThermometerEncoding(levels), "thermometer", *words)


def test_images_without_channels_are_refused_and_the_name_is_registered():
    raises_one_line(lambda: ThermometerEncoding()(torch.rand(2, 8, 8)), "thermometer", "(N, C, H, W)", "(2, 8, 8)")
    assert transform_class("thermometer") is ThermometerEncoding and ThermometerEncoding().levels == 16


@pytest.fixture(scope="module")
def thermometer_model(digits_cnn):
    """A SmallCNN of 16 input channels trained on 16-level codes of the digits (6 epochs, 97% held-out)."""
    torch.manual_seed(0)
    model = Preprocessed(SmallCNN(channels=16, image_size=8), ThermometerEncoding(16))
    fit(model, digits_cnn.train_images, digits_cnn.train_labels, 6, torch.Generator().manual_seed(0))
    return model.eval()


def test_naive_pgd_is_blunted_and_bpda_breaks_the_encoding(thermometer_model, digits_cnn):
    images, labels = digits_cnn.images[:120], digits_cnn.labels[:120]
    with torch.no_grad():
        clean = float((thermometer_model(images).argmax(1) == labels).double().mean())
    assert clean > 0.9
    for seed in (0, 1):  # at eps 0.15 (2.4 levels): naive 0.96-0.97, BPDA 0.20-0.28 over seeds 0-2
        naive = PGD(thermometer_model, eps=0.15, steps=10, seed=seed).run(images, labels)[0]
        bpda = BPDA(thermometer_model, eps=0.15, steps=10, seed=seed).run(images, labels)[0]
        naive_accuracy = float((naive.adv_pred == labels).double().mean())
        bpda_accuracy = float((bpda.adv_pred == labels).double().mean())
        # naive PGD moves only by its random start; BPDA through the soft thermometer takes most of the rest
        assert naive_accuracy > clean - 0.1, (seed, naive_accuracy, clean)
        assert bpda_accuracy < naive_accuracy - 0.5, (seed, bpda_accuracy, naive_accuracy)
