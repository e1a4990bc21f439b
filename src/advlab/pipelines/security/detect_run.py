"""`advlab detect NAME RUN`: look for a backdoor in a classifier run, without changing it.

The detector (``advlab.poisoning.detection.DETECTORS[NAME]``) judges, by what it is built for:

* ``training`` rows (spectral signatures, activation clustering): the set RUN was trained on -- for a
  poisoned run the poisoned training set it kept (advlab.pipelines.security.poison_run.training_set), whose
  poisoned rows are the truth; for any other run its clean training rows (no truth: the flags alone);
* ``inputs`` (STRIP): the first ``n`` held-out images, clean, and -- for a backdoored run -- those of them
  whose label the trigger changes with the trigger stamped on (poison/triggered_held_out.safetensors; the
  truth: which are triggered); its clean reference images are the held-out images after the first n;
* ``classes`` (Neural Cleanse): the model's classes, reverse-engineering a trigger per class from clean
  held-out images; the truth, for a backdoored run, is its target class.

It writes ``RUN/detect/NAME/detection.json``: the detector, its options, what it judged and how many,
``flagged`` (row indices or classes), ``scores``, ``threshold``, the detector's own findings, and where the
truth is known ``tpr``, ``fpr`` and ``truth`` (one flag per row or class); the seconds it took; and
``scores.png``, the scores split by the truth (reports/poisoning_plots.py). Neural
Cleanse also writes its reversed triggers (``triggers.png``: per class the mask times the pattern, in class order).
The run's weights, config, data and records are never touched: only ``RUN/detect/`` is written (and the
report, which shows the detections, rewritten). An existing ``RUN/detect/NAME`` is refused unless ``overwrite``.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError
from advlab.core.parameters import check_options, function_parameters
from advlab.core.seeding import seed_everything
from advlab.pipelines.security.poison_run import poison_record, training_set, triggered_held_out
from advlab.pipelines.train_classifier import held_out_split, load_classifier
from advlab.poisoning.detection import DETECTORS, Detection
from advlab.reports.grids import save_image_grid
from advlab.reports.poisoning_plots import save_detection_figure
from advlab.reports.render import write_report

HANDLED = ("model", "images", "labels", "clean_images", "seed")  # the detector's inputs the run supplies
JUDGES = {"spectral": "training", "activation-clustering": "training", "strip": "inputs",
          "neural-cleanse": "classes"}  # what each detector judges (module docstring)
RECORD = "detection.json"


@dataclass(frozen=True)
class DetectRunConfig:
    """A detection on a classifier run.

    Args:
        detector: a key of ``advlab.poisoning.detection.DETECTORS``.
        run: the classifier run to inspect (never modified).
        options: the detector's own options (its parameters but model, images and labels).
        n: how many held-out images an ``inputs`` detector judges (the rest are its clean reference).
        seed: seeds torch (Neural Cleanse's initialisation, STRIP's draws).
        device: auto, cpu, cuda or cuda:N.
        threads: torch CPU threads (None: torch's default).
        overwrite: replace an existing RUN/detect/NAME.
        report: rewrite the run's report afterwards, with the detection in it.
    """

    detector: str
    run: str
    options: dict = field(default_factory=dict)
    n: int = 200
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    overwrite: bool = False
    report: bool = True


def detector_function(name: str):
    """The detector registered under `name`, or an AdvlabError naming the valid ones."""
    if name not in DETECTORS:
        raise AdvlabError(f"unknown detector {name!r}; valid detectors are: {', '.join(DETECTORS)}")
    return DETECTORS[name]


def own_parameters(name: str):
    """The detector's options that get a flag: its parameters but the inputs the run supplies."""
    return [parameter for parameter in function_parameters(detector_function(name)) if parameter.name not in HANDLED]


def detect_run(config: DetectRunConfig) -> Path:
    """Run the detector on `config.run`; returns RUN/detect/NAME."""
    detector = detector_function(config.detector)
    check_options(f"detector {config.detector}", config.options,
                  {parameter.name for parameter in own_parameters(config.detector)})
    out = output_dir(config)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    device = resolve_device(config.device)
    model, _ = load_classifier(config.run, device)
    judged = JUDGES.get(config.detector, "training")
    inputs, truth = detector_inputs(judged, config, device)
    started = time.perf_counter()
    seeded = {"seed": config.seed} if "seed" in {p.name for p in function_parameters(detector)} else {}
    detection: Detection = detector(model, *inputs, **config.options, **seeded)
    seconds = time.perf_counter() - started
    if config.overwrite and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    write_detection(out, config, judged, detection, truth, seconds)
    if config.report:
        write_report(config.run)
    return out


def output_dir(config: DetectRunConfig) -> Path:
    """RUN/detect/NAME, refused when it exists unless `overwrite`."""
    run = Path(config.run)
    if not run.is_dir():
        raise AdvlabError(f"{run}: no such run directory")
    out = run / "detect" / config.detector
    if out.exists() and not config.overwrite:
        raise AdvlabError(f"{out} already holds a detection; pass --overwrite to replace it")
    return out


def detector_inputs(judged: str, config: DetectRunConfig, device: torch.device) -> tuple[tuple, Tensor | None]:
    """(the detector's positional inputs after the model, the truth mask or None) for what it judges."""
    if judged == "training":
        images, labels, truth = training_set(config.run)
        return (images.to(device), labels.to(device)), truth
    images, labels = held_out_split(config.run)
    if judged == "classes":
        return (images.to(device), labels.to(device)), target_class_truth(config.run, int(labels.max()) + 1)
    return inputs_to_judge(images, labels, triggered_held_out(config.run), config.n, device)


def target_class_truth(run: str | Path, classes: int) -> Tensor | None:
    """True on the target class of an all-to-one backdoored run; None for other runs."""
    record = poison_record(run)
    if record is None or record.get("target") is None or "attack_success_rate" not in record:
        return None
    truth = torch.zeros(classes, dtype=torch.bool)
    truth[record["target"]] = True
    return truth


def inputs_to_judge(images: Tensor, labels: Tensor, triggered: tuple[Tensor, Tensor] | None, n: int,
                    device: torch.device) -> tuple[tuple, Tensor | None]:
    """STRIP's inputs: the first n held-out images and, for a backdoored run, the triggered twins of those
    whose label the trigger changes; the held-out images after the first n are the clean reference."""
    if n < 1 or n >= len(images):
        raise AdvlabError(f"--n must lie between 1 and {len(images) - 1} (the rest of the {len(images)} held-out "
                          f"images are the clean reference), got {n}")
    judged, judged_labels, reference = images[:n], labels[:n], images[n:]
    truth = None
    if triggered is not None:
        changed = triggered[1][:n] != judged_labels
        truth = torch.cat([torch.zeros(n, dtype=torch.bool), torch.ones(int(changed.sum()), dtype=torch.bool)])
        judged = torch.cat([judged, triggered[0][:n][changed]])
        judged_labels = torch.cat([judged_labels, judged_labels[changed]])
    return (judged.to(device), judged_labels.to(device), reference.to(device)), truth


def write_detection(out: Path, config: DetectRunConfig, judged: str, detection: Detection, truth: Tensor | None,
                    seconds: float) -> None:
    """detection.json (and Neural Cleanse's reversed triggers as triggers.png)."""
    record: dict[str, Any] = {"detector": config.detector, "run": str(config.run), "options": config.options,
                              "judged": judged, "seed": config.seed, **detection.summary(truth),
                              "seconds": round(seconds, 3)}
    if truth is not None:
        record["truth"] = truth.tolist()
    if judged == "training":
        record["poisoned"] = None if truth is None else int(truth.sum())
    masks, patterns = detection.extras.get("masks"), detection.extras.get("patterns")
    if isinstance(masks, Tensor) and isinstance(patterns, Tensor):
        save_image_grid((masks * patterns).detach().cpu().clamp(0, 1), out / "triggers.png", nrow=len(masks),
                        scale=max(1, 64 // patterns.shape[-1]))
    atomic_write_bytes(out / RECORD, json.dumps(record, indent=1).encode())
    save_detection_figure(out, record)


__all__ = ["DetectRunConfig", "JUDGES", "detect_run", "detector_function", "own_parameters"]
