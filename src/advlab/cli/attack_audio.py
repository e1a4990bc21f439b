"""`advlab attack audio-cw RUN` and `advlab attack audio-pgd RUN`: adversarial audio against a speech model run.

Built beside the image attacks (cli/attack.py) when the parser is built: one sub-command per entry of
``advlab.pipelines.audio.AUDIO_ATTACKS``, its flags from the attack's ``__init__`` signature and ``Args:`` docstring
(cli/class_flags.py) like every attack's, and the flags every audio attack shares: ``--n``, ``--target``
(audio-cw), ``--eot``, ``--seed``, ``--device``, ``--threads``, ``--out``, ``--overwrite``, ``--no-progress``.
"""

from __future__ import annotations

import argparse
import inspect
import json
from pathlib import Path

from advlab.cli.class_flags import add_class_options, class_options
from advlab.cli.common import add_seed_device_flags
from advlab.core.errors import AdvlabError
from advlab.core.parameters import Parameter, class_parameters
from advlab.pipelines.audio.attack_audio import AUDIO_ATTACKS, HANDLED, AudioAttackRunConfig, audio_attack_run

SWEEPS = ("eps_db",)  # a list of PGD bounds is a sweep: one result per bound
COMMON = ("run", "n", "target", "eot", "seed", "device", "threads", "out", "overwrite", "no_progress", "handler",
          "command", "attack_name")


def audio_parameters(cls: type) -> list[Parameter]:
    return [parameter for parameter in class_parameters(cls) if parameter.name not in HANDLED]


def add_audio_attack_parsers(attacks) -> None:
    """Add audio-cw and audio-pgd to `advlab attack`'s sub-commands."""
    for name, cls in AUDIO_ATTACKS.items():
        summary = (inspect.getdoc(cls) or name).splitlines()[0].split(": ``")[0].replace("``", "")
        parser = attacks.add_parser(name, help=summary, description=summary)
        parser.add_argument("run", help="the speech model's run directory (advlab audio train)")
        parser.add_argument("--n", type=int, default=10, help="attack the first N held-out utterances (default 10)")
        if name == "audio-cw":
            parser.add_argument("--target", required=True,
                                help='the phrase the model must hear, e.g. "one two three" (words it knows)')
        parser.add_argument("--eot", type=int, default=0,
                            help="robust to playback: K simulated rooms (gain, reverberation, noise) per step, "
                                 "success judged over fresh rooms (default 0: none)")
        add_seed_device_flags(parser, "the attack and torch")
        parser.add_argument("--out", default=None, help="directory to write (default RUN/attacks/NAME, or NAME-2, ... "
                                                        "if that exists)")
        parser.add_argument("--overwrite", action="store_true", help="replace the attack directory instead")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        options = parser.add_argument_group(f"options of {name}")
        add_class_options(options, audio_parameters(cls), COMMON, "attack", SWEEPS)
        parser.set_defaults(handler=run_audio_attack)


def run_audio_attack(args: argparse.Namespace) -> int:
    name = args.attack_name
    if not Path(args.run).is_dir():
        raise AdvlabError(f"{args.run}: no such run directory")
    options = class_options(args, audio_parameters(AUDIO_ATTACKS[name]), COMMON, "attack", SWEEPS)
    config = AudioAttackRunConfig(attack=name, run=args.run, options=options, n=args.n,
                                  target=getattr(args, "target", None), eot=args.eot, seed=args.seed,
                                  device=args.device, threads=args.threads, out=args.out, overwrite=args.overwrite,
                                  progress=not args.no_progress)
    out = audio_attack_run(config)
    print((out / "table.md").read_text(), end="")
    record = json.loads((out / "results.json").read_text())
    print(f"success rate {record['summary']['success_rate']:.0%}; attack: {out} (listen: {out / 'adversarial'})")
    return 0


__all__ = ["add_audio_attack_parsers"]
