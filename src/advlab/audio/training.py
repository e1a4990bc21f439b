"""Training a speech model (advlab.models.speech) as a one-player game of the house's loop.

The recogniser is trained as DeepSpeech2 (Amodei et al. 2016) trains its acoustic model: the CTC loss (Graves et al.
2006, eq. 14: -log p(z | x), the sum over every alignment of the transcript z to the frames) of each utterance's
transcript, averaged over the minibatch, minimised with Adam; the keyword classifier with the cross-entropy of its
one word. One player ("recogniser") and one optimiser: advlab.core.game.Game then gives the loop
(advlab.pipelines.game_loop) checkpoints, exact resume, NaN checks and torchrun's gradient averaging for free, as it
does for the GANs. The gradient's global norm is clipped (DeepSpeech2 clips too), which keeps the GRU's early steps
steady.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.core.distributed import Distributed
from advlab.core.game import Game
from advlab.core.precision import Precision

PLAYER = "recogniser"  # the name the weights are saved under (advlab.models.speech.load_speech_model reads it)


class SpeechTraining(Game):
    """One speech model trained on (waves, lengths, tokens, token_lengths) minibatches.

    Args:
        model: an advlab.models.speech.SpeechModel (its `loss` gives one loss per utterance).
        lr: Adam's learning rate.
        clip: the largest global gradient norm (0: no clipping).
        dist: the torchrun context; precision: autocast and loss scaling.
    """

    def __init__(self, model: nn.Module, lr: float = 1e-3, clip: float = 5.0, dist: Distributed | None = None,
                 precision: Precision | None = None) -> None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        super().__init__({PLAYER: model}, {PLAYER: optimizer}, dist, precision)
        self.model = model
        self.clip = clip

    def train_iteration(self, waves: Tensor, lengths: Tensor, tokens: Tensor, token_lengths: Tensor,
                        record: bool = False) -> dict[str, float]:
        self.model.train()
        with self.precision.autocast():
            loss = self.model.loss(waves, lengths, tokens, token_lengths).float().mean()
        self.update(loss, PLAYER, self.clip or None)
        result = self.statistics({"loss": loss}) if record else {}
        self.end_iteration()
        return result
