"""The advlab command: every bad input ends with one line on stderr and a non-zero exit."""

import gzip
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import assert_one_line_error, run_cli

from advlab.cli.main import main

FAST = ["--width", "16", "--depth", "2", "--batch-size", "32", "--log-every", "5",
        "--sample-every", "10", "--checkpoint-every", "10", "--tensorboard", "false",
        "--device", "cpu", "--no-progress"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "ring"
    assert main(["gan", "train", "--data", "ring8", "--steps", "20", "--out", str(out), *FAST]) == 0
    return out


def test_train_sample_report(trained, tmp_path, capsys):
    status, out, _ = run_cli(["gan", "sample", str(trained), "--n", "64", "--out", str(tmp_path / "g.png")], capsys)
    assert status == 0 and (tmp_path / "g.png").exists()
    status, out, _ = run_cli(["report", str(trained)], capsys)
    assert status == 0 and "report.html" in out
    checkpoint = sorted((trained / "checkpoints").glob("*.safetensors"))[-1]
    status, _, _ = run_cli(["gan", "sample", str(checkpoint), "--out", str(tmp_path / "c.npy")], capsys)
    assert status == 0


def test_config_file_and_resume(tmp_path, capsys):
    config = tmp_path / "my.yaml"
    config.write_text(f"data: grid25\nsteps: 10\nout: {tmp_path / 'run'}\nwidth: 16\ndepth: 2\n"
                      "batch_size: 32\ntensorboard: false\ndevice: cpu\n")
    assert run_cli(["gan", "train", "--config", str(config), "--no-progress"], capsys)[0] == 0
    assert "data: grid25" in (tmp_path / "run" / "config.yaml").read_text()
    status, _, _ = run_cli(["gan", "train", "--resume", str(tmp_path / "run"), "--steps", "20", "--device", "auto",
                        "--no-progress"], capsys)
    assert status == 0
    assert "step-000020.json" in {p.name for p in (tmp_path / "run" / "checkpoints").iterdir()}
    assert "device: auto" in (tmp_path / "run" / "config.yaml").read_text()


@pytest.mark.parametrize("argv,words", [
    (["gan", "train", "--loss", "wasserstein", "--out", "X"], ["unknown loss", "minimax", "hinge"]),
    (["gan", "train", "--data", "cifar", "--out", "X"], ["unknown dataset", "ring8", "digits"]),
    (["gan", "train", "--model", "biggan", "--out", "X"], ["unknown model", "dcgan"]),
    (["gan", "train", "--steps", "-5", "--out", "X"], ["steps", "positive"]),
    (["gan", "train", "--steps", "many", "--out", "X"], ["--steps", "integer"]),
    (["gan", "train", "--bogus", "1"], ["unrecognized arguments"]),
    (["gan", "train", "--data", "idx", "--out", "X"], ["data_path"]),
    (["gan", "train"], ["--out"]),
    (["gan", "train", "--device", "tpu", "--out", "X"], ["unknown device"]),
    (["nonsense"], ["invalid choice"]),
])
def test_bad_arguments(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = run_cli(argv, capsys)
    assert_one_line_error(status, err, *words)
    assert not (tmp_path / "X").exists()


def test_unknown_yaml_key(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("stepz: 3\n")
    status, _, err = run_cli(["gan", "train", "--config", str(tmp_path / "c.yaml")], capsys)
    assert_one_line_error(status, err, "'stepz'", "valid options are")


def idx_file(path: Path, magic: bytes, dims, payload: bytes, gz=False):
    data = magic + b"".join(struct.pack(">I", d) for d in dims) + payload
    (gzip.open if gz else open)(path, "wb").write(data)
    return path


@pytest.mark.parametrize("name,magic,dims,payload,words", ids=["bad-magic", "truncated"], argvalues=[
    ("bad-magic", b"\x12\x34\x08\x03", (2, 4, 4), bytes(32), ["magic"]),
    ("truncated", b"\x00\x00\x08\x03", (2, 4, 4), bytes(20), ["too short", "32 bytes"]),
])
def test_bad_idx_files(tmp_path, capsys, name, magic, dims, payload, words):
    path = idx_file(tmp_path / f"{name}.idx.gz", magic, dims, payload, gz=True)
    status, _, err = run_cli(["gan", "train", "--data", "idx", "--data-path", str(path),
                          "--out", str(tmp_path / "r")], capsys)
    assert_one_line_error(status, err, *words)


def test_empty_image_folder(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    status, _, err = run_cli(["gan", "train", "--data", "folder", "--data-path", str(tmp_path / "images"),
                          "--out", str(tmp_path / "r")], capsys)
    assert_one_line_error(status, err, "no images")


def test_resume_errors(trained, tmp_path, capsys):
    status, _, err = run_cli(["gan", "train", "--resume", str(tmp_path)], capsys)
    assert_one_line_error(status, err, "no config.yaml")
    status, _, err = run_cli(["gan", "train", "--resume", str(trained), "--loss", "hinge"], capsys)
    assert_one_line_error(status, err, "cannot change loss")
    broken = tmp_path / "broken"
    shutil.copytree(trained, broken)
    for tensors in (broken / "checkpoints").glob("*.safetensors"):
        tensors.write_bytes(b"\x80\x04not safetensors at all")
    status, _, err = run_cli(["gan", "train", "--resume", str(broken), "--no-progress"], capsys)
    assert_one_line_error(status, err, "no loadable checkpoint", "corrupt or was replaced")
    shutil.rmtree(broken / "checkpoints")
    status, _, err = run_cli(["gan", "train", "--resume", str(broken)], capsys)
    assert_one_line_error(status, err, "no checkpoint")


def test_sample_errors(trained, tmp_path, capsys):
    status, _, err = run_cli(["gan", "sample", str(tmp_path / "none"), "--out", str(tmp_path / "x.png")], capsys)
    assert_one_line_error(status, err, "neither a run directory nor a checkpoint")
    fake = tmp_path / "weights.safetensors"
    fake.write_bytes(b"PK\x03\x04 a zip, not safetensors")
    status, _, err = run_cli(["gan", "sample", str(fake), "--out", str(tmp_path / "x.png")], capsys)
    assert_one_line_error(status, err, "no checkpoint record")
    status, _, err = run_cli(["gan", "sample", str(trained), "--n", "0", "--out", str(tmp_path / "x.png")], capsys)
    assert_one_line_error(status, err, "--n")


def test_report_of_a_non_run(tmp_path, capsys):
    status, _, err = run_cli(["report", str(tmp_path)], capsys)
    assert_one_line_error(status, err)


def test_console_script_and_version(tmp_path):
    script = Path(sys.executable).with_name("advlab")
    result = subprocess.run([str(script), "gan", "train", "--loss", "nope", "--out", str(tmp_path / "r")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "unknown loss" in result.stderr
    version = subprocess.run([sys.executable, "-c", "import advlab; print(advlab.__version__)"],
                             capture_output=True, text=True)
    assert version.stdout.strip() == "0.1.0"
