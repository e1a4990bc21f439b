"""bench/autoattack.py runs end to end in --quick mode (advlab robustness against torchattacks' AutoAttack) and
writes its section into a page without touching the rest; the cells are what they say (gap = advlab - AutoAttack,
ratio = advlab's seconds / AutoAttack's, verdicts against the issue's criteria). Times depend on the machine, so
no time or verdict is asserted."""

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import load_bench, table_rows

BENCH = Path(__file__).resolve().parents[1] / "bench" / "autoattack.py"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results") / "robustness.md"
    out.write_text("# the robustness page\n\nbench/robustness_report.py's tables\n")
    done = subprocess.run([sys.executable, str(BENCH), "--quick", "--pin", "none", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out.parent / "autoattack.png").read_bytes().startswith(b"\x89PNG")
    return done, out.read_text()


def test_section_is_written_beside_the_rest_of_the_page(quick_run):
    _, page = quick_run
    assert page.startswith("# the robustness page\n\nbench/robustness_report.py's tables\n")
    assert page.count("<!-- autoattack:start -->") == 1 and page.rstrip().endswith("<!-- autoattack:end -->")
    assert "`python bench/autoattack.py --quick --pin none --out " in page
    assert "`advlab robustness RUN --eps 0.2 --n 20 --budget fast" in page
    assert "![advlab against AutoAttack](autoattack.png)" in page


def test_accuracy_rows_are_consistent(quick_run):
    _, page = quick_run
    rows = table_rows(page, "| model | eps |")
    assert [(row[0], row[1]) for row in rows] == [("pgd-at", "0.2")]
    for _, _, ours, theirs, gap, only_theirs, only_ours in rows:
        value, verdict = gap.split()
        assert float(value) == pytest.approx(float(ours) - float(theirs), abs=0.11)
        assert verdict == ("PASS" if float(value) <= 0.5 else "FAIL")
        assert 0 <= float(ours) <= 100 and 0 <= float(theirs) <= 100
        assert int(only_theirs.split()[0]) >= 0 and int(only_ours) >= 0
        # the images broken by only one side account for the whole difference (20 images: 5 points each)
        assert float(ours) - float(theirs) == pytest.approx(5 * (int(only_theirs.split()[0]) - int(only_ours)))


def test_timing_row_is_the_ratio_of_its_cells(quick_run):
    _, page = quick_run
    (model, ours, theirs, ratio), = table_rows(page, "| model | advlab robustness, whole command")
    value, verdict = ratio.split()
    assert model == "pgd-at" and float(ours) > 0 and float(theirs) > 0
    assert float(value) == pytest.approx(float(ours) / float(theirs), rel=0.03)  # the cells are rounded
    assert verdict == ("PASS" if float(value) <= 0.5 else "FAIL")


def test_a_rerun_replaces_its_section_in_place(tmp_path):
    benchlib = load_bench("benchlib")
    page = tmp_path / "page.md"
    page.write_text("head\n")
    benchlib.replace_section(page, "autoattack", "first")
    page.write_text(page.read_text() + "\ntail\n")
    benchlib.replace_section(page, "autoattack", "second")
    text = page.read_text()
    assert text == "head\n\n<!-- autoattack:start -->\nsecond\n<!-- autoattack:end -->\ntail\n"
    kept = benchlib.kept_sections(page, ("autoattack", "absent"))
    assert kept == "<!-- autoattack:start -->\nsecond\n<!-- autoattack:end -->\n"


def test_bad_flags_are_refused(tmp_path):
    for flags, words in ((["--eps", "0"], "--eps"), (["--models", "resnet"], "unknown model(s) resnet"),
                         (["--images", "0"], "--images must be at least 1")):
        done = subprocess.run([sys.executable, str(BENCH), *flags, "--out", str(tmp_path / "x.md")],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 2 and words in done.stderr, (flags, done.stderr)
        assert not (tmp_path / "x.md").exists()
