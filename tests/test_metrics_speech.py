"""Speech metrics: greedy CTC decoding on hand-made alignments, Levenshtein distance, WER and sentence accuracy
on hand-computed cases."""

import math

import pytest
import torch

from advlab.core.errors import AdvlabError
from advlab.metrics.speech import edit_distance, greedy_ctc_decode, sentence_accuracy, word_error_rate


def one_hot_log_probs(paths, classes=4):
    """(N, T, C) log-probabilities whose arg-max at frame t is paths[n][t] (probability 0.7, the rest shared)."""
    out = torch.full((len(paths), max(len(p) for p in paths), classes), math.log(0.3 / (classes - 1)))
    for n, path in enumerate(paths):
        for t, label in enumerate(path):
            out[n, t, label] = math.log(0.7)
    return out


def test_greedy_decode_keeps_a_repeat_split_by_blank():
    a, b, blank = 1, 2, 0
    log_probs = one_hot_log_probs([[a, a, blank, a, b, b]])
    assert greedy_ctc_decode(log_probs, torch.tensor([6])) == [[a, a, b]]


def test_greedy_decode_respects_lengths_and_other_blank():
    log_probs = one_hot_log_probs([[1, 1, 2, 2, 3, 3], [3, 0, 0, 3, 1, 2]])
    # row 0 stops after 4 frames: 1 1 2 2 -> [1, 2]; row 1 after 5: 3 - - 3 1 -> [3, 3, 1]
    assert greedy_ctc_decode(log_probs, torch.tensor([4, 5])) == [[1, 2], [3, 3, 1]]
    # with label 3 as the blank, row 1's five frames 3 0 0 3 1 collapse to 0 0 ... -> [0, 1]
    assert greedy_ctc_decode(log_probs, torch.tensor([4, 5]), blank=3) == [[1, 2], [0, 1]]
    assert greedy_ctc_decode(log_probs, torch.tensor([0, 1])) == [[], [3]]


def test_edit_distance_hand_cases():
    assert edit_distance("kitten", "sitting") == 3  # k->s, e->i, +g
    assert edit_distance(("one", "two", "three"), ("one", "three")) == 1
    assert edit_distance((), ("a", "b")) == 2
    assert edit_distance(("a", "b"), ()) == 2
    assert edit_distance(("a", "b", "c"), ("c", "b", "a")) == 2
    assert edit_distance("flaw", "lawn") == 2


def test_word_error_rate_and_sentence_accuracy_hand_case():
    references = [("a", "b", "c"), ("d",), ("e", "f")]
    hypotheses = [("a", "x", "c", "e"), (), ("e", "f")]
    # edits: substitute b->x, insert e (2); delete d (1); none (0) -> 3 of 6 reference words
    assert word_error_rate(references, hypotheses) == pytest.approx(3 / 6)
    assert sentence_accuracy(references, hypotheses) == pytest.approx(1 / 3)
    # strings are split into words
    assert word_error_rate(["one two", "three"], ["one", "three four"]) == pytest.approx(2 / 3)
    assert word_error_rate([("a",)], [("b", "c", "d")]) == pytest.approx(3.0)  # WER can exceed 1


def test_metric_input_errors():
    with pytest.raises(AdvlabError, match="2 references but 1 hypotheses"):
        word_error_rate([("a",), ("b",)], [("a",)])
    with pytest.raises(AdvlabError, match="at least one reference word"):
        word_error_rate([()], [("a",)])
    with pytest.raises(AdvlabError, match=r"\(N, T, C\)"):
        greedy_ctc_decode(torch.zeros(3, 4), torch.tensor([3]))
