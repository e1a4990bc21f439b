"""Every registered attack has its `advlab attack NAME` subcommand, flags read from its signature; one of each
family runs end to end through the CLI and matches the same attack run directly."""

import functools
import json

import numpy as np
import pytest
import torch
from helpers import cli_classifier_run, run_cli

from advlab.attacks import ATTACKS
from advlab.cli.main import build_parser
from advlab.core.parameters import class_parameters
from advlab.pipelines.security.attack_run import HANDLED
from advlab.pipelines.train_classifier import held_out_split, load_classifier

QUIET = ["--device", "cpu", "--threads", "1", "--no-progress"]
# one attack per family, with a small budget: (name, flags, the same options for a direct run)
FAMILIES = [
    ("mi-fgsm", ["--eps", "0.2", "--steps", "5"], {"eps": 0.2, "steps": 5}),
    ("spsa", ["--eps", "0.2", "--samples", "8", "--queries", "120"], {"eps": 0.2, "samples": 8, "queries": 120}),
    ("jsma", ["--gamma", "0.1"], {"gamma": 0.1}),
    ("boundary", ["--queries", "150"], {"queries": 150}),
]


@functools.cache
def attack_commands() -> dict:
    """`advlab attack`'s subparsers by name (the parser is built once)."""
    parser = build_parser()
    return parser._subparsers._group_actions[0].choices["attack"]._subparsers._group_actions[0].choices


def attack_help(name: str) -> str:
    return attack_commands()[name].format_help()


@pytest.mark.parametrize("name", list(ATTACKS))
def test_every_attack_has_a_subcommand_with_a_flag_per_parameter(name):
    text = attack_help(name)
    for parameter in class_parameters(ATTACKS[name]):
        if parameter.name not in HANDLED:
            assert "--" + parameter.name.replace("_", "-") in text or f"--attack-{parameter.name}" in text, \
                (name, parameter.name)


@pytest.fixture(scope="module")
def victim(tmp_path_factory):
    return cli_classifier_run(tmp_path_factory.mktemp("catalogue-cli") / "clf",
                              ["--data", "digits", "--width", "8", "--epochs", "3", "--lr", "0.003", *QUIET])


@pytest.mark.parametrize("name, flags, options", FAMILIES, ids=[family[0] for family in FAMILIES])
def test_one_attack_per_family_runs_from_the_cli_as_it_runs_directly(victim, capsys, name, flags, options):
    status, out, err = run_cli(["attack", name, str(victim), "--n", "12", *flags, *QUIET], capsys)
    assert status == 0, err
    directory = victim / "attacks" / name
    record = json.loads((directory / "results.json").read_text())
    model, _ = load_classifier(victim, "cpu")
    images, labels = held_out_split(victim)
    seeded = {"seed": 0} if "seed" in {p.name for p in class_parameters(ATTACKS[name])} else {}
    torch.manual_seed(0)
    direct = ATTACKS[name](model, **options, **seeded).run(images[:12], labels[:12])[0]
    assert record["rows"][0]["robust_accuracy"] == direct.summary()["robust_accuracy"]
    assert np.array_equal(np.load(directory / "adversarial.npy"), direct.adversarial.numpy())
    assert "robust acc" in out
