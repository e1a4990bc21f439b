"""bench/input_transforms.py runs end to end in --quick mode: a row per transform with the undefended model first, the
naive PGD and BPDA cells equal to what each defended run recorded (summary.json), the worst case's stand-in marked
where it did not run, ART's column, the picture, and --check's exit status following the verdicts; the checks judge
beyond the seeds' spread; bad arguments are refused in one line."""

import json

import pytest
from helpers import assert_bench_refuses, load_bench, quick_bench_run, table_rows

HEADER = "| defense | obfuscated gradients | clean |"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("input-transforms")
    done, text = quick_bench_run("input_transforms", folder)
    return done, text, folder


def test_page_says_how_it_was_made_and_shows_the_picture(quick_run):
    done, text, folder = quick_run
    assert text.startswith("# Input transformations against their adaptive attacks")
    assert "`python bench/input_transforms.py --quick --check --no-progress --pin none --work " in text
    assert "| undefended |" in done.stdout  # the page is printed too
    assert (folder / "input_transforms.png").read_bytes().startswith(b"\x89PNG")
    assert "](input_transforms.png)" in text
    assert done.returncode == (1 if "| FAIL |" in text else 0)  # --check follows the verdicts


def test_table_is_what_the_defended_runs_recorded(quick_run):
    _, text, folder = quick_run
    bench = load_bench("input_transforms")
    rows = {row[0]: row for row in table_rows(text, HEADER)}
    assert list(rows) == bench.QUICK["rows"].split(",")
    for name, row in rows.items():
        clean, pgd = float(row[2]), float(row[3])
        assert 0 <= pgd <= 1 and 0 <= clean <= 1, name
        if name == "undefended":
            assert row[4] == "(= PGD)" and float(row[5].split()[0]) <= clean
            continue
        warning = json.loads((folder / "work" / f"{name}-0" / "summary.json").read_text())["first_warning"]
        assert (warning["eps"], warning["n"], warning["attack_steps"]) == (0.1, 12, bench.STEPS)
        assert row[3] == f"{warning['pgd_accuracy']:.3f}" and row[4] == f"{warning['bpda_accuracy']:.3f}", name
    # tv-min's worst case does not run under --quick: BPDA's number stands in for it, marked
    assert rows["tv-min"][6] == rows["tv-min"][4] + "b" and rows["tv-min"][5].split()[0].endswith("*")
    assert not rows["bit-depth"][6].endswith("b")
    assert rows["bit-depth"][7] == "FeatureSqueezing" and rows["thermometer+at"][7] == "ThermometerEncoding"
    assert rows["undefended"][7] == "n/a"
    checks = [row[0] for row in table_rows(text, "| check | measured | verdict |")]
    assert any(check.startswith("thermometer+at holds") for check in checks)
    assert any(check.startswith("bit-depth: BPDA / the worst case at least 20 points below") for check in checks)


def test_checks_judge_beyond_the_seeds_spread():
    bench = load_bench("input_transforms")

    def run(pgd, worst, bpda=None, zero=None):
        return {"clean": 0.95, "pgd": pgd, "bpda": bpda if bpda is not None else worst, "worst": worst,
                "gradient_zero": zero, "art": None, "seconds": 1.0}

    results = {"undefended": [run(0.40, 0.40, zero=False), run(0.44, 0.44, zero=False)],
               "jpeg": [run(0.97, 0.41, zero=True), run(0.98, 0.45, zero=True)],  # broken: PASS twice
               "median": [run(0.30, 0.60, zero=False), run(0.30, 0.62, zero=False)],  # above undefended: FAIL
               "thermometer+at": [run(0.90, 0.70, zero=True), run(0.92, 0.72, zero=True)],  # holds
               "pixel-defend": [run(0.90, None, bpda=0.50), run(0.90, None, bpda=0.30)]}  # BPDA stands in
    verdicts = {check.what: check.verdict for check in bench.checks(results)}
    assert [v for what, v in verdicts.items() if what.startswith("jpeg")] == ["PASS", "PASS"]
    assert [v for what, v in verdicts.items() if what.startswith("median")] == ["FAIL"]
    assert [v for what, v in verdicts.items() if what.startswith("thermometer+at holds")] == ["PASS"]
    assert not any(what.startswith("thermometer+at: BPDA") for what in verdicts)  # the AT row has its own check
    # pixel-defend: 40 and 60 points below PGD (mean 50 - sd 14 >= 20): PASS; against the undefended model BPDA alone
    # is an upper bound of the worst case, which did not run: no verdict
    assert [v for what, v in verdicts.items() if what.startswith("pixel-defend")] == ["PASS", "NOT JUDGED"]
    assert verdicts[next(what for what in verdicts if what.startswith("the robustness report's gradient"))] == "PASS"


@pytest.mark.parametrize("argv, message", [
    (["--rows", "nope"], "unknown row(s) nope"),
    (["--seeds", "a,b"], "--seeds takes comma-separated integers"),
    (["--seeds", "0,0"], "--seeds takes distinct integers"),
    (["--images", "0"], "--images must be at least 1"),
    (["--pixelcnn-epochs", "0"], "--pixelcnn-epochs must be at least 1"),
])
def test_bad_arguments_are_refused(tmp_path, capsys, argv, message):
    assert_bench_refuses("input_transforms", argv, message, tmp_path / "x.md", capsys)
