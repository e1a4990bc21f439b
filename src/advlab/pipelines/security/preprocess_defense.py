"""`advlab defend jpeg|bit-depth|median|defense-gan|squeeze`: input-transformation defenses, seen through.

A defended run (``make_defended_run``) is a copy of a classifier run with a transformation in front
of its classifier (``advlab.defenses.preprocessed``)::

    DIR/config.yaml, checkpoints/, metrics.jsonl   copied from RUN (config's out: DIR), so load_classifier,
                                                   held_out_split and the report work on DIR unchanged
    DIR/defense.json                               the transformation and its options (write_defense)
    DIR/summary.json                               the defended model's clean held-out accuracy, the
                                                   undefended one, and the first warning below
    DIR/report.html, report.md

``advlab attack NAME DIR`` then attacks the defended model (``load_model``). As a first warning the
run attacks the first ``n`` held-out images at ``eps`` twice: naive PGD, whose gradient stops at a
non-differentiable transformation, and BPDA (Athalye, Carlini & Wagner 2018, sec. 4.1; with EOT
over a randomized transformation), which goes through it. A robust accuracy that only holds
against the naive attack is obfuscated gradients, not robustness.

The feature-squeezing detector (``squeeze_detection``, Xu, Evans & Qi 2018, sec. 4) sets its threshold
on the first half of RUN's held-out images at the target false-positive rate, and measures on the
second half: the false-positive rate on clean images it did not see, and the detection rate on PGD
adversarial examples made from them. It writes ``detection.json`` and ``scores.png`` (histograms of
the two score distributions and the threshold) to its directory (default ``RUN/squeeze``).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn
from tqdm import tqdm

from advlab.attacks.bpda import BPDA
from advlab.attacks.pgd import PGD
from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.checks import check_int, check_number
from advlab.core.config import dump_yaml
from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError
from advlab.core.parameters import check_options
from advlab.core.seeding import seed_everything
from advlab.defenses.feature_squeezing import SqueezeDetector, default_squeezers, make_squeezers
from advlab.defenses.preprocessed import DEFENSE_FILE, load_model, read_defense, transform_class, write_defense
from advlab.pipelines.train_classifier import (
    accuracy,
    classifier_config,
    classifier_record,
    held_out_split,
    image_shape,
    load_classifier,
)

MODULE_ONLY = {"defense-gan": ("z_dim", "noise")}  # options for a generator module, not for a GAN run
COPIED = ("metrics.jsonl", "checkpoints")  # what a defended run copies from its classifier run (and config.yaml)
ATTACK_BATCH = 100  # images attacked at a time in the first warning (one progress-bar tick each)
DETECTION_FILE, SCORES_PLOT = "detection.json", "scores.png"


# ---------------------------------------------------------------------- a defended run


def transform_options(name: str, given: dict) -> dict:
    """The transformation's options as defense.json stores them: the given ones over its defaults (a GAN run
    as an absolute path)."""
    parameters = {key: parameter for key, parameter in inspect.signature(transform_class(name)).parameters.items()
                  if key not in MODULE_ONLY.get(name, ())}
    check_options(name, given, parameters)
    missing = [key for key, parameter in parameters.items()
               if parameter.default is inspect.Parameter.empty and key not in given]
    if missing:
        raise AdvlabError(f"{name} needs the option {missing[0]} (--{missing[0].replace('_', '-')})")
    options = {key: given.get(key, parameter.default) for key, parameter in parameters.items()
               if key in given or parameter.default is not inspect.Parameter.empty}
    for key in ("gan", "pixelcnn"):  # a generative model's run or file, as an absolute path
        if isinstance(options.get(key), (str, Path)):
            options[key] = str(Path(options[key]).resolve())
    return options


def check_transform(name: str, options: dict, sample_shape: tuple[int, ...]) -> nn.Module:
    """Build the transformation (its own checks run) and refuse one that makes images of another shape, or (a dry
    run on one blank image) cannot take the classifier's images."""
    transform = transform_class(name)(**options)
    made = getattr(transform, "sample_shape", None)
    if made is not None and tuple(made) != tuple(sample_shape):
        raise AdvlabError(f"{name}: the generator makes images of shape {tuple(made)}, the classifier takes "
                          f"{tuple(sample_shape)}; train the GAN on the classifier's data and image size")
    if made is None:
        with torch.no_grad():
            transform(torch.zeros(1, *sample_shape))
    return transform


def check_output(out: Path, run: Path, overwrite: bool, marker: str) -> None:
    """Refuse a file, the run itself, or a non-empty DIR (unless `overwrite` and DIR holds `marker`)."""
    if out.exists() and not out.is_dir():
        raise AdvlabError(f"--out {out} is a file, not a directory")
    if out.resolve() == run.resolve():
        raise AdvlabError(f"--out {out} is the classifier run itself; choose a new directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise AdvlabError(f"--out {out} already exists and is not empty; pass --overwrite to replace it, "
                              "or choose another --out")
        if not (out / marker).is_file():
            raise AdvlabError(f"--out {out} is not empty and holds no {marker}; refusing to overwrite it")


def prepare_output(out: Path, run: Path, overwrite: bool, marker: str) -> None:
    """`check_output`, then an empty DIR (a replaced one is removed first)."""
    check_output(out, run, overwrite, marker)
    if out.is_dir() and any(out.iterdir()):
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def make_defended_run(run: str | Path, transform: str, options: dict, out: str | Path, overwrite: bool = False,
                      eps: float = 0.1, n: int = 300, attack_steps: int = 10, eot_samples: int = 4, seed: int = 0,
                      device: str = "auto", progress: bool = True, report: bool = True) -> dict:
    """Copy classifier run `run` to `out` behind `transform` (defense.json), measure it; returns its summary."""
    run, out = Path(run), Path(out)
    config = classifier_config(run)  # a classifier run, else one clear error
    _, meta = classifier_record(run)
    refuse_defended(run)
    eps, n, attack_steps, eot_samples = checked_measure(eps, n, attack_steps, eot_samples)
    options = transform_options(transform, options)
    check_transform(transform, options, image_shape(meta))
    prepare_output(out, run, overwrite, DEFENSE_FILE)
    copy_classifier_run(run, out, config)
    write_defense(out, transform, options, run)
    summary = measure(run, out, transform, options, eps, n, attack_steps, eot_samples, seed, device, progress)
    return write_summary(out, summary, report)


def refuse_defended(run: Path) -> None:
    """A defense is put in front of a classifier run, not in front of another defended run."""
    if read_defense(run) is not None:
        raise AdvlabError(f"{run} is already a defended run; give the classifier run it was made from")


def checked_measure(eps: float, n: int, attack_steps: int, eot_samples: int) -> tuple[float, int, int, int]:
    """The first warning's settings (``measure``), each checked in one line."""
    return (check_number("--eps", eps), check_int("--n", n, 1), check_int("--attack-steps", attack_steps, 1),
            check_int("--eot-samples", eot_samples, 1))


def write_summary(out: Path, summary: dict, report: bool) -> dict:
    """OUT/summary.json (atomically) and, with `report`, the run's report; returns `summary`."""
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=1).encode())
    if report:
        from advlab.reports.render import write_report

        write_report(out)
    return summary


def copy_classifier_run(run: Path, out: Path, config) -> None:
    """OUT/config.yaml (out: OUT) and the files a defended run copies from its classifier run (COPIED)."""
    dump_yaml(dataclasses.replace(config, out=str(out)), out / "config.yaml")
    for name in COPIED:
        source = run / name
        if source.is_dir():
            shutil.copytree(source, out / name)
        elif source.is_file():
            shutil.copy2(source, out / name)


def measure(run: Path, out: Path, transform: str, options: dict, eps: float, n: int, attack_steps: int,
            eot_samples: int, seed: int, device: str, progress: bool) -> dict:
    """Clean held-out accuracy (defended and not) and the first warning: naive PGD vs BPDA on n images."""
    seed_everything(seed)
    torch_device = resolve_device(device)
    model = load_model(out, torch_device)
    images, labels = held_out_split(out)
    images, labels = images.to(torch_device), labels.to(torch_device)
    clean = accuracy(model, images, labels)
    undefended = accuracy(load_classifier(run, torch_device)[0], images, labels)
    count = min(n, len(images))
    pgd = PGD(model, eps=eps, steps=attack_steps, seed=seed)
    bpda = BPDA(model, eps=eps, steps=attack_steps, samples=eot_samples, seed=seed)
    naive, adaptive = attack_accuracy(pgd, bpda, images[:count], labels[:count], progress)
    return {"defense": transform, "options": options, "base": str(run.resolve()), "test_accuracy": clean,
            "test_size": len(images), "undefended_test_accuracy": undefended,
            "first_warning": {"eps": eps, "n": count, "attack_steps": attack_steps,
                              "eot_samples": bpda.draws(), "pgd_accuracy": naive, "bpda_accuracy": adaptive}}


def attack_accuracy(pgd: PGD, bpda: BPDA, images: Tensor, labels: Tensor, progress: bool) -> tuple[float, float]:
    """Robust accuracy of the defended model under naive PGD and under BPDA, in batches of ATTACK_BATCH."""
    correct = np.zeros(2)
    starts = range(0, len(images), ATTACK_BATCH)
    for start in tqdm(starts, disable=not progress, unit="batch", desc="PGD vs BPDA", dynamic_ncols=True,
                      file=sys.stderr):
        x, y = images[start:start + ATTACK_BATCH], labels[start:start + ATTACK_BATCH]
        for k, attack in enumerate((pgd, bpda)):
            result = attack.run(x, y)[0]
            correct[k] += int((result.adv_pred == y).sum())
    return float(correct[0] / len(images)), float(correct[1] / len(images))


def warning_lines(summary: dict) -> list[str]:
    """What `advlab defend` prints about a defended run."""
    warning = summary["first_warning"]
    gap = warning["pgd_accuracy"] - warning["bpda_accuracy"]
    lines = [f"clean held-out accuracy: {summary['test_accuracy']:.4f} defended, "
             f"{summary['undefended_test_accuracy']:.4f} undefended ({summary['test_size']} images)",
             f"first warning, Linf eps {warning['eps']:g} on {warning['n']} held-out images, {warning['attack_steps']} "
             f"steps: naive PGD leaves {warning['pgd_accuracy']:.4f}, BPDA leaves {warning['bpda_accuracy']:.4f}"]
    if gap > 0.05:
        lines.append(f"warning: naive PGD overstates this defense's robust accuracy by {100 * gap:.1f} points: "
                     "its gradients are obfuscated. Evaluate it with adaptive attacks (advlab attack bpda, "
                     "advlab robustness), never with naive PGD alone.")
    return lines


# ---------------------------------------------------------------------- the feature-squeezing detector


def squeeze_detection(run: str | Path, fpr: float = 0.05, eps: float = 0.1, out: str | Path | None = None,
                      overwrite: bool = False, squeezers: Sequence[str] | None = None, attack_steps: int = 40,
                      seed: int = 0, device: str = "auto") -> dict:
    """Calibrate Xu et al.'s detector on half of RUN's held-out images, test it on the other half; returns the
    record written to DIR/detection.json (DIR: `out`, default RUN/squeeze). `squeezers`: "name:value" specs
    (``make_squeezers``; default: the paper's for the images' channels)."""
    run = Path(run)
    classifier_config(run)
    chosen = None if squeezers is None else make_squeezers(squeezers)
    if isinstance(fpr, bool) or not isinstance(fpr, (int, float)) or not 0 < fpr < 1:
        raise AdvlabError(f"--fpr must lie in (0, 1), got {fpr!r}")
    eps = check_number("--eps", eps)
    attack_steps = check_int("--attack-steps", attack_steps, 1)
    out = Path(out) if out is not None else run / "squeeze"
    check_output(out, run, overwrite, DETECTION_FILE)  # before the attack, which takes a while
    seed_everything(seed)
    torch_device = resolve_device(device)
    classifier = load_classifier(run, torch_device)[0]
    images, labels = held_out_split(run)
    if len(images) < 4:
        raise AdvlabError(f"{run} has {len(images)} held-out images; the detector needs at least 4 (two halves)")
    images, labels = images.to(torch_device), labels.to(torch_device)
    half = len(images) // 2
    detector = SqueezeDetector(classifier, chosen or default_squeezers(images.shape[1]))
    threshold = detector.calibrate(images[:half], fpr)
    test_images, test_labels = images[half:], labels[half:]
    adversarial = PGD(classifier, eps=eps, steps=attack_steps, seed=seed)(test_images, test_labels)
    with torch.no_grad():
        fooled = classifier(adversarial).argmax(1) != test_labels
    clean_scores, calibration_scores = detector.scores(test_images), detector.scores(images[:half])
    adversarial_scores = detector.scores(adversarial)
    flagged = adversarial_scores > threshold
    record = {
        "detector": "feature squeezing (Xu, Evans & Qi 2018)", "squeezers": [repr(s) for s in detector.squeezers],
        "run": str(run.resolve()), "target_fpr": fpr, "threshold": threshold,
        "calibration": {"images": half, "fpr": float((calibration_scores > threshold).double().mean())},
        "test": {"images": len(test_images), "fpr": float((clean_scores > threshold).double().mean())},
        "attack": {"name": "pgd", "eps": eps, "steps": attack_steps, "norm": "linf", "seed": seed,
                   "success_rate": float(fooled.double().mean())},
        "detection_rate": float(flagged[fooled].double().mean()) if fooled.any() else None,
        "detection_rate_all": float(flagged.double().mean()),
    }
    prepare_output(out, run, overwrite, DETECTION_FILE)
    plot_scores(clean_scores.cpu(), adversarial_scores[fooled].cpu(), threshold, out / SCORES_PLOT,
                title=f"feature squeezing on {run.name}: PGD eps {eps:g}, detected "
                f"{percent(record['detection_rate'])}, false positives {percent(record['test']['fpr'])}")
    atomic_write_bytes(out / DETECTION_FILE, json.dumps(record, indent=1).encode())
    record["out"] = str(out)
    return record


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def plot_scores(clean: Tensor, adversarial: Tensor, threshold: float, path: Path, title: str) -> Path:
    """Histograms of the detector's score on clean and on (successful) adversarial images, and the threshold."""
    figure = Figure(figsize=(7.0, 4.0), layout="constrained")
    ax = figure.subplots()
    bins = np.linspace(0.0, 2.0, 41)  # an L1 distance of two distributions lies in [0, 2]
    ax.hist(clean.numpy(), bins=bins, alpha=0.6, color="tab:blue", label=f"clean, not used for the threshold "
            f"({len(clean)})")
    if len(adversarial):
        ax.hist(adversarial.numpy(), bins=bins, alpha=0.6, color="tab:red",
                label=f"adversarial, fooled the model ({len(adversarial)})")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set(title=title, xlabel="score: max L1 distance of softmax outputs, squeezed vs not",
           ylabel="images (log scale)", yscale="log")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, format="png")
    return path
