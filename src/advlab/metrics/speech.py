"""Speech-recognition figures: greedy CTC decoding, Levenshtein distance, word error rate, sentence accuracy.

* Greedy (best-path) CTC decoding (Graves et al. 2006, "Connectionist temporal classification", sec. 3.2, "best
  path decoding"): take the most probable label of every frame, collapse runs of the same label, then drop the
  blanks -- B(a a - a b b) = a a b (a blank separates two a's, so both stay).
* Word error rate (the standard ASR measure, e.g. Amodei et al. 2016, "Deep Speech 2", sec. 3.1): the word-level
  Levenshtein distance (substitutions + deletions + insertions) summed over the corpus, divided by the number of
  reference words. It can exceed 1 when the hypotheses insert many words.
* Sentence accuracy: the share of utterances transcribed exactly (Carlini & Wagner 2018 count an attack a success
  only on an exact target transcription, so this is the figure that matches theirs).

A transcript is a sequence of words (``tuple[str, ...]``); a plain string given where a transcript is expected is
split on whitespace.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from advlab.core.errors import AdvlabError


def greedy_ctc_decode(log_probs: Tensor, lengths: Tensor, blank: int = 0) -> list[list[int]]:
    """Best-path decoding of per-frame CTC outputs.

    Args:
        log_probs: (N, T, C) per-frame (log-)probabilities; only the arg-max matters.
        lengths: (N,) valid frames of each row; frames beyond are ignored.
        blank: the blank label (0 in advlab).

    Returns:
        N label lists, each the arg-max path with repeats collapsed and blanks removed.
    """
    if log_probs.dim() != 3:
        raise AdvlabError(f"greedy_ctc_decode needs (N, T, C) log-probabilities, got shape {tuple(log_probs.shape)}")
    best = log_probs.detach().argmax(dim=2).cpu()
    lengths = torch.as_tensor(lengths).cpu().long()
    decoded = []
    for row, length in zip(best, lengths.tolist()):
        path = row[:length]
        if path.numel() == 0:
            decoded.append([])
            continue
        keep = torch.ones_like(path, dtype=torch.bool)
        keep[1:] = path[1:] != path[:-1]  # the first frame of each run
        labels = path[keep]
        decoded.append(labels[labels != blank].tolist())
    return decoded


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance: the fewest substitutions, deletions and insertions that turn `a` into `b`.

    Wagner & Fischer's dynamic programme, one row at a time (O(len(a) * len(b)) time, O(len(b)) memory).
    """
    a, b = list(a), list(b)
    previous = list(range(len(b) + 1))  # distances from the empty prefix of a
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1,  # delete x
                               current[j - 1] + 1,  # insert y
                               previous[j - 1] + (x != y)))  # substitute (free when equal)
        previous = current
    return previous[-1]


def as_words(transcript: Sequence[str] | str) -> tuple[str, ...]:
    """A transcript as a tuple of words (a string is split on whitespace)."""
    return tuple(transcript.split()) if isinstance(transcript, str) else tuple(transcript)


def paired(references: Sequence, hypotheses: Sequence) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(reference, hypothesis) word tuples; lists of different lengths are an AdvlabError."""
    if len(references) != len(hypotheses):
        raise AdvlabError(f"{len(references)} references but {len(hypotheses)} hypotheses: give one of each")
    return [(as_words(r), as_words(h)) for r, h in zip(references, hypotheses)]


def word_error_rate(references: Sequence, hypotheses: Sequence) -> float:
    """Corpus word error rate: sum of word edit distances / total reference words.

    Args:
        references: the true transcripts (each a tuple of words, or a string).
        hypotheses: the recogniser's transcripts, one per reference.

    Returns:
        A float >= 0 (0 = every word right; above 1 is possible with many insertions).
    """
    pairs = paired(references, hypotheses)
    words = sum(len(r) for r, _ in pairs)
    if words == 0:
        raise AdvlabError("word_error_rate needs at least one reference word")
    return sum(edit_distance(r, h) for r, h in pairs) / words


def sentence_accuracy(references: Sequence, hypotheses: Sequence) -> float:
    """Share of utterances whose hypothesis equals the reference word for word (0 for no utterances)."""
    pairs = paired(references, hypotheses)
    return sum(r == h for r, h in pairs) / len(pairs) if pairs else 0.0
