"""`advlab poison NAME [RUN] [options]`: train a classifier on a poisoned training set.

One sub-command per entry of ``advlab.poisoning.POISONS``. The classifier's options are those of
``advlab classifier train`` (``--data``, ``--image-size``, ``--classes``, ``--model``, ``--epochs``, ...;
the defense options are left out); the poison's own options come from its ``__init__`` signature and
the ``Args:`` section of its docstring (cli/class_flags.py). A poison that crafts its poisons on a
trained classifier (clean-label, feature collision) takes an optional RUN: that run's classifier is the
surrogate and its config the starting point of the options (as ``advlab defend`` does); without RUN a
surrogate is trained first on the clean training rows. The result is an ordinary classifier run plus
poison.json (advlab.pipelines.security.poison_run).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json

from advlab.cli.class_flags import add_class_options, class_options
from advlab.cli.classifier import OPTION_DOCS, print_figures
from advlab.cli.common import ExamplesFormatter, add_config_flags, config_values
from advlab.core.config import from_mapping, load_yaml
from advlab.core.parameters import Parameter, class_parameters
from advlab.pipelines.classifier_config import DP_OPTIONS, ClassifierTrainConfig
from advlab.pipelines.security.poison_run import (
    FINE_TUNING,
    MODEL_PARAMETER,
    PoisonRunConfig,
    implants,
    needs_model,
    poison_run,
)
from advlab.pipelines.train_classifier import classifier_config
from advlab.poisoning import POISONS

DEFENSE_OPTIONS = ("defense", "eps", "attack_steps", "attack_alpha", "beta", "sigma", "eps_warmup",
                   "robust_eval_images", *DP_OPTIONS)
COMMON = ("run", "config", "overwrite", "no_progress", "surrogate", "fine_tune", "handler", "command", "poison_name",
          *(field.name for field in dataclasses.fields(ClassifierTrainConfig)))
EXAMPLES = """examples:
  advlab poison badnets --data mnist --rate 0.01 --target 0 --out runs/bd-mnist
  advlab poison badnets --data digits --image-size 16 --rate 0.05 --target 0 --out runs/bd
  advlab poison blended --data digits --image-size 16 --poisons 50 --alpha 0.2 --target 0 --out runs/bl
  advlab poison label-flip --data digits --rate 0.2 --out runs/lf
then: advlab detect spectral runs/bd, advlab attack pgd runs/bd, advlab report runs/bd"""


def add_parser(subparsers) -> None:
    poison = subparsers.add_parser(
        "poison", help="train a classifier on a poisoned training set (backdoors, label flips, availability poisons)",
        description="Poison the training rows of a classifier run's data, train on them, and measure clean accuracy "
                    "and the attack success rate (backdoors) or test error; writes an ordinary classifier run plus "
                    "poison.json, poisoned_indices.npy and the poisoned training set.",
        epilog=EXAMPLES, formatter_class=ExamplesFormatter)
    names = list(POISONS)
    poisons = poison.add_subparsers(dest="poison_name", required=True, metavar="{" + ",".join(names) + "}")
    for name in names:
        add_poison_parser(poisons, name)


def add_poison_parser(poisons, name: str) -> None:
    cls = POISONS[name]
    summary = (inspect.getdoc(cls) or name).splitlines()[0].split(": ``")[0].replace("``", "")
    parser = poisons.add_parser(name, help=summary, description=summary)
    if implants(cls):
        parser.add_argument("run", metavar="RUN", help="the trained classifier run to implant the trojan into (it is "
                                                       "not changed: --out gets the trojaned copy)")
    elif needs_model(cls):
        parser.add_argument("run", nargs="?", default=None, metavar="RUN",
                            help="a trained classifier run: the surrogate the poisons are crafted on, and the "
                                 "options' defaults (without it a surrogate is trained on the clean rows first)")
        parser.add_argument("--fine-tune", choices=FINE_TUNING, default="none",
                            help="the victim trains on the poisoned set from scratch (none, the default) or from "
                                 "RUN's weights: last-layer (transfer learning, Shafahi et al.'s first setting) or "
                                 "all (end-to-end)")
    parser.add_argument("--config", help="YAML file with any of the classifier's options")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    classifier = parser.add_argument_group("the classifier (as advlab classifier train)")
    add_config_flags(classifier, ClassifierTrainConfig, OPTION_DOCS, skip=DEFENSE_OPTIONS)
    add_class_options(parser.add_argument_group(f"options of {name}"), own_parameters(cls), COMMON, "poison")
    parser.set_defaults(handler=run_poison)


def own_parameters(cls: type) -> list[Parameter]:
    """The poison's parameters that get a flag: all but the model (the surrogate run)."""
    return [parameter for parameter in class_parameters(cls) if parameter.name != MODEL_PARAMETER]


def classifier_options(args: argparse.Namespace) -> ClassifierTrainConfig:
    """RUN's config (when given) or --config's, with the flags given on top."""
    run = getattr(args, "run", None)
    base = {**dataclasses.asdict(classifier_config(run)), "out": None} if run else {}
    values = load_yaml(args.config) if args.config else {}
    source = " + ".join(filter(None, (run and f"{run}/config.yaml", args.config, "command line")))
    return from_mapping(ClassifierTrainConfig, {**base, **values, **config_values(args, ClassifierTrainConfig)},
                        source=source)


def run_poison(args: argparse.Namespace) -> int:
    name = args.poison_name
    options = class_options(args, own_parameters(POISONS[name]), COMMON, "poison")
    config = PoisonRunConfig(attack=name, classifier=classifier_options(args), options=options,
                             surrogate=getattr(args, "run", None), fine_tune=getattr(args, "fine_tune", "none"))
    run = poison_run(config, overwrite=args.overwrite, progress=not args.no_progress)
    print_poison_figures(json.loads((run.root / "poison.json").read_text()))
    print_figures(json.loads(run.summary.read_text()), run.root)
    return 0


def print_poison_figures(record: dict) -> None:
    """The poison's headline: how many rows it changed and what it achieved."""
    line = f"{record['attack']}: {record['poisons']} of {record['train_size']} training images poisoned"
    if "attack_success_rate" in record:
        line += f"; attack success rate {record['attack_success_rate']:.4f}"
    if "test_error" in record:
        line += f"; held-out error {record['test_error']:.4f}"
    print(line)


__all__ = ["add_parser"]
