"""`advlab attack NAME RUN [options]`: any registered evasion attack against a classifier run.

One sub-command per entry of ``advlab.attacks.ATTACKS``, built when the parser is built, so a
newly registered attack appears without changes here. Its flags come from the attack's
``__init__`` signature (advlab.core.parameters, cli/class_flags.py) and their help from the
``Args:`` section of its docstring:

* ``int``, ``float``, ``str``: ``--steps 40``; ``bool``: ``--random-start false``; ``X | None``:
  ``none`` gives None; ``tuple[str, ...]``: ``--transforms rotate,scale``;
* ``eps``: one number, or a comma-separated list for a sweep (``--eps 0.05,0.1,0.2``);
* an ``nn.Module`` parameter (a surrogate model): the path of another classifier run.

The victim ``model`` is RUN's classifier; ``targeted`` is set by ``--targeted-by``/``--target`` and
the attack's ``seed`` by ``--seed``. Flags every attack shares: ``--n``, ``--batch-size``,
``--targeted-by``, ``--target``, ``--mask``, ``--output-defense`` (black-box attacks: what they see of the
answers, advlab.defenses.outputs), ``--seed``, ``--device``, ``--threads``, ``--out``, ``--overwrite``,
``--no-progress``. An attack parameter whose name is one of those gets the flag ``--attack-NAME``.

On an MNIST run (``advlab classifier train --data mnist``, the default data) the usual Linf budget is
eps 0.3: ``advlab attack pgd RUN --eps 0.3 --steps 40 --n 200`` attacks the first 200 held-out images,
which the run's stratified split deals class by class.
"""

from __future__ import annotations

import argparse
import inspect
import json
from pathlib import Path

from advlab.attacks import ATTACKS
from advlab.attacks.catalogue import catalogue, catalogue_text
from advlab.cli.attack_audio import add_audio_attack_parsers
from advlab.cli.class_flags import add_class_options, class_options
from advlab.cli.common import ExamplesFormatter, add_seed_device_flags
from advlab.core.distributed import context
from advlab.core.errors import AdvlabError
from advlab.core.parameters import Parameter, class_parameters
from advlab.defenses.outputs import SPEC_HELP
from advlab.pipelines.audio.attack_audio import AUDIO_ATTACKS
from advlab.pipelines.security.attack_run import (
    HANDLED,
    TARGET_RULES,
    AttackRunConfig,
    attack_run,
    comparison_table,
    defense_note,
)
from advlab.reports.attack_report import markdown_attack_table

EXAMPLES = """examples (an MNIST run: advlab classifier train --data mnist --out runs/clf):
  advlab attack --list                             # the catalogue: paper, threat model, access
  advlab attack pgd runs/clf --eps 0.3 --steps 40 --n 200
  advlab attack fgsm runs/clf --eps 0.1,0.2,0.3
  advlab attack cw runs/clf --n 100
  advlab attack square runs/clf --eps 0.3 --n 100 --output-defense noise:0.05
  advlab attack advgan runs/clf --eps 0.1          # trains a generator on the training rows, then one pass
  advlab attack advgan runs/clf --generator runs/clf/attacks/advgan/generator.safetensors
  advlab attack audio-cw runs/asr --target "one two three" --db -30   # a speech run (advlab audio train)
  advlab attack audio-pgd runs/asr --eps-db -25,-35,-45"""

SWEEPS = ("eps",)  # an eps list is a sweep: one result per eps
COMMON = ("run", "n", "batch_size", "targeted_by", "target", "mask", "output_defense", "seed", "device", "threads",
          "out", "overwrite", "no_progress", "handler", "command", "attack_name")


def add_parser(subparsers) -> None:
    attack = subparsers.add_parser(
        "attack", help="run an evasion attack against a classifier run (advlab classifier train)",
        description="Attack the held-out images of a classifier run (or, with audio-cw and audio-pgd, the held-out "
                    "utterances of a speech run); writes RUN/attacks/NAME (or NAME-2, ... when that exists: nothing "
                    "is overwritten) with results.json, table.md, grid PNGs and adversarial.npy (audio: WAV files).",
        epilog=EXAMPLES, formatter_class=ExamplesFormatter)
    attack.add_argument("--list", action=CatalogueAction, nargs=0,
                        help="print the catalogue of attacks (paper, threat model, access) and exit")
    names = list(ATTACKS)
    attacks = attack.add_subparsers(dest="attack_name", required=True,
                                    metavar="{" + ",".join(names + list(AUDIO_ATTACKS)) + "}")
    for name in names:
        add_attack_parser(attacks, name)
    add_audio_attack_parsers(attacks)


class CatalogueAction(argparse.Action):
    """``advlab attack --list``: the catalogue (advlab.attacks.catalogue), image and audio attacks, then exit."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(catalogue_text(catalogue({**ATTACKS, **AUDIO_ATTACKS})), end="")
        parser.exit()


def add_attack_parser(attacks, name: str) -> None:
    cls = ATTACKS[name]
    summary = (inspect.getdoc(cls) or name).splitlines()[0].split(": ``")[0].replace("``", "")
    parser = attacks.add_parser(name, help=summary, description=summary)
    parser.add_argument("run", help="the victim's classifier run directory")
    add_common_flags(parser)
    options = parser.add_argument_group(f"options of {name}")
    add_class_options(options, own_parameters(cls), COMMON, "attack", SWEEPS)
    parser.set_defaults(handler=run_attack)


def own_parameters(cls: type) -> list[Parameter]:
    """The attack's parameters that get a flag: all but those the run sets itself (HANDLED)."""
    return [parameter for parameter in class_parameters(cls) if parameter.name not in HANDLED]


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=None, help="attack the first N held-out images (default: all)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="attack this many images at a time; under torchrun the batches are shared out among "
                             "the processes (default: all at once)")
    parser.add_argument("--targeted-by", choices=TARGET_RULES, default=None,
                        help="a targeted attack, targets: next (label + 1), random (seeded) or least-likely "
                             "(the model's lowest logit)")
    parser.add_argument("--target", type=int, default=None, help="a targeted attack towards class K for every image")
    parser.add_argument("--mask", default=None,
                        help=".npy of 0/1 (1 = may change) that broadcasts to the images, e.g. (H, W)")
    parser.add_argument("--output-defense", default="none",
                        help=f"black-box attacks only: the attack sees the model's answers behind this post-processor "
                             f"and its success is judged on the real labels: {SPEC_HELP} (default none)")
    add_seed_device_flags(parser, "the attack, torch, random targets and the noise defense")
    parser.add_argument("--out", default=None,
                        help="directory to write (default RUN/attacks/NAME, or NAME-2, NAME-3, ... if that exists; "
                             "an explicit --out that holds files is refused unless --overwrite)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the attack directory (--out, or RUN/attacks/NAME) instead")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


# ---------------------------------------------------------------------- the handler


def run_attack(args: argparse.Namespace) -> int:
    name = args.attack_name
    options = class_options(args, own_parameters(ATTACKS[name]), COMMON, "attack", SWEEPS)
    if not Path(args.run).is_dir():
        raise AdvlabError(f"{args.run}: no such run directory")
    config = AttackRunConfig(attack=name, run=args.run, options=options, n=args.n, batch_size=args.batch_size,
                             targeted_by=args.targeted_by, target=args.target, mask=args.mask,
                             output_defense=args.output_defense, seed=args.seed,
                             device=args.device, threads=args.threads, out=args.out, overwrite=args.overwrite,
                             progress=not args.no_progress)
    out = attack_run(config)
    if not context().is_main:  # under torchrun rank 0 alone writes and prints
        return 0
    record = json.loads((out / "results.json").read_text())
    print(markdown_attack_table(record["rows"]), end="")
    if record.get("comparison"):
        print("\n" + comparison_table(record), end="")
    if record.get("output_defense"):
        print("\n" + defense_note(record), end="")
    print(f"attack: {out}")
    return 0


__all__ = ["add_parser"]
