"""`advlab privacy membership RUN`: membership inference attacks against a classifier run.

What is attacked, how the shadows are trained and reused, and what is written: advlab.pipelines.security.membership_run.
Each attack's own options are flags named after it, built from its ``__init__`` signature and ``Args:``
docstring (cli/class_flags.py): ``--lira-online false``, ``--lira-fix-variance true``, ``--rmia-gamma 2``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from advlab.cli.class_flags import add_class_options, class_options
from advlab.cli.common import ExamplesFormatter, add_seed_device_flags, parse_value
from advlab.core.distributed import context
from advlab.core.parameters import Parameter
from advlab.defenses.outputs import SPEC_HELP
from advlab.pipelines.security.membership_run import (
    DEFAULT_ATTACKS,
    RECORD,
    ROC_PICTURE,
    SCORES,
    MembershipRunConfig,
    membership_run,
    own_parameters,
)
from advlab.privacy.membership import ATTACKS
from advlab.privacy.membership.base import DEFAULT_SHADOWS
from advlab.privacy.victim import OUTPUTS

HELP = "membership inference: tell the run's training rows from its held-out rows (AUC, TPR at 0.1 and 1 percent FPR)"
EXAMPLES = """examples (a target with non-members: advlab classifier train --data digits --test-fraction 0.5 ...):
  advlab privacy membership runs/target --attacks loss,shadow,lira,rmia --shadows 16
  advlab privacy membership runs/target --attacks lira --shadows 64 --workers 4 --lira-fix-variance false
  advlab privacy membership runs/target --attacks correctness --output labels
  advlab privacy membership runs/target --attacks loss,lira --output-defense round:1"""


def prefixed(attack: str, parameter: Parameter) -> Parameter:
    """The attack's parameter under the name ATTACK_NAME, so that its flag is --ATTACK-NAME."""
    return dataclasses.replace(parameter, name=f"{attack.replace('-', '_')}_{parameter.name}")


def attack_parameters(attack: str) -> list[tuple[Parameter, Parameter]]:
    """(the attack's own parameter, the same under its flag's name) for each of its options."""
    return [(parameter, prefixed(attack, parameter)) for parameter in own_parameters(attack)]


def add_parsers(verbs) -> None:
    parser = verbs.add_parser("membership", help=HELP, description=HELP, epilog=EXAMPLES,
                              formatter_class=ExamplesFormatter)
    parser.add_argument("run", metavar="RUN", help="the victim classifier run; members are its training rows, "
                                                   "non-members its held-out rows (nothing outside RUN/privacy/ "
                                                   "is written)")
    parser.add_argument("--attacks", default=",".join(DEFAULT_ATTACKS),
                        help=f"comma-separated attacks, of: {', '.join(ATTACKS)} (default "
                             f"{','.join(DEFAULT_ATTACKS)})")
    parser.add_argument("--shadows", type=int, default=DEFAULT_SHADOWS,
                        help=f"shadow models the shadow-based attacks share, trained with RUN's recipe on halves of "
                             f"its data and kept under RUN/privacy/shadows/ for reuse (default {DEFAULT_SHADOWS})")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes that train missing shadows in parallel, one torch thread each (default 1)")
    parser.add_argument("--output", choices=OUTPUTS, default="logits",
                        help="what the victim shows the attacker: logits, probabilities, or labels only (label-only "
                             "access: attacks that need scores are skipped) (default logits)")
    parser.add_argument("--output-defense", default="none",
                        help=f"a post-processor in front of the victim's answers, which the shadows answer through "
                             f"too (the attacker knows it): {SPEC_HELP}; top1 leaves the label-only attacks "
                             "(default none)")
    add_seed_device_flags(parser, "the shadows' halves and training, the subsampling, the attacks and the noise "
                                  "defense")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    for attack in ATTACKS:
        pairs = attack_parameters(attack)
        if pairs:
            add_class_options(parser.add_argument_group(f"options of {attack}"), [flagged for _, flagged in pairs])
    parser.set_defaults(handler=run_membership)


def attack_options(args: argparse.Namespace) -> dict[str, dict]:
    """{attack: {option: value}} of the attack options given on the command line."""
    options = {}
    for attack in ATTACKS:
        pairs = attack_parameters(attack)
        given = class_options(args, [flagged for _, flagged in pairs])
        named = {own.name: given[flagged.name] for own, flagged in pairs if flagged.name in given}
        if named:
            options[attack] = named
    return options


def run_membership(args: argparse.Namespace) -> int:
    config = MembershipRunConfig(run=args.run, attacks=parse_value(args.attacks, tuple[str, ...], "--attacks"),
                                 shadows=args.shadows, workers=args.workers, output=args.output,
                                 output_defense=args.output_defense,
                                 options=attack_options(args), seed=args.seed, device=args.device,
                                 threads=args.threads, progress=not args.no_progress)
    folder = membership_run(config)
    if not context().is_main:  # under torchrun rank 0 alone attacks, writes and prints
        return 0
    print_membership(json.loads((folder / RECORD).read_text()))
    for name in (RECORD, ROC_PICTURE, SCORES):
        print(f"{name.split('.')[0]}: {folder / name}")
    return 0


def earlier_note(record: dict, figures: dict) -> str:
    """For an attack kept from an earlier call that saw another output or output defense: what it saw."""
    output, defense = figures.get("output", record["output"]), figures.get("output_defense", "none")
    if (output, defense) == (record["output"], record.get("output_defense", "none")):
        return ""
    return f"  (earlier call: output {output}" + ("" if defense == "none" else f", output defense {defense}") + ")"


def print_membership(record: dict) -> None:
    """The table of the attacks' figures, then what was subsampled, skipped and trained."""
    defense = record.get("output_defense", "none")
    shown = "" if defense == "none" else f" behind the output defense {defense}"
    print(f"{record['members']} members vs {record['non_members']} non-members, victim output {record['output']}"
          f"{shown}")
    print(f"{'attack':<14} {'AUC':>7} {'TPR@0.1%':>9} {'TPR@1%':>8} {'seconds':>8}")
    for name, figures in record["attacks"].items():
        print(f"{name:<14} {figures['auc']:>7.4f} {100 * figures['tpr_at_0.1%_fpr']:>8.2f}% "
              f"{100 * figures['tpr_at_1%_fpr']:>7.2f}% {figures['seconds']:>8.2f}{earlier_note(record, figures)}")
    if record.get("subsampled"):
        part = record["subsampled"]
        print(f"{part['side'].replace('_', '-')} subsampled from {part['from']} to {part['to']} (balanced)")
    for name, why in record.get("skipped", {}).items():
        print(f"skipped {name}: {why}")
    if record.get("label_only_attacks") is not None:
        print(f"attacks that apply to a label-only victim: {', '.join(record['label_only_attacks']) or 'none'}")
    training = record.get("shadow_training")
    if training:
        rate = training["shadows_per_minute"]
        speed = f" in {training['seconds']:.1f} s, {rate:.1f} per minute with {training['workers']} workers" if rate \
            else ""
        print(f"shadows: {training['shadows']}; {training['trained']} trained{speed}; {training['reused']} reused")


__all__ = ["add_parsers"]
