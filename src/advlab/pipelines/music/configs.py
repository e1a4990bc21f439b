"""The options of `advlab music train` as a typed, validated config.

It shares the loop's options (advlab.pipelines.game_loop.LoopOptions: steps, minibatch, seed, device, precision,
logging, checkpoints). The defaults are MidiNet's (Yang et al. 2017, and the authors' code: widths 64/1024, 16
conditioner filters, z of 100, Adam 2e-4 / 0.5, minibatch 72, label smoothing 0.9, feature matching 0.1 and 0.01,
two generator steps per discriminator step). The players are small enough for a CPU as they are (about 0.09 s per
iteration of 72 bars on one thread); what is scaled down is the length of training: 3,000 iterations (about 5
minutes on one CPU thread) instead of the authors' 20 epochs of ~45,000 bars (~12,600 iterations).
"""

from __future__ import annotations

from dataclasses import dataclass

from advlab.core.errors import AdvlabError
from advlab.data.melodies import CORPORA
from advlab.pipelines.game_loop import LoopOptions


@dataclass
class MusicTrainConfig(LoopOptions):
    """MidiNet on a built-in corpus (``corpus``) or the user's MIDI files (``data``)."""

    corpus: str | None = None
    data: str | None = None
    bars: int = 8
    transpose: bool = True
    held_out_fraction: float = 0.1
    limit: int | None = None
    noise_dim: int = 100
    width: int = 64
    hidden: int = 1024
    conditioner_width: int = 16
    previous_layers: int = 4
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    real_label: float = 0.9
    feature_weight: float = 0.1
    data_weight: float = 0.01
    generator_steps: int = 2
    threshold: float = 0.5
    steps: int = 3000
    batch_size: int = 72

    def validate(self) -> MusicTrainConfig:
        self.check_loop()
        if self.corpus is None and self.data is None:
            raise AdvlabError("no melodies: pass --corpus NAME (see advlab music datasets) or --data DIR of MIDI files")
        if self.corpus is not None and self.data is not None:
            raise AdvlabError("pass either --corpus NAME or --data DIR, not both")
        if self.corpus is not None and self.corpus not in CORPORA:
            what = "is empty" if not self.corpus.strip() else f"{self.corpus!r} is not a built-in corpus"
            raise AdvlabError(f"--corpus {what}; choose one of {', '.join(CORPORA)} (or pass --data DIR)")
        if self.bars < 1:
            raise AdvlabError(f"--bars must be at least 1, got {self.bars}")
        if self.batch_size < 2:
            raise AdvlabError(f"--batch-size must be at least 2 (MidiNet's batch norm needs two bars), "
                              f"got {self.batch_size}")
        if min(self.noise_dim, self.width, self.hidden, self.conditioner_width) < 1:
            raise AdvlabError("--noise-dim, --width, --hidden and --conditioner-width must be positive")
        if not 0 <= self.previous_layers <= 4:
            raise AdvlabError(f"--previous-layers must be 0 to 4 (generator layers that see the previous bar), "
                              f"got {self.previous_layers}")
        if not 0 < self.real_label <= 1:
            raise AdvlabError(f"--real-label must be in (0, 1] (0.9: one-sided label smoothing), got {self.real_label}")
        if min(self.feature_weight, self.data_weight) < 0 or self.lr <= 0 or self.generator_steps < 1:
            raise AdvlabError("--lr must be positive, the loss weights non-negative and --generator-steps at least 1")
        if not 0 <= self.held_out_fraction < 1:
            raise AdvlabError(f"--held-out-fraction must be in [0, 1), got {self.held_out_fraction}")
        if not 0 <= self.threshold < 1:
            raise AdvlabError(f"--threshold must be in [0, 1) (0: a note on every step), got {self.threshold}")
        if self.limit is not None and self.limit < 1:
            raise AdvlabError(f"--limit must be at least 1 (phrases), got {self.limit}")
        return self
