"""bench/robustness_report.py runs end to end in --quick mode and writes tables that obey the report's invariants.

Which model is more robust is the full run's business (the quick models train for 2 epochs); here the
tables must have their shape and their numbers the relations that hold by construction: the worst case
is at most every single attack and the AutoAttack chain, at most the clean accuracy, and never rises
with eps; the peers stay inside their budget and the verdicts follow the gaps; certified accuracy never rises
with the radius, counts abstains as wrong, and is 0 beyond the largest radius n and alpha can certify.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import assert_bench_refuses, load_bench, table_rows

BENCH = Path(__file__).resolve().parents[1] / "bench" / "robustness_report.py"
NUMBER = r"\d+\.\d"
SINGLE = ("APGD-CE", "APGD-T", "Square", "FGSM", "PGD", "transfer")
CHAIN = "AutoAttack chain alone (APGD-CE → APGD-T → Square)"
WORST = "**worst case (advlab)**"


def percent(cell: str) -> float:
    assert re.fullmatch(NUMBER, cell), cell
    value = float(cell)
    assert 0 <= value <= 100, cell
    return value


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    out, work = folder / "robustness.md", folder / "work"
    # a subprocess, as the bench is meant to be run (it sets threads and CPU affinity for itself)
    done = subprocess.run([sys.executable, str(BENCH), "--data", "digits", "--quick", "--no-progress", "--work",
                           str(work), "--out", str(out)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, out.read_text(), folder


def test_quick_run_records_its_command_and_settings(quick_run):
    done, text, folder = quick_run
    assert text.startswith("# Robustness on digits")
    assert "| standard |" in done.stdout  # the page is printed too
    assert "`python bench/robustness_report.py --data digits --quick --no-progress --work " in text
    assert "- seeds: 0 " in text and "- total time: " in text
    assert (folder / "robustness.png").stat().st_size > 10_000
    assert "![robust accuracy and certified accuracy](robustness.png)" in text


def test_models_table(quick_run):
    _, text, _ = quick_run
    rows = table_rows(text, "| model | training | epochs")
    assert [row[0] for row in rows] == ["surrogate-mlp", "standard", "pgd-at", "trades", "noise"]
    for row in rows:
        assert row[2] == str(load_bench("robustness_report").QUICK["epochs"])
        percent(row[3])


def test_worst_case_table_obeys_the_invariants(quick_run):
    _, text, folder = quick_run
    bench = load_bench("robustness_report")
    rows = table_rows(text, "| model | clean acc % | eps 0.05")
    assert [row[0] for row in rows] == list(bench.DEFAULT_MODELS)
    for name, clean, *cells, passed, failed, seconds in rows:
        assert len(cells) == len(bench.DATA["digits"]["eps"])
        values = [percent(cell) for cell in cells]
        assert all(value <= percent(clean) for value in values), name
        assert values == sorted(values, reverse=True), name  # never rises with eps
        # the table shows what the run wrote to RUN/robustness.json, the report's stable interface
        record = json.loads((folder / "work" / name / "robustness.json").read_text())
        shown, total = map(int, passed.split("/"))
        # ten sanity checks, and "certified <= worst case" where IBP can bound the model (these CNNs: yes)
        assert total == 10 + record["certified"]["supported"] == len(record["checks"]) and 0 <= shown <= total
        assert (failed == "—") == (shown == total)
        assert int(seconds) >= 0
        assert [f"{100 * record['robust_accuracy'][k]:.1f}" for k in record["eps"]] == cells
        assert f"{100 * record['clean_accuracy']:.1f}" == clean


def test_worst_case_is_at_most_every_single_attack_and_peer_chain(quick_run):
    _, text, _ = quick_run
    rows = table_rows(text, "| model | attack | eps 0.05")
    by_model: dict[str, dict[str, list[str]]] = {}
    for model, attack, *cells in rows:
        by_model.setdefault(model, {})[attack] = cells
    assert list(by_model) == list(load_bench("robustness_report").DEFAULT_MODELS)
    for model, attacks in by_model.items():
        assert set(SINGLE) | {WORST, CHAIN} <= set(attacks), model
        worst = [percent(cell) for cell in attacks[WORST]]
        for attack in (*SINGLE, CHAIN):
            assert all(w <= percent(cell) for w, cell in zip(worst, attacks[attack])), (model, attack)
        peers = [name for name in attacks if name.startswith(("torchattacks", "ART"))]
        assert peers, model
        for peer in peers:
            assert all(cell in ("—", "n/a", "error") or re.fullmatch(NUMBER, cell) for cell in attacks[peer])


def test_comparison_table_matches_the_attack_table(quick_run):
    _, text, _ = quick_run
    rows = table_rows(text, "| model | eps | advlab worst case %")
    assert rows
    for model, eps, worst, chain, peer, theirs, gap, verdict, linf, seconds in rows:
        assert round(percent(worst) - percent(theirs), 1) == pytest.approx(float(gap), abs=0.11)
        assert percent(worst) <= percent(chain) and int(seconds) >= 0
        weaker = float(gap) > 2.0
        assert verdict.startswith("**advlab weaker") == weaker
        assert float(linf.split()[0]) <= float(eps) + 1e-5  # the peers' perturbations stay in the ball
        assert (f"**advlab is weaker than {peer}** on {model} at eps {eps}" in text) == weaker


def test_smoothing_table(quick_run):
    _, text, _ = quick_run
    bench = load_bench("robustness_report")
    rows = table_rows(text, "| base model | n | images")
    assert [row[0] for row in rows] == ["noise", "standard"]
    for base, n, images, clean, vote, abstains, *certified, largest, mean_radius, seconds in rows:
        assert int(n) == bench.QUICK["smooth_n"] and int(images) == bench.QUICK["smooth_images"]
        curve = [percent(cell) for cell in certified]
        percent(clean), percent(vote)
        assert float(mean_radius) <= float(largest) and int(seconds) >= 0
        assert len(curve) == 1 + len(bench.RADII)
        assert curve == sorted(curve, reverse=True)  # never rises with the radius
        assert curve[0] <= 100 * (1 - int(abstains) / int(images)) + 1e-9  # abstains are counted as wrong
        for radius, value in zip(bench.RADII, curve[1:]):
            if radius > float(largest):
                assert value == 0.0, (base, radius)  # beyond what n and alpha can certify
        assert "r = 0.5 (Linf 0.0625)" in text


@pytest.mark.parametrize("argv, message", [
    (["--models", "nope"], "unknown model(s) nope"),
    (["--peers", "foolbox"], "unknown peer(s) foolbox"),
    (["--eps", "0.1,x"], "--eps must be comma-separated numbers"),
    (["--eps", "2"], "at most 1"),
    (["--smooth-n", "5"], "--smooth-n"),
    (["--images", "0"], "--images must be at least 1"),
    (["--queries", "2"], "--queries must be at least 3"),
    (["--no-such-option"], "unrecognized arguments"),
])
def test_bad_arguments_are_refused(tmp_path, capsys, argv, message):
    assert_bench_refuses("robustness_report", argv, message, tmp_path / "x.md", capsys)


def test_mnist_is_the_default_with_madry_et_al_s_threat_model():
    bench = load_bench("robustness_report")
    mnist, digits = bench.parse_args([]), bench.parse_args(["--data", "digits"])
    assert (mnist.data, mnist.eps, mnist.train_eps, mnist.side, mnist.images) == ("mnist", (0.1, 0.2, 0.3, 0.4),
                                                                                   0.3, 28, 200)
    assert mnist.out.name == "robustness_mnist.md" and mnist.art_eps == (0.3,)
    assert (digits.eps, digits.train_eps, digits.images, digits.out.name) == ((0.05, 0.1, 0.2, 0.3), 0.2, 360,
                                                                              "robustness.md")
    config = bench.train_config("pgd-at", bench.MODELS["pgd-at"][0], mnist, Path("/nowhere"))
    assert (config.data, config.defense, config.eps, config.attack_steps) == ("mnist", "pgd-at", 0.3, 10)
