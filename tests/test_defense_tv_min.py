"""Total-variance minimisation (Guo et al. 2018, sec. 3.2): eq. (1)-(2) by hand, the primal-dual solver against ART's
TotalVarMin objective, the random mask, and naive PGD against BPDA with EOT on digits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import raises_one_line

from advlab.attacks import BPDA, PGD
from advlab.attacks.losses import input_gradient
from advlab.defenses.preprocessed import Preprocessed, transform_class
from advlab.defenses.tv_minimisation import TotalVarianceMinimisation


def test_total_variation_is_the_norm_of_whole_row_and_column_differences():
    z = torch.tensor([[0.0, 1.0], [0.0, 1.0]]).view(1, 1, 2, 2)
    # row difference z(2,:) - z(1,:) = (0, 0); column difference z(:,2) - z(:,1) = (1, 1)
    assert float(TotalVarianceMinimisation(norm=2).total_variation(z)) == pytest.approx(math.sqrt(2))
    assert float(TotalVarianceMinimisation(norm=1).total_variation(z)) == pytest.approx(2.0)
    x = torch.tensor([[0.0, 0.5], [1.0, 1.0]]).view(1, 1, 2, 2)
    kept = torch.tensor([[True, False], [True, True]]).view(1, 1, 2, 2)
    # fidelity on the kept pixels: ||(0, 1, 0)||_2 = 1 (the dropped pixel's 0.5 does not count); + 0.5 * sqrt(2)
    objective = TotalVarianceMinimisation(lamb=0.5).objective(z, x, kept)
    assert float(objective) == pytest.approx(1 + 0.5 * math.sqrt(2))


def test_the_reconstruction_keeps_an_image_it_cannot_simplify_and_fills_in_from_one_pixel():
    images = torch.rand(3, 2, 5, 6, generator=torch.Generator().manual_seed(0))
    everything = torch.ones_like(images, dtype=torch.bool)
    assert torch.allclose(TotalVarianceMinimisation(lamb=0.0).reconstruct(images, everything), images)
    one = torch.zeros_like(everything)
    one[:, :, 2, 3] = True  # one kept pixel per channel: the simplest image is that value everywhere (TV 0)
    transform = TotalVarianceMinimisation(lamb=0.1, steps=3000)  # one pixel: slow, at ~1/steps
    z = transform.reconstruct(images, one)
    assert float(transform.objective(z, images, one).max()) < 2e-3  # the minimum is 0
    assert torch.allclose(z, images[:, :, 2:3, 3:4].expand_as(images), atol=2e-3)


@pytest.mark.parametrize("norm", [2, 1])
def test_the_solver_reaches_arts_objective_on_the_same_masks(digits_cnn, norm):
    from art.defences.preprocessor import TotalVarMin

    images = digits_cnn.images[:16]
    channels_last = images.permute(0, 2, 3, 1).numpy().copy()
    np.random.seed(0)  # ART draws each image's mask as np.random.rand(H, W, C) < prob
    kept = torch.from_numpy(np.stack([np.random.rand(*image.shape) < 0.3 for image in channels_last]))
    kept = kept.permute(0, 3, 1, 2)
    ours = TotalVarianceMinimisation(keep_prob=0.3, lamb=0.5, norm=norm)
    z = ours.reconstruct(images, kept)
    mine = ours.objective(z.double(), images.double(), kept)
    for iterations, slack in ((10, 0.0), (2000, 2e-4)):  # ART's default 10 L-BFGS-B iterations, and converged
        np.random.seed(0)
        theirs, _ = TotalVarMin(prob=0.3, norm=norm, lamb=0.5, max_iter=iterations)(channels_last.copy())
        reference = ours.objective(torch.from_numpy(theirs).permute(0, 3, 1, 2).double(), images.double(), kept)
        assert bool((mine <= reference + slack).all()), (iterations, (mine - reference).max())
    assert float(mine.mean()) < float(reference.mean())


def test_the_mask_is_drawn_anew_at_each_call_and_keeps_the_given_share():
    images = torch.rand(50, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    transform = TotalVarianceMinimisation(steps=30)
    torch.manual_seed(0)
    first, second = transform(images), transform(images)
    assert transform.randomized and not torch.equal(first, second)
    assert float(first.min()) >= 0 and float(first.max()) <= 1 and first.dtype == images.dtype
    torch.manual_seed(0)
    kept = torch.rand(images.shape) < 0.5  # what forward draws first from the same state
    torch.manual_seed(0)
    assert torch.allclose(transform(images), transform.reconstruct(images, kept))
    assert abs(float(kept.double().mean()) - 0.5) < 0.02


def test_a_naive_gradient_is_zero_and_bpda_with_eot_breaks_the_defense(digits_cnn):
    model = Preprocessed(digits_cnn.model, TotalVarianceMinimisation(steps=100)).eval()
    images, labels = digits_cnn.images[:100], digits_cnn.labels[:100]
    assert torch.equal(input_gradient(model, images[:4], labels[:4])[0], torch.zeros_like(images[:4]))
    torch.manual_seed(0)
    with torch.no_grad():
        clean = float((model(images).argmax(1) == labels).double().mean())
    naive = PGD(model, eps=0.1, steps=10, seed=0).run(images, labels)[0]
    bpda = BPDA(model, eps=0.1, steps=10, samples=4, seed=0).run(images, labels)[0]
    naive_accuracy = float((naive.adv_pred == labels).double().mean())
    bpda_accuracy = float((bpda.adv_pred == labels).double().mean())
    assert clean > 0.8  # keep 0.5, lambda 0.03 (the paper's) costs digits_cnn ~10 points
    assert naive_accuracy > clean - 0.1, (naive_accuracy, clean)  # 0.86 of 0.91 (seed 0)
    assert bpda_accuracy < naive_accuracy - 0.15, (bpda_accuracy, naive_accuracy)  # 0.58


@pytest.mark.parametrize("options, words", [
    ({"keep_prob": 0}, ("keep_prob", "> 0")), ({"keep_prob": 1.5}, ("keep_prob", "(0, 1]", "1.5")),
    ({"lamb": -1}, ("lamb", ">= 0")), ({"norm": 3}, ("norm", "1 or 2", "3")), ({"norm": True}, ("norm",)),
    ({"steps": 0}, ("steps", ">= 1")),
])
def test_bad_options_are_one_line_errors(options, words):
    raises_one_line(lambda: TotalVarianceMinimisation(**options), "tv-min", *words)


def test_images_without_two_rows_are_refused_and_the_name_is_registered():
    raises_one_line(lambda: TotalVarianceMinimisation()(torch.rand(2, 8, 8)), "tv-min", "(2, 8, 8)")
    raises_one_line(lambda: TotalVarianceMinimisation()(torch.rand(2, 1, 1, 8)), "tv-min", "2x2")
    assert transform_class("tv-min") is TotalVarianceMinimisation
