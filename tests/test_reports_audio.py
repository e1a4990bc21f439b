"""The audio pictures (advlab.reports.audio_plots) and the report sections of speech runs and audio attacks
(advlab.reports.sections.audio), on hand-made run directories with tiny WAV files."""

import html
import json
import math
import re
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from scipy.io import wavfile
from test_attack_report import classifier_run

from advlab.reports import write_report
from advlab.reports.audio_plots import (
    as_rows,
    peak_db,
    relative_db,
    spectrogram_db,
    spectrogram_figure,
    transcription_figure,
    waveform_figure,
)
from advlab.reports.reading import read_run
from advlab.reports.sections import base
from advlab.reports.sections.audio import (
    MAX_EXAMPLES,
    AudioAttacks,
    SpeechRecognition,
    is_audio_attack,
    is_audio_config,
    read_audio_attack,
)

RATE = 8000


# ---------------------------------------------------------------------- fixtures


def utterance(seconds: float, pitch: float, seed: int) -> np.ndarray:
    """A speech-like test signal: two harmonic bursts with a gap, peak 0.6."""
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = np.sin(np.pi * np.clip(t / seconds * 2, 0, 2)) ** 2
    wave = sum(np.sin(2 * np.pi * pitch * k * t + seed) / k for k in (1, 2, 3)) * envelope
    return (0.6 * wave / np.abs(wave).max()).astype(np.float32)


def batch(n: int = 3, quiet_db: float = -32.0):
    """(clean (n, T), adversarial (n, T), lengths (n,)): utterances of different lengths, zero-padded, and a
    perturbation quiet_db below each clean peak inside the valid samples only."""
    waves = [utterance(0.25 + 0.1 * i, 180 + 40 * i, i) for i in range(n)]
    lengths = torch.tensor([w.size for w in waves])
    clean = torch.zeros(n, int(lengths.max()))
    for i, w in enumerate(waves):
        clean[i, :w.size] = torch.from_numpy(w)
    noise = torch.rand(n, clean.shape[1], generator=torch.Generator().manual_seed(0)) * 2 - 1
    noise = noise / noise.abs().amax(1, keepdim=True) * 0.6 * 10 ** (quiet_db / 20)
    delta = noise * (torch.arange(clean.shape[1])[None] < lengths[:, None])
    return clean, clean + delta, lengths


def write_wav(path: Path, wave) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, RATE, (np.clip(np.asarray(wave), -1, 1) * 32767).astype(np.int16))


AUDIO_CONFIG = {"data": "data/spoken", "model": "auto", "sample_rate": RATE, "held_out_fraction": 0.1,
                "n_mels": 40, "width": 128, "hidden": 128, "lr": 0.002, "steps": 300, "batch_size": 16, "seed": 0}


def audio_run(root: Path, n_examples: int = 3, name: str = "asr") -> Path:
    """A speech run as `advlab audio train` and `advlab attack audio-cw` leave it."""
    run = root / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(AUDIO_CONFIG))
    (run / "metrics.jsonl").write_text("".join(json.dumps({"kind": "train", "step": s, "loss": 3.0 / s}) + "\n"
                                               for s in (100, 200, 300)))
    vocabulary = ["zero", "one", "two", "three", "four"]
    (run / "summary.json").write_text(json.dumps({
        "step": 300, "test_wer": 0.125, "test_sentence_accuracy": 0.8, "train_wer": 0.05, "held_out_utterances": 20,
        "kind": "ctc", "vocabulary": " ".join(vocabulary)}))  # as advlab audio train writes them
    clean, adversarial, lengths = batch(n_examples)
    said = [("one", "two"), ("three",), ("zero", "four", "one")] * 4
    transcription_figure(clean, lengths, RATE, said[:n_examples], said[:n_examples],
                         run / "samples" / "step-000300.png")
    attack = run / "attacks" / "audio-cw"
    names = [f"{i:05d}" for i in range(n_examples)]
    for i, name_i in enumerate(names):
        size = int(lengths[i])
        write_wav(attack / "clean" / f"{name_i}.wav", clean[i, :size])
        write_wav(attack / "adversarial" / f"{name_i}.wav", adversarial[i, :size])
        write_wav(attack / "perturbation" / f"{name_i}.wav", 10 * (adversarial[i, :size] - clean[i, :size]))
    titles = [(said[i], ("two", "two")) for i in range(n_examples)]
    waveform_figure(clean, adversarial, lengths, RATE, titles, attack / "waveforms.png", bound_db=[-30.0] * n_examples)
    spectrogram_figure(clean, adversarial, lengths, RATE, titles, attack / "spectrograms.png")
    examples = [{"name": name_i, "wav": f"{name_i}.wav", "truth": " ".join(said[i]), "target": "two two",
                 "before": " ".join(said[i]), "after": "two two" if i else "two", "success": bool(i),
                 "db": -32.04 if i else None, "bound_db": -33.5 if i else -30.0, "first_success": 40 if i else -1,
                 "playback_success": None} for i, name_i in enumerate(names)]
    (attack / "results.json").write_text(json.dumps({
        "attack": "audio-cw", "kind": "audio", "run": str(run), "model": "ctc", "sample_rate": RATE,
        "target": "two two", "options": {"db": -30.0, "iterations": 200, "c": 1.0},
        "summary": {"attack": "audio-cw", "n": n_examples, "success_rate": (n_examples - 1) / n_examples,
                    "mean_db": -32.04, "max_db": -31.5, "bound_db": -30.0, "seconds": 12.0,
                    "seconds_per_utterance": 12.0 / n_examples, "iterations": 200},
        "perturbation_gain": 10.0,
        "by_bound": [{"bound_db": -40.0, "success_rate": 0.0}, {"bound_db": -30.0, "success_rate": 0.667}],
        "by_iterations": [{"iterations": 50, "success_rate": 0.333}, {"iterations": 200, "success_rate": 0.667}],
        "examples": examples, "pictures": {"waveforms": "waveforms.png", "spectrograms": "spectrograms.png"}}))
    return run


def image_links(page: Path) -> list[Path]:
    return [page.parent / unquote(html.unescape(src)) for src in re.findall(r'<img src="([^"]*)"', page.read_text())]


def size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def audio_links(page: Path) -> list[Path]:
    return [page.parent / unquote(html.unescape(src))
            for src in re.findall(r'<audio controls[^>]* src="([^"]*)"', page.read_text())]


# ---------------------------------------------------------------------- measures and pictures


def test_peak_and_relative_decibels_by_hand():
    x = np.array([0.0, -0.5, 0.25])
    assert peak_db(x) == pytest.approx(20 * math.log10(0.5))  # -6.02 dB
    assert relative_db(np.array([0.005, -0.001]), x) == pytest.approx(-40.0)
    assert relative_db(np.zeros(3), x) == -math.inf
    assert math.isnan(relative_db(np.array([0.1]), np.zeros(3)))


def test_rows_keep_only_the_valid_samples():
    rows = as_rows(torch.arange(12.0).reshape(2, 6), torch.tensor([4, 6]))
    assert [r.tolist() for r in rows] == [[0, 1, 2, 3], [6, 7, 8, 9, 10, 11]]


def test_spectrogram_finds_the_tone_and_scales_with_the_amplitude():
    t = np.arange(RATE) / RATE
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t)
    freqs, times, db = spectrogram_db(tone, RATE)
    assert abs(freqs[db.mean(1).argmax()] - 1000) <= RATE / 256  # within one bin of 1 kHz
    assert times.size == pytest.approx(1 + (RATE - 200) / 80, abs=1)  # 25 ms windows every 10 ms
    # a copy 30 dB quieter reads 30 dB lower in every bin: one colour scale shows the perturbation's level
    quieter = spectrogram_db(tone * 10 ** (-30 / 20), RATE)[2]
    audible = db > db.max() - 100  # away from the numerical floor
    assert audible.sum() > 500 and np.allclose((quieter - db)[audible], -30.0, atol=1e-6)


def test_figures_hold_at_most_four_utterances(tmp_path):
    """Six utterances in, four rows drawn: the PNG's height is that of four rows (the figure's inches x 110 dpi)."""
    clean, adversarial, lengths = batch(6)
    titles = [("one", "two")] * 6
    heights = {draw.__name__: size(draw(clean, adversarial, lengths, RATE, titles, tmp_path / "f.png"))[1]
               for draw in (waveform_figure, spectrogram_figure)}
    assert heights == {"waveform_figure": round((0.3 + 2.75 * 4) * 110),
                       "spectrogram_figure": round((0.5 + 2.3 * 4) * 110)}
    # six waves but three transcripts: three panels in two columns, two lines
    path = transcription_figure(clean, lengths, RATE, ["one two", ("three",), "four"], ["one", ("three",), ""],
                                tmp_path / "t.png")
    assert size(path) == (round((4.6 * 2 + 0.8) * 110), round((0.3 + 2.2 * 2) * 110))


# ---------------------------------------------------------------------- the report sections


def test_audio_config_and_results_are_recognised(tmp_path):
    run = audio_run(tmp_path)
    assert is_audio_config(AUDIO_CONFIG)
    assert not is_audio_config({"data": "digits", "model": "cnn", "epochs": 3, "test_fraction": 0.2})
    assert is_audio_attack(run / "attacks" / "audio-cw")
    clf = classifier_run(tmp_path)
    assert not is_audio_attack(clf / "attacks" / "pgd")
    assert not SpeechRecognition().applies(read_run(clf)) and not AudioAttacks().applies(read_run(clf))


def test_audio_attack_view_reads_results(tmp_path):
    run = audio_run(tmp_path)
    view = read_audio_attack(run / "attacks" / "audio-cw")
    head, (row,) = view.summary
    summary = dict(zip(head, row))
    assert summary["success"] == "66.7%" and summary["starting bound (dB)"] == "-30.0"
    assert summary["mean dB (successes)"] == "-32.0" and summary["s per utterance"] == "4.00"
    assert view.by_bound[1] == [["-40.0", "0.0%"], ["-30.0", "66.7%"]]
    assert view.by_iterations[1] == [["50", "33.3%"], ["200", "66.7%"]]
    assert [caption.split(":")[0] for caption, _ in view.pictures] == ["waveforms", "spectrograms"]
    assert view.example_head[-1] == "perturbation ×10" and "playback success" not in view.example_head
    first = dict(zip(view.example_head, view.examples[0].cells))
    assert first == {"utterance": "00000", "said": "one two", "target": "two two", "heard before": "one two",
                     "heard after": "two", "success": "no", "dB": "—", "bound (dB)": "-30.0"}
    assert all(path is not None and path.is_file() for _, path in view.examples[2].wavs)
    assert "+20 dB" in view.note and 'targeted at "two two"' in view.description


def test_only_the_first_examples_are_shown(tmp_path):
    run = audio_run(tmp_path, n_examples=MAX_EXAMPLES + 2)
    view = read_audio_attack(run / "attacks" / "audio-cw")
    assert len(view.examples) == MAX_EXAMPLES and f"first {MAX_EXAMPLES} of {MAX_EXAMPLES + 2}" in view.note


def test_audio_run_report_has_figures_players_and_pictures(tmp_path):
    run = audio_run(tmp_path)
    page, md = write_report(run)
    text, md_text = page.read_text(), md.read_text()
    for body in (text, md_text):
        assert "Speech recognition on held-out utterances" in body and "Audio attacks" in body
        assert "12.5%" in body and "80.0%" in body and "zero one two three four (5 words)" in body
        assert "Success against the dB bound" in body and "Success against iterations" in body
    players = audio_links(page)
    assert len(players) == 9 and all(path.is_file() for path in players)
    assert {path.parent.name for path in players} == {"clean", "adversarial", "perturbation"}
    pictures = {path.name for path in image_links(page)}
    assert {"waveforms.png", "spectrograms.png"} <= pictures
    assert all(path.is_file() for path in image_links(page))
    assert "[clean](attacks/audio-cw/clean/00001.wav)" in md_text
    assert "![spectrograms" in md_text and "(attacks/audio-cw/spectrograms.png)" in md_text
    assert "<h2>Attacks</h2>" not in text and "\n## Attacks\n" not in md_text  # the image attacks' section: none


def test_report_escapes_what_results_json_holds(tmp_path):
    run = audio_run(tmp_path)
    path = run / "attacks" / "audio-cw" / "results.json"
    results = json.loads(path.read_text())
    results["examples"][0]["truth"] = "<script>alert(1)</script>"
    path.write_text(json.dumps(results))
    view = AudioAttacks().collect(read_run(run))
    page = AudioAttacks().html(view, run, 2)
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_classifier_report_is_unchanged_by_the_audio_sections(tmp_path, monkeypatch):
    run = classifier_run(tmp_path)
    with_audio = [p.read_text() for p in write_report(run)]
    mine = (SpeechRecognition, AudioAttacks)
    others = [s for s in base.SECTIONS if not isinstance(s, mine)]
    assert len(others) == len(base.SECTIONS) - 2  # both audio sections were in the report's registry
    monkeypatch.setattr(base, "SECTIONS", others)
    assert [p.read_text() for p in write_report(run)] == with_audio
    assert "audio" not in with_audio[0].lower()
