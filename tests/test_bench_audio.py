"""bench/audio_attacks.py: the --quick run writes a page whose cells follow from the runs' own records.

Whether C&W reaches its target is the full run's business (the quick recogniser trains for 40 steps and hears
nothing yet); here: the recogniser's row is its summary.json, the C&W rows cover every starting bound with
success shares that never fall as the iterations grow, the checks' verdicts follow their numbers, the page says how
it was made and shows its picture, and bad sizes are refused."""

import json
import shutil

import pytest
from helpers import assert_bench_refuses, quick_bench_run, table_rows

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    done, text = quick_bench_run("audio_attacks", folder)
    return done, text, folder


def percent(cell: str) -> float:
    return float(cell.rstrip("%")) / 100


def test_the_page_says_how_it_was_made(quick_run):
    done, text, folder = quick_run
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "`python bench/audio_attacks.py --quick --check --no-progress --pin none --work " in text
    assert (folder / "audio.png").stat().st_size > 1000 and "](audio.png)" in text
    checks = table_rows(text, "| check |")
    failed = [row for row in checks if row[2] == "FAIL"]
    assert (done.returncode == 1) == bool(failed)  # --check: exit 1 exactly when a check fails


def test_recogniser_row_is_its_summary(quick_run):
    _, text, folder = quick_run
    summary = json.loads((folder / "work" / "asr" / "summary.json").read_text())
    row = table_rows(text, "| data |")[0]
    held = summary["held_out_utterances"]
    assert row[1] == f"{summary['train_utterances'] + held} ({held})"
    assert float(row[3]) == pytest.approx(summary["test_wer"], abs=5e-4)
    verdict = {r[0]: r for r in table_rows(text, "| check |")}["recogniser: held-out word error rate <= 5%"]
    assert verdict[2] == ("PASS" if summary["test_wer"] <= 0.05 else "FAIL")


def test_cw_rows_cover_the_bounds_and_never_lose_successes(quick_run):
    _, text, _ = quick_run
    rows = table_rows(text, "| starting bound (dB) |")
    assert [row[0] for row in rows] == ["-30", "-35", "-40"]
    for row in rows:
        shares = [percent(cell) for cell in row[1:3]]
        assert shares == sorted(shares)  # success within k iterations can only grow with k


def test_bad_sizes_are_refused(tmp_path, capsys):
    assert_bench_refuses("audio_attacks", ["--attacked", "0"], "--attacked must be at least 1", tmp_path / "p.md",
                         capsys)
