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


def dcgan_trainer_with_ema(decay: float = 0.9):
    """A tiny DCGAN on 8x8 digits whose generator has batch norms, with an EMA copy."""
    from advlab.core.seeding import make_generator
    from advlab.data import load_digits_images
    from advlab.gan.losses import make_loss
    from advlab.gan.trainer import GANTrainer
    from advlab.models import DCGANDiscriminator, DCGANGenerator

    torch.manual_seed(0)
    generator, discriminator = DCGANGenerator(8, 8, 1, 8), DCGANDiscriminator(8, 1, 8)
    adam = lambda params: torch.optim.Adam(params, lr=2e-3, betas=(0.5, 0.999))  # noqa: E731
    return GANTrainer(generator, discriminator, make_loss("nonsaturating"), load_digits_images(8),
                      adam(generator.parameters()), adam(discriminator.parameters()),
                      make_generator(0, torch.device("cpu")), z_dim=8, batch_size=16,
                      ema=GeneratorEMA(generator, decay))


def record_training_mode_inputs(norms):
    """Forward pre-hooks that keep every input a batch norm gets in training mode; returns ({norm: [inputs]}, hooks)."""
    seen = {norm: [] for norm in norms}

    def keep(norm, args):
        if norm.training:
            seen[norm].append(args[0].detach().clone())

    return seen, [norm.register_forward_pre_hook(keep) for norm in norms]


def test_ema_copy_samples_with_its_own_standing_batch_norm_statistics():
    """BigGAN's standing statistics (Brock et al. 2019): before the EMA copy is sampled, each batch norm's running
    mean is the mean of its own pre-BN activations over the standing passes (running_var the mean of the passes'
    unbiased variances), not the live generator's statistics."""
    trainer = dcgan_trainer_with_ema()
    for _ in range(5):
        trainer.train_iteration()
    norms = [m for m in trainer.ema.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    live = [m for m in trainer.generator.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    seen, hooks = record_training_mode_inputs(norms)
    model = trainer.sampling_model()
    for hook in hooks:
        hook.remove()
    assert model is trainer.ema.model and not model.training
    for norm, live_norm in zip(norms, live):
        batches = seen[norm]
        assert batches, "the EMA copy's batch norms saw no forward pass of their own before sampling"
        by_hand = torch.cat(batches).mean(dim=(0, 2, 3))
        assert torch.allclose(norm.running_mean, by_hand, atol=1e-6)
        variances = torch.stack([batch.var(dim=(0, 2, 3), unbiased=True) for batch in batches]).mean(0)
        assert torch.allclose(norm.running_var, variances, rtol=1e-5)
        assert not torch.allclose(norm.running_mean, live_norm.running_mean, atol=1e-3)
        assert norm.momentum == live_norm.momentum  # put back after the cumulative average


def test_standing_statistics_stay_off_the_training_loop_and_are_recomputed_once_per_change():
    """The training loop never runs the EMA copy; sampling recomputes its statistics only after G moved, from the
    same inputs every time (a function of the weights), and leaves the training sampler's stream alone."""
    trainer = dcgan_trainer_with_ema()
    norms = [m for m in trainer.ema.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    seen, hooks = record_training_mode_inputs(norms)
    trainer.train_iteration()
    assert not seen[norms[0]] and trainer.ema.stale
    state = trainer.sampler.get_state()
    trainer.sampling_model()
    passes = len(seen[norms[0]])
    first = norms[0].running_mean.clone()
    trainer.sampling_model()
    assert passes > 0 and len(seen[norms[0]]) == passes and not trainer.ema.stale
    assert torch.equal(trainer.sampler.get_state(), state)
    trainer.ema.recompute_statistics(trainer.standing_inputs(torch.Generator().manual_seed(0)))
    assert torch.equal(norms[0].running_mean, first)
    for hook in hooks:
        hook.remove()
