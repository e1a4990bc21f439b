"""Tests for advlab.reports: image grids, plots, metrics parsing and HTML/Markdown reports."""

import html
import json
import re
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from advlab.core.errors import AdvlabError
from advlab.reports import (
    make_grid,
    plot_discriminator_outputs,
    plot_eval,
    plot_grad_norms,
    plot_losses,
    plot_points_over_heatmap,
    read_metrics,
    save_image_grid,
    smooth,
    write_combined_report,
    write_report,
)

# ---------------------------------------------------------------- fixtures


def _train(step: int) -> dict:
    return {"kind": "train", "step": step, "d_loss": 1.2 + 0.01 * (step % 7),
            "g_loss": 0.8 - 0.01 * (step % 5), "d_real": 0.6, "d_fake": 0.4,
            "grad_norm_d": 0.3, "grad_norm_g": 0.5, "time": step / 100}


def _eval(step: int) -> dict:
    return {"kind": "eval", "step": step, "modes": 6 + step // 250, "total_modes": 8,
            "high_quality": 0.9, "kl": 0.05}


def _records() -> list[dict]:
    train = [_train(s) for s in range(10, 510, 10)]
    return train[:25] + [_eval(250)] + train[25:] + [_eval(400), _eval(500)]


def _write_jsonl(path: Path, records, tail: str = "") -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)


def make_run(root: Path, name: str = "run-a", samples=(100, 300, 500), summary=True,
             config=None) -> Path:
    """A fake run directory as the trainer writes it."""
    run = root / name
    (run / "samples").mkdir(parents=True)
    config = config or {"data": "ring8", "model": "mlp", "loss": "<script>alert(1)</script>",
                        "steps": 500, "k": 1, "batch_size": 64, "lr_d": 0.0002, "seed": 7,
                        "notes": "a | b"}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    _write_jsonl(run / "metrics.jsonl", _records())
    for step in samples:
        save_image_grid(torch.rand(4, 1, 8, 8), run / "samples" / f"step-{step:06d}.png")
    if summary:
        (run / "summary.json").write_text(json.dumps(
            {"step": 500, "modes": 8, "total_modes": 8, "high_quality": 0.9375, "kl": 0.0123,
             "seconds": 41.2}))
    return run


def html_images(page: Path) -> list[Path]:
    srcs = re.findall(r'<img src="([^"]*)"', page.read_text())
    return [page.parent / unquote(html.unescape(src)) for src in srcs]


def md_images(page: Path) -> list[Path]:
    links = re.findall(r"!\[[^\]]*\]\(([^)]*)\)", page.read_text())
    return [page.parent / unquote(link) for link in links]


# ---------------------------------------------------------------- grids


def test_make_grid_exact_layout():
    images = torch.stack([torch.full((1, 2, 2), v) for v in (0.1, 0.2, 0.3)])
    grid = make_grid(images, nrow=2, padding=1, pad_value=0.5)
    assert grid.shape == (1, 7, 7)  # 2 rows x 2 columns of 2x2 with 1-pixel padding
    expected = torch.full((7, 7), 0.5)
    expected[1:3, 1:3], expected[1:3, 4:6], expected[4:6, 1:3] = 0.1, 0.2, 0.3
    assert torch.equal(grid[0], expected)


def test_make_grid_default_rows_and_rgb():
    grid = make_grid(torch.zeros(5, 3, 4, 6), padding=0)
    assert grid.shape == (3, 2 * 4, 3 * 6)  # ceil(sqrt(5)) = 3 per row, 2 rows
    assert grid[:, 4:, 12:].eq(1.0).all()  # the empty sixth cell is padding colour


def test_save_image_grid_size_and_pixels_round_trip(tmp_path):
    images = torch.tensor([0.0, 1.0, 0.5, 0.2]).reshape(1, 1, 2, 2).repeat(2, 1, 1, 1)
    images[1] = 1 - images[1]
    path = save_image_grid(images, tmp_path / "deep" / "grid.png", nrow=2, padding=1, scale=3)
    grid = make_grid(images, nrow=2, padding=1)
    with Image.open(path) as image:
        assert image.mode == "L" and image.size == (grid.shape[2] * 3, grid.shape[1] * 3)
        pixels = np.asarray(image)
    expected = np.round(grid[0].numpy() * 255).astype(np.uint8).repeat(3, 0).repeat(3, 1)
    assert np.array_equal(pixels, expected)


def test_save_image_grid_rgb(tmp_path):
    images = torch.zeros(1, 3, 2, 2)
    images[0, 0] = 1.0  # pure red
    with Image.open(save_image_grid(images, tmp_path / "rgb.png", padding=0)) as image:
        assert image.mode == "RGB" and image.getpixel((1, 1)) == (255, 0, 0)


@pytest.mark.parametrize("bad", [torch.zeros(2, 2, 4, 4), torch.zeros(1, 8, 8),
                                 torch.zeros(0, 1, 4, 4), np.zeros((1, 1, 4, 4))])
def test_bad_image_shapes_raise(tmp_path, bad):
    with pytest.raises(AdvlabError, match="shape|Tensor"):
        save_image_grid(bad, tmp_path / "x.png")
    with pytest.raises(AdvlabError):
        make_grid(bad)


def test_bad_scale_raises(tmp_path):
    with pytest.raises(AdvlabError, match="scale"):
        save_image_grid(torch.zeros(1, 1, 2, 2), tmp_path / "x.png", scale=0)


# ---------------------------------------------------------------- plots


def test_smooth_is_a_centred_moving_average():
    assert np.allclose(smooth([1, 2, 3, 4, 5], 3), [1.5, 2, 3, 4, 4.5])
    assert np.allclose(smooth([3, 1], 1), [3, 1])
    assert smooth([], 5).size == 0


@pytest.mark.parametrize("plot", [plot_losses, plot_discriminator_outputs, plot_grad_norms,
                                  plot_eval])
def test_plots_write_png(tmp_path, plot):
    path = plot(_records(), tmp_path / "sub" / "plot.png")
    assert path.is_file() and path.stat().st_size > 1000
    with Image.open(path) as image:
        assert image.format == "PNG"


def test_plots_tolerate_missing_and_nan_values(tmp_path):
    records = [{"kind": "train", "step": 1, "d_loss": float("nan")}, {"kind": "train", "step": 2}]
    assert plot_losses(records, tmp_path / "a.png").is_file()
    assert plot_grad_norms([], tmp_path / "b.png").is_file()


def test_plot_eval_none_without_eval_records(tmp_path):
    assert plot_eval([_train(10), _train(20)], tmp_path / "eval.png") is None
    assert not (tmp_path / "eval.png").exists()


def test_plot_points_over_heatmap(tmp_path):
    real, fake = torch.randn(2000, 2), torch.randn(3000, 2) * 0.3
    xs, ys = torch.linspace(-3, 3, 40), torch.linspace(-2, 2, 30)
    heat = torch.sigmoid(-(xs[None] ** 2 + ys[:, None] ** 2))
    path = plot_points_over_heatmap(real, fake, xs, ys, heat, tmp_path / "p.png", title="t")
    assert path.is_file() and path.stat().st_size > 1000
    with pytest.raises(AdvlabError, match="heat"):
        plot_points_over_heatmap(real, fake, xs, ys, heat.T, tmp_path / "q.png")
    with pytest.raises(AdvlabError, match=r"\(N, 2\)"):
        plot_points_over_heatmap(torch.zeros(5, 3), fake, xs, ys, heat, tmp_path / "q.png")


# ---------------------------------------------------------------- read_metrics


def test_read_metrics_good_file(tmp_path):
    _write_jsonl(tmp_path / "metrics.jsonl", _records(), tail="\n")  # blank line is fine
    records = read_metrics(tmp_path)
    assert len(records) == 53 and records[0] == _train(10)
    assert sum(r["kind"] == "eval" for r in records) == 3


def test_read_metrics_skips_truncated_last_line(tmp_path):
    _write_jsonl(tmp_path / "metrics.jsonl", [_train(10), _train(20)], tail='{"kind": "tra')
    assert [r["step"] for r in read_metrics(tmp_path)] == [10, 20]


def test_read_metrics_corrupt_middle_line_names_it(tmp_path):
    lines = [json.dumps(_train(s)) for s in (10, 20, 30)]
    lines[1] = lines[1][:25]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(AdvlabError, match="line 2"):
        read_metrics(tmp_path)


def test_read_metrics_missing_file(tmp_path):
    with pytest.raises(AdvlabError, match="metrics.jsonl"):
        read_metrics(tmp_path)


# ---------------------------------------------------------------- reports


def test_write_report(tmp_path):
    run = make_run(tmp_path)
    save_image_grid(torch.rand(4, 3, 8, 8), run / "samples" / "final.png")
    page, md = write_report(run)
    assert page == run / "report.html" and md == run / "report.md"
    text, md_text = page.read_text(), md.read_text()
    for plot in ("losses", "d_outputs", "grad_norms", "eval"):
        assert (run / "plots" / f"{plot}.png").is_file()
    images, md_imgs = html_images(page), md_images(md)
    assert len(images) == len(md_imgs) == 4 + 3 + 1
    assert all(p.is_file() for p in images + md_imgs)
    for body in (text, md_text):
        assert "<script>" not in body and "&lt;script&gt;" in body
        for value in ("ring8", "mlp", "0.0002", "0.9375", "0.0123", "41.2", "step 500"):
            assert value in body, value
    assert "a \\| b" in md_text  # a pipe would split the Markdown table cell


def test_write_report_without_summary_uses_last_records(tmp_path):
    run = make_run(tmp_path, summary=False, samples=())
    text = write_report(run)[0].read_text()
    assert f"<td>d_loss</td><td>{_train(500)['d_loss']:.4g}</td>" in text  # last train record
    assert "<td>modes</td><td>8</td>" in text  # from the last eval record


def test_write_report_shows_at_most_eight_samples_ending_with_the_last(tmp_path):
    run = make_run(tmp_path, samples=range(100, 2100, 100))
    steps = [int(s) for s in re.findall(r"step-0*(\d+)\.png\"", write_report(run)[0].read_text())]
    shown = sorted(set(steps))
    assert len(shown) == 8 and shown[0] == 100 and shown[-1] == 2000


def test_write_report_errors(tmp_path):
    run = make_run(tmp_path)
    (run / "metrics.jsonl").unlink()
    with pytest.raises(AdvlabError, match="metrics.jsonl"):
        write_report(run)
    with pytest.raises(AdvlabError, match="config.yaml"):
        write_report(tmp_path)
    with pytest.raises(AdvlabError, match="no such run directory"):
        write_report(tmp_path / "absent")


def test_write_combined_report(tmp_path):
    runs = [make_run(tmp_path / "runs", "hinge"),
            make_run(tmp_path / "runs", "wgan gp", summary=False, config={"loss": "wgan"})]
    page, md = write_combined_report(tmp_path / "out", runs, title="demo <b>")
    assert page.parent == tmp_path / "out" and md.parent == tmp_path / "out"
    text, md_text = page.read_text(), md.read_text()
    for body in (text, md_text):
        assert "hinge" in body and "wgan gp" in body and "demo &lt;b&gt;" in body
    assert text.count("<section") == 2 and md_text.count("\n## ") == 2
    images, md_imgs = html_images(page), md_images(md)
    # the page opens with one picture per run (its latest samples here), then each run's 4 plots and 3 samples
    assert len(images) == len(md_imgs) == 2 + 2 * (4 + 3)
    for shown in (images[:2], md_imgs[:2]):
        assert [p.resolve() for p in shown] == [run / "samples" / "step-000500.png" for run in runs]
    assert all(p.is_file() for p in images + md_imgs)
    assert all((run / "plots" / "losses.png").is_file() for run in runs)


def test_write_combined_report_needs_runs(tmp_path):
    with pytest.raises(AdvlabError):
        write_combined_report(tmp_path, [])
