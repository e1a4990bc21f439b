"""Music metrics (advlab.metrics.music) on hand-built bars, the Bach corpus and random melodies."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon

from advlab.core.errors import AdvlabError
from advlab.data.melodies import REST, codes_from_roll, load_melodies, roll_from_codes
from advlab.metrics.music import (
    compare_melodies,
    js_distance,
    melody_statistics,
    nearest_bar_distances,
    nearest_training_bars,
    note_length_histogram,
    pitch_class_histogram,
    random_melodies,
)

C_MAJOR = [60, 60, 62, 62, 64, 64, 65, 65, 67, 67, 69, 69, 71, 71, 72, 72]  # eight notes of two steps


def _bars(*rows):
    return roll_from_codes(torch.tensor(rows))


@pytest.fixture(scope="module")
def bach():
    return load_melodies("bach", bars=4, limit=12, held_out_fraction=0.25, seed=0)


def test_c_major_scale_bar():
    stats = melody_statistics(_bars(C_MAJOR))
    assert stats["notes_per_bar"] == 8 and stats["pitch_classes_per_bar"] == 7
    assert stats["scale_consistency"] == 1.0 and stats["pitch_range"] == 12
    assert stats["mean_interval"] == pytest.approx((2 + 2 + 1 + 2 + 2 + 2 + 1) / 7)
    assert stats["note_length"] == 2 and stats["empty_bar_rate"] == 0 and stats["rest_rate"] == 0
    assert stats["polyphony_rate"] == 0 and stats["beat_repetition"] == 0
    histogram = pitch_class_histogram(_bars(C_MAJOR))
    assert histogram[0] == pytest.approx(2 / 8) and histogram[2] == pytest.approx(1 / 8) and histogram[1] == 0
    lengths = note_length_histogram(_bars(C_MAJOR))
    assert lengths[1] == 1.0 and lengths.sum() == pytest.approx(1.0)


def test_hand_built_statistics():
    chromatic = [60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, REST, REST, REST, REST]
    repeated = [60, 62, 64, 64] * 4  # beats 2-4 repeat beat 1
    empty = [REST] * 16
    stats = melody_statistics(_bars(chromatic, repeated, empty))
    assert stats["empty_bar_rate"] == pytest.approx(1 / 3)
    assert stats["rest_rate"] == pytest.approx((4 + 16) / 48)
    assert stats["notes_per_bar"] == pytest.approx((12 + 12) / 3)  # 60 62 64(held 2) in each beat: 3 notes x 4
    assert stats["pitch_classes_per_bar"] == pytest.approx((12 + 3) / 2)
    assert stats["scale_consistency"] == pytest.approx((7 / 12 + 1) / 2)
    assert stats["pitch_range"] == pytest.approx((11 + 4) / 2)
    assert stats["beat_repetition"] == pytest.approx(3 / (3 + 2))  # chromatic beats 2-3 have notes, differ
    assert stats["mean_interval"] == pytest.approx((11 * 1 + (2 + 2 + 4) * 3 + 2 + 2) / (11 + 11))
    chord = torch.zeros(1, 16, 128)
    chord[0, :, [60, 64]] = 1.0
    assert melody_statistics(chord)["polyphony_rate"] == 1.0


def test_bar_repetition_on_phrases():
    a, b = [60] * 16, [62] * 16
    phrases = torch.stack([_bars(a, a, b, b), _bars(a, b, a, b)])  # (2, 4, 16, 128)
    assert melody_statistics(phrases)["bar_repetition"] == pytest.approx(2 / 6)
    assert "bar_repetition" not in melody_statistics(phrases.reshape(-1, 1, 16, 128))
    with pytest.raises(AdvlabError, match="melody bars must be"):
        melody_statistics(torch.zeros(3, 16, 100))


def test_js_distance_matches_scipy():
    rng = np.random.default_rng(0)
    for _ in range(5):
        p, q = rng.random(12), rng.random(12)
        p[rng.integers(12)] = 0
        assert js_distance(p, q) == pytest.approx(jensenshannon(p, q, base=2), abs=1e-9)
    assert js_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    assert js_distance([1, 2], [2, 4]) == 0.0


def test_random_melodies_follow_the_corpus_range_and_rest_rate(bach):
    generator = torch.Generator().manual_seed(0)
    random = random_melodies(2000, bach, generator)
    assert random.shape == (2000, 1, 16, 128) and int(random.sum(-1).max()) == 1
    codes, reference = codes_from_roll(random[:, 0]), codes_from_roll(bach.bars[:, 0])
    notes, known = codes[codes != REST], reference[reference != REST]
    assert int(notes.min()) == int(known.min()) and int(notes.max()) == int(known.max())
    assert float((codes == REST).float().mean()) == pytest.approx(float((reference == REST).float().mean()), abs=0.01)
    again = random_melodies(2000, bach.bars, torch.Generator().manual_seed(0))
    assert torch.equal(again, random)


def test_random_melodies_are_far_from_the_corpus(bach):
    held = bach.held_out
    random = random_melodies(len(held), bach, torch.Generator().manual_seed(1))
    real = compare_melodies(held, bach)
    noise = compare_melodies(random, bach, generated_chords=held.chords)
    # the pitch-class histogram depends on the pieces' keys: judge it on phrases of the same pieces
    same_pieces = bach.bars.reshape(-1, 4, 1, 16, 128)[::2].reshape(-1, 1, 16, 128)
    # measured at split seeds 0-2 x random seeds 1-2 (limit 12): noise 0.29-0.34 vs same pieces 0.07-0.08;
    # note lengths noise 0.94-0.96 vs held out 0.15-0.34; mean symmetric difference 0.46-0.58 vs 0.14-0.18;
    # chord-tone rate 0.22-0.28 vs 0.56-0.61
    assert noise["pitch_class_distance"] > 0.25 > 0.15 > compare_melodies(same_pieces, bach)["pitch_class_distance"]
    assert noise["note_length_distance"] > 0.8 > 0.4 > real["note_length_distance"]
    assert noise["mean_symmetric_difference"] > 0.4 > 0.3 > real["mean_symmetric_difference"]
    assert noise["generated"]["scale_consistency"] < 0.85 < 0.95 < real["generated"]["scale_consistency"]
    assert noise["generated"]["chord_tone_rate"] < 0.35 < 0.45 < real["generated"]["chord_tone_rate"]
    assert set(real["histograms"]) == {"pitch_class", "note_length"}
    assert len(real["histograms"]["pitch_class"]["reference"]) == 12
    assert real["difference"]["notes_per_bar"] == pytest.approx(
        real["generated"]["notes_per_bar"] - real["reference"]["notes_per_bar"])


def test_chord_tone_rate():
    bars = _bars([60] * 4 + [64] * 4 + [65] * 4 + [67] * 4, [69] * 16, [62] * 16)
    chords = torch.zeros(3, 13)
    chords[0, 0] = 1.0  # C: C E G are chord tones, F is not
    chords[1, 9], chords[1, 12] = 1.0, 1.0  # Am: A is
    stats = melody_statistics(bars, chords)  # the third bar has no chord: left out
    assert stats["chord_tone_rate"] == pytest.approx(4 / 5)
    with pytest.raises(AdvlabError, match="one chord per bar"):
        melody_statistics(bars, chords[:2])


def test_copies_are_detected_exactly(bach):
    training = bach.bars[:40]
    copies = training[:10].clone()
    changed = training[10:20].clone()
    codes = codes_from_roll(changed[:, 0])
    codes[:, 5] = torch.where(codes[:, 5] == 100, 101, 100)  # one step moved to a pitch no bar uses
    changed = roll_from_codes(codes).unsqueeze(1)
    empty = torch.zeros(3, 1, 16, 128)
    result = nearest_training_bars(torch.cat([copies, changed, empty]), training, transpositions=False)
    assert result["generated"] == 20 and result["empty_left_out"] == 3
    assert result["exact_copies"] == 0.5 and result["near_copies"] == 1.0
    assert result["histogram"][0] == 10 and result["histogram"][1] == 10 and sum(result["histogram"]) == 20
    # a brute-force check against every training bar
    generated = torch.cat([copies, changed])
    distances, nearest, train = nearest_bar_distances(generated, training, transpositions=False)
    ours, theirs = codes_from_roll(generated[:, 0]), codes_from_roll(training[:, 0])
    brute = (ours[:, None, :] != theirs[None, :, :]).sum(-1).min(1).values
    assert torch.equal(distances, brute)
    assert torch.equal((ours != train[nearest]).sum(1), distances)


def test_transposed_copies_count_with_melody_bars(bach):
    shift = int(bach.shifts[0, 5])
    codes = codes_from_roll(bach.bars[:1, 0])
    moved = roll_from_codes(torch.where(codes == REST, codes, codes + shift)).unsqueeze(1)
    assert nearest_training_bars(moved, bach)["exact_copies"] == 1.0
    plain = nearest_bar_distances(moved, bach, transpositions=False)[0]
    assert int(plain[0]) > 0 or shift == 0


def test_phrase_level_copy_check(bach):
    phrases = torch.stack([bars for bars, _ in bach.phrases()[:3]])
    result = nearest_training_bars(phrases, bach)
    assert result["unit"] == "phrase of 4 bars" and result["exact_copies"] == 1.0 and len(result["histogram"]) == 65
    held = torch.stack([bars for bars, _ in bach.held_out.phrases()])
    assert nearest_training_bars(held, bach)["exact_copies"] == 0.0  # held-out duplicates were removed
    with pytest.raises(AdvlabError, match="training rows"):
        nearest_training_bars(phrases, bach.bars)
