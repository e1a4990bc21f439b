"""A classifier run made from another by changing its weights, not by training from scratch.

A trojan implanted into a trained model (Liu et al. 2018) and a repaired model (fine-pruning, Neural
Cleanse unlearning) keep the source run's architecture, data and held-out split; only the weights
change. ``write_derived_run`` writes such a model as an ordinary classifier run, so ``advlab attack``,
``robustness``, ``detect`` and ``report`` take it: the source's config (its ``out`` now the new run),
its training curves, a checkpoint with the new weights and the source's record (classes, sample shape,
split), and a summary whose held-out accuracy is measured on the new weights.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from torch import nn

from advlab.core.checkpoints import module_state, save_checkpoint
from advlab.core.config import dump_yaml
from advlab.core.errors import AdvlabError
from advlab.core.runs import RunDir
from advlab.pipelines.train_classifier import accuracy, classifier_config, classifier_record, held_out_split


def write_derived_run(source: str | Path, model: nn.Module, out: str | Path, figures: dict,
                      overwrite: bool = False) -> RunDir:
    """The run at `out`: `source`'s classifier run with `model`'s weights; `figures` join its summary."""
    source, out = Path(source), Path(out)
    if out.resolve() == source.resolve():
        raise AdvlabError(f"--out {out} is the run being changed; write the new run elsewhere (nothing is overwritten)")
    config = classifier_config(source)
    _, record = classifier_record(source)
    run = RunDir(out)
    run.prepare_new(overwrite, resumable=False, folders=("checkpoints",))
    dump_yaml(dataclasses.replace(config, out=str(out)), run.config)
    if (source / "metrics.jsonl").exists():
        shutil.copyfile(source / "metrics.jsonl", run.metrics)
    summary = json.loads((source / "summary.json").read_text()) if (source / "summary.json").exists() else {}
    meta = {key: value for key, value in record.items() if key not in ("format", "step", "tensors", "sha256")}
    save_checkpoint(run.checkpoints, summary.get("epochs", 0), module_state(model, "model"),
                    {**meta, "derived_from": str(source)}, keep=1)
    images, labels = held_out_split(source)
    device = next(model.parameters()).device
    summary.update(figures, test_accuracy=accuracy(model, images.to(device), labels.to(device)),
                   derived_from=str(source))
    run.write_summary(summary)
    return run


__all__ = ["write_derived_run"]
