"""advlab translate / superres as a user runs them (pipelines/translation, cli/translate.py, cli/superres.py): tiny
runs write an ordinary run directory and report, resume continues exactly, apply translates files and folders,
evaluate writes RUN/eval/superres.json, bad input is one line; under torchrun 2 ranks take the step 1 process takes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from advlab.cli.main import main
from advlab.core.checkpoints import load_latest
from advlab.pipelines.translation.apply import translation_generator
from advlab.pipelines.translation.configs import TranslateTrainConfig
from advlab.pipelines.translation.train_translation import train_translation

TINY = ["--steps", "4", "--batch-size", "2", "--width", "4", "--log-every", "2", "--sample-every", "2",
        "--checkpoint-every", "2", "--image-size", "16", "--no-progress", "--tensorboard", "false"]


def run_cli(*args) -> int:
    return main([str(a) for a in args])


def test_pix2pix_run_writes_run_report_and_held_out_figures(tmp_path):
    out = tmp_path / "p2p"
    assert run_cli("translate", "train", "pix2pix", "--data", "shapes", "--out", out, *TINY) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["step"] == 4
    assert 0 <= summary["held_out_l1"] <= 1 and summary["held_out_psnr"] > 0 and -1 <= summary["held_out_ssim"] <= 1
    assert (out / "samples" / "final.png").is_file() and (out / "samples" / "step-000002.png").is_file()
    html = (out / "report.html").read_text()
    assert "final.png" in html and "held_out_psnr" in html
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"g_l1", "d_loss"} <= set(records[-1])


def checkpoint_tensors(run: Path) -> dict[str, torch.Tensor]:
    return load_latest(run / "checkpoints").tensors


def test_resume_continues_exactly(tmp_path):
    """A run stopped after its step-2 checkpoint and resumed ends where the uninterrupted run ends, bit for bit
    (weights, Adam moments, the learning-rate schedule, the image pools, the sampler)."""
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run_cli("translate", "train", "cyclegan", "--data", "digits-thick", "--pool-size", "3", "--out",
                   straight, *TINY) == 0
    shutil.copytree(straight, resumed)
    for path in (resumed / "checkpoints").glob("step-000004*"):
        path.unlink()
    assert run_cli("translate", "train", "cyclegan", "--resume", resumed, "--no-progress") == 0
    a, b = checkpoint_tensors(straight), checkpoint_tensors(resumed)
    assert a.keys() == b.keys() and any(key.startswith("extra.") for key in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_refuses_a_changed_option(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli("translate", "train", "pix2pix", "--data", "shapes", "--out", out, *TINY) == 0
    assert run_cli("translate", "train", "pix2pix", "--resume", out, "--l1-weight", "3") == 2
    assert "cannot change l1_weight" in capsys.readouterr().err


def write_png(path: Path, size: int, channels: int = 3) -> None:
    pixels = np.random.default_rng(0).integers(0, 255, (size, size, channels), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels if channels == 3 else pixels[:, :, 0]).save(path)


def test_apply_translates_a_folder_both_ways(tmp_path, capsys):
    out = tmp_path / "cg"
    assert run_cli("translate", "train", "cyclegan", "--data", "digits-thick", "--out", out, *TINY) == 0
    for name in ("x.png", "sub/y.png"):
        write_png(tmp_path / "in" / name, 20, channels=1)
    for direction in ("AtoB", "BtoA"):
        target = tmp_path / direction
        assert run_cli("translate", "apply", out, "--input", tmp_path / "in", "--out", target,
                       "--direction", direction, "--no-progress") == 0
        written = sorted(p.relative_to(target).as_posix() for p in target.rglob("*.png"))
        assert written == ["sub/y.png", "x.png"]
        assert Image.open(target / "x.png").size == (20, 20)
    assert "images/s" in capsys.readouterr().out


def test_pix2pix_on_a_small_folder_of_pairs(tmp_path):
    """The issue's user: A/ and B/ folders of same-named files; a held-out split of one pair still ends the run
    (FID needs two images and is left out, null in summary.json)."""
    for name in ("a", "b", "c", "d", "e", "f"):
        write_png(tmp_path / "pairs" / "A" / f"{name}.png", 32)
        write_png(tmp_path / "pairs" / "B" / f"{name}.png", 32)
    out = tmp_path / "run"
    args = [a for a in TINY if a not in ("--image-size", "16")]
    assert run_cli("translate", "train", "pix2pix", "--data", tmp_path / "pairs", "--out", out, *args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["held_out_images"] == 1 and summary["held_out_fid"] is None


def test_bad_input_is_one_line(tmp_path, capsys):
    cases = [
        ("translate", "train", "pix2pix", "--data-a", tmp_path, "--data-b", tmp_path, "--out", tmp_path / "r"),
        ("translate", "train", "cyclegan", "--data-a", tmp_path, "--out", tmp_path / "r"),
        ("translate", "train", "pix2pix", "--data", "shapes", "--direction", "AtoC", "--out", tmp_path / "r"),
        ("superres", "train", "--scale", "3", "--out", tmp_path / "r"),
        ("superres", "train", "--model", "srresnet", "--init", tmp_path, "--out", tmp_path / "r"),
        ("translate", "apply", tmp_path, "--input", tmp_path, "--out", tmp_path / "o"),
    ]
    for case in cases:
        assert run_cli(*case) == 2, case
        err = capsys.readouterr().err.strip()
        assert err.startswith("advlab: error:") and "\n" not in err, (case, err)


SR_TINY = ["--steps", "2", "--batch-size", "2", "--blocks", "1", "--width", "4", "--scale", "2", "--log-every", "1",
           "--sample-every", "2", "--checkpoint-every", "2", "--no-progress", "--tensorboard", "false"]


def test_superres_srresnet_then_srgan_then_evaluate(tmp_path, capsys):
    srr, srgan = tmp_path / "srr", tmp_path / "srgan"
    assert run_cli("superres", "train", "--model", "srresnet", "--out", srr, *SR_TINY) == 0
    summary = json.loads((srr / "summary.json").read_text())
    assert summary["held_out_psnr"] > 0 and summary["bicubic_psnr"] > summary["held_out_psnr"] - 30
    assert run_cli("superres", "train", "--model", "srgan", "--init", srr, "--out", srgan, *SR_TINY) == 0
    assert run_cli("superres", "evaluate", srgan) == 0
    content = json.loads((srgan / "eval" / "superres.json").read_text())
    assert list(content) == ["bicubic", "srresnet", "srgan"]
    for figures in content.values():
        assert {"psnr", "ssim", "feature_distance"} <= set(figures)
    assert content["srresnet"]["psnr"] == pytest.approx(summary["held_out_psnr"], abs=1e-6)
    assert (srgan / "eval" / "superres.png").is_file()
    write_png(tmp_path / "gray_tests" / "g.png", 40, channels=1)  # a gray photograph for an RGB network
    assert run_cli("superres", "evaluate", srgan, "--data", tmp_path / "gray_tests") == 0
    assert json.loads((srgan / "eval" / "superres.json").read_text())["srgan"]["per_image"][0]["psnr"] > 0
    low = tmp_path / "low.png"
    write_png(low, 10)
    assert run_cli("superres", "apply", srgan, "--input", low, "--out", tmp_path / "high.png") == 0
    assert Image.open(tmp_path / "high.png").size == (20, 20)
    capsys.readouterr()
    wider = [a if a != "4" else "8" for a in SR_TINY]
    assert run_cli("superres", "train", "--model", "srgan", "--init", srr, "--out", tmp_path / "x", *wider) == 2
    assert "another architecture (width 4 vs 8)" in capsys.readouterr().err


def cyclegan_on_ranks(out: str) -> torch.Tensor:
    """Train a tiny CycleGAN (2 steps, minibatch 4, no pool) in `out`; its A->B mapping of fixed inputs."""
    config = TranslateTrainConfig(game="cyclegan", data="digits-thick", image_size=16, width=4, steps=2,
                                  batch_size=4, pool_size=0, log_every=1, sample_every=2, checkpoint_every=2,
                                  tensorboard=False, out=out, threads=1)
    train_translation(config, progress=False, report=False)
    generate, _ = translation_generator(out, "AtoB", torch.device("cpu"))
    with torch.no_grad():
        return generate(torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(0)))


def test_two_ranks_take_the_step_of_one_process(tmp_path):
    """The same function to float rounding (the parameters themselves may differ where they do not matter: Adam
    turns the rounding noise in the gradients of biases before instance norm, mathematically zero, into steps)."""
    from ranks import run_ranks

    alone = cyclegan_on_ranks(str(tmp_path / "one"))
    shared = run_ranks(cyclegan_on_ranks, 2, str(tmp_path / "two"))
    torch.testing.assert_close(shared[0], alone, atol=1e-4, rtol=0)
    torch.testing.assert_close(shared[1], alone, atol=1e-4, rtol=0)
    assert json.loads((tmp_path / "two" / "checkpoints" / "step-000002.json").read_text())["world_size"] == 2
