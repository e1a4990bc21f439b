"""`advlab audio train` under torchrun: two gloo processes train ONE speech model (each rank its contiguous share of
every minibatch, the gradients averaged before the step) and end with what one process trains on the same
minibatches, to float rounding; rank 0 alone writes the run."""

from __future__ import annotations

import shutil

import pytest
import torch

from advlab.core.checkpoints import load_latest
from advlab.data.spoken import make_spoken_digits
from advlab.pipelines.audio import AudioTrainConfig, train_audio

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def train_tiny(data: str, out: str) -> dict[str, torch.Tensor]:
    """Three iterations of minibatches of 4 utterances; the trained weights (every rank reads rank 0's checkpoint)."""
    config = AudioTrainConfig(data=data, out=out, steps=3, batch_size=4, width=4, hidden=8, layers=1, log_every=1,
                              sample_every=3, checkpoint_every=3, tensorboard=False, device="cpu",
                              held_out_fraction=0.25)
    train_audio(config, progress=False, report=False)
    tensors = load_latest(f"{out}/checkpoints").tensors
    return {name: value for name, value in tensors.items() if name.startswith("recogniser.")}


@pytest.mark.slow  # two spawned processes: ~15 s on a busy 2-core machine
def test_two_ranks_train_what_one_process_trains(tmp_path):
    from ranks import run_ranks

    data = make_spoken_digits(tmp_path / "spoken", n=12, max_words=2, progress=False)
    alone = train_tiny(str(data), str(tmp_path / "alone"))
    first, second = run_ranks(train_tiny, 2, str(data), str(tmp_path / "two"))
    assert '"step": 3' in (tmp_path / "two" / "summary.json").read_text()
    for name, value in alone.items():
        assert torch.equal(first[name], second[name]), name
        assert torch.allclose(first[name], value, atol=1e-5), name
