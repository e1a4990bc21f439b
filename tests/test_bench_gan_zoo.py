"""bench/gan_zoo.py: a --quick run writes its table and grids; the table's cells are computed as documented.

Training quality is the benchmark's business; here: every case and the real-data row get a row with numbers
in their columns, every case a picture linked from the page, the exact command and budget are recorded, bad
flags are refused, and the cells (mean ± std over seeds, modes/total, errors, divergence) are what they say.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import assert_bench_refuses, load_bench, table_rows

BENCH = Path(__file__).resolve().parents[1] / "bench" / "gan_zoo.py"
NUMBER = r"-?\d+(\.\d+)?(e[-+]\d+)?"


@pytest.mark.slow
def test_quick_run_writes_table_and_grids(tmp_path):
    out = tmp_path / "results" / "zoo.md"
    argv = ["--quick", "--data", "ring8,digits", "--cases", "mlp-hinge,dcgan", "--out", str(out)]
    # a subprocess, as the bench is meant to be run (its workers run the script again); the feature network
    # for 8x8 digits trains into the tests' temporary cache (ADVLAB_CACHE, set by conftest) in ~10 s
    done = subprocess.run([sys.executable, str(BENCH), *argv], capture_output=True, text=True, timeout=240,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert "| ring8 | mlp | hinge |" in done.stdout  # printed too
    assert "python bench/gan_zoo.py --quick --data ring8,digits" in text  # the exact command
    assert "0.05 min of training wall-clock" in text and "seeds 0" in text
    rows = table_rows(text, "| data |")  # the results table, the first on the page
    assert [row[:3] for row in rows] == [["ring8", "real data", "—"], ["ring8", "mlp", "hinge"],
                                         ["digits", "real data", "—"], ["digits", "dcgan", "nonsaturating"]]
    header = 15
    for row in rows:
        assert len(row) == header
    for row in (rows[1], rows[3]):  # trained cases: steps, ms/step, peak MB, FID ... KL all numbers
        data = row[0]
        assert int(row[3]) == 30 or 0 < int(row[3]) < 30  # the step cap or the budget, whichever came first
        for cell in [row[4]] + row[6:12] + [row[14]]:
            assert re.fullmatch(NUMBER, cell), (row, cell)
        peak, growth = re.fullmatch(r"(\d+) \(\+(-?\d+)\)", row[5]).groups()  # MB: "peak (+growth in training)"
        assert int(peak) > 50 and 0 <= int(growth) < int(peak)  # at least the Python process itself
        modes, total = row[12].split("/")
        assert 0 <= int(modes) <= int(total) == (8 if data == "ring8" else 10)
        assert (row[13] == "—") == (data == "digits")  # high quality: 2-D only
        # its picture exists and the page links it relative to itself
        picture = out.parent / "zoo" / f"{data}-{row[1] if data == 'digits' else 'mlp-hinge'}.png"
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](zoo/{picture.name})" in text
    # real data against itself: precision and recall near 1 for the 2-D mixture (fresh samples)
    assert float(rows[0][8]) > 0.8 and float(rows[0][9]) > 0.8
    assert "## Reading the table" in text


def test_bad_flags_are_refused(tmp_path, capsys):
    for argv, words in ((["--cases", "nope"], "unknown case nope"), (["--data", "fashion"], "unknown data fashion"),
                        (["--budget-minutes", "0"], "--budget-minutes must be positive"),
                        (["--seeds", "a"], "--seeds takes"), (["--image-size", "30"], "4 to 7 times a power of two"),
                        (["--data", "ring8", "--cases", "dcgan"], "no case fits --data ring8")):
        assert_bench_refuses("gan_zoo", argv, words, tmp_path / "x.md", capsys)


def fake_run(fid: float, modes: int, steps: int = 100, seconds: float = 2.0) -> dict:
    return {"steps": steps, "seconds": seconds, "peak_mb": 400.0, "start_mb": 380.0, "finite": True, "exact_peak": True,
            "settings": {"model": "dcgan", "loss": "nonsaturating", "k": 1, "pack": 1},
            "figures": {"fid": fid, "kid": 0.5, "precision": 0.25, "recall": 0.5, "density": 1.0, "coverage": 0.75,
                        "modes": modes, "total_modes": 10, "kl": 0.125}}


def test_cells_are_mean_and_std_over_seeds():
    bench = load_bench("gan_zoo")
    args = bench.parse_args(["--data", "digits", "--cases", "dcgan", "--seeds", "0,1"])
    row = bench.case_row("digits", "dcgan", [fake_run(10.0, 8, seconds=2.0), fake_run(20.0, 10, seconds=4.0)], args)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    # FID 10 and 20: mean 15, sample std 7.07; ms/step 20 and 40; modes 8 and 10 of 10
    assert cells[:6] == ["digits", "dcgan", "nonsaturating", "100 ± 0", "30 ± 14.1", "400 ± 0 (+20)"]
    assert cells[6] == "15 ± 7.07"
    assert cells[12] == "9/10 ± 1.41"
    assert cells[13] == "—"  # high quality is a 2-D figure
    assert bench.mean_std([3.0], ".3g") == "3" and bench.mean_std([None], ".3g") == "—"
    assert bench.mean_std([1234.4], ".3g") == "1234"  # no 1.23e+03 for a FID or 1000 modes


def test_errors_and_divergence_are_shown_in_place_of_figures():
    bench = load_bench("gan_zoo")
    args = bench.parse_args(["--data", "digits", "--cases", "dcgan"])
    failed = bench.case_row("digits", "dcgan", [{"error": "AdvlabError: boom"}], args)
    assert "error: AdvlabError: boom" in failed
    diverged = dict(fake_run(1.0, 1), finite=False)
    assert "diverged" in bench.case_row("digits", "dcgan", [diverged], args)
    wgan = dict(fake_run(1.0, 1), settings={"model": "mlp", "loss": "wgan-gp", "k": 5, "pack": 1})
    args = bench.parse_args(["--data", "ring8", "--cases", "mlp-wgan-gp"])
    assert bench.case_row("ring8", "mlp-wgan-gp", [wgan], args).startswith("| ring8 | mlp | wgan-gp, k=5 |")


def test_real_rows_have_a_cell_per_column():
    bench = load_bench("gan_zoo")
    args = bench.parse_args(["--data", "digits,ring8"])
    # digits: all 1,797 images are in the real sample, so only the evaluator's half-against-half figures exist
    halves = {"figures": {"real_fid": 21.4, "real_modes": 10, "real_kl": 0.001, "total_modes": 10,
                          "halves_only": True}}
    cells = [cell.strip() for cell in bench.case_row("digits", bench.REAL, [halves], args).strip("|").split("|")]
    assert len(cells) == len(bench.COLUMNS)
    assert cells[6] == "21.4 (halves)" and cells[12] == "10/10" and cells[14] == "0.001"
    held_out = {"figures": dict(fake_run(0.5, 8)["figures"], total_modes=8, high_quality=0.99)}
    cells = [cell.strip() for cell in bench.case_row("ring8", bench.REAL, [held_out], args).strip("|").split("|")]
    assert len(cells) == len(bench.COLUMNS)
    assert cells[12:] == ["8/8", "99", "0.125"]
    args = bench.parse_args(["--data", "digits", "--birthday"])
    assert len(bench.case_row("digits", bench.REAL, [halves], args).strip("|").split("|")) == len(bench.COLUMNS) + 1


def test_support_cell_shows_the_interval_and_a_lower_bound_without_duplicates():
    bench = load_bench("gan_zoo")

    def run(support, low, high, suffix="_features"):
        return {"figures": {f"support{suffix}": support, f"support_low{suffix}": low, f"support_high{suffix}": high}}

    assert bench.support_cell([run(500.0, 300.0, 900.0)], "images") == "500 [300, 900]"
    assert bench.support_cell([run(400.0, 250.0, 700.0), run(600.0, 350.0, 1100.0)], "images") == \
        "500 ± 141 [250, 1100]"
    # no near-duplicate in any batch: the estimate is unbounded (None once cleaned for JSON), the low end stands
    assert bench.support_cell([run(None, 2.5e5, None)], "images") == "> 250000"
    assert bench.support_cell([run(500.0, 300.0, 900.0), run(float("inf"), 8e4, float("inf"))], "images") == \
        "> 300"
    assert bench.support_cell([run(80.0, 60.0, 110.0, suffix="")], "points") == "80 [60, 110]"
    assert bench.support_cell([run(80.0, 60.0, 110.0, suffix="")], "images") == "—"  # images read features
    assert bench.support_cell([{"figures": {}}], "images") == "—"


def test_mnist_trains_at_its_own_size_unless_told_and_the_page_says_so():
    bench = load_bench("gan_zoo")
    args = bench.parse_args(["--data", "mnist,stacked-mnist,digits", "--cases", "dcgan,dcgan-pack2"])
    assert [bench.image_side(data, args) for data in args.data_list] == [None, None, 16]
    assert bench.sizes_line(args) == ("mnist 28x28 (its own; progan 32x32), stacked-mnist 28x28 (its own; progan "
                                      "32x32), digits 16x16")
    assert ("mnist", "dcgan-pack2") in bench.selected(args)
    told = bench.parse_args(["--data", "mnist", "--image-size", "14"])
    assert bench.image_side("mnist", told) == 14
