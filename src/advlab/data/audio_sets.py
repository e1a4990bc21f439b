"""Folders of WAV files as labelled utterances, and the game loop's minibatches of them (issue 21).

:func:`load_audio_folder` reads every ``.wav`` under a folder (recursively; any sample rate, resampled to ``rate``;
stereo averaged; advlab.data.audio_io) in the order of their sorted relative names. What each file says comes from
the first of these that applies:

1. **A transcript file** in the folder -- ``transcripts.tsv``, ``transcripts.txt`` or ``transcript.tsv`` (the
   first found): one line per file, ``NAME<TAB>words`` or ``NAME words ...``, NAME relative to the folder with or
   without ``.wav``; blank lines and lines starting with ``#`` are skipped. Every listed file must exist and every
   ``.wav`` must be listed, each once (the error names the first that is not). :func:`make_spoken_digits
   <advlab.data.spoken.make_spoken_digits>` writes such a folder.
2. **Class folders** ``DIR/CLASS/.../*.wav``, when no ``.wav`` sits in DIR itself and there are at least two: each
   file says one word, the name of the folder under DIR that holds it (Speech Commands' layout).
3. **Names** ``LABEL_*.wav``, when every file's name has a non-empty part before a ``_``: that part is its one word
   (``yes_0001.wav`` says "yes"; the Free Spoken Digit Dataset's ``7_jackson_32.wav`` says "seven").

Words are lower-cased, stripped of surrounding punctuation (``.,;:!?"()``), and a word that is a single digit
``0``-``9`` becomes its name in ``DIGIT_WORDS`` ("7" -> "seven"), so digits read from names share the spoken digit
sets' vocabulary. Hidden files and folders (``.name``) and folders starting with ``_`` (Speech Commands'
``_background_noise_``) are not searched.

:class:`AudioBatches` is the game loop's data object (advlab.pipelines.game_loop): ``sample(n, generator)`` draws
n utterances uniformly with replacement and returns them zero-padded with their lengths and their transcripts as
tokens (vocabulary word i is token i + 1; 0 is the CTC blank and the padding).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.data.audio_io import MIN_SAMPLE_RATE, SAMPLE_RATE, load_audio
from advlab.data.spoken import DIGIT_WORDS

TRANSCRIPT_FILES = ("transcripts.tsv", "transcripts.txt", "transcript.tsv")
PUNCTUATION = ".,;:!?\"()"
DEFAULT_MAX_SECONDS = 10.0
HOW_TO_LABEL = ("give a transcript file (DIR/transcripts.tsv, one 'NAME<TAB>words' line per file), class folders "
                "(DIR/CLASS/*.wav, at least two) or LABEL_*.wav file names (e.g. yes_001.wav)")


def normalise_words(text: str) -> tuple[str, ...]:
    """Lower-case words of `text`, surrounding punctuation stripped, single digits as their names ("7" -> "seven")."""
    words = (word.strip(PUNCTUATION) for word in text.lower().split())
    return tuple(DIGIT_WORDS[int(word)] if len(word) == 1 and word.isdigit() else word for word in words if word)


@dataclass
class AudioSet:
    """Utterances and what they say.

    Args:
        waves: each (T_i,) float32 in [-1, 1] at ``sample_rate``.
        transcripts: the words each utterance says (lower case).
        names: file names relative to the folder ("00012.wav", "yes/a1.wav").
        sample_rate: Hz.
        name: the set's name (the folder's).
        source: the folder as given.
        labelled_by: "transcripts", "folders" or "names" (load_audio_folder's three ways).
    """

    waves: list[Tensor]
    transcripts: list[tuple[str, ...]]
    names: list[str]
    sample_rate: int
    name: str
    source: str
    labelled_by: str

    def __post_init__(self) -> None:
        if not len(self.waves) == len(self.transcripts) == len(self.names):
            raise AdvlabError(f"audio set {self.name!r}: {len(self.waves)} waves, {len(self.transcripts)} "
                              f"transcripts and {len(self.names)} names; they must agree")

    def __len__(self) -> int:
        return len(self.waves)

    @property
    def vocabulary(self) -> tuple[str, ...]:
        """The distinct words: digit words first in ``DIGIT_WORDS`` order, then the rest sorted."""
        words = {word for transcript in self.transcripts for word in transcript}
        return tuple(w for w in DIGIT_WORDS if w in words) + tuple(sorted(words - set(DIGIT_WORDS)))

    @property
    def lengths(self) -> Tensor:
        """(N,) int64 samples per utterance."""
        return torch.tensor([len(wave) for wave in self.waves], dtype=torch.long)

    def subset(self, indices: Tensor | Sequence[int]) -> AudioSet:
        """The utterances at `indices` (in that order), as a set with the same name, source and rate."""
        rows = [int(i) for i in (indices.tolist() if isinstance(indices, Tensor) else indices)]
        return AudioSet([self.waves[i] for i in rows], [self.transcripts[i] for i in rows],
                        [self.names[i] for i in rows], self.sample_rate, self.name, self.source, self.labelled_by)


# ---------------------------------------------------------------------- labels


def _wav_files(root: Path) -> list[str]:
    """Relative posix names of the .wav files under `root`, sorted, skipping hidden and _-prefixed folders."""
    found = []
    for path in root.rglob("*"):
        parts = path.relative_to(root).parts
        if any(part.startswith(".") for part in parts) or any(part.startswith("_") for part in parts[:-1]):
            continue
        if path.suffix.lower() == ".wav" and path.is_file():
            found.append(Path(*parts).as_posix())
    return sorted(found)


def _read_transcripts(path: Path, root: Path, files: list[str]) -> dict[str, tuple[str, ...]]:
    """A transcript file's lines as {file name: words}; every listed file exists and every .wav is listed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as error:
        raise AdvlabError(f"{path}: cannot read the transcript file as UTF-8 text ({error})") from None
    table: dict[str, tuple[str, ...]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, said = line.partition("\t") if "\t" in line else line.strip().partition(" ")
        name = name.strip()
        name = Path(name if name.lower().endswith(".wav") else name + ".wav").as_posix()
        words = normalise_words(said)
        if not words:
            raise AdvlabError(f"{path}, line {number}: no words after {name!r}; write 'NAME<TAB>words'")
        if name in table:
            raise AdvlabError(f"{path}, line {number}: {name} is listed twice")
        if not (root / name).is_file():
            raise AdvlabError(f"{path}, line {number}: {name} is listed but {root / name} does not exist")
        table[name] = words
    unlisted = next((name for name in files if name not in table), None)
    if unlisted is not None:
        raise AdvlabError(f"{root / unlisted} is not listed in {path}; add a line '{unlisted}<TAB>words' for it "
                          "(or move it out of the folder)")
    if not table:
        raise AdvlabError(f"{path} lists no files; write one 'NAME<TAB>words' line per .wav file")
    return table


def _folder_labels(files: list[str]) -> dict[str, tuple[str, ...]] | None:
    """Class folders DIR/CLASS/...: {file: (class,)} when no file sits in DIR and there are >= 2 classes."""
    if any("/" not in name for name in files):
        return None
    labels = {name: normalise_words(name.split("/", 1)[0]) for name in files}
    if len(set(labels.values())) < 2 or any(len(words) != 1 for words in labels.values()):
        return None
    return labels


def _name_labels(files: list[str]) -> dict[str, tuple[str, ...]] | None:
    """LABEL_*.wav names: {file: (label,)} when every file's name has a non-empty label before a '_'."""
    labels = {}
    for name in files:
        label, underscore, _ = Path(name).stem.partition("_")
        words = normalise_words(label)
        if not underscore or len(words) != 1:
            return None
        labels[name] = words
    return labels


def folder_labels(root: Path, files: list[str]) -> tuple[dict[str, tuple[str, ...]], str]:
    """What each of `files` says and how that was found ("transcripts", "folders", "names"; module docstring)."""
    for candidate in TRANSCRIPT_FILES:
        if (root / candidate).is_file():
            return _read_transcripts(root / candidate, root, files), "transcripts"
    by_folder = _folder_labels(files)
    if by_folder is not None:
        return by_folder, "folders"
    by_name = _name_labels(files)
    if by_name is not None:
        return by_name, "names"
    raise AdvlabError(f"{root}: cannot tell what its .wav files say; {HOW_TO_LABEL}")


# ---------------------------------------------------------------------- loading


def load_audio_folder(path: str | Path, rate: int = SAMPLE_RATE, max_seconds: float = DEFAULT_MAX_SECONDS,
                      progress: bool = False) -> AudioSet:
    """Every .wav under the folder `path`, resampled to `rate`, with what it says (module docstring).

    Args:
        path: the folder.
        rate: the sample rate the waves are resampled to (Hz, at least 8,000).
        max_seconds: the longest utterance accepted (after resampling), in seconds.
        progress: show a progress bar on stderr while reading.

    Raises:
        AdvlabError: one line each for a missing folder, a folder with no .wav files, no way to label them, a
            transcript file that lists a missing file or misses one, a WAV that does not decode, one recorded below
            8,000 Hz, and one longer than `max_seconds` -- naming the file.
    """
    rate = check_int("rate", rate, MIN_SAMPLE_RATE)
    max_seconds = check_number("max_seconds", max_seconds, 0.0, strict=True)
    root = Path(path)
    if not root.is_dir():
        raise AdvlabError(f"{path}: no such folder; give a folder of .wav files")
    files = _wav_files(root)
    if not files:
        raise AdvlabError(f"{path} holds no .wav files (searched recursively); {HOW_TO_LABEL}")
    labels, how = folder_labels(root, files)
    names = sorted(labels)
    waves = []
    for name in tqdm(names, desc=f"reading {root.name or root}", unit="file", disable=not progress,
                     file=sys.stderr):
        wave = load_audio(root / name, rate)
        if len(wave) > max_seconds * rate:
            raise AdvlabError(f"{root / name} is {len(wave) / rate:.2f} s long; utterances may be at most "
                              f"{max_seconds:g} s (max_seconds); cut it or raise the limit")
        waves.append(wave)
    return AudioSet(waves, [labels[name] for name in names], names, rate, root.resolve().name or str(root),
                    str(path), how)


def split_held_out(n: int, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """(training rows, held-out rows) of `n` rows: round(n * fraction) held out (at least 1 when fraction > 0).

    A permutation seeded with `seed` chooses them; each part is returned sorted (int64).
    """
    n = check_int("n", n, 1)
    fraction = check_number("held_out_fraction", fraction)
    if fraction >= 1.0:
        raise AdvlabError(f"held_out_fraction must lie in [0, 1), got {fraction!r}")
    held = max(1, round(n * fraction)) if fraction > 0 else 0
    if held >= n:
        raise AdvlabError(f"holding out {held} of {n} utterances leaves none to train on; lower held_out_fraction "
                          "or give more utterances")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(check_int("seed", seed, 0)))
    return order[held:].sort().values, order[:held].sort().values


# ---------------------------------------------------------------------- minibatches


def pad_waves(waves: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Utterances as one batch: (waves (N, T_max) float32 zero-padded on the right, lengths (N,) int64)."""
    if not waves:
        raise AdvlabError("no utterances to put in a batch")
    lengths = torch.tensor([len(wave) for wave in waves], dtype=torch.long)
    batch = torch.zeros(len(waves), int(lengths.max()))
    for row, wave in enumerate(waves):
        batch[row, :len(wave)] = wave
    return batch, lengths


class AudioBatches:
    """The game loop's data object: zero-padded minibatches of an :class:`AudioSet` and their tokens.

    Args:
        audio: the utterances to draw from.
        vocabulary: the model's words; word i is token i + 1 (0: blank and padding). Every word the utterances say
            must be in it (AdvlabError naming those that are not).
    """

    def __init__(self, audio: AudioSet, vocabulary: Sequence[str]):
        if len(audio) == 0:
            raise AdvlabError(f"audio set {audio.name!r} holds no utterances to draw from")
        self.audio, self.vocabulary = audio, tuple(vocabulary)
        index = {word: i + 1 for i, word in enumerate(self.vocabulary)}
        unknown = sorted({w for words in audio.transcripts for w in words if w not in index})
        if unknown:
            raise AdvlabError(f"{audio.source} says {', '.join(unknown)}, outside the vocabulary "
                              f"({', '.join(self.vocabulary)})")
        self.lengths = audio.lengths
        self.offsets = torch.cumsum(self.lengths, 0) - self.lengths
        self.token_lengths = torch.tensor([len(words) for words in audio.transcripts], dtype=torch.long)
        self.tokens = torch.zeros(len(audio), int(self.token_lengths.max()), dtype=torch.long)
        for row, words in enumerate(audio.transcripts):
            self.tokens[row, :len(words)] = torch.tensor([index[w] for w in words])
        self._flat = torch.cat([wave.float().cpu() for wave in audio.waves])
        self._on: dict[torch.device, tuple[Tensor, ...]] = {}

    @property
    def name(self) -> str:
        return self.audio.name

    def __len__(self) -> int:
        return len(self.audio)

    def _tensors(self, device: torch.device) -> tuple[Tensor, ...]:
        """(flat samples, offsets, lengths, tokens, token lengths) on `device`, copied there once."""
        if device not in self._on:
            self._on[device] = tuple(t.to(device) for t in (self._flat, self.offsets, self.lengths, self.tokens,
                                                            self.token_lengths))
        return self._on[device]

    def batch(self, rows: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The utterances at `rows` on rows' device: (waves (n, T_max) float32 zero-padded, lengths (n,) int64,
        tokens (n, S_max) int64 padded with 0, token_lengths (n,) int64); T_max, S_max the longest among them."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        if rows.ndim != 1 or rows.numel() == 0:
            raise AdvlabError(f"batch needs a non-empty 1-D tensor of row numbers, got shape {tuple(rows.shape)}")
        flat, offsets, lengths, tokens, token_lengths = self._tensors(rows.device)
        lengths, token_lengths = lengths[rows], token_lengths[rows]
        steps = torch.arange(int(lengths.max()), device=rows.device)
        inside = steps[None, :] < lengths[:, None]
        where = torch.where(inside, offsets[rows][:, None] + steps[None, :], 0)
        waves = flat[where] * inside
        return waves, lengths, tokens[rows, :int(token_lengths.max())], token_lengths

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """n utterances drawn uniformly with replacement (torch.randint on `generator`), as :meth:`batch` gives
        them, on ``generator.device``."""
        rows = torch.randint(len(self.audio), (check_int("n", n, 1),), generator=generator, device=generator.device)
        return self.batch(rows)

    def checkpoint_meta(self) -> dict:
        """What a checkpoint records: the sample rate, the vocabulary and the data folder."""
        return {"sample_rate": self.audio.sample_rate, "vocabulary": list(self.vocabulary), "data": self.audio.source}


__all__ = ["AudioBatches", "AudioSet", "TRANSCRIPT_FILES", "folder_labels", "load_audio_folder", "normalise_words",
           "pad_waves", "split_held_out"]
