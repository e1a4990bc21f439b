"""The metric benchmarks run end to end in --quick mode and write their tables.

Timings and verdicts are the benchmarks' business; here only that each runs, writes its document with the
command in it, and (for the birthday validation) that the quick estimates pass their own 2x check.
"""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def run_bench(script: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH / script), *argv], capture_output=True, text=True,
                          timeout=300)


def test_metrics_speed_quick_writes_its_table(tmp_path):
    out = tmp_path / "metrics_speed.md"
    # no peers venv here: the bench must still time advlab and prdc and say how to get the others
    done = run_bench("metrics_speed.py", "--quick", "--out", str(out), "--peers-python", str(tmp_path / "none"))
    assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    assert "python bench/metrics_speed.py" in text
    assert "FID" in text and "precision" in text and "prdc" in text


def test_birthday_validation_quick_passes_its_check(tmp_path):
    out = tmp_path / "birthday.md"
    done = run_bench("birthday_validation.py", "--quick", "--check", "--out", str(out))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    text = out.read_text()
    assert "within a factor of 2" in text and "birthday_validation.py" in text
