"""Music metrics for generated melodies, after MuseGAN (Dong et al. 2018, sec. 5) and muspy (Dong et al. 2020).

Input: MidiNet's bars (Yang et al. 2017), piano rolls (N, 16, 128) or (N, 1, 16, 128) of sixteenth-note steps by
MIDI pitch, or phrases (P, B, 16, 128) with B >= 2 consecutive bars each. A step's note is its highest pitch with a
value > 0.5 (``advlab.data.melodies.codes_from_roll``); a *note* is a run of steps of one pitch inside a bar (the
MidiNet convention: a {0, 1} roll cannot tell a held note from repeated notes; a note held over a bar line counts
once in each bar).

``melody_statistics`` (one number each, averaged over bars):

* ``empty_bar_rate``: share of bars without a note (MuseGAN's EB);
* ``rest_rate``: share of steps without a note;
* ``notes_per_bar``: notes per bar (all bars);
* ``pitch_classes_per_bar``: distinct pitch classes per non-empty bar (MuseGAN's UPC, 1..12);
* ``pitch_range``: highest minus lowest pitch in semitones, per non-empty bar (muspy's ``pitch_range`` is per piece;
  per bar here, so a one-note bar has range 0);
* ``scale_consistency``: per non-empty bar, the largest share of its notes inside one major scale over the 12 keys
  (muspy's ``scale_consistency``; natural minor scales are the same sets, so major alone covers both);
* ``mean_interval``: mean absolute interval in semitones between consecutive notes inside a bar (Yang & Lerch 2018,
  "On the evaluation of generative models in music", pitch interval);
* ``note_length``: mean note length in steps;
* ``beat_repetition``: share of a bar's 2nd to 4th beats (4-step motifs with a note) that repeat an earlier beat of
  the same bar exactly;
* ``bar_repetition`` (phrases only): share of bars after a phrase's first that equal the bar before them and are not
  empty;
* ``chord_tone_rate`` (when each bar's chord is given): share of notes, in bars with a chord, on one of the chord's
  three pitch classes (how well a melody follows its chord condition; the chord-tone ratio of e.g. Yeh et al. 2021,
  "Automatic melody harmonization with triad chords"); random pitches score about 3/12;
* ``polyphony_rate``: share of steps where more than one pitch is > 0.5 (MuseGAN's polyphonicity, here for a
  monophonic melody: 0 for every bar advlab's loaders make; a generator's raw output may differ).

Histograms: ``pitch_class_histogram`` (12 bins, C..B, over notes) and ``note_length_histogram`` (16 bins, 1..16
steps, over notes), each normalised to sum 1. ``compare_melodies`` measures the distance between two sets'
histograms with the **Jensen-Shannon distance** (the square root of the JS divergence with base-2 logarithms; 0 for
equal histograms, 1 for disjoint ones; scipy's ``jensenshannon(p, q, base=2)``). The pitch-class histogram is not
transposition invariant: compare sets in the same keys (a generator conditioned on the reference's chords, or the
corpus without transposition).

``random_melodies`` is the baseline: at each step, a rest with the corpus's rest rate, else a pitch drawn uniformly
between the corpus's lowest and highest pitch. ``nearest_training_bars`` is the copy check (the birthday idea of
Arora & Zhang 2017 for melodies): the Hamming distance from each generated bar to its nearest training bar over the
16 per-step pitches (a rest is a value of its own), or from each generated phrase to its nearest training phrase over
its 16 B steps, by matrix products of one-hot codes in chunks: bfloat16 on the CPU (exact: 0/1 inputs and integer
sums up to 256, 16 bars), float16 on a GPU (exact to 2048; used when either input's tensors are there), float32
beyond. 10,000 x 100,000 bars take about 12 s on one busy CPU thread.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from advlab.core.errors import AdvlabError
from advlab.data.melodies import CHORD_DIM, KEYS, PITCHES, REST, STEPS, MelodyBars, codes_from_roll, roll_from_codes

BEATS = 4
BEAT_STEPS = STEPS // BEATS
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
SCALAR_KEYS = ("empty_bar_rate", "rest_rate", "notes_per_bar", "pitch_classes_per_bar", "pitch_range",
               "scale_consistency", "mean_interval", "note_length", "beat_repetition")
DISTANCE = "Jensen-Shannon distance (square root of the JS divergence, base 2; 0 = equal, 1 = disjoint)"
COPY_MIN_NOTES = 4  # bars with at least this many notes are distinctive enough for the copy share
CHUNK_ELEMENTS = 50_000_000  # generated x training products per chunk of the copy check


def _bars(bars) -> tuple[Tensor, int]:
    """Bars in any accepted shape -> ((N, 16, 128) float tensor on the CPU, phrase length B or 1)."""
    if isinstance(bars, MelodyBars):
        bars = bars.bars
    bars = torch.as_tensor(np.asarray(bars) if not isinstance(bars, Tensor) else bars).detach().float().cpu()
    if bars.dim() == 3 and tuple(bars.shape[1:]) == (STEPS, PITCHES):
        return bars, 1
    if bars.dim() == 4 and tuple(bars.shape[2:]) == (STEPS, PITCHES):
        return bars.reshape(-1, STEPS, PITCHES), int(bars.shape[1])
    raise AdvlabError(f"melody bars must be (N, {STEPS}, {PITCHES}), (N, 1, {STEPS}, {PITCHES}) or phrases "
                      f"(P, B, {STEPS}, {PITCHES}); got {tuple(bars.shape)}")


def _notes(codes: np.ndarray) -> list[list[tuple[int, int]]]:
    """Per bar, its notes as (pitch, length in steps): runs of one pitch inside the bar."""
    out = []
    for row in codes:
        notes, start = [], 0
        for step in range(1, STEPS + 1):
            if step == STEPS or row[step] != row[start]:
                if row[start] != REST:
                    notes.append((int(row[start]), step - start))
                start = step
        out.append(notes)
    return out


def pitch_class_histogram(bars) -> Tensor:
    """(12,) share of notes on each pitch class C..B (zeros when there is no note)."""
    histogram = torch.zeros(KEYS, dtype=torch.float64)
    for notes in _notes(codes_from_roll(_bars(bars)[0]).numpy()):
        for pitch, _ in notes:
            histogram[pitch % KEYS] += 1
    return histogram / histogram.sum() if histogram.sum() > 0 else histogram


def note_length_histogram(bars) -> Tensor:
    """(16,) share of notes lasting 1, 2, ..., 16 steps (zeros when there is no note)."""
    histogram = torch.zeros(STEPS, dtype=torch.float64)
    for notes in _notes(codes_from_roll(_bars(bars)[0]).numpy()):
        for _, length in notes:
            histogram[length - 1] += 1
    return histogram / histogram.sum() if histogram.sum() > 0 else histogram


def _scale_consistency(pitches: list[int]) -> float:
    """Largest share of `pitches` inside one of the 12 major scales."""
    classes = np.bincount(np.asarray(pitches) % KEYS, minlength=KEYS)
    return max(sum(classes[(key + d) % KEYS] for d in MAJOR_SCALE) for key in range(KEYS)) / len(pitches)


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0


def melody_statistics(bars, chords=None) -> dict[str, float]:
    """The statistics of the module docstring for bars (N, 16, 128), (N, 1, 16, 128) or phrases (P, B, 16, 128).

    With `chords` ((N, 13) chord vectors, one per bar; MelodyBars bring their own) it adds ``chord_tone_rate``.
    """
    if chords is None and isinstance(bars, MelodyBars):
        chords = bars.chords
    rolls, phrase = _bars(bars)
    if rolls.shape[0] == 0:
        raise AdvlabError("no melody bars to measure")
    codes = codes_from_roll(rolls).numpy()
    per_bar = _notes(codes)
    filled = [notes for notes in per_bar if notes]
    stats = {
        "bars": float(len(per_bar)),
        "empty_bar_rate": 1.0 - len(filled) / len(per_bar),
        "rest_rate": float((codes == REST).mean()),
        "notes_per_bar": _mean([len(notes) for notes in per_bar]),
        "pitch_classes_per_bar": _mean([len({p % KEYS for p, _ in notes}) for notes in filled]),
        "pitch_range": _mean([max(p for p, _ in notes) - min(p for p, _ in notes) for notes in filled]),
        "scale_consistency": _mean([_scale_consistency([p for p, _ in notes]) for notes in filled]),
        "mean_interval": _mean([abs(b[0] - a[0]) for notes in filled for a, b in zip(notes, notes[1:])]),
        "note_length": _mean([length for notes in filled for _, length in notes]),
        "beat_repetition": _beat_repetition(codes),
        "polyphony_rate": float(((rolls > 0.5).sum(-1) > 1).float().mean()),
    }
    if phrase >= 2:
        grouped = codes.reshape(-1, phrase, STEPS)
        same = (grouped[:, 1:] == grouped[:, :-1]).all(-1) & (grouped[:, 1:] != REST).any(-1)
        stats["bar_repetition"] = float(same.mean())
    if chords is not None:
        stats["chord_tone_rate"] = _chord_tone_rate(per_bar, chords)
    return stats


def _chord_tone_rate(per_bar: list[list[tuple[int, int]]], chords) -> float:
    """Share of the notes in bars with a chord whose pitch class is one of the chord's three."""
    chords = torch.as_tensor(chords).detach().float().cpu().reshape(-1, CHORD_DIM)
    if chords.shape[0] != len(per_bar):
        raise AdvlabError(f"{chords.shape[0]} chords for {len(per_bar)} bars; give one chord per bar")
    hits = total = 0
    for notes, chord in zip(per_bar, chords):
        if notes and float(chord[:KEYS].sum()) > 0:
            root = int(chord[:KEYS].argmax())
            tones = {root, (root + (3 if float(chord[KEYS]) > 0.5 else 4)) % KEYS, (root + 7) % KEYS}
            hits += sum(pitch % KEYS in tones for pitch, _ in notes)
            total += len(notes)
    return hits / total if total else 0.0


def _beat_repetition(codes: np.ndarray) -> float:
    """Share of beats 2-4 (with a note) that equal an earlier beat of the same bar."""
    beats = codes.reshape(-1, BEATS, BEAT_STEPS)
    repeats = total = 0
    for bar in beats:
        for index in range(1, BEATS):
            if (bar[index] == REST).all():
                continue
            total += 1
            repeats += any((bar[index] == bar[earlier]).all() for earlier in range(index))
    return repeats / total if total else 0.0


def js_distance(p, q) -> float:
    """Jensen-Shannon distance of two histograms (normalised first), base 2: in [0, 1]."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan") if p.sum() <= 0 and q.sum() <= 0 else 1.0
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float((a[mask] * np.log2(a[mask] / m[mask])).sum())

    return math.sqrt(max((kl(p) + kl(q)) / 2, 0.0))


def compare_melodies(generated, reference, generated_chords=None, reference_chords=None) -> dict:
    """Statistics of two sets side by side, their differences, and their histograms' JS distances.

    With chords for both sides (MelodyBars bring theirs) the statistics include ``chord_tone_rate``.

    Returns {"generated": stats, "reference": stats, "difference": {key: generated - reference},
    "mean_symmetric_difference": mean over SCALAR_KEYS of |g - r| / (|g| + |r|) (0 = equal, 1 = one of them 0),
    "pitch_class_distance", "note_length_distance" (JS distances), "histograms": {"pitch_class": {"generated": [..],
    "reference": [..]}, "note_length": {...}}, "distance": how the distances are measured}.
    """
    ours = melody_statistics(generated, generated_chords)
    theirs = melody_statistics(reference, reference_chords)
    shared = [key for key in ours if key in theirs and key != "bars"]
    symmetric = [abs(ours[k] - theirs[k]) / (abs(ours[k]) + abs(theirs[k])) if ours[k] or theirs[k] else 0.0
                 for k in SCALAR_KEYS]
    histograms = {
        "pitch_class": {"generated": pitch_class_histogram(generated), "reference": pitch_class_histogram(reference)},
        "note_length": {"generated": note_length_histogram(generated), "reference": note_length_histogram(reference)},
    }
    return {
        "generated": ours, "reference": theirs,
        "difference": {key: ours[key] - theirs[key] for key in shared},
        "mean_symmetric_difference": float(np.mean(symmetric)),
        "pitch_class_distance": js_distance(*histograms["pitch_class"].values()),
        "note_length_distance": js_distance(*histograms["note_length"].values()),
        "histograms": {name: {side: values.tolist() for side, values in pair.items()}
                       for name, pair in histograms.items()},
        "distance": DISTANCE,
    }


def random_melodies(n: int, like, generator: torch.Generator) -> Tensor:
    """The random baseline: (n, 1, 16, 128) bars, each step a rest with `like`'s rest rate, else a pitch uniform
    between `like`'s lowest and highest pitch. `like`: MelodyBars (its ``bars``) or bars in any accepted shape."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise AdvlabError(f"n must be an integer >= 0, got {n!r}")
    codes = codes_from_roll(_bars(like)[0])
    notes = codes[codes != REST]
    if notes.numel() == 0:
        raise AdvlabError("the reference melodies have no note to take a pitch range from")
    low, high, rest_rate = int(notes.min()), int(notes.max()), float((codes == REST).float().mean())
    device = generator.device
    pitches = torch.randint(low, high + 1, (n, STEPS), generator=generator, device=device)
    rests = torch.rand(n, STEPS, generator=generator, device=device) < rest_rate
    return roll_from_codes(torch.where(rests, torch.full_like(pitches, REST), pitches)).unsqueeze(1)


def _rows(melodies, length: int | None = None) -> Tensor:
    """Bars or phrases -> (R, L) step codes: one row per bar (L = 16) or, for phrases, per phrase (L = 16 B).

    MelodyBars give one row per bar, or per phrase (in order) when `length` = 16 B with B >= 2.
    """
    if isinstance(melodies, MelodyBars):
        codes = codes_from_roll(melodies.bars[:, 0]).cpu()
        if length is None or length == STEPS:
            return codes
        order = torch.argsort(melodies.phrase.cpu() * (melodies.position.max().cpu() + 1) + melodies.position.cpu())
        codes = codes[order].reshape(-1)
        if codes.numel() % length:
            raise AdvlabError(f"the training phrases are not {length // STEPS} bars long")
        return codes.reshape(-1, length)
    rolls, phrase = _bars(melodies)
    return codes_from_roll(rolls).reshape(-1, STEPS * phrase)


def _training_codes(training, length: int, transpositions: bool) -> Tensor:
    """Training rows -> distinct (U, L) step codes (with the 12 keys ``sample`` draws, for MelodyBars)."""
    codes = _rows(training, length)
    if codes.shape[1] != length:
        raise AdvlabError(f"generated rows have {length} steps but training rows {codes.shape[1]}; give training "
                          "phrases of the same number of bars")
    if transpositions and isinstance(training, MelodyBars) and training.shifts is not None:
        shifts = training.shifts.cpu()
        if length > STEPS:  # one row per phrase: its first bar's shifts (a phrase's bars share them)
            order = torch.argsort(training.phrase.cpu() * (training.position.max().cpu() + 1) + training.position.cpu())
            shifts = shifts[order][:: length // STEPS]
        notes = codes != REST
        codes = torch.cat([torch.where(notes, codes + shifts[:, k:k + 1], codes) for k in range(KEYS)])
    return torch.unique(codes, dim=0)


def _device(*melodies) -> torch.device:
    """Where the copy check runs: the first CUDA device among the inputs' tensors, else the CPU."""
    for item in melodies:
        tensor = item.bars if isinstance(item, MelodyBars) else item
        if isinstance(tensor, Tensor) and tensor.is_cuda:
            return tensor.device
    return torch.device("cpu")


def _nearest(ours: Tensor, train: Tensor, device: torch.device) -> tuple[Tensor, Tensor]:
    """(G, L) and (U, L) step codes -> (Hamming distance to the nearest training row, its index), both (G,)."""
    length = ours.shape[1]
    if train.shape[0] == 0:
        raise AdvlabError("no training bars to compare with")
    exact_limit = 2048 if device.type == "cuda" else 256  # integers float16 / bfloat16 hold exactly
    dtype = torch.float32 if length > exact_limit else (torch.float16 if device.type == "cuda" else torch.bfloat16)
    states = torch.unique(train)
    lookup = torch.full((REST + 1,), -1, dtype=torch.long)
    lookup[states.cpu()] = torch.arange(states.numel())
    width = states.numel()

    def one_hot(codes: Tensor) -> Tensor:
        index = lookup[codes.cpu()]
        out = torch.zeros(codes.shape[0], length, width + 1, dtype=dtype)
        out.scatter_(2, torch.where(index < 0, width, index).unsqueeze(-1), 1.0)
        return out[..., :width].reshape(codes.shape[0], -1).to(device)  # an unseen pitch matches nothing

    reference = one_hot(train)
    chunk = max(1, CHUNK_ELEMENTS // max(train.shape[0], 1))
    distances, nearest = [torch.zeros(0, dtype=torch.long)], [torch.zeros(0, dtype=torch.long)]
    for start in range(0, ours.shape[0], chunk):
        best, index = (one_hot(ours[start:start + chunk]) @ reference.T).max(dim=1)
        distances.append(length - best.float().round().long().cpu())
        nearest.append(index.cpu())
    return torch.cat(distances), torch.cat(nearest)


def nearest_bar_distances(generated, training, transpositions: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """Hamming distance (steps that differ) from each generated bar, or phrase, to its nearest training one.

    `generated`: bars (N, 16, 128) / (N, 1, 16, 128), or phrases (P, B, 16, 128) compared whole (0..16 B);
    `training`: MelodyBars or rows of the same kind. With MelodyBars and `transpositions`, training bars count in
    each of the 12 keys ``sample`` draws. Returns (distances (G,) long, nearest (G,) index into `codes`, codes (U, L)
    the distinct training step codes).
    """
    ours = _rows(generated)
    train = _training_codes(training, ours.shape[1], transpositions)
    return (*_nearest(ours, train, _device(generated, training)), train)


def nearest_training_bars(generated, training, transpositions: bool = True,
                          min_notes: int = COPY_MIN_NOTES) -> dict:
    """The copy check: how close generated bars (or whole phrases) come to training ones (Hamming distance).

    Rows without a note are left out (an empty bar "copies" every empty bar). Returns {"unit": "bar" or "phrase of
    B bars", "generated": rows compared, "empty_left_out", "training": distinct training rows, "mean_distance",
    "median_distance", "min_distance", "exact_copies": share at distance 0, "near_copies": share at distance <= 2,
    "distinctive": rows with at least `min_notes` notes per bar, "distinctive_copies": their share at distance 0,
    "histogram": rows at distance 0, 1, ..., L}.
    """
    codes = _rows(generated)
    length, bars = codes.shape[1], codes.shape[1] // STEPS
    filled = (codes != REST).any(1)
    train = _training_codes(training, length, transpositions)
    distances, _ = _nearest(codes[filled], train, _device(generated, training))
    counts = torch.tensor([sum(len(notes) for notes in _notes(row.reshape(-1, STEPS).numpy()))
                           for row in codes[filled]], dtype=torch.long)
    distinctive = counts >= min_notes * bars

    def share(mask: Tensor) -> float:
        return float(mask.float().mean()) if mask.numel() else 0.0

    return {
        "unit": "bar" if bars == 1 else f"phrase of {bars} bars",
        "generated": int(filled.sum()), "empty_left_out": int((~filled).sum()), "training": int(train.shape[0]),
        "mean_distance": float(distances.float().mean()) if distances.numel() else 0.0,
        "median_distance": float(distances.float().median()) if distances.numel() else 0.0,
        "min_distance": int(distances.min()) if distances.numel() else 0,
        "exact_copies": share(distances == 0), "near_copies": share(distances <= 2),
        "distinctive": int(distinctive.sum()), "distinctive_copies": share(distances[distinctive] == 0),
        "histogram": torch.bincount(distances, minlength=length + 1).tolist(),
    }


__all__ = ["DISTANCE", "SCALAR_KEYS", "compare_melodies", "js_distance", "melody_statistics",
           "nearest_bar_distances", "nearest_training_bars", "note_length_histogram", "pitch_class_histogram",
           "random_melodies"]
