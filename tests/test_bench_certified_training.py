"""bench/certified_training.py runs end to end in --quick mode: a row per training and eps, the figures the kept runs
give when judged again, ART at most advlab, the checks and the picture, the exit status following the verdicts; the
checks judge synthetic results as stated; bad arguments are refused in one line."""

import pytest
import torch
from helpers import assert_bench_refuses, load_bench, quick_bench_run, table_rows


@pytest.fixture(scope="module")
def quick_page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("certified-training")
    done, text = quick_bench_run("certified_training", folder)
    return done, text, folder


def test_quick_page_has_a_row_per_training_and_eps_as_the_runs_recorded(quick_page):
    from advlab.defenses.ibp import certified_accuracy
    from advlab.pipelines.train_classifier import held_out_split, load_classifier

    done, text, folder = quick_page
    bench = load_bench("certified_training")
    assert "`python bench/certified_training.py --quick --check --no-progress --pin none --work " in text
    rows = table_rows(text, "| training | eps | clean | PGD-20 | worst case | IBP-certified |")
    assert [(row[0], row[1]) for row in rows] == [(t, e) for e in ("0.05", "0.1") for t in bench.TRAININGS]
    for training, eps, clean, pgd, worst, certified, per_seed, art, _ in rows:
        worst, certified = float(worst.split()[0]), float(certified.split()[0])
        assert 0 <= certified <= worst <= float(pgd) <= float(clean) <= 1, (training, eps)
        assert float(per_seed) == certified and float(art) <= certified + 1e-9
        if training == "plain":  # one model for both eps
            assert clean == rows[0][2]
        # the kept run, judged again on the same 40 held-out images, gives the row's clean and certified figures
        run = folder / "work" / (f"mlp-{training}-0" if training == "plain" else f"mlp-{training}-{eps}-0")
        model, _ = load_classifier(run, "cpu")
        images, labels = (part[:40] for part in held_out_split(run))
        with torch.no_grad():
            assert f"{float((model(images).argmax(1) == labels).double().mean()):.3f}" == clean
        assert f"{certified_accuracy(model, images, labels, float(eps)):.3f}" == f"{certified:.3f}"
    schedules = table_rows(text, "| schedule | width | epochs |")
    assert [row[0] for row in schedules] == ["digits-short"] and schedules[0][2] == "2"
    verdicts = {row[0].split(":")[0].split(" (")[0]: row[2] for row in table_rows(text, "| check | measured |")}
    assert verdicts["certified <= worst case for every model, seed and eps"] == "PASS"
    assert verdicts["ART's certified accuracy at most advlab's"] == "PASS"
    assert done.returncode == (1 if "FAIL" in verdicts.values() else 0)  # --check: the exit status follows them
    assert "![certified and worst-case accuracy against eps](certified_training.png)" in text
    assert (folder / "certified_training.png").stat().st_size > 10_000


def result(worst: float, certified: float, art: float | None = None, clean: float = 0.95) -> dict:
    """One seed's figures at eps 0.1, as measure() records them."""
    found = {"clean": clean, "pgd": {"0.1": worst}, "worst": {"0.1": worst}, "certified": {"0.1": certified},
             "sound": certified <= worst, "evidence": "", "seconds": 1.0, "art": {}}
    if art is not None:
        found["art"]["0.1"] = {"accuracy": art, "within": art <= certified, "extra": 0, "difference": 0.0}
    return found


def test_checks_judge_soundness_the_gaps_beyond_the_seeds_and_art():
    bench = load_bench("certified_training")
    eps_of = {"mlp": (0.1,), "cnn": (0.1,)}
    good = {("plain", None): [result(0.35, 0.0, 0.0)] * 2, ("pgd-at", 0.1): [result(0.76, 0.0, 0.0)] * 2,
            ("ibp", 0.1): [result(0.72, 0.64, 0.60), result(0.70, 0.62, 0.55)]}
    verdicts = [check.verdict for check in bench.checks({"mlp": good}, eps_of)]
    assert verdicts == ["PASS"] * 4  # sound, certified gap, worst-case gap, ART
    # seed 1: certified above its worst case (unsound), 16 points below PGD-AT; seed 0: ART certifies more than advlab
    bad = {**good, ("ibp", 0.1): [result(0.72, 0.64, 0.70), result(0.60, 0.62, 0.55)]}
    found = bench.checks({"mlp": bad}, eps_of)
    assert [check.verdict for check in found] == ["FAIL", "PASS", "FAIL", "FAIL"]
    assert "broken: ['mlp ibp 0.1 seed 1']" in found[0].measured and "mlp ibp eps 0.1 seed 0" in found[3].measured
    collapsed = {**good, ("ibp", 0.1): [result(0.72, 0.64), result(0.10, 0.10, clean=0.10)]}  # seed 1 collapsed
    found = bench.checks({"cnn": collapsed}, eps_of)
    assert [check.verdict for check in found] == ["PASS", "FAIL", "not judged", "PASS", "FAIL"]  # on SmallCNN the
    # worst-case gap to PGD-AT is measured only
    assert found[-1].what.startswith("IBP trains SmallCNN") and "lowest clean 10.0 %" in found[-1].measured


@pytest.mark.parametrize("argv, message", [
    (["--networks", "nope"], "unknown network(s) nope"),
    (["--schedules", "fast"], "unknown schedule(s) fast"),
    (["--peers", "foolbox"], "unknown peer(s) foolbox"),
    (["--seeds", "a,b"], "--seeds takes comma-separated integers"),
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--eps", "0"], "--eps takes comma-separated numbers in (0, 1]"),
    (["--grid", "0.1,x"], "--grid takes comma-separated numbers in (0, 1]"),
])
def test_bad_arguments_are_refused(tmp_path, capsys, argv, message):
    assert_bench_refuses("certified_training", argv, message, tmp_path / "x.md", capsys)
