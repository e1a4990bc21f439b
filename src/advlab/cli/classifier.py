"""`advlab classifier train`: the victim classifier that `advlab attack` attacks."""

from __future__ import annotations

import argparse
import json

from advlab.cli.common import add_config_flags, config_values
from advlab.core.config import from_mapping, load_yaml
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.train_classifier import train_classifier

OPTION_DOCS = {
    "out": "run directory to create",
    "data": "digits, idx (with --labels-path) or folder (one sub-folder per class)",
    "data_path": "IDX images file, or the folder, for idx and folder data",
    "labels_path": "IDX labels file (idx data)",
    "image_size": "resize images to this size (digits are 8x8)",
    "model": "cnn (advlab.models.SmallCNN) or mlp (advlab.models.MLPClassifier)",
    "width": "network width (unset: 32 for cnn, 256 for mlp)",
    "epochs": "passes over the training rows",
    "batch_size": "minibatch size",
    "lr": "Adam learning rate",
    "weight_decay": "Adam weight decay (L2)",
    "test_fraction": "share of the images held out (a seeded split); attacks run on these",
    "seed": "random seed (split, initialisation, shuffling)",
    "device": "auto, cpu, cuda or cuda:N",
    "threads": "torch CPU threads (unset: torch's default; 1 is often faster on a busy machine)",
    "tensorboard": "write TensorBoard events",
}


def add_parser(subparsers) -> None:
    classifier = subparsers.add_parser("classifier", help="train victim classifiers for the attacks")
    verbs = classifier.add_subparsers(dest="verb", required=True, metavar="{train}")
    train = verbs.add_parser("train", help="train a small CNN or MLP on labelled images, with a held-out split")
    train.add_argument("--config", help="YAML file with any of the options below")
    train.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_flags(train, ClassifierTrainConfig, OPTION_DOCS)
    train.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    values = load_yaml(args.config) if args.config else {}
    config = from_mapping(ClassifierTrainConfig, {**values, **config_values(args, ClassifierTrainConfig)},
                          source=args.config or "command line")
    run = train_classifier(config, overwrite=args.overwrite, progress=not args.no_progress)
    summary = json.loads(run.summary.read_text())
    print(f"held-out accuracy: {summary['test_accuracy']:.4f} ({summary['test_size']} images)\n"
          f"run: {run.root}\nreport: {run.root / 'report.html'}")
    return 0


__all__ = ["add_parser"]
