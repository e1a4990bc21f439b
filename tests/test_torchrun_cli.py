"""`torchrun ... -m advlab gan train` end to end on 2 CPU processes: one run directory, and a rank that dies ends
the job with a message naming it while the last checkpoint stays loadable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from advlab.core.checkpoints import load_latest

TORCHRUN = Path(sys.executable).with_name("torchrun")
pytestmark = pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside this python")


def torchrun(*args: str) -> list[str]:
    return [str(TORCHRUN), "--standalone", "--nproc-per-node", "2", "-m", "advlab", *args]


def environment() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "ADVLAB_DIST_TIMEOUT": "30"}


def ring_args(out: Path, steps: int) -> list[str]:
    return ["gan", "train", "--data", "ring8", "--model", "mlp", "--steps", str(steps), "--batch-size", "16",
            "--checkpoint-every", "5", "--sample-every", "1000000", "--log-every", "5", "--tensorboard", "false",
            "--device", "cpu", "--out", str(out)]


def test_python_dash_m_advlab_is_the_command():
    done = subprocess.run([sys.executable, "-m", "advlab", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("advlab ")


def test_torchrun_trains_one_run(tmp_path):
    done = subprocess.run(torchrun(*ring_args(tmp_path / "run", 10)), capture_output=True, text=True, timeout=180,
                          env=environment())
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["step"] == 10
    assert load_latest(tmp_path / "run" / "checkpoints").meta["world_size"] == 2
    resumed = subprocess.run(torchrun("gan", "train", "--resume", str(tmp_path / "run"), "--steps", "15"),
                             capture_output=True, text=True, timeout=180, env=environment())
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["step"] == 15
    assert resumed.stdout.count("run: ") == 1  # rank 0 alone prints
    odd = subprocess.run(torchrun(*ring_args(tmp_path / "odd", 10), "--batch-size", "15"), capture_output=True,
                         text=True, timeout=180, env=environment())
    assert odd.returncode != 0
    assert "batch size 15 cannot be split into 2 equal shares; use 14 or 16" in odd.stderr
    assert not (tmp_path / "odd" / "checkpoints").exists()


def worker_of(parent: int, rank: int) -> int | None:
    """The pid of torchrun's worker process of `rank`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


def test_a_killed_rank_ends_the_job_and_keeps_the_checkpoint(tmp_path):
    out = tmp_path / "run"
    job = subprocess.Popen(torchrun(*ring_args(out, 1_000_000)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=environment())
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list((out / "checkpoints").glob("step-*.json")):
            time.sleep(0.5)
        victim = worker_of(job.pid, 1)
        assert victim is not None, "no worker of rank 1 found"
        os.kill(victim, signal.SIGKILL)
        _, stderr = job.communicate(timeout=90)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode != 0
    assert "local_rank: 1" in stderr, stderr[-3000:]  # torchrun names the rank that died
    checkpoint = load_latest(out / "checkpoints")
    assert checkpoint.step >= 5 and checkpoint.meta["world_size"] == 2
