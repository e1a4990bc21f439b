"""Algorithm 1 of Goodfellow et al. 2014: k D-steps then one G-step, each player frozen in turn."""

import math

import pytest
import torch
from helpers import same, snapshot, tiny_trainer

from advlab.gan.ema import GeneratorEMA
from advlab.gan.trainer import grad_norm, sample_noise


def record_steps(trainer):
    """Wrap both optimisers' step() to log which player moved and what the other looked like."""
    events = []
    for name, optimizer, other in (("D", trainer.optimizer_d, trainer.generator),
                                   ("G", trainer.optimizer_g, trainer.discriminator)):
        original = optimizer.step

        def step(*args, _name=name, _original=original, _other=other, **kwargs):
            before = snapshot(_other)
            result = _original(*args, **kwargs)
            events.append((_name, same(before, snapshot(_other))))
            return result

        optimizer.step = step
    return events


@pytest.mark.parametrize("k", [1, 3, 5])
def test_k_discriminator_steps_per_generator_step(k):
    trainer = tiny_trainer(k=k)
    events = record_steps(trainer)
    for _ in range(4):
        trainer.train_iteration()
    assert [name for name, _ in events] == (["D"] * k + ["G"]) * 4
    assert trainer.step == 4


def test_each_player_is_frozen_while_the_other_steps():
    trainer = tiny_trainer(k=2)
    g_before, d_before = snapshot(trainer.generator), snapshot(trainer.discriminator)
    events = record_steps(trainer)
    trainer.discriminator_step(record=False)
    assert same(g_before, snapshot(trainer.generator)), "G moved during a D-step"
    assert not same(d_before, snapshot(trainer.discriminator)), "D did not move during its step"
    d_mid = snapshot(trainer.discriminator)
    trainer.generator_step(record=False)
    assert same(d_mid, snapshot(trainer.discriminator)), "D moved during the G-step"
    assert not same(g_before, snapshot(trainer.generator))
    assert all(unchanged for _, unchanged in events)


def test_generator_step_leaves_no_gradient_on_discriminator():
    trainer = tiny_trainer()
    trainer.generator_step(record=False)
    assert all(p.grad is None for p in trainer.discriminator.parameters())
    assert all(p.requires_grad for p in trainer.discriminator.parameters())


def test_every_minibatch_is_fresh():
    trainer = tiny_trainer(k=2)
    seen = []
    original = trainer.data.sample
    trainer.data.sample = lambda n, g: seen.append(original(n, g)) or seen[-1]
    trainer.train_iteration()
    assert len(seen) == 2 and not torch.equal(seen[0], seen[1])


def test_recorded_statistics():
    trainer = tiny_trainer(loss="minimax")
    stats = trainer.train_iteration(record=True)
    assert set(stats) == {"d_loss", "d_real", "d_fake", "grad_norm_d", "g_loss", "grad_norm_g"}
    assert 0 < stats["d_real"] < 1 and 0 < stats["d_fake"] < 1  # probabilities for a sigmoid loss
    assert all(math.isfinite(v) for v in stats.values())
    assert trainer.train_iteration(record=False) == {}


def test_nonfinite_loss_is_detected():
    trainer = tiny_trainer()
    assert trainer.check_finite()
    with torch.no_grad():
        trainer.discriminator.net[0].weight.fill_(float("nan"))
    trainer.train_iteration()
    assert not trainer.check_finite()


def test_sgd_with_momentum_trains():
    trainer = tiny_trainer(optimizer="sgd")
    before = snapshot(trainer.generator)
    trainer.train_iteration()
    assert not same(before, snapshot(trainer.generator))


def test_grad_norm_matches_definition():
    layer = torch.nn.Linear(3, 2)
    layer(torch.randn(4, 3)).sum().backward()
    expected = torch.sqrt(layer.weight.grad.pow(2).sum() + layer.bias.grad.pow(2).sum())
    assert grad_norm(layer).item() == pytest.approx(expected.item(), rel=1e-6)


def test_uniform_noise_range_and_gaussian_moments():
    g = torch.Generator().manual_seed(0)
    uniform = sample_noise(20000, 2, "uniform", g)
    assert uniform.min() >= -1 and uniform.max() <= 1
    gaussian = sample_noise(20000, 2, "gaussian", g)
    assert abs(gaussian.mean()) < 0.03 and abs(gaussian.std() - 1) < 0.03


def test_ema_is_a_moving_average():
    trainer = tiny_trainer()
    ema = GeneratorEMA(trainer.generator, decay=0.9)
    old = snapshot(ema.model)
    trainer.generator_step(record=False)
    ema.update(trainer.generator)
    for averaged, previous, current in zip(ema.model.parameters(), old, trainer.generator.parameters()):
        assert torch.allclose(averaged, 0.9 * previous + 0.1 * current.detach(), atol=1e-6)
