"""Melodies in MidiNet's form: bars of 16 time steps x 128 pitches, a 13-number chord per bar, previous bars.

MidiNet (Yang, Chou & Yang 2017, "MidiNet: A Convolutional Generative Adversarial Network for Symbolic-domain
Music Generation", sec. 3.1 and 4.1) sees a melody as a sequence of bars. Each bar is an h x w piano roll, h = 16
time steps (sixteenth notes of a 4/4 bar) by w = 128 MIDI pitches, with at most one active pitch per step (the
melody is monophonic); its chord is a 13-dimensional vector (12 one-hot roots + 1 for minor; MidiNet's 1-D
condition) and its *previous bar* (the bar before it in the song; zeros for the first) is the 2-D condition.

What this module does, step by step:

* **Reading.** Built-in corpora are read from music21's bundled corpus (nothing is downloaded; ``CORPORA``), the
  user's ``.mid``/``.midi`` files with mido. Only bars of 4/4 are kept, as in MidiNet; a bar in another meter, or an
  incomplete bar (a pickup, a short last bar), ends a *segment* of consecutive usable bars. A bar with no note at
  all is kept (the empty-bar rate is a metric). Pieces with no usable bar are skipped and listed in ``skipped`` with
  the reason (their meter, no soprano part, a parse error, ...), never a crash.
* **Quantising.** Time is quantised to sixteenth notes: a note from quarter-note offset a to b inside a bar that
  starts at s covers steps round(4 (a - s)) .. round(4 (b - s)) - 1 (at least one step if it starts in the bar;
  grace notes are dropped). When several notes sound at one step the highest is the melody (the usual "skyline").
* **Note onsets.** A {0, 1} roll cannot tell one long note from repeated notes of the same pitch. MidiNet ignores
  this and so does advlab: a held note is a run of 1s on one pitch, and consecutive steps of the same pitch are one
  note when a bar is written to MIDI (repeated notes of one pitch merge).
* **Pitch range.** MidiNet keeps melodies in the two octaves C4-B5 (MIDI 60-83). Each phrase is moved by whole
  octaves to put the most notes in that range (ties: the smallest shift, then the one nearest its middle); notes
  still outside it are then folded by octaves into it (counted in ``info["folded_notes"]``). Pitch classes are
  never changed.
* **Chords** (``CHORD_DIM`` = 13: roots C=0 .. B=11 one-hot, then 1.0 for minor; all zeros = no chord). Where a
  piece carries chord symbols (ABC "Am", lead sheets) the chord of a bar is the symbol that sounds longest in it
  (diminished counts as minor, augmented and power chords as major). Otherwise the chord is *estimated* by a
  template match (``estimate_chord``): each of the 24 major and minor triads is scored by the pitch-class weight
  that falls on its three notes plus half the bass weight on its root; the highest score wins (ties: the lower
  root, major before minor). Where the piece has several voices (Bach's four, the other tracks of a MIDI file) the
  match is made at every sixteenth step on the notes sounding there (the lowest is the bass) and the bar takes the
  triad that sounds longest -- music21's chordify root and quality, read the same way, agree on 85% of the bars of
  the first 60 chorale files (the rest are bars of several chords of near-equal length and non-triad sonorities).
  A melody alone is matched once per bar on its duration-weighted pitch-class histogram (the root's weight as bass).
  A bar with no note at all has no chord.
* **Phrases.** Each segment is cut into consecutive, non-overlapping phrases of ``bars`` bars from its start; when
  at least half a phrase is left at its end, one more phrase ends with the segment's last bar (it overlaps the one
  before; counted in ``info["overlapping_phrases"]``), else the rest is dropped (``info["bars_left_over"]``).
  MidiNet itself used each song's first 8 bars. A phrase without a single note is dropped. ``previous`` is the
  real previous bar of the same phrase, all zeros at a phrase's first bar (MidiNet).
* **Held-out split** (``held_out_fraction``, seeded): whole *pieces* (songs) are held out, so no bar of a held-out
  phrase, and no other phrase of its song, is ever in training; with a single piece its phrases are split instead.
  Held-out phrases equal to a training phrase up to transposition (the same chorale tune harmonised twice) are
  removed from the held-out side (counted in ``info["held_out_duplicates"]``).
* **Transposition augmentation** (MidiNet: "shift to 12 keys"), training side only, done when sampling: each draw
  picks one of the 12 keys uniformly, and the bar, its previous bar and its chord move together by that many
  semitones (k or k - 12, whichever keeps more of the phrase's notes in C4-B5; pitches stay within 48..95). The
  stored ``bars`` are the phrases in their own keys, so 12 x ``len(data)`` distinct rows can be drawn
  (``augmented_size``) without storing twelve copies.

Built-in corpora (``CORPORA``), parsed once and cached as ``.npz`` under ``cache_dir()/melodies`` (the feature
networks' cache directory; ``$ADVLAB_CACHE`` moves it), keyed by corpus, ``PARSE_VERSION`` and ``limit``:

* ``bach``: the soprano lines of Bach's chorales in 4/4 (music21's ``bach``: the part named Soprano), chords
  estimated from all four voices;
* ``essen``: the Essen folk-song collection's 4/4 tunes (music21's ``essenFolksong``, ABC), chords from the melody;
* ``ryans-mammoth``: the 4/4 tunes of Ryan's Mammoth Collection (1883; ``ryansMammoth``, ABC);
* ``oneills``: the 4/4 tunes of O'Neill's Music of Ireland (1850; ``oneills1850``, ABC);
* ``nottingham``: the two tunes of the Nottingham Music Database that music21 ships, with their chord symbols.

A user's folder: every ``.mid``/``.midi`` under it (searched recursively). The melody of a file is the highest note
at each step of its melody track: the track (or channel) whose name says melody, soprano or lead, else the one with
the most notes among those that mostly play single notes (at most half of their notes start together with another
one); a file where every track plays chords is skipped as polyphonic only, as are files that do not parse, have no
notes or no 4/4 bar (MIDI's default meter is 4/4). Bars start at the file's first tick, so a pickup written without
the rests before it shifts every bar line (MIDI has no pickup bar); the file's last bars are those up to its last
note, and after it only whole bars of silence its length still covers.
"""

from __future__ import annotations

import io
import re
import time
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from advlab.core.cache import cache_dir
from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError

STEPS = 16  # time steps per bar (sixteenth notes of a 4/4 bar), MidiNet's h
PITCHES = 128  # MIDI pitches, MidiNet's w
CHORD_DIM = 13  # 12 roots (C=0 .. B=11, one-hot) + 1 (1.0 = minor, 0.0 = major); all zeros = no chord
REST = 128  # the step code of a step without a note (codes 0..127 are MIDI pitches)
LOW, HIGH = 60, 83  # MidiNet's pitch range, C4..B5
KEYS = 12
BAR_QUARTERS = 4.0  # a 4/4 bar in quarter notes
PARSE_VERSION = 1  # bump when the parsing rules change: the cache key holds it
MIDI_SUFFIXES = (".mid", ".midi")
MELODY_NAMES = ("melody", "soprano", "lead")
DRUM_CHANNEL = 9  # General MIDI channel 10
MAX_REASONS = 3  # reasons quoted in an error about a folder with nothing usable

CORPORA: dict[str, str] = {
    "bach": "Bach chorales' soprano lines in 4/4 (music21 'bach'), chords from the four voices",
    "essen": "Essen folk songs in 4/4 (music21 'essenFolksong', ABC), chords estimated from the melody",
    "ryans-mammoth": "Ryan's Mammoth Collection fiddle tunes in 4/4 (music21 'ryansMammoth', ABC)",
    "oneills": "O'Neill's Music of Ireland (1850) tunes in 4/4 (music21 'oneills1850', ABC)",
    "nottingham": "the 2 Nottingham Music Database tunes music21 ships, with their chord symbols (a demo)",
}
_MUSIC21_DIRS = {"bach": "bach", "essen": "essenFolksong", "ryans-mammoth": "ryansMammoth",
                 "oneills": "oneills1850", "nottingham": "nottingham-dataset"}
_SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn")
_MINOR_KINDS = ("minor", "diminished", "half-diminished")

# ---------------------------------------------------------------------- rolls, step codes and chords


def codes_from_roll(bars: Tensor) -> Tensor:
    """Piano rolls (..., 16, 128) -> step codes (..., 16) long: the highest pitch > 0.5 at each step, else REST."""
    bars = torch.as_tensor(bars)
    if bars.shape[-1] != PITCHES:
        raise AdvlabError(f"melody bars must end in {PITCHES} pitches, got shape {tuple(bars.shape)}")
    on = bars > 0.5
    top = PITCHES - 1 - on.flip(-1).to(torch.uint8).argmax(-1)
    return torch.where(on.any(-1), top, torch.full_like(top, REST)).long()


def roll_from_codes(codes: Tensor) -> Tensor:
    """Step codes (..., 16) (0..127 pitch, REST) -> float32 piano rolls (..., 16, 128) in {0, 1}."""
    codes = torch.as_tensor(codes).long()
    roll = torch.zeros(codes.numel(), PITCHES, device=codes.device)
    flat = codes.reshape(-1)
    notes = torch.nonzero(flat != REST).flatten()
    roll[notes, flat[notes]] = 1.0
    return roll.reshape(*codes.shape, PITCHES)


def chord_tensor(roots, minor) -> Tensor:
    """Roots (...,) in -1..11 (-1 = no chord) and minor flags (...,) -> (..., 13) float32 chord vectors."""
    roots = torch.as_tensor(np.asarray(roots), dtype=torch.long)
    minor = torch.as_tensor(np.asarray(minor), dtype=torch.float32)
    out = torch.zeros(*roots.shape, CHORD_DIM)
    has = roots >= 0
    out[..., :KEYS] = torch.nn.functional.one_hot(roots.clamp(min=0), KEYS).float() * has.unsqueeze(-1)
    out[..., KEYS] = minor * has
    return out


def estimate_chord(histogram: np.ndarray, bass: np.ndarray | None = None) -> tuple[int, int]:
    """The major or minor triad that best fits a bar: (root 0..11, minor 0/1), or (-1, 0) for an empty bar.

    Args:
        histogram: (12,) duration-weighted pitch-class weights of the bar.
        bass: (12,) weights of the lowest sounding pitch class at each step; None uses ``histogram``.

    Score of a triad = its three pitch classes' weight + 0.5 x the bass weight on its root; the first best in the
    order C major, C minor, C# major, ... wins.
    """
    histogram = np.asarray(histogram, dtype=np.float64)
    bass = histogram if bass is None else np.asarray(bass, dtype=np.float64)
    if histogram.sum() <= 0:
        return -1, 0
    best, choice = -1.0, (-1, 0)
    for root in range(KEYS):
        for minor, third in ((0, 4), (1, 3)):
            score = histogram[root] + histogram[(root + third) % KEYS] + histogram[(root + 7) % KEYS]
            score += 0.5 * bass[root]
            if score > best + 1e-9:
                best, choice = score, (root, minor)
    return choice


# ---------------------------------------------------------------------- notes -> bars (any source)


@dataclass
class _Source:
    """A piece before quantising: times in quarter notes from its start."""

    name: str
    melody: list[tuple[float, float, int]]  # (onset, offset, MIDI pitch)
    bars: list[tuple[float, float, bool]]  # (start, length, usable: a whole 4/4 bar)
    harmony: list[tuple[float, float, int]] = field(default_factory=list)  # every voice, for chord estimation
    symbols: list[tuple[float, int, int]] = field(default_factory=list)  # chord symbols (onset, root or -1, minor)


@dataclass
class _Piece:
    """A piece in MidiNet's form: its segments of consecutive usable bars."""

    name: str
    segments: list[tuple[np.ndarray, np.ndarray]]  # ((B, 16) int16 step codes, (B, 2) int8 root/minor)


def _by_bar(notes: list[tuple[float, float, int]], starts: np.ndarray) -> list[list[tuple[float, float, int]]]:
    """Each note listed under every bar (by start time) it overlaps."""
    out: list[list] = [[] for _ in range(len(starts))]
    ends = np.append(starts[1:], np.inf)
    positions = starts.tolist()
    for note in notes:
        first = max(bisect_right(positions, note[0]) - 1, 0)
        last = bisect_left(positions, note[1])
        for index in range(first, min(last, len(starts))):
            if note[0] < ends[index] and note[1] > starts[index]:
                out[index].append(note)
    return out


def _steps(notes: list[tuple[float, float, int]], start: float) -> list[tuple[int, int, int]]:
    """Notes -> (first step, end step, pitch) inside the bar starting at `start` (16 steps of a quarter / 4)."""
    out = []
    for onset, offset, pitch in notes:
        first = int(np.floor((onset - start) * 4 + 0.5))
        end = min(int(np.floor((offset - start) * 4 + 0.5)), STEPS)
        if end <= first and onset >= start and first < STEPS:
            end = first + 1
        first = max(first, 0)
        if end > first:
            out.append((first, end, pitch))
    return out


def _melody_codes(notes: list[tuple[float, float, int]], start: float) -> np.ndarray:
    """(16,) step codes of a bar: the highest pitch sounding at each step, REST where none."""
    codes = np.full(STEPS, -1, dtype=np.int16)
    for first, end, pitch in _steps(notes, start):
        codes[first:end] = np.maximum(codes[first:end], pitch)
    codes[codes < 0] = REST
    return codes


def _bar_chord(source: _Source, notes: list, start: float, length: float, codes: np.ndarray) -> tuple[int, int]:
    """The chord of one bar: the longest-sounding chord symbol, else the template match (``estimate_chord``)."""
    if source.symbols:
        weights: dict[tuple[int, int], float] = {}
        onsets = [symbol[0] for symbol in source.symbols]
        for index, (onset, root, minor) in enumerate(source.symbols):
            until = onsets[index + 1] if index + 1 < len(onsets) else np.inf
            overlap = min(until, start + length) - max(onset, start)
            if overlap > 1e-9 and root >= 0:
                weights[(root, minor)] = weights.get((root, minor), 0.0) + overlap
        if weights:
            return max(weights, key=weights.get)  # first of equals: the earlier chord
        if any(onset <= start + length for onset in onsets):
            return -1, 0  # a "no chord" symbol sounds through the bar
    if notes:
        return _sonority_chord(notes, start)
    histogram = np.zeros(KEYS)
    for code in codes[codes != REST]:
        histogram[code % KEYS] += 1
    return estimate_chord(histogram)


def _sonority_chord(notes: list[tuple[float, float, int]], start: float) -> tuple[int, int]:
    """The triad that sounds longest in a bar of several voices: each step's sounding notes -> ``estimate_chord``
    (their pitch classes, the lowest as bass); the bar takes the most frequent (first of equals)."""
    sounding = np.zeros((STEPS, KEYS))
    lowest = np.full(STEPS, PITCHES, dtype=np.int64)
    for first, end, pitch in _steps(notes, start):
        sounding[first:end, pitch % KEYS] = 1.0
        lowest[first:end] = np.minimum(lowest[first:end], pitch)
    counts: dict[tuple[int, int], int] = {}
    for step in range(STEPS):
        if lowest[step] < PITCHES:
            chord = estimate_chord(sounding[step], np.eye(KEYS)[lowest[step] % KEYS])
            counts[chord] = counts.get(chord, 0) + 1
    return max(counts, key=counts.get) if counts else (-1, 0)


def _quantise(source: _Source) -> _Piece:
    """A source's usable bars as segments of step codes and chords."""
    starts = np.array([bar[0] for bar in source.bars], dtype=np.float64)
    melody = _by_bar(sorted(source.melody), starts)
    harmony = _by_bar(sorted(source.harmony), starts) if source.harmony else None
    segments, codes, chords = [], [], []
    for index, (start, length, usable) in enumerate(source.bars):
        if not usable:
            if codes:
                segments.append((np.stack(codes), np.array(chords, dtype=np.int8)))
            codes, chords = [], []
            continue
        bar = _melody_codes(melody[index], start)
        codes.append(bar)
        chords.append(_bar_chord(source, harmony[index] if harmony else [], start, length, bar))
    if codes:
        segments.append((np.stack(codes), np.array(chords, dtype=np.int8)))
    return _Piece(source.name, segments)


def _meters(meters: list[str]) -> str:
    return ", ".join(sorted(set(meters))) or "unknown"


# ---------------------------------------------------------------------- music21 scores


def _symbol(symbol) -> tuple[int, int]:
    """A music21 ChordSymbol -> (root pitch class, minor flag); (-1, 0) for "no chord"."""
    kind = str(getattr(symbol, "chordKind", "") or "")
    root = symbol.root() if kind not in ("none", "") else None
    if root is None:
        return -1, 0
    return int(root.pitchClass), int(kind.startswith(_MINOR_KINDS))


def _stream_notes(part) -> list[tuple[float, float, int]]:
    """(onset, offset, highest MIDI pitch) of every sounding note or chord of a part (grace notes dropped)."""
    from music21 import chord, harmony, note

    out = []
    for element in part.flatten().notes:
        if isinstance(element, harmony.Harmony) or element.duration.isGrace:
            continue
        length = float(element.duration.quarterLength)
        if length <= 0:
            continue
        onset = float(element.offset)
        if isinstance(element, chord.Chord):
            pitches = [p.midi for p in element.pitches]
        elif isinstance(element, note.Note):
            pitches = [element.pitch.midi]
        else:
            continue
        out.extend((onset, onset + length, int(p)) for p in pitches if 0 <= p < PITCHES)
    return out


def _melody_only(notes: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    """Keep each onset's highest pitch (a part's chords -> their top note)."""
    top: dict[tuple[float, float], int] = {}
    for onset, offset, pitch in notes:
        top[(onset, offset)] = max(top.get((onset, offset), -1), pitch)
    return [(onset, offset, pitch) for (onset, offset), pitch in top.items()]


def _score_source(score, name: str, melody_part, harmony_parts: list) -> tuple[_Source, list[str]]:
    """A music21 score -> a _Source (bars from the melody part's measures) and the meters it found."""
    from music21 import harmony, meter, stream

    measures, meters, current = [], [], None
    for measure in melody_part.getElementsByClass(stream.Measure):
        signature = measure.timeSignature or next(iter(measure.getElementsByClass(meter.TimeSignature)), None)
        current = signature or current
        ratio = current.ratioString if current is not None else "4/4"
        meters.append(ratio)
        measures.append((float(measure.offset), float(measure.duration.quarterLength), ratio == "4/4"))
    symbols = [(float(element.offset), *_symbol(element))
               for element in melody_part.flatten().getElementsByClass(harmony.ChordSymbol)]
    notes = []
    for part in harmony_parts:
        notes.extend(_stream_notes(part))
    source = _Source(name, _melody_only(_stream_notes(melody_part)), _join_fragments(measures), notes, sorted(symbols))
    return source, meters


def _join_fragments(measures: list[tuple[float, float, bool]]) -> list[tuple[float, float, bool]]:
    """Measures (start, length, in 4/4) -> bars (start, length, usable): adjacent 4/4 fragments that add up to one
    whole bar (a chorale's bar split at a fermata, 3 + 1 beats) become one bar; other short measures (a pickup, a
    short last bar) are unusable."""
    bars, pending = [], None
    for start, length, common in measures:
        if common and abs(length - BAR_QUARTERS) < 1e-6:
            if pending is not None:
                bars.append((*pending, False))
                pending = None
            bars.append((start, length, True))
        elif common and length < BAR_QUARTERS:
            if pending is not None and abs(pending[0] + pending[1] - start) < 1e-6:
                pending = (pending[0], pending[1] + length)
            else:
                if pending is not None:
                    bars.append((*pending, False))
                pending = (start, length)
            if abs(pending[1] - BAR_QUARTERS) < 1e-6:
                bars.append((*pending, True))
                pending = None
            elif pending[1] > BAR_QUARTERS:
                bars.append((*pending, False))
                pending = None
        else:
            if pending is not None:
                bars.append((*pending, False))
                pending = None
            bars.append((start, length, False))
    if pending is not None:
        bars.append((*pending, False))
    return bars


def _bach_sources(paths: list[Path]):
    """Yield (name, callable -> (_Source, meters) or raise ValueError(reason)) for Bach chorale files."""
    def load(path: Path):
        from music21 import converter

        score = converter.parse(str(path))
        parts = list(getattr(score, "parts", []))
        soprano = [p for p in parts if str(p.partName or "").strip().lower().startswith("soprano")]
        if not soprano:
            raise ValueError("no part named Soprano")
        return _score_source(score, path.stem, soprano[0], parts)

    for path in paths:
        if path.suffix.lower() not in _SCORE_SUFFIXES:
            yield path.stem, _refuse(f"not a score with voices ({path.suffix})")
        else:
            yield path.stem, (lambda path=path: load(path))


def _refuse(reason: str):
    def fail():
        raise ValueError(reason)
    return fail


def _abc_tunes(text: str) -> list[tuple[str, str]]:
    """Split an ABC file into (reference number and title, tune text with the file's header in front)."""
    blocks = re.split(r"(?m)^(?=X:)", text)
    header = "" if blocks[0].lstrip().startswith("X:") else blocks.pop(0)
    header = "\n".join(line for line in header.splitlines() if re.match(r"^[LMKQ]:", line))
    tunes = []
    for block in blocks:
        if not block.strip().startswith("X:"):
            continue
        number = block.split("\n", 1)[0][2:].strip()
        title = re.search(r"(?m)^T:\s*(.*)$", block)
        first, _, rest = block.partition("\n")
        tunes.append((f"{number} {title.group(1).strip() if title else ''}".strip(), f"{first}\n{header}\n{rest}"))
    return tunes


def _abc_meters(text: str) -> list[str]:
    """The meters an ABC tune declares (``C`` is 4/4, ``C|`` 2/2); 4/4 by ABC's default when none."""
    found = re.findall(r"(?m)(?:^M:|\[M:)\s*([^\]\n%]*)", text)
    names = {"C": "4/4", "C|": "2/2"}
    return [names.get(m.strip(), m.strip().replace(" ", "")) for m in found] or ["4/4"]


def _abc_sources(paths: list[Path]):
    """Yield (name, callable) per tune of ABC files; tunes without a 4/4 meter are refused unparsed."""
    def load(name: str, text: str):
        from music21.abcFormat import ABCHandler, translate

        handler = ABCHandler()
        handler.process(text)
        score = translate.abcToStreamScore(handler)
        parts = list(getattr(score, "parts", [])) or [score]
        return _score_source(score, name, parts[0], [])

    for path in paths:
        text = path.read_text(encoding="utf-8", errors="replace")
        for label, tune in _abc_tunes(text):
            name = f"{path.stem} #{label}"
            meters = _abc_meters(tune)
            if "4/4" not in meters:
                yield name, _refuse(f"meter {', '.join(sorted(set(meters)))}, not 4/4")
            else:
                yield name, (lambda name=name, tune=tune: load(name, tune))


def _corpus_items(corpus: str) -> list:
    """(name, loader) for every piece of a built-in corpus, in a fixed order."""
    import music21.corpus

    directory = Path(music21.corpus.__file__).parent / _MUSIC21_DIRS[corpus]
    if corpus == "bach":
        return list(_bach_sources(sorted(music21.corpus.getComposer("bach"))))
    paths = sorted(directory.glob("*.abc"))
    if not paths:
        raise AdvlabError(f"music21's corpus has no files for '{corpus}' (looked in {directory})")
    return list(_abc_sources(paths))


def _read_sources(items: list, limit: int | None, progress: bool, label: str) -> tuple[list[_Piece], list]:
    """Quantise each (name, loader) until `limit` pieces gave bars; unusable ones go to `skipped`."""
    pieces, skipped = [], []
    bar = tqdm(total=len(items), desc=f"reading {label}", unit="piece", disable=not progress, leave=False)
    with bar:
        for name, loader in items:
            if limit is not None and len(pieces) >= limit:
                break
            bar.update(1)
            try:
                source, meters = loader()
                piece = _quantise(source)
            except Exception as error:  # a piece that does not parse is skipped with its reason, never a crash
                skipped.append((name, _reason(error)))
                continue
            if not piece.segments:
                skipped.append((name, f"no whole 4/4 bar (meters: {_meters(meters)})"))
            elif all((segment[0] == REST).all() for segment in piece.segments):
                skipped.append((name, "no notes"))
            else:
                pieces.append(piece)
    return pieces, skipped


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return (f"{type(error).__name__}: {text}" if not isinstance(error, ValueError) or not text else text)[:160]


# ---------------------------------------------------------------------- the corpus cache


def melody_cache_dir() -> Path:
    """Where parsed corpora are cached: ``cache_dir() / "melodies"`` (advlab's cache; ``$ADVLAB_CACHE``)."""
    return cache_dir() / "melodies"


def _cache_path(corpus: str, limit: int | None) -> Path:
    return melody_cache_dir() / f"{corpus}-v{PARSE_VERSION}-{'all' if limit is None else f'first{limit}'}.npz"


def _save_pieces(path: Path, pieces: list[_Piece], skipped: list, seconds: float) -> None:
    codes = [seg[0] for piece in pieces for seg in piece.segments]
    chords = [seg[1] for piece in pieces for seg in piece.segments]
    lengths = np.array([len(c) for c in codes], dtype=np.int64)
    arrays = {
        "codes": np.concatenate(codes).astype(np.int16) if codes else np.zeros((0, STEPS), np.int16),
        "chords": np.concatenate(chords).astype(np.int8) if chords else np.zeros((0, 2), np.int8),
        "segment_lengths": lengths,
        "segment_piece": np.array([i for i, piece in enumerate(pieces) for _ in piece.segments], dtype=np.int64),
        "piece_names": np.array([piece.name for piece in pieces], dtype=np.str_),
        "skipped_names": np.array([name for name, _ in skipped], dtype=np.str_),
        "skipped_reasons": np.array([reason for _, reason in skipped], dtype=np.str_),
        "seconds": np.array(seconds),
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())


def _load_pieces(path: Path, limit: int | None) -> tuple[list[_Piece], list] | None:
    """The cached pieces (the first `limit` of them), or None when the file is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            codes, chords = data["codes"], data["chords"]
            lengths, owner = data["segment_lengths"], data["segment_piece"]
            names = [str(n) for n in data["piece_names"]]
            skipped = list(zip((str(n) for n in data["skipped_names"]), (str(r) for r in data["skipped_reasons"])))
    except Exception:  # missing, truncated or from another version: parse again
        return None
    pieces = [_Piece(name, []) for name in names]
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    for index, piece in enumerate(owner):
        segment = slice(offsets[index], offsets[index + 1])
        pieces[piece].segments.append((codes[segment], chords[segment]))
    return (pieces if limit is None else pieces[:limit]), skipped


def corpus_pieces(corpus: str, limit: int | None = None, progress: bool = False) -> tuple[list[_Piece], list, dict]:
    """A built-in corpus's usable pieces, the skipped ones, and how they were got (cache, seconds)."""
    started = time.perf_counter()
    for path in [_cache_path(corpus, None)] + ([_cache_path(corpus, limit)] if limit is not None else []):
        cached = _load_pieces(path, limit)
        if cached is not None:
            return cached[0], cached[1], {"cache": str(path), "cached": True, "seconds": time.perf_counter() - started}
    pieces, skipped = _read_sources(_corpus_items(corpus), limit, progress, corpus)
    seconds = time.perf_counter() - started
    _save_pieces(_cache_path(corpus, limit), pieces, skipped, seconds)
    return pieces, skipped, {"cache": str(_cache_path(corpus, limit)), "cached": False, "seconds": seconds}


# ---------------------------------------------------------------------- MIDI files (mido)


def _midi_source(path: Path) -> tuple[_Source, list[str]]:
    """A MIDI file -> a _Source: its melody track's notes, the other tracks as harmony, its bar grid."""
    import mido

    midi = mido.MidiFile(str(path), clip=True)
    if midi.type == 2:
        raise ValueError("type 2 MIDI (independent patterns) is not supported")
    tpb = float(midi.ticks_per_beat)
    if tpb <= 0:
        raise ValueError("SMPTE time division is not supported")
    groups: dict[tuple[int, int], list] = {}
    names: dict[int, str] = {}
    signatures, end = [], 0
    for track_index, track in enumerate(midi.tracks):
        tick, sounding = 0, {}
        for message in track:
            tick += message.time
            if message.type == "track_name":
                names[track_index] = str(message.name)
            elif message.type == "time_signature":
                signatures.append((tick, message.numerator, message.denominator))
            elif message.type in ("note_on", "note_off"):
                key = (message.channel, message.note)
                if message.type == "note_on" and message.velocity > 0:
                    sounding.setdefault(key, []).append(tick)
                elif sounding.get(key):
                    onset = sounding[key].pop(0)
                    if tick > onset:
                        groups.setdefault((track_index, message.channel), []).append((onset, tick, message.note))
        for (channel, pitch), onsets in sounding.items():  # never released: they end with the track
            for onset in onsets:
                if tick > onset:
                    groups.setdefault((track_index, channel), []).append((onset, tick, pitch))
        end = max(end, tick)
    groups = {key: notes for key, notes in groups.items() if key[1] != DRUM_CHANNEL and notes}
    if not groups:
        raise ValueError("no notes (drums aside)")
    melody_key = _melody_group(groups, names)
    quarters = [(a / tpb, b / tpb, p) for a, b, p in groups[melody_key]]
    harmony = [(a / tpb, b / tpb, p) for notes in groups.values() for a, b, p in notes] if len(groups) > 1 else []
    notes_end = max(offset for notes in groups.values() for _, offset, _ in notes)
    bars, meters = _midi_bars(sorted(signatures), notes_end, end, tpb)
    return _Source(path.name, quarters, bars, harmony), meters


def _melody_group(groups: dict[tuple[int, int], list], names: dict[int, str]) -> tuple[int, int]:
    """The (track, channel) that carries the melody (see the module docstring)."""
    named = [key for key in groups if any(word in names.get(key[0], "").lower() for word in MELODY_NAMES)]
    if named:
        return max(named, key=lambda key: len(groups[key]))
    single = []
    for key, notes in groups.items():
        onsets: dict[int, int] = {}
        for onset, _, _ in notes:
            onsets[onset] = onsets.get(onset, 0) + 1
        together = sum(count for count in onsets.values() if count > 1)
        if together <= 0.5 * len(notes):
            single.append(key)
    if not single:
        raise ValueError("polyphonic only: every track plays chords (no single-note melody line)")
    return max(single, key=lambda key: len(groups[key]))


def _midi_bars(signatures: list[tuple[int, int, int]], notes_end: int, end: int, tpb: float) -> tuple[list, list[str]]:
    """Bars (start, length, usable) in quarter notes from a file's time signatures (4/4 until the first one): every
    bar up to the last note's end, then only whole bars of silence that the file's length still covers."""
    changes = [(0, 4, 4)] + [s for s in signatures if s[0] > 0] if not signatures or signatures[0][0] > 0 \
        else list(signatures)
    bars, meters, tick, index = [], [], 0.0, 0
    while True:
        while index + 1 < len(changes) and changes[index + 1][0] <= tick + 1e-6:
            index += 1
        _, numerator, denominator = changes[index]
        length = tpb * 4 * numerator / denominator
        following = changes[index + 1][0] if index + 1 < len(changes) else np.inf
        whole = tick + length <= following + 1e-6
        length = length if whole else following - tick
        if tick >= notes_end - 1e-6 and tick + length > end + 1e-6:
            break
        bars.append((tick / tpb, length / tpb, whole and numerator == 4 and denominator == 4))
        meters.append(f"{numerator}/{denominator}")
        tick += length
    return bars, meters


def read_midi_melody(path: str | Path) -> tuple[Tensor, Tensor]:
    """One MIDI file's melody: (bars (B, 16, 128) float32, chords (B, 13)), its usable 4/4 bars in order.

    Raises AdvlabError when the file does not parse or has no usable bar (with the reason).
    """
    path = Path(path)
    if not path.is_file():
        raise AdvlabError(f"no MIDI file at {path}")
    try:
        source, meters = _midi_source(path)
        piece = _quantise(source)
    except Exception as error:
        raise AdvlabError(f"cannot read {path} as MIDI: {_reason(error)}") from None
    if not piece.segments:
        raise AdvlabError(f"{path} has no whole 4/4 bar (meters: {_meters(meters)})")
    codes = np.concatenate([seg[0] for seg in piece.segments]).astype(np.int64)
    chords = np.concatenate([seg[1] for seg in piece.segments]).astype(np.int64)
    return roll_from_codes(torch.from_numpy(codes)), chord_tensor(chords[:, 0], chords[:, 1])


def folder_pieces(folder: str | Path, limit: int | None = None,
                  progress: bool = False) -> tuple[list[_Piece], list, dict]:
    """Every usable MIDI file under `folder` (recursively), the skipped ones and how they were read."""
    root = Path(folder).expanduser()
    if not root.exists():
        raise AdvlabError(f"no folder at {root}")
    if not root.is_dir():
        raise AdvlabError(f"{root} is not a folder; give a folder of .mid/.midi files")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
    if not files:
        raise AdvlabError(f"no .mid or .midi files under {root}")
    started = time.perf_counter()
    items = [(str(p.relative_to(root)), (lambda p=p: _midi_source(p))) for p in files]
    pieces, skipped = _read_sources(items, limit, progress, root.name or str(root))
    if not pieces:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in skipped[:MAX_REASONS])
        raise AdvlabError(f"no usable melody in {root}: {len(skipped)} of {len(files)} MIDI files skipped "
                          f"({reasons})")
    return pieces, skipped, {"files": len(files), "seconds": time.perf_counter() - started}


# ---------------------------------------------------------------------- phrases, range, split, keys


def fit_range(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """Move a phrase's step codes (B, 16) into C4-B5 (60-83) by whole octaves; fold the rest; -> (codes, folded)."""
    codes = codes.astype(np.int64).copy()
    notes = codes != REST
    if not notes.any():
        return codes, 0
    pitches = codes[notes]
    best = None
    for octaves in range(-10, 11):
        moved = pitches + 12 * octaves
        if moved.min() < 0 or moved.max() >= PITCHES:
            continue
        inside = int(((moved >= LOW) & (moved <= HIGH)).sum())
        centre = abs((moved.min() + moved.max()) / 2 - (LOW + HIGH) / 2)
        key = (-inside, abs(octaves), centre)
        if best is None or key < best[0]:
            best = (key, octaves)
    moved = pitches + 12 * best[1]
    folded = int(((moved < LOW) | (moved > HIGH)).sum())
    moved = np.where(moved < LOW, moved + 12 * np.ceil((LOW - moved) / 12).astype(np.int64), moved)
    moved = np.where(moved > HIGH, moved - 12 * np.ceil((moved - HIGH) / 12).astype(np.int64), moved)
    codes[notes] = moved
    return codes, folded


def key_shifts(codes: np.ndarray) -> np.ndarray:
    """(12,) semitone shifts that take a phrase to each key k: k or k - 12, whichever keeps more notes in 60-83."""
    pitches = codes[codes != REST].astype(np.int64)
    shifts = np.zeros(KEYS, dtype=np.int64)
    for key in range(1, KEYS):
        outside = [int(((pitches + s < LOW) | (pitches + s > HIGH)).sum()) for s in (key, key - KEYS)]
        shifts[key] = key if outside[0] < outside[1] or (outside[0] == outside[1] and key <= KEYS - key) \
            else key - KEYS
    return shifts


def _shape_key(codes: np.ndarray) -> bytes:
    """A phrase's codes up to transposition (notes relative to its lowest pitch), for duplicate checks."""
    codes = codes.astype(np.int64).copy()
    notes = codes != REST
    if notes.any():
        codes[notes] -= codes[notes].min()
    return codes.tobytes()


def transpose_bars(bars: Tensor, shifts: Tensor) -> Tensor:
    """Piano rolls (n, ..., 128) moved up by `shifts` (n,) semitones each (notes must stay within 0..127)."""
    index = (torch.arange(PITCHES, device=bars.device) - shifts.view(-1, *[1] * (bars.dim() - 1))) % PITCHES
    return torch.gather(bars, -1, index.expand_as(bars))


def transpose_chords(chords: Tensor, shifts: Tensor) -> Tensor:
    """Chord vectors (n, 13) with their roots moved up by `shifts` (n,) semitones (mod 12)."""
    index = (torch.arange(KEYS, device=chords.device) - shifts.view(-1, 1)) % KEYS
    return torch.cat([torch.gather(chords[:, :KEYS], 1, index), chords[:, KEYS:]], dim=1)


@dataclass
class MelodyBars:
    """Bars of melody in MidiNet's form (module docstring), ready for a GAN's training loop.

    Attributes:
        bars: (N, 1, 16, 128) float32 in {0, 1}, at most one 1 per time step; an all-zero step is a rest.
        previous: (N, 1, 16, 128) the bar before each bar in its phrase (all zeros at a phrase's first bar).
        chords: (N, 13) float32 chord of each bar (12 one-hot roots, then 1 for minor; all zeros: no chord).
        phrase: (N,) long, the phrase of each bar (0..P-1); position: (N,) long, its index in the phrase.
        name: the corpus name or ``folder:<path>``.
        held_out: the held-out phrases (same form, never transposed), or None.
        skipped: (file or piece, reason) for each piece not used.
        shifts: (N, 12) long semitone shift of each bar's phrase to each of the 12 keys (transposition
            augmentation when sampling), or None for no augmentation.
        info: counts and timings of how the set was made (pieces, phrases, dropped bars, folded notes, ...).
    """

    bars: Tensor
    previous: Tensor
    chords: Tensor
    phrase: Tensor
    position: Tensor
    name: str
    held_out: MelodyBars | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    shifts: Tensor | None = None
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.bars.shape[0])

    @property
    def augmented_size(self) -> int:
        """How many distinct rows ``sample`` draws from: 12 x len with transposition, else len."""
        return len(self) * (KEYS if self.shifts is not None else 1)

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """(bars, previous, chords) of `n` rows drawn uniformly with replacement, on ``generator.device``.

        With ``shifts``, each row is also moved to one of the 12 keys drawn uniformly (bar, previous bar and
        chord together).
        """
        device = generator.device
        rows = torch.randint(len(self), (n,), generator=generator, device=device).to(self.bars.device)
        bars, previous, chords = self.bars[rows], self.previous[rows], self.chords[rows]
        if self.shifts is not None:
            keys = torch.randint(KEYS, (n,), generator=generator, device=device).to(self.bars.device)
            shift = self.shifts[rows, keys]
            bars, previous = transpose_bars(bars, shift), transpose_bars(previous, shift)
            chords = transpose_chords(chords, keys)
        return bars.to(device), previous.to(device), chords.to(device)

    def checkpoint_meta(self) -> dict:
        """What a checkpoint records to rebuild the players: the shapes of a bar and of a chord."""
        return {"steps": STEPS, "pitches": PITCHES, "chord_dim": CHORD_DIM}

    def to(self, device) -> MelodyBars:
        """A copy with every tensor (and the held-out set's) on `device`."""
        def move(tensor: Tensor | None) -> Tensor | None:
            return None if tensor is None else tensor.to(device)

        return MelodyBars(move(self.bars), move(self.previous), move(self.chords), move(self.phrase),
                          move(self.position), self.name, None if self.held_out is None else self.held_out.to(device),
                          list(self.skipped), move(self.shifts), dict(self.info))

    def phrases(self) -> list[tuple[Tensor, Tensor]]:
        """Per phrase, in order: (bars (B, 16, 128), chords (B, 13)), in the phrase's own key."""
        out = []
        for index in torch.unique(self.phrase).tolist():
            rows = torch.nonzero(self.phrase == index).flatten()
            rows = rows[torch.argsort(self.position[rows])]
            out.append((self.bars[rows, 0], self.chords[rows]))
        return out

    def step_codes(self) -> Tensor:
        """(N, 16) long: the pitch at each step, ``REST`` (128) where none."""
        return codes_from_roll(self.bars[:, 0])


def _melody_bars(phrases: list[tuple[np.ndarray, np.ndarray]], name: str, transpose: bool) -> MelodyBars:
    """Phrases ((B, 16) codes, (B, 2) root/minor) -> MelodyBars (shifts when `transpose`)."""
    count, length = len(phrases), phrases[0][0].shape[0] if phrases else 0
    codes = torch.from_numpy(np.stack([p[0] for p in phrases]).astype(np.int64)) if phrases \
        else torch.zeros(0, length, STEPS, dtype=torch.long)
    chords = np.stack([p[1] for p in phrases]).astype(np.int64) if phrases else np.zeros((0, length, 2), np.int64)
    rolls = roll_from_codes(codes)  # (P, B, 16, 128)
    previous = torch.zeros_like(rolls)
    previous[:, 1:] = rolls[:, :-1]
    shifts = None
    if transpose:
        table = torch.from_numpy(np.stack([key_shifts(p[0]) for p in phrases])) if phrases \
            else torch.zeros(0, KEYS, dtype=torch.long)
        shifts = table.repeat_interleave(length, dim=0)
    return MelodyBars(
        bars=rolls.reshape(-1, 1, STEPS, PITCHES), previous=previous.reshape(-1, 1, STEPS, PITCHES),
        chords=chord_tensor(chords[..., 0], chords[..., 1]).reshape(-1, CHORD_DIM),
        phrase=torch.arange(count).repeat_interleave(length), position=torch.arange(length).repeat(count),
        name=name, shifts=shifts)


def _cut_phrases(pieces: list[_Piece], bars: int, info: dict) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Each piece's phrases of `bars` bars, fitted to C4-B5 (empty phrases and leftover bars counted)."""
    out = []
    for piece in pieces:
        phrases = []
        for codes, chords in piece.segments:
            info["bars_read"] += len(codes)
            whole, left = divmod(len(codes), bars)
            starts = [index * bars for index in range(whole)]
            if whole and 2 * left >= bars:
                starts.append(len(codes) - bars)  # the segment's last bars, overlapping the phrase before
                info["overlapping_phrases"] += 1
            else:
                info["bars_left_over"] += left
            for start in starts:
                window = slice(start, start + bars)
                if (codes[window] == REST).all():
                    info["empty_phrases_dropped"] += 1
                    continue
                fitted, folded = fit_range(codes[window])
                info["folded_notes"] += folded
                phrases.append((fitted, chords[window]))
        out.append(phrases)
    return out


def _split(per_piece: list[list], fraction: float, seed: int) -> tuple[list, list, list[int]]:
    """(training phrases, held-out phrases, held-out piece indices): whole pieces held out (seeded), or phrases
    when one piece has them all."""
    used = [index for index, phrases in enumerate(per_piece) if phrases]
    rng = np.random.default_rng(seed)
    if fraction <= 0 or not used:
        return [p for phrases in per_piece for p in phrases], [], []
    if len(used) >= 2:
        held = max(1, min(len(used) - 1, int(round(fraction * len(used)))))
        held_pieces = sorted(used[i] for i in rng.permutation(len(used))[:held])
        train = [p for i, phrases in enumerate(per_piece) if i not in held_pieces for p in phrases]
        test = [p for i in held_pieces for p in per_piece[i]]
        return train, test, held_pieces
    phrases = per_piece[used[0]]
    if len(phrases) < 2:
        return phrases, [], []
    held = max(1, min(len(phrases) - 1, int(round(fraction * len(phrases)))))
    order = rng.permutation(len(phrases))
    return [phrases[i] for i in sorted(order[held:])], [phrases[i] for i in sorted(order[:held])], []


def load_melodies(corpus: str | None = None, folder: str | None = None, bars: int = 8, transpose: bool = True,
                  held_out_fraction: float = 0.1, seed: int = 0, limit: int | None = None,
                  progress: bool = False) -> MelodyBars:
    """Melody bars in MidiNet's form from a built-in corpus or a folder of MIDI files (module docstring).

    Args:
        corpus: a ``CORPORA`` name ("bach", "essen", "ryans-mammoth", "oneills", "nottingham").
        folder: a folder of the user's .mid/.midi files (searched recursively); exactly one of corpus/folder.
        bars: bars per phrase (MidiNet generates 8-bar melodies), >= 1.
        transpose: transposition augmentation to the 12 keys when sampling training rows (MidiNet), default on.
        held_out_fraction: share of pieces held out (whole songs; phrases when there is one piece); 0 for none.
        seed: fixes the held-out split.
        limit: read only until this many pieces gave bars (a quick look, tests); None reads all.
        progress: show a progress bar while parsing.
    """
    if (corpus is None) == (folder is None):
        raise AdvlabError("give exactly one of a corpus name (" + ", ".join(CORPORA) + ") or a folder of MIDI files")
    check_int("bars", bars, 1)
    if limit is not None:
        check_int("limit", limit, 1)
    if not isinstance(held_out_fraction, (int, float)) or not 0 <= held_out_fraction < 1:
        raise AdvlabError(f"held_out_fraction must be in [0, 1), got {held_out_fraction!r}")
    if corpus is not None:
        if not isinstance(corpus, str) or corpus.strip() == "":
            raise AdvlabError("the corpus name is empty; choose one of " + ", ".join(CORPORA))
        if corpus not in CORPORA:
            raise AdvlabError(f"unknown corpus '{corpus}'; choose one of " + ", ".join(CORPORA))
        pieces, skipped, how = corpus_pieces(corpus, limit, progress)
        name = corpus
    else:
        if str(folder).strip() == "":
            raise AdvlabError("the folder name is empty; give a folder of .mid/.midi files")
        pieces, skipped, how = folder_pieces(folder, limit, progress)
        name = f"folder:{folder}"
    info = {"pieces": len(pieces), "skipped": len(skipped), "bars_read": 0, "bars_left_over": 0,
            "overlapping_phrases": 0, "empty_phrases_dropped": 0, "folded_notes": 0, "held_out_duplicates": 0, **how}
    per_piece = _cut_phrases(pieces, bars, info)
    train, test, held_pieces = _split(per_piece, float(held_out_fraction), seed)
    if not train:
        raise AdvlabError(f"{name} has no phrase of {bars} whole 4/4 bars ({len(pieces)} pieces usable, "
                          f"{len(skipped)} skipped); try fewer --bars")
    shapes = {_shape_key(codes) for codes, _ in train}
    kept = [p for p in test if _shape_key(p[0]) not in shapes]
    info["held_out_duplicates"] = len(test) - len(kept)
    data = _melody_bars(train, name, transpose)
    data.held_out = _melody_bars(kept, f"{name} (held out)", False) if kept else None
    info.update(phrases=len(train), held_out_phrases=len(kept), bars=len(data),
                held_out_pieces=[pieces[i].name for i in held_pieces],
                training_pieces=[piece.name for i, piece in enumerate(pieces) if i not in set(held_pieces)])
    data.skipped, data.info = list(skipped), info
    return data


__all__ = ["CHORD_DIM", "CORPORA", "KEYS", "LOW", "HIGH", "PITCHES", "REST", "STEPS", "MelodyBars", "chord_tensor",
           "codes_from_roll", "corpus_pieces", "estimate_chord", "fit_range", "folder_pieces", "key_shifts",
           "load_melodies", "melody_cache_dir", "read_midi_melody", "roll_from_codes", "transpose_bars",
           "transpose_chords"]
