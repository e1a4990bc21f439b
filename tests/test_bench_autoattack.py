"""bench/autoattack.py runs end to end in --quick mode (advlab robustness against torchattacks' AutoAttack) and
writes its section into a page without touching the rest; the cells are what they say (gap = advlab - AutoAttack,
ratio = advlab's seconds / AutoAttack's, verdicts against the issue's criteria). Times depend on the machine, so
no time or verdict is asserted."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import load_bench, table_rows

BENCH = Path(__file__).resolve().parents[1] / "bench" / "autoattack.py"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results") / "robustness.md"
    out.write_text("# the robustness page\n\nbench/robustness_report.py's tables\n")
    done = subprocess.run([sys.executable, str(BENCH), "--data", "digits", "--quick", "--pin", "none", "--out",
                           str(out)], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out.parent / "autoattack.png").read_bytes().startswith(b"\x89PNG")
    return done, out.read_text()


def test_section_is_written_beside_the_rest_of_the_page(quick_run):
    _, page = quick_run
    assert page.startswith("# the robustness page\n\nbench/robustness_report.py's tables\n")
    assert page.count("<!-- autoattack:start -->") == 1 and page.rstrip().endswith("<!-- autoattack:end -->")
    assert "`python bench/autoattack.py --data digits --quick --pin none --out " in page
    assert "The first 20 held-out digits (8x8) at Linf eps 0.2." in page
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


def test_mnist_is_the_default_with_the_robustness_page_s_eps():
    bench = load_bench("autoattack")
    mnist, quick, digits = bench.parse_args([]), bench.parse_args(["--quick"]), bench.parse_args(["--data", "digits"])
    assert (mnist.data, mnist.eps, mnist.images, mnist.epochs, mnist.train_steps, mnist.train_eps, mnist.models) == (
        "mnist", (0.1, 0.2, 0.3, 0.4), 200, 20, 10, 0.3, ("pgd-at", "standard"))
    assert mnist.out.name == "robustness_mnist.md" and mnist.out.parent.name == "results"
    assert (quick.data, quick.eps, quick.images, quick.epochs, quick.models) == ("mnist", (0.3,), 20, 1, ("pgd-at",))
    # the digits mode is the earlier bench, unchanged
    assert (digits.eps, digits.images, digits.epochs, digits.train_eps, digits.out.name) == (
        (0.1, 0.2, 0.3), 200, 20, 0.2, "robustness.md")


def test_mnist_models_are_robustness_report_s_and_its_page_keeps_the_section(tmp_path):
    bench, report = load_bench("autoattack"), load_bench("robustness_report")
    ours, theirs = bench.parse_args(["--data", "mnist"]), report.parse_args(["--data", "mnist"])
    options = report.MODELS["pgd-at"][0]
    config = report.train_config("pgd-at", options, ours, tmp_path)
    assert (config.data, config.defense, config.eps, config.attack_steps, config.eps_warmup) == (
        "mnist", "pgd-at", 0.3, 10, 3)
    # the same config as the robustness page's model: a shared --work folder trains it once
    assert config == report.train_config("pgd-at", options, theirs, tmp_path)
    for data, settings in bench.DATA.items():
        assert settings["out"] == report.DATA[data]["out"]
    assert bench.SECTION in report.KEPT_SECTIONS  # robustness_report.py rewrites either page without losing it


def test_mnist_main_writes_its_section_and_picture(tmp_path, monkeypatch):
    """main's wiring in MNIST mode, the training and both attacks replaced by stand-ins: 4 images, advlab keeps
    rows 0-2 at every eps, AutoAttack rows 0-1 (so row 2 is broken only by AutoAttack)."""
    bench = load_bench("autoattack")
    record = {"n": 4, "unbroken": {f"{e:g}": [0, 1, 2] for e in (0.1, 0.2, 0.3, 0.4)}}
    monkeypatch.setattr(bench, "train_model", lambda name, *_: SimpleNamespace(run=tmp_path / name))
    monkeypatch.setattr(bench, "run_advlab", lambda run, args: {"seconds": 1.0, "record": record})
    monkeypatch.setattr(bench, "load_target", lambda trained, args, device: SimpleNamespace())
    monkeypatch.setattr(bench, "run_autoattack", lambda target, eps, args: {"seconds": 0.5, "robust": [0, 1]})
    monkeypatch.setattr(bench, "who_breaks", lambda target, eps, rows, args: {"Square": len(rows)})
    page = tmp_path / "robustness_mnist.md"
    page.write_text("# MNIST page\n")
    assert bench.main(["--pin", "none", "--out", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("# MNIST page\n") and text.count("<!-- autoattack:start -->") == 1
    assert "held-out MNIST digits (28x28" in text and "at Linf eps 0.1, 0.2, 0.3, 0.4." in text
    assert "PGD-AT: Linf eps 0.3, PGD-10, the eps ramped up over the first 3 epoch(s)" in text
    assert "![advlab against AutoAttack](autoattack_mnist.png)" in text
    assert (tmp_path / "autoattack_mnist.png").read_bytes().startswith(b"\x89PNG")
    rows = table_rows(text, "| model | eps |")
    assert [(row[0], row[1]) for row in rows] == [(m, e) for m in ("pgd-at", "standard") for e in ("0.1", "0.2", "0.3",
                                                                                                   "0.4")]
    assert all(row[2:6] == ["75.0", "50.0", "+25.0 FAIL", "1 (Square 1)"] for row in rows)
    timing = table_rows(text, "| model | advlab robustness, whole command")
    assert timing == [[m, "1.0", "2.0", "0.50 PASS"] for m in ("pgd-at", "standard")]
