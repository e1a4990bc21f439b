"""bench/attacks_vs_peers.py runs end to end in --quick mode and writes its tables.

Only the shape of the output is checked here: which verdicts come out is the benchmark's
business (timings above all), so no ratio or verdict is asserted, only that each cell holds
what its column says.
"""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "attacks_vs_peers.py"
NUMBER = r"\d+\.\d+"
VERDICTS = ("PASS", "PASS (stronger)", "FAIL", "SKIP", "n/a (no peer ran)")


def load_bench():
    if "attacks_vs_peers" in sys.modules:
        return sys.modules["attacks_vs_peers"]
    spec = importlib.util.spec_from_file_location("attacks_vs_peers", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["attacks_vs_peers"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def table_rows(text: str, header_start: str) -> list[list[str]]:
    """The cells of the rows of the table whose header line starts with `header_start`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("| "):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


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
    bench = load_bench()
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
    bench = load_bench()
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
    bench = load_bench()
    out = tmp_path / "x.md"
    with pytest.raises(SystemExit) as exit_:
        bench.main([*argv, "--out", str(out)])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
