"""Randomized smoothing (Cohen, Rosenfeld & Kolter 2019): the statistics against closed forms and scipy's own
binomial routines, PREDICT and CERTIFY on fixed counts, constant and random-guess classifiers, bad input, the
`advlab defend smooth` run directory and its CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, raises_one_line, run_cli
from scipy.stats import binomtest, norm
from torch import nn

from advlab.defenses.smoothing import (
    ABSTAIN,
    SmoothedClassifier,
    lower_confidence_bound,
    minimum_certify_samples,
    minimum_predict_samples,
    predict_from_counts,
)
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.security.smooth_run import SmoothRunConfig, certified_accuracy, smooth_run
from advlab.pipelines.train_classifier import held_out_split, load_classifier, train_classifier

IMAGE = torch.full((1, 8, 8), 0.5)


class Constant(nn.Module):
    """Always the same class, whatever the input."""

    def __init__(self, label: int, classes: int = 10):
        super().__init__()
        self.logits = nn.Parameter(torch.nn.functional.one_hot(torch.tensor(label), classes).float(),
                                   requires_grad=False)

    def forward(self, images):
        return self.logits.expand(len(images), -1)


class RandomGuess(nn.Module):
    """A uniformly random class for every input (its own seeded generator)."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.classes = classes
        self.generator = torch.Generator().manual_seed(123)

    def forward(self, images):
        return torch.rand(len(images), self.classes, generator=self.generator)


def stub_counts(monkeypatch, *counts: list[int]) -> list[tuple[int, int]]:
    """Make sample_counts return `counts` in turn; returns the (num, batch) of each call."""
    calls, queue = [], [torch.tensor(c) for c in counts]

    def fake(self, image, num, batch):
        calls.append((num, batch))
        return queue.pop(0)

    monkeypatch.setattr(SmoothedClassifier, "sample_counts", fake)
    return calls


def two_sided_p_value(top: int, total: int) -> float:
    """BinomPValue(top, total, 1/2) for top >= total / 2, by hand: 2 P(X >= top), X ~ Bin(total, 1/2), at most 1."""
    tail = sum(math.comb(total, k) for k in range(top, total + 1)) / 2 ** total
    return min(1.0, 2 * tail) if 2 * top != total else 1.0


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
    """A small MLP classifier run on the digits (a few epochs: the figures do not matter here)."""
    out = tmp_path_factory.mktemp("smooth") / "clf"
    config = ClassifierTrainConfig(out=str(out), data="digits", model="mlp", epochs=3, threads=1)
    train_classifier(config, progress=False, report=False)
    return out


# ---------------------------------------------------------------------- the statistics


@pytest.mark.parametrize(("count", "n", "alpha"), [(90, 100, 0.001), (520, 1000, 0.01), (9990, 10000, 0.001),
                                                   (1, 7, 0.2), (60, 100, 0.05)])
def test_clopper_pearson_bound_matches_scipy_binomtest(count, n, alpha):
    expected = binomtest(count, n).proportion_ci(confidence_level=1 - 2 * alpha, method="exact").low
    assert lower_confidence_bound(count, n, alpha) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(("n", "alpha"), [(10, 0.001), (100, 0.001), (10000, 0.001), (50, 0.05)])
def test_unanimous_bound_is_the_closed_form(n, alpha):
    # Beta(alpha; n, 1) has the CDF p ** n, so its alpha-quantile is alpha ** (1 / n)
    assert lower_confidence_bound(n, n, alpha) == pytest.approx(alpha ** (1 / n), rel=1e-12)
    assert lower_confidence_bound(0, n, alpha) == 0.0


@pytest.mark.parametrize("alpha", [0.5, 0.1, 0.01, 0.001, 1e-6, 0.25, 0.125])
def test_minimum_samples_are_the_first_that_can_answer(alpha):
    least = minimum_certify_samples(alpha)
    assert alpha ** (1 / least) > 0.5
    assert least == 1 or alpha ** (1 / (least - 1)) <= 0.5
    least = minimum_predict_samples(alpha)
    assert two_sided_p_value(least, least) <= alpha
    assert least == 1 or two_sided_p_value(least - 1, least - 1) > alpha


def test_predict_abstains_exactly_when_the_binomial_p_value_exceeds_alpha():
    alpha, total = 0.01, 100
    decisions = set()
    for top in range(50, 101):
        counts = torch.zeros(10, dtype=torch.int64)
        counts[7], counts[2], counts[4] = top, total - top, 3  # a third class does not enter the test
        prediction, p_value = predict_from_counts(counts, alpha)
        assert p_value == pytest.approx(two_sided_p_value(top, total), rel=1e-9)
        assert prediction == (ABSTAIN if two_sided_p_value(top, total) > alpha else 7)
        decisions.add(prediction)
    assert decisions == {ABSTAIN, 7}  # both sides of the threshold were seen


def test_predict_uses_the_top_two_counts(monkeypatch):
    calls = stub_counts(monkeypatch, [5, 61, 0, 39, 20])
    answer = SmoothedClassifier(Constant(0), 0.25).predict(IMAGE, 125, 0.05, 50)
    assert calls == [(125, 50)]
    assert answer.prediction == 1
    assert answer.p_value == pytest.approx(two_sided_p_value(61, 100), rel=1e-9)
    assert answer.p_value < 0.05 < two_sided_p_value(61, 125)  # B is the runner-up, not everything else


# ---------------------------------------------------------------------- CERTIFY on fixed counts


def test_certify_radius_matches_a_hand_computed_value(monkeypatch):
    sigma, alpha, n = 0.5, 0.001, 1000
    calls = stub_counts(monkeypatch, [1, 2, 90, 3, 4], [10, 30, 900, 40, 20])
    certificate = SmoothedClassifier(Constant(0), sigma).certify(IMAGE, 100, n, alpha, 250)
    assert calls == [(100, 250), (n, 250)]  # n0 selection samples, then n fresh ones
    p_lower = binomtest(900, n).proportion_ci(confidence_level=1 - 2 * alpha, method="exact").low
    assert certificate.prediction == certificate.selected == 2
    assert certificate.p_lower == pytest.approx(p_lower, rel=1e-9)
    assert certificate.radius == pytest.approx(sigma * norm.ppf(p_lower), rel=1e-9)
    assert 0.8 < certificate.p_lower < 0.9 and 0.4 < certificate.radius < 0.6


def test_certify_abstains_when_the_bound_is_not_above_one_half(monkeypatch):
    stub_counts(monkeypatch, [0, 70, 30], [0, 520, 480])  # p_A_hat 0.52 but the 99.9% lower bound is below 1/2
    certificate = SmoothedClassifier(Constant(0, 3), 0.25).certify(IMAGE, 100, 1000, 0.001, 100)
    assert certificate.abstained and certificate.prediction == ABSTAIN and certificate.radius == 0.0
    assert certificate.selected == 1 and certificate.p_lower < 0.5


def test_certify_counts_only_the_selected_class(monkeypatch):
    # n0 picks class 0, the n fresh samples mostly say class 1: the bound is on class 0's probability -> abstain
    stub_counts(monkeypatch, [60, 40], [300, 700])
    certificate = SmoothedClassifier(Constant(0, 2), 0.25).certify(IMAGE, 100, 1000, 0.001, 100)
    assert certificate.abstained and certificate.selected == 0
    assert certificate.p_lower == pytest.approx(lower_confidence_bound(300, 1000, 0.001))


# ---------------------------------------------------------------------- real sampling


@pytest.mark.parametrize(("sigma", "n", "alpha"), [(0.25, 1000, 0.001), (1.0, 200, 0.01), (0.5, 10, 0.001)])
def test_constant_classifier_gets_the_largest_radius_n_and_alpha_allow(sigma, n, alpha):
    smoothed = SmoothedClassifier(Constant(3), sigma)
    certificate = smoothed.certify(IMAGE, 5, n, alpha, 64)
    assert certificate.prediction == 3
    assert certificate.counts.tolist() == [0, 0, 0, n, 0, 0, 0, 0, 0, 0]
    assert certificate.radius == pytest.approx(sigma * norm.ppf(alpha ** (1 / n)), rel=1e-9)
    assert smoothed.predict(IMAGE, n + 1, alpha, 64).prediction == 3


def test_random_guess_classifier_abstains():
    smoothed = SmoothedClassifier(RandomGuess(), 0.25)
    certificate = smoothed.certify(IMAGE, 100, 2000, 0.001, 500)
    assert certificate.abstained and certificate.radius == 0.0
    assert certificate.counts.sum() == 2000 and certificate.counts.max() < 300  # about 200 each
    assert smoothed.predict(IMAGE, 2000, 0.001, 500).abstained


def test_same_seed_same_counts(classifier_run):
    model, image = load_classifier(classifier_run, "cpu")[0], held_out_split(classifier_run)[0][0]
    first = SmoothedClassifier(model, 0.5, seed=7)
    counts = first.sample_counts(image, 300, 128)
    again = SmoothedClassifier(model, 0.5, seed=7).sample_counts(image, 300, 128)
    assert torch.equal(counts, again)
    assert counts.sum() == 300 and len(counts) == 10
    assert not torch.equal(first.sample_counts(image, 300, 128), counts)  # the stream moves on
    first.reseed(7)
    assert torch.equal(first.sample_counts(image, 300, 300), counts)  # the batch size does not change the noise
    assert not torch.equal(SmoothedClassifier(model, 0.5, seed=8).sample_counts(image, 300, 128), counts)


def test_noise_has_the_asked_sigma():
    class Record(nn.Module):
        def forward(self, images):
            self.seen = images.clone()
            return torch.zeros(len(images), 2)

    recorder = Record()
    SmoothedClassifier(recorder, 0.3).sample_counts(IMAGE, 4000, 4000)
    noise = recorder.seen - IMAGE
    assert noise.mean().abs() < 0.002 and noise.std().item() == pytest.approx(0.3, rel=0.01)


# ---------------------------------------------------------------------- bad input (library)


def test_bad_input_gives_one_line_errors():
    model = Constant(0)
    raises_one_line(lambda: SmoothedClassifier(model, 0.0), "sigma", "> 0")
    raises_one_line(lambda: SmoothedClassifier(model, -1), "sigma", "-1")
    smoothed = SmoothedClassifier(model, 0.25)
    for alpha in (0, 1, 1.5, -0.1, float("nan")):
        raises_one_line(lambda a=alpha: smoothed.certify(IMAGE, 10, 100, a, 10), "alpha", "(0, 1)")
        raises_one_line(lambda a=alpha: smoothed.predict(IMAGE, 100, a, 10), "alpha", "(0, 1)")
    raises_one_line(lambda: smoothed.certify(IMAGE, 0, 100, 0.001, 10), "n0", ">= 1")
    raises_one_line(lambda: smoothed.certify(IMAGE, 10, 100, 0.001, 0), "batch", ">= 1")
    raises_one_line(lambda: smoothed.certify(IMAGE, 10, 9, 0.001, 10), "n = 9", "only abstain", "n >= 10")
    raises_one_line(lambda: smoothed.certify(IMAGE, 10, 3, 0.1, 10), "n = 3", "n >= 4")
    raises_one_line(lambda: smoothed.predict(IMAGE, 10, 0.001, 10), "n = 10", "only abstain", "n >= 11")
    raises_one_line(lambda: smoothed.sample_counts(IMAGE.unsqueeze(0), 10, 10), "(C, H, W)")


# ---------------------------------------------------------------------- the run directory and the CLI


FAST = {"n": 100, "n0": 10, "batch": 100, "alpha": 0.01, "progress": False, "device": "cpu"}


def test_run_writes_a_consistent_certification(classifier_run):
    out = smooth_run(SmoothRunConfig(run=str(classifier_run), sigma=0.25, n_images=12, predict=True, **FAST))
    assert out == classifier_run / "smoothing" / "sigma-0.25"
    for name in ("certify.json", "certify.md", "certified_accuracy.png"):
        assert (out / name).stat().st_size > 0
    assert (out.parent / "certified_accuracy.png").is_file()
    record = json.loads((out / "certify.json").read_text())
    images, labels = held_out_split(classifier_run)
    rows, summary = record["per_image"], record["summary"]
    assert [r["label"] for r in rows] == labels[:12].tolist() and summary["images"] == 12
    for row in rows:  # every radius follows from the stored counts
        chosen = int(np.argmax(row["selection_counts"]))
        assert sum(row["counts"]) == 100 and sum(row["selection_counts"]) == 10 and row["selected"] == chosen
        low = binomtest(row["counts"][chosen], 100).proportion_ci(confidence_level=0.98, method="exact").low
        assert row["prediction"] == (chosen if low > 0.5 else ABSTAIN)
        assert row["radius"] == pytest.approx(0.25 * norm.ppf(low) if low > 0.5 else 0.0, rel=1e-9)
        assert row["correct"] == (row["prediction"] == row["label"])
        assert row["predict"] in (ABSTAIN, *range(10))
    abstains = sum(r["prediction"] == ABSTAIN for r in rows)
    right = sum(r["correct"] for r in rows)
    assert summary["abstains"] == abstains and summary["certified_wrong"] == 12 - abstains - right
    table = summary["certified_accuracy"]
    assert list(table)[:5] == ["0", "0.25", "0.5", "0.75", "1"]
    assert table["0"] == right / 12 <= summary["smoothed_accuracy"]
    assert all(a >= b for a, b in zip(list(table.values()), list(table.values())[1:]))
    assert table["1"] == 0.0  # above the largest radius n = 100 and alpha = 0.01 allow
    assert summary["max_radius"] == pytest.approx(0.25 * norm.ppf(0.01 ** (1 / 100)))
    model, _ = load_classifier(classifier_run, "cpu")
    clean = (model(images[:12]).argmax(1) == labels[:12]).float().mean().item()
    assert summary["clean_accuracy"] == pytest.approx(clean)
    assert "| 0.25 |" in (out / "certify.md").read_text()


def test_each_image_has_its_own_noise_stream(classifier_run, tmp_path):
    few = smooth_run(SmoothRunConfig(run=str(classifier_run), sigma=0.4, n_images=3, **FAST))
    more = smooth_run(SmoothRunConfig(run=str(classifier_run), sigma=0.4, n_images=6, **FAST))
    assert more.name == "sigma-0.4-2"  # the first one is kept
    first = json.loads((few / "certify.json").read_text())["per_image"]
    second = json.loads((more / "certify.json").read_text())["per_image"]
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in first]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in second[:3]]
    again = smooth_run(SmoothRunConfig(run=str(classifier_run), sigma=0.4, n_images=3, overwrite=True, **FAST))
    assert again == few and json.loads((few / "certify.json").read_text())["per_image"][0]["counts"] == \
        first[0]["counts"]
    assert (more / "certify.json").is_file()  # --overwrite replaced sigma-0.4 only


def test_more_images_than_held_out_certifies_them_all(classifier_run):
    out = smooth_run(SmoothRunConfig(run=str(classifier_run), sigma=2.0, n_images=100000, n=10, n0=1, alpha=0.4,
                                     batch=10, progress=False, device="cpu"))
    record = json.loads((out / "certify.json").read_text())
    assert record["images"] == {"source": "held-out split", "n": 360, "asked": 100000}


def test_certified_accuracy_counts_abstains_as_wrong():
    rows = [{"correct": True, "radius": 0.3}, {"correct": False, "radius": 0.0}, {"correct": True, "radius": 0.7},
            {"correct": False, "radius": 0.9}]
    assert [certified_accuracy(rows, r) for r in (0.0, 0.3, 0.31, 0.7, 0.8)] == [0.5, 0.5, 0.25, 0.25, 0.0]


def test_cli_certifies_and_prints_the_table(classifier_run, capsys):
    status, out, err = run_cli(["defend", "smooth", str(classifier_run), "--sigma", "0.3", "--n", "50", "--n0", "5",
                                "--alpha", "0.05", "--batch", "50", "--n-images", "4", "--no-progress",
                                "--device", "cpu"], capsys)
    assert status == 0, err
    assert "| L2 radius | certified accuracy |" in out and "sigma 0.3" in out
    assert f"certify: {classifier_run / 'smoothing' / 'sigma-0.3' / 'certify.json'}" in out
    record = json.loads((classifier_run / "smoothing" / "sigma-0.3" / "certify.json").read_text())
    assert record["options"]["n"] == 50 and record["images"]["n"] == 4


@pytest.mark.parametrize(("flags", "words"), [
    (["--sigma", "0"], ["sigma", "> 0"]),
    (["--sigma", "-0.5"], ["sigma", "-0.5"]),
    (["--alpha", "1"], ["alpha", "(0, 1)"]),
    (["--alpha", "0"], ["alpha", "(0, 1)"]),
    (["--n", "9"], ["n = 9", "n >= 10"]),
    (["--n", "10", "--predict"], ["PREDICT", "n >= 11"]),
    (["--n0", "0"], ["n0", ">= 1"]),
    (["--batch", "0"], ["batch", ">= 1"]),
    (["--n-images", "0"], ["n-images", ">= 1"]),
    (["--sigma", "abc"], ["--sigma", "abc"]),
])
def test_cli_bad_input_exits_2_with_one_line(classifier_run, capsys, flags, words):
    status, _, err = run_cli(["defend", "smooth", str(classifier_run), "--no-progress", *flags], capsys)
    assert_one_line_error(status, err, *words)


def test_cli_refuses_a_directory_without_a_classifier(tmp_path, capsys):
    status, _, err = run_cli(["defend", "smooth", str(tmp_path), "--no-progress"], capsys)
    assert_one_line_error(status, err, str(tmp_path), "classifier run")
    status, _, err = run_cli(["defend", "smooth", str(tmp_path / "missing"), "--no-progress"], capsys)
    assert_one_line_error(status, err, "no such run directory")


def test_base_noise_note_says_when_the_base_was_not_trained_for_this_sigma(tmp_path):
    import json

    from advlab.pipelines.security.smooth_run import base_noise_note

    (tmp_path / "summary.json").write_text(json.dumps({"defense": "none"}))
    assert "not trained with Gaussian noise" in base_noise_note(tmp_path, 0.25)
    (tmp_path / "summary.json").write_text(json.dumps({"defense": "noise", "defense_options": {"sigma": 0.25}}))
    assert base_noise_note(tmp_path, 0.25) is None
    assert "sigma 0.25, not the certified sigma 0.5" in base_noise_note(tmp_path, 0.5)


def test_run_report_shows_the_certifications(tmp_path):
    import json

    from advlab.reports.render import _md_smoothing, smoothing_summary

    assert smoothing_summary(tmp_path) is None
    sigma = tmp_path / "smoothing" / "sigma-0.5"
    sigma.mkdir(parents=True)
    (sigma / "certify.json").write_text(json.dumps({"options": {"n": 1000}, "summary": {
        "images": 20, "abstains": 3, "certified_accuracy": {"0": 0.85, "0.25": 0.6, "0.5": 0.4}}}))
    summary = smoothing_summary(tmp_path)
    assert summary["rows"] == [["sigma-0.5", 1000, 20, 3, "85.0%", "60.0%", "40.0%", "—"]]
    assert "| sigma-0.5 | 1000 | 20 | 3 | 85.0% | 60.0% | 40.0% | — |" in _md_smoothing(tmp_path, tmp_path, 2)
