"""bench/training_defenses.py runs end to end in --quick mode: one row per objective, the checks it can judge,
the exact command; bad arguments are refused."""

import pytest
from helpers import assert_bench_refuses, load_bench, table_rows


@pytest.fixture(scope="module")
def quick_page(tmp_path_factory):
    out = tmp_path_factory.mktemp("training-defenses") / "page.md"
    bench = load_bench("training_defenses")
    assert bench.main(["--quick", "--images", "40", "--out", str(out)]) == 0
    return bench, out.read_text()


def test_quick_page_has_a_row_per_objective_and_its_checks(quick_page):
    bench, text = quick_page
    assert "`python bench/training_defenses.py --quick --images 40 --out " in text
    rows = table_rows(text, "| objective | clean | PGD-20 | worst case |")
    assert [row[0] for row in rows] == bench.QUICK["objectives"].split(",")
    for name, clean, pgd, worst, *_ in rows:
        assert 0 <= float(pgd) <= float(clean) <= 1 and float(worst.split()[0]) <= float(pgd) + 1e-9, name
    checks = [row[0] for row in table_rows(text, "| check | measured | verdict |")]
    assert any(check.startswith("pgd-at keeps at least 25 points") for check in checks)
    assert any(check.startswith("mart loses nothing against pgd-at") for check in checks)


def test_checks_judge_differences_per_seed():
    bench = load_bench("training_defenses")
    run = {"clean": 0.9, "pgd": 0.5, "seconds": 1.0}
    results = {"standard": [{**run, "worst": 0.30}] * 2,
               "pgd-at": [{**run, "worst": 0.70}, {**run, "worst": 0.72}],
               "mart": [{**run, "worst": 0.60}, {**run, "worst": 0.61}],
               "mixup": [{**run, "worst": 0.40}] * 2}
    verdicts = {check.what.split()[0]: check.verdict for check in bench.checks(results)}
    assert verdicts == {"pgd-at": "PASS", "mixup": "PASS", "mart": "FAIL"}  # MART 10 points below PGD-AT fails


@pytest.mark.parametrize("argv, message", [
    (["--objectives", "nope"], "unknown objective(s) nope"),
    (["--seeds", "a,b"], "--seeds takes comma-separated integers"),
    (["--epochs", "0"], "--epochs must be at least 1"),
])
def test_bad_arguments_are_refused(tmp_path, capsys, argv, message):
    assert_bench_refuses("training_defenses", argv, message, tmp_path / "x.md", capsys)
