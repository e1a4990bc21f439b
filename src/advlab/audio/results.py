"""What an audio attack did to a batch of utterances, and the figures its report shows.

Definitions (Carlini & Wagner 2018, sec. 5):

* success — targeted: the adversarial audio is transcribed exactly as the target phrase;
  untargeted: its transcription differs from the truth;
* dB — the distortion dB_x(delta) = dB(delta) - dB(x) of the returned perturbation
  (advlab.audio.decibels); mean_db averages it over the successes (the paper reports a mean of
  -31 dB at 100% success);
* bound_db — the dB bound in force when the returned perturbation was found (the starting bound
  for a failure or an attack that does not shrink it);
* first_success — the iteration at which the goal was first reached (at the starting bound), -1 never;
* playback_success — with a room simulation: the share of freshly drawn rooms through which the
  adversarial audio still reaches its goal (the EOT measure of Athalye et al. 2018).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class AudioAttackResult:
    """One audio attack on one batch; tensors on the CPU, waveforms (N, T) zero-padded beyond `lengths`."""

    attack: str
    clean: Tensor  # (N, T)
    adversarial: Tensor  # (N, T)
    lengths: Tensor  # (N,) long
    truths: list[tuple[str, ...]] | None  # None: unknown (a targeted attack run without them)
    targets: list[tuple[str, ...]] | None  # None: untargeted
    before: list[tuple[str, ...]]  # transcriptions of the clean audio
    after: list[tuple[str, ...]]  # transcriptions of the adversarial audio
    success: Tensor  # (N,) bool
    db: Tensor  # (N,) relative dB of the returned perturbation (-inf: none)
    bound_db: Tensor  # (N,) the dB bound the returned perturbation met
    first_success: Tensor  # (N,) long
    iterations: int
    seconds: float
    playback_success: Tensor | None = None  # (N,) float in [0, 1]
    start_db: float | None = None  # the starting bound (None: the loosest of bound_db)

    @property
    def perturbation(self) -> Tensor:
        return self.adversarial - self.clean

    def __len__(self) -> int:
        return len(self.clean)

    def summary(self) -> dict[str, float | int | str | None]:
        """n, success_rate, mean_db and max_db (over the successes), bound_db (the starting bound), time."""
        n = len(self)
        success = self.success.bool()
        db = self.db[success].double()
        row: dict[str, float | int | str | None] = {
            "attack": self.attack, "n": n,
            "success_rate": float(success.double().mean()) if n else None,
            "mean_db": float(db.mean()) if len(db) else None,
            "max_db": float(db.max()) if len(db) else None,
            "bound_db": float(self.starting_bound()) if n else None,
            "seconds": self.seconds,
            "seconds_per_utterance": self.seconds / n if n else None,
            "iterations": self.iterations,
        }
        if self.playback_success is not None:
            row["playback_success"] = float(self.playback_success.double().mean()) if n else None
        return row

    def starting_bound(self) -> float:
        """The bound every utterance started at (the attack's db / eps_db)."""
        return float(self.bound_db.max()) if self.start_db is None else float(self.start_db)

    def success_by_bound(self, bounds_db: Sequence[float]) -> list[dict[str, float]]:
        """Per bound b: the share of utterances whose returned perturbation succeeds at dB_x(delta) <= b."""
        n = max(len(self), 1)
        return [{"bound_db": float(b), "success_rate": int((self.success.bool() & (self.db <= b)).sum()) / n}
                for b in bounds_db]

    def success_by_iterations(self, counts: Sequence[int]) -> list[dict[str, float]]:
        """Per count k: the share of utterances that first reached the goal within k iterations (0..k)."""
        n = max(len(self), 1)
        first = self.first_success
        return [{"iterations": int(k), "success_rate": int(((first >= 0) & (first <= k)).sum()) / n}
                for k in counts]

    def examples(self) -> list[dict]:
        """Per utterance: truth, target, before, after (strings), success, db, bound_db, first_success, playback."""
        rows = []
        for i in range(len(self)):
            rows.append({
                "truth": None if self.truths is None else " ".join(self.truths[i]),
                "target": None if self.targets is None else " ".join(self.targets[i]),
                "before": " ".join(self.before[i]), "after": " ".join(self.after[i]),
                "success": bool(self.success[i]), "db": finite_or_none(self.db[i]),
                "bound_db": float(self.bound_db[i]), "first_success": int(self.first_success[i]),
                "playback_success": None if self.playback_success is None else float(self.playback_success[i]),
            })
        return rows


def finite_or_none(value: Tensor) -> float | None:
    """A float for JSON: None for -inf (no perturbation) or NaN."""
    value = float(value)
    return value if torch.isfinite(torch.tensor(value)) else None
