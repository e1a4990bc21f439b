"""bench/backdoor_bench.py runs end to end in --quick mode and writes tables whose cells are what they say.

Which defense wins is the full run's business (the quick models train for 2 epochs); here the tables must have
their shape, the numbers must agree with the records the pipelines wrote (poison.json, detection.json), the
relations that hold by construction must hold (no poison at budget 0, ratios of the times), and every verdict must
follow from its own numbers, with --check's exit status following the verdicts.
"""

import json
import re

import pytest
from helpers import assert_bench_refuses, load_bench, quick_bench_run, table_rows

NUMBER = r"\d+\.\d"


def percent(cell: str) -> float:
    assert re.fullmatch(NUMBER, cell), cell
    value = float(cell)
    assert 0 <= value <= 100, cell
    return value


def triple(cell: str) -> tuple[float, float | None, float | None]:
    """A 'CA / ASR / RA' cell as numbers (None for a dash)."""
    parts = cell.split(" / ")
    assert len(parts) == 3, cell
    return percent(parts[0]), *(None if part == "—" else percent(part) for part in parts[1:])


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    done, text = quick_bench_run("backdoor_bench", folder)
    return done, text, folder


def test_page_records_its_command_and_picture(quick_run):
    done, text, folder = quick_run
    assert text.startswith("# Backdoor bench on digits at 16 px")
    assert "| badnets |" in done.stdout  # the page is printed too
    assert "`python bench/backdoor_bench.py --quick --check --no-progress --pin none --work " in text
    assert "- seeds: 0 " in text and "- total time: " in text and "load average " in text
    assert (folder / "backdoor_bench.png").read_bytes().startswith(b"\x89PNG")
    assert "](backdoor_bench.png)" in text


def test_attack_table_shows_what_the_runs_recorded(quick_run):
    _, text, folder = quick_run
    bench = load_bench("backdoor_bench")
    header = "| attack | poisons / train | no defense |"
    assert header + " spectral → retrain | AC → retrain | STRIP filter | fine-pruning | NC unlearning |" in text
    rows = table_rows(text, header)
    assert [row[0] for row in rows] == ["clean", *bench.QUICK_ATTACKS]
    clean, badnets = rows
    assert clean[1] == "—"
    for cell in clean[2:]:
        assert triple(cell)[1:] == (None, None)  # the clean model has no trigger
    record = json.loads((folder / "work" / "badnets" / "poison.json").read_text())
    assert badnets[1] == f"{record['poisons']} / {record['train_size']}"
    ca, asr, ra = triple(badnets[2])
    assert ca == float(f"{100 * record['clean_accuracy']:.1f}")
    assert asr == float(f"{100 * record['attack_success_rate']:.1f}")
    assert asr + ra <= 100.05  # a triggered image goes to the target or stays right, never both
    for cell in badnets[3:]:
        ca, asr, ra = triple(cell)
        assert asr is not None and asr + ra <= 100.05
    # the repairs wrote ordinary derived runs whose poison.json carries the figures after and before
    repaired = json.loads((folder / "work" / "badnets-fine-pruning" / "poison.json").read_text())
    assert repaired["repair"]["method"] == "fine-pruning"
    assert repaired["repair"]["before"]["attack_success_rate"] == record["attack_success_rate"]
    assert float(triple(badnets[6])[1]) == float(f"{100 * repaired['attack_success_rate']:.1f}")


def test_detection_table_shows_the_detections(quick_run):
    _, text, folder = quick_run
    rows = table_rows(text, "| attack | spectral TPR / FPR % |")
    assert [row[0] for row in rows] == ["clean", "badnets"]
    for name, spectral, _, ac, _, strip, _, flagged, index, _ in rows:
        for detector, cell in (("spectral", spectral), ("activation-clustering", ac), ("strip", strip)):
            record = json.loads((folder / "work" / name / "detect" / detector / "detection.json").read_text())
            tpr, fpr = cell.split(" / ")
            if name == "clean":  # no truth: the share flagged
                assert tpr == "—"
                assert float(fpr) == float(f"{100 * len(record['flagged']) / record['size']:.1f}")
            else:
                assert (float(tpr), float(fpr)) == (float(f"{100 * record['tpr']:.1f}"),
                                                    float(f"{100 * record['fpr']:.1f}"))
        nc = json.loads((folder / "work" / name / "detect" / "neural-cleanse" / "detection.json").read_text())
        assert flagged == (", ".join(map(str, nc["flagged"])) or "none")
        assert (index == "—") == (name == "clean")


def test_availability_curves_start_from_the_same_clean_set(quick_run):
    _, text, _ = quick_run
    rows = table_rows(text, "| victim | poison | 0 poisons |")
    assert [(row[0], row[1]) for row in rows] == [
        ("linear SVM", "random label flips"), ("linear SVM", "SVM poisons (Biggio)"),
        ("logistic regression", "random label flips"), ("logistic regression", "back-gradient (Muñoz-González)")]
    by_victim: dict[str, set[str]] = {}
    for victim, _, clean, *rest in rows:
        percent(clean)
        for cell in rest[:-1]:
            percent(cell)
        by_victim.setdefault(victim, set()).add(clean)
    assert all(len(cells) == 1 for cells in by_victim.values())  # no poison at budget 0: one clean error per victim
    assert "`advlab poison label-flip --data digits --rate 0.2`" in text


def follows(verdict: str, passed: bool, borderline: bool) -> bool:
    """Whether `verdict` is what the shown numbers give (either way when rounding leaves them on the boundary)."""
    return borderline or verdict == ("PASS" if passed else "FAIL")


def test_peer_verdicts_follow_their_numbers(quick_run):
    _, text, _ = quick_run
    if "## Side by side with IBM ART" not in text:
        pytest.skip("ART is not installed")
    rows = table_rows(text, "| what | advlab | ART | verdict |")
    assert any("PoisoningAttackBackdoor" in row[0] for row in rows)
    for what, ours, theirs, verdict, _ in rows:
        if "PoisoningAttackBackdoor" in what:
            gap = abs(float(ours.split(" / ")[1]) - float(theirs.split(" / ")[1]))
            assert follows(verdict, gap <= 3, abs(gap - 3) < 0.15), what
        elif "spectral" in what:
            (tpr, fpr), (art_tpr, art_fpr) = map(float, ours.split(" / ")), map(float, theirs.split(" / "))
            assert follows(verdict, tpr >= art_tpr and fpr <= art_fpr + 0.5,
                           abs(tpr - art_tpr) < 0.1 or abs(fpr - art_fpr - 0.5) < 0.1), what
        elif "PoisoningAttackSVM" in what:
            assert follows(verdict, float(ours) >= float(theirs), abs(float(ours) - float(theirs)) < 0.1), what
        else:
            assert verdict == "(reported)", what
    timings = table_rows(text, "| step | advlab CPU s | ART CPU s |")
    assert timings
    for step, ours, theirs, ratio, our_wall, their_wall, same, verdict, note in timings:
        ours, theirs = float(ours), float(theirs)
        assert float(ratio) == pytest.approx(ours / theirs, rel=0.02, abs=0.006), step
        assert float(our_wall) > 0 and float(their_wall) > 0, step
        checking = re.search(r"input check inside the call \(.*\): ([0-9.]+(?:e-?\d+)?) s", note)
        if verdict == "PASS (less the input check)":  # only advlab validates its input: its time less that check
            assert checking and theirs < ours <= theirs + float(checking.group(1)) * 1.01, step
        else:
            assert same == "yes" and follows(verdict, ours <= theirs, abs(ours - theirs) <= 0.001 * theirs), step


def test_checks_follow_their_numbers_and_set_the_exit_status(quick_run):
    done, text, _ = quick_run
    rows = table_rows(text, "| check | measured | verdict |")
    assert rows
    verdicts = [row[2] for row in rows]
    assert set(verdicts) <= {"PASS", "PASS (less the input check)", "FAIL", "SKIP (the attack did not fire)"}
    for what, measured, verdict in rows:
        if what.startswith("badnets fires"):
            asr, ca, clean = map(float, re.findall(NUMBER, measured))
            assert verdict == ("PASS" if asr >= 90 and clean - ca <= 2 else "FAIL")
        if what.startswith("Neural Cleanse flags no class"):
            assert verdict == ("PASS" if measured == "flagged none" else "FAIL")
    assert done.returncode == (1 if "FAIL" in verdicts else 0)
    if "FAIL" in verdicts:
        assert "check(s) FAIL" in done.stderr


@pytest.mark.parametrize("argv, message", [
    (["--data", "idx"], "--data idx needs --data-path and --labels-path"),
    (["--attacks", "badnets,nope"], "unknown attack(s) nope"),
    (["--classes", "1,1"], "--classes takes two different classes"),
    (["--availability-poisons", "5,-1"], "--availability-poisons takes counts >= 0"),
    (["--epochs", "0"], "--epochs must be at least 1"),
])
def test_bad_flags_are_refused_before_any_work(argv, message, tmp_path, capsys):
    assert_bench_refuses("backdoor_bench", argv, message, tmp_path / "page.md", capsys)
