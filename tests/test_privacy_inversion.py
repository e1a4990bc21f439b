"""Model inversion: MI-Face's stopping rules and Process on toy models whose optimum is known, GMI's search and
its prior term, and `advlab privacy invert`'s errors and what it writes (only under RUN/privacy/)."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, raises_one_line, run_cli
from torch import nn

from advlab.core.config import from_mapping
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.gan.gan_config import GANTrainConfig
from advlab.pipelines.gan.train_gan import train_gan
from advlab.pipelines.security.invert_run import InvertRunConfig, evaluator_model, invert_run
from advlab.pipelines.train_classifier import train_classifier
from advlab.privacy.inversion import GMI, MIFace
from advlab.privacy.victim import Victim, module_victim

# ---------------------------------------------------------------------- MI-Face on a linear softmax model


def linear_model(weights, bias) -> nn.Module:
    """A two-class softmax model on 1x2x2 images whose class-1 logit minus class-0 logit is w . x + b."""
    linear = nn.Linear(4, 2)
    with torch.no_grad():
        linear.weight.copy_(torch.stack([torch.zeros(4), torch.tensor(weights, dtype=torch.float32)]))
        linear.bias.copy_(torch.tensor([0.0, bias]))
    return nn.Sequential(nn.Flatten(), linear).requires_grad_(False)


def hand_descent(weights, bias, start, step, steps):
    """Projected gradient descent on c(x) = 1 - sigmoid(w . x + b), its gradient written out by hand:
    grad c = -s (1 - s) w; the costs c(x_0), c(x_1), ... and the iterates."""
    w, x = np.array(weights, dtype=np.float64), np.array(start, dtype=np.float64)
    costs, iterates = [], []
    for _ in range(steps + 1):
        s = 1 / (1 + math.exp(-(w @ x + bias)))
        costs.append(1 - s)
        iterates.append(x.copy())
        x = np.clip(x + step * s * (1 - s) * w, 0, 1)
    return costs, iterates


def test_mi_face_stops_at_the_confidence_gamma_at_the_step_a_hand_descent_reaches_it():
    weights, bias, step = [1.0, -1.0, 0.5, 2.0], -2.0, 0.5
    costs, iterates = hand_descent(weights, bias, [0.0] * 4, step, 200)
    expected = next(i for i, c in enumerate(costs) if c <= 1 - 0.8)
    attack = MIFace(threshold=0.8, step=step, denoise=0.0, iterations=200)
    result = attack.invert(linear_model(weights, bias), torch.tensor([1]), torch.zeros(1, 1, 2, 2))
    assert int(result.steps[0]) == expected > 1
    assert float(result.losses[0]) == pytest.approx(costs[expected], abs=1e-6)
    assert torch.allclose(result.images.flatten().double(), torch.from_numpy(iterates[expected]), atol=1e-5)


def test_mi_face_runs_alpha_steps_and_ends_at_the_box_corner_that_maximises_the_logit():
    # optimum of 1 - sigmoid(w . x + b) on [0, 1]^4: x_j = 1 where w_j > 0, else 0; gamma 1 is never reached
    weights = [3.0, -3.0, 2.0, -1.0]
    attack = MIFace(threshold=1.0, step=5.0, denoise=0.0, iterations=300, patience=1000)
    result = attack.invert(linear_model(weights, 0.0), torch.tensor([1]), torch.full((1, 1, 2, 2), 0.5))
    assert int(result.steps[0]) == 300
    assert result.images.flatten().tolist() == [1.0, 0.0, 1.0, 0.0]


def test_mi_face_beta_rule_stops_exactly_beta_steps_into_a_plateau_and_keeps_the_start():
    # from the corner x = 1 the gradient points out of the box: clipping keeps x, the cost stays flat, and
    # c(x_i) >= max(c(x_{i-1}), ..., c(x_{i-beta})) holds first at i = beta
    attack = MIFace(patience=7, step=0.1, denoise=0.0, iterations=100)
    start = torch.ones(2, 1, 2, 2)
    result = attack.invert(linear_model([1.0, 1.0, 1.0, 1.0], -30.0), torch.tensor([1, 1]), start)
    assert result.steps.tolist() == [7, 7]
    assert torch.equal(result.images, start)


def test_mi_face_rows_stop_on_their_own_rules_and_return_their_lowest_cost_iterate():
    weights, bias = [1.0, -1.0, 0.5, 2.0], -2.0
    model = linear_model(weights, bias)
    attack = MIFace(threshold=0.8, step=0.5, denoise=0.0, iterations=200, patience=5)
    starts = torch.stack([torch.zeros(1, 2, 2), torch.ones(1, 2, 2)])
    result = attack.invert(model, torch.tensor([1, 0]), starts)
    alone = attack.invert(model, torch.tensor([1]), starts[:1])
    assert int(result.steps[0]) == int(alone.steps[0]) and torch.equal(result.images[0], alone.images[0])
    # class 0 from the corner that favours class 1: the descent leaves it and its lowest cost is its final one
    confidence = model(result.images[1:]).softmax(1)[0, 0]
    assert float(result.losses[1]) == pytest.approx(1 - float(confidence), abs=1e-6)
    assert float(result.losses[1]) < 1 - float(model(starts[1:]).softmax(1)[0, 0])


def test_mi_face_process_denoises_and_keeps_flat_images_and_the_range():
    attack = MIFace(denoise=0.7, sharpen=1.0)
    flat = torch.full((1, 1, 8, 8), 0.3)
    assert torch.allclose(attack.process(flat), flat, atol=1e-6)
    checkerboard = (torch.arange(8).view(8, 1) + torch.arange(8).view(1, 8)).remainder(2).float().view(1, 1, 8, 8)
    processed = attack.process(checkerboard)
    assert 0 <= float(processed.min()) and float(processed.max()) <= 1
    assert float((processed - processed.mean()).abs().mean()) < 0.5 * float((checkerboard - 0.5).abs().mean())
    assert torch.equal(MIFace(denoise=0.0).process(checkerboard * 3 - 1), checkerboard)  # only clipping


def test_mi_face_refuses_black_box_victims_classes_out_of_range_and_mismatched_starts():
    model = linear_model([1.0, 1.0, 1.0, 1.0], 0.0)
    start = torch.zeros(1, 1, 2, 2)
    raises_one_line(lambda: MIFace().invert(module_victim(model, output="labels"), [1], start), "MI-Face",
                    "gradients", "only labels")
    raises_one_line(lambda: MIFace().invert(module_victim(model, output="probabilities"), [1], start),
                    "MI-Face", "white-box", "probabilities")
    raises_one_line(lambda: MIFace().invert(Victim(model, "logits"), [1], start), "white-box")
    raises_one_line(lambda: MIFace().invert(model, [2], start), "class 2", "0..1")
    raises_one_line(lambda: MIFace().invert(model, [0, 1], start), "1 start images for 2 labels")
    raises_one_line(lambda: MIFace().invert(model, [0], start + 2), "[0, 1]")
    raises_one_line(lambda: MIFace(patience=0), "patience")


# ---------------------------------------------------------------------- GMI on a toy prior


class PixelGenerator(nn.Module):
    """z (N, 4) -> sigmoid(z) as 1x2x2 images: every image in (0, 1)^4 has exactly one z."""

    z_dim = 4

    def forward(self, z):
        return torch.sigmoid(z).view(-1, 1, 2, 2)


class BrightCorner(nn.Module):
    """A discriminator that finds images real in proportion to their top-left pixel (`weight` per unit)."""

    def __init__(self, weight: float):
        super().__init__()
        self.weight = weight

    def forward(self, images):
        return self.weight * images[:, 0, 0, 0]


def corner_blind_classifier() -> nn.Module:
    """Class 1 by the other three pixels only: the top-left pixel does not matter to it."""
    return linear_model([0.0, 4.0, 4.0, 4.0], -6.0)


def test_gmi_search_lowers_its_loss_and_raises_the_target_confidence():
    attack = GMI(PixelGenerator(), BrightCorner(0.0), identity_weight=1.0, iterations=200, lr=0.5, restarts=1,
                 z_clip=None)
    model = corner_blind_classifier()
    labels = torch.tensor([1, 1, 1])
    start = torch.randn(3, 4, generator=torch.Generator().manual_seed(7))
    before = attack.losses(model, PixelGenerator()(start), labels)
    result = attack.invert(model, labels, torch.Generator().manual_seed(7))
    assert (result.losses < before - 0.1).all()
    assert (model(result.images).softmax(1)[:, 1] > model(PixelGenerator()(start)).softmax(1)[:, 1]).all()
    assert result.images.shape == (3, 1, 2, 2) and result.steps.tolist() == [200] * 3


def test_gmi_prior_term_moves_the_result_toward_what_the_discriminator_prefers():
    model = corner_blind_classifier()
    corners = {}
    for weight in (0.0, 5.0):
        attack = GMI(PixelGenerator(), BrightCorner(weight), identity_weight=1.0, iterations=300, lr=0.5,
                     restarts=1, z_clip=3.0)
        result = attack.invert(model, torch.tensor([1, 1, 1, 1]), torch.Generator().manual_seed(3))
        corners[weight] = result.images[:, 0, 0, 0]
    assert (corners[5.0] > 0.9).all() and (corners[5.0] > corners[0.0] + 0.2).all()


def test_gmi_keeps_the_restart_of_lowest_loss():
    model = corner_blind_classifier()
    attack = GMI(PixelGenerator(), BrightCorner(1.0), iterations=5, lr=0.01, restarts=4)
    best = attack.invert(model, torch.tensor([1]), torch.Generator().manual_seed(0))
    single = GMI(PixelGenerator(), BrightCorner(1.0), iterations=5, lr=0.01, restarts=1)
    every = single.invert(model, torch.tensor([1, 1, 1, 1]), torch.Generator().manual_seed(0))
    assert float(best.losses[0]) == pytest.approx(float(every.losses.min()), rel=1e-5)


def test_gmi_refuses_black_box_victims_and_a_prior_the_victim_cannot_take():
    model = corner_blind_classifier()
    raises_one_line(lambda: GMI(PixelGenerator(), BrightCorner(1.0)).invert(
        module_victim(model, output="labels"), [1]), "GMI", "gradients")

    class WideGenerator(PixelGenerator):
        def forward(self, z):
            return torch.sigmoid(z).repeat(1, 4).view(-1, 1, 4, 4)

    raises_one_line(lambda: GMI(WideGenerator(), BrightCorner(1.0)).invert(model, [1]), "GMI", "(1, 4, 4)")
    raises_one_line(lambda: GMI(nn.Identity(), BrightCorner(1.0)), "z_dim")
    raises_one_line(lambda: GMI(PixelGenerator(), BrightCorner(1.0), noise="laplace"), "noise")


# ---------------------------------------------------------------------- the pipeline and the CLI


@pytest.fixture(scope="module")
def tiny_target(tmp_path_factory):
    """A one-epoch SmallCNN (width 8) on 8x8 digits, half of them held out."""
    out = tmp_path_factory.mktemp("inversion") / "target"
    config = from_mapping(ClassifierTrainConfig, {"data": "digits", "model": "cnn", "width": 8, "epochs": 1,
                                                  "test_fraction": 0.5, "device": "cpu", "threads": 1,
                                                  "out": str(out)})
    train_classifier(config, progress=False, report=False)
    return out


@pytest.fixture
def target(tiny_target, tmp_path):
    """A fresh copy of the tiny target for a test that writes into it."""
    return Path(shutil.copytree(tiny_target, tmp_path / "target"))


def fingerprint(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


def quick(run: Path, method: str, **changes) -> InvertRunConfig:
    options = {"mi-face": {"iterations": 20}, "gmi": {"iterations": 3, "restarts": 1}}.get(method, {})
    values = {"run": str(run), "method": method, "classes": (0, 3), "images": 2, "options": options,
              "device": "cpu", "threads": 1, "progress": False, "prior_steps": 2, "evaluator_epochs": 1}
    return InvertRunConfig(**{**values, **changes})


def tiny_gan(out: Path, **values) -> Path:
    config = GANTrainConfig(**{"out": str(out), "model": "dcgan", "steps": 1, "width": 4, "device": "cpu",
                               "threads": 1, "tensorboard": False, "sample_every": 1, "checkpoint_every": 1,
                               **values})
    train_gan(config, progress=False, report=False)
    return out


def test_invert_writes_only_under_privacy_and_reuses_its_evaluator_and_prior(target):
    before = fingerprint(target)
    out = invert_run(quick(target, "mi-face"))
    evaluator = fingerprint(target / "privacy" / "evaluator")
    invert_run(quick(target, "gmi"))
    gan = fingerprint(target / "privacy" / "prior")
    invert_run(quick(target, "gmi", seed=1))
    after = fingerprint(target)
    assert {name: digest for name, digest in after.items() if not name.startswith("privacy/")} == before
    assert fingerprint(target / "privacy" / "evaluator") == evaluator  # trained once, then reused
    assert fingerprint(target / "privacy" / "prior") == gan
    assert (target / "privacy" / "prior" / "public.npy").exists()
    assert np.load(target / "privacy" / "prior" / "public.npy").shape == (899, 1, 8, 8)  # the held-out rows
    for method in ("mi-face", "gmi"):
        record = json.loads((target / "privacy" / "inversion" / method / "inversion.json").read_text())
        assert record["method"] == method and set(record["classes"]) == {"0", "3"}
        for figures in (record, *record["classes"].values()):
            assert 0 <= figures["attack_accuracy"] <= 1 and figures["nearest_private_distance"] > 0
        assert record["attack_accuracy"] == pytest.approx(
            np.mean([figures["attack_accuracy"] for figures in record["classes"].values()]))
        assert record["evaluator"]["model"] == "madry" and record["seconds"] > 0
    assert (out / "inverted.png").exists()


def test_evaluator_architecture_differs_from_the_target():
    assert evaluator_model("cnn", 8) == "madry"
    assert evaluator_model("madry", 8) == "mlp"
    assert evaluator_model("madry", 28) == "lenet"
    assert evaluator_model("mlp", 28) == "madry"


def test_invert_refuses_a_prior_of_another_size_or_channels(target, tmp_path):
    bigger = tiny_gan(tmp_path / "gan16", data="digits", image_size=16)
    raises_one_line(lambda: invert_run(quick(target, "gmi", prior=str(bigger))), "1-channel 16x16",
                    "1-channel 8x8", "--prior auto")
    colour = tmp_path / "colour.npy"
    np.save(colour, np.random.default_rng(0).random((16, 3, 8, 8), dtype=np.float32))
    coloured = tiny_gan(tmp_path / "gan-rgb", data="npy", data_path=str(colour))
    raises_one_line(lambda: invert_run(quick(target, "gmi", prior=str(coloured))), "3-channel 8x8",
                    "1-channel 8x8")
    raises_one_line(lambda: invert_run(quick(target, "gmi", prior=str(tmp_path / "none"))), "no such GAN run")
    assert not (target / "privacy" / "inversion").exists()


def test_invert_refuses_bad_classes_and_options(target):
    raises_one_line(lambda: invert_run(quick(target, "mi-face", classes=(3, 12))), "class 12", "0..9")
    raises_one_line(lambda: invert_run(quick(target, "mi-face", prior="auto")), "--prior", "gmi")
    raises_one_line(lambda: invert_run(quick(target, "mi-face", options={"lr": 0.1})), "unknown option 'lr'")
    raises_one_line(lambda: invert_run(quick(target, "deepinversion")), "unknown inversion method")
    assert not (target / "privacy").exists()


def test_cli_invert_prints_the_figures_and_refuses_in_one_line(target, capsys):
    status, out, err = run_cli(["privacy", "invert", str(target), "--class", "3", "--class", "5", "--images", "2",
                                "--iterations", "10", "--device", "cpu", "--no-progress"], capsys)
    assert status == 0, err
    assert "attack accuracy" in out and "mean" in out and "inversion.json" in out
    record = json.loads((target / "privacy" / "inversion" / "mi-face" / "inversion.json").read_text())
    assert record["options"]["iterations"] == 10 and set(record["classes"]) == {"3", "5"}
    status, _, err = run_cli(["privacy", "invert", str(target), "--class", "10", "--device", "cpu"], capsys)
    assert_one_line_error(status, err, "class 10")
    status, _, err = run_cli(["privacy", "invert", str(target), "--classes", "all", "--restarts", "3"], capsys)
    assert_one_line_error(status, err, "--restarts", "mi-face")
