"""bench/attacks_vs_peers.py runs end to end in --quick mode and writes its tables.

Only the shape of the output is checked here: which verdicts come out is the benchmark's
business (timings above all), so no ratio or verdict is asserted, only that each cell holds
what its column says.
"""

import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import assert_bench_refuses, load_bench, table_rows

BENCH = Path(__file__).resolve().parents[1] / "bench" / "attacks_vs_peers.py"
NUMBER = r"\d+\.\d+"
VERDICTS = ("PASS", "PASS (stronger)", "FAIL", "SKIP", "n/a (no peer ran)")


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
    bench = load_bench("attacks_vs_peers")
    assert "| fgsm |" in done.stdout  # the table is printed too
    assert "`python bench/attacks_vs_peers.py --quick --out " in text  # the exact command is recorded
    robust = [name for name in bench.CORE_CASES if name not in ("cw", "deepfool")]
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
    bench = load_bench("attacks_vs_peers")
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
    assert_bench_refuses("attacks_vs_peers", argv, message, tmp_path / "x.md", capsys)


def test_mnist_settings_and_digits_defaults():
    bench = load_bench("attacks_vs_peers")
    mnist, digits = bench.parse_args(["--data", "mnist"]), bench.parse_args([])
    assert (mnist.images, mnist.linf_eps, mnist.bim_alpha, mnist.l2_eps) == (200, 0.1, 0.01, 1.0)
    assert mnist.speed_list == ["mnist28", "digits8-tiny", *bench.SQUARE_SPEED_CASES]
    assert mnist.out.name == "attacks_vs_peers_mnist.md" and mnist.case_list == list(bench.CASES)
    assert bench.parse_args(["--data", "mnist", "--quick"]).images == bench.QUICK["images"]
    # the digits mode, the default, is the earlier bench's: all held-out images, eps 0.1, its own page
    assert (digits.data, digits.images, digits.linf_eps, digits.bim_alpha, digits.l2_eps) == ("digits", None, 0.1,
                                                                                              0.01, 0.5)
    assert digits.speed_list == [*bench.SPEED_CASES, *bench.SQUARE_SPEED_CASES]
    assert digits.out.name == "attacks_vs_peers.md"


@pytest.mark.parametrize("data, linf, l2, square_words", [("mnist", 0.1, 1.0, "784 pixels of a 28x28 digit"),
                                                          ("digits", 0.1, 0.5, "64 pixels of an 8x8 digit")])
def test_cases_take_the_data_s_budgets(data, linf, l2, square_words):
    bench = load_bench("attacks_vs_peers")
    args = bench.parse_args(["--data", data])
    victim = SimpleNamespace(classes=10)  # the sides are built when a case runs: no model needed here
    cases = {name: make(victim, args) for name, make in bench.CORE_CASES.items()}
    assert {name: (case.norm, case.eps) for name, case in cases.items()} == {
        "fgsm": ("linf", linf), "bim": ("linf", linf), "pgd-linf": ("linf", linf), "pgd-l2": ("l2", l2),
        "apgd": ("linf", linf), "square": ("linf", linf), "cw": (None, None), "deepfool": (None, None)}
    assert cases["bim"].budget == f"Linf eps={linf}, alpha={args.bim_alpha}, 20 steps"
    assert square_words in cases["square"].stronger_why


def test_mnist_victim_holds_out_advlab_s_own_mnist_split():
    import torch

    from advlab.pipelines.classifier_config import ClassifierTrainConfig
    from advlab.pipelines.train_classifier import run_split

    images, labels, train, test = load_bench("peer_sides").victim_data("mnist", 28, torch.Generator().manual_seed(0))
    _, (classifier_train, classifier_test) = run_split(ClassifierTrainConfig(data="mnist"))
    assert torch.equal(train, classifier_train) and torch.equal(test, classifier_test)
    assert images.shape == (5000, 1, 28, 28) and len(test) == 1000
    assert labels[test[:10]].tolist() == list(range(10))  # dealt class by class: the first 500 hold 50 of each
    assert torch.bincount(labels[test[:500]]).tolist() == [50] * 10


def test_mnist_run_writes_its_page(tmp_path):
    """A short MNIST run (two cheap cases, the 28x28 speed case): the page says what it attacked."""
    out = tmp_path / "attacks_vs_peers_mnist.md"
    done = subprocess.run([sys.executable, str(BENCH), "--data", "mnist", "--quick", "--cases", "fgsm,pgd-l2",
                           "--speed", "mnist28", "--out", str(out)], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert text.startswith("# advlab's attacks side by side with torchattacks and ART on MNIST (28x28)")
    assert "Victim: SmallCNN on real MNIST 28x28, 1 epoch(s) of Adam" in text and "on 64 held-out images" in text
    rows = table_rows(text, "| attack | budget | advlab robust acc %")
    assert [(row[0], row[1].split(",")[0]) for row in rows] == [("fgsm", "Linf eps=0.1"), ("pgd-l2", "L2 eps=1.0")]
    assert rows[0][2] == rows[0][3] == rows[0][4]  # FGSM: the same arithmetic in all three libraries
    speed = table_rows(text, "| case | floor ms")
    assert [row[0] for row in speed] == ["mnist28: SmallCNN 28x28, batch 4"]
    assert "Speed victim (28x28): SmallCNN on real MNIST 28x28" in text
