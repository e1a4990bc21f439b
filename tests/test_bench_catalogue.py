"""bench/catalogue.py: the catalogue page agrees with the code (every registered attack in one row, every
installed peer class listed, every agreement case real), and its checks catch a drift."""

import pytest
from helpers import load_bench, table_rows


@pytest.fixture(scope="module")
def bench():
    return load_bench("catalogue")


def test_page_passes_its_checks_and_lists_every_attack(bench, tmp_path, capsys):
    out = tmp_path / "catalogue.md"
    assert bench.main(["--out", str(out), "--check", "--no-picture"]) == 0, capsys.readouterr().err
    text = out.read_text()
    assert "`python bench/catalogue.py --out " in text
    checks = table_rows(text, "| check | measured | verdict |")
    assert len(checks) == 4 and all(row[-1] in ("PASS", "SKIP") for row in checks), checks
    rows = table_rows(text, "| family | algorithm | paper | advlab |")
    named = " ".join(row[3] for row in rows)
    for name in bench.advlab_attacks():
        assert f"`{name}`" in named, name
    assert "(not yet)" not in named and "(absent)" not in text


def test_checks_catch_drift(bench):
    rows = bench.ROWS
    registered = {**bench.advlab_attacks(), "brand-new": object}
    assert bench.registry_check(rows, registered).verdict == "FAIL"
    assert "brand-new" in bench.registry_check(rows, registered).measured
    installed = bench.torchattacks_classes()
    if installed is not None:
        assert bench.peer_check(rows, "torchattacks", installed | {"NewAttack"}, "").verdict == "FAIL"
        assert bench.peer_check(rows, "torchattacks", installed - {"PGD"}, "").verdict == "FAIL"  # named, absent
    assert bench.cases_check(rows, set()).verdict == "FAIL"
    assert bench.peer_check(rows, "ART", None, "").verdict == "SKIP"


def test_picture_shows_each_family_on_one_digit(bench, tmp_path, capsys):
    out = tmp_path / "catalogue.md"
    assert bench.main(["--out", str(out), "--data", "digits"]) == 0, capsys.readouterr().err
    picture = tmp_path / "catalogue.png"
    assert picture.is_file() and picture.stat().st_size > 10_000
    text = out.read_text()
    assert "![one held-out digit under each family](catalogue.png)" in text
    for name in bench.PICTURE_ATTACKS:
        assert f"{name} {{" in text or f"{name} defaults" in text, name
