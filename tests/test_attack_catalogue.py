"""advlab's catalogue of attacks (advlab.attacks.catalogue, ``advlab attack --list``): every registered attack
says where it comes from and what it needs."""

import re

import pytest
from helpers import run_cli

from advlab.attacks import ATTACKS
from advlab.attacks.catalogue import catalogue, catalogue_markdown
from advlab.pipelines.audio.attack_audio import AUDIO_ATTACKS

EVERY = {**ATTACKS, **AUDIO_ATTACKS}


@pytest.mark.parametrize("name", list(EVERY))
def test_every_attack_names_its_paper_and_registry_name(name):
    cls = EVERY[name]
    assert cls.name == name
    assert re.search(r"\b(19|20)\d\d\b", cls.paper), f"{name}: paper {cls.paper!r} has no year"
    assert cls.__doc__ and cls.__doc__.strip(), f"{name}: no docstring"


def test_threat_model_and_access_words():
    entries = {entry.name: entry for entry in catalogue(EVERY)}
    assert (entries["pgd"].threat, entries["pgd"].access) == ("Linf/L2 ball", "white-box")
    assert (entries["bim"].threat, entries["cw"].threat) == ("Linf ball", "minimum L2")
    assert (entries["fab"].threat, entries["fab"].access) == ("minimum Linf/L2/L1", "white-box")
    assert (entries["square"].access, entries["hopskipjump"].access) == ("black-box (scores)",
                                                                         "black-box (decisions)")
    assert entries["hopskipjump"].threat == "minimum L2/Linf"
    assert entries["transfer"].access == "black-box (transfer from a surrogate)"
    assert entries["patch"].threat.startswith("patch")
    assert entries["audio-cw"].threat.startswith("dB bound")


def test_list_prints_the_catalogue(capsys):
    status, out, err = run_cli(["attack", "--list"], capsys)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["attack", "threat", "model"]
    assert [line.split()[0] for line in lines[1:]] == list(EVERY)
    assert "Madry et al. 2018" in out and "black-box (decisions)" in out


def test_markdown_table_has_a_row_per_attack():
    text = catalogue_markdown(catalogue(ATTACKS))
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| attack")]
    assert [row.split(" | ")[0][2:] for row in rows] == list(ATTACKS)
