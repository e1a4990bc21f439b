"""The demo: a ring8 GAN (non-saturating loss, MLPs), a 16x16 digits DCGAN, a digits CNN attacked by PGD
(white-box) and Square (black-box), and a digits CNN trained on a BadNets-poisoned set with the backdoor found
by spectral signatures and Neural Cleanse, all in one report."""

from __future__ import annotations

from pathlib import Path

from advlab.core.config import from_mapping
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.gan.evaluate_run import evaluate_run
from advlab.pipelines.gan.gan_config import GANTrainConfig
from advlab.pipelines.gan.train_gan import train_gan
from advlab.pipelines.security.attack_run import AttackRunConfig, attack_run
from advlab.pipelines.security.detect_run import DetectRunConfig, detect_run
from advlab.pipelines.security.poison_run import PoisonRunConfig, poison_run
from advlab.pipelines.train_classifier import train_classifier
from advlab.reports.render import write_combined_report, write_report

DEMO_RUNS = {
    "ring8": {"data": "ring8", "loss": "nonsaturating", "steps": 3000,
              "eval_every": 500, "metrics": ("fid", "prdc", "modes"), "eval_samples": 1000},
    "digits": {"data": "digits", "image_size": 16, "loss": "nonsaturating", "steps": 1500,
               "sample_every": 250, "eval_every": 250, "metrics": ("fid", "kid", "prdc", "modes"),
               "eval_samples": 1000},
}
# After training, each GAN is judged once more on more samples (advlab gan evaluate's default metrics)
DEMO_EVAL_SAMPLES, QUICK_EVAL_SAMPLES = 2000, 100
# The victim and its attacks run on one CPU thread: these small models gain little from more, and
# lose much on a busy machine (two threads contending with other processes ran 5-10x slower here).
THREADS = 1
VICTIM = ("classifier", {"data": "digits", "model": "cnn", "epochs": 20, "threads": THREADS})
# The attacks on the victim's 360 held-out digits: (name, options, images attacked (None: all)).
# Both see the same images, so their robust accuracies compare. Cost on one idle core: the victim
# (20 epochs) and PGD about 10 s together; Square at most 2000 forward passes over the images not
# yet fooled, about 25 s when two thirds of them resist (6 ms per pass over 120 images).
DEMO_ATTACKS = [
    ("pgd", {"eps": 0.1, "steps": 40, "restarts": 2}, None),
    ("square", {"eps": 0.1, "queries": 2000}, None),
]
# The poisoning demo (issue 16): BadNets at 5% on 16 px digits, then two detectors. About 20 s of training and
# 15-40 s of Neural Cleanse on one core.
BACKDOOR = ("backdoor", {"data": "digits", "image_size": 16, "model": "cnn", "epochs": 20, "threads": THREADS},
            {"target": 0, "rate": 0.05})
DEMO_DETECTORS = [("spectral", {}), ("neural-cleanse", {})]
QUICK_DETECTORS = {"neural-cleanse": {"epochs": 2}}
QUICK_VICTIM = {"epochs": 2}
QUICK_ATTACKS = {"pgd": {"steps": 5, "restarts": 1}, "square": {"queries": 50}}
QUICK_IMAGES = 32


def run_demo(out: Path, quick: bool = False, device: str = "auto") -> Path:
    """Train every demo run into `out/NAME`, attack the victim, and write `out/report.html`."""
    runs = []
    for name, options in DEMO_RUNS.items():
        values = {**options, "out": str(out / name), "device": device}
        if quick:
            values.update(steps=20, sample_every=10, checkpoint_every=10, log_every=5, eval_every=10,
                          eval_samples=QUICK_EVAL_SAMPLES)
        config = from_mapping(GANTrainConfig, values, source=f"demo {name}")
        run = train_gan(config, overwrite=True, report=False).root
        evaluate_run(run, n=QUICK_EVAL_SAMPLES if quick else DEMO_EVAL_SAMPLES, device=device, progress=False)
        runs.append(run)
    runs.append(run_victim(out, quick, device))
    runs.append(run_backdoor(out, quick, device))
    html, _ = write_combined_report(out, runs, title="advlab demo: the minimax game of Goodfellow et al., "
                                                     "evasion attacks on a digits classifier, and a backdoor found")
    return html


def run_victim(out: Path, quick: bool, device: str) -> Path:
    """Train the demo's digits CNN, run the demo attacks on it, write its report."""
    name, options = VICTIM
    values = {**options, **(QUICK_VICTIM if quick else {}), "out": str(out / name), "device": device}
    run = train_classifier(from_mapping(ClassifierTrainConfig, values, source=f"demo {name}"),
                           overwrite=True, report=False).root
    for attack, attack_options, n in DEMO_ATTACKS:
        if quick:
            attack_options, n = {**attack_options, **QUICK_ATTACKS.get(attack, {})}, QUICK_IMAGES
        attack_run(AttackRunConfig(attack=attack, run=str(run), options=attack_options, n=n, device=device,
                                   threads=THREADS, report=False))
    write_report(run)
    return run


def run_backdoor(out: Path, quick: bool, device: str) -> Path:
    """Train the demo's BadNets-poisoned digits CNN, run the demo detectors on it, write its report."""
    name, options, poison = BACKDOOR
    values = {**options, **(QUICK_VICTIM if quick else {}), "out": str(out / name), "device": device}
    classifier = from_mapping(ClassifierTrainConfig, values, source=f"demo {name}")
    run = poison_run(PoisonRunConfig("badnets", classifier, poison), overwrite=True, report=False).root
    for detector, detector_options in DEMO_DETECTORS:
        options = {**detector_options, **(QUICK_DETECTORS.get(detector, {}) if quick else {})}
        detect_run(DetectRunConfig(detector, str(run), options=options, device=device, threads=THREADS,
                                   overwrite=True, report=False))
    write_report(run)
    return run
