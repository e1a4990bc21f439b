"""Checkpoints: safetensors + JSON, atomic, the last good one always loadable, no pickle."""

import json
import os
import pickle

import pytest
import torch
from helpers import tiny_trainer

from advlab import AdvlabError
from advlab.core import checkpoints
from advlab.core.checkpoints import (
    list_checkpoints,
    load_latest,
    read_checkpoint,
    read_tensors,
    save_checkpoint,
)
from advlab.pipelines.gan.gan_setup import restore_trainer, trainer_state


def save(directory, step, value, keep=3):
    return save_checkpoint(directory, step, {"w": torch.full((3,), float(value))}, {"note": value}, keep=keep)


def test_round_trip(tmp_path):
    save(tmp_path, 5, 1.5)
    loaded = load_latest(tmp_path)
    assert loaded.step == 5 and torch.equal(loaded.tensors["w"], torch.full((3,), 1.5))
    assert loaded.meta["note"] == 1.5
    assert (tmp_path / "step-000005.safetensors").exists() and (tmp_path / "step-000005.json").exists()


def test_keeps_newest_and_prunes_after_writing(tmp_path):
    for step in range(1, 6):
        save(tmp_path, step, step, keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [4, 5]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "step-000004.json", "step-000004.safetensors", "step-000005.json", "step-000005.safetensors"]


def test_failure_between_write_and_rename_keeps_previous(tmp_path, monkeypatch):
    save(tmp_path, 1, 1.0)

    def broken_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(checkpoints.os, "replace", broken_replace)
    with pytest.raises(OSError):
        save(tmp_path, 2, 2.0)
    monkeypatch.undo()
    loaded = load_latest(tmp_path)
    assert loaded.step == 1 and torch.equal(loaded.tensors["w"], torch.ones(3))


def test_failure_after_tensors_before_record_keeps_previous(tmp_path, monkeypatch):
    save(tmp_path, 1, 1.0)
    real_replace = os.replace

    def replace_tensors_only(src, dst):
        if str(dst).endswith(".json"):
            raise KeyboardInterrupt  # killed just before the record lands
        real_replace(src, dst)

    monkeypatch.setattr(checkpoints.os, "replace", replace_tensors_only)
    with pytest.raises(KeyboardInterrupt):
        save(tmp_path, 2, 2.0)
    monkeypatch.undo()
    assert load_latest(tmp_path).step == 1


def test_killed_process_leaves_previous_checkpoint(tmp_path):
    """A real process killed with SIGKILL while it writes checkpoints in a loop."""
    import subprocess
    import sys
    import time

    script = (
        "import sys, torch\n"
        "from advlab.core.checkpoints import save_checkpoint\n"
        "step = 0\n"
        "while True:\n"
        "    step += 1\n"
        "    save_checkpoint(sys.argv[1], step, {'w': torch.full((200000,), float(step))}, {}, keep=2)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)])
    deadline = time.time() + 60
    while len(list_checkpoints(tmp_path)) < 2 and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    process.kill()
    process.wait()
    loaded = load_latest(tmp_path)
    assert torch.equal(loaded.tensors["w"], torch.full((200000,), float(loaded.step)))


def test_corrupt_newest_falls_back_with_warning(tmp_path):
    save(tmp_path, 1, 1.0)
    save(tmp_path, 2, 2.0)
    (tmp_path / "step-000002.safetensors").write_bytes(b"garbage")
    warnings = []
    assert load_latest(tmp_path, warn=warnings.append).step == 1
    assert "step-000002" in warnings[0] and "corrupt" in warnings[0]


def test_all_corrupt_or_missing_is_an_error(tmp_path):
    with pytest.raises(AdvlabError, match="no checkpoint"):
        load_latest(tmp_path)
    save(tmp_path, 1, 1.0)
    (tmp_path / "step-000001.safetensors").unlink()
    with pytest.raises(AdvlabError, match="missing"):
        load_latest(tmp_path)


def test_pickle_file_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(AdvlabError, match="not a safetensors file"):
        read_tensors(path)
    torch.save({"w": torch.ones(2)}, tmp_path / "weights.pt")
    with pytest.raises(AdvlabError, match="not a safetensors file"):
        read_tensors(tmp_path / "weights.pt")
    assert not marker.exists()


def test_record_that_is_not_ours(tmp_path):
    (tmp_path / "step-000003.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(AdvlabError, match="not an advlab checkpoint"):
        read_checkpoint(tmp_path / "step-000003.json")


def test_trainer_state_round_trip_is_exact(tmp_path):
    trainer = tiny_trainer()
    for _ in range(3):
        trainer.train_iteration()
    tensors, meta = trainer_state(trainer)
    save_checkpoint(tmp_path, trainer.step, tensors, meta)
    copy = tiny_trainer(seed=99)
    restore_trainer(copy, load_latest(tmp_path))
    for _ in range(3):
        trainer.train_iteration()
        copy.train_iteration()
    for a, b in zip(trainer.generator.parameters(), copy.generator.parameters()):
        assert torch.equal(a, b)
    assert copy.step == trainer.step == 6
