"""`advlab music evaluate RUN`: the statistics of a MidiNet run's melodies against the melodies it learned from.

After MuseGAN's and muspy's objective measures (advlab.metrics.music: empty-bar rate, rest rate, notes and pitch
classes per bar, pitch range, scale consistency, intervals, note lengths, beat and bar repetition), four sets of
phrases are described side by side:

* generated -- n melodies of the run's `bars` bars, generated one bar after another on the chord progressions of
  held-out phrases (drawn with the seed), so that they are in the keys of the held-out phrases;
* training  -- the training phrases in their own keys (the run also saw them transposed to the 12 keys);
* held_out  -- the phrases held out of training (whole pieces): what a new melody of the corpus looks like;
* random    -- as many random melodies as generated ones (advlab.metrics.music.random_melodies: rests at the
  corpus's rate, pitches uniform over its range), on the generated melodies' chords: the floor a generator must
  rise above.

Every set's statistics include chord_tone_rate, the share of notes on the triad of their bar's chord: how well
the melodies follow the chords they were generated on.

Each set is compared (compare_melodies: Jensen-Shannon distances of the pitch-class and note-length histograms, the
mean symmetric difference of the scalar statistics, 0 = the same) with the held-out phrases -- the fair yardstick
for the pitch classes, since the generated melodies follow their chords and keys -- and with the training phrases.
When the run holds nothing out, the training phrases stand in for the held-out ones.

The copy check (nearest_training_bars, the birthday idea for melodies) finds each bar's nearest training bar in any
of the 12 keys the run trained on, and each whole phrase's nearest training phrase; held-out and random melodies go
through it too, since a corpus repeats itself (cadences, repeated bars): a generator copies when its share of exact
copies rises well above the held-out bars'.

    RUN/eval/music.json   {"run", "n", "bars", "seed", "reference": "held_out" or "training",
                           "sources": {source: melody_statistics},
                           "versus_held_out": {source: {pitch_class_distance, note_length_distance,
                                                        mean_symmetric_difference}},
                           "versus_training": {...the same...},
                           "copies": {source: nearest_training_bars(its bars, training)},
                           "phrase_copies": {source: nearest_training_bars(its phrases, training)},
                           "histograms": {"pitch_class": {source: [12]}, "note_length": {source: [16]}}}
    RUN/eval/music_melodies.png, music_pitch_classes.png, music_note_lengths.png, music_statistics.png
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError
from advlab.metrics.music import (
    SCALAR_KEYS,
    compare_melodies,
    melody_statistics,
    nearest_training_bars,
    note_length_histogram,
    pitch_class_histogram,
    random_melodies,
)
from advlab.music.chords import chord_name
from advlab.pipelines.music.train_music import generated_set, load_music_data, load_music_run, phrase_table
from advlab.reports.music_plots import PITCH_NAMES, plot_histograms, plot_melody_grid, plot_statistics
from advlab.reports.render import write_report

SHOWN_MELODIES = 6
COMPARED = ("pitch_class_distance", "note_length_distance", "mean_symmetric_difference")
PLOTTED = ("chord_tone_rate", *SCALAR_KEYS, "bar_repetition")
COPY_CHECKED = ("generated", "held_out", "random")


def versus(sources: dict, reference_name: str) -> dict:
    """Every other source compared with `reference_name`: COMPARED figures each (with chords, so that
    chord_tone_rate enters the mean symmetric difference)."""
    reference, reference_chords = sources[reference_name]
    return {name: {key: compare_melodies(melodies, reference, flat(chords), flat(reference_chords))[key]
                   for key in COMPARED}
            for name, (melodies, chords) in sources.items() if name != reference_name}


def flat(chords):
    """(..., 13) chords -> (N, 13), one per bar."""
    return chords.reshape(-1, chords.shape[-1])


def evaluate_music(run_dir: str | Path, n: int = 64, seed: int = 0, device: str = "auto",
                   progress: bool = False) -> tuple[Path, dict]:
    """Describe generated, training, held-out and random melodies, compare them, run the copy check; write
    RUN/eval/music.json and its plots (module docstring) and refresh the run's report. Returns (json path,
    content)."""
    if n < 1:
        raise AdvlabError(f"--n must be at least 1, got {n}")
    generator, config, _ = load_music_run(run_dir, resolve_device(device))
    data = load_music_data(config, progress)
    held = data.held_out if data.held_out is not None and len(data.held_out) else None
    phrases = [chords for _, chords in (held or data).phrases()]
    generated = generated_set(generator, n, config.bars, seed, phrases, config.threshold)
    sources = {"generated": generated, "training": phrase_table(data)}
    if held is not None:
        sources["held_out"] = phrase_table(held)
    reference = "held_out" if held is not None else "training"
    noise = random_melodies(n * config.bars, sources[reference][0], torch.Generator().manual_seed(seed))
    sources["random"] = (noise.reshape(generated[0].shape), generated[1])  # on the generated melodies' chords
    content = {"run": str(Path(run_dir)), "n": n, "bars": config.bars, "seed": seed, "reference": reference,
               "sources": {name: melody_statistics(melodies, flat(chords))
                           for name, (melodies, chords) in sources.items()},
               "versus_held_out": versus(sources, "held_out") if held is not None else {},
               "versus_training": versus(sources, "training"),
               "copies": {name: nearest_training_bars(sources[name][0].reshape(-1, *sources[name][0].shape[-2:]),
                                                      data)
                          for name in COPY_CHECKED if name in sources},
               "phrase_copies": {name: nearest_training_bars(sources[name][0], data)
                                 for name in COPY_CHECKED if name in sources},
               "histograms": {"pitch_class": {k: pitch_class_histogram(v[0]).tolist() for k, v in sources.items()},
                              "note_length": {k: note_length_histogram(v[0]).tolist() for k, v in sources.items()}}}
    out = Path(run_dir) / "eval"
    out.mkdir(parents=True, exist_ok=True)
    plot_statistics(content["sources"], out / "music_statistics.png",
                    [key for key in PLOTTED if all(key in stats for stats in content["sources"].values())])
    plot_histograms(content["histograms"]["pitch_class"], out / "music_pitch_classes.png", PITCH_NAMES,
                    "pitch classes of the notes", "pitch class")
    lengths = len(content["histograms"]["note_length"]["generated"])
    plot_histograms(content["histograms"]["note_length"], out / "music_note_lengths.png",
                    [str(k) for k in range(1, lengths + 1)], "note lengths", "sixteenths")
    shown = min(SHOWN_MELODIES, n)
    plot_melody_grid(generated[0][:shown], out / "music_melodies.png", titles=[str(i + 1) for i in range(shown)],
                     chords=[[chord_name(c) for c in melody] for melody in generated[1][:shown]])
    path = out / "music.json"
    atomic_write_bytes(path, json.dumps(content, indent=1).encode())
    write_report(Path(run_dir))
    return path, content


__all__ = ["evaluate_music"]
