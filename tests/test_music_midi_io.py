"""MIDI files, piano rolls and WAV renderings of melodies (advlab.music.midi_io)."""

import wave

import mido
import numpy as np
import pytest
import torch
from PIL import Image

from advlab.core.errors import AdvlabError
from advlab.data.melodies import REST, codes_from_roll, roll_from_codes
from advlab.music import chord_name, melody_notes, piano_roll, read_midi, render_wav, write_midi

CODES = torch.tensor([
    [60] * 4 + [62] * 4 + [REST] * 4 + [64] * 4,  # notes, a rest, a note held over the bar line
    [64] * 16,
    [REST] * 16,  # an empty bar inside
    [67, 67, REST, 67, 69, 71, 72, 72, 72, 72, 72, 72, 71, 69, 67, 65],
    [REST] * 12 + [83] * 4,
    [REST] * 16,  # a trailing empty bar
])


def test_bars_written_to_midi_read_back_the_same(tmp_path):
    bars = roll_from_codes(CODES)
    path = write_midi(bars, tmp_path / "out" / "melody.mid")
    assert path.exists()
    back, chords = read_midi(path)
    assert back.shape == (6, 16, 128)
    assert torch.equal(codes_from_roll(back), CODES)
    assert torch.equal(back, bars)
    assert chords.shape == (6, 13) and chords[2].abs().sum() == 0  # no note, no chord


def test_midi_file_contents(tmp_path):
    path = write_midi(roll_from_codes(CODES).unsqueeze(1), tmp_path / "m.mid", chords=["C", "Am"], tempo_bpm=90)
    midi = mido.MidiFile(str(path))
    assert midi.type == 1 and midi.ticks_per_beat == 480 and len(midi.tracks) == 2
    names = [next(m.name for m in track if m.type == "track_name") for track in midi.tracks]
    assert names == ["melody", "chords"]
    tempo = next(m.tempo for m in midi.tracks[0] if m.type == "set_tempo")
    assert mido.tempo2bpm(tempo) == pytest.approx(90)
    ons = [m for m in midi.tracks[0] if m.type == "note_on"]
    assert len(ons) == len(melody_notes(roll_from_codes(CODES)))
    # the held E over the bar line is one note; 67 67 | rest | 67 are two notes of G
    assert [n for n in melody_notes(roll_from_codes(CODES))][:4] == [(0, 4, 60), (4, 8, 62), (12, 32, 64),
                                                                    (48, 50, 67)]
    chord_ons = [m.note for m in midi.tracks[1] if m.type == "note_on"]
    assert chord_ons[:3] == [48, 52, 55] and chord_ons[3:6] == [57, 60, 64]  # C, Am repeated over 6 bars
    assert len(chord_ons) == 18
    assert midi.length == pytest.approx(6 * 4 * 60 / 90, rel=1e-6)


def test_chords_read_back(tmp_path):
    names = ["C", "Am", "F#m", "Bb", "Ebm", "G"]
    path = write_midi(roll_from_codes(CODES), tmp_path / "c.mid", chords=names)
    _, chords = read_midi(path)
    assert [chord_name(c) for c in chords] == names


def test_chord_vectors_are_accepted(tmp_path):
    from advlab.music import chord_vectors

    path = write_midi(roll_from_codes(CODES[:2]), tmp_path / "v.mid", chords=chord_vectors(["D", "Bm"]))
    assert [chord_name(c) for c in read_midi(path)[1]] == ["D", "Bm"]


def test_read_midi_errors(tmp_path):
    garbage = tmp_path / "g.mid"
    garbage.write_bytes(b"not midi")
    with pytest.raises(AdvlabError, match="cannot read .* as MIDI"):
        read_midi(garbage)
    with pytest.raises(AdvlabError, match="no MIDI file"):
        read_midi(tmp_path / "missing.mid")
    with pytest.raises(AdvlabError, match=r"\(B, 16, 128\)"):
        write_midi(torch.zeros(2, 16, 100), tmp_path / "x.mid")
    with pytest.raises(AdvlabError, match="unknown chord 'H'"):
        write_midi(roll_from_codes(CODES), tmp_path / "x.mid", chords=["H"])


def test_piano_roll_png(tmp_path):
    path = piano_roll(roll_from_codes(CODES), tmp_path / "roll.png", title="six bars", chords=["C", "G"])
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > image.size[1] > 100


def test_render_wav_length_and_pitch(tmp_path):
    bars = roll_from_codes(torch.tensor([[69] * 16]))  # A4 = 440 Hz for one bar
    path = render_wav(bars, tmp_path / "a.wav", sample_rate=16000, tempo_bpm=120.0)
    with wave.open(str(path)) as handle:
        assert handle.getnchannels() == 1 and handle.getsampwidth() == 2 and handle.getframerate() == 16000
        frames = handle.readframes(handle.getnframes())
    audio = np.frombuffer(frames, dtype="<i2").astype(np.float64)
    assert abs(len(audio) - 2.0 * 16000) <= 2  # 4 beats at 120 bpm
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.fft.rfftfreq(len(audio), 1 / 16000)[spectrum.argmax()] == pytest.approx(440, abs=1)
    assert np.abs(audio).max() == pytest.approx(0.8 * 32767, rel=0.01)
    assert abs(audio[0]) < 0.01 * 32767 and abs(audio[-2]) < 0.05 * 32767  # fades, no click
    silent = render_wav(roll_from_codes(torch.tensor([[REST] * 16])), tmp_path / "s.wav")
    with wave.open(str(silent)) as handle:
        assert not np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2").any()
