"""The options of `advlab audio train` as a typed, validated config.

It shares the loop's options (advlab.pipelines.game_loop.LoopOptions: steps, minibatch, seed, device, precision,
logging, checkpoints). The model is a CTC recogniser of word sequences (DeepSpeech2's family: log-mel, a strided
convolution, bidirectional GRUs, a softmax over words and the blank per frame) or a keyword classifier (one word per
utterance); ``auto`` takes the recogniser when any transcript has more than one word. The defaults (600 steps of
32 utterances, Adam 2e-3, the gradient norm clipped at 5, 32 filters, two GRU layers of 128 per direction) give a
held-out word error rate of 0 on `advlab audio data`'s 2,000 utterances in a few minutes of one CPU core
(bench/audio_attacks.py records the figure).
"""

from __future__ import annotations

from dataclasses import dataclass

from advlab.core.errors import AdvlabError
from advlab.data.audio_io import MIN_SAMPLE_RATE, SAMPLE_RATE
from advlab.pipelines.game_loop import LoopOptions

MODELS = ("auto", "ctc", "keyword")


@dataclass
class AudioTrainConfig(LoopOptions):
    """A speech model trained on a folder of WAV files (``advlab audio data`` makes one)."""

    data: str | None = None
    model: str = "auto"
    sample_rate: int = SAMPLE_RATE
    held_out_fraction: float = 0.1
    max_seconds: float = 10.0
    n_mels: int = 40
    width: int = 32
    hidden: int = 128
    layers: int = 2
    lr: float = 2e-3
    clip: float = 5.0
    steps: int = 600
    batch_size: int = 32
    log_every: int = 25
    sample_every: int = 500
    checkpoint_every: int = 500

    def validate(self) -> AudioTrainConfig:
        self.check_loop()
        if not self.data:
            raise AdvlabError("no audio: pass --data DIR, a folder of WAV files (advlab audio data --out DIR makes "
                              "spoken digit strings)")
        if self.model not in MODELS:
            raise AdvlabError(f"--model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.sample_rate < MIN_SAMPLE_RATE:
            raise AdvlabError(f"--sample-rate must be at least {MIN_SAMPLE_RATE} Hz (speech needs 4 kHz of "
                              f"bandwidth), got {self.sample_rate}")
        if not 0 < self.held_out_fraction < 1:
            raise AdvlabError(f"--held-out-fraction must be in (0, 1): the word error rate is measured on the "
                              f"held-out utterances; got {self.held_out_fraction}")
        if self.max_seconds <= 0:
            raise AdvlabError(f"--max-seconds must be positive, got {self.max_seconds}")
        if min(self.n_mels, self.width, self.hidden, self.layers) < 1:
            raise AdvlabError("--n-mels, --width, --hidden and --layers must be positive")
        if self.lr <= 0 or self.clip < 0:
            raise AdvlabError(f"--lr must be positive and --clip non-negative (0: none); got {self.lr}, {self.clip}")
        return self
