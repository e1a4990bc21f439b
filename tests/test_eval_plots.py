"""Tests for advlab.reports.eval_plots: quality over steps, precision/recall, mode histogram, convergence."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from advlab.core.errors import AdvlabError
from advlab.reports.eval_plots import (
    plot_convergence_vs_quality,
    plot_mode_histogram,
    plot_precision_recall,
    plot_quality_over_steps,
    precision_recall_points,
)
from advlab.reports.plots import DPI

RED = np.array([214, 39, 40])  # MISSING_COLOR, #d62728


def records(evals: bool = True, keys=("fid", "real_fid", "kid", "kid_std", "precision", "recall", "density",
                                      "coverage", "modes")) -> list[dict]:
    """A run: train records every 10 steps for 3000 steps, an eval record every 300 steps."""
    rng = np.random.default_rng(0)
    out = []
    for step in range(10, 3010, 10):
        wave = 0.2 * math.sin(2 * math.pi * step / 250)
        out.append({"kind": "train", "step": step, "d_loss": 1.3 + wave + 0.05 * rng.standard_normal(),
                    "g_loss": 0.9 - wave + 0.5 * math.exp(-step / 800) + 0.05 * rng.standard_normal()})
        if evals and step % 300 == 0:
            fid = 150 * math.exp(-step / 1000) + 8
            figures = {"fid": fid, "real_fid": 3.0, "kid": fid / 1000, "kid_std": fid / 9000,
                       "precision": 0.3 + step / 5000, "recall": 0.1 + step / 4000, "density": 0.4 + step / 2500,
                       "coverage": 0.2 + step / 5000, "modes": min(8, 3 + step // 500), "total_modes": 8}
            out.append({"kind": "eval", "step": step, **{k: v for k, v in figures.items()
                                                         if k in keys or k == "total_modes"}})
    return out


def assert_png(path, min_width: int = 300) -> np.ndarray:
    """A valid, non-blank PNG of non-trivial size; returns its RGB pixels."""
    assert path.is_file() and path.stat().st_size > 10_000
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= min_width and image.height >= 250
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.std() > 10
    return pixels


def red_pixels(pixels: np.ndarray) -> int:
    return int((np.abs(pixels.astype(int) - RED).sum(-1) < 30).sum())


# ---------------------------------------------------------------- quality over steps


def test_quality_over_steps_has_a_panel_per_group(tmp_path):
    full = plot_quality_over_steps(records(), tmp_path / "plots" / "quality.png")
    assert full == tmp_path / "plots" / "quality.png"
    assert assert_png(full).shape[1] == pytest.approx(3 * 4.6 * DPI, abs=2)  # FID/KID, PRDC, modes
    fid_only = plot_quality_over_steps(records(keys=("fid",)), tmp_path / "fid.png")
    assert assert_png(fid_only).shape[1] == pytest.approx(4.6 * DPI, abs=2)
    no_fid = plot_quality_over_steps(records(keys=("kid", "precision", "recall")), tmp_path / "kid_pr.png")
    assert assert_png(no_fid).shape[1] == pytest.approx(2 * 4.6 * DPI, abs=2)


def test_quality_over_steps_without_evaluations_writes_nothing(tmp_path):
    target = tmp_path / "quality.png"
    assert plot_quality_over_steps(records(evals=False), target) is None
    only_other = records(evals=False) + [{"kind": "eval", "step": 10, "inception_score": 2.0}]
    assert plot_quality_over_steps(only_other, target) is None and not target.exists()


def test_quality_over_steps_single_evaluation(tmp_path):
    one = [{"kind": "eval", "step": 100, "fid": 42.0, "kid": 0.01, "kid_std": 0.002}]
    assert_png(plot_quality_over_steps(one, tmp_path / "one.png"))


# ---------------------------------------------------------------- precision against recall


def test_precision_recall_points_from_records():
    points = precision_recall_points(records())
    assert len(points) == 10 and points[0] == ("step 300", pytest.approx(0.36), pytest.approx(0.175))
    assert precision_recall_points(records(keys=("precision",))) == []


def test_precision_recall_plots(tmp_path):
    runs = {"dcgan": (0.8, 0.4), "wgan-gp": (0.7, 0.6), "collapsed": (0.95, 0.02), "perfect": (1.0, 1.0)}
    assert_png(plot_precision_recall(runs, tmp_path / "runs.png"))
    trajectory = precision_recall_points(records())
    assert_png(plot_precision_recall(trajectory, tmp_path / "steps.png", connect=True))
    many = [(f"step {i}", 0.5 + 0.004 * i, 0.1 + 0.008 * i) for i in range(100)]  # only 12 get labels
    assert_png(plot_precision_recall(many, tmp_path / "many.png", connect=True))


def test_precision_recall_without_points_writes_nothing(tmp_path):
    assert plot_precision_recall([], tmp_path / "pr.png") is None
    assert plot_precision_recall({}, tmp_path / "pr.png") is None and not (tmp_path / "pr.png").exists()


@pytest.mark.parametrize("points, message", [
    ({"a": (1.2, 0.5)}, "precision of point 'a'"),
    ([("b", 0.5, float("nan"))], "recall of point 'b'"),
    ([("c", 0.5)], "triples"),
    ("oops", "triples"),
    ({"d": 0.5}, "triples"),
])
def test_precision_recall_bad_points(tmp_path, points, message):
    with pytest.raises(AdvlabError, match=message):
        plot_precision_recall(points, tmp_path / "pr.png")


# ---------------------------------------------------------------- samples per mode


@pytest.mark.parametrize("modes", [8, 10, 1000])
def test_mode_histogram(tmp_path, modes):
    counts = np.random.default_rng(modes).multinomial(30 * modes, np.full(modes, 1 / modes))
    counts[[1, modes // 2]] = 0
    pixels = assert_png(plot_mode_histogram(counts, tmp_path / f"modes{modes}.png", "Generated"))
    assert red_pixels(pixels) > 20  # the missing modes are marked in red
    full = assert_png(plot_mode_histogram(counts + 1, tmp_path / f"full{modes}.png"))
    assert red_pixels(full) == 0
    # up to 100 modes one row of bars; 1000 modes the sorted counts above a 10 x 100 heatmap
    assert full.shape[0] == pytest.approx((7.0 if modes > 100 else 3.8) * DPI, abs=2)


def test_mode_histogram_layouts(tmp_path):
    assert_png(plot_mode_histogram(torch.tensor([5, 0, 7, 3, 9, 2, 4, 6]), tmp_path / "8.png"))
    assert_png(plot_mode_histogram(np.zeros(10), tmp_path / "none.png"))  # no mode covered is still a picture
    assert_png(plot_mode_histogram(np.arange(250), tmp_path / "250.png"))  # a 3 x 100 heatmap, 50 blank cells


def test_mode_histogram_bad_counts(tmp_path):
    assert plot_mode_histogram([], tmp_path / "empty.png") is None
    for bad, message in (([3, -1], ">= 0"), ([[1, 2]], "1-D"), ([1, float("nan")], "finite")):
        with pytest.raises(AdvlabError, match=message):
            plot_mode_histogram(bad, tmp_path / "bad.png")


# ---------------------------------------------------------------- convergence against quality


def test_convergence_vs_quality_plot(tmp_path):
    path = plot_convergence_vs_quality(records(), tmp_path / "convergence.png")
    assert assert_png(path).shape[1] == pytest.approx(12.0 * DPI, abs=2)
    assert_png(plot_convergence_vs_quality(records(), tmp_path / "kid.png", quality="kid"))
    two = [r for r in records() if r["kind"] == "train" or r["step"] <= 600]  # rho undefined: still drawn
    assert_png(plot_convergence_vs_quality(two, tmp_path / "two.png"))


def test_convergence_vs_quality_needs_losses_and_quality(tmp_path):
    target = tmp_path / "convergence.png"
    assert plot_convergence_vs_quality(records(evals=False), target) is None
    assert plot_convergence_vs_quality([r for r in records() if r["kind"] == "eval"], target) is None
    assert plot_convergence_vs_quality(records(keys=("kid",)), target) is None and not target.exists()
