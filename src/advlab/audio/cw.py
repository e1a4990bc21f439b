"""Carlini & Wagner's targeted audio attack: any phrase, under a bound in decibels.

Carlini & Wagner 2018, "Audio Adversarial Examples: Targeted Attacks on Speech-to-Text", sec. 4,
eq. (2)-(3): for audio x and a target phrase t, find delta with

    minimise  c * |delta|_2^2 + loss(x + delta, t)   subject to  dB_x(delta) <= tau,

where loss is the recogniser's CTC loss of t (a keyword classifier: the cross-entropy of the target
word) and dB_x(delta) = dB(delta) - dB(x) (advlab.audio.decibels, eq. 1), an L-inf bound
|delta_i| <= A = max|x| * 10 ** (tau / 20). As in the authors' code (attack.py): delta = A * v with
v in [-1, 1] (so steps and clipping scale with the current bound), Adam on the sign of the
gradient, x + delta kept in [-1, 1] and delta zero beyond the utterance; every ``check_every``
iterations the audio is decoded (greedy CTC) and on success the example is kept as the best so far
and the bound shrinks, A <- shrink * min(A, max|delta|) (their rescale of 0.8), the perturbation
clipped to it. The result is the quietest success; the clean audio where none was found.

The authors' settings for DeepSpeech: bound 2000 of 32768 at the start (-24 dB of full scale),
Adam with learning rate 10 in int16 units (0.5% of the starting bound per step), no l2 term
(c = 0), checks every 10 of 1,000-5,000 iterations. Measured here (one CPU thread, a CTCRecogniser
trained 500 steps on 1,800 espeak-ng digit strings, held-out WER 0; 10-20 held-out utterances of
0.6-2 s): lr 0.05 (10x the authors' relative step) reaches "one two three" on 10/10 at -30 dB with
every first success by iteration 30, and after 100 iterations a mean of -44 dB (1.1 s per
utterance); "nine eight" 20/20 by iteration 20 (50 iterations: mean -41 dB, 0.9 s per utterance);
lr 0.1 gives "one two three" 20/20 by iteration 20. The examples survive a 16-bit WAV round trip
(10/10) but not playback (0% through fresh rooms); with a room and 4 rooms per iteration (EOT) 10/10
succeed at a mean of -37 dB after 100 iterations and 80% of 20 fresh rooms still hear the target
(4.7 s per utterance).

With a room simulation (``room``, advlab.audio.room) the loss is averaged over ``eot_samples``
fresh rooms per iteration (Expectation over Transformation, Athalye et al. 2018; Qin et al. 2019
sec. 6), a check counts as a success only when the plain audio and every one of ``eot_samples``
fresh rooms are transcribed as the target, and the result's ``playback_success`` is the share of
``playback_trials`` further rooms through which it still is.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor, nn
from tqdm import tqdm

from advlab.audio.base import (
    AudioAttack,
    attacking,
    check_batch,
    enforce_bound,
    expected_loss,
    matches,
    phrases,
    playback,
    to_decibels,
    token_batch,
    transcribe,
)
from advlab.audio.decibels import amplitude_bound, check_db_bound, relative_decibels
from advlab.audio.results import AudioAttackResult
from advlab.audio.room import RoomSimulation
from advlab.core.checks import check_int, check_number
from advlab.core.devices import module_device
from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator
from advlab.data.audio_io import pcm16


class AudioCW(AudioAttack):
    """C&W audio attack (2018): ``AudioCW(model, db=-30).run(waves, lengths, targets="one two three")``.

    Args:
        model: a SpeechModel (advlab.models.speech): loss, transcribe, encode.
        db: the starting bound tau on dB_x(delta), negative (e.g. -30: the perturbation's peak is
            30 dB below the speech's).
        iterations: Adam iterations (the bound keeps shrinking after the first success).
        lr: Adam's learning rate on v = delta / A, i.e. as a fraction of the current bound A per step.
        c: weight of the l2 penalty c * sum_i (delta_i / A_0)^2 (A_0 the starting bound); 0 as in the
            authors' default, where the shrinking bound alone makes the perturbation quiet.
        shrink: factor of the bound after each success (0 < shrink < 1).
        check_every: iterations between decodings of the adversarial audio.
        room: a RoomSimulation for the playback-robust (EOT) variant; None attacks the plain audio.
        eot_samples: rooms drawn per iteration (and checked per success) with a room.
        playback_trials: fresh rooms that measure each result's playback success (with a room).
        pcm16: judge success on the audio rounded to 16 bits, as a WAV file holds it (advlab.data.audio_io.pcm16;
            the authors attack 16-bit samples too): a perturbation that only just works in float can be undone by
            that rounding. False judges the float audio.
        seed: seed of the rooms.
        progress: show a progress bar.
    """

    name = "audio-cw"
    paper = "Carlini & Wagner 2018, Audio Adversarial Examples: Targeted Attacks on Speech-to-Text"
    threat = "dB bound on audio (targeted phrase)"
    targeted = True

    def __init__(self, model: nn.Module, db: float = -30.0, iterations: int = 1000, lr: float = 0.05,
                 c: float = 0.0, shrink: float = 0.8, check_every: int = 10, room: RoomSimulation | None = None,
                 eot_samples: int = 1, playback_trials: int = 20, pcm16: bool = True, seed: int = 0,
                 progress: bool = False):
        super().__init__(model, room, eot_samples, playback_trials, seed, progress)
        self.db = check_db_bound(db, "db")
        self.iterations = check_int(f"{self.name}: iterations", iterations, 1)
        self.lr = check_number(f"{self.name}: lr", lr, 0.0, strict=True)
        self.c = check_number(f"{self.name}: c", c)
        self.shrink = check_number(f"{self.name}: shrink", shrink, 0.0, strict=True)
        if self.shrink >= 1:
            raise AdvlabError(f"{self.name}: shrink must be below 1 (the bound's factor after a success), got {shrink}")
        self.check_every = check_int(f"{self.name}: check_every", check_every, 1)
        self.pcm16 = bool(pcm16)

    def run(self, waves: Tensor, lengths: Tensor, targets, truths=None) -> AudioAttackResult:
        """Attack waves (N, T) with lengths (N,) towards `targets` (one phrase or one per utterance).

        `truths` (optional, one phrase per utterance) only go into the result. A target word outside
        the model's vocabulary raises the model's AdvlabError, which names it.
        """
        device, caller = module_device(self.model), waves.device if isinstance(waves, Tensor) else None
        x, lengths, valid = check_batch(waves, lengths, self.name, device)
        goals = phrases(targets, len(x), self.name, "targets")
        truths = None if truths is None else phrases(truths, len(x), self.name, "truths")
        tokens, token_lengths = token_batch(self.model, goals, device)
        generator = make_generator(self.seed, device)
        start = time.perf_counter()
        with attacking(self.model):
            before = transcribe(self.model, x, lengths)
            best, met_db, first = self.attack(x, lengths, valid, tokens, token_lengths, goals, generator)
            after = transcribe(self.model, self.heard_as(best), lengths)
            heard = self.playback_success(best, lengths, goals, True, generator)
        seconds = time.perf_counter() - start
        return AudioAttackResult(
            attack=self.name, clean=x.to(caller), adversarial=best.to(caller), lengths=lengths.to(caller),
            truths=truths, targets=goals, before=before, after=after, success=(first >= 0).to(caller),
            db=relative_decibels(best - x, x).to(caller), bound_db=met_db.to(caller), first_success=first.to(caller),
            iterations=self.iterations, seconds=seconds, start_db=self.db,
            playback_success=None if heard is None else heard.to(caller))

    def attack(self, x: Tensor, lengths: Tensor, valid: Tensor, tokens: Tensor, token_lengths: Tensor,
               goals: list[tuple[str, ...]], generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """(the quietest successes (N, T), the bound each met in dB (N,), first successful iteration (N,))."""
        n = len(x)
        bound = amplitude_bound(x, self.db)  # A (N,): shrinks per utterance on success
        scale = bound.clone()  # A_0, the unit of the l2 penalty
        v = torch.zeros_like(x, requires_grad=True)
        optimizer = torch.optim.Adam([v], lr=self.lr)
        best, met_db = x.clone(), torch.full((n,), self.db, device=x.device)
        first = torch.full((n,), -1, dtype=torch.long, device=x.device)
        bar = tqdm(total=self.iterations, disable=not self.progress, desc=self.name, unit="it", leave=False)
        for k in range(self.iterations + 1):
            if k % self.check_every == 0 or k == self.iterations:
                adversarial = enforce_bound(x, x + v.detach() * bound[:, None], bound, valid)
                reached = self.reached(adversarial, lengths, goals, generator)
                if reached.any():
                    best[reached], met_db[reached] = adversarial[reached], to_decibels(bound, x)[reached]
                    first[reached & (first < 0)] = k
                    peak = (adversarial - x).abs().amax(1)
                    bound = self.tighten(v, bound, torch.where(reached, self.shrink * torch.minimum(bound, peak),
                                                               bound))
                bar.set_postfix(success=int((first >= 0).sum()))
            if k == self.iterations:
                break
            loss = self.objective(x + v * bound[:, None], v * (bound / scale)[:, None], lengths, tokens,
                                  token_lengths, generator)
            grad, = torch.autograd.grad(loss.sum(), v)
            v.grad = grad.sign()  # the authors' code steps Adam on the gradient's sign
            optimizer.step()
            with torch.no_grad():  # |delta| <= A, x + delta in [-1, 1], delta = 0 beyond the utterance
                unit = bound.clamp_min(1e-30)[:, None]
                v.copy_(torch.minimum(torch.maximum(v.clamp(-1.0, 1.0), (-1 - x) / unit), (1 - x) / unit) * valid)
            bar.update()
        bar.close()
        return best, met_db, first

    def objective(self, adversarial: Tensor, relative: Tensor, lengths: Tensor, tokens: Tensor,
                  token_lengths: Tensor, generator: torch.Generator) -> Tensor:
        """(N,) c * |delta / A_0|^2 + loss(x + delta, t), the loss averaged over rooms with EOT."""
        return self.c * relative.pow(2).sum(1) + expected_loss(
            self.model, self.room, self.eot_samples, adversarial, lengths, tokens, token_lengths, generator)

    def reached(self, adversarial: Tensor, lengths: Tensor, goals: list[tuple[str, ...]],
                generator: torch.Generator) -> Tensor:
        """(N,) transcribed as the target; with a room, also through each of eot_samples fresh rooms."""
        reached = matches(transcribe(self.model, self.heard_as(adversarial), lengths), goals, True, adversarial.device)
        if self.room is not None:
            heard = playback(self.model, self.room, adversarial, lengths, goals, True, self.eot_samples, generator)
            reached &= heard == 1
        return reached

    def heard_as(self, adversarial: Tensor) -> Tensor:
        """The audio success is judged on: its 16-bit rounding (pcm16), or the float audio itself."""
        return pcm16(adversarial) if self.pcm16 else adversarial

    @staticmethod
    def tighten(v: Tensor, bound: Tensor, new_bound: Tensor) -> Tensor:
        """Move to the new bound keeping delta = A v, clipped to it: v <- clip(v A / A', -1, 1)."""
        with torch.no_grad():
            ratio = torch.where(new_bound > 0, bound / new_bound.clamp_min(1e-30), torch.zeros_like(bound))
            v.mul_(ratio[:, None]).clamp_(-1.0, 1.0)
        return new_bound
