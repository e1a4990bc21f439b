"""`advlab defend dp-sgd RUN --epsilon 3 --delta 1e-5 --out DIR`: retrain RUN's classifier with DP-SGD.

RUN is a trained classifier run (advlab classifier train). Its recipe -- data, architecture, image size,
epochs, lot size (``batch_size``), seed and therefore the same held-out split (a run trained on given rows,
such as a shadow model, keeps its rows) -- is retrained from scratch with DP-SGD (Abadi et al. 2016,
advlab.defenses.dp_sgd), so that membership inference compares the standard and the private model on
the same members and non-members. The result is an ordinary classifier run whose summary.json holds the
"dp" record: the epsilon the accountant spent, delta, the noise multiplier, the clipping norm, the
sampling rate and the steps. Any option of `advlab classifier train` may be overridden (``--epochs 30``).
"""

from __future__ import annotations

import dataclasses

from advlab.cli.classifier import OPTION_DOCS
from advlab.cli.common import ExamplesFormatter, add_config_flags
from advlab.cli.defend_train import DEFENSE_OPTIONS, run_defend
from advlab.defenses.dp_sgd import ACCOUNTANTS, DEFAULT_DELTA, DEFAULT_LR, DEFAULT_MAX_GRAD_NORM
from advlab.pipelines.classifier_config import DP_OPTIONS, ClassifierTrainConfig

HELP = "DP-SGD (Abadi et al. 2016): retrain RUN's recipe with clipped, noised per-example gradients to (epsilon, delta)"
EXAMPLE = """examples (a digits run: advlab classifier train --data digits --test-fraction 0.5 --out runs/target):
  advlab defend dp-sgd runs/target --epsilon 3 --delta 1e-5 --out runs/target-dp
  advlab defend dp-sgd runs/target --epsilon 1 --accountant prv --epochs 30 --out runs/target-dp1"""
UNSET = {"epsilon": "required", "delta": f"default {DEFAULT_DELTA:g}",
         "max_grad_norm": f"default {DEFAULT_MAX_GRAD_NORM:g}", "dp_lr": f"default {DEFAULT_LR:g}",
         "accountant": f"default {ACCOUNTANTS[0]}"}


def add_parsers(verbs) -> None:
    parser = verbs.add_parser("dp-sgd", help=HELP, description=HELP, epilog=EXAMPLE, formatter_class=ExamplesFormatter)
    parser.add_argument("run", metavar="RUN", help="a trained classifier run (advlab classifier train)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    # --dp-lr, not Adam's; DP-SGD trains in fp32 only
    hidden = {"defense", "lr", "robust_eval_images", "precision", *DEFENSE_OPTIONS} - set(DP_OPTIONS)
    add_config_flags(parser, ClassifierTrainConfig, OPTION_DOCS, skip=hidden, default_note=default_note)
    parser.set_defaults(handler=run_defend, defense="dp-sgd")


def default_note(field: dataclasses.Field) -> str:
    """--out and --epsilon are required, the DP options have their own defaults, the rest come from RUN."""
    if field.name == "out":
        return "required"
    return UNSET.get(field.name, "default: RUN's")


__all__ = ["add_parsers"]
