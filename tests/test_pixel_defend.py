"""PixelDefend (advlab.defenses.pixel_defend): Algorithm 1 by hand and against ART, the window and the grid, the
likelihood it raises and the p-value detector, PGD restored but broken by BPDA, the defended run and
`advlab defend pixel-defend`, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, raises_one_line, run_cli
from torch import nn

from advlab.attacks import BPDA, PGD
from advlab.attacks.losses import input_gradient
from advlab.defenses.pixel_defend import PixelDefend, likelihood_p_values, rank_p_values
from advlab.defenses.preprocessed import Preprocessed, load_model
from advlab.models.pixelcnn import PixelCNN, batched_bits_per_dim, save_pixelcnn, train_pixelcnn
from advlab.pipelines.security.pixel_defend_run import make_pixel_defended_run

QUIET = ["--device", "cpu", "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def pixelcnn(digits_cnn):
    """A small PixelCNN trained on the victim's training digits (2.5-2.8 bits/dim held out over seeds 0-2)."""
    torch.manual_seed(0)
    model = PixelCNN(image_size=(8, 8), width=16, layers=3)
    train_pixelcnn(model, digits_cnn.train_images, epochs=3, lr=5e-3, progress=False)
    return model.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def victim_run(tmp_path_factory):
    """A digits MLP classifier run (width 16, 2 epochs; 360 held-out images)."""
    from helpers import tiny_digits_target

    return tiny_digits_target(tmp_path_factory.mktemp("pixel-victim"), test_fraction=0.2)


class PrefersLeftNeighbour(PixelCNN):
    """A stand-in PixelCNN whose pixel i prefers the level of pixel i - 1 in its input (level 0 for the first), the
    closer the likelier: Algorithm 1's conditioning on the purified pixels decides every output."""

    def logits(self, levels: torch.Tensor) -> torch.Tensor:
        flat = levels.flatten(1).float()
        previous = torch.cat([torch.zeros_like(flat[:, :1]), flat[:, :-1]], 1).view_as(levels)
        grid = torch.arange(self.levels, dtype=torch.float32).view(1, -1, 1, 1, 1)
        return -(grid - previous.unsqueeze(1)).abs()


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(images).argmax(1) == labels).double().mean())


# ---------------------------------------------------------------------- Algorithm 1


def test_algorithm_1_by_hand_conditions_on_the_purified_pixels():
    model = PrefersLeftNeighbour(image_size=(1, 4), width=1, layers=1)
    images = torch.tensor([100.0, 110.0, 120.0, 20.0]).view(1, 1, 1, 4) / 255
    purified = PixelDefend(model, eps_defend=16 / 255).purify(images) * 255
    # pixel 1: prefers 0, window [84, 116] -> 84; pixel 2: prefers 84 (purified, not 100), window [94, 126] -> 94;
    # pixel 3: prefers 94, window [104, 136] -> 104; pixel 4: prefers 104, window [4, 36] -> 36
    assert purified.round().flatten().tolist() == [84, 94, 104, 36]
    assert PixelDefend(model, eps_defend=0.0).purify(images).mul(255).round().flatten().tolist() == [100, 110, 120, 20]


def test_purification_stays_in_the_window_on_the_grid_and_raises_the_likelihood(pixelcnn, digits_cnn):
    images = PGD(digits_cnn.model, eps=0.1, steps=10, seed=0)(digits_cnn.images[:60], digits_cnn.labels[:60])
    defense = PixelDefend(pixelcnn)  # 16/255: a window of +-16 levels
    purified = defense(images)
    levels, quantised = purified * 255, torch.round(images * 255)
    assert torch.allclose(levels, levels.round(), atol=1e-4)
    assert float((levels - quantised).abs().max()) <= 16 + 1e-4 and defense.window == 16
    before, after = batched_bits_per_dim(pixelcnn, images), batched_bits_per_dim(pixelcnn, purified)
    assert bool((after <= before + 1e-4).all())  # each image's likelihood rises: by 9-14 bits/dim on average
    again = batched_bits_per_dim(pixelcnn, defense(purified))
    assert bool((again <= after + 1e-4).all())  # a second pass climbs on, by far less (measured 1.3-1.4 bits/dim)
    assert float((after - again).mean()) < 0.3 * float((before - after).mean())


def test_the_output_has_a_zero_gradient_and_bpda_goes_through(pixelcnn, digits_cnn):
    model = Preprocessed(digits_cnn.model, PixelDefend(pixelcnn)).eval()
    images, labels = digits_cnn.images[:8], digits_cnn.labels[:8]
    assert not PixelDefend.randomized and not model.randomized
    assert torch.count_nonzero(input_gradient(model, images, labels)[0]) == 0
    assert torch.count_nonzero(input_gradient(model.bpda(), images, labels)[0]) > 0


def test_purification_restores_most_pgd_digits_and_bpda_breaks_it(pixelcnn, digits_cnn):
    images, labels = digits_cnn.images[:100], digits_cnn.labels[:100]
    adversarial = PGD(digits_cnn.model, eps=0.1, steps=10, seed=0)(images, labels)
    fooled = (digits_cnn.model(adversarial).argmax(1) != labels)
    model = Preprocessed(digits_cnn.model, PixelDefend(pixelcnn, eps_defend=32 / 255)).eval()
    restored = accuracy(model, adversarial[fooled], labels[fooled])
    assert fooled.sum() >= 20 and restored > 0.5  # measured 0.66-0.68 (of 38) over three PixelCNN seeds
    x, y = images[:30], labels[:30]
    naive = accuracy(model, PGD(model, eps=0.2, steps=3, seed=0)(x, y), y)
    adaptive = accuracy(model, BPDA(model, eps=0.2, steps=8, seed=0)(x, y), y)
    assert naive > 0.8 and adaptive < 0.2  # measured naive 0.97, BPDA 0.0-0.03 over three PixelCNN seeds


def test_p_values_rank_by_likelihood_and_flag_adversarial_digits(pixelcnn, digits_cnn):
    scores, reference = torch.tensor([1.0, 2.5, 9.0]), torch.tensor([1.5, 2.0, 3.0, 4.0])
    assert rank_p_values(scores, reference).tolist() == [5 / 5, 3 / 5, 1 / 5]  # (1 + #{ref >= score}) / (N + 1)
    images, labels = digits_cnn.images[:60], digits_cnn.labels[:60]
    adversarial = PGD(digits_cnn.model, eps=0.1, steps=10, seed=0)(images, labels)
    clean = likelihood_p_values(pixelcnn, images, digits_cnn.train_images)
    attacked = likelihood_p_values(pixelcnn, adversarial, digits_cnn.train_images)
    assert float(clean.median()) > 0.2 and float(attacked.max()) < 0.05  # measured 0.56-0.6 and 0.0007


# ---------------------------------------------------------------------- against ART


def art_pixel_defend(pixelcnn: PixelCNN, window: int):
    """ART's PixelDefend on `pixelcnn`, wrapped as ART expects: a classifier whose last layer gives every pixel's
    256 probabilities, (N, H * W, 256) in raster order."""
    pytest.importorskip("art")
    from art.defences.preprocessor import PixelDefend as ARTPixelDefend
    from art.estimators.classification import PyTorchClassifier

    class Probabilities(nn.Module):
        def forward(self, logits):
            return logits.softmax(1).flatten(2).transpose(1, 2)

    class PerPixel(nn.Module):
        def __init__(self):
            super().__init__()
            self.pixelcnn, self.probabilities = pixelcnn, Probabilities()

        def forward(self, images):
            return self.probabilities(self.pixelcnn(images))

    wrapped = PyTorchClassifier(PerPixel(), nn.CrossEntropyLoss(), input_shape=(1, 8, 8), nb_classes=64 * 256,
                                clip_values=(0.0, 1.0))
    return ARTPixelDefend(eps=window, pixel_cnn=wrapped)


def test_equal_to_arts_step_applied_in_raster_order(pixelcnn, digits_cnn):
    images = digits_cnn.images[:3]
    adversarial = PGD(digits_cnn.model, eps=0.1, steps=5, seed=0)(images, digits_cnn.labels[:3])
    # on the grid (ART truncates where advlab rounds), in [32, 222] so that the purified pixels stay in [16, 238]
    # (ART's window breaks on a pixel within 16 of black or 17 of white: next test)
    inside = torch.round(32 + torch.cat([images, adversarial]) * 190) / 255
    art = art_pixel_defend(pixelcnn, 16)
    ours = PixelDefend(pixelcnn, 16 / 255).purify(inside).numpy()
    current = inside.numpy().copy()
    for position in range(64):  # Algorithm 1 from ART's step: each pixel given the purified pixels before it
        step, _ = art(current)
        current.reshape(len(current), -1)[:, position] = step.reshape(len(current), -1)[:, position]
    assert np.array_equal(np.round(current * 255), np.round(ours * 255))
    one_shot, _ = art(inside.numpy())  # ART's own output conditions on the unpurified pixels
    assert not np.array_equal(np.round(one_shot * 255), np.round(ours * 255))


def test_art_breaks_on_pixels_near_black_and_advlab_does_not(pixelcnn, digits_cnn):
    """ART computes its window on uint8 scalars: x - eps wraps for x < eps (and x + eps + 1 for x >= 255 - eps),
    the window is empty and its argmax stays -1: NumPy 2 refuses to store -1 in uint8 (OverflowError), NumPy 1
    stored 255 (a black pixel turned white). advlab clips the window to [0, 255] (Algorithm 1's max/min)."""
    images = torch.round(digits_cnn.images[:2] * 255) / 255
    dark = images.numpy() < 16 / 255
    try:
        with pytest.warns(RuntimeWarning, match="overflow"):
            theirs, _ = art_pixel_defend(pixelcnn, 16)(images.numpy())
    except OverflowError:
        theirs = None
    assert dark.mean() > 0.3 and (theirs is None or np.all(theirs[dark] == 1.0))
    ours = PixelDefend(pixelcnn, 16 / 255).purify(images).numpy()
    assert np.all(ours[dark] <= 32 / 255 + 1e-6)  # within 16 levels of a pixel below 16


# ---------------------------------------------------------------------- the defended run and the CLI


def test_the_defended_run_trains_its_pixelcnn_and_warns_about_naive_pgd(tmp_path, capsys, victim_run):
    victim = victim_run
    status, out, err = run_cli(["defend", "pixel-defend", str(victim), "--out", str(tmp_path / "px"), "--epochs", "1",
                                "--width", "8", "--layers", "2", "--n", "10", "--attack-steps", "2", *QUIET], capsys)
    assert status == 0, err
    summary = json.loads((tmp_path / "px" / "summary.json").read_text())
    record = json.loads((tmp_path / "px" / "defense.json").read_text())
    assert record["transform"] == "pixel-defend" and record["options"]["eps_defend"] == pytest.approx(16 / 255)
    assert record["options"]["pixelcnn"] == str((tmp_path / "px" / "pixelcnn" / "pixelcnn.safetensors").resolve())
    assert summary["pixelcnn"]["trained_here"] and summary["pixelcnn"]["bits_per_dim_held_out"] < 8
    assert "bits/dim held out" in out and "naive PGD leaves" in out and "BPDA leaves" in out
    assert isinstance(load_model(tmp_path / "px", "cpu").transform, PixelDefend)
    status, _, err = run_cli(["defend", "pixel-defend", str(victim), "--out", str(tmp_path / "px"), *QUIET], capsys)
    assert_one_line_error(status, err, "already exists")
    status, _, err = run_cli(["defend", "pixel-defend", str(tmp_path / "px"), "--out", str(tmp_path / "b"), *QUIET],
                             capsys)
    assert_one_line_error(status, err, "already a defended run")


def test_a_given_pixelcnn_is_used_not_retrained(tmp_path, victim_run):
    victim = victim_run
    path = save_pixelcnn(PixelCNN(image_size=(8, 8), width=4, layers=1), tmp_path / "given")
    summary = make_pixel_defended_run(victim, tmp_path / "px", pixelcnn=tmp_path / "given", eps_defend=0.1, n=5,
                                      attack_steps=1, device="cpu", progress=False, report=False)
    assert summary["options"] == {"pixelcnn": str(path.resolve()), "eps_defend": 0.1}
    assert not summary["pixelcnn"]["trained_here"] and summary["pixelcnn"]["window_levels"] == 25
    assert not (tmp_path / "px" / "pixelcnn").exists()
    small = PixelCNN(image_size=(4, 4), width=4, layers=1)
    save_pixelcnn(small, tmp_path / "small")
    raises_one_line(lambda: make_pixel_defended_run(victim, tmp_path / "other", pixelcnn=tmp_path / "small",
                                                    progress=False, report=False), "(1, 4, 4)", "(1, 8, 8)")


@pytest.mark.parametrize("argv, words", [
    (["--eps-defend", "2"], ("eps_defend", "[0, 1]")),
    (["--eps-defend", "-0.1"], ("eps_defend", ">= 0")),
    (["--epochs", "0"], ("--epochs", ">= 1")),
    (["--lr", "0"], ("--lr", "> 0")),
    (["--pixelcnn", "nowhere"], ("pixelcnn", "not found")),
])
def test_bad_options_are_one_line_errors(tmp_path, capsys, victim_run, argv, words):
    victim = victim_run
    status, _, err = run_cli(["defend", "pixel-defend", victim, "--out", str(tmp_path / "px"), *argv, *QUIET], capsys)
    assert_one_line_error(status, err, *words)
    assert not (tmp_path / "px").exists()


@pytest.mark.parametrize("build, words", [
    (lambda model: PixelDefend(model, eps_defend=1.5), ("pixel-defend: eps_defend", "[0, 1]")),
    (lambda model: PixelDefend(model, eps_defend="big"), ("pixel-defend: eps_defend", "number")),
    (lambda model: PixelDefend(nn.Linear(2, 2)), ("pixel-defend", "PixelCNN", "Linear")),
    (lambda model: PixelDefend(model)(torch.rand(2, 1, 4, 4)), ("pixel-defend", "(N, 1, 8, 8)", "(2, 1, 4, 4)")),
    (lambda model: PixelDefend(model)(torch.rand(2, 1, 8, 8) + 1), ("pixel-defend", "[0, 1]")),
])
def test_bad_input_is_one_line(build, words):
    model = PixelCNN(image_size=(8, 8), width=4, layers=1)
    raises_one_line(lambda: build(model), *words)
