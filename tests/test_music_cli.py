"""`advlab music train|sample|evaluate|datasets` (advlab.cli.music) and the pipelines behind them, on a small folder
of MIDI files: bad input ends in one line and exit 2, a run trains, resumes exactly, samples MIDI files that read back
to the generated bars, and evaluates into RUN/eval/music.json and the report."""

from __future__ import annotations

import json
import sys

import pytest
import torch

import advlab.reports.sections.music  # noqa: F401 -- registers the section (until sections/__init__ imports it)
from advlab.cli import music
from advlab.cli.common import Parser
from advlab.core.checkpoints import load_latest
from advlab.core.errors import AdvlabError
from advlab.data.melodies import CORPORA, roll_from_codes
from advlab.music.midi_io import read_midi, write_midi

TINY = ["--width", "4", "--hidden", "16", "--conditioner-width", "4", "--noise-dim", "8", "--batch-size", "8",
        "--device", "cpu", "--no-progress", "--tensorboard", "false", "--bars", "2"]


def run_cli(argv: list[str]) -> int:
    """What `advlab music ...` does (advlab.cli.main's error handling: AdvlabError -> one line, exit 2)."""
    parser = Parser(prog="advlab")
    music.add_parser(parser.add_subparsers(dest="command", required=True, parser_class=Parser))
    args = parser.parse_args(["music", *argv])
    try:
        return args.handler(args)
    except AdvlabError as error:
        print(f"advlab: error: {error}", file=sys.stderr)
        return 2


def error_line(capsys, argv: list[str]) -> str:
    assert run_cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def midi_folder(tmp_path_factory):
    """Four songs of 8 bars (scale runs and arpeggios in C, G and F major over I-IV-V-I) as MIDI files."""
    folder = tmp_path_factory.mktemp("my_midis")
    patterns = [[60, 62, 64, 65, 67, 65, 64, 62], [67, 64, 60, 64, 67, 72, 67, 64], [65, 69, 72, 69, 65, 64, 62, 60],
                [72, 71, 69, 67, 65, 64, 62, 60]]
    for song, pattern in enumerate(patterns):
        codes = torch.tensor([[pattern[(2 * s + b + song) % 8] for s in range(16)] for b in range(8)])
        codes[:, 14:] = 128  # a rest at the end of each bar
        chords = ["C", "F", "G", "C", "Am", "F", "G", "C"]
        write_midi(roll_from_codes(codes), folder / f"song{song}.mid", chords=chords)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory, midi_folder):
    out = tmp_path_factory.mktemp("runs") / "mine"
    code = run_cli(["train", "--data", str(midi_folder), "--out", str(out), "--steps", "6", "--log-every", "2",
                    "--sample-every", "3", "--checkpoint-every", "3", *TINY])
    assert code == 0
    return out


def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, midi_folder):
    out = tmp_path / "run"
    assert "--bars must be at least 1" in error_line(capsys, ["train", "--corpus", "bach", "--bars", "0",
                                                              "--out", str(out)])
    assert "'nope' is not a built-in corpus" in error_line(capsys, ["train", "--corpus", "nope", "--out", str(out)])
    assert "--corpus is empty" in error_line(capsys, ["train", "--corpus", "", "--out", str(out)])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert str(empty) in error_line(capsys, ["train", "--data", str(empty), "--out", str(out), *TINY])
    assert "no melodies" in error_line(capsys, ["train", "--out", str(out)])
    assert "not both" in error_line(capsys, ["train", "--corpus", "bach", "--data", str(midi_folder),
                                             "--out", str(out)])
    assert not out.exists()  # nothing was made


def test_sample_refuses_an_unknown_chord_and_bad_counts(capsys, trained, tmp_path):
    assert "unknown chord" in error_line(capsys, ["sample", str(trained), "--chords", "C,H7", "--out",
                                                  str(tmp_path / "m")])
    assert "--bars must be at least 1" in error_line(capsys, ["sample", str(trained), "--bars", "0", "--out",
                                                              str(tmp_path / "m")])
    assert "--n must be at least 1" in error_line(capsys, ["sample", str(trained), "--n", "0", "--out",
                                                           str(tmp_path / "m")])
    assert "no config.yaml" in error_line(capsys, ["sample", str(tmp_path), "--out", str(tmp_path / "m")])


def test_datasets_lists_the_corpora(capsys):
    assert run_cli(["datasets"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in CORPORA) and "--data DIR" in out


def test_train_writes_a_run(trained):
    summary = json.loads((trained / "summary.json").read_text())
    assert summary["step"] == 6
    for key in ("generated_pitch_class_distance", "random_pitch_class_distance", "generated_scale_consistency",
                "held_out_scale_consistency", "generated_chord_tone_rate", "random_chord_tone_rate"):
        assert key in summary
    assert (trained / "samples" / "final.png").is_file() and (trained / "samples" / "step-000003.png").is_file()
    records = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert {"d_loss", "g_loss", "g_feature", "g_data"} <= set(records[-1])
    meta = load_latest(trained / "checkpoints").meta
    assert meta["progressions"] and all(len(p) == 2 for p in meta["progressions"])
    assert (trained / "report.html").is_file() and "## Summary" in (trained / "report.md").read_text()


def test_resume_continues_exactly(tmp_path, midi_folder):
    straight, parts = tmp_path / "straight", tmp_path / "parts"
    common = ["--data", str(midi_folder), "--log-every", "2", "--sample-every", "100", "--checkpoint-every", "2",
              *TINY]
    assert run_cli(["train", "--out", str(straight), "--steps", "6", *common]) == 0
    assert run_cli(["train", "--out", str(parts), "--steps", "4", *common]) == 0
    assert run_cli(["train", "--resume", str(parts), "--steps", "6", "--no-progress"]) == 0
    a, b = load_latest(straight / "checkpoints"), load_latest(parts / "checkpoints")
    assert a.step == b.step == 6
    assert set(a.tensors) == set(b.tensors)
    for key in a.tensors:
        assert torch.equal(a.tensors[key], b.tensors[key]), key
    logged = lambda run: [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]  # noqa: E731
    assert [r["g_loss"] for r in logged(straight)] == [r["g_loss"] for r in logged(parts)]


def test_sample_writes_midi_that_reads_back(capsys, trained, tmp_path):
    out = tmp_path / "melodies"
    assert run_cli(["sample", str(trained), "--n", "3", "--chords", "C,G,Am,F", "--bars", "4", "--out",
                    str(out), "--seed", "1"]) == 0
    assert "wrote 3 melodies of 4 bars" in capsys.readouterr().out
    record = json.loads((out / "melodies.json").read_text())
    assert [m["chords"] for m in record["melodies"]] == [["C", "G", "Am", "F"]] * 3
    from advlab.pipelines.music.sample_music import sample_music

    again = sample_music(trained, n=3, chords=["C", "G", "Am", "F"], bars=4, seed=1, out=tmp_path / "again",
                         device="cpu", wav=False)
    for i in range(3):
        for suffix in (".mid", ".png", ".wav"):
            assert (out / f"melody-{i + 1:02d}{suffix}").is_file()
        bars, chords = read_midi(out / f"melody-{i + 1:02d}.mid")
        assert torch.equal(bars, again.melodies[i])  # the same melody, and the file holds exactly it
        assert [int(c[:12].argmax()) for c in chords] == [0, 7, 9, 5]
    assert (out / "grid.png").is_file()
    drawn = sample_music(trained, n=2, seed=0, out=tmp_path / "drawn", device="cpu", wav=False)
    assert drawn.melodies.shape == (2, 2, 16, 128) and all(len(c) == 2 for c in drawn.chords)


def test_evaluate_writes_music_json_and_the_report_section(capsys, trained):
    assert run_cli(["evaluate", str(trained), "--n", "4", "--device", "cpu", "--no-progress"]) == 0
    content = json.loads((trained / "eval" / "music.json").read_text())
    assert set(content["sources"]) >= {"generated", "training", "random"}
    assert 0 <= content["sources"]["generated"]["chord_tone_rate"] <= 1
    assert content["sources"]["generated"]["bars"] == 4 * 2
    assert {"pitch_class_distance", "mean_symmetric_difference"} <= set(content["versus_training"]["generated"])
    assert content["copies"]["random"]["exact_copies"] == 0.0
    assert len(content["histograms"]["pitch_class"]["generated"]) == 12
    for name in ("music_melodies.png", "music_pitch_classes.png", "music_note_lengths.png", "music_statistics.png"):
        assert (trained / "eval" / name).is_file()
    report = (trained / "report.md").read_text()
    assert "Melodies against the corpus" in report and "Copy check" in report
