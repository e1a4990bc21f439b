"""`advlab music sample RUN --n 16 --chords C,G,Am,F --out melodies/`: melodies from a trained MidiNet run, as
files people can use.

Each melody is generated one bar after another (advlab.music.midinet.generate) on the chords given -- the
progression repeated to `bars` bars -- or, without chords, on the progression of a training phrase drawn for each
melody (recorded in the run's checkpoint). For melody i (01, 02, ...) `out` receives

    melody-01.mid    a standard MIDI file: the melody, and the chords as a second track of held triads
    melody-01.png    its piano roll
    melody-01.wav    a plain sine rendering (advlab.music.midi_io.render_wav), melody only
    grid.png         the piano rolls of all the melodies, one row each, chords above the bars
    melodies.json    the chords and notes (pitch, start step, steps) of every melody, for scripts

The same run, seed, n, bars and chords give the same melodies on any device.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError
from advlab.music.chords import chord_name, chord_vector
from advlab.music.midi_io import melody_notes, piano_roll, render_wav, write_midi
from advlab.music.midinet import draw_progressions, generate
from advlab.pipelines.music.train_music import load_music_run
from advlab.reports.music_plots import plot_melody_grid


@dataclass
class Sampled:
    """What a sample call made: the melodies (n, bars, 16, 128), their chord names, and the files written."""

    melodies: Tensor
    chords: list[list[str]]
    files: list[Path] = field(default_factory=list)


def chord_plan(n: int, bars: int, chords: Sequence[str] | None, seed: int,
               progressions: list[Tensor]) -> tuple[Tensor, list[list[str]]]:
    """The (n, bars, 13) chords the melodies follow and their names: `chords` repeated to `bars` for every melody,
    or each melody's draw from the run's progressions (the draw `generate` makes with this seed)."""
    if chords:
        names = [chords[t % len(chords)] for t in range(bars)]
        table = torch.stack([chord_vector(name) for name in names]).float()
        return table[None].expand(n, -1, -1).clone(), [list(names) for _ in range(n)]
    if not progressions:
        raise AdvlabError("this run's checkpoint records no chord progressions; pass --chords, e.g. C,G,Am,F")
    table = draw_progressions(progressions, n, bars, torch.Generator().manual_seed(seed))
    return table, [[chord_name(row) for row in melody] for melody in table]


def sample_music(run_dir: str | Path, n: int = 16, chords: Sequence[str] | None = None, bars: int | None = None,
                 seed: int = 0, out: str | Path = "melodies", device: str = "auto", threshold: float | None = None,
                 tempo_bpm: float = 120.0, wav: bool = True) -> Sampled:
    """Generate n melodies of `bars` bars (default: the run's) with the run's generator and write them under `out`
    (module docstring). `chords`: names such as ["C", "G", "Am", "F"]; None draws a training phrase's progression
    per melody. `threshold`: binarisation threshold (default: the run's)."""
    if n < 1:
        raise AdvlabError(f"--n must be at least 1, got {n}")
    generator, config, progressions = load_music_run(run_dir, resolve_device(device))
    bars = config.bars if bars is None else bars
    if bars < 1:
        raise AdvlabError(f"--bars must be at least 1, got {bars}")
    table, names = chord_plan(n, bars, chords, seed, progressions)
    threshold = config.threshold if threshold is None else threshold
    melodies = generate(generator, n, bars, table, seed=seed, threshold=threshold)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = Sampled(melodies, names)
    width = max(2, len(str(n)))
    for i, (melody, melody_chords) in enumerate(zip(melodies, names), start=1):
        stem = out / f"melody-{i:0{width}d}"
        result.files.append(write_midi(melody, stem.with_suffix(".mid"), chords=melody_chords, tempo_bpm=tempo_bpm))
        result.files.append(piano_roll(melody, stem.with_suffix(".png"), title=f"melody {i}", chords=melody_chords))
        if wav:
            result.files.append(render_wav(melody, stem.with_suffix(".wav"), tempo_bpm=tempo_bpm))
    result.files.append(plot_melody_grid(melodies, out / "grid.png", titles=[f"{i}" for i in range(1, n + 1)],
                                         chords=names))
    record = {"run": str(Path(run_dir)), "seed": seed, "bars": bars, "threshold": threshold, "tempo_bpm": tempo_bpm,
              "notes": "[first step, end step, MIDI pitch], sixteenth-note steps from the melody's start",
              "melodies": [{"chords": c, "notes": [list(note) for note in melody_notes(m)]}
                           for c, m in zip(names, melodies)]}
    atomic_write_bytes(out / "melodies.json", json.dumps(record, indent=1).encode())
    result.files.append(out / "melodies.json")
    return result


__all__ = ["Sampled", "chord_plan", "sample_music"]
