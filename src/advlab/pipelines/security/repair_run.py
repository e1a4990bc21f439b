"""`advlab defend fine-pruning | neural-cleanse | sanitize RUN --out DIR`: repair a poisoned classifier run.

* ``fine-pruning`` (Liu, Dolan-Gavitt & Garg 2018) and ``neural-cleanse`` (unlearning the reversed trigger,
  Wang et al. 2019 sec. VI-C) change RUN's weights (advlab.poisoning.repair.REPAIRS) using the defender's
  clean data: a seeded ``clean_share`` of RUN's training rows as the data set holds them (before any
  poisoning: the clean images a defender keeps), never the held-out rows, on which the repair is judged.
  The new run is RUN with the repaired weights (advlab.pipelines.security.derived_run).
* ``sanitize`` (kNN label sanitisation, Paudice, Muñoz-González & Lupu 2018) relabels RUN's training set --
  the poisoned one a poisoned run kept -- by its k nearest neighbours' vote and trains RUN's classifier afresh
  on it, with RUN's options.

A repaired poisoned run carries the source's ``poison.json`` with its figures measured after the repair --
``clean_accuracy`` and ``attack_success_rate`` (on the source's triggered held-out images) or ``test_error`` --
and a ``repair`` entry: the method, its options, the figures ``before``, and what the repair reports it did
(pruned channels, unlearned classes, relabelled rows). The source's poisoned training set, poisoned rows and
triggered held-out images are copied, so the detectors and the report work on the repaired run too.
The source run is never changed.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError
from advlab.core.parameters import check_options, function_parameters
from advlab.core.runs import RunDir
from advlab.core.seeding import make_generator, seed_everything
from advlab.pipelines.security.derived_run import write_derived_run
from advlab.pipelines.security.poison_run import (
    POISON_RECORD,
    POISONED_INDICES,
    TRAINING_SET,
    TRIGGERED,
    poison_record,
    training_set,
    triggered_held_out,
)
from advlab.pipelines.train_classifier import (
    classifier_config,
    held_out_split,
    load_classifier,
    run_split,
    train_classifier,
)
from advlab.poisoning.detection.result import plain
from advlab.poisoning.repair import REPAIRS, clean_accuracy, knn_sanitize
from advlab.reports.render import write_report

SANITIZE = "sanitize"
HANDLED = ("model", "images", "labels", "seed", "features")  # what the run supplies


@dataclass(frozen=True)
class RepairRunConfig:
    """A repair of a classifier run.

    Args:
        method: ``fine-pruning``, ``neural-cleanse`` or ``sanitize``.
        run: the (poisoned) classifier run to repair; never changed.
        out: the repaired run's directory.
        options: the repair's own options (its parameters but model, images, labels and seed).
        clean_share: share of RUN's training rows the defender holds clean (weight repairs).
        seed: seeds the clean rows' draw and the repair.
        device: auto, cpu, cuda or cuda:N.
        threads: torch CPU threads (None: torch's default).
        overwrite: replace an existing run in `out`.
        progress: show the retraining's progress bar (sanitize).
        report: write the repaired run's report.
    """

    method: str
    run: str
    out: str | None = None
    options: dict = field(default_factory=dict)
    clean_share: float = 0.2
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    overwrite: bool = False
    progress: bool = True
    report: bool = True


def repair_function(method: str):
    """The repair function registered under `method` (sanitize: advlab.poisoning.repair.knn_sanitize)."""
    if method == SANITIZE:
        return knn_sanitize
    if method not in REPAIRS:
        raise AdvlabError(f"unknown repair {method!r}; valid repairs are: {', '.join([*REPAIRS, SANITIZE])}")
    return REPAIRS[method]


def own_parameters(method: str):
    """The repair's options that get a flag: its parameters but what the run supplies."""
    return [parameter for parameter in function_parameters(repair_function(method)) if parameter.name not in HANDLED]


def repair_run(config: RepairRunConfig) -> RunDir:
    """Repair `config.run` into `config.out`; returns the new run."""
    function = repair_function(config.method)
    check_options(f"repair {config.method}", config.options,
                  {parameter.name for parameter in own_parameters(config.method)})
    if config.out is None:
        raise AdvlabError("no output directory: pass --out DIR")
    if not 0 < config.clean_share <= 1:
        raise AdvlabError(f"clean_share must be a share in (0, 1], got {config.clean_share}")
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    before = poison_record(config.run)
    if config.method == SANITIZE:
        run, details = sanitized_run(config, function)
    else:
        run, details = repaired_weights_run(config, function)
    if before is not None:
        write_repaired_record(run, config, before, details)
    if config.report:
        write_report(run.root)
    return run


def defender_clean_data(run: str | Path, share: float, seed: int) -> tuple[Tensor, Tensor]:
    """A seeded `share` of the run's training rows as the data set holds them (clean), at least 1 row."""
    data, (train_rows, _) = run_split(run)
    count = max(1, round(share * len(train_rows)))
    chosen = train_rows[torch.randperm(len(train_rows), generator=make_generator(seed, torch.device("cpu")))[:count]]
    return data.data[chosen], data.labels[chosen]


def repaired_weights_run(config: RepairRunConfig, function) -> tuple[RunDir, dict]:
    """fine-pruning / neural-cleanse: the repaired copy of RUN's model, written as a derived run."""
    device = resolve_device(config.device)
    model, _ = load_classifier(config.run, device)
    images, labels = defender_clean_data(config.run, config.clean_share, config.seed)
    repaired, details = function(model, images.to(device), labels.to(device), **config.options, seed=config.seed)
    details = {**details, "clean_images": len(labels), "clean_share": config.clean_share}
    for parameter in repaired.parameters():
        parameter.requires_grad_(False)
    run = write_derived_run(config.run, repaired.eval(), config.out, {"repair": config.method}, config.overwrite)
    return run, details


def sanitized_run(config: RepairRunConfig, function) -> tuple[RunDir, dict]:
    """sanitize: RUN's training set relabelled by its neighbours, and RUN's classifier trained afresh on it."""
    images, labels, _ = training_set(config.run)
    new_labels, changed = function(images, labels, **config.options)
    options = dataclasses.replace(classifier_config(config.run), out=config.out, device=config.device,
                                  threads=config.threads if config.threads is not None else
                                  classifier_config(config.run).threads)

    def relabelled(clean_images: Tensor, clean_labels: Tensor) -> tuple[Tensor, Tensor]:
        return images, new_labels

    run = train_classifier(options, config.overwrite, config.progress, report=False, training_set=relabelled)
    return run, {"relabelled": len(changed), "relabelled_rows": changed}


def measured_figures(run: RunDir, before: dict) -> dict:
    """clean_accuracy and attack_success_rate (a backdoor: on the source's triggered held-out images) or
    test_error of the run's model now."""
    summary = json.loads(run.summary.read_text())
    figures = {"clean_accuracy": summary["test_accuracy"]}
    triggered = triggered_held_out(run.root)
    if "attack_success_rate" in before and triggered is not None:
        figures["attack_success_rate"] = backdoor_success(run.root, *triggered)
    elif "test_error" in before:
        figures["test_error"] = 1 - summary["test_accuracy"]
    return figures


def backdoor_success(run: Path, triggered: Tensor, wanted: Tensor) -> float:
    """Share of the triggered held-out images whose wanted label differs from their own that the run's model
    sends to the wanted label."""
    model, _ = load_classifier(run, device="cpu")
    labels = held_out_split(run)[1]
    changed = wanted != labels
    return clean_accuracy(model, triggered[changed], wanted[changed])


def write_repaired_record(run: RunDir, config: RepairRunConfig, before: dict, details: dict) -> None:
    """The source's poison files copied into the repaired run, and its poison.json with the figures now."""
    source = Path(config.run)
    if (source / "poison").is_dir():
        (run.root / "poison").mkdir(exist_ok=True)
        for relative in (TRAINING_SET, TRIGGERED):
            if (source / relative).exists():
                shutil.copyfile(source / relative, run.root / relative)
    if (source / POISONED_INDICES).exists():
        shutil.copyfile(source / POISONED_INDICES, run.root / POISONED_INDICES)
    figures = measured_figures(run, before)
    kept = {key: before[key] for key in ("clean_accuracy", "attack_success_rate", "test_error") if key in before}
    record = {**before, **figures, "repair": {"method": config.method, "options": plain(config.options),
                                              "source": str(source), "before": kept, **plain(details)}}
    atomic_write_bytes(run.root / POISON_RECORD, json.dumps(record, indent=1).encode())


__all__ = ["RepairRunConfig", "own_parameters", "repair_function", "repair_run"]
