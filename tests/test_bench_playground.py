"""bench/playground_rate.py runs end to end in --quick mode against the real `advlab playground` and writes its
tables. Rates depend on the machine, so no rate is asserted; what is asserted is what must hold anywhere: frames
arrive, each frame advances exactly steps_per_frame steps (so steps/s = frames/s x steps_per_frame per tab), and
the breakdown's compute-bound rate is the formula it states."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import assert_bench_refuses, load_bench, table_rows

BENCH = Path(__file__).resolve().parents[1] / "bench" / "playground_rate.py"
NUMBER = r"\d+\.\d+"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results") / "playground.md"
    done = subprocess.run([sys.executable, str(BENCH), "--quick", "--pin", "none", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, out.read_text()


def test_quick_run_measures_frames_from_the_real_server(quick_run):
    done, text = quick_run
    bench = load_bench("playground_rate")
    assert "`python bench/playground_rate.py --quick --pin none --out " in text
    rows = table_rows(text, "| case | tabs |")
    assert [row[0] for row in rows] == [bench.CASES[name].description for name in bench.QUICK["cases"]]
    for name, (_, tabs, fps, steps, kb, frames, verdict) in zip(bench.QUICK["cases"], rows):
        case = bench.CASES[name]
        assert int(tabs) == case.clients
        assert float(fps) > 0 and int(frames) >= 2 * case.clients, (name, fps, frames)
        assert 10 < float(kb) < 200, (name, kb)  # a full frame: points, a 40x40 heatmap, the manifold, history
        per_tab = float(steps) / case.clients
        # every frame is steps_per_frame steps after the one before it
        assert per_tab == pytest.approx(float(fps) * case.options["steps_per_frame"], rel=0.35), (name, steps, fps)
        assert verdict in (("PASS", "FAIL") if name == bench.TARGET_CASE else ("",)), (name, verdict)
        assert "errors" not in verdict
    assert done.stdout.count("frames/s per tab") == len(rows)


def test_single_tab_steps_are_exactly_steps_per_frame_per_frame(quick_run):
    _, text = quick_run
    bench = load_bench("playground_rate")
    description, _, fps, steps, *_ = table_rows(text, "| case | tabs |")[0]
    assert description == bench.CASES["ring8"].description
    assert float(steps) == pytest.approx(float(fps) * 10, abs=1.0)  # rounding of the two cells


def test_breakdown_rate_is_its_formula(quick_run):
    _, text = quick_run
    rows = table_rows(text, "| case | ms / training step")
    assert [row[0] for row in rows] == ["ring8"]  # the multi-tab case has no in-process row
    _, step_ms, render_ms, encode_ms, kb, compute_fps = rows[0]
    assert all(re.fullmatch(NUMBER, cell) and float(cell) > 0 for cell in (step_ms, render_ms, encode_ms, kb))
    expected = 1000 / (10 * float(step_ms) + float(render_ms) + float(encode_ms))
    assert float(compute_fps) == pytest.approx(expected, rel=0.02)


@pytest.mark.parametrize("argv, message", [
    (["--cases", "nope"], "unknown --cases nope"),
    (["--seconds", "0"], "--seconds must be positive"),
    (["--repeats", "0"], "--repeats must be at least 1"),
    (["--pin", "x"], "--pin takes auto, none or CPU numbers"),
])
def test_bad_arguments_are_refused(tmp_path, capsys, argv, message):
    assert_bench_refuses("playground_rate", argv, message, tmp_path / "x.md", capsys)
