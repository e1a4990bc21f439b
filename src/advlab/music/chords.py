"""Chord names <-> MidiNet's 13-dimensional chord vectors (Yang et al. 2017, sec. 3.3: the 1-D condition).

A chord vector has 12 one-hot numbers for the root (C = 0, C# = 1, ..., B = 11) and a 13th that is 1.0 for a minor
triad and 0.0 for a major one; all zeros means "no chord" (the name ``N``). Only the 24 major and minor triads
exist in this form, as in MidiNet.

Names: a root letter A-G (upper or lower case), an optional accidental ``#`` or ``b`` (also ``♯``/``♭``), and an
optional ``m`` (also ``min``/``minor``) for minor; ``maj``/``major``/``M`` are accepted for major. ``chord_name``
spells roots the usual way: C, C#, D, Eb, E, F, F#, G, Ab, A, Bb, B.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor

from advlab.core.errors import AdvlabError
from advlab.data.melodies import CHORD_DIM, KEYS, chord_tensor

NO_CHORD = "N"
ROOT_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_PATTERN = re.compile(r"^([A-Ga-g])([#b♯♭]?)(m|min|minor|maj|major|M)?$")


def chord_root(name: str) -> tuple[int, int]:
    """A chord name -> (root 0..11, minor 0/1); ``N`` gives (-1, 0). AdvlabError for a name that is not a chord."""
    text = name.strip() if isinstance(name, str) else ""
    if text.upper() == NO_CHORD:
        return -1, 0
    match = _PATTERN.match(text)
    if match is None:
        raise AdvlabError(f"unknown chord '{name}'; use a root A-G with optional #/b and optional m")
    letter, accidental, quality = match.groups()
    root = _LETTERS[letter.upper()] + {"#": 1, "♯": 1, "b": -1, "♭": -1}.get(accidental, 0)
    return root % KEYS, int(quality in ("m", "min", "minor"))


def chord_vector(name: str) -> Tensor:
    """A chord name ("C", "Am", "F#m", "Bb", "Ebm", "N") -> (13,) float32 chord vector."""
    root, minor = chord_root(name)
    return chord_tensor(root, minor)


def chord_vectors(names: list[str]) -> Tensor:
    """Chord names -> (len(names), 13) float32."""
    if not names:
        return torch.zeros(0, CHORD_DIM)
    return torch.stack([chord_vector(name) for name in names])


def chord_name(vector: Tensor) -> str:
    """A (13,) chord vector -> its name ("C", "Am", "F#m", "Bb", ...); ``N`` for all zeros."""
    vector = torch.as_tensor(vector, dtype=torch.float32).flatten()
    if vector.numel() != CHORD_DIM:
        raise AdvlabError(f"a chord vector has {CHORD_DIM} numbers, got {vector.numel()}")
    if float(vector[:KEYS].abs().sum()) == 0.0:
        return NO_CHORD
    root = int(vector[:KEYS].argmax())
    return ROOT_NAMES[root] + ("m" if float(vector[KEYS]) > 0.5 else "")


def chord_pitch_classes(name: str) -> tuple[int, ...]:
    """The triad's pitch classes, root first: "Am" -> (9, 0, 4); ``N`` -> ()."""
    root, minor = chord_root(name)
    if root < 0:
        return ()
    return root, (root + (3 if minor else 4)) % KEYS, (root + 7) % KEYS


def parse_chords(text: str) -> list[str]:
    """"C,G,Am,F" (commas and/or spaces) -> ["C", "G", "Am", "F"], each checked and spelled as ``chord_name``."""
    names = [part for part in re.split(r"[,\s]+", text.strip()) if part] if isinstance(text, str) else []
    if not names:
        raise AdvlabError(f"no chords in {text!r}; give names like C,G,Am,F")
    return [chord_name(chord_vector(name)) for name in names]


__all__ = ["NO_CHORD", "ROOT_NAMES", "chord_name", "chord_pitch_classes", "chord_root", "chord_vector",
           "chord_vectors", "parse_chords"]
