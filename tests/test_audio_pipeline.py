"""`advlab audio data|train|evaluate|transcribe` and `advlab attack audio-cw|audio-pgd` end to end on a small folder of
espeak-ng utterances with a tiny model: the run directory, exact resume, the held-out figures, the attack's WAV files
and results, and one clear line for each bad input the issue names."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from helpers import assert_one_line_error, run_cli

from advlab.core.checkpoints import load_latest
from advlab.core.errors import AdvlabError
from advlab.data.audio_io import read_wav, write_wav
from advlab.data.audio_sets import load_audio_folder
from advlab.pipelines.audio import held_out_audio, load_audio_run

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                reason="espeak-ng is not installed (apt-get install espeak-ng; make test installs it)")

TINY = ["--width", "4", "--hidden", "8", "--layers", "1", "--batch-size", "4", "--log-every", "2",
        "--sample-every", "4", "--checkpoint-every", "2", "--tensorboard", "false", "--device", "cpu",
        "--no-progress", "--held-out-fraction", "0.25"]


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "spoken"
    assert run_cli_plain(["audio", "data", "--out", str(folder), "--n", "16", "--max-words", "3", "--no-progress"]) == 0
    return folder


def run_cli_plain(argv: list[str]) -> int:
    from advlab.cli.main import main

    return main(argv)


@pytest.fixture(scope="module")
def trained(spoken, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "asr"
    assert run_cli_plain(["audio", "train", "--data", str(spoken), "--out", str(out), "--steps", "4", *TINY]) == 0
    return out


def test_data_command_writes_a_labelled_folder(spoken):
    audio = load_audio_folder(spoken)
    assert len(audio) == 16 and audio.labelled_by == "transcripts"
    assert all(1 <= len(words) <= 3 for words in audio.transcripts)
    assert json.loads((spoken / "dataset.json").read_text())["n"] == 16


def test_train_writes_a_speech_run(trained):
    summary = json.loads((trained / "summary.json").read_text())
    assert summary["step"] == 4 and summary["kind"] == "ctc"
    assert summary["held_out_utterances"] == 4 and summary["train_utterances"] == 12
    assert 0 <= summary["test_sentence_accuracy"] <= 1 and summary["test_wer"] >= 0
    assert (trained / "samples" / "final.png").is_file() and (trained / "samples" / "step-000004.png").is_file()
    report = (trained / "report.html").read_text()
    assert "Speech recognition on held-out utterances" in report
    markdown = (trained / "report.md").read_text()
    assert "| held-out utterances | 4 |" in markdown
    assert f"| vocabulary | {summary['vocabulary']} ({len(summary['vocabulary'].split())} words) |" in markdown
    meta = load_latest(trained / "checkpoints").meta
    assert meta["model"]["kind"] == "ctc" and meta["held_out"] == held_out_audio(trained).names
    model, config = load_audio_run(trained)
    assert model.vocabulary == tuple(summary["vocabulary"].split()) and config.steps == 4


def test_resume_continues_exactly(spoken, tmp_path):
    straight, halves = tmp_path / "straight", tmp_path / "halves"
    assert run_cli_plain(["audio", "train", "--data", str(spoken), "--out", str(straight), "--steps", "4", *TINY]) == 0
    assert run_cli_plain(["audio", "train", "--data", str(spoken), "--out", str(halves), "--steps", "2", *TINY]) == 0
    assert run_cli_plain(["audio", "train", "--resume", str(halves), "--steps", "4", "--no-progress"]) == 0
    one, two = load_latest(straight / "checkpoints"), load_latest(halves / "checkpoints")
    assert one.step == two.step == 4
    weights = [name for name in one.tensors if name.startswith("recogniser.")]
    assert weights and all(torch.equal(one.tensors[name], two.tensors[name]) for name in weights)


def test_evaluate_and_transcribe(trained, spoken, capsys):
    status, out, _ = run_cli(["audio", "evaluate", str(trained), "--device", "cpu"], capsys)
    assert status == 0 and "word error rate" in out
    figures = json.loads((trained / "eval" / "audio.json").read_text())
    assert figures["utterances"] == 4 and len(figures["examples"]) == 4
    summary = json.loads((trained / "summary.json").read_text())
    assert figures["wer"] == pytest.approx(summary["test_wer"])  # the same model on the same utterances
    status, out, _ = run_cli(["audio", "transcribe", str(trained), str(spoken / "00000.wav"), "--device", "cpu"],
                             capsys)
    assert status == 0 and out.startswith(str(spoken / "00000.wav") + "\t")


def test_audio_cw_writes_wavs_results_and_report(trained, capsys):
    status, out, err = run_cli(["attack", "audio-cw", str(trained), "--target", "one two", "--db", "-30",
                                "--iterations", "6", "--check-every", "3", "--n", "2", "--device", "cpu",
                                "--no-progress"], capsys)
    assert status == 0, err
    folder = trained / "attacks" / "audio-cw"
    record = json.loads((folder / "results.json").read_text())
    assert record["kind"] == "audio" and record["target"] == "one two" and record["summary"]["n"] == 2
    assert {"by_bound", "by_iterations", "examples", "perturbation_gain", "pictures"} <= set(record)
    kept = [example["success_16bit"] for example in record["examples"]]
    assert record["summary"]["success_rate_16bit"] == sum(kept) / 2
    for example in record["examples"]:
        clean, rate = read_wav(folder / "clean" / example["wav"])
        adversarial, rate_adv = read_wav(folder / "adversarial" / example["wav"])
        perturbation, _ = read_wav(folder / "perturbation" / example["wav"])
        assert rate == rate_adv == 16000 and clean.shape == adversarial.shape == perturbation.shape
        bound = clean.abs().max() * 10 ** (example["bound_db"] / 20)  # the bound it met, on the 16-bit files
        assert (adversarial - clean).abs().max() <= bound + 2 / 32767
    assert (folder / "waveforms.png").is_file() and (folder / "spectrograms.png").is_file()
    assert "| bound (dB) |" in (folder / "table.md").read_text() and "success rate" in out
    report = (trained / "report.html").read_text()
    assert "Audio attacks" in report and 'adversarial/' in report


def test_audio_pgd_sweep_gives_one_row_per_bound(trained, capsys, monkeypatch):
    import advlab.pipelines.audio.attack_audio as attack_audio

    said = held_out_audio(trained).transcripts  # the model hears every held-out utterance right
    monkeypatch.setattr(attack_audio, "transcribe", lambda model, waves, device: list(said[:len(waves)]))
    status, out, err = run_cli(["attack", "audio-pgd", str(trained), "--eps-db", "-20,-40", "--steps", "2",
                                "--n", "2", "--device", "cpu", "--no-progress", "--out",
                                str(trained / "attacks" / "sweep")], capsys)
    assert status == 0, err
    record = json.loads((trained / "attacks" / "sweep" / "results.json").read_text())
    assert [row["bound_db"] for row in record["by_bound"]] == [-20.0, -40.0]
    assert len(record["sweep"]) == 2 and record["target"] is None


@pytest.mark.parametrize("argv, words", [
    (["--target", "one banana two"], ["banana", "vocabulary"]),
    (["--target", "one", "--db", "5"], ["--db", "negative"]),
])
def test_audio_cw_bad_input_is_one_line(trained, capsys, argv, words):
    status, _, err = run_cli(["attack", "audio-cw", str(trained), *argv, "--device", "cpu", "--no-progress"], capsys)
    assert_one_line_error(status, err, *words)


def test_untrained_model_is_not_attacked_untargeted(trained, capsys, monkeypatch):
    import advlab.pipelines.audio.attack_audio as attack_audio

    monkeypatch.setattr(attack_audio, "transcribe", lambda model, waves, device: [() for _ in waves])
    status, _, err = run_cli(["attack", "audio-pgd", str(trained), "--device", "cpu", "--no-progress"], capsys)
    assert_one_line_error(status, err, "transcribes none")


def test_bad_data_is_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    status, _, err = run_cli(["audio", "train", "--data", str(empty), "--out", str(tmp_path / "r"), *TINY], capsys)
    assert_one_line_error(status, err, "no .wav")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "yes_1.wav").write_bytes(b"not a wav file at all")
    status, _, err = run_cli(["audio", "train", "--data", str(tmp_path / "broken"), "--out", str(tmp_path / "r"),
                              *TINY], capsys)
    assert_one_line_error(status, err, "yes_1.wav", "decode")


def test_low_sample_rate_is_refused(trained, tmp_path, capsys):
    write_wav(tmp_path / "low.wav", torch.sin(torch.arange(4000) * 0.3) * 0.5, 4000)
    status, _, err = run_cli(["audio", "transcribe", str(trained), str(tmp_path / "low.wav"), "--device", "cpu"],
                             capsys)
    assert_one_line_error(status, err, "4000 Hz", "8000")


def test_keyword_model_is_chosen_for_one_word_labels_and_refuses_sequences(tmp_path, spoken, capsys):
    from advlab.data.spoken import synthesise

    words = tmp_path / "kws"
    for i, word in enumerate(["yes", "no"] * 3):
        write_wav(words / f"{word}_{i}.wav", synthesise(word, voice="en-us", speed_wpm=160, pitch=50), 16000)
    out = tmp_path / "kws-run"
    assert run_cli_plain(["audio", "train", "--data", str(words), "--out", str(out), "--steps", "2", *TINY]) == 0
    assert json.loads((out / "summary.json").read_text())["kind"] == "keyword"
    model, _ = load_audio_run(out)
    assert model.vocabulary == ("no", "yes")
    status, _, err = run_cli(["audio", "train", "--data", str(spoken), "--out", str(tmp_path / "bad"), "--model",
                              "keyword", *TINY], capsys)
    assert_one_line_error(status, err, "one word", "--model ctc")


def test_changed_data_folder_is_refused(spoken, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(spoken, copy)
    out = tmp_path / "run"
    assert run_cli_plain(["audio", "train", "--data", str(copy), "--out", str(out), "--steps", "2", *TINY]) == 0
    held = held_out_audio(out).names
    lines = [line for line in (copy / "transcripts.tsv").read_text().splitlines() if not line.startswith(held[0])]
    (copy / "transcripts.tsv").write_text("\n".join(lines) + "\n")
    (copy / held[0]).unlink()
    with pytest.raises(AdvlabError, match="changed since"):
        held_out_audio(out)


def test_not_an_audio_run_is_refused(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("epochs: 2\ntest_fraction: 0.2\n")
    status, _, err = run_cli(["attack", "audio-cw", str(tmp_path / "run"), "--target", "one", "--no-progress"],
                             capsys)
    assert_one_line_error(status, err, "not a speech model run")
