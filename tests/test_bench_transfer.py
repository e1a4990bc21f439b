"""bench/transfer_table.py --quick runs end to end and writes its section of the page: a table per available attack
(source x target, the diagonal in brackets, an ensemble row), "n/a (not available)" for an attack not registered,
a summary whose means are those of the tables, checks, and the command; other sections of the page are kept."""

import math
import re

import pytest
from helpers import assert_bench_refuses, load_bench, run_bench, table_rows

from advlab.attacks import ATTACKS

QUICK_MODELS = ["cnn-narrow", "mlp", "mlp-shallow"]
DEFAULT_ATTACKS = ("fgsm", "pgd", "mi-fgsm", "di-fgsm", "ti-fgsm", "ni-fgsm", "si-ni-fgsm", "vmi-fgsm", "vni-fgsm",
                   "pi-fgsm")
KEPT = "<!-- transfer-mnist:start -->\nthe MNIST section\n<!-- transfer-mnist:end -->\n"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("transfer") / "transfer.md"
    out.write_text("# a page\n\n" + KEPT)
    done = run_bench("transfer_table", ["--quick", "--check", "--pin", "none", "--out", str(out)], timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]  # every check PASS (measured: each by a wide margin)
    return out.read_text()


def sections(text: str) -> dict[str, str]:
    """### heading -> its text."""
    parts = re.split(r"^### (.+)$", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def number(cell: str) -> float:
    return float(cell.strip("()"))


def test_the_section_sits_beside_the_rest_of_the_page(page):
    assert page.startswith("# a page\n\n" + KEPT)
    assert page.count("<!-- transfer-digits:start -->") == 1 and page.rstrip().endswith("<!-- transfer-digits:end -->")
    assert "## Transfer between models: digits" in page
    assert re.search(r"Command: `python bench/transfer_table.py --quick --check --pin none --out \S+transfer.md`",
                     page)
    assert "Linf eps 0.1" in page and "the first 100 held-out images" in page
    models = table_rows(page, "| model | architecture |")
    assert [row[0] for row in models] == QUICK_MODELS
    assert all(80 <= float(row[4]) <= 100 for row in models)


def test_one_table_per_attack_and_the_summary_is_their_mean(page):
    found, summary = sections(page), {row[0]: row for row in table_rows(page, "| attack | white-box")}
    assert list(summary) == list(DEFAULT_ATTACKS)
    assert "fgsm" in ATTACKS and "pgd" in ATTACKS
    for attack in DEFAULT_ATTACKS:
        if attack not in ATTACKS:
            assert "n/a (not available" in found[attack] and summary[attack][1] == "n/a (not available)"
            continue
        rows = table_rows(found[attack], "| source \\ target |")
        assert [row[0] for row in rows] == [*QUICK_MODELS, "ensemble of the others"]
        cells = {(row[0], target): row[1 + j] for row in rows for j, target in enumerate(QUICK_MODELS)}
        for (source, target), cell in cells.items():
            assert (cell.startswith("(") and cell.endswith(")")) == (source == target), (attack, source, target)
            assert 0 <= number(cell) <= 100
        diagonal = [number(cells[m, m]) for m in QUICK_MODELS]
        off = [number(cells[s, t]) for s in QUICK_MODELS for t in QUICK_MODELS if s != t]
        ensemble = [number(cells["ensemble of the others", t]) for t in QUICK_MODELS]
        white_box, transfer, fused = (float(cell) for cell in summary[attack][1:])
        assert white_box == pytest.approx(sum(diagonal) / 3, abs=0.1)  # the cells are rounded to 0.1
        assert transfer == pytest.approx(sum(off) / 6, abs=0.1)
        assert fused == pytest.approx(sum(ensemble) / 3, abs=0.1)
        assert white_box > transfer  # measured: 45 against 25 on the quick models


def test_checks_are_stated_with_their_measurements(page):
    checks = table_rows(page, "| check | measured | verdict |")
    summary = {row[0]: row for row in table_rows(page, "| attack | white-box")}
    available = [attack for attack in DEFAULT_ATTACKS if attack in ATTACKS]
    ensemble_rows = [row for row in checks if "the ensemble of the others transfers" in row[0]]
    assert [row[0].split(":")[0] for row in ensemble_rows] == available
    for what, measured, verdict in ensemble_rows:
        attack = what.split(":")[0]
        high, low = (float(value) for value in re.findall(r"[\d.]+(?= vs | \()", measured))
        assert (high, low) == (float(summary[attack][3]), float(summary[attack][2]))
        gap, noise = (float(value) for value in re.findall(r"([-+]?[\d.]+) points; noise ±([\d.]+)", measured)[0])
        assert gap == pytest.approx(high - low, abs=0.11) and noise > 0
        assert verdict == ("PASS" if gap >= -noise else "FAIL")
    momentum = [row for row in checks if row[0].startswith("mi-fgsm transfers")]
    assert len(momentum) == 2 and all((row[2] == "n/a") == ("mi-fgsm" not in ATTACKS) for row in momentum)
    assert all(row[2] in ("PASS", "FAIL", "n/a") for row in checks)


def test_noise_is_the_binomial_standard_error_of_a_difference():
    bench = load_bench("transfer_table")
    assert bench.noise((0.3, 300), (0.2, 300)) == pytest.approx(2 * math.sqrt(0.21 / 300 + 0.16 / 300))
    assert bench.at_least("x", (0.20, 300), (0.25, 300)).verdict == "PASS"  # 5 points: inside the noise (±6.7)
    assert bench.at_least("x", (0.10, 3000), (0.25, 3000)).verdict == "FAIL"


@pytest.mark.parametrize("argv, message", [
    (["--models", "mlp"], "--models needs at least 2 models"), (["--attacks", "nope"], "unknown attack(s) nope"),
    (["--images", "0"], "--images must be at least 1"), (["--models", "lenet,mlp"], "unknown model(s) lenet"),
    (["--eps", "0"], "--eps must lie in (0, 1]"),
])
def test_bad_flags_are_refused(argv, message, tmp_path, capsys):
    assert_bench_refuses("transfer_table", argv, message, tmp_path / "x.md", capsys)
