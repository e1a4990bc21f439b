"""`advlab poison NAME`: a classifier trained on a poisoned training set, and what the poison achieved.

The data, model and held-out split are those of ``advlab classifier train`` with the same options; the
poison (``advlab.poisoning.POISONS[NAME]``) changes some of the training rows before training, never the
held-out ones, so a poisoned run is an ordinary classifier run (``advlab attack``, ``robustness`` and
``report`` take it) with three more things in it::

    RUN/poison.json                   attack, target (or null), rate, poisons (the number of rows changed),
                                      options, clean_accuracy (held-out), and for a backdoor
                                      attack_success_rate (the share of held-out images of the other classes
                                      that the triggered input sends to the target); for feature collision
                                      target_image (its held-out index), base_class, target_prediction and
                                      attack_success_rate (1 when the target is classified as the base class);
                                      for the others test_error, and on a two-class problem (--classes A,B)
                                      linear_svm_test_error and linear_svm_clean_test_error (a linear SVM trained
                                      on the poisoned and on the clean set: one yardstick for every poison) and,
                                      for Biggio's SVM and back-gradient poisons, learner_test_error and
                                      learner_clean_test_error: the same for the learner they attack;
                                      train_size, the surrogate run when the poison used one
    RUN/poisoned_indices.npy          positions (0 .. train_size - 1) in the training set of the rows the
                                      poison changed, int64, sorted
    RUN/poison/training_set.safetensors   the poisoned training set: images, labels, and rows (the data set
                                      row each came from), which the detectors read back (training_set)
    RUN/poison/triggered_held_out.safetensors   a backdoor's held-out images with the trigger stamped on
                                      (images) and the labels it wants for them (labels), in the held-out
                                      order: what STRIP judges and the report shows (triggered_held_out)
    RUN/poison/examples.png, trigger.png, triggered.png   the report's pictures (reports/poisoning_plots.py):
                                      poisoned rows beside their originals, the trigger, and triggered
                                      held-out images with the model's prediction

A trojan (TrojanNN, a poison with ``implant``) changes a trained model instead: it is implanted into the
classifier of the run given as ``surrogate`` (required), and the new run is that run with the trojaned
weights (advlab.pipelines.security.derived_run); its recorded training set is the retraining set the implant made
(rows -1 where the inputs were generated). A poison whose ``__init__`` takes a ``model`` (clean-label's
PGD, feature collision's feature extractor) gets the classifier of the run given as ``surrogate``; without
one, a surrogate of the same architecture is first trained on the clean training rows with the run's own
options.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save as safetensors_to_bytes
from torch import Tensor, nn

from advlab.core.checkpoints import atomic_write_bytes, atomic_write_npy, read_tensors
from advlab.core.errors import AdvlabError
from advlab.core.parameters import class_parameters
from advlab.core.runs import RunDir
from advlab.data.pattern import load_pattern
from advlab.models.representations import logits_layer
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.security.derived_run import write_derived_run
from advlab.pipelines.train_classifier import held_out_split, load_classifier, run_split, train_classifier
from advlab.poisoning import (
    POISONS,
    Backdoor,
    PoisonedData,
    Poisoning,
    SVMPoison,
    attack_success_rate,
    make_poison,
)
from advlab.reports.poisoning_plots import save_poison_figures
from advlab.reports.render import write_report

POISON_RECORD = "poison.json"
POISONED_INDICES = "poisoned_indices.npy"
TRAINING_SET = Path("poison") / "training_set.safetensors"
TRIGGERED = Path("poison") / "triggered_held_out.safetensors"
MODEL_PARAMETER = "model"  # the __init__ parameter of a poison that needs a trained classifier
FINE_TUNING = ("none", "last-layer", "all")  # how the victim trains on the poisoned set (PoisonRunConfig)


@dataclass(frozen=True)
class PoisonRunConfig:
    """A poisoned classifier run.

    Args:
        attack: a key of ``advlab.poisoning.POISONS``.
        options: the poison's own options (its ``__init__`` parameters but ``model``), e.g.
            ``{"target": 0, "rate": 0.05}``.
        classifier: the classifier's options (data, model, epochs, seed, out, ...).
        surrogate: a classifier run whose model a poison that needs one uses (None: train one).
        fine_tune: how the victim trains on the poisoned set: "none" (from scratch, the default), or starting
            from the surrogate's weights, "last-layer" (only the logits layer retrained: Shafahi et al.'s
            transfer learning) or "all" (every layer: their end-to-end training).
    """

    attack: str
    classifier: ClassifierTrainConfig
    options: dict = field(default_factory=dict)
    surrogate: str | None = None
    fine_tune: str = "none"


def poison_class(name: str) -> type[Poisoning]:
    """The poison registered under `name`, or an AdvlabError naming the valid ones."""
    if name not in POISONS:
        make_poison(name)  # raises the error that names the valid poisons
    return POISONS[name]


def needs_model(cls: type[Poisoning]) -> bool:
    """Whether the poison's ``__init__`` takes the trained classifier it crafts its poisons on."""
    return any(parameter.name == MODEL_PARAMETER for parameter in class_parameters(cls))


def implants(cls: type[Poisoning]) -> bool:
    """Whether the poison changes a trained model itself (TrojanNN's ``implant``) rather than a training set."""
    return callable(getattr(cls, "implant", None))


def poison_run(config: PoisonRunConfig, overwrite: bool = False, progress: bool = True, report: bool = True) -> RunDir:
    """Train `config.classifier` on its training rows poisoned by `config.attack`; write the poison's record."""
    cls = poison_class(config.attack)
    if MODEL_PARAMETER in config.options:
        raise AdvlabError("the poison's model is the surrogate run: pass --surrogate RUN, not a model option")
    model = surrogate_model(config, progress) if needs_model(cls) else None
    options = with_tensors(cls, config.options, config.classifier)
    poison = make_poison(config.attack, **options, **({MODEL_PARAMETER: model} if model is not None else {}))
    if implants(cls):
        run = implant_run(config, poison, overwrite)
        if report:
            write_report(run.root)
        return run
    made: dict[str, PoisonedData] = {}

    def poisoned_training_set(images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        made["set"] = poison.poison(images, labels, seed=config.classifier.seed)
        return made["set"].images, made["set"].labels

    run = train_classifier(config.classifier, overwrite, progress, report=False, training_set=poisoned_training_set,
                           start=victim_start(config))
    write_poison_record(run, config, poison, made["set"])
    if report:
        write_report(run.root)
    return run


def victim_start(config: PoisonRunConfig):
    """The `start` hook of the victim's training for `config.fine_tune` (None: from scratch)."""
    if config.fine_tune not in FINE_TUNING:
        raise AdvlabError(f"unknown fine_tune {config.fine_tune!r}; valid values are: {', '.join(FINE_TUNING)}")
    if config.fine_tune == "none":
        return None
    if config.surrogate is None:
        raise AdvlabError(f"fine_tune {config.fine_tune!r} starts from a trained model: give its run (advlab poison "
                          f"{config.attack} RUN ...)")
    pretrained, _ = load_classifier(config.surrogate, device="cpu")
    probe = held_out_split(config.surrogate)[0][:2]

    def start(model: nn.Module) -> None:
        try:
            model.load_state_dict(pretrained.state_dict())
        except RuntimeError as error:
            raise AdvlabError(f"the victim's architecture differs from {config.surrogate}'s; fine-tuning needs the "
                              f"same --model and --width ({str(error).splitlines()[0]})") from None
        if config.fine_tune == "last-layer":
            last = logits_layer(model, probe.to(next(model.parameters()).device))
            for name, parameter in model.named_parameters():
                parameter.requires_grad_(name.startswith(last + "."))

    return start


def with_tensors(cls: type[Poisoning], options: dict, classifier: ClassifierTrainConfig) -> dict:
    """`options` with the tensor ones read: a file path (a trigger pattern, a key: advlab.data.pattern) or the
    index of one of the run's held-out images (feature collision's target image: ``--target-image 17``)."""
    tensors = {parameter.name for parameter in class_parameters(cls) if parameter.is_tensor}
    return {name: tensor_option(name, value, classifier) if name in tensors else value
            for name, value in options.items()}


def tensor_option(name: str, value, classifier: ClassifierTrainConfig):
    """A tensor option's value: held-out image `value` when it is an index, else the file at `value`."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        images = held_out_split(classifier)[0]
        if not 0 <= value < len(images):
            raise AdvlabError(f"{name} {value} is not a held-out image: the run holds {len(images)} "
                              f"(0..{len(images) - 1})")
        return images[value]
    return load_pattern(value) if isinstance(value, (str, Path)) else value


def implant_run(config: PoisonRunConfig, poison: Poisoning, overwrite: bool) -> RunDir:
    """A trojan implanted into the classifier of `config.surrogate` (required), written as a derived run; the
    record's training set is the retraining set the implant made."""
    if config.surrogate is None:
        raise AdvlabError(f"{config.attack} implants into a trained model: give its classifier run "
                          f"(advlab poison {config.attack} RUN --out DIR)")
    if config.classifier.out is None:
        raise AdvlabError("no output directory: pass --out DIR")
    model, _ = load_classifier(config.surrogate, device="cpu")
    data, (train_rows, _) = run_split(config.surrogate)
    trojaned, retraining = poison.implant(model, data.data[train_rows], data.labels[train_rows],
                                          seed=config.classifier.seed)
    run = write_derived_run(config.surrogate, trojaned, config.classifier.out, {"implanted": config.attack},
                            overwrite)
    write_poison_record(run, config, poison, retraining)
    return run


def surrogate_model(config: PoisonRunConfig, progress: bool) -> nn.Module:
    """The classifier of `config.surrogate`, or one trained in memory, with the run's own options, on the clean
    training rows."""
    if config.surrogate is not None:
        return load_classifier(config.surrogate, device="cpu")[0]
    with tempfile.TemporaryDirectory(prefix="advlab-surrogate-") as scratch:
        options = dataclasses.replace(config.classifier, out=scratch, tensorboard=False)
        run = train_classifier(options, overwrite=True, progress=progress, report=False)
        return load_classifier(run.root, device="cpu")[0]


def write_poison_record(run: RunDir, config: PoisonRunConfig, poison: Poisoning, poisoned: PoisonedData) -> None:
    """poison.json, poisoned_indices.npy and the poisoned training set, from the trained run."""
    model, _ = load_classifier(run.root, device="cpu")
    summary = json.loads(run.summary.read_text())
    images, labels = held_out_split(run.root)
    classes = int(summary["classes"])
    indices = poisoned.indices.cpu().long().sort().values
    (run.root / TRAINING_SET).parent.mkdir(exist_ok=True)
    record = {"attack": config.attack, "target": getattr(poison, "target", None), "rate": poison.rate,
              "poisons": len(indices), "options": poison.options(), "train_size": len(poisoned.labels),
              "clean_accuracy": summary["test_accuracy"], "surrogate": config.surrogate, "fine_tune": config.fine_tune}
    if isinstance(poison, Backdoor):
        record["target"] = None if poison.all_to_all else poison.target
        record["attack_success_rate"] = attack_success_rate(model, poison, images, labels, classes)
        atomic_write_tensors(run.root / TRIGGERED, {"images": poison.apply_trigger(images),
                                                    "labels": poison.triggered_labels(labels, classes)})
    elif hasattr(poison, "target_image") and hasattr(poison, "base_class"):
        index = config.options.get("target_image")
        record.update(targeted_figures(model, poison, int(index) if str(index).strip().isdigit() else index))
    else:
        record["test_error"] = 1 - summary["test_accuracy"]
        if classes == 2:
            record.update(learner_figures(poison, run, poisoned, images, labels))
    data, (train_rows, _) = run_split(run.root)
    atomic_write_npy(run.root / POISONED_INDICES, indices.numpy())
    atomic_write_tensors(run.root / TRAINING_SET, {"images": poisoned.images, "labels": poisoned.labels,
                                                   "rows": train_rows})
    save_poison_figures(run.root / TRAINING_SET.parent, model, poison, poisoned,
                        (data.data[train_rows], data.labels[train_rows]), (images, labels), classes)
    atomic_write_bytes(run.root / POISON_RECORD, json.dumps(record, indent=1).encode())


def targeted_figures(model: nn.Module, poison: Poisoning, index) -> dict:
    """A targeted poison's outcome (feature collision): the target image's prediction, and success (1 or 0) when
    it is the base class."""
    with torch.no_grad():
        prediction = int(model(poison.target_image.reshape(1, *poison.target_image.shape[-3:]).cpu()).argmax(1))
    return {"target": None, "base_class": poison.base_class, "target_image": index, "target_prediction": prediction,
            "attack_success_rate": float(prediction == poison.base_class)}


def learner_figures(poison: Poisoning, run: RunDir, poisoned: PoisonedData, images: Tensor, labels: Tensor) -> dict:
    """On a two-class problem, beside the run's own classifier's error: the held-out error of a linear SVM (C 1,
    Biggio et al.'s learner: the same yardstick for every poison, random flips included) trained on the poisoned
    and on the clean training set, and of the learner the poison itself attacks when it has one (Biggio's SVM
    with its kernel, back-gradient's logistic regression or MLP)."""
    data, (train_rows, _) = run_split(run.root)
    clean = data.data[train_rows], data.labels[train_rows]
    figures = {}
    learners = {"linear_svm": SVMPoison(poisons=1)}
    if callable(getattr(poison, "learner_error", None)):
        learners["learner"] = poison
        figures["learner"] = type(poison).__name__
    for key, learner in learners.items():
        figures[f"{key}_test_error"] = learner.learner_error(poisoned.images, poisoned.labels, images, labels)
        figures[f"{key}_clean_test_error"] = learner.learner_error(*clean, images, labels)
    return figures


def atomic_write_tensors(path: Path, tensors: dict[str, Tensor]) -> None:
    """`tensors` (on the CPU, contiguous) as one safetensors file, written atomically."""
    atomic_write_bytes(path, safetensors_to_bytes({name: tensor.detach().cpu().contiguous()
                                                   for name, tensor in tensors.items()}))


def triggered_held_out(run_dir: str | Path) -> tuple[Tensor, Tensor] | None:
    """(triggered held-out images, the labels the backdoor wants) of a backdoored run; None for other runs."""
    path = Path(run_dir) / TRIGGERED
    if not path.exists():
        return None
    tensors = read_tensors(path)
    return tensors["images"], tensors["labels"]


def poison_record(run_dir: str | Path) -> dict | None:
    """The run's poison.json, or None for a run that was not poisoned."""
    path = Path(run_dir) / POISON_RECORD
    return json.loads(path.read_text()) if path.exists() else None


def training_set(run_dir: str | Path) -> tuple[Tensor, Tensor, Tensor | None]:
    """(images, labels, poisoned mask or None) of the set the run was trained on: the poisoned training set
    of a poisoned run (its mask from poisoned_indices.npy), else the clean training rows (mask None)."""
    path = Path(run_dir) / TRAINING_SET
    if not path.exists():
        data, (train_rows, _) = run_split(run_dir)
        return data.data[train_rows], data.labels[train_rows], None
    tensors = read_tensors(path)
    mask = torch.zeros(len(tensors["labels"]), dtype=torch.bool)
    mask[torch.from_numpy(np.load(Path(run_dir) / POISONED_INDICES, allow_pickle=False))] = True
    return tensors["images"], tensors["labels"], mask


__all__ = ["PoisonRunConfig", "implants", "needs_model", "poison_class", "poison_record", "poison_run", "training_set",
           "triggered_held_out"]
