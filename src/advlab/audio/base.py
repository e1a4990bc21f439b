"""What the audio attacks share: checked batches, the model's mode, targets as tokens, the bound guarantee.

A batch is ``waves (N, T)`` float in [-1, 1], zero-padded on the right, with ``lengths (N,)`` the
valid samples of each row (the house's audio convention). The attacks perturb only valid samples,
keep x + delta in [-1, 1], and :func:`enforce_bound` makes the returned audio meet the L-inf bound
exactly in float arithmetic (not just up to rounding).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from advlab.audio.room import RoomSimulation
from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating

RANGE_TOLERANCE = 1e-5  # how far outside [-1, 1] float rounding may put a sample


def check_batch(waves, lengths, name: str, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """(waves zeroed beyond each length, lengths long, valid (N, T) bool), on `device`."""
    if not isinstance(waves, Tensor) or not waves.is_floating_point() or waves.ndim != 2 or len(waves) == 0:
        shape = tuple(waves.shape) if isinstance(waves, Tensor) else type(waves).__name__
        raise AdvlabError(f"{name}: waves must be a float tensor (N, T) with N >= 1, got {shape}")
    if not torch.isfinite(waves).all():
        raise AdvlabError(f"{name}: waves contain NaN or infinite values")
    low, high = float(waves.min()), float(waves.max())
    if low < -1 - RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
        raise AdvlabError(f"{name}: waves must lie in [-1, 1], found values in [{low:.4g}, {high:.4g}]")
    lengths = torch.as_tensor(lengths)
    if lengths.shape != (len(waves),) or lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise AdvlabError(f"{name}: lengths must be {len(waves)} integers (valid samples per row), "
                          f"got shape {tuple(lengths.shape)} of {lengths.dtype}")
    if int(lengths.min()) < 1 or int(lengths.max()) > waves.shape[1]:
        raise AdvlabError(f"{name}: lengths must lie in [1, {waves.shape[1]}] (the waves' T), found "
                          f"{int(lengths.min())}..{int(lengths.max())}")
    waves, lengths = waves.detach().to(device, torch.float32).clamp(-1.0, 1.0), lengths.to(device, torch.long)
    valid = torch.arange(waves.shape[1], device=device)[None, :] < lengths[:, None]
    waves = waves * valid
    silent = (waves.abs().amax(1) == 0).nonzero().flatten()
    if len(silent):
        raise AdvlabError(f"{name}: utterance {int(silent[0])} is silence; a bound in dB relative to the audio "
                          "needs audio that is not all zeros")
    return waves, lengths, valid


def phrases(words, n: int, name: str, what: str) -> list[tuple[str, ...]]:
    """One transcript per utterance: a string or a tuple of words for all of them, or a list of n of them."""
    if isinstance(words, str):
        return [tuple(words.split())] * n
    if isinstance(words, tuple) and all(isinstance(word, str) for word in words):
        return [words] * n
    if not isinstance(words, Sequence) or len(words) != n:
        raise AdvlabError(f"{name}: {what} must be one phrase or a list of {n} phrases (one per utterance)")
    return [tuple(phrase.split()) if isinstance(phrase, str) else tuple(phrase) for phrase in words]


def token_batch(model, transcripts: list[tuple[str, ...]], device: torch.device) -> tuple[Tensor, Tensor]:
    """(tokens (N, S_max) zero-padded, token_lengths (N,)) from the model's own encoding of each phrase."""
    encoded = [torch.as_tensor(model.encode(list(words))).long().flatten() for words in transcripts]
    token_lengths = torch.tensor([len(tokens) for tokens in encoded], dtype=torch.long)
    tokens = torch.zeros(len(encoded), max(int(token_lengths.max()), 1), dtype=torch.long)
    for row, sequence in enumerate(encoded):
        tokens[row, :len(sequence)] = sequence
    return tokens.to(device), token_lengths.to(device)


@contextmanager
def attacking(model: nn.Module):
    """Eval mode and gradients on (a speech model's RNN sees to cuDNN, which has no eval-mode backward)."""
    with evaluating(model), torch.enable_grad():
        yield


@torch.no_grad()
def transcribe(model, waves: Tensor, lengths: Tensor) -> list[tuple[str, ...]]:
    return [tuple(words) for words in model.transcribe(waves, lengths)]


def enforce_bound(clean: Tensor, adversarial: Tensor, bound: Tensor, valid: Tensor) -> Tensor:
    """The adversarial rows with |adv - clean| <= bound (N,) exactly, in [-1, 1], clean beyond each length.

    Float rounding of clean + delta can overshoot the bound by an ulp; such samples step one ulp
    towards the clean sample (the clean sample itself as a last resort).
    """
    adversarial = torch.where(valid, adversarial.detach().clamp(-1.0, 1.0), clean)
    limit = bound[:, None].to(adversarial.dtype)
    for _ in range(4):
        over = (adversarial - clean).abs() > limit
        if not over.any():
            return adversarial
        adversarial = torch.where(over, torch.nextafter(adversarial, clean), adversarial)
    return torch.where((adversarial - clean).abs() > limit, clean, adversarial)


def to_decibels(bound: Tensor, clean: Tensor) -> Tensor:
    """The relative dB bound (N,) an amplitude bound (N,) means for the clean rows."""
    return 20.0 * torch.log10(bound) - 20.0 * torch.log10(clean.abs().amax(1))


def matches(transcripts: list[tuple[str, ...]], goals: list[tuple[str, ...]], targeted: bool,
            device: torch.device) -> Tensor:
    """(N,) bool: transcript == goal (targeted) or != goal (untargeted)."""
    same = torch.tensor([tuple(a) == tuple(b) for a, b in zip(transcripts, goals)], dtype=torch.bool, device=device)
    return same if targeted else ~same


def playback(model, room, adversarial: Tensor, lengths: Tensor, goals: list[tuple[str, ...]], targeted: bool,
             trials: int, generator: torch.Generator) -> Tensor:
    """(N,) the share of `trials` fresh rooms through which each adversarial row still reaches its goal."""
    hits = torch.zeros(len(adversarial), device=adversarial.device)
    with torch.no_grad():
        for _ in range(trials):
            heard = transcribe(model, room(adversarial, generator, lengths), lengths)
            hits += matches(heard, goals, targeted, adversarial.device).float()
    return hits / trials


def expected_loss(model, room, samples: int, adversarial: Tensor, lengths: Tensor, tokens: Tensor,
                  token_lengths: Tensor, generator: torch.Generator) -> Tensor:
    """(N,) model.loss of the tokens; with a room, its mean over `samples` fresh rooms per row (EOT)."""
    if room is None:
        return model.loss(adversarial, lengths, tokens, token_lengths)

    def repeat(t: Tensor) -> Tensor:
        return t.repeat_interleave(samples, 0)

    heard = room(repeat(adversarial), generator, repeat(lengths))
    return model.loss(heard, repeat(lengths), repeat(tokens), repeat(token_lengths)).view(-1, samples).mean(1)


class AudioAttack:
    """What AudioCW and AudioPGD share: the model, the optional room simulation (EOT) and its sample counts, the
    seed and the progress bar, checked alike; and the playback measure of a result."""

    name = "audio-attack"

    def __init__(self, model: nn.Module, room: RoomSimulation | None, eot_samples: int, playback_trials: int, seed: int,
                 progress: bool) -> None:
        if not isinstance(model, nn.Module):
            raise AdvlabError(f"{self.name}: model must be a speech model (torch.nn.Module), got "
                              f"{type(model).__name__}")
        if room is not None and not isinstance(room, RoomSimulation):
            raise AdvlabError(f"{self.name}: room must be a RoomSimulation or None, got {type(room).__name__}")
        self.model, self.room = model, room
        self.eot_samples = check_int(f"{self.name}: eot_samples", eot_samples, 1)
        self.playback_trials = check_int(f"{self.name}: playback_trials", playback_trials, 1)
        self.seed = check_int(f"{self.name}: seed", seed, 0)
        self.progress = bool(progress)

    def playback_success(self, adversarial: Tensor, lengths: Tensor, goals: list[tuple[str, ...]], targeted: bool,
                         generator: torch.Generator) -> Tensor | None:
        """(N,) the share of playback_trials fresh rooms through which each row reaches its goal; None without a
        room."""
        if self.room is None:
            return None
        return playback(self.model, self.room, adversarial, lengths, goals, targeted, self.playback_trials, generator)
