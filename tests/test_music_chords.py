"""Chord names and MidiNet's 13-dimensional chord vectors (advlab.music.chords)."""

import pytest
import torch

from advlab.core.errors import AdvlabError
from advlab.music.chords import chord_name, chord_pitch_classes, chord_root, chord_vector, chord_vectors, parse_chords


def _expected(root: int, minor: int) -> torch.Tensor:
    vector = torch.zeros(13)
    vector[root] = 1.0
    vector[12] = float(minor)
    return vector


@pytest.mark.parametrize("name, root, minor", [
    ("C", 0, 0), ("Am", 9, 1), ("F#m", 6, 1), ("Bb", 10, 0), ("Ebm", 3, 1), ("G", 7, 0), ("Gb", 6, 0),
    ("B#", 0, 0), ("Cb", 11, 0), ("amin", 9, 1), ("DM", 2, 0), ("Dmaj", 2, 0), (" E ", 4, 0), ("bb", 10, 0),
])
def test_known_chords(name, root, minor):
    assert torch.equal(chord_vector(name), _expected(root, minor))
    assert chord_root(name) == (root, minor)


def test_names_round_trip_for_all_24_triads():
    names = [chord_name(_expected(root, minor)) for minor in (0, 1) for root in range(12)]
    assert names[:12] == ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
    assert names[21] == "Am" and len(set(names)) == 24
    for name in names:
        assert chord_name(chord_vector(name)) == name
    assert torch.equal(chord_vector("A#"), chord_vector("Bb"))


def test_no_chord():
    assert chord_vector("N").abs().sum() == 0
    assert chord_name(torch.zeros(13)) == "N"
    assert chord_pitch_classes("N") == ()


def test_pitch_classes():
    assert chord_pitch_classes("C") == (0, 4, 7)
    assert chord_pitch_classes("Am") == (9, 0, 4)
    assert chord_pitch_classes("F#m") == (6, 9, 1)
    assert chord_pitch_classes("Bb") == (10, 2, 5)


@pytest.mark.parametrize("name", ["H7", "C7", "Cdim", "", "X", "C##", "m"])
def test_unknown_chord_is_an_error(name):
    with pytest.raises(AdvlabError, match=r"unknown chord '.*'; use a root A-G with optional #/b and optional m"):
        chord_vector(name)


def test_parse_chords():
    assert parse_chords("C,G,Am,F") == ["C", "G", "Am", "F"]
    assert parse_chords(" c, g  a#m\tEbm ") == ["C", "G", "Bbm", "Ebm"]
    vectors = chord_vectors(parse_chords("C,Am"))
    assert vectors.shape == (2, 13) and torch.equal(vectors[1], _expected(9, 1))
    with pytest.raises(AdvlabError, match="no chords"):
        parse_chords(" , ")
    with pytest.raises(AdvlabError, match="unknown chord 'H7'"):
        parse_chords("C,H7,G")
    with pytest.raises(AdvlabError, match="13 numbers"):
        chord_name(torch.zeros(12))
