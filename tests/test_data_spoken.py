"""espeak-ng spoken digit strings (advlab.data.spoken): voices, determinism, measured SNR, trimming, bad input."""

import json
import shutil

import numpy as np
import pytest
import torch

from advlab.core.errors import AdvlabError
from advlab.data import spoken
from advlab.data.audio_io import read_wav
from advlab.data.spoken import (
    ACCENTS,
    DIGIT_WORDS,
    MARGIN_SECONDS,
    PEAK,
    add_noise,
    make_spoken_digits,
    synthesise,
    trim_silence,
)

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng; make test does)")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Eight utterances at seed 3 with a wide SNR range."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    out = tmp_path_factory.mktemp("spoken") / "digits"
    make_spoken_digits(out, n=8, seed=3, snr_db=(10.0, 40.0), progress=False)
    return out


def measured_snr(wave: np.ndarray, lead: int, trail: int) -> float:
    """SNR of a made file: noise power from its silent margins, speech power from the rest less that noise."""
    noise = np.concatenate([wave[:lead], wave[len(wave) - trail:]])
    p_noise = float((noise.astype(np.float64) ** 2).mean())
    p_mixed = float((wave[lead:len(wave) - trail].astype(np.float64) ** 2).mean())
    return 10 * np.log10((p_mixed - p_noise) / p_noise)


def test_add_noise_meets_the_snr_exactly():
    speech = torch.sin(torch.arange(4000) * 0.05) * torch.linspace(0, 1, 4000)
    noisy = add_noise(speech, 300, 500, 17.5, np.random.default_rng(0))
    assert noisy.shape == (4800,)
    noise = noisy - torch.cat([torch.zeros(300), speech, torch.zeros(500)]).double()
    snr = 10 * torch.log10(speech.double().pow(2).mean() / noise.pow(2).mean())
    assert abs(float(snr) - 17.5) < 1e-9


def test_trim_silence_keeps_first_to_last_loud_sample():
    wave = torch.zeros(100)
    wave[10], wave[20], wave[70], wave[90] = 0.001, 0.5, -1.0, 0.009  # -40 dB of the peak is 0.01
    assert torch.equal(trim_silence(wave), wave[20:71])
    assert trim_silence(torch.zeros(5)).numel() == 0


@needs_espeak
def test_synthesise_speaks_and_every_accent_takes_its_female_variant():
    wave = synthesise("three", "en-us", 175, 50)
    assert wave.dtype == torch.float32 and wave.ndim == 1
    assert 0.2 * 16000 < wave.numel() < 2.0 * 16000 and float(wave.abs().max()) > 0.05
    assert synthesise("three", "en-us", 175, 50, rate=8000).numel() == pytest.approx(wave.numel() / 2, abs=2)
    for accent in ACCENTS:  # a variant the synthesiser ignores would leave the voice as it is
        base, female = synthesise("seven", accent, 160, 50), synthesise("seven", accent + "+f3", 160, 50)
        assert base.shape != female.shape or not torch.equal(base, female), accent


@needs_espeak
def test_synthesise_refuses_an_unknown_voice():
    with pytest.raises(AdvlabError, match="espeak-ng could not speak with voice 'xx-nowhere'"):
        synthesise("one", "xx-nowhere", 150, 50)


def test_missing_espeak_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(spoken.shutil, "which", lambda name: None)
    with pytest.raises(AdvlabError, match=r"espeak-ng is not installed: apt-get install espeak-ng"):
        make_spoken_digits(tmp_path / "out", n=2, progress=False)
    assert not spoken.espeak_available()


@needs_espeak
def test_made_folder_has_files_transcripts_and_record(made):
    lines = (made / "transcripts.tsv").read_text().splitlines()
    assert [line.split("\t")[0] for line in lines] == [f"{i:05d}.wav" for i in range(8)]
    record = json.loads((made / "dataset.json").read_text())
    assert record["generator"] == "espeak-ng" and record["version"] and record["n"] == 8 and record["seed"] == 3
    assert record["rate"] == 16000 and record["snr_db"] == [10.0, 40.0]
    for line, info in zip(lines, record["utterances"]):
        name, text = line.split("\t")
        words = text.split()
        assert 1 <= len(words) <= 4 and set(words) <= set(DIGIT_WORDS) and info["text"] == text
        wave, rate = read_wav(made / name)
        assert rate == 16000 and len(wave) == info["samples"]
        assert float(wave.abs().max()) == pytest.approx(info["peak"], abs=2e-4) and PEAK[0] <= info["peak"] <= PEAK[1]
        for margin in (info["lead_samples"], info["trail_samples"]):
            assert MARGIN_SECONDS[0] * 16000 - 1 <= margin <= MARGIN_SECONDS[1] * 16000 + 1


@needs_espeak
def test_made_files_have_the_snr_that_was_drawn(made):
    record = json.loads((made / "dataset.json").read_text())
    for info in record["utterances"]:
        wave, _ = read_wav(made / info["file"])
        snr = measured_snr(wave.numpy(), info["lead_samples"], info["trail_samples"])
        assert abs(snr - info["snr_db"]) < 0.5, (info["file"], snr, info["snr_db"])
    assert max(u["snr_db"] for u in record["utterances"]) - min(u["snr_db"] for u in record["utterances"]) > 5


@needs_espeak
def test_same_seed_same_files_and_first_files_do_not_depend_on_n(made, tmp_path):
    again = make_spoken_digits(tmp_path / "again", n=8, seed=3, snr_db=(10.0, 40.0), progress=False)
    for name in [f"{i:05d}.wav" for i in range(8)] + ["transcripts.tsv", "dataset.json"]:
        assert (again / name).read_bytes() == (made / name).read_bytes(), name
    fewer = make_spoken_digits(tmp_path / "fewer", n=3, seed=3, snr_db=(10.0, 40.0), progress=False)
    assert (fewer / "00002.wav").read_bytes() == (made / "00002.wav").read_bytes()
    other = make_spoken_digits(tmp_path / "other", n=3, seed=4, snr_db=(10.0, 40.0), progress=False)
    assert (other / "transcripts.tsv").read_text() != (fewer / "transcripts.tsv").read_text()


def test_draws_vary_voices_speeds_and_pitches(monkeypatch):
    monkeypatch.setattr(spoken, "synthesise", lambda text, voice, speed, pitch, rate, gap: torch.ones(800) * 0.5)
    infos = [spoken._utterance(i, 0, 1, 4, 16000, (20.0, 40.0))[1] for i in range(200)]
    accents = {info["voice"].split("+")[0] for info in infos}
    assert accents == set(ACCENTS)
    assert 0.35 < np.mean([info["female"] for info in infos]) < 0.65
    assert len({info["voice"] for info in infos}) > 60
    speeds, pitches = [info["speed_wpm"] for info in infos], [info["pitch"] for info in infos]
    assert min(speeds) < 130 and max(speeds) > 190 and min(pitches) < 30 and max(pitches) > 70
    counts = np.bincount([len(info["text"].split()) for info in infos])
    assert counts[0] == 0 and (counts[1:] > 30).all()


@needs_espeak
def test_a_non_empty_folder_needs_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(AdvlabError, match="is not empty; give an empty or new folder, or overwrite=True"):
        make_spoken_digits(out, n=2, progress=False)
    make_spoken_digits(out, n=3, progress=False, overwrite=True)
    make_spoken_digits(out, n=2, progress=False, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["00000.wav", "00001.wav", "dataset.json", "notes.txt",
                                                     "transcripts.tsv"]


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(AdvlabError, match="min_words"):
        make_spoken_digits(tmp_path / "a", n=2, min_words=3, max_words=2, progress=False)
    with pytest.raises(AdvlabError, match="snr_db must be"):
        make_spoken_digits(tmp_path / "a", n=2, snr_db=(40.0, 20.0), progress=False)
    with pytest.raises(AdvlabError, match="rate must be an integer >= 8000"):
        make_spoken_digits(tmp_path / "a", n=2, rate=4000, progress=False)
