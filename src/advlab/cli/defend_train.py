"""`advlab defend adv-train | trades | fast-at | noise | mart | ibp | label-smoothing | mixup | cutmix RUN --out DIR`.

Retrain RUN's classifier robustly -- or, for the last three, with a training baseline that is no defense.

RUN is a trained classifier run (advlab classifier train). The defended model is trained from
scratch, as the papers do, with RUN's config -- the same data, architecture, image size, seed and
therefore the same held-out split -- so that the standard and the robust model are judged on the
same held-out images; any option of `advlab classifier train` may be overridden (``--epochs 30``).
The result is an ordinary classifier run: ``advlab attack`` and ``advlab robustness`` take it.

    adv-train  PGD adversarial training (Madry et al. 2018); --attack fgsm: fast-at instead
    trades     TRADES (Zhang et al. 2019), --beta
    fast-at    FGSM from a random start + the catastrophic-overfitting guard (Wong et al. 2020)
    noise      Gaussian noise augmentation, the base classifier of randomized smoothing (Cohen et al. 2019)
    mart       MART (Wang et al. 2020): boosted CE on x' + beta * KL(p(x) || p(x')) (1 - p_y(x))
    ibp        verified training with interval bound propagation (Gowal et al. 2019): kappa CE(z) + (1 - kappa)
               CE(z_hat) with z_hat the worst-case logits of the eps-box; the summary holds the IBP-certified
               held-out accuracy at --eps, a lower bound of the accuracy under any attack of that radius

adv-train, trades and mart take --awp-gamma: adversarial weight perturbation on top (Wu et al. 2020; the paper's
5e-3). The baselines below are NOT adversarial defenses -- no threat model, nothing trained against an attack --;
they are here to be measured beside the defenses:

    label-smoothing   cross-entropy against smoothed labels (Szegedy et al. 2016), --smoothing 0.1
    mixup             convex combinations of image pairs and their labels (Zhang et al. 2018), --mixup-alpha 1
    cutmix            a box of another image pasted in, labels by area (Yun et al. 2019), --cutmix-alpha 1

On MNIST (``advlab classifier train --data mnist``, the default data) Madry et al. 2018 train at
eps 0.3: ``advlab defend adv-train RUN --eps 0.3 --out DIR``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from advlab.cli.classifier import OPTION_DOCS, print_figures
from advlab.cli.common import ExamplesFormatter, add_config_flags, config_values
from advlab.core.config import from_mapping
from advlab.pipelines.classifier_config import DP_OPTIONS, ClassifierTrainConfig
from advlab.pipelines.train_classifier import (
    GIVEN_SPLIT,
    classifier_config,
    classifier_record,
    run_split,
    train_classifier,
)

EXAMPLES = {  # verb: its example on an MNIST run (each verb's help shows only the options it takes)
    "adv-train": "advlab defend adv-train runs/clf --eps 0.3 --out runs/clf-pgd-at",
    "trades": "advlab defend trades runs/clf --eps 0.3 --beta 6 --out runs/clf-trades",
    "fast-at": "advlab defend fast-at runs/clf --eps 0.3 --out runs/clf-fast-at",
    "noise": "advlab defend noise runs/clf --sigma 0.25 --out runs/clf-noise",
    "mart": "advlab defend mart runs/clf --eps 0.3 --beta 6 --out runs/clf-mart",
    "ibp": "advlab defend ibp runs/clf --eps 0.1 --out runs/clf-ibp",
    "label-smoothing": "advlab defend label-smoothing runs/clf --smoothing 0.1 --out runs/clf-ls",
    "mixup": "advlab defend mixup runs/clf --mixup-alpha 1.0 --out runs/clf-mixup",
    "cutmix": "advlab defend cutmix runs/clf --cutmix-alpha 1.0 --out runs/clf-cutmix",
}
NOT_A_DEFENSE = "a training baseline, NOT an adversarial defense"
# reset to defaults, then set per verb
DEFENSE_OPTIONS = ("eps", "attack_steps", "attack_alpha", "beta", "sigma", "eps_warmup", "awp_gamma", "smoothing",
                   "mixup_alpha", "cutmix_alpha", *DP_OPTIONS)
NOTES = {  # how the unset value of the options `advlab classifier train` leaves unset reads in a verb's help
    "awp_gamma": "default None: no AWP", "smoothing": "default 0.1, the paper's",
    "mixup_alpha": "default 1.0, the paper's on CIFAR-10", "cutmix_alpha": "default 1.0, the paper's",
}
ATTACKS = {"pgd": "pgd-at", "fgsm": "fast-at"}  # adv-train --attack -> defense
VERBS = {  # verb: (defense, the defense options it shows, help)
    "adv-train": ("pgd-at", ("eps", "attack_steps", "attack_alpha", "eps_warmup", "awp_gamma"),
                  "PGD adversarial training (Madry et al. 2018) from scratch on RUN's data and split"),
    "trades": ("trades", ("eps", "attack_steps", "attack_alpha", "beta", "eps_warmup", "awp_gamma"),
               "TRADES (Zhang et al. 2019): clean cross-entropy + beta * KL to the worst point of the eps-ball"),
    "fast-at": ("fast-at", ("eps", "attack_alpha", "eps_warmup"),
                "fast adversarial training: FGSM from a random start, step 1.25 eps (Wong et al. 2020)"),
    "noise": ("noise", ("sigma",),
              "Gaussian noise augmentation (Cohen et al. 2019): the base classifier for randomized smoothing"),
    "mart": ("mart", ("eps", "attack_steps", "attack_alpha", "beta", "eps_warmup", "awp_gamma"),
             "MART (Wang et al. 2020): boosted cross-entropy on PGD examples + beta (the paper's lambda) * "
             "KL(p(x) || p(x')) weighted by 1 - p_y(x)"),
    "ibp": ("ibp", ("eps", "eps_warmup"),
            "verified training with interval bound propagation (Gowal et al. 2019): eps and kappa ramped over "
            "--eps-warmup epochs (kappa to 0.5, training eps 1.1 --eps); reports the IBP-certified accuracy at --eps"),
    "label-smoothing": ("label-smoothing", ("smoothing",),
                        f"label smoothing (Szegedy et al. 2016), {NOT_A_DEFENSE}: cross-entropy against "
                        "(1 - smoothing) one-hot + smoothing uniform"),
    "mixup": ("mixup", ("mixup_alpha",),
              f"mixup (Zhang et al. 2018), {NOT_A_DEFENSE}: trains on convex combinations of image pairs and "
              "their labels"),
    "cutmix": ("cutmix", ("cutmix_alpha",),
               f"CutMix (Yun et al. 2019), {NOT_A_DEFENSE}: pastes a box of another image, labels mixed by area"),
}


def add_parsers(verbs) -> None:
    for verb, (defense, shown, help_text) in VERBS.items():
        epilog = f"example (an MNIST run: advlab classifier train --data mnist --out runs/clf):\n  {EXAMPLES[verb]}"
        parser = verbs.add_parser(verb, help=help_text, description=help_text, epilog=epilog,
                                  formatter_class=ExamplesFormatter)
        parser.add_argument("run", metavar="RUN", help="a trained classifier run (advlab classifier train)")
        if verb == "adv-train":
            parser.add_argument("--attack", choices=tuple(ATTACKS), default="pgd",
                                help="inner maximisation: pgd (PGD-AT) or fgsm (FGSM from a random start = fast-at)")
        parser.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        hidden = {"defense", *DEFENSE_OPTIONS} - set(shown)
        add_config_flags(parser, ClassifierTrainConfig, OPTION_DOCS, skip=hidden, default_note=default_note)
        parser.set_defaults(handler=run_defend, defense=defense)


def default_note(field: dataclasses.Field) -> str:
    """How a flag's default reads: --out is required, defense options have their own, the rest come from RUN."""
    if field.name == "out":
        return "required"
    if field.name in NOTES:
        return NOTES[field.name]
    return f"default {field.default}" if field.name in DEFENSE_OPTIONS else "default: RUN's"


def defended_config(args: argparse.Namespace) -> ClassifierTrainConfig:
    """RUN's config with its defense options reset, the verb's defense, and the flags given."""
    base = dataclasses.asdict(classifier_config(args.run))
    defaults = {f.name: f.default for f in dataclasses.fields(ClassifierTrainConfig)}
    base.update({name: defaults[name] for name in DEFENSE_OPTIONS}, out=None)
    defense = ATTACKS[args.attack] if getattr(args, "attack", None) else args.defense
    overrides = config_values(args, ClassifierTrainConfig)
    overrides.pop("defense", None)
    if defense == "fast-at":
        overrides.pop("attack_steps", None)  # one FGSM step; adv-train --attack fgsm shows the flag for pgd
    return from_mapping(ClassifierTrainConfig, {**base, **overrides, "defense": defense},
                        source=f"{args.run}/config.yaml + command line")


def run_defend(args: argparse.Namespace) -> int:
    config = defended_config(args)
    _, base_record = classifier_record(args.run)  # RUN must hold a trained classifier
    given = base_record.get("split", {}).get("kind") == GIVEN_SPLIT  # rows its trainer chose: keep them
    run = train_classifier(config, overwrite=args.overwrite, progress=not args.no_progress,
                           rows=run_split(args.run)[1] if given else None)
    _, record = classifier_record(run.root)
    if record["split"]["test_rows"] != base_record.get("split", {}).get("test_rows"):
        print(f"advlab: warning: the held-out split of {run.root} differs from {args.run}'s (data, seed or "
              "test_fraction changed): the two models are not judged on the same images", file=sys.stderr)
    summary = json.loads(run.summary.read_text())
    print_figures(summary, run.root)
    if "test_certified_accuracy" in summary:
        print(f"certified held-out accuracy: {summary['test_certified_accuracy']:.4f} by "
              f"{summary['certified_evaluation']} ({summary['robust_eval_images']} images; a lower bound of the "
              "accuracy under any attack of that radius)")
    return 0


__all__ = ["add_parsers"]
