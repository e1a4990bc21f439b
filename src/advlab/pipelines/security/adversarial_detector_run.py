"""`advlab defend detector RUN`: Metzen et al.'s detector on a classifier run, and the attack that knows about it.

The detector (``advlab.defenses.adversarial_detector``; Metzen, Genewein, Fischer & Bischoff 2017) reads the
input (``layer="input"``) or one layer of RUN's classifier and is trained on RUN's training rows against a
static adversary (BIM by default), or with dynamic adversary training (``dynamic``, sec. 3.2); the classifier
stays frozen. Its threshold is set on the first half of RUN's held-out images at the target false-positive rate
(as feature squeezing's, pipelines/security/preprocess_defense.py); on the second half the run measures

* the false-positive rate on clean images it did not see;
* static PGD against the classifier alone: how many fool the classifier and how many of those are detected;
* the adaptive attack of Carlini & Wagner 2017 (sec. 4.1): PGD on the combined model, which must fool the
  classifier and pass the detector at once (``advlab.attacks.detector_aware``);

and for each attack "fooled and undetected", the share of test images whose adversarial example the classifier
gets wrong and the detector lets through: the attacker's success against the defended system, the figure that
matters (the detection rate alone hides that an adaptive attacker need not be detected to win). Beside it, the
classifier's accuracy on the examples the detector did not flag. It writes to DIR (default RUN/detector-LAYER)::

    detection.json          options, threshold, false-positive rates, one block per attack (stable keys)
    detector.safetensors    the detector's weights, layer and threshold (advlab.defenses.load_detector)
    scores.png              histograms of the detector's logit on clean, static and adaptive examples
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from advlab.attacks.detector_aware import DetectorAwarePGD
from advlab.attacks.pgd import PGD
from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.checks import check_int
from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError
from advlab.core.seeding import seed_everything
from advlab.defenses.adversarial_detector import (
    INPUT,
    AdversarialDetector,
    check_training_options,
    train_detector,
)
from advlab.defenses.preprocessed import read_defense
from advlab.pipelines.security.preprocess_defense import (
    DETECTION_FILE,
    SCORES_PLOT,
    check_output,
    percent,
    prepare_output,
)
from advlab.pipelines.train_classifier import classifier_config, classifier_record, load_classifier, run_split

DETECTOR_FILE = "detector.safetensors"
ATTACK_BATCH = 256  # held-out images attacked at a time


def detector_run(run: str | Path, layer: str = INPUT, eps: float = 0.1, out: str | Path | None = None,
                 overwrite: bool = False, dynamic: float | None = None, fpr: float = 0.05, attack: str = "bim",
                 attack_steps: int | None = None, epochs: int = 20, lr: float = 1e-3, batch: int = 128,
                 width: int = 32, test_steps: int = 40, adaptive_steps: int = 100, adaptive_restarts: int = 1,
                 seed: int = 0, device: str = "auto", progress: bool = True) -> dict:
    """Train Metzen et al.'s detector on RUN, calibrate it, attack it; returns the record written to
    DIR/detection.json (DIR: `out`, default RUN/detector-LAYER). The options are those of ``train_detector``
    (eps, attack, attack_steps, dynamic, epochs, lr, batch, seed) and of ``AdversarialDetector`` (layer, width);
    `test_steps` are static PGD's steps, `adaptive_steps` and `adaptive_restarts` the adaptive attack's."""
    run = Path(run)
    classifier_config(run)  # a classifier run, else one clear error
    if read_defense(run) is not None:
        raise AdvlabError(f"{run} is a defended run; give the classifier run it was made from")
    check_options(fpr, test_steps, adaptive_steps, adaptive_restarts)
    check_training_options(eps, attack, attack_steps, dynamic, epochs, lr, batch)
    check_int("detector: width", width, 1)
    out = Path(out) if out is not None else run / f"detector-{layer}"
    check_output(out, run, overwrite, DETECTION_FILE)  # before the training, which takes a while
    seed_everything(seed)
    torch_device = resolve_device(device)
    classifier = load_classifier(run, torch_device)[0]
    detector = AdversarialDetector(classifier, classifier_record(run)[1]["sample_shape"], layer, width)
    detector.to(torch_device)
    data, (train_rows, test_rows) = run_split(run)
    if len(test_rows) < 4:
        raise AdvlabError(f"{run} has {len(test_rows)} held-out images; the detector needs at least 4 (two halves)")
    started = time.perf_counter()
    losses = train_detector(detector, data.data[train_rows], data.labels[train_rows], eps=eps, attack=attack,
                            attack_steps=attack_steps, dynamic=dynamic, epochs=epochs, lr=lr, batch=batch, seed=seed,
                            progress=progress)
    trained = time.perf_counter() - started
    images, labels = data.data[test_rows].to(torch_device), data.labels[test_rows].to(torch_device)
    half = len(images) // 2
    threshold = detector.calibrate(images[:half], fpr)
    test_images, test_labels = images[half:], labels[half:]
    attacks = {"static": PGD(classifier, eps=eps, steps=test_steps, seed=seed),
               "adaptive": DetectorAwarePGD(classifier, detector, eps=eps, steps=adaptive_steps,
                                            restarts=adaptive_restarts, seed=seed)}
    clean_scores = detector.scores(test_images)
    record = {
        "detector": "Metzen et al. 2017, On Detecting Adversarial Perturbations",
        "kind": "binary input detector" if detector.layer == INPUT else "binary activation detector",
        "run": str(run.resolve()), "layer": detector.layer, "width": width, "target_fpr": fpr, "threshold": threshold,
        "training": {"attack": attack, "eps": eps, "attack_steps": attack_steps, "dynamic": dynamic, "epochs": epochs,
                     "lr": lr, "batch": batch, "images": len(train_rows), "final_loss": losses[-1],
                     "seconds": round(trained, 2), "seed": seed},
        "calibration": {"images": half, "fpr": rate(detector.scores(images[:half]) > threshold)},
        "test": {"images": len(test_images), "fpr": rate(clean_scores > threshold),
                 "fpr_at_half": rate(clean_scores > 0)},
    }
    scores = {"clean": clean_scores}
    for name, attack_object in attacks.items():
        adversarial = attacked(attack_object, test_images, test_labels)
        record[name], scores[name] = attack_figures(classifier, detector, adversarial, test_labels, attack_object)
    prepare_output(out, run, overwrite, DETECTION_FILE)
    detector.save(out / DETECTOR_FILE)
    plot_detector_scores(scores, threshold, out / SCORES_PLOT,
                         title=f"{record['kind']} ({detector.layer}) on {run.name}, Linf eps {eps:g}\nstatic PGD "
                         f"{percent(record['static']['detection_rate'])} detected, adaptive fooled and undetected "
                         f"{percent(record['adaptive']['fooled_undetected'])}")
    atomic_write_bytes(out / DETECTION_FILE, json.dumps(record, indent=1).encode())
    record["out"] = str(out)
    return record


def check_options(fpr, test_steps, adaptive_steps, adaptive_restarts) -> None:
    """The run's own options (the training's: ``check_training_options``)."""
    if isinstance(fpr, bool) or not isinstance(fpr, (int, float)) or not 0 < fpr < 1:
        raise AdvlabError(f"--fpr must lie in (0, 1), got {fpr!r}")
    check_int("--test-steps", test_steps, 1)
    check_int("--adaptive-steps", adaptive_steps, 1)
    check_int("--adaptive-restarts", adaptive_restarts, 1)


def rate(flags: Tensor) -> float | None:
    return float(flags.double().mean()) if len(flags) else None


def attacked(attack, images: Tensor, labels: Tensor) -> Tensor:
    return torch.cat([attack(images[first:first + ATTACK_BATCH], labels[first:first + ATTACK_BATCH])
                      for first in range(0, len(images), ATTACK_BATCH)])


def attack_figures(classifier: nn.Module, detector: AdversarialDetector, adversarial: Tensor, labels: Tensor,
                   attack) -> tuple[dict, Tensor]:
    """One attack's block of detection.json, and the detector's scores on its successful examples."""
    with torch.no_grad():
        fooled = classifier(adversarial).argmax(1) != labels
    scores = detector.scores(adversarial)
    flagged = scores > detector.threshold
    figures = {
        "name": attack.name, "eps": attack.eps, "steps": attack.steps, "restarts": attack.restarts,
        "norm": "linf", "objective": getattr(attack, "objective", "cross-entropy"), "success_rate": rate(fooled),
        "detection_rate": rate(flagged[fooled]), "detection_rate_all": rate(flagged),
        "detection_rate_at_half": rate((scores > 0)[fooled]),
        "fooled_undetected": rate(fooled & ~flagged),
        "undetected": int((~flagged).sum()),
        "accuracy_on_undetected": rate(~fooled[~flagged]),
    }
    return figures, scores[fooled].cpu()


def plot_detector_scores(scores: dict[str, Tensor], threshold: float, path: Path, title: str) -> Path:
    """Histograms of Z_D on clean test images and on the static and adaptive examples that fooled the classifier."""
    figure = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = figure.subplots()
    values = torch.cat([score.cpu() for score in scores.values()]).numpy()
    bins = np.linspace(min(values.min(), threshold) - 0.5, max(values.max(), threshold) + 0.5, 41)
    shown = {"clean": ("tab:blue", "clean, not used for the threshold"),
             "static": ("tab:red", "static PGD, fooled the classifier"),
             "adaptive": ("tab:green", "adaptive PGD on classifier and detector, fooled it")}
    for name, (colour, label) in shown.items():
        if len(scores[name]):
            ax.hist(scores[name].cpu().numpy(), bins=bins, alpha=0.55, color=colour,
                    label=f"{label} ({len(scores[name])})")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set(title=title, xlabel="detector logit Z_D (p_adv = sigmoid Z_D; flagged right of the threshold)",
           ylabel="images (log scale)", yscale="log")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, format="png")
    return path
