"""bench/privacy_bench.py runs end to end in --quick mode and writes tables whose cells are what they say.

Whether LiRA beats the loss threshold is the full run's business (the quick target trains for a few epochs on
4 shadows); here the tables must have their shape, the numbers must agree with the records the pipelines wrote
(membership.json and scores.npz, inversion.json, extraction.json, summary.json's "dp"), with scikit-learn's AUC
of the saved scores, and with what holds by construction (a best balanced accuracy of at least 50 %, a TPR that
grows with the FPR), and every verdict must follow from its own numbers, with --check's exit status following
the verdicts.
"""

import json
import re

import numpy as np
import pytest
from helpers import assert_bench_refuses, load_bench, quick_bench_run, table_rows
from sklearn.metrics import roc_auc_score

ROWS = ("loss", "correctness", "shadow", "lira-online", "lira-offline", "rmia")
LAST_CALL = ("loss", "correctness", "shadow", "lira-online", "rmia")  # RUN/privacy/membership keeps these
RECORDED = {"lira-online": "lira"}  # table row -> attack name in membership.json


def number(cell: str) -> float:
    assert re.fullmatch(r"\d+\.\d+", cell), cell
    return float(cell)


def shown(value: float, digits: int = 1) -> float:
    """`value` (a share) as the page prints it, in %."""
    return float(f"{100 * value:.{digits}f}")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    done, text = quick_bench_run("privacy_bench", folder)
    return done, text, folder / "work"


def test_page_records_its_command_and_picture(quick_run):
    done, text, work = quick_run
    assert text.startswith("# Privacy bench on digits")
    assert "| loss |" in done.stdout  # the page is printed too
    assert "`python bench/privacy_bench.py --quick --check --no-progress --pin none --work " in text
    assert "load average " in text and "- total time: " in text and "opacus " in text
    picture = work.parent / "privacy_bench.png"
    assert picture.read_bytes().startswith(b"\x89PNG")
    assert "](privacy_bench.png)" in text


def test_targets_share_the_split_and_the_twin_spent_its_budget(quick_run):
    _, text, work = quick_run
    rows = {row[0]: row for row in table_rows(text, "| run | model |")}
    assert list(rows) == ["target", "dp", "logreg"]
    assert rows["target"][5] == rows["dp"][5] == "898 / 898"  # half of the 1,797 digits held out, balanced
    dp = json.loads((work / "target-dp" / "summary.json").read_text())["dp"]
    assert dp["epsilon"] <= 3.0 + 1e-9 and dp["delta"] == 1e-5
    assert rows["dp"][6].startswith(f"ε {dp['epsilon']:.2f} (δ 1e-05)")
    assert rows["target"][6] == "—"
    for name in ("target", "logreg"):
        summary = json.loads((work / name / "summary.json").read_text())
        assert number(rows[name][4]) == shown(summary["test_accuracy"])


def test_membership_table_shows_what_the_pipeline_recorded(quick_run):
    _, text, work = quick_run
    rows = table_rows(text, "| attack | method | online |")
    names = [row[0] for row in rows]
    assert names[:len(ROWS)] == list(ROWS)
    folder = work / "target" / "privacy" / "membership"
    record = json.loads((folder / "membership.json").read_text())
    assert record["members"] == record["non_members"] == 898 and record["shadows"] == 4
    saved = np.load(folder / "scores.npz", allow_pickle=False)
    by_name = {row[0]: row for row in rows}
    for name in LAST_CALL:
        attack = RECORDED.get(name, name)
        figures = record["attacks"][attack]
        auc, _, low, high = by_name[name][3:7]
        assert number(auc) == shown(figures["auc"])
        assert number(low) == shown(figures["tpr_at_0.1%_fpr"], 2)
        assert number(high) == shown(figures["tpr_at_1%_fpr"], 2)
        # scikit-learn's AUC of the scores the pipeline saved
        assert number(auc) == pytest.approx(100 * roc_auc_score(saved["is_member"], saved[attack]), abs=0.051)
    for row in rows:
        for start in (3, 7):  # the target's four cells, then the twin's
            auc, accuracy, low, high = map(number, row[start:start + 4])
            assert 0 <= auc <= 100 and 50 <= accuracy <= 100, row  # the threshold above every score: 50 %
            assert low <= high, row  # the TPR at 0.1 % FPR is read off before the one at 1 %
    assert by_name["lira-online"][2] == "yes" and by_name["lira-offline"][2] == "no"


def test_art_rows_and_the_shadow_models_table(quick_run):
    _, text, _ = quick_run
    names = [row[0] for row in table_rows(text, "| attack | method | online |")]
    if "art-shadow" not in names:
        pytest.skip("ART is not installed")
    assert names[len(ROWS):] == ["art-nn", "art-rf", "art-shadow"]
    seconds = {row[0]: row for row in table_rows(text, "| attack | overfit target s |")}
    assert "judged on the other half (898 examples)" in seconds["art-nn"][3]  # of the 1,796 balanced examples
    assert "4 shadows in" in seconds["art-shadow"][3]
    shadows = {row[0]: row[1:] for row in table_rows(text, "| shadow models |")}
    for column in range(2):
        assert shadows["shadows"][column] == "4"
        assert int(shadows["trained here"][column]) + int(shadows["reused"][column]) == 4
        if shadows["trained here"][column] != "0":
            rate = 60 * int(shadows["trained here"][column]) / float(shadows["training wall s"][column])
            assert float(shadows["shadows per minute"][column]) == pytest.approx(rate, rel=0.02)


def test_inversion_table_shows_the_records(quick_run):
    _, text, work = quick_run
    rows = table_rows(text, "| method | images per class |")
    assert [row[0] for row in rows] == ["mi-face", "gmi"]
    for method, images, accuracy, distance, *_ in rows:
        record = json.loads((work / "target" / "privacy" / "inversion" / method / "inversion.json").read_text())
        assert int(images) == record["images_per_class"] == 1
        assert number(accuracy) == shown(record["attack_accuracy"])
        assert number(distance) == float(f"{record['nearest_private_distance']:.3f}")
        per_class = [record["classes"][str(k)]["attack_accuracy"] for k in range(10)]
        assert record["attack_accuracy"] == pytest.approx(np.mean(per_class))  # the overall figure is their mean


def test_extraction_table_shows_the_records(quick_run):
    _, text, work = quick_run
    rows = {(row[0], row[1]): row for row in table_rows(text, "| method | output defense |")}
    assert list(rows) == [(method, defense) for method in ("knockoff", "jacobian", "equation-solving")
                          for defense in ("top1", "none")]
    for method in ("knockoff", "jacobian"):  # the undefended extraction ran last: its record is the one kept
        record = json.loads((work / "target" / "privacy" / "extraction" / method / "extraction.json").read_text())
        assert record["output_defense"] == "none"
        cells = rows[method, "none"]
        for column, budget in ((3, "100"), (4, "200")):
            fidelity, accuracy = map(number, cells[column].split(" / "))
            assert (fidelity, accuracy) == (shown(record["budgets"][budget]["fidelity"]),
                                            shown(record["budgets"][budget]["accuracy"]))
    assert rows["equation-solving", "top1"][2].startswith("refused: equation solving needs the victim's probabilities")
    record = json.loads((work / "logreg" / "privacy" / "extraction" / "equation-solving" /
                         "extraction.json").read_text())
    assert list(record["budgets"]) == ["65"]  # d + 1 for 8x8 images
    assert number(rows["equation-solving", "none"][2].split(" / ")[0]) == shown(record["budgets"]["65"]["fidelity"])


def test_checks_follow_their_numbers_and_set_the_exit_status(quick_run):
    done, text, _ = quick_run
    rows = table_rows(text, "| check | measured | verdict |")
    verdicts = [row[2] for row in rows]
    assert set(verdicts) <= {"PASS", "FAIL"}
    for what, measured, verdict in rows:
        if what.startswith("advlab's shadow attack within"):
            gap = abs(float.__sub__(*map(float, re.findall(r"\d+\.\d", measured))))
            if abs(gap - 5) > 0.1:  # clear of the rounding at the boundary
                assert verdict == ("PASS" if gap <= 5 else "FAIL")
        elif what.startswith("every attack's AUC falls toward 0.5"):
            closer, total, at_chance = map(int, re.match(r"(\d+) of (\d+) nearer 0.5, (\d+) more", measured).groups())
            assert verdict == ("PASS" if closer + at_chance == total else "FAIL")
        elif what.startswith("GMI's attack accuracy"):
            gmi, mi_face = map(float, re.findall(r"\d+\.\d", measured))
            assert verdict == ("PASS" if gmi > mi_face else "FAIL")
        elif what.startswith("equation solving"):
            fidelity = float(re.search(r"fidelity ([0-9.]+) %", measured).group(1))
            error, bound = map(float, re.search(r"weight error ([0-9.e+-]+) <= bound ([0-9.e+-]+) ", measured).groups())
            assert verdict == ("PASS" if fidelity == 100 and error <= bound * 1.05 else "FAIL")
    assert done.returncode == (1 if "FAIL" in verdicts else 0)


def test_membership_calls_hold_each_attack_once():
    bench = load_bench("privacy_bench")
    assert bench.membership_passes(ROWS) == [["loss", "correctness", "shadow", "lira-online", "rmia"],
                                             ["lira-offline"]]
    assert bench.membership_passes(("lira-offline", "loss", "lira-online")) == [["lira-offline", "loss"],
                                                                                 ["lira-online"]]


def test_art_knows_half_of_each_side():
    bench = load_bench("privacy_bench")
    is_member = np.r_[np.ones(7, bool), np.zeros(5, bool)]
    known = bench.known_half(is_member, seed=0)
    assert known[is_member].sum() == 3 and known[~is_member].sum() == 2
    assert (bench.known_half(is_member, seed=0) == known).all()


@pytest.mark.parametrize("argv, message", [
    (["--epsilon", "0"], "--epsilon must be positive"),
    (["--delta", "1"], "--delta must lie strictly between 0 and 1"),
    (["--shadows", "3"], "--shadows must be at least 4 (online LiRA"),
    (["--shadows", "1", "--attacks", "loss,shadow"], "--shadows must be at least 2"),
    (["--attacks", "loss,nope"], "unknown attack(s) nope"),
    (["--queries", "500,lots"], "--queries takes budgets separated by commas"),
    (["--queries", "0"], "--queries takes budgets of at least 1 query"),
    (["--dp-epochs", "0"], "--dp-epochs must be at least 1"),
    (["--data", "cifar"], "invalid choice: 'cifar'"),
])
def test_bad_flags_are_refused_before_any_work(argv, message, tmp_path, capsys):
    assert_bench_refuses("privacy_bench", argv, message, tmp_path / "page.md", capsys)
