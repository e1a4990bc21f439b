"""Melody data in MidiNet's form (advlab.data.melodies): music21's Bach chorales, ABC tunes, a folder of MIDI files."""

import mido
import numpy as np
import pytest
import torch

from advlab.core.errors import AdvlabError
from advlab.data.melodies import (
    CHORD_DIM,
    HIGH,
    LOW,
    PITCHES,
    REST,
    STEPS,
    _abc_sources,
    _quantise,
    _read_sources,
    _shape_key,
    codes_from_roll,
    estimate_chord,
    fit_range,
    key_shifts,
    load_melodies,
    roll_from_codes,
    transpose_bars,
)


@pytest.fixture(scope="module")
def bach():
    return load_melodies("bach", bars=4, limit=8, seed=0)


def test_bach_shapes_values_and_range(bach):
    n = len(bach)
    assert n > 0 and n % 4 == 0
    assert bach.bars.shape == (n, 1, STEPS, PITCHES) and bach.previous.shape == (n, 1, STEPS, PITCHES)
    assert bach.chords.shape == (n, CHORD_DIM) and bach.bars.dtype == torch.float32
    assert set(torch.unique(bach.bars).tolist()) <= {0.0, 1.0}
    assert int(bach.bars.sum(-1).max()) == 1  # at most one note per step, and some notes
    pitches = torch.nonzero(bach.bars)[:, 3]
    assert int(pitches.min()) >= LOW and int(pitches.max()) <= HIGH
    roots = bach.chords[:, :12].sum(1)
    assert set(roots.tolist()) <= {0.0, 1.0} and roots.mean() > 0.9  # chorale bars nearly all have a chord
    assert set(bach.chords[:, 12].tolist()) <= {0.0, 1.0}
    assert bach.checkpoint_meta() == {"steps": 16, "pitches": 128, "chord_dim": 13}
    assert bach.info["pieces"] == 8 and all(reason for _, reason in bach.skipped)


def test_previous_is_the_real_previous_bar(bach):
    first = bach.position == 0
    assert first.sum() == bach.phrase.max() + 1
    assert bach.previous[first].abs().sum() == 0
    for row in torch.nonzero(~first).flatten().tolist():
        before = torch.nonzero((bach.phrase == bach.phrase[row]) & (bach.position == bach.position[row] - 1))
        assert torch.equal(bach.previous[row], bach.bars[int(before)])
    phrases = bach.phrases()
    assert len(phrases) == int(bach.phrase.max()) + 1 and phrases[0][0].shape == (4, STEPS, PITCHES)
    assert torch.equal(phrases[1][0], bach.bars[bach.phrase == 1, 0])


def test_held_out_phrases_are_disjoint_from_training(bach):
    held = bach.held_out
    assert held is not None and len(held) > 0 and held.shifts is None
    assert set(bach.info["held_out_pieces"]).isdisjoint(bach.info["training_pieces"])
    train_keys = {_shape_key(codes_from_roll(b).numpy()) for b, _ in bach.phrases()}
    assert all(_shape_key(codes_from_roll(b).numpy()) not in train_keys for b, _ in held.phrases())
    everything = load_melodies("bach", bars=4, limit=8, held_out_fraction=0.0, transpose=False)
    assert everything.held_out is None
    assert len(everything) == len(bach) + len(held) + 4 * bach.info["held_out_duplicates"]
    other = load_melodies("bach", bars=4, limit=8, seed=3)
    assert other.info["held_out_pieces"] != bach.info["held_out_pieces"]


def test_sample_transposes_bar_previous_and_chord_together(bach):
    generator = torch.Generator().manual_seed(0)
    bars, previous, chords = bach.sample(64, generator)
    assert bars.shape == (64, 1, STEPS, PITCHES) and previous.shape == bars.shape and chords.shape == (64, 13)
    assert int(bars.sum(-1).max()) == 1
    pitches = torch.nonzero(bars)[:, 3]
    assert int(pitches.min()) >= LOW - 12 and int(pitches.max()) <= HIGH + 12
    # every drawn row is a stored row moved by one shift s: bar, previous bar and chord root by the same s
    codes = codes_from_roll(bach.bars[:, 0])
    drawn = codes_from_roll(bars[:, 0])
    keys_seen = set()
    for index in range(64):
        matches = [(row, key) for row in range(len(bach)) for key in range(12) if _drawn_from(bach, row, key, codes, (
            drawn[index], previous[index:index + 1], chords[index]))]
        assert matches, index
        keys_seen.update(key for _, key in matches)
    assert len(keys_seen) >= 6
    again = bach.sample(64, torch.Generator().manual_seed(0))
    assert torch.equal(again[0], bars) and torch.equal(again[2], chords)


def _drawn_from(data, row, key, codes, drawn) -> bool:
    """Whether a drawn (bar codes, previous roll, chord) is stored row `row` moved to key `key`."""
    bar, previous, chord = drawn
    shift = int(data.shifts[row, key])
    if not torch.equal(torch.where(codes[row] == REST, codes[row], codes[row] + shift), bar):
        return False
    if not torch.equal(transpose_bars(data.previous[row:row + 1], torch.tensor([shift])), previous):
        return False
    return int(chord[:12].argmax()) == (int(data.chords[row, :12].argmax()) + shift) % 12 and chord[12] == \
        data.chords[row, 12]


def test_fit_range_and_key_shifts():
    codes = np.full((2, STEPS), REST)
    codes[0, :4] = 48  # C3
    codes[0, 4:8] = 55
    codes[1, :4] = 79 - 12  # G4 - an octave
    fitted, folded = fit_range(codes)
    assert folded == 0 and fitted[0, 0] == 60 and fitted[0, 4] == 67 and fitted[1, 0] == 79
    wide = np.full((1, STEPS), REST)
    wide[0, :3] = [40, 60, 90]  # 50 semitones: one octave shift cannot hold them all
    fitted, folded = fit_range(wide)
    assert folded >= 1 and ((fitted[fitted != REST] >= LOW) & (fitted[fitted != REST] <= HIGH)).all()
    assert sorted(fitted[0, :3] % 12) == sorted(np.array([40, 60, 90]) % 12)
    shifts = key_shifts(fitted)
    assert shifts[0] == 0 and all(s % 12 == k for k, s in enumerate(shifts)) and np.abs(shifts).max() <= 11
    high = np.full((1, STEPS), REST)
    high[0, :2] = [80, 83]
    assert key_shifts(high)[1] == -11  # up a semitone would leave the range; down eleven stays inside


def test_estimate_chord_templates():
    def histogram(*classes):
        h = np.zeros(12)
        for c in classes:
            h[c] += 1
        return h

    assert estimate_chord(histogram(0, 4, 7)) == (0, 0)  # C
    assert estimate_chord(histogram(9, 0, 4)) == (9, 1)  # Am
    assert estimate_chord(histogram(6, 9, 1)) == (6, 1)  # F#m
    assert estimate_chord(histogram(10, 2, 5)) == (10, 0)  # Bb
    # A C E G: Am and C both cover three notes; the bass decides
    assert estimate_chord(histogram(9, 0, 4, 7), histogram(9)) == (9, 1)
    assert estimate_chord(histogram(9, 0, 4, 7), histogram(0)) == (0, 0)
    assert estimate_chord(np.zeros(12)) == (-1, 0)


def test_abc_tunes_with_chord_symbols_and_meters(tmp_path):
    text = """X:1
T:Four four
M:4/4
L:1/8
K:C
"C"C2 E2 G2 c2|"Am"A2 c2 e4|"F"f8|"G"z4 B2 d2|
X:2
T:A waltz
M:3/4
L:1/4
K:G
G A B|c B A|
"""
    path = tmp_path / "tunes.abc"
    path.write_text(text)
    pieces, skipped = _read_sources(list(_abc_sources([path])), None, False, "test")
    assert len(pieces) == 1 and len(skipped) == 1 and "3/4" in skipped[0][1]
    codes, chords = pieces[0].segments[0]
    assert codes.shape == (4, STEPS)
    assert codes[0].tolist() == [60] * 4 + [64] * 4 + [67] * 4 + [72] * 4
    assert codes[2].tolist() == [77] * 16
    assert codes[3].tolist() == [REST] * 8 + [71] * 4 + [74] * 4
    assert chords.tolist() == [[0, 0], [9, 1], [5, 0], [7, 0]]


def _write_midi_file(path, tracks, ticks=480, meter=(4, 4)):
    """tracks: {name: [(start_step, length_steps, pitch), ...]}, a step being a sixteenth."""
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks)
    for index, (name, notes) in enumerate(tracks.items()):
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
        if index == 0:
            track.append(mido.MetaMessage("time_signature", numerator=meter[0], denominator=meter[1]))
        events = []
        for start, length, pitch in notes:
            events.append((start * ticks // 4, 1, mido.Message("note_on", note=pitch, velocity=80, channel=index)))
            events.append(((start + length) * ticks // 4, 0, mido.Message("note_off", note=pitch, channel=index)))
        now = 0
        for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
            track.append(message.copy(time=tick - now))
            now = tick
        midi.tracks.append(track)
    midi.save(str(path))


def test_folder_of_midi_files_with_a_garbage_file(tmp_path):
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    scale = [(4 * i, 4, p) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]
    bass = [(0, 16, 48), (16, 16, 53)]
    _write_midi_file(folder / "a.mid", {"piano left": bass, "Melody": scale})
    _write_midi_file(folder / "sub" / "b.MIDI", {"lead": [(0, 2, 76), (2, 2, 76), (8, 24, 79)]})
    (folder / "broken.mid").write_bytes(b"this is not a MIDI file at all")
    (folder / "notes.txt").write_text("ignored")
    data = load_melodies(folder=str(folder), bars=2, held_out_fraction=0.0, transpose=False)
    assert len(data) == 4 and data.held_out is None
    assert [name for name, _ in data.skipped] == ["broken.mid"] and data.skipped[0][1]
    assert data.info["pieces"] == 2 and data.info["skipped"] == 1
    codes = codes_from_roll(data.bars[:, 0])
    assert codes[0].tolist() == [60] * 4 + [62] * 4 + [64] * 4 + [65] * 4
    assert codes[1].tolist() == [67] * 4 + [69] * 4 + [71] * 4 + [72] * 4
    assert codes[2].tolist() == [76] * 4 + [REST] * 4 + [79] * 8  # repeated notes of one pitch merge
    assert codes[3].tolist() == [79] * 16
    # chords from the other track (C3 then F3 under the scale), from the melody alone in b.MIDI
    assert [int(c[:12].argmax()) for c in data.chords[:2]] == [0, 5]


def test_folder_errors(tmp_path):
    with pytest.raises(AdvlabError, match="no folder"):
        load_melodies(folder=str(tmp_path / "missing"))
    with pytest.raises(AdvlabError, match="no .mid or .midi"):
        load_melodies(folder=str(tmp_path))
    (tmp_path / "x.mid").write_bytes(b"MThd garbage")
    _write_midi_file(tmp_path / "waltz.mid", {"melody": [(0, 12, 60)]}, meter=(3, 4))
    _write_midi_file(tmp_path / "chords.mid", {"piano": [(0, 16, 60), (0, 16, 64), (0, 16, 67)]})
    with pytest.raises(AdvlabError, match=r"3 of 3 MIDI files skipped") as error:
        load_melodies(folder=str(tmp_path))
    assert "polyphonic only" in str(error.value) and "4/4" in str(error.value)


def test_bad_arguments():
    with pytest.raises(AdvlabError, match="unknown corpus 'nope'"):
        load_melodies("nope")
    with pytest.raises(AdvlabError, match="empty"):
        load_melodies("")
    with pytest.raises(AdvlabError, match="exactly one"):
        load_melodies()
    with pytest.raises(AdvlabError, match="bars must be an integer >= 1"):
        load_melodies("bach", bars=0)
    with pytest.raises(AdvlabError, match="held_out_fraction"):
        load_melodies("bach", held_out_fraction=1.0)


def test_roll_and_codes_round_trip_and_highest_note_wins():
    codes = torch.tensor([[60, 60, REST, 127, 0] + [REST] * 11])
    assert torch.equal(codes_from_roll(roll_from_codes(codes)), codes)
    chord = torch.zeros(1, STEPS, PITCHES)
    chord[0, 0, [60, 64, 67]] = 1.0
    assert codes_from_roll(chord)[0, 0] == 67


def test_quantise_keeps_the_highest_voice_and_splits_segments():
    from advlab.data.melodies import _Source

    bars = [(0.0, 1.0, False), (1.0, 4.0, True), (5.0, 4.0, True), (9.0, 3.0, False), (12.0, 4.0, True)]
    melody = [(1.0, 3.0, 60), (2.0, 3.0, 72), (3.0, 9.0, 62), (12.0, 12.25, 65)]
    piece = _quantise(_Source("x", melody, bars))
    assert [len(codes) for codes, _ in piece.segments] == [2, 1]
    first = piece.segments[0][0]
    assert first[0].tolist() == [60] * 4 + [72] * 4 + [62] * 8 and first[1].tolist() == [62] * 16
    assert piece.segments[1][0][0].tolist() == [65] + [REST] * 15


def test_corpus_cache_is_used_and_a_broken_one_is_rebuilt():
    from advlab.data.melodies import _cache_path

    path = _cache_path("bach", 3)
    path.unlink(missing_ok=True)
    cold = load_melodies("bach", bars=2, limit=3)
    assert not cold.info["cached"] and path.exists()
    warm = load_melodies("bach", bars=2, limit=3)
    assert warm.info["cached"] and torch.equal(warm.bars, cold.bars) and torch.equal(warm.chords, cold.chords)
    path.write_bytes(path.read_bytes()[:100])
    again = load_melodies("bach", bars=2, limit=3)
    assert not again.info["cached"] and torch.equal(again.bars, cold.bars)


def test_a_chorale_exported_to_midi_reads_as_the_corpus_reads_it(tmp_path):
    from music21 import corpus

    from advlab.data.melodies import _score_source, read_midi_melody

    score = corpus.parse("bach/bwv10.7")  # no pickup: MIDI keeps its bar lines
    source, _ = _score_source(score, "bwv10.7", score.parts[0], list(score.parts))
    codes, roots = _quantise(source).segments[0]
    bars, chords = read_midi_melody(score.write("midi", fp=str(tmp_path / "bwv10.7.mid")))
    assert codes.shape == (22, STEPS) and torch.equal(codes_from_roll(bars), torch.from_numpy(codes).long())
    assert [int(c[:12].argmax()) for c in chords] == roots[:, 0].tolist()
    assert chords[:, 12].tolist() == roots[:, 1].tolist()
