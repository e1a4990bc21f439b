"""`advlab gan sample` on a generator downloaded from the playground's GAN page (advlab.pipelines.gan.sample_gan's
playground branch): the file is recognised by its header, drawn from with the file's noise kind and --seed, and
written as .npy or a scatter PNG; other verbs and bad files end in one line."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, run_cli
from PIL import Image
from safetensors.torch import save as safetensors_to_bytes

from advlab.gan.trainer import sample_noise
from advlab.models.generator_file import is_generator_file
from advlab.playground.gan_game import GanGame, GanOptions, load_generator

STEPS = 20


def export(tmp_path, name="generator.safetensors", steps=STEPS, **options):
    game = GanGame(GanOptions(**options))
    game.advance(steps)
    path = tmp_path / name
    path.write_bytes(game.export_generator())
    return path


@pytest.fixture(scope="module")
def download(tmp_path_factory):
    return export(tmp_path_factory.mktemp("playground"))


def expected(path, n, seed):
    """What load_generator's docstring says drawing from the file is."""
    generator, info = load_generator(path)
    z = sample_noise(n, info["z_dim"], info["noise"], torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return generator(z).numpy()


@pytest.mark.parametrize("noise", ["uniform", "gaussian"])
def test_npy_is_the_generator_on_seeded_noise(noise, tmp_path, capsys):
    path = export(tmp_path, noise=noise)
    assert is_generator_file(path)
    out = tmp_path / "points.npy"
    status, stdout, _ = run_cli(["gan", "sample", str(path), "--n", "1000", "--out", str(out), "--seed", "7",
                                 "--device", "cpu"], capsys)
    assert status == 0 and str(out) in stdout
    points = np.load(out)
    assert points.shape == (1000, 2) and np.isfinite(points).all()
    np.testing.assert_allclose(points, expected(path, 1000, 7), rtol=0, atol=1e-6)
    assert not np.allclose(points, expected(path, 1000, 8), atol=1e-3)  # the seed matters
    other = "gaussian" if noise == "uniform" else "uniform"
    generator, info = load_generator(path)
    z = sample_noise(1000, info["z_dim"], other, torch.Generator().manual_seed(7))
    with torch.no_grad():
        assert not np.allclose(points, generator(z).numpy(), atol=1e-3)  # the noise kind matters


def test_default_device_and_seed(download, tmp_path, capsys):
    out = tmp_path / "points.npy"
    assert run_cli(["gan", "sample", str(download), "--n", "50", "--out", str(out)], capsys)[0] == 0
    np.testing.assert_allclose(np.load(out), expected(download, 50, 0), rtol=0, atol=1e-5)


@pytest.mark.parametrize("data", ["ring8", "points"])
def test_png_is_a_scatter(data, tmp_path, capsys):
    options = {"points": [[-0.5, 0.2], [0.4, -0.3], [0.1, 0.6]]} if data == "points" else {}
    path = export(tmp_path, data=data, **options)
    out = tmp_path / "sub" / "points.png"
    status, _, err = run_cli(["gan", "sample", str(path), "--n", "1000", "--out", str(out)], capsys)
    assert status == 0, err
    with Image.open(out) as image:
        image.verify()
    with Image.open(out) as image:
        assert image.format == "PNG" and min(image.size) > 200


def test_csv_game_draws_in_the_csv_units(tmp_path, capsys):
    angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    rows = [f"{100 + 5 * np.cos(a):.4f},{-50 + 5 * np.sin(a):.4f}" for a in angles]
    path = export(tmp_path, steps=50, data="csv", csv="x,y\n" + "\n".join(rows) + "\n")
    out = tmp_path / "points.npy"
    assert run_cli(["gan", "sample", str(path), "--n", "1000", "--out", str(out)], capsys)[0] == 0
    points = np.load(out)
    assert np.linalg.norm(points.mean(0) - [100, -50]) < 10, points.mean(0)
    assert run_cli(["gan", "sample", str(path), "--n", "500", "--out", str(tmp_path / "p.png")], capsys)[0] == 0
    with Image.open(tmp_path / "p.png") as image:
        image.verify()


def test_label_is_refused(download, tmp_path, capsys):
    status, _, err = run_cli(["gan", "sample", str(download), "--label", "0", "--out", str(tmp_path / "x.npy")],
                             capsys)
    assert_one_line_error(status, err, "--label", "playground")
    assert not (tmp_path / "x.npy").exists()


def test_bad_files(download, tmp_path, capsys):
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(download.read_bytes()[:-16])  # header intact, tensors cut short
    assert is_generator_file(truncated)
    status, _, err = run_cli(["gan", "sample", str(truncated), "--out", str(tmp_path / "x.npy")], capsys)
    assert_one_line_error(status, err, "not a safetensors file")

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\xff" * 8 + b"not json at all")
    assert not is_generator_file(garbage)
    status, _, err = run_cli(["gan", "sample", str(garbage), "--out", str(tmp_path / "x.npy")], capsys)
    assert_one_line_error(status, err, "no checkpoint record")

    other = tmp_path / "other.safetensors"
    other.write_bytes(safetensors_to_bytes({"w": torch.zeros(2, 2)}, metadata={"format": "pt"}))
    assert not is_generator_file(other)
    status, _, err = run_cli(["gan", "sample", str(other), "--out", str(tmp_path / "x.npy")], capsys)
    assert_one_line_error(status, err, "no checkpoint record")

    header_len = int.from_bytes(download.read_bytes()[:8], "little")
    payload = download.read_bytes()
    header = payload[8:8 + header_len].replace(b'"width":"', b'"width":"9')  # the tensors no longer fit
    misfit = tmp_path / "misfit.safetensors"
    misfit.write_bytes(len(header).to_bytes(8, "little") + header + payload[8 + header_len:])
    assert is_generator_file(misfit)
    status, _, err = run_cli(["gan", "sample", str(misfit), "--out", str(tmp_path / "x.npy")], capsys)
    assert_one_line_error(status, err, "does not fit")
    assert not (tmp_path / "x.npy").exists()


@pytest.mark.parametrize("verb", [["evaluate", "--metrics", "modes", "--n", "100", "--no-progress"],
                                  ["interpolate", "--out", "walk.png"]])
def test_other_verbs_say_it_is_a_playground_file(verb, download, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = run_cli(["gan", verb[0], str(download), *verb[1:]], capsys)
    assert_one_line_error(status, err, "playground generator", "advlab gan sample")


@pytest.mark.parametrize("first", ["advlab.cli.main", "advlab.playground.gan_game"])
def test_imports_in_either_order_without_the_web_stack(first):
    code = (f"import sys, {first}, advlab.cli.main, advlab.pipelines.gan.sample_gan; "
            "from advlab.pipelines.gan.sample_gan import is_generator_file; "
            "assert 'fastapi' not in sys.modules and 'starlette' not in sys.modules")
    if first == "advlab.cli.main":  # the file format lives below the pipelines: they never load the playground
        code += "; assert 'advlab.playground.gan_game' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
