"""Input-transformation defenses (bit depth, JPEG, median, Defense-GAN), the squeezing detector, BPDA, and
`advlab defend jpeg|bit-depth|median|defense-gan|squeeze`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.ndimage
import torch
import torch.nn.functional as F
from helpers import assert_one_line_error, raises_one_line, run_cli
from torch import nn

from advlab.attacks import ATTACKS, BPDA, PGD
from advlab.attacks.losses import input_gradient
from advlab.core.config import from_mapping
from advlab.defenses.bit_depth import BitDepth
from advlab.defenses.defense_gan import DefenseGAN
from advlab.defenses.feature_squeezing import MedianSmoothing, SqueezeDetector, make_squeezers
from advlab.defenses.jpeg import JPEG
from advlab.defenses.preprocessed import Preprocessed, load_model, read_defense
from advlab.pipelines.gan.gan_config import GANTrainConfig
from advlab.pipelines.gan.train_gan import train_gan

QUIET = ["--device", "cpu", "--threads", "1"]
VICTIM = ["--data", "digits", "--width", "8", "--epochs", "3", "--lr", "0.003", "--tensorboard", "false",
          "--no-progress", *QUIET]
TINY_GAN = {"data": "digits", "width": 8, "z_dim": 8, "batch_size": 16, "steps": 1, "log_every": 1,
            "sample_every": 1, "checkpoint_every": 1, "tensorboard": False, "device": "cpu", "threads": 1}


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(images).argmax(1) == labels).double().mean())


# ---------------------------------------------------------------------- the transformations


def test_bit_depth_rounds_to_hand_computed_levels():
    x = torch.tensor([0.0, 0.1, 0.17, 0.2, 0.49, 0.51, 0.83, 0.9, 1.0]).view(1, 1, 3, 3)
    # 2 bits: levels 0, 1/3, 2/3, 1; x * 3 = 0, .3, .51, .6, 1.47, 1.53, 2.49, 2.7, 3
    expected = torch.tensor([0, 0, 1, 1, 1, 2, 2, 3, 3]) / 3
    assert torch.allclose(BitDepth(2)(x).flatten(), expected)
    assert torch.equal(BitDepth(1)(x).flatten(), (x.flatten() > 0.5).float())  # 1 bit: binarised at 0.5
    eight_bit = torch.arange(256.0).view(1, 1, 16, 16) / 255
    assert torch.allclose(BitDepth(8)(eight_bit), eight_bit)


def test_jpeg_at_quality_100_is_nearly_the_identity_and_at_low_quality_not():
    generator = torch.Generator().manual_seed(0)
    for channels in (1, 3):
        images = torch.rand(4, channels, 16, 16, generator=generator)
        images = (images * 255).round() / 255
        high, low = JPEG(100)(images), JPEG(5)(images)
        assert high.shape == low.shape == images.shape and high.dtype == images.dtype
        assert 0 <= float(low.min()) and float(low.max()) <= 1
        assert float((high - images).abs().max()) < 0.03
        assert float((low - images).abs().mean()) > 0.1


def test_median_smoothing_equals_a_direct_window_median():
    x = torch.tensor([[1.0, 5.0, 2.0], [7.0, 3.0, 9.0], [4.0, 8.0, 6.0]]).view(1, 1, 3, 3) / 10
    # size 3: the 3x3 window around the centre holds every pixel, median 5
    assert float(MedianSmoothing(3)(x)[0, 0, 1, 1]) == pytest.approx(0.5)
    # size 2, pixel (1, 1): window rows 0..1, columns 0..1 = {1, 5, 7, 3}, upper median 5;
    # pixel (0, 0): rows {0 (mirrored -1), 0}, columns {0, 0} = {1, 1, 1, 1}
    smoothed = MedianSmoothing(2)(x)
    assert float(smoothed[0, 0, 1, 1]) == pytest.approx(0.5)
    assert float(smoothed[0, 0, 0, 0]) == pytest.approx(0.1)
    images = torch.rand(2, 3, 7, 9, generator=torch.Generator().manual_seed(1))
    for size in (1, 2, 3, 4):  # the paper's code: SciPy's median_filter, mode "reflect"
        reference = scipy.ndimage.median_filter(images.numpy(), size=(1, 1, size, size), mode="reflect")
        assert np.array_equal(MedianSmoothing(size)(images).numpy(), reference)


@pytest.mark.parametrize("build, words", [
    (lambda: BitDepth(0), ("bits", "1..8", "0")), (lambda: BitDepth(9), ("bits", "1..8", "9")),
    (lambda: BitDepth(True), ("bits",)), (lambda: JPEG(0), ("quality", "1..100")),
    (lambda: JPEG(101), ("quality", "1..100")), (lambda: MedianSmoothing(0), ("size", ">= 1")),
    (lambda: DefenseGAN(nn.Linear(2, 4), steps=0), ("steps", ">= 1")),
    (lambda: DefenseGAN(nn.Linear(2, 4), lr=0.0), ("lr", "> 0")),
    (lambda: DefenseGAN(nn.Linear(2, 4)), ("z_dim",)),
    (lambda: JPEG(75)(torch.rand(1, 2, 8, 8)), ("jpeg", "1 or 3")),
    (lambda: MedianSmoothing(9)(torch.rand(1, 1, 8, 8)), ("size 9", "8x8")),
    (lambda: make_squeezers(["blur:2"]), ("blur:2", "bit-depth")),
])
def test_bad_options_are_one_line_errors(build, words):
    raises_one_line(build, *words)


# ---------------------------------------------------------------------- obfuscated gradients and BPDA


def linear_generator(z_dim: int = 4, side: int = 4, seed: int = 0) -> nn.Module:
    """G(z) = 0.5 + A z, A with orthogonal columns of norm 0.1: images (1, side, side) in [0, 1] for small z."""
    q, _ = torch.linalg.qr(torch.randn(side * side, z_dim, generator=torch.Generator().manual_seed(seed)))
    generator = nn.Sequential(nn.Linear(z_dim, side * side), nn.Unflatten(1, (1, side, side)))
    with torch.no_grad():
        generator[0].weight.copy_(0.1 * q)
        generator[0].bias.fill_(0.5)
    return generator


@pytest.mark.parametrize("transform", [BitDepth(3), JPEG(50),
                                       DefenseGAN(linear_generator(side=8), steps=3, restarts=2, lr=1.0, z_dim=4)])
def test_the_input_gradient_through_a_non_differentiable_transform_is_exactly_zero(transform):
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    loss = F.cross_entropy(Preprocessed(classifier, transform)(x), torch.arange(5))
    grad, = torch.autograd.grad(loss, x)
    assert torch.equal(grad, torch.zeros_like(grad))
    straight, = torch.autograd.grad(F.cross_entropy(Preprocessed(classifier, transform).bpda()(x), torch.arange(5)), x)
    assert straight.abs().sum() > 0  # BPDA's identity backward pass sees the classifier's gradient


@pytest.mark.parametrize("transform", [BitDepth(3), JPEG(75)])
def test_naive_pgd_changes_nothing_behind_a_zero_gradient(digits_cnn, transform):
    model = Preprocessed(digits_cnn.model, transform).eval()
    images, labels = digits_cnn.images[:100], digits_cnn.labels[:100]
    adversarial = PGD(model, eps=0.2, steps=5, random_start=False)(images, labels)
    assert torch.equal(adversarial, images)  # sign(0) = 0: not one pixel moves
    assert accuracy(model, adversarial, labels) == accuracy(model, images, labels)


def test_bpda_gradient_is_the_classifiers_gradient_at_the_transformed_image(digits_cnn):
    transform = BitDepth(2)
    model = Preprocessed(digits_cnn.model, transform).eval()
    images, labels = digits_cnn.images[:20], digits_cnn.labels[:20]
    attack = BPDA(model, eps=0.1)
    expected, _ = input_gradient(digits_cnn.model, transform(images), labels)
    assert attack.draws() == 1  # deterministic: one draw, whatever `samples` says
    assert torch.allclose(attack.gradient(images, labels, None), expected, atol=1e-6)


class NoisyShift(nn.Module):
    """A randomized transform: x + N(0, 0.05^2) per call (torch's global generator)."""

    randomized = True

    def forward(self, images):
        return (images + 0.05 * torch.randn_like(images)).clamp(0, 1)


def test_bpda_averages_the_gradient_over_draws_of_a_randomized_transform(digits_cnn):
    model = Preprocessed(digits_cnn.model, NoisyShift()).eval()
    images, labels = digits_cnn.images[:6], digits_cnn.labels[:6]
    attack = BPDA(model, eps=0.1, samples=5)
    assert attack.draws() == 5
    torch.manual_seed(3)
    averaged = attack.gradient(images, labels, None)
    torch.manual_seed(3)  # the same draws, one image copy at a time, by hand
    noisy = (images.repeat_interleave(5, 0) + 0.05 * torch.randn(30, *images.shape[1:])).clamp(0, 1)
    per_draw, _ = input_gradient(digits_cnn.model, noisy, labels.repeat_interleave(5))
    assert torch.allclose(averaged, per_draw.view(6, 5, *images.shape[1:]).mean(1), atol=1e-6)


def test_bpda_refuses_a_plain_classifier_and_is_registered(digits_cnn):
    raises_one_line(lambda: BPDA(digits_cnn.model, eps=0.1), "bpda", "Preprocessed", "SmallCNN", "pgd")
    assert ATTACKS["bpda"] is BPDA


def test_bit_depth_passes_naive_pgd_and_bpda_breaks_it(digits_cnn):
    """The issue's check at the attack level: quantisation fools naive PGD at eps 0.2, not BPDA."""
    images, labels = digits_cnn.images[:200], digits_cnn.labels[:200]
    for bits in (2, 3):
        model = Preprocessed(digits_cnn.model, BitDepth(bits)).eval()
        clean = accuracy(model, images, labels)
        naive = accuracy(model, PGD(model, eps=0.2, steps=10, seed=0)(images, labels), labels)
        adaptive = accuracy(model, BPDA(model, eps=0.2, steps=10, seed=0)(images, labels), labels)
        print(f"bit depth {bits}, eps 0.2: clean {clean:.3f}, naive PGD {naive:.3f}, BPDA {adaptive:.3f}")
        assert clean > 0.95
        assert naive > clean - 0.1
        assert adaptive < 0.3


# ---------------------------------------------------------------------- Defense-GAN


def test_defense_gan_projects_onto_the_generators_range():
    generator = linear_generator(z_dim=4, side=4)
    defense = DefenseGAN(generator, steps=60, restarts=3, lr=20.0, z_dim=4)  # ||Az - x||^2: contraction 0.6 a step
    z0 = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    in_range = generator(z0).detach()
    assert float((defense(in_range) - in_range).flatten(1).norm(dim=1).max()) < 1e-4
    # a point off the range goes to its orthogonal projection c + P (x - c), P = A A^T / 0.01
    a = generator[0].weight.detach()
    off = torch.randn(6, 16, generator=torch.Generator().manual_seed(2))
    off = 0.02 * (off - off @ a @ a.T / 0.01)  # orthogonal to the range
    x = in_range + off.view(6, 1, 4, 4)
    assert torch.allclose(defense(x), in_range, atol=1e-4)
    assert defense.randomized and defense.sample_shape == (1, 4, 4)


def test_defense_gan_keeps_the_best_restart():
    generator = linear_generator(z_dim=4, side=4)
    defense = DefenseGAN(generator, steps=1, restarts=5, lr=1e-9, z_dim=4)  # z barely moves: G(z*) ~ G(z_0)
    x = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(0)) * 0.2 + 0.4
    torch.manual_seed(7)
    projected = defense(x)
    torch.manual_seed(7)
    starts = generator(torch.randn(15, 4)).detach().view(3, 5, 1, 4, 4)
    errors = (starts - x[:, None]).square().flatten(2).sum(2)
    best = starts[torch.arange(3), errors.argmin(1)]
    assert torch.allclose(projected, best, atol=1e-6)


def test_defense_gan_refuses_images_of_another_shape():
    defense = DefenseGAN(linear_generator(side=4), steps=1, restarts=1, z_dim=4)
    raises_one_line(lambda: defense(torch.rand(2, 1, 8, 8)), "defense-gan", "(1, 4, 4)", "(1, 8, 8)")


def test_bpda_with_eot_breaks_defense_gan_with_a_pca_generator(digits_cnn):
    """A linear generator fitted by PCA (20 components of the training digits): naive PGD sees a zero gradient,
    BPDA + EOT lowers the defended accuracy."""
    train = digits_cnn.train_images.flatten(1)
    mean = train.mean(0)
    components = torch.linalg.svd(train - mean, full_matrices=False).Vh[:20]
    generator = nn.Sequential(nn.Linear(20, 64), nn.Unflatten(1, (1, 8, 8)))
    with torch.no_grad():
        generator[0].weight.copy_(components.T)
        generator[0].bias.copy_(mean)
    model = Preprocessed(digits_cnn.model, DefenseGAN(generator, steps=5, restarts=2, lr=0.5, z_dim=20)).eval()
    images, labels = digits_cnn.images[:150], digits_cnn.labels[:150]
    torch.manual_seed(0)
    clean = accuracy(model, images, labels)
    naive = accuracy(model, PGD(model, eps=0.2, steps=10, seed=0)(images, labels), labels)
    adaptive = accuracy(model, BPDA(model, eps=0.2, steps=10, samples=2, seed=0)(images, labels), labels)
    print(f"Defense-GAN (PCA-20 generator), eps 0.2: clean {clean:.3f}, naive PGD {naive:.3f}, BPDA+EOT {adaptive:.3f}")
    assert clean > 0.85
    assert naive > clean - 0.1
    assert adaptive < naive - 0.3


# ---------------------------------------------------------------------- the squeezing detector


class FixedScores(SqueezeDetector):
    def __init__(self, values):
        super().__init__(nn.Identity(), [])
        self.values = torch.as_tensor(values, dtype=torch.float32)

    def forward(self, images):
        return self.values[images.flatten(1)[:, 0].long()]


def test_the_threshold_flags_the_target_share_of_its_clean_images():
    scores = torch.randperm(200, generator=torch.Generator().manual_seed(0)).float() / 200  # distinct scores
    detector = FixedScores(scores)
    ids = torch.arange(200.0).view(200, 1, 1, 1)
    threshold = detector.calibrate(ids, fpr=0.05)
    assert threshold == pytest.approx(189 / 200)  # the 11th largest of 0, 0.005, ..., 0.995
    assert int(detector.detect(ids).sum()) == 10
    raises_one_line(lambda: detector.calibrate(ids, fpr=1.0), "false-positive rate", "(0, 1)")


def test_the_score_is_zero_for_an_identity_squeezer_and_at_most_two(digits_cnn):
    images = digits_cnn.images[:50]
    eight_bit = (images * 255).round() / 255
    assert torch.equal(SqueezeDetector(digits_cnn.model, [BitDepth(8)]).scores(eight_bit), torch.zeros(50))
    scores = SqueezeDetector(digits_cnn.model, make_squeezers(["bit-depth:1", "median:2"])).scores(images)
    assert float(scores.min()) >= 0 and float(scores.max()) <= 2


def test_the_detector_keeps_its_false_positive_rate_and_catches_plain_pgd(digits_cnn):
    images, labels = digits_cnn.images, digits_cnn.labels
    half = len(images) // 2
    detector = SqueezeDetector(digits_cnn.model, [BitDepth(2)])  # 2 bits: 1 bit and 2x2 medians ruin 8x8 digits
    detector.calibrate(images[:half], fpr=0.05)
    calibration_fpr = float(detector.detect(images[:half]).double().mean())
    assert 0.05 - 1 / half <= calibration_fpr <= 0.05
    adversarial = PGD(digits_cnn.model, eps=0.1, steps=40, seed=0)(images[half:], labels[half:])
    fooled = digits_cnn.model(adversarial).argmax(1) != labels[half:]
    detected = float(detector.detect(adversarial)[fooled].double().mean())
    print(f"squeezing (2 bits), PGD eps 0.1: {int(fooled.sum())} fooled, detected {detected:.3f}, "
          f"false positives {calibration_fpr:.3f}")
    assert fooled.sum() >= 20
    assert detected > 0.6


# ---------------------------------------------------------------------- defended runs and the CLI


@pytest.fixture(scope="module")
def victim(tmp_path_factory):
    from advlab.cli.main import main

    out = tmp_path_factory.mktemp("defend") / "clf"
    assert main(["classifier", "train", "--out", str(out), *VICTIM]) == 0
    return out


@pytest.fixture(scope="module")
def gan16(tmp_path_factory):
    """A one-step GAN run on 16x16 digits: the wrong image size for the 8x8 victim."""
    out = tmp_path_factory.mktemp("defend") / "gan16"
    train_gan(from_mapping(GANTrainConfig, {**TINY_GAN, "image_size": 16, "out": str(out)}), progress=False,
              report=False)
    return out


def test_a_defended_run_round_trips_and_takes_attacks_unchanged(victim, tmp_path, capsys):
    out = tmp_path / "bits"
    status, text, err = run_cli(["defend", "bit-depth", str(victim), "--bits", "3", "--out", str(out), "--n", "40",
                                 "--no-progress", *QUIET], capsys)
    assert status == 0, err
    assert "clean held-out accuracy" in text and "naive PGD" in text and "BPDA" in text
    assert read_defense(out) == {"kind": "preprocess", "transform": "bit-depth", "options": {"bits": 3},
                                 "base": str(victim.resolve())}
    model = load_model(out, "cpu")
    assert isinstance(model, Preprocessed) and isinstance(model.transform, BitDepth) and model.transform.bits == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["first_warning"]["n"] == 40 and (out / "report.html").is_file()
    for attack in ("pgd", "bpda"):
        status, text, err = run_cli(["attack", attack, str(out), "--eps", "0.1", "--steps", "3", "--n", "20",
                                     "--no-progress", *QUIET], capsys)
        assert status == 0, err
        rows = json.loads((out / "attacks" / attack / "results.json").read_text())["rows"]
        assert rows[0]["n"] == 20


@pytest.mark.parametrize("verb, flags", [("jpeg", ["--quality", "40"]), ("median", ["--size", "2"])])
def test_jpeg_and_median_runs_load_with_their_options(victim, tmp_path, capsys, verb, flags):
    out = tmp_path / verb
    status, _, err = run_cli(["defend", verb, str(victim), *flags, "--out", str(out), "--n", "10",
                              "--attack-steps", "2", "--no-progress", *QUIET], capsys)
    assert status == 0, err
    transform = load_model(out, "cpu").transform
    assert isinstance(transform, JPEG if verb == "jpeg" else MedianSmoothing)
    assert read_defense(out)["options"] == {flags[0][2:]: int(flags[1])}


def test_bad_defend_input_is_one_line_each(victim, gan16, tmp_path, capsys):
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("keep me")
    cases = [
        (["bit-depth", str(victim), "--bits", "9", "--out", str(tmp_path / "a")], ("bits", "1..8", "9")),
        (["bit-depth", str(victim), "--bits", "0", "--out", str(tmp_path / "a")], ("bits", "1..8")),
        (["jpeg", str(victim), "--quality", "0", "--out", str(tmp_path / "a")], ("quality", "1..100")),
        (["jpeg", str(victim), "--quality", "101", "--out", str(tmp_path / "a")], ("quality", "1..100")),
        (["bit-depth", str(victim), "--out", str(existing)], ("already exists", "--overwrite")),
        (["bit-depth", str(victim), "--out", str(existing), "--overwrite"], ("holds no defense.json",)),
        (["defense-gan", str(victim), "--gan", str(tmp_path / "nothing"), "--out", str(tmp_path / "a")],
         ("no GAN run", "nothing")),
        (["defense-gan", str(victim), "--gan", str(victim), "--out", str(tmp_path / "a")], ("classifier run",)),
        (["defense-gan", str(victim), "--gan", str(gan16), "--out", str(tmp_path / "a")],
         ("(1, 16, 16)", "(1, 8, 8)")),
        (["bit-depth", str(tmp_path / "nowhere"), "--out", str(tmp_path / "a")], ("no such run directory",)),
        (["bit-depth", str(victim), "--eps", "-1", "--out", str(tmp_path / "a")], ("--eps", ">= 0")),
        (["squeeze", str(victim), "--fpr", "1.5"], ("--fpr", "(0, 1)")),
        (["squeeze", str(victim), "--squeezers", "blur:3"], ("blur:3",)),
    ]
    for argv, words in cases:
        status, _, err = run_cli(["defend", *argv, *QUIET[:2]], capsys)
        assert_one_line_error(status, err, *words)
    assert not (tmp_path / "a").exists()
    assert (existing / "notes.txt").read_text() == "keep me"


def test_a_defended_run_is_not_defended_twice_and_bpda_refuses_a_plain_run(victim, tmp_path, capsys):
    out = tmp_path / "bits"
    assert run_cli(["defend", "bit-depth", str(victim), "--out", str(out), "--n", "5", "--attack-steps", "1",
                    "--no-progress", *QUIET], capsys)[0] == 0
    status, _, err = run_cli(["defend", "jpeg", str(out), "--out", str(tmp_path / "again"), *QUIET[:2]], capsys)
    assert_one_line_error(status, err, "already a defended run")
    status, _, err = run_cli(["attack", "bpda", str(victim), "--n", "5", "--no-progress", *QUIET], capsys)
    assert_one_line_error(status, err, "bpda", "Preprocessed")


def test_squeeze_writes_its_detection_and_score_histogram(victim, tmp_path, capsys):
    out = tmp_path / "squeeze"
    status, text, err = run_cli(["defend", "squeeze", str(victim), "--squeezers", "bit-depth:2", "--attack-steps",
                                 "5", "--out", str(out), *QUIET], capsys)
    assert status == 0, err
    record = json.loads((out / "detection.json").read_text())
    assert record["squeezers"] == ["BitDepth(bits=2)"] and record["target_fpr"] == 0.05
    assert record["calibration"]["fpr"] <= 0.05 and record["calibration"]["images"] == 180
    assert (out / "scores.png").stat().st_size > 1000
    assert "threshold" in text and "detected" in text
    status, _, err = run_cli(["defend", "squeeze", str(victim), "--out", str(out), *QUIET], capsys)
    assert_one_line_error(status, err, "already exists")
