"""bench/translation.py: the pix2pix ablation's --quick run writes a page whose cells follow from the runs' records.

Whether L1+cGAN beats L1 is the full run's business; here: each objective's row holds its run's summary.json figures,
s/step = loop seconds / steps, the process record's peak RSS, and a task score that a segmenter retrained with the
same seed gives again on the applied PNG files; the ceiling row is that segmenter's score on the real held-out
scenes; the page says how it was made and shows its picture; the findings' verdicts follow their numbers.
"""

import json

import pytest
from helpers import assert_bench_refuses, load_bench, quick_bench_run, table_number, table_rows

OBJECTIVES = {"L1": "l1", "cGAN": "cgan", "L1+cGAN": "l1+cgan"}
QUICK_STEPS, QUICK_SIZE, QUICK_SEGMENTER_STEPS = 20, 16, 20


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    done, text = quick_bench_run("translation", folder)
    return done, text, folder / "work"


number = table_number


def test_the_page_says_how_it_was_made(quick_run):
    done, text, work = quick_run
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| L1+cGAN | 0 |" in done.stdout  # printed too
    assert "`python bench/translation.py --quick --check --no-progress --pin none --work " in text
    assert "load average " in text and "- total time: " in text and "torch " in text
    assert f"{QUICK_STEPS} steps at minibatch 4, width 8" in text and "seeds 0 " in text
    assert (work.parent / "translation.png").read_bytes().startswith(b"\x89PNG")
    assert "](translation.png)" in text
    assert [row[2] for row in table_rows(text, "| check |")] == ["PASS", "PASS", "PASS"]


def test_each_row_holds_its_runs_records(quick_run):
    _, text, work = quick_run
    rows = {row[0]: row for row in table_rows(text, "| objective | seed |")}
    for title, objective in OBJECTIVES.items():
        row, run = rows[title], work / "seed-0" / "runs" / objective
        summary = json.loads((run / "summary.json").read_text())
        config = (run / "config.yaml").read_text()
        assert f"objective: {objective}" in config and "seed: 0" in config and f"steps: {QUICK_STEPS}" in config
        assert summary["step"] == QUICK_STEPS
        assert row[1] == "0"
        assert row[5] == f"{summary['held_out_l1']:.4f}" and row[6] == f"{summary['held_out_psnr']:.2f}"
        assert row[7] == f"{summary['held_out_ssim']:.3f}"
        assert number(row[8]) == pytest.approx(summary["seconds"] / QUICK_STEPS, abs=6e-5)
        process = json.loads((run.parent / f"{objective}.process.json").read_text())
        assert row[9] == f"{process['peak_rss_kb'] / 1024:,.0f} ({process['imports_rss_kb'] / 1024:,.0f})"
        assert process["peak_rss_kb"] >= process["imports_rss_kb"] > 0
        assert number(row[10]) > 0
    records = json.loads((work / "records.json").read_text())["0"]["runs"]
    assert {objective for objective in records} == set(OBJECTIVES.values())


def test_the_task_scores_come_again_from_the_applied_files(quick_run):
    from advlab.data.paired_sets import load_paired
    from advlab.metrics.segmentation_score import segmentation_score, train_segmenter

    _, text, work = quick_run
    bench = load_bench("translation")
    data = load_paired("shapes", image_size=QUICK_SIZE, seed=0)
    segmenter = train_segmenter(data, seed=0, steps=QUICK_SEGMENTER_STEPS)
    rows = {row[0]: row for row in table_rows(text, "| objective | seed |")}
    for title, objective in OBJECTIVES.items():
        files = sorted((work / "seed-0" / "applied" / objective).glob("*.png"))
        assert len(files) == len(data.held_out.a)
        score = segmentation_score(segmenter, bench.read_outputs(files), data.held_out.a)
        assert int(score.confusion.sum()) == len(files) * QUICK_SIZE * QUICK_SIZE
        assert rows[title][2:5] == [f"{score.pixel_accuracy:.3f}", f"{score.class_accuracy:.3f}",
                                    f"{score.mean_iou:.3f}"]
    ceiling = segmenter.ceiling
    assert rows["real scenes (ceiling)"][2:5] == [f"{ceiling.pixel_accuracy:.3f}", f"{ceiling.class_accuracy:.3f}",
                                                  f"{ceiling.mean_iou:.3f}"]


def made_up(bench, seed, scores):
    """A SeedResult whose objectives have the given mean IoU (and pixel accuracy 0.5 + IoU / 2)."""
    runs = {objective: bench.Measured(objective, seed, bench.Path("."), score={
        "mean_iou": value, "pixel_accuracy": 0.5 + value / 2, "class_accuracy": value, "images": 10})
        for objective, value in scores.items()}
    ceiling = {"mean_iou": 0.99, "pixel_accuracy": 0.99, "class_accuracy": 0.99, "images": 10}
    return bench.SeedResult(seed, ceiling, ceiling, 1.0, 900, runs)


def test_a_finding_holds_only_at_every_seed():
    bench = load_bench("translation")
    always = [made_up(bench, 0, {"l1": 0.6, "cgan": 0.5, "l1+cgan": 0.7}),
              made_up(bench, 1, {"l1": 0.6, "cgan": 0.5, "l1+cgan": 0.65})]
    once = [made_up(bench, 0, {"l1": 0.6, "cgan": 0.5, "l1+cgan": 0.8}),
            made_up(bench, 1, {"l1": 0.6, "cgan": 0.9, "l1+cgan": 0.55})]
    assert bench.better(always, "l1+cgan", "l1", "mean_iou") == (
        "0.675 vs 0.600 (seed 0: 0.700 vs 0.600; seed 1: 0.650 vs 0.600)", "holds")
    assert bench.better(once, "l1+cgan", "l1", "mean_iou")[1] == "mixed"  # 0.675 vs 0.6, below at seed 1
    assert bench.better(once, "l1+cgan", "cgan", "mean_iou")[1] == "does not hold"  # 0.675 vs 0.7
    assert [check.verdict for check in bench.findings(always)] == ["holds"] * 4
    assert bench.seed_spread(once) == pytest.approx({"l1": 0.0, "cgan": 0.4, "l1+cgan": 0.25})
    assert bench.paired_gaps(once, "l1+cgan", "l1") == pytest.approx([0.2, -0.05])


@pytest.mark.parametrize(("argv", "message"), [
    (["--seeds", "a"], "--seeds takes seeds such as 0,1"),
    (["--steps", "0"], "--steps must be at least 1"),
    (["--image-size", "24"], "--image-size must be a power of two"),
])
def test_bad_flags_are_refused(argv, message, tmp_path, capsys):
    assert_bench_refuses("translation", argv, message, tmp_path / "translation.md", capsys)
