"""Melodies out of advlab: standard MIDI files (mido), piano-roll pictures, and a plain sine rendering to WAV.

Bars are MidiNet's piano rolls (Yang et al. 2017, sec. 3.1): (B, 16, 128) or (B, 1, 16, 128), 16 sixteenth-note
steps by 128 MIDI pitches; a step's melody note is its highest value > 0.5 (``advlab.data.melodies
.codes_from_roll``), so a generator's raw output can be written after thresholding or argmax. A {0, 1} roll cannot
tell a held note from repeated notes of one pitch: as in MidiNet, consecutive steps of the same pitch are written as
one note (also across a bar line), and every note has velocity ``VELOCITY``.

MIDI files are type 1 at ``TICKS_PER_BEAT`` = 480 (a step is 120 ticks), 4/4, with a ``melody`` track (channel 1,
Acoustic Grand Piano) and, when chords are given, a ``chords`` track (channel 2, softer) that holds each bar's triad
for the whole bar in the octave below middle C (root position, root from C3 = MIDI 48). Reading a file back
(``read_midi``) goes through the same reader as a user's folder (``advlab.data.melodies``), which finds the
``melody`` track by its name, so a written file reads back to the same bars.

The WAV rendering is a NumPy additive synthesiser (a sine and two quieter harmonics per note, 10 ms fades in and out
so notes do not click), mono 16-bit PCM; chords, when given, sound an octave below at a third of the melody's level.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from advlab.core.errors import AdvlabError
from advlab.data.melodies import CHORD_DIM, PITCHES, REST, STEPS, codes_from_roll, read_midi_melody
from advlab.music.chords import chord_name, chord_pitch_classes, chord_vector

TICKS_PER_BEAT = 480
STEP_TICKS = TICKS_PER_BEAT // 4
VELOCITY = 96
CHORD_VELOCITY = 64
CHORD_BASE = 48  # C3: chord roots sit in C3..B3
MELODY_CHANNEL, CHORD_CHANNEL = 0, 1
FADE_SECONDS = 0.01
HARMONICS = (1.0, 0.3, 0.1)  # amplitude of the fundamental and the 2nd and 3rd harmonics
PEAK = 0.8  # the WAV's loudest sample, as a share of full scale
DPI = 110


def _codes(bars) -> np.ndarray:
    """(B, 16, 128) or (B, 1, 16, 128) rolls (Tensor or array) -> (B, 16) int step codes."""
    bars = torch.as_tensor(np.asarray(bars) if not isinstance(bars, Tensor) else bars).detach().float().cpu()
    if bars.dim() == 4 and bars.shape[1] == 1:
        bars = bars[:, 0]
    if bars.dim() == 2:
        bars = bars.unsqueeze(0)
    if bars.dim() != 3 or tuple(bars.shape[1:]) != (STEPS, PITCHES):
        raise AdvlabError(f"melody bars must be (B, {STEPS}, {PITCHES}) or (B, 1, {STEPS}, {PITCHES}), "
                          f"got {tuple(bars.shape)}")
    return codes_from_roll(bars).numpy()


def melody_notes(bars) -> list[tuple[int, int, int]]:
    """Bars -> notes (first step, end step, pitch) over the whole sequence: runs of one pitch are one note."""
    codes = _codes(bars).reshape(-1)
    notes, start = [], 0
    for step in range(1, codes.size + 1):
        if step == codes.size or codes[step] != codes[start]:
            if codes[start] != REST:
                notes.append((start, step, int(codes[start])))
            start = step
    return notes


def _chord_names(chords, bars: int) -> list[str]:
    """Chord names or (B, 13) vectors -> one name per bar (a shorter list repeats: C,G,Am,F over 8 bars)."""
    if chords is None:
        return []
    if isinstance(chords, Tensor | np.ndarray):
        vectors = torch.as_tensor(chords).reshape(-1, CHORD_DIM)
        names = [chord_name(vector) for vector in vectors]
    else:
        names = [chord_name(chord_vector(name)) for name in chords]
    if not names:
        return []
    return [names[index % len(names)] for index in range(bars)]


def _track(name: str, events: list[tuple[int, int, object]], end: int):
    """A mido track from (absolute tick, order, message) events, ending at tick `end`."""
    import mido

    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
    now = 0
    for tick, _, message in sorted(events, key=lambda event: (event[0], event[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(end - now, 0)))
    return track


def write_midi(bars, path: str | Path, chords: list[str] | Tensor | None = None, tempo_bpm: float = 120.0) -> Path:
    """Write bars as a standard MIDI file: a melody track, plus held triads on a chords track when given.

    Args:
        bars: (B, 16, 128) or (B, 1, 16, 128) piano rolls.
        path: the .mid file to write (parent folders are made).
        chords: one chord name per bar ("C", "Am", ...; a shorter list repeats) or (B, 13) chord vectors; None for
            the melody alone.
        tempo_bpm: quarter notes per minute (default 120).
    """
    import mido

    if not isinstance(tempo_bpm, int | float) or not 1 <= tempo_bpm <= 1000:
        raise AdvlabError(f"tempo_bpm must be a number in [1, 1000], got {tempo_bpm!r}")
    count = _codes(bars).shape[0]
    end = count * STEPS * STEP_TICKS
    melody = [mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0),
              mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
              mido.Message("program_change", channel=MELODY_CHANNEL, program=0, time=0)]
    events = [(0, index, message) for index, message in enumerate(melody)]
    for first, stop, pitch in melody_notes(bars):
        events.append((first * STEP_TICKS, 10, mido.Message("note_on", channel=MELODY_CHANNEL, note=pitch,
                                                            velocity=VELOCITY)))
        events.append((stop * STEP_TICKS, 5, mido.Message("note_off", channel=MELODY_CHANNEL, note=pitch)))
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(_track("melody", events, end))
    names = _chord_names(chords, count)
    if names:
        events = [(0, 0, mido.Message("program_change", channel=CHORD_CHANNEL, program=0, time=0))]
        for index, name in enumerate(names):
            for pitch_class in chord_pitch_classes(name):
                root = chord_pitch_classes(name)[0]
                pitch = CHORD_BASE + root + (pitch_class - root) % 12
                start, stop = index * STEPS * STEP_TICKS, (index + 1) * STEPS * STEP_TICKS
                events.append((start, 10, mido.Message("note_on", channel=CHORD_CHANNEL, note=pitch,
                                                       velocity=CHORD_VELOCITY)))
                events.append((stop, 5, mido.Message("note_off", channel=CHORD_CHANNEL, note=pitch)))
        midi.tracks.append(_track("chords", events, end))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(str(path))
    return path


def read_midi(path: str | Path) -> tuple[Tensor, Tensor]:
    """A MIDI file's melody as (bars (B, 16, 128) float32, chords (B, 13)): its 4/4 bars, read as a folder's files
    are (``advlab.data.melodies``). AdvlabError when it does not parse or has no whole 4/4 bar."""
    return read_midi_melody(path)


def piano_roll(bars, path: str | Path, title: str | None = None, chords: list[str] | Tensor | None = None) -> Path:
    """Draw bars as a piano roll (time across, pitch up, bar lines, chord names above each bar) to a PNG."""
    codes = _codes(bars)
    count = codes.shape[0]
    notes = melody_notes(bars)
    pitches = [pitch for _, _, pitch in notes]
    low, high = (min(pitches) - 2, max(pitches) + 2) if pitches else (58, 85)
    figure = Figure(figsize=(min(2.0 + 1.2 * count, 24.0), 3.2), dpi=DPI)
    axes = figure.add_subplot(1, 1, 1)
    for first, stop, pitch in notes:
        axes.add_patch(_rectangle(first, pitch, stop - first))
    for bar in range(count + 1):
        axes.axvline(bar * STEPS, color="#555555", linewidth=0.8)
    for beat in range(count * 4):
        axes.axvline(beat * 4, color="#dddddd", linewidth=0.5, zorder=0)
    for index, name in enumerate(_chord_names(chords, count)):
        axes.text(index * STEPS + 0.5, high + 0.3, name, fontsize=8, va="bottom")
    axes.set_xlim(0, count * STEPS)
    axes.set_ylim(low, high + (2.5 if chords is not None else 0.5))
    octaves = [p for p in range(0, PITCHES, 12) if low <= p <= high + 2]
    axes.set_yticks(octaves, [f"C{p // 12 - 1}" for p in octaves])
    axes.set_xticks([bar * STEPS for bar in range(count)], [str(bar + 1) for bar in range(count)])
    axes.set_xlabel("bar")
    if title:
        axes.set_title(title, fontsize=10)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def _rectangle(first: int, pitch: int, length: int):
    from matplotlib.patches import Rectangle

    return Rectangle((first, pitch - 0.45), length, 0.9, facecolor="#1565c0", edgecolor="#0d3c78", linewidth=0.6)


def _tone(frequency: float, samples: int, sample_rate: int) -> np.ndarray:
    """A note: HARMONICS over `frequency` for `samples` samples, with linear fades in and out."""
    t = np.arange(samples) / sample_rate
    wave_ = sum(a * np.sin(2 * np.pi * frequency * (k + 1) * t) for k, a in enumerate(HARMONICS)
                if frequency * (k + 1) < sample_rate / 2)
    fade = min(int(FADE_SECONDS * sample_rate), samples // 2)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade)
        wave_[:fade] *= ramp
        wave_[samples - fade:] *= ramp[::-1]
    return wave_


def render_wav(bars, path: str | Path, sample_rate: int = 22050, tempo_bpm: float = 120.0,
               chords: list[str] | Tensor | None = None) -> Path:
    """Render bars (and optional chords) to a mono 16-bit WAV with a plain sine synthesiser (module docstring)."""
    if not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or not 4000 <= sample_rate <= 192000:
        raise AdvlabError(f"sample_rate must be an integer in [4000, 192000], got {sample_rate!r}")
    if not isinstance(tempo_bpm, int | float) or not 1 <= tempo_bpm <= 1000:
        raise AdvlabError(f"tempo_bpm must be a number in [1, 1000], got {tempo_bpm!r}")
    count = _codes(bars).shape[0]
    step = 60.0 / tempo_bpm / 4 * sample_rate  # samples per sixteenth note
    audio = np.zeros(int(round(count * STEPS * step)) + 1)

    def add(first: float, stop: float, pitch: int, level: float) -> None:
        a, b = int(round(first * step)), int(round(stop * step))
        audio[a:b] += level * _tone(440.0 * 2 ** ((pitch - 69) / 12), b - a, sample_rate)

    for first, stop, pitch in melody_notes(bars):
        add(first, stop, pitch, 1.0)
    for index, name in enumerate(_chord_names(chords, count)):
        classes = chord_pitch_classes(name)
        for pitch_class in classes:
            add(index * STEPS, (index + 1) * STEPS, CHORD_BASE + classes[0] + (pitch_class - classes[0]) % 12, 1 / 3)
    peak = np.abs(audio).max()
    if peak > 0:
        audio *= PEAK / peak
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes((audio * 32767).astype("<i2").tobytes())
    return path


__all__ = ["TICKS_PER_BEAT", "melody_notes", "piano_roll", "read_midi", "render_wav", "write_midi"]
