"""bench/scaling.py times the digits DCGAN on 1 and 2 CPU processes (the 2 under torchrun) and writes a table whose
cells follow from the runs' own records: the loop seconds are summary.json's, steps/s = steps / loop seconds,
speed-up = t1 / t2 and efficiency = speed-up / 2; the 2-process run really was 2 processes (its checkpoint says so).
The speed-up's arithmetic and the robustness check are also tested on made-up measurements, where their answers
are known. Timings themselves belong to the bench, not to a test."""

import json
import re

import pytest
from helpers import assert_bench_refuses, load_bench, run_bench, table_rows

STEPS = 20  # --quick


@pytest.fixture(scope="module")
def gan_page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scaling")
    out, work = folder / "scaling.md", folder / "work"
    done = run_bench("scaling", ["--quick", "--workloads", "gan", "--processes", "1,2", "--devices", "cpu",
                                 "--tries", "3", "--work", str(work), "--out", str(out)], timeout=240)
    return done, out.read_text(), work


def cell_number(cell: str) -> float:
    assert re.fullmatch(r"[\d,]+\.?\d*", cell), cell
    return float(cell.replace(",", ""))


def test_the_page_says_how_it_was_made(gan_page):
    done, text, _ = gan_page
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| cpu | 1 | fp32 |" in done.stdout  # printed too
    assert "`python bench/scaling.py --quick --workloads gan --processes 1,2 --devices cpu --tries 3 " in text
    assert "logical CPUs" in text and "load average " in text and "OMP_NUM_THREADS=1" in text
    assert "## PGD-AT" not in text  # only the workload asked for


def test_gan_table_cells_follow_from_the_runs(gan_page):
    _, text, work = gan_page
    header = "| device | processes | precision | loop s"
    assert "| speed-up | efficiency |" in next(line for line in text.splitlines() if line.startswith(header))
    rows = {int(row[1]): row for row in table_rows(text, header)}
    assert sorted(rows) == [1, 2] and all(row[0] == "cpu" and row[2] == "fp32" for row in rows.values())
    loops = {}
    for processes, row in rows.items():
        run = work / "runs" / f"gan-cpu{processes}-fp32-round1"
        summary = json.loads((run / "summary.json").read_text())
        assert summary["step"] == STEPS
        assert row[3] == f"{summary['seconds']:.2f}"
        loops[processes] = summary["seconds"]
        assert cell_number(row[4]) == pytest.approx(STEPS / summary["seconds"], rel=0.01)  # steps/s
        assert cell_number(row[5]) == pytest.approx(STEPS * 64 / summary["seconds"], rel=0.01)  # images/s
        assert 0 < cell_number(row[10]) <= 2.5  # cores busy: CPU s / wall s of the command's processes
        record = json.loads(next((run / "checkpoints").glob("step-*.json")).read_text())
        assert record["world_size"] == processes
    assert rows[1][6] == "1.00" and rows[1][7] == "1.00"
    gain = loops[1] / loops[2]
    assert cell_number(rows[2][6]) == pytest.approx(gain, abs=0.006)
    assert cell_number(rows[2][7]) == pytest.approx(gain / 2, abs=0.006)
    assert cell_number(rows[2][8]) > 0  # wall seconds, start-up included
    checks = table_rows(text, "| check |")
    assert [row[2] for row in checks] == ["PASS", "PASS"], checks


def made_up(bench, workload, processes, loop, figures=None, wall=10.0):
    setting = bench.Setting("cpu", processes)
    return bench.Measured(workload, setting, loop=loop, wall=wall, work=100.0, images=6400.0,
                          figures=figures or {}, processes_seen=processes)


def test_speed_up_is_t1_over_tn_of_the_median_rounds():
    bench = load_bench("scaling")
    found = [made_up(bench, "gan", 1, loop) for loop in (2.0, 9.0, 2.2)] + \
        [made_up(bench, "gan", 2, loop, wall=5.0) for loop in (1.0, 1.1, 30.0)]
    rows = bench.rows_of(found)
    two = next(row for row in rows if row.setting.processes == 2)
    assert two.median("loop") == 1.1
    assert bench.speed_up(rows, two) == pytest.approx(2.2 / 1.1)
    assert bench.speed_up(rows, two, "wall") == pytest.approx(2.0)
    assert two.rate() == pytest.approx(100 / 1.1)
    line = next(line for line in bench.table_lines(rows, "gan") if line.startswith("| cpu | 2 |"))
    assert "| 2.00 | 1.00 | 5.0 | 2.00 |" in line  # speed-up, efficiency, wall, wall speed-up


def test_robustness_rows_must_repeat_the_one_process_record():
    bench = load_bench("scaling")
    same = {"robust_accuracy": {"0.1": 0.5}, "per_attack": {}, "unbroken": {"0.1": [1, 2]}, "chunks": 2}
    moved = {**same, "unbroken": {"0.1": [1, 3]}}
    for figures, verdict in ((same, "PASS"), (moved, "FAIL")):
        found = [made_up(bench, "robustness", 1, 1.0, same), made_up(bench, "robustness", 2, 0.6, figures)]
        checks = bench.run_checks(found, bench.rows_of(found))
        assert [check.verdict for check in checks] == ["PASS", "PASS", verdict]


def test_a_failed_run_fails_the_check():
    bench = load_bench("scaling")
    failed = bench.Measured("gan", bench.Setting("cpu", 2), error="exit -6: terminate called")
    found = [made_up(bench, "gan", 1, 1.0), failed]
    checks = bench.run_checks(found, bench.rows_of(found))
    assert checks[0].verdict == "FAIL" and checks[0].measured.startswith("1 of 2")
    assert "terminate called" in bench.table_lines(bench.rows_of(found), "gan")[-1]


@pytest.mark.parametrize(("argv", "message"), [
    (["--processes", "0"], "process counts of at least 1"),
    (["--workloads", "gan,nope"], "unknown workload(s) nope"),
    (["--processes", "1,3", "--batch-size", "64"], "cannot be split among 3 processes"),
    (["--steps", "0"], "--steps must be at least 1"),
])
def test_bad_flags_are_refused(argv, message, tmp_path, capsys):
    assert_bench_refuses("scaling", argv, message, tmp_path / "scaling.md", capsys)


def test_gpu_rows_are_planned_with_bf16_for_the_trainings():
    from argparse import Namespace

    bench = load_bench("scaling")
    plan = bench.settings(Namespace(devices=("cpu", "cuda"), processes=[1, 2], gpus=[1, 2, 4], bf16=True))
    assert [setting.label for setting in plan] == ["cpu x1 fp32", "cpu x2 fp32", "cuda x1 fp32", "cuda x2 fp32",
                                                   "cuda x4 fp32", "cuda x1 bf16", "cuda x4 bf16"]
    bf16 = plan[-1]
    assert bench.applies("gan", bf16) and bench.applies("pgd-at", bf16) and not bench.applies("robustness", bf16)
    command = bench.advlab_command(bf16, ["gan", "train"])
    assert command[1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "4", "-m", "advlab",
                           "--", "gan", "train"]
    assert bench.advlab_command(plan[0], ["gan", "train"])[1:] == ["-m", "advlab", "gan", "train"]
