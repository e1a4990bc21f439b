"""Music generation (issue 20): chords, MIDI/piano-roll/WAV output, and MidiNet (Yang et al. 2017).

The melody data live in :mod:`advlab.data.melodies` (bars of 16 steps x 128 pitches, a 13-number chord per bar);
the music metrics in :mod:`advlab.metrics.music`.
"""

from advlab.music.chords import chord_name, chord_pitch_classes, chord_root, chord_vector, chord_vectors, parse_chords
from advlab.music.midi_io import melody_notes, piano_roll, read_midi, render_wav, write_midi
from advlab.music.midinet import MidiNet, binarize, discriminator_loss, generate

__all__ = [
    "MidiNet", "binarize", "discriminator_loss", "generate", "chord_name", "chord_pitch_classes", "chord_root",
    "chord_vector", "chord_vectors", "melody_notes", "parse_chords", "piano_roll", "read_midi", "render_wav",
    "write_midi",
]
