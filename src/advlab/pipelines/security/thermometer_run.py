"""`advlab defend thermometer RUN --levels L --out DIR`: a classifier trained on thermometer-encoded images.

Thermometer encoding (Buckman et al. 2018, ``advlab.defenses.thermometer``) is not put in front of an
existing classifier: the classifier must see the encoded images (C * L channels) from its first epoch. So
DIR is a new classifier run of RUN's architecture, data, split and optimiser settings, trained on RUN's
training rows through the encoding (the classifier run's training loop, ``train_classifier.fit``)::

    DIR/config.yaml              RUN's data, model and training options (out: DIR; the defense below)
    DIR/checkpoints/             the classifier of C * L input channels; the record's "sample_shape" is
                                 (C * L, H, W), "input_shape" the images' (C, H, W), the split RUN's
    DIR/metrics.jsonl            one record per epoch, as a classifier run's
    DIR/defense.json             transform "thermometer", options {"levels": L}, base RUN
    DIR/summary.json             clean held-out accuracy (thermometer, and RUN's own classifier), the first
                                 warning (naive PGD vs BPDA through the soft thermometer), and "training"

so ``load_model(DIR)`` is the encoding followed by that classifier, and ``advlab attack NAME DIR`` or
``advlab robustness DIR`` attack it as any defended run.

By default the classifier is trained on clean images only ("plain" thermometer encoding): the paper's
headline robustness (sec. 5) is thermometer encoding *with* adversarial training against its discrete
LS-PGA attack. ``at_eps`` trains adversarially instead (PGD-AT, Madry et al. 2018, at that Linf radius,
the run's attack_steps), the inner PGD taking BPDA's gradient through the soft thermometer (Athalye et al.
2018, sec. 5.2.1) -- a stronger attack than LS-PGA, so a harder training signal. The summary's
"training" record says which was done.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch

from advlab.core.checkpoints import module_state, save_checkpoint
from advlab.core.checks import check_int, check_number
from advlab.core.config import dump_yaml
from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError
from advlab.core.runs import MetricsLog, RunDir
from advlab.core.seeding import seed_everything
from advlab.defenses.preprocessed import DEFENSE_FILE, Preprocessed, write_defense
from advlab.defenses.thermometer import ThermometerEncoding
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.security.preprocess_defense import (
    checked_measure,
    measure,
    prepare_output,
    refuse_defended,
    write_summary,
)
from advlab.pipelines.train_classifier import (
    RECORD_KIND,
    build_classifier,
    classifier_config,
    classifier_record,
    fit,
    run_split,
    training_objective,
)

TRANSFORM = "thermometer"
KEPT_OPTIONS = ("data", "data_path", "labels_path", "image_size", "classes", "model", "width", "epochs", "batch_size",
                "lr", "weight_decay", "test_fraction", "seed", "device", "threads", "precision", "tensorboard",
                "attack_steps", "robust_eval_images")  # what the thermometer run takes over from RUN's config


def thermometer_config(base: ClassifierTrainConfig, out: Path, epochs: int | None, at_eps: float | None,
                       device: str) -> ClassifierTrainConfig:
    """RUN's data, model and optimiser options for DIR; plain cross-entropy, or PGD-AT at `at_eps`."""
    kept = {name: getattr(base, name) for name in KEPT_OPTIONS}
    kept.update(out=str(out), device=device, epochs=base.epochs if epochs is None else epochs,
                defense="none" if at_eps is None else "pgd-at", eps=at_eps)
    config = ClassifierTrainConfig(**kept)
    config.validate()
    return config


def make_thermometer_run(run: str | Path, out: str | Path, levels: int = 16, epochs: int | None = None,
                         at_eps: float | None = None, overwrite: bool = False, eps: float = 0.1, n: int = 300,
                         attack_steps: int = 10, eot_samples: int = 4, seed: int = 0, device: str = "auto",
                         progress: bool = True, report: bool = True) -> dict:
    """Train RUN's classifier anew on thermometer-encoded images into `out`, measure it; returns its summary."""
    run, out = Path(run), Path(out)
    base = classifier_config(run)
    _, meta = classifier_record(run)
    refuse_defended(run)
    encoding = ThermometerEncoding(levels)
    if epochs is not None:
        check_int("--epochs", epochs, 1)
    if at_eps is not None and not 0 < check_number("--at-eps", at_eps, strict=True) <= 1:
        raise AdvlabError(f"--at-eps must lie in (0, 1] (images are in [0, 1]), got {at_eps!r}")
    eps, n, attack_steps, eot_samples = checked_measure(eps, n, attack_steps, eot_samples)
    config = thermometer_config(base, out, epochs, at_eps, device)
    prepare_output(out, run, overwrite, DEFENSE_FILE)
    dump_yaml(config, out / "config.yaml")
    training = train_encoded(config, encoding, run, meta, out, progress)
    write_defense(out, TRANSFORM, {"levels": levels}, run)
    summary = measure(run, out, TRANSFORM, {"levels": levels}, eps, n, attack_steps, eot_samples, seed, device,
                      progress)
    summary["training"] = training
    return write_summary(out, summary, report)


def train_encoded(config: ClassifierTrainConfig, encoding: ThermometerEncoding, run: Path, meta: dict, out: Path,
                  progress: bool) -> dict:
    """Fit a classifier of C * L input channels behind `encoding` on RUN's training rows; its figures."""
    seed_everything(config.seed)
    device = resolve_device(config.device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    data, (train_rows, test_rows) = run_split(run)
    data = data.to(device)
    encoded_shape = encoding.encoded_shape(tuple(data.sample_shape))
    classifier = build_classifier(config.model, encoded_shape, int(meta["classes"]), config.model_width).to(device)
    model = Preprocessed(classifier, encoding, straight_through=True)  # forward: the code; inner attacks: BPDA
    record = {"kind": RECORD_KIND, "config": dataclasses.asdict(config), "classes": meta["classes"],
              "class_names": meta.get("class_names"), "sample_shape": list(encoded_shape),
              "input_shape": list(data.sample_shape), "split": meta["split"], "processes": 1,
              "thermometer": {"levels": encoding.levels}}
    folder = RunDir(out).checkpoints
    folder.mkdir(parents=True, exist_ok=True)

    def checkpoint(epoch: int) -> Path:
        return save_checkpoint(folder, epoch, module_state(classifier, "model"), record, keep=1)

    objective = training_objective(config, math.ceil(len(train_rows) / config.batch_size))
    log = MetricsLog(RunDir(out), tensorboard=config.tensorboard)
    try:
        figures = fit(model, data, train_rows.to(device), test_rows.to(device), config, log, progress, checkpoint,
                      objective)
    finally:
        log.close()
    adversarial = "plain: cross-entropy on clean encoded images" if config.defense == "none" else \
        f"PGD-AT at eps {config.eps:g} with BPDA through the soft thermometer"
    return {**figures, "levels": encoding.levels, "adversarial_training": adversarial}
