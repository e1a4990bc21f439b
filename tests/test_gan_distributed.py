"""GAN training under torchrun (advlab.gan.trainer, advlab.pipelines.gan.train_gan) on 2 gloo processes.

Two processes on a global minibatch of B take the step one process takes on B (players without batch
statistics): the parameters agree across ranks and with a 1-process run, DiffAugment and WGAN-GP's penalty
included; rank 0 alone writes the run; resuming under another number of processes is refused.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
import torch
from ranks import run_ranks
from torch import nn

from advlab.core.distributed import context
from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator
from advlab.data import TensorData
from advlab.gan.diffaugment import diff_augment
from advlab.gan.losses import make_loss
from advlab.gan.trainer import GANTrainer
from advlab.pipelines.gan.gan_config import GANTrainConfig
from advlab.pipelines.gan.train_gan import train_gan


class TinyImageGenerator(nn.Module):
    """z -> 1x8x8 images, no batch statistics."""

    def __init__(self, z_dim: int = 4):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z_dim, 64), nn.Sigmoid())

    def forward(self, z):
        return self.net(z).view(-1, 1, 8, 8)


def image_trainer(world_dist=None) -> GANTrainer:
    """WGAN-GP with DiffAugment on random 8x8 images, k = 2: every draw the trainer makes from its sampler."""
    torch.manual_seed(0)
    generator = TinyImageGenerator()
    critic = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(256, 1))
    sampler = make_generator(3, torch.device("cpu"))
    data = TensorData(torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(1)), None, "random")
    extra = {} if world_dist is None else {"dist": world_dist}
    return GANTrainer(generator=generator, discriminator=critic, loss=make_loss("wgan-gp", 10.0, 0.0), data=data,
                      optimizer_g=torch.optim.Adam(generator.parameters(), 1e-2),
                      optimizer_d=torch.optim.Adam(critic.parameters(), 1e-2), sampler=sampler, z_dim=4,
                      batch_size=8, k=2, augment=partial(diff_augment, policy="color,translation,cutout",
                                                         generator=sampler), **extra)


def parameters_after(iterations: int, distributed: bool) -> dict:
    trainer = image_trainer(context("cpu") if distributed else None)
    stats = [trainer.train_iteration(record=True) for _ in range(iterations)]
    state = {name: p.detach().clone() for name, p in
             [*trainer.generator.named_parameters(prefix="g"), *trainer.discriminator.named_parameters(prefix="d")]}
    return {"state": state, "stats": stats, "sampler": trainer.sampler.get_state()}


def test_two_ranks_take_the_one_process_step_with_diffaugment_and_gradient_penalty():
    alone = parameters_after(3, distributed=False)
    first, second = run_ranks(parameters_after, 2, 3, True)
    for name, value in alone["state"].items():
        assert torch.equal(first["state"][name], second["state"][name]), name
        assert torch.allclose(first["state"][name], value, atol=1e-5, rtol=1e-4), name
    assert torch.equal(first["sampler"], alone["sampler"])  # every rank drew exactly what one process draws
    for mine, theirs in zip(first["stats"], alone["stats"]):
        assert mine["d_loss"] == pytest.approx(theirs["d_loss"], rel=1e-4, abs=1e-5)
    moved = image_trainer()
    assert not torch.allclose(moved.generator.net[0].weight, alone["state"]["g.net.0.weight"])  # training moved it


def ring_config(out: Path, **overrides) -> GANTrainConfig:
    values = dict(out=str(out), data="ring8", model="mlp", conditional=True, pack=2, ema=0.9, steps=6, batch_size=16,
                  log_every=2, sample_every=6, checkpoint_every=3, tensorboard=False, device="cpu", seed=5)
    return GANTrainConfig(**{**values, **overrides})


def train_ring(out: str) -> dict:
    train_gan(ring_config(Path(out)), progress=False, report=False)
    return {"rank": context("cpu").rank}


def final_generator(out: Path) -> dict[str, torch.Tensor]:
    from advlab.core.checkpoints import load_latest

    return {k: v for k, v in load_latest(out / "checkpoints").tensors.items() if k.startswith("generator")}


def test_two_rank_run_matches_one_process_and_only_rank_zero_writes(tmp_path):
    """A conditional PacGAN (packs of 2, one label each) with an EMA generator: 2 ranks of 4 samples each."""
    train_gan(ring_config(tmp_path / "one"), progress=False, report=False)
    run_ranks(train_ring, 2, str(tmp_path / "two"))
    one, two = tmp_path / "one", tmp_path / "two"
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == sorted(p.name for p in
                                                                            (one / "checkpoints").iterdir())
    assert any(name.startswith("generator_ema.") for name in final_generator(one))
    for name, value in final_generator(one).items():
        assert torch.allclose(final_generator(two)[name], value, atol=1e-5, rtol=1e-4), name
    records = [json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [2, 4, 6]  # one writer: no record twice
    meta = json.loads((two / "checkpoints" / "step-000006.json").read_text())
    assert meta["world_size"] == 2
    with pytest.raises(AdvlabError, match="made by 2 process"):
        train_gan(ring_config(two, steps=8), resume=True, progress=False, report=False)


def test_batch_not_divisible_by_the_ranks_names_sizes_to_use():
    import dataclasses

    from advlab.core.distributed import Distributed

    with pytest.raises(AdvlabError, match="batch size 9 cannot be split into 2 equal shares; use 8 or 10"):
        dataclasses.replace(image_trainer(), batch_size=9, dist=Distributed(rank=0, world_size=2))


def test_fp16_on_cpu_is_refused_before_the_run(tmp_path):
    with pytest.raises(AdvlabError, match="fp16 needs a CUDA device"):
        train_gan(ring_config(tmp_path / "fp16", precision="fp16"), progress=False, report=False)
    assert not (tmp_path / "fp16").exists()


def test_bf16_on_cpu_trains_a_finite_run(tmp_path):
    run = train_gan(ring_config(tmp_path / "bf16", precision="bf16"), progress=False, report=False)
    summary = json.loads(run.summary.read_text())
    assert summary["step"] == 6
    assert all(torch.isfinite(v).all() for v in final_generator(run.root).values())
