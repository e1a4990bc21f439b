"""bench/superres.py: the --quick run writes a page whose cells follow from the runs' own records.

Whether SRResNet beats bicubic is the full run's business (the quick networks train for a few steps); here: each
method's row holds RUN/eval/superres.json's means (which are the means of its per-image rows), s/step = summary.json
seconds / steps, the process record's peak RSS; SRGAN started from this SRResNet; apply wrote every photograph; the
page says how it was made and shows evaluate's figure; the findings' verdicts follow their numbers.
"""

import json
import statistics

import pytest
from helpers import assert_bench_refuses, load_bench, quick_bench_run, table_number, table_rows

QUICK_STEPS = {"srresnet": 10, "srgan": 3}
TITLES = {"bicubic": "bicubic", "srresnet": "SRResNet", "srgan": "SRGAN"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    done, text = quick_bench_run("superres", folder)
    return done, text, folder / "work"


number = table_number


def test_the_page_says_how_it_was_made(quick_run):
    done, text, work = quick_run
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| SRGAN |" in done.stdout  # printed too
    assert "`python bench/superres.py --quick --check --no-progress --pin none --work " in text
    assert "load average " in text and "- total time: " in text and "torch " in text
    assert "1 residual blocks of 8 channels" in text and "10 Adam steps at lr 0.001" in text
    figure = work / "runs" / "srgan" / "eval" / "superres.png"
    assert (work.parent / "superres.png").read_bytes() == figure.read_bytes()
    assert "](superres.png)" in text
    assert [row[2] for row in table_rows(text, "| check |")] == ["PASS"] * 4


def test_each_row_holds_the_evaluation_and_the_runs_records(quick_run):
    _, text, work = quick_run
    evaluation = json.loads((work / "runs" / "srgan" / "eval" / "superres.json").read_text())
    rows = {row[0]: row for row in table_rows(text, "| method |")}
    assert list(rows) == list(TITLES.values())
    for method, title in TITLES.items():
        row, figures = rows[title], evaluation[method]
        assert len(figures["per_image"]) == 5
        for key in ("psnr", "ssim", "feature_distance"):
            assert figures[key] == pytest.approx(statistics.fmean(image[key] for image in figures["per_image"]))
        assert row[1:4] == [f"{figures['psnr']:.2f}", f"{figures['ssim']:.4f}", f"{figures['feature_distance']:.5f}"]
        if method == "bicubic":
            assert row[4:] == ["—"] * 4
            continue
        run = work / "runs" / method
        summary = json.loads((run / "summary.json").read_text())
        assert summary["step"] == QUICK_STEPS[method] and number(row[4]) == QUICK_STEPS[method]
        assert number(row[5]) == pytest.approx(summary["seconds"] / QUICK_STEPS[method], abs=6e-5)
        assert summary["held_out_psnr"] == pytest.approx(figures["psnr"], abs=1e-6)  # the run's own figure agrees
        process = json.loads((run.parent / f"{method}.process.json").read_text())
        assert row[6] == f"{process['peak_rss_kb'] / 1024:,.0f} ({process['imports_rss_kb'] / 1024:,.0f})"
        assert number(row[7]) > 0
        assert len(list((work / "applied" / method).glob("*.png"))) == 5
    config = (work / "runs" / "srgan" / "config.yaml").read_text()
    assert f"init: {work / 'runs' / 'srresnet'}" in config


def test_findings_follow_their_numbers():
    bench = load_bench("superres")

    def method(psnr, distance, per_image):
        return {"psnr": psnr, "ssim": 0.5, "feature_distance": distance,
                "per_image": [{"psnr": p, "ssim": 0.5, "feature_distance": d} for p, d in per_image]}

    paper_like = {"bicubic": method(27.0, 0.030, [(27, 0.03), (27, 0.03)]),
                  "srresnet": method(28.0, 0.020, [(29, 0.02), (27.5, 0.02)]),
                  "srgan": method(27.5, 0.010, [(27.2, 0.01), (27.8, 0.03)])}
    found = bench.findings(paper_like)
    assert [check.verdict for check in found] == ["holds"] * 5
    assert found[1].measured == "28.00 vs 27.00 (2 of 2 images)"
    assert found[3].measured == "0.0100 vs 0.0200 (1 of 2 images)"  # the second image is further off
    worse = {**paper_like, "srresnet": method(26.0, 0.005, [(26, 0.005), (26, 0.005)])}
    verdicts = [check.verdict for check in bench.findings(worse)]
    assert verdicts == ["does not hold", "does not hold", "does not hold", "does not hold", "holds"]
    assert bench.findings(worse)[0].measured == "best: SRGAN (bicubic 27.00, SRResNet 26.00, SRGAN 27.50)"


@pytest.mark.parametrize(("argv", "message"), [
    (["--scale", "3"], "--scale must be 2, 4 or 8"),
    (["--patch", "30"], "--patch 30 is not a multiple of --scale 4"),
    (["--gan-steps", "0"], "--gan-steps must be at least 1"),
    (["--lr", "0"], "--lr and --gan-lr must be positive"),
])
def test_bad_flags_are_refused(argv, message, tmp_path, capsys):
    assert_bench_refuses("superres", argv, message, tmp_path / "superres.md", capsys)
