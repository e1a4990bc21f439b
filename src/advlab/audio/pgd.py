"""Untargeted projected gradient ascent on a speech model, bounded in decibels: the baseline.

Madry, Makelov, Schmidt, Tsipras & Vladu 2018, "Towards Deep Learning Models Resistant to
Adversarial Attacks", eq. (2): delta^{k+1} = Pi_S(delta^k + alpha * sign(grad_delta L(x + delta^k, y))),
with S the L-inf ball that a dB bound means (Carlini & Wagner 2018, eq. 1): |delta_i| <= eps =
max|x| * 10 ** (eps_db / 20). L is the model's loss of the true transcript (CTC, or the keyword
classifier's cross-entropy), ascended; the start is uniform in the ball (Madry et al. sec. 3); the
projection also keeps x + delta in [-1, 1] and delta zero beyond each utterance. Success: the
transcription of x + delta differs from the truth. The result is the last iterate (Madry et al.).
With a room simulation the gradient is that of the loss averaged over ``eot_samples`` fresh rooms
(EOT, Athalye et al. 2018), and ``playback_success`` is measured over ``playback_trials`` more.

Measured (one CPU thread, the CTC recogniser of advlab.audio.cw's figures, 20 held-out utterances,
20 steps): success 100% at -25 dB (every one after 1 step), 100% at -45 dB (5% after 1 step, 75% after
5), 35% at -60 dB, 5% at -70 dB; 0.25-0.37 s per utterance.
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
    token_batch,
    transcribe,
)
from advlab.audio.decibels import amplitude_bound, check_db_bound, relative_decibels
from advlab.audio.results import AudioAttackResult
from advlab.audio.room import RoomSimulation
from advlab.core.checks import check_int, check_number
from advlab.core.devices import module_device
from advlab.core.seeding import make_generator


class AudioPGD(AudioAttack):
    """L-inf PGD in dB terms: ``AudioPGD(model, eps_db=-35).run(waves, lengths, truths)``.

    Args:
        model: a SpeechModel (advlab.models.speech): loss, transcribe, encode.
        eps_db: the bound on dB_x(delta), negative.
        steps: gradient steps.
        alpha: step size as a fraction of eps (0.1: ten steps cross the ball).
        random_start: start at a uniform random point of the ball (else at the clean audio).
        room: a RoomSimulation for the playback-robust (EOT) variant; None attacks the plain audio.
        eot_samples: rooms drawn per step with a room.
        playback_trials: fresh rooms that measure each result's playback success (with a room).
        seed: seed of the random start and the rooms.
        progress: show a progress bar.
    """

    name = "audio-pgd"
    paper = "Madry et al. 2018 on audio, bounded in dB as Carlini & Wagner 2018"
    threat = "dB bound on audio"
    targeted = False

    def __init__(self, model: nn.Module, eps_db: float = -35.0, steps: int = 100, alpha: float = 0.1,
                 random_start: bool = True, room: RoomSimulation | None = None, eot_samples: int = 1,
                 playback_trials: int = 20, seed: int = 0, progress: bool = False):
        super().__init__(model, room, eot_samples, playback_trials, seed, progress)
        self.eps_db = check_db_bound(eps_db, "eps_db")
        self.steps = check_int(f"{self.name}: steps", steps, 1)
        self.alpha = check_number(f"{self.name}: alpha", alpha, 0.0, strict=True)
        self.random_start = bool(random_start)

    def run(self, waves: Tensor, lengths: Tensor, truths) -> AudioAttackResult:
        """Attack waves (N, T) with lengths (N,) away from their true transcripts (one per utterance)."""
        device, caller = module_device(self.model), waves.device if isinstance(waves, Tensor) else None
        x, lengths, valid = check_batch(waves, lengths, self.name, device)
        truths = phrases(truths, len(x), self.name, "truths")
        tokens, token_lengths = token_batch(self.model, truths, device)
        generator = make_generator(self.seed, device)
        start = time.perf_counter()
        with attacking(self.model):
            before = transcribe(self.model, x, lengths)
            adversarial, first = self.attack(x, lengths, valid, tokens, token_lengths, truths, generator)
            after = transcribe(self.model, adversarial, lengths)
            heard = self.playback_success(adversarial, lengths, truths, False, generator)
        seconds = time.perf_counter() - start
        success = matches(after, truths, False, device)
        return AudioAttackResult(
            attack=self.name, clean=x.to(caller), adversarial=adversarial.to(caller), lengths=lengths.to(caller),
            truths=truths, targets=None, before=before, after=after, success=success.to(caller),
            db=relative_decibels(adversarial - x, x).to(caller),
            bound_db=torch.full((len(x),), self.eps_db).to(caller), first_success=first.to(caller),
            iterations=self.steps, seconds=seconds, start_db=self.eps_db,
            playback_success=None if heard is None else heard.to(caller))

    def attack(self, x: Tensor, lengths: Tensor, valid: Tensor, tokens: Tensor, token_lengths: Tensor,
               truths: list[tuple[str, ...]], generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """(the last iterate (N, T), the first step whose iterate was mistranscribed (N,), -1 never)."""
        eps = amplitude_bound(x, self.eps_db)
        low, high = torch.maximum(-eps[:, None], -1 - x) * valid, torch.minimum(eps[:, None], 1 - x) * valid
        delta = torch.zeros_like(x)
        if self.random_start:
            delta = (torch.rand(x.shape, generator=generator, device=x.device) * 2 - 1) * eps[:, None]
            delta = torch.minimum(torch.maximum(delta, low), high)
        first = torch.full((len(x),), -1, dtype=torch.long, device=x.device)
        for step in tqdm(range(1, self.steps + 1), disable=not self.progress, desc=self.name, unit="step",
                         leave=False):
            delta = delta.detach().requires_grad_(True)
            grad, = torch.autograd.grad(self.objective(x + delta, lengths, tokens, token_lengths, generator).sum(),
                                        delta)
            with torch.no_grad():
                delta = torch.minimum(torch.maximum(delta + self.alpha * eps[:, None] * grad.sign(), low), high)
                adversarial = enforce_bound(x, x + delta, eps, valid)
                fooled = matches(transcribe(self.model, adversarial, lengths), truths, False, x.device)
                first[fooled & (first < 0)] = step
        return enforce_bound(x, x + delta.detach(), eps, valid), first

    def objective(self, adversarial: Tensor, lengths: Tensor, tokens: Tensor, token_lengths: Tensor,
                  generator: torch.Generator) -> Tensor:
        """(N,) the loss of the truth (ascended), averaged over rooms with EOT."""
        return expected_loss(self.model, self.room, self.eot_samples, adversarial, lengths, tokens, token_lengths,
                             generator)
