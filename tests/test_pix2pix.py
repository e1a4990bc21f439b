"""pix2pix (Isola et al. 2017): the losses of eqs. 1, 3, 4 against a hand computation for each objective of Table 1,
D untouched by "l1", the test-time protocol of sec. 3.1, and learning on a tiny and on the built-in "shapes" set."""

import copy
import math

import pytest
import torch
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.models.patchgan import PatchDiscriminator
from advlab.models.unet import UNetGenerator
from advlab.translation.pix2pix import Pix2Pix


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def _stubs():
    """A deterministic 1x1 G (no dropout, no norm) and a 1x1 conditional D on (input, output) pairs."""
    g = nn.Sequential(nn.Conv2d(1, 1, 1), nn.Sigmoid())
    d = nn.Conv2d(2, 1, 1)
    with torch.no_grad():
        g[0].weight.fill_(0.7), g[0].bias.fill_(-0.2)
        d.weight.copy_(torch.tensor([0.5, -1.5]).view(1, 2, 1, 1)), d.bias.fill_(0.3)
    return g, d


def _pairs():
    x = torch.linspace(0, 1, 32).view(2, 1, 4, 4)
    y = (1 - x) ** 2
    return x, y


def _softplus(t):  # log(1 + e^t), written out
    return torch.log(1 + torch.exp(t))


def _hand_losses(g0, d0, d1, x, y, objective, weight=100.0):
    """d_loss, d_real, d_fake with D before its step; g_gan with D after it (alternating updates); g_l1 on [-1, 1]."""
    out = g0(x)
    real, fake = d0(torch.cat([x, y], 1)), d0(torch.cat([x, out], 1))
    values = {"d_loss": 0.5 * (_softplus(-real).mean() + _softplus(fake).mean()),
              "d_real": (1 / (1 + torch.exp(-real))).mean(), "d_fake": (1 / (1 + torch.exp(-fake))).mean(),
              "g_gan": _softplus(-d1(torch.cat([x, out], 1))).mean(),
              "g_l1": ((2 * out - 1) - (2 * y - 1)).abs().mean()}
    values["g_loss"] = {"l1": weight * values["g_l1"], "cgan": values["g_gan"],
                        "l1+cgan": values["g_gan"] + weight * values["g_l1"]}[objective]
    return values


@pytest.mark.parametrize("objective", ["l1", "cgan", "l1+cgan"])
def test_losses_and_gradients_equal_a_hand_computation(objective):
    g, d = _stubs()
    g0, d0 = copy.deepcopy(g), copy.deepcopy(d)
    x, y = _pairs()
    game = Pix2Pix(g, d, objective=objective, l1_weight=100.0)
    stats = game.train_iteration(x, y, record=True)
    hand = _hand_losses(g0, d0, d, x, y, objective)
    expected = {"l1": ["g_l1", "g_loss"], "cgan": ["d_loss", "d_real", "d_fake", "g_gan", "g_l1", "g_loss"],
                "l1+cgan": ["d_loss", "d_real", "d_fake", "g_gan", "g_l1", "g_loss"]}[objective]
    assert sorted(stats) == sorted(expected)
    for key in expected:
        assert stats[key] == pytest.approx(hand[key].item(), rel=1e-5), key
    # the gradients each player stepped on are those of its own loss alone (D frozen during G's step)
    g_grads = torch.autograd.grad(hand["g_loss"], list(g0.parameters()))
    for mine, theirs in zip(g.parameters(), g_grads):
        torch.testing.assert_close(mine.grad, theirs)
    if objective != "l1":
        d_grads = torch.autograd.grad(hand["d_loss"], list(d0.parameters()))
        for mine, theirs in zip(d.parameters(), d_grads):
            torch.testing.assert_close(mine.grad, theirs)
    assert game.step == 1


def test_l1_objective_never_touches_the_discriminator():
    g, d = _stubs()
    calls = []
    d.register_forward_hook(lambda *args: calls.append(1))
    before = copy.deepcopy(d.state_dict())
    game = Pix2Pix(g, d, objective="l1")
    x, y = _pairs()
    for _ in range(3):
        game.train_iteration(x, y, record=True)
    assert not calls
    assert all(p.grad is None for p in d.parameters())
    for key, value in d.state_dict().items():
        assert torch.equal(value, before[key])
    alone = Pix2Pix(copy.deepcopy(g), None, objective="l1")
    assert sorted(alone.players) == ["generator"]
    assert set(alone.train_iteration(x, y, record=True)) == {"g_l1", "g_loss"}


def test_l1_weight_scales_only_the_l1_term():
    x, y = _pairs()
    stats = {}
    for weight in (0.0, 10.0):
        g, d = _stubs()
        stats[weight] = Pix2Pix(g, d, l1_weight=weight).train_iteration(x, y, record=True)
    assert stats[0.0]["g_loss"] == pytest.approx(stats[0.0]["g_gan"])
    assert stats[10.0]["g_loss"] == pytest.approx(stats[10.0]["g_gan"] + 10 * stats[10.0]["g_l1"])
    assert stats[0.0]["d_loss"] == pytest.approx(stats[10.0]["d_loss"])  # D's step does not see lambda


def test_reference_settings_and_bad_arguments():
    g, d = _stubs()
    game = Pix2Pix(g, d)
    for name in ("generator", "discriminator"):
        group = game.optimizers[name].param_groups[0]
        assert isinstance(game.optimizers[name], torch.optim.Adam)
        assert group["lr"] == 2e-4 and group["betas"] == (0.5, 0.999)
    assert game.l1_weight == 100.0 and game.objective == "l1+cgan" and game.test_mode == "paper"
    assert game.train_iteration(*_pairs()) == {}
    for kwargs in ({"objective": "gan"}, {"test_mode": "train"}, {"l1_weight": -1.0}, {"lr": 0.0}):
        with pytest.raises(AdvlabError):
            Pix2Pix(g, d, **kwargs)
    with pytest.raises(AdvlabError, match="needs a discriminator"):
        Pix2Pix(g, None)


def _tiny_game(**kwargs):
    g = UNetGenerator(1, 1, 32, width=4, **kwargs)
    d = PatchDiscriminator(2, width=4, layers=2)
    return Pix2Pix(g, d)


def test_translate_follows_the_paper_each_image_alone_and_running_statistics_untouched():
    game = _tiny_game(dropout=0.0)
    x, y = torch.rand(4, 1, 32, 32), torch.rand(4, 1, 32, 32)
    game.train_iteration(x, y)
    running = {k: v.clone() for k, v in game.generator.state_dict().items() if "running" in k}
    game.generator.eval()
    together = game.translate(x)
    alone = torch.cat([game.translate(x[i:i + 1]) for i in range(4)])
    torch.testing.assert_close(together, alone)  # batch statistics of each image on its own
    reference = copy.deepcopy(game.generator).train()  # the paper's protocol literally: training mode, batch of 1
    for module in reference.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.track_running_stats = False
    torch.testing.assert_close(alone, torch.cat([reference(x[i:i + 1]) for i in range(4)]))
    assert together.shape == x.shape and 0 <= together.min() and together.max() <= 1
    assert not game.generator.training  # the caller's mode is restored
    for key, value in running.items():
        assert torch.equal(game.generator.state_dict()[key], value)
    assert not torch.allclose(together, game.generator.eval()(x), atol=1e-3)  # not the running statistics


def test_translate_applies_dropout_at_test_time_unless_eval_mode():
    game = _tiny_game()
    x = torch.rand(2, 1, 32, 32)
    game.train_iteration(x, torch.rand(2, 1, 32, 32))
    assert not torch.allclose(game.translate(x), game.translate(x))
    game.test_mode = "eval"
    first = game.translate(x)
    torch.testing.assert_close(first, game.translate(x))
    assert game.generator.training
    torch.testing.assert_close(first, game.generator.eval()(x))


def test_bf16_autocast_iteration_runs_on_cpu():
    from advlab.core.precision import Precision
    g = UNetGenerator(1, 1, 32, width=4)
    game = Pix2Pix(g, PatchDiscriminator(2, width=4, layers=2), precision=Precision("bf16", torch.device("cpu")))
    stats = game.train_iteration(torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32), record=True)
    assert all(math.isfinite(v) for v in stats.values()) and game.check_finite()


def test_a_few_iterations_lower_the_l1_loss():
    torch.manual_seed(1)
    x = torch.rand(8, 1, 32, 32)
    y = 1 - x  # a pixelwise mapping the skips can carry
    game = Pix2Pix(UNetGenerator(1, 1, 32, width=8, dropout=0.0), PatchDiscriminator(2, width=8, layers=2), lr=1e-3)
    before = (game.translate(x) - y).abs().mean()
    l1 = [game.train_iteration(x, y, record=True)["g_l1"] for _ in range(30)]
    after = (game.translate(x) - y).abs().mean()
    # measured at seeds 0-2: recorded L1 0.51 -> 0.36-0.38, translated 0.25 -> 0.19-0.20
    assert sum(l1[-3:]) < 0.85 * sum(l1[:3])
    assert after < 0.85 * before


@pytest.mark.slow
def test_pix2pix_learns_labels_to_scenes_on_shapes():
    """600 iterations of batch 16 at 32 px (U-Net and 34 x 34 PatchGAN of width 16, the paper's lr, betas and
    lambda): ~40 s on one thread. Held-out L1 ([0, 1] images, the paper's test-time protocol) measured at seeds 0-2:
    0.069-0.074 against 0.108-0.114 for the mean training scene and 0.53 for the label map itself; on shape pixels
    0.116-0.123 against 0.24."""
    from advlab.data.paired_sets import decode_labels, load_paired

    torch.manual_seed(0)
    data = load_paired("shapes", seed=0)
    held = data.held_out
    game = Pix2Pix(UNetGenerator(3, 3, 32, width=16), PatchDiscriminator(6, width=16, layers=2))
    sampler = torch.Generator().manual_seed(0)
    for _ in range(600):
        game.train_iteration(*data.sample(16, sampler))
    errors = (game.translate(held.a) - held.b).abs()
    mean_scene = (data.b.mean(0, keepdim=True) - held.b).abs()
    shapes = (decode_labels(held.a) != 0)[:, None].expand_as(held.b)
    assert errors.mean() < 0.8 * mean_scene.mean()
    assert errors.mean() < 0.2 * (held.a - held.b).abs().mean()
    assert errors[shapes].mean() < 0.7 * mean_scene[shapes].mean()
