"""bench/train_overhead.py runs end to end in --quick mode and writes its table.

Only the shape of the output is checked here: timings belong to the benchmark, not to a unit
test, so the ratio is not asserted.
"""

import re
import subprocess
import sys
from pathlib import Path

from helpers import load_bench

BENCH = Path(__file__).resolve().parents[1] / "bench" / "train_overhead.py"


def test_quick_run_writes_table(tmp_path):
    bench = load_bench("train_overhead")
    out = tmp_path / "results" / "train_overhead.md"
    # a subprocess, as the bench is meant to be run: its workers import it as __main__
    done = subprocess.run([sys.executable, str(BENCH), "--quick", "--cases", "ring8,digits16",
                           "--out", str(out)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "| ring8:" in done.stdout  # the table is printed too
    text = out.read_text()
    assert "--quick" in text  # the exact command is recorded
    rows = [line for line in text.splitlines() if line.startswith("| ") and "ms/step" not in line]
    assert [row.split(":")[0] for row in rows] == ["| ring8", "| digits16"]
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert len(cells) == 9
        steps, plain, house, ratio, verdict, best, rss_plain, rss_house = cells[1:]
        assert int(steps) == bench.QUICK["steps"] * bench.QUICK["rounds"]
        for value in (plain, house, ratio, best, rss_plain, rss_house):
            assert re.fullmatch(r"\d+\.\d+", value) and float(value) > 0
        assert verdict in ("PASS", "FAIL")
    # both sides trained the very same models from the same initial weights
    assert text.count("same initial weights: yes") == 2


def test_unknown_case_is_refused(tmp_path, capsys):
    bench = load_bench("train_overhead")
    try:
        bench.main(["--cases", "nope", "--out", str(tmp_path / "x.md")])
    except SystemExit as exit_:
        assert exit_.code == 2
    else:
        raise AssertionError("an unknown case was accepted")
    assert "unknown case" in capsys.readouterr().err
    assert not (tmp_path / "x.md").exists()
