"""bench/pacgan_stacked.py: PacGAN's Table 3 setting through advlab gan train, its table, checks and resumption."""

from __future__ import annotations

import json

from helpers import load_bench, table_rows


def fake_run(pack: int, seed: int, modes: list[int]) -> dict:
    return {"pack": pack, "seed": seed, "curve": [(1000 * (i + 1), m, 6.9 - m / 200) for i, m in enumerate(modes)]}


def test_the_check_compares_the_last_evaluation_seed_by_seed():
    bench = load_bench("pacgan_stacked")
    runs = [fake_run(1, 0, [5, 80]), fake_run(2, 0, [2, 300]), fake_run(1, 1, [9, 60]), fake_run(2, 1, [700, 59])]
    (check,) = bench.checks(runs, [1, 2], [0, 1])
    assert check.verdict == "FAIL" and check.measured == "300 vs 80; 59 vs 60"  # seed 1 fell back at the end
    runs[-1] = fake_run(2, 1, [700, 109])
    assert bench.checks(runs, [1, 2], [0, 1])[0].verdict == "FAIL"  # ahead, but by less than the margin of 50
    runs[-1] = fake_run(2, 1, [700, 110])
    assert bench.checks(runs, [1, 2], [0, 1])[0].verdict == "PASS"
    assert bench.checks([r for r in runs if r["pack"] == 2], [2], [0, 1]) == []  # nothing to compare with
    rows = table_rows("\n".join(bench.table(runs, [1, 2])), "| D |")
    assert rows[0][:5] == ["DCGAN (unpacked)", "2000", "70.0 ± 14.1", "6.55 ± 0.07", "80, 60"]
    assert rows[1][0] == "PacDCGAN2" and rows[1][2] == "205.0 ± 134.4" and "484.5" in rows[1][5]


def test_a_tiny_run_writes_the_page_and_a_longer_one_resumes_the_runs(tmp_path):
    bench = load_bench("pacgan_stacked")
    work, out = tmp_path / "work", tmp_path / "page" / "pacgan_stacked.md"
    argv = ["--quick", "--steps", "2", "--eval-every", "2", "--eval-samples", "100", "--no-progress",
            "--work", str(work), "--out", str(out)]
    assert bench.main(argv) == 0
    text = out.read_text()
    assert [row[:2] for row in table_rows(text, "| D |")] == [["DCGAN (unpacked)", "2"], ["PacDCGAN2", "2"]]
    assert "--model metz-dcgan --pack m --batch-size 128m" in text and "pack 2 covers at least 50 more modes" in text
    assert (out.parent / "pacgan_stacked_modes.png").stat().st_size > 1000
    assert (out.parent / "pacgan_stacked_pack2.png").is_file()
    config = (work / "pack2-seed0" / "config.yaml").read_text()
    assert "batch_size: 256" in config and "pack: 2" in config and "d_width: 2" in config
    assert bench.main([*argv[:2], "4", *argv[3:], "--packs", "2"]) == 0  # --steps 4: the run goes on from step 2
    steps = [json.loads(line)["step"] for line in (work / "pack2-seed0" / "metrics.jsonl").read_text().splitlines()
             if '"eval"' in line]
    assert steps == [2, 4]
    assert [row[:2] for row in table_rows(out.read_text(), "| D |")] == [["PacDCGAN2", "4"]]
    metrics = work / "pack2-seed0" / "metrics.jsonl"
    written = metrics.stat().st_mtime_ns
    assert bench.main([*argv[:2], "4", *argv[3:], "--packs", "2"]) == 0  # finished at --steps 4: read back
    assert metrics.stat().st_mtime_ns == written
