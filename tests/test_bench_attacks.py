"""bench/attacks_vs_peers.py runs end to end in --quick mode and writes its tables.

Only the shape of the output is checked here: which verdicts come out is the benchmark's
business (timings above all), so no ratio or verdict is asserted, only that each cell holds
what its column says.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import assert_bench_refuses, load_bench, table_rows

BENCH = Path(__file__).resolve().parents[1] / "bench" / "attacks_vs_peers.py"
NUMBER = r"\d+\.\d+"
VERDICTS = ("PASS", "PASS (stronger)", "FAIL", "SKIP", "n/a (no peer ran)")


def is_percent_or_status(cell: str) -> bool:
    return bool(re.fullmatch(NUMBER, cell)) and 0 <= float(cell) <= 100 or cell in ("n/a", "error")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results") / "attacks_vs_peers.md"
    # a subprocess, as the bench is meant to be run (it sets threads and CPU affinity for itself)
    done = subprocess.run([sys.executable, str(BENCH), "--quick", "--out", str(out)], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, out.read_text()


def test_quick_run_writes_the_agreement_table(quick_run):
    done, text = quick_run
    bench = load_bench("attacks_vs_peers")
    assert "| fgsm |" in done.stdout  # the table is printed too
    assert "`python bench/attacks_vs_peers.py --quick --out " in text  # the exact command is recorded
    robust = [name for name in bench.CASES if name not in ("cw", "deepfool")]
    rows = table_rows(text, "| attack | budget | advlab robust acc %")
    assert [row[0] for row in rows] == robust
    for name, budget, mine, theirs, arts, gap_ta, gap_art, verdict, seconds in rows:
        assert budget
        for cell in (mine, theirs, arts):
            assert is_percent_or_status(cell), (name, cell)
        for cell in (gap_ta, gap_art):
            assert re.fullmatch(r"[+-]\d+\.\d|—", cell), (name, cell)
        assert verdict in VERDICTS, (name, verdict)
        assert all(re.fullmatch(NUMBER + "|—", part) for part in seconds.split(" / ")), (name, seconds)
    # FGSM is deterministic and the same arithmetic in all three libraries
    fgsm = rows[0]
    assert fgsm[2] == fgsm[3] == fgsm[4] and fgsm[7] == "PASS"


def test_quick_run_writes_the_minimum_norm_table(quick_run):
    _, text = quick_run
    rows = table_rows(text, "| attack | budget | advlab success %")
    assert [row[0] for row in rows] == ["cw", "deepfool"]
    for row in rows:
        assert len(row) == 10
        for cell in row[2:5]:
            assert is_percent_or_status(cell), row
        for cell in row[5:8]:
            assert re.fullmatch(NUMBER + "|nan|n/a|error", cell), row
        assert row[8] in VERDICTS


def test_quick_run_writes_the_speed_table(quick_run):
    _, text = quick_run
    bench = load_bench("attacks_vs_peers")
    rows = table_rows(text, "| case | floor ms")
    assert [row[0].split(":")[0] for row in rows] == list(bench.SPEED_CASES)
    for row in rows:
        assert len(row) == 11
        assert re.search(r"SmallCNN \d+x\d+, batch " + str(bench.QUICK["batch"]), row[0])
        for cell in row[1:5] + [row[5], row[7], row[9]]:
            assert re.fullmatch(NUMBER, cell) and float(cell) > 0, row
        assert row[6] in ("PASS", "FAIL") and row[8] in ("PASS", "FAIL") and row[10] in ("PASS", "FAIL")
    assert "per-round ratios" in text


@pytest.mark.parametrize("argv, message", [
    (["--cases", "nope"], "unknown case"),
    (["--speed", "fgsm"], "unknown speed case"),
    (["--rounds", "0"], "--rounds must be at least 1"),
    (["--no-such-option"], "unrecognized arguments"),
])
def test_bad_arguments_are_refused(tmp_path, capsys, argv, message):
    assert_bench_refuses("attacks_vs_peers", argv, message, tmp_path / "x.md", capsys)
