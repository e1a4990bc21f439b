"""A word-level vocabulary: captions -> padded token tensors and back.

A caption is lower-cased and split into words: runs of letters and digits (``[a-z0-9]+``); everything else
(spaces, punctuation, apostrophes) separates words, so "A red disc, on the left." reads as
``a red disc on the left``. Index 0 is the padding token ``"<pad>"``; the other words are sorted, so the same
captions always give the same indices. A caption is encoded as its word indices followed by padding up to a fixed
length; there is no unknown-word token: a word the vocabulary never saw is an AdvlabError that names it (a text
encoder trained without that word cannot know what it means, and silently dropping it would change the request).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError

PAD = "<pad>"
WORD = re.compile(r"[a-z0-9]+")
FORMAT = "advlab-vocabulary/1"
LISTED_WORDS = 40  # at most this many known words are named in an unknown-word error


def tokenize(caption: str) -> list[str]:
    """The words of `caption`: lower-cased runs of letters and digits, in order."""
    if not isinstance(caption, str):
        raise AdvlabError(f"a caption must be text, got {type(caption).__name__}")
    return WORD.findall(caption.lower())


class Vocabulary:
    """The words a text encoder knows; ``words[0]`` is ``"<pad>"``, the rest sorted.

    Args:
        words: the vocabulary, ``"<pad>"`` first; each other entry a distinct word of ``[a-z0-9]+``.
    """

    def __init__(self, words: Sequence[str]):
        words = list(words)
        if not words or words[0] != PAD:
            raise AdvlabError(f"a vocabulary starts with {PAD!r}, found {words[:1]}")
        bad = [word for word in words[1:] if not isinstance(word, str) or not WORD.fullmatch(word)]
        if bad:
            raise AdvlabError(f"vocabulary entries must be lower-case words of letters and digits, found {bad[0]!r}")
        if len(set(words)) != len(words):
            raise AdvlabError("a vocabulary lists each word once")
        self.words = words
        self.index = {word: position for position, word in enumerate(words)}

    @classmethod
    def from_captions(cls, captions: Iterable[str]) -> Vocabulary:
        """Every word of `captions`, sorted, after ``"<pad>"``."""
        found = set()
        for caption in captions:
            found.update(tokenize(caption))
        return cls([PAD, *sorted(found)])

    def __len__(self) -> int:
        return len(self.words)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and other.words == self.words

    def __repr__(self) -> str:
        return f"Vocabulary({len(self.words)} words)"

    def known(self) -> str:
        """The known words (without padding) as one line, at most LISTED_WORDS of them."""
        words = self.words[1:]
        listed = ", ".join(words[:LISTED_WORDS])
        return listed + (f", ... ({len(words)} words)" if len(words) > LISTED_WORDS else "")

    def encode(self, caption: str, length: int) -> Tensor:
        """`caption` as (length,) int64 word indices, padded with 0 at the end.

        Raises AdvlabError for a caption without words, one of more than `length` words, or a word the
        vocabulary never saw ("the text encoder never saw 'purple' (known: ...)").
        """
        check_int("caption length", length, 1)
        return torch.tensor(self.indices(caption, length), dtype=torch.int64)

    def indices(self, caption: str, length: int) -> list[int]:
        """`encode` as a list of `length` ints."""
        words = tokenize(caption)
        if not words:
            raise AdvlabError(f"caption {caption!r} has no words")
        unknown = [word for word in words if word not in self.index]
        if unknown:
            raise AdvlabError(f"the text encoder never saw {unknown[0]!r} (known: {self.known()})")
        if len(words) > length:
            raise AdvlabError(f"caption {caption!r} has {len(words)} words; the text encoder reads at most {length}")
        return [self.index[word] for word in words] + [0] * (length - len(words))

    def encode_all(self, captions: Sequence[str], length: int) -> Tensor:
        """(M, length) int64: each caption encoded as `encode` does."""
        if isinstance(captions, str):
            raise AdvlabError("encode_all takes a list of captions; use encode for one")
        check_int("caption length", length, 1)
        rows = [self.indices(caption, length) for caption in captions]
        return torch.tensor(rows, dtype=torch.int64).reshape(len(rows), length)

    def decode(self, tokens: Tensor | Sequence[int]) -> str:
        """The words of a (L,) token row, padding left out, joined by spaces."""
        values = tokens.tolist() if isinstance(tokens, Tensor) else list(tokens)
        if values and isinstance(values[0], list):
            raise AdvlabError("decode takes one row of tokens (L,); decode each row of a batch")
        if any(not 0 <= value < len(self.words) for value in values):
            raise AdvlabError(f"tokens must lie in [0, {len(self.words)}), found {min(values)}..{max(values)}")
        return " ".join(self.words[value] for value in values if value != 0)

    def to_json(self) -> dict:
        """A JSON-able record: ``{"format": ..., "words": [...]}``."""
        return {"format": FORMAT, "words": list(self.words)}

    @classmethod
    def from_json(cls, record: dict) -> Vocabulary:
        """Inverse of `to_json`; AdvlabError for anything else."""
        if not isinstance(record, dict) or record.get("format") != FORMAT or not isinstance(record.get("words"), list):
            raise AdvlabError("not a vocabulary record (expected {'format': 'advlab-vocabulary/1', 'words': [...]})")
        return cls(record["words"])


__all__ = ["PAD", "Vocabulary", "tokenize"]
