"""Classifier training under torchrun (2 gloo processes, tests/ranks.py) and with --precision.

Two ranks with global batch B train the same MLP as one process with batch B (to float tolerance), rank 1
writes nothing, a `local` run is each rank's own; adversarial training stays in step across ranks; DP-SGD and
a batch smaller than the world are refused; bf16 trains on the CPU and fp16 there is refused.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ranks import run_ranks

from advlab.core.checkpoints import load_latest
from advlab.core.errors import AdvlabError
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.train_classifier import train_classifier

BATCH = 64  # 1,437 training rows: 22 full minibatches and one of 29, shared 15 / 14 between two ranks


def digits_mlp(out: Path, **options) -> ClassifierTrainConfig:
    values = {"data": "digits", "model": "mlp", "width": 32, "epochs": 2, "batch_size": BATCH, "device": "cpu",
              **options}
    return ClassifierTrainConfig(out=str(out), **values)


def trained_weights(config: ClassifierTrainConfig, **keywords) -> dict[str, np.ndarray]:
    """Train `config` (every rank), returning the model's final parameters as this rank holds them (as arrays,
    which travel back from a rank by value)."""
    models = []
    train_classifier(config, progress=False, report=False, start=models.append, **keywords)
    return {name: tensor.detach().numpy().copy() for name, tensor in models[0].state_dict().items()}


def as_tensors(weights: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(array) for name, array in weights.items()}


def shared_and_local_runs(root: str) -> dict:
    """Rank 0 trains into ROOT/shared; rank 1 is given ROOT/rank1 as --out, which must stay unwritten. Then each
    rank trains a local run of its own into ROOT/local-RANK."""
    from advlab.core.distributed import context

    ctx = context("cpu")
    out = Path(root) / ("shared" if ctx.is_main else "rank1")
    weights = trained_weights(digits_mlp(out))
    local = trained_weights(digits_mlp(Path(root) / f"local-{ctx.rank}", epochs=1, seed=ctx.rank), local=True)
    return {"rank": ctx.rank, "weights": weights, "local": local}


def test_two_ranks_train_one_model_as_one_process_does(tmp_path):
    first, second = (
        {key: as_tensors(value) if key in ("weights", "local") else value for key, value in result.items()}
        for result in run_ranks(shared_and_local_runs, 2, str(tmp_path)))
    for name, tensor in first["weights"].items():
        assert torch.equal(tensor, second["weights"][name]), f"{name} differs between ranks"
    single = load_latest(train_classifier(digits_mlp(tmp_path / "single"), progress=False,
                                          report=False).checkpoints).tensors
    for name, tensor in first["weights"].items():
        assert torch.allclose(tensor, single[f"model.{name}"], atol=1e-5), f"{name}: 2 ranks != 1 process"

    shared = tmp_path / "shared"
    assert not (tmp_path / "rank1").exists()  # rank 1 wrote nothing
    assert sorted(p.name for p in (shared / "checkpoints").iterdir()) == ["step-000002.json",
                                                                         "step-000002.safetensors"]
    records = [json.loads(line) for line in (shared / "metrics.jsonl").read_text().splitlines()]
    alone = [json.loads(line) for line in (tmp_path / "single" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]  # one record per epoch, from rank 0 only
    for two, one in zip(records, alone, strict=True):
        assert two["train_loss"] == pytest.approx(one["train_loss"], rel=1e-5)
    summary = json.loads((shared / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["train_size"] == 1437
    assert load_latest(shared / "checkpoints").meta["processes"] == 2
    for rank, result in enumerate((first, second)):  # each local run is its rank's own, in a world of 1
        local = tmp_path / f"local-{rank}"
        assert json.loads((local / "summary.json").read_text())["processes"] == 1
        tensors = load_latest(local / "checkpoints").tensors
        assert all(torch.equal(t, tensors[f"model.{n}"]) for n, t in result["local"].items())
    alone = load_latest(train_classifier(digits_mlp(tmp_path / "alone", epochs=1), progress=False,
                                         report=False).checkpoints).tensors
    assert all(torch.equal(t, alone[f"model.{n}"]) for n, t in first["local"].items())  # bit for bit one process


def adversarial_and_refused(root: str) -> dict:
    """pgd-at on two ranks (one epoch), then what two ranks refuse: dp-sgd (through the CLI) and a batch of 1."""
    from advlab.cli.main import main
    from advlab.core.distributed import context

    rank = context("cpu").rank
    weights = trained_weights(digits_mlp(Path(root) / "at", epochs=1, defense="pgd-at", eps=0.1, attack_steps=2,
                                         robust_eval_images=40))
    try:
        train_classifier(digits_mlp(Path(root) / "tiny", batch_size=1), progress=False)
        small = "trained"
    except AdvlabError as error:
        small = str(error)
    errors = io.StringIO()  # last: main() ends the process group
    with contextlib.redirect_stderr(errors):
        status = main(["classifier", "train", "--data", "digits", "--model", "mlp", "--defense", "dp-sgd",
                       "--epsilon", "3", "--device", "cpu", "--out", str(Path(root) / "dp")])
    return {"rank": rank, "weights": weights, "dp": (status, errors.getvalue()), "small": small}


def test_two_ranks_stay_in_step_under_pgd_at_and_refuse_dp_sgd(tmp_path):
    first, second = run_ranks(adversarial_and_refused, 2, str(tmp_path))
    for name, array in first["weights"].items():
        assert np.array_equal(array, second["weights"][name]), f"{name} differs between ranks"
    summary = json.loads((tmp_path / "at" / "summary.json").read_text())
    assert summary["processes"] == 2 and 0 <= summary["test_robust_accuracy"] <= 1
    for result in (first, second):
        status, message = result["dp"]
        assert status == 2 and "defense 'dp-sgd' trains in one process" in message
        assert "batch size 1 is smaller than the 2 processes; use --batch-size 2" in result["small"]
    assert not (tmp_path / "dp").exists() and not (tmp_path / "tiny").exists()


def test_bf16_trains_on_the_cpu_and_fp16_is_refused_there(tmp_path):
    fp32 = load_latest(train_classifier(digits_mlp(tmp_path / "fp32", epochs=3), progress=False,
                                        report=False).checkpoints).tensors
    run = train_classifier(digits_mlp(tmp_path / "bf16", epochs=3, precision="bf16"), progress=False, report=False)
    bf16 = load_latest(run.checkpoints).tensors
    assert all(tensor.dtype == torch.float32 and torch.isfinite(tensor).all() for tensor in bf16.values())
    assert any(not torch.equal(bf16[name], fp32[name]) for name in fp32)  # autocast did run in bfloat16
    summary = json.loads(run.summary.read_text())
    assert summary["precision"] == "bf16" and summary["test_accuracy"] > 0.6  # fp32: 0.79
    assert "precision: bf16" in run.config.read_text()
    with pytest.raises(AdvlabError, match="--precision fp16 needs a CUDA device.*use --precision bf16 or fp32"):
        train_classifier(digits_mlp(tmp_path / "fp16", precision="fp16"), progress=False)
    assert not (tmp_path / "fp16").exists()
    with pytest.raises(AdvlabError, match="defense 'dp-sgd' trains in fp32"):
        digits_mlp(tmp_path / "dp", defense="dp-sgd", epsilon=3.0, precision="bf16").validate()
