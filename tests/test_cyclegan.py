"""CycleGAN (Zhu et al. 2017): the ResNet generator, the losses at their definitions, the schedule, the state, the
torchrun equivalence, and (slow) learning digits-thick."""

from __future__ import annotations

import json

import pytest
import torch
from ranks import run_ranks
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.models.patchgan import PatchDiscriminator
from advlab.models.resnet_generator import ResidualBlock, ResnetGenerator, default_blocks, receptive_field
from advlab.translation.cyclegan import STATISTICS, CycleGAN, cycle_error, cyclegan_models, linear_decay

# ---------------------------------------------------------------------- the ResNet generator

def test_resnet_generator_keeps_the_size_and_maps_into_unit_range():
    torch.manual_seed(0)
    images = torch.rand(2, 3, 32, 32)
    out = ResnetGenerator(3, 1, width=8, blocks=2)(images)
    assert out.shape == (2, 1, 32, 32)
    assert float(out.detach().min()) >= 0.0 and float(out.detach().max()) <= 1.0
    assert ResnetGenerator(1, 3, width=4, blocks=0)(torch.rand(1, 1, 8, 12)).shape == (1, 3, 8, 12)


def test_resnet_generator_has_the_papers_layers_and_parameter_count():
    """c7s1-64, d128, d256, 9 x R256, u128, u64, c7s1-3: 11,378,179 parameters for 3 -> 3 channels, the count the
    authors' code prints (11.378 M; 7.838 M with 6 blocks)."""
    generator = ResnetGenerator(3, 3)
    convs = [m for m in generator.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0]) for m in convs[:3]] == [
        (3, 64, 7, 1), (64, 128, 3, 2), (128, 256, 3, 2)]
    assert sum(isinstance(m, ResidualBlock) for m in generator.modules()) == 9
    assert [(m.out_channels, type(m)) for m in convs[-3:]] == [
        (128, nn.ConvTranspose2d), (64, nn.ConvTranspose2d), (3, nn.Conv2d)]
    assert sum(isinstance(m, nn.InstanceNorm2d) for m in generator.modules()) == 2 + 1 + 2 + 9 * 2 + 2 - 2
    assert sum(p.numel() for p in generator.parameters()) == 11_378_179
    assert sum(p.numel() for p in ResnetGenerator(3, 3, blocks=6).parameters()) == 7_837_699


def test_residual_block_adds_its_input_and_pads_by_reflection():
    block = ResidualBlock(2, "none", bias=True)
    for module in block.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)
    x = torch.randn(1, 2, 5, 5)
    assert torch.equal(block(x), x)  # zero convolutions: the identity path alone
    assert sum(isinstance(m, nn.ReflectionPad2d) for m in block.modules()) == 2


@pytest.mark.parametrize("blocks", [0, 1, 2])
def test_receptive_field_matches_the_gradient_footprint(blocks):
    """The widest set of input columns that one output pixel's gradient touches, over the four phases of the two
    upsampling layers, is `receptive_field(blocks)` (float64, no normalisation, so no batch statistics spread it)."""
    torch.manual_seed(0)
    generator = ResnetGenerator(1, 1, width=4, blocks=blocks, norm="none").double()
    widest = 0
    for column in range(60, 64):
        images = torch.rand(1, 1, 128, 128, dtype=torch.float64, requires_grad=True)
        generator(images)[0, 0, 64, column].backward()
        touched = images.grad[0, 0].abs().sum(0).nonzero().flatten()
        widest = max(widest, int(touched.max() - touched.min() + 1))
    assert widest == receptive_field(blocks)


def test_default_blocks_and_refusals():
    assert [default_blocks(size) for size in (32, 128, 256, 512)] == [6, 6, 9, 9]
    with pytest.raises(AdvlabError, match="multiples of 4"):
        ResnetGenerator(1, 1, width=4, blocks=1)(torch.rand(1, 1, 30, 30))
    with pytest.raises(AdvlabError, match=r"\(N, 1, H, W\)"):
        ResnetGenerator(1, 1, width=4, blocks=1)(torch.rand(1, 3, 32, 32))
    with pytest.raises(AdvlabError, match="unknown norm"):
        ResnetGenerator(1, 1, norm="layer")


# ---------------------------------------------------------------------- the losses on hand-made modules

def affine(weight: float, bias: float) -> nn.Conv2d:
    """A 1x1 convolution x -> weight x + bias on one channel: a module whose outputs we can write down."""
    conv = nn.Conv2d(1, 1, 1)
    with torch.no_grad():
        conv.weight.fill_(weight)
        conv.bias.fill_(bias)
    return conv


G_AB, G_BA, D_A, D_B = (0.5, 0.1), (0.8, 0.0), (1.5, -0.2), (-0.5, 0.3)


def hand_game(**options) -> CycleGAN:
    return CycleGAN(affine(*G_AB), affine(*G_BA), affine(*D_A), affine(*D_B), **options)


def hand_images() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(3, 1, 4, 4, generator=generator), torch.rand(3, 1, 4, 4, generator=generator)


def hand_terms(a, b, g_ab, g_ba, cycle_weight, identity_weight):
    """The generators' loss terms written out from the paper with (weight, bias) pairs: LSGAN, eq. 2 and the
    identity loss, L1 on the [-1, 1] scale (2 |x - y| for [0, 1] images)."""
    (wab, bab), (wba, bba), (wda, bda), (wdb, bdb) = g_ab, g_ba, D_A, D_B
    fake_b, fake_a = wab * a + bab, wba * b + bba
    terms = {"g_gan_ab": ((wdb * fake_b + bdb - 1) ** 2).mean(), "g_gan_ba": ((wda * fake_a + bda - 1) ** 2).mean(),
             "cycle_a": 2 * (wba * fake_b + bba - a).abs().mean(), "cycle_b": 2 * (wab * fake_a + bab - b).abs().mean(),
             "identity_a": 2 * (wba * a + bba - a).abs().mean(), "identity_b": 2 * (wab * b + bab - b).abs().mean()}
    terms["g_loss"] = (terms["g_gan_ab"] + terms["g_gan_ba"] + cycle_weight * (terms["cycle_a"] + terms["cycle_b"])
                       + identity_weight * cycle_weight * (terms["identity_a"] + terms["identity_b"]))
    terms["d_a"] = 0.5 * (((wda * a + bda - 1) ** 2).mean() + ((wda * fake_a + bda) ** 2).mean())
    terms["d_b"] = 0.5 * (((wdb * b + bdb - 1) ** 2).mean() + ((wdb * fake_b + bdb) ** 2).mean())
    return terms


@pytest.mark.parametrize("cycle_weight, identity_weight", [(10.0, 0.5), (3.0, 0.2)])
def test_recorded_losses_equal_their_definitions(cycle_weight, identity_weight):
    a, b = hand_images()
    game = hand_game(cycle_weight=cycle_weight, identity_weight=identity_weight)
    recorded = game.train_iteration(a, b, record=True)
    expected = hand_terms(a, b, G_AB, G_BA, cycle_weight, identity_weight)
    assert set(recorded) == set(STATISTICS)
    for name in STATISTICS:
        assert recorded[name] == pytest.approx(float(expected[name]), rel=1e-5), name


def test_identity_weight_zero_drops_the_identity_terms():
    a, b = hand_images()
    recorded = hand_game(identity_weight=0.0).train_iteration(a, b, record=True)
    expected = hand_terms(a, b, G_AB, G_BA, 10.0, 0.0)
    assert recorded["identity_a"] == recorded["identity_b"] == 0.0
    assert recorded["g_loss"] == pytest.approx(float(expected["g_loss"]), rel=1e-5)


def test_generator_gradients_are_those_of_the_full_objective_and_discriminators_only_see_their_own():
    """After one iteration the generators' gradients are d(g_loss)/d(weights) of eq. 3 and D_A's are those of its
    halved LSGAN loss on the (pooled, detached) fakes: the discriminators were frozen for the generators' step."""
    a, b = hand_images()
    game = hand_game()
    game.train_iteration(a, b)
    g_ab = [torch.tensor(value, requires_grad=True) for value in G_AB]
    g_ba = [torch.tensor(value, requires_grad=True) for value in G_BA]
    hand_terms(a, b, g_ab, g_ba, 10.0, 0.5)["g_loss"].backward()
    assert float(game.generator_ab.weight.grad) == pytest.approx(float(g_ab[0].grad), rel=1e-4)
    assert float(game.generator_ab.bias.grad) == pytest.approx(float(g_ab[1].grad), rel=1e-4)
    assert float(game.generator_ba.weight.grad) == pytest.approx(float(g_ba[0].grad), rel=1e-4)
    weight, bias = (torch.tensor(value, requires_grad=True) for value in D_A)
    fake_a = G_BA[0] * b + G_BA[1]
    (0.5 * (((weight * a + bias - 1) ** 2).mean() + ((weight * fake_a + bias) ** 2).mean())).backward()
    discriminator_a = game.players["discriminator_a"]
    assert float(discriminator_a.weight.grad) == pytest.approx(float(weight.grad), rel=1e-4)
    assert float(discriminator_a.bias.grad) == pytest.approx(float(bias.grad), rel=1e-4)


def test_identity_loss_needs_equal_channels():
    game = CycleGAN(nn.Conv2d(1, 3, 1), nn.Conv2d(3, 1, 1), nn.Conv2d(1, 1, 1), nn.Conv2d(3, 1, 1))
    with pytest.raises(AdvlabError, match="identity_weight=0"):
        game.train_iteration(torch.rand(2, 1, 4, 4), torch.rand(2, 3, 4, 4))
    game = CycleGAN(nn.Conv2d(1, 3, 1), nn.Conv2d(3, 1, 1), nn.Conv2d(1, 1, 1), nn.Conv2d(3, 1, 1),
                    identity_weight=0.0)
    assert game.train_iteration(torch.rand(2, 1, 4, 4), torch.rand(2, 3, 4, 4), record=True)["identity_a"] == 0.0


def test_paper_settings_are_the_defaults():
    game = hand_game()
    for optimizer in game.optimizers.values():
        group = optimizer.param_groups[0]
        assert group["lr"] == 2e-4 and tuple(group["betas"]) == (0.5, 0.999)
    assert set(game.optimizers) == {"generators", "discriminator_a", "discriminator_b"}
    assert {id(p) for p in game.optimizers["generators"].param_groups[0]["params"]} == {
        id(p) for p in [*game.generator_ab.parameters(), *game.generator_ba.parameters()]}
    assert game.cycle_weight == 10.0 and game.identity_weight == 0.5
    assert game.pool_a.size == game.pool_b.size == 50 and not game.schedulers


# ---------------------------------------------------------------------- the learning-rate schedule

def test_linear_decay_values():
    values = [linear_decay(step, steps=10, decay_from=4) for step in (0, 3, 4, 5, 7, 9, 10, 12)]
    assert values == pytest.approx([1, 1, 1, 5 / 6, 3 / 6, 1 / 6, 0, 0])
    assert [linear_decay(step, steps=4, decay_from=4) for step in (0, 3, 4)] == [1, 1, 0]


def test_the_game_holds_the_rate_for_half_the_steps_then_decays_to_zero():
    a, b = hand_images()
    game = hand_game(lr=1e-3, steps=6)  # decay_from = 3
    rates = []
    for _ in range(6):
        rates.append([optimizer.param_groups[0]["lr"] for optimizer in game.optimizers.values()])
        game.train_iteration(a, b)
    for used, factor in zip(rates, [1, 1, 1, 1, 2 / 3, 1 / 3]):
        assert used == pytest.approx([1e-3 * factor] * 3)
    assert game.optimizers["generators"].param_groups[0]["lr"] == pytest.approx(0.0)
    decayed = hand_game(lr=1e-3, steps=10, decay_from=8)
    for _ in range(9):
        decayed.train_iteration(a, b)
    assert decayed.optimizers["discriminator_b"].param_groups[0]["lr"] == pytest.approx(1e-3 / 2)


def test_schedule_refusals():
    with pytest.raises(AdvlabError, match="must not exceed"):
        hand_game(steps=4, decay_from=5)
    with pytest.raises(AdvlabError, match="needs steps"):
        hand_game(decay_from=5)
    with pytest.raises(AdvlabError, match="lr"):
        hand_game(lr=0.0)


# ---------------------------------------------------------------------- state, translation, cycle error

def small_game(seed: int = 0, dist=None, norm: str = "instance") -> CycleGAN:
    """Tiny ResNet generators and 1-layer PatchGANs on 8x8 gray images; pools of 3."""
    torch.manual_seed(seed)
    return CycleGAN(ResnetGenerator(1, 1, width=4, blocks=1, norm=norm), ResnetGenerator(1, 1, width=4, blocks=1,
                                                                                          norm=norm),
                    PatchDiscriminator(1, width=4, layers=1, norm=norm), PatchDiscriminator(1, width=4, layers=1,
                                                                                            norm=norm),
                    lr=1e-2, pool_size=3, steps=8, seed=seed, dist=dist)


def batches(count: int, size: int = 4):
    generator = torch.Generator().manual_seed(7)
    return [(torch.rand(size, 1, 8, 8, generator=generator), torch.rand(size, 1, 8, 8, generator=generator))
            for _ in range(count)]


def test_state_round_trip_through_safetensors_and_json_continues_exactly():
    data = batches(7)
    game = small_game()
    for a, b in data[:4]:
        game.train_iteration(a, b)
    tensors, meta = game.state()
    assert len(game.pool_a) == len(game.pool_b) == 3
    tensors = load_safetensors(save_safetensors({k: v.contiguous() for k, v in tensors.items()}))
    meta = json.loads(json.dumps(meta))
    resumed = small_game(seed=1)  # other weights, other pool seeds: all must come from the checkpoint
    resumed.restore(tensors, meta, step=4)
    for a, b in data[4:]:
        assert game.train_iteration(a, b, record=True) == resumed.train_iteration(a, b, record=True)
    mine, theirs = game.state()[0], resumed.state()[0]
    assert mine.keys() == theirs.keys()
    for name, value in mine.items():
        assert torch.equal(value, theirs[name]), name


def test_restoring_a_checkpoint_without_pools_is_refused():
    game = small_game()
    tensors, meta = game.state()
    tensors = {k: v for k, v in tensors.items() if not k.startswith("extra.")}
    with pytest.raises(AdvlabError, match="image pool"):
        small_game().restore(tensors, meta, step=0)


def test_translate_directions_eval_mode_and_cycle_error_by_hand():
    a, b = hand_images()
    game = hand_game()
    assert torch.allclose(game.translate(a), G_AB[0] * a + G_AB[1])
    assert torch.allclose(game.translate(b, "BtoA"), G_BA[0] * b + G_BA[1])
    errors = cycle_error(game, a, b, batch_size=2)
    assert errors["a"] == pytest.approx(float((G_BA[0] * (G_AB[0] * a + G_AB[1]) + G_BA[1] - a).abs().mean()))
    assert errors["b"] == pytest.approx(float((G_AB[0] * (G_BA[0] * b + G_BA[1]) + G_AB[1] - b).abs().mean()))
    with pytest.raises(AdvlabError, match="AtoB or BtoA"):
        game.translate(a, "AB")
    model = small_game()
    model.generator_ab.train()
    out = model.translate(torch.rand(2, 1, 8, 8))
    assert model.generator_ab.training and not out.requires_grad and 0 <= float(out.min()) <= float(out.max()) <= 1


def test_cyclegan_models_are_the_papers_networks():
    models = cyclegan_models(3, 3, 256)
    assert sum(isinstance(m, ResidualBlock) for m in models["generator_ab"].modules()) == 9
    assert sum(isinstance(m, ResidualBlock) for m in cyclegan_models(1, 3, 32, width=4)["generator_ba"].modules()) == 6
    discriminator = models["discriminator_a"]
    assert discriminator.receptive_field == 70
    assert any(isinstance(m, nn.InstanceNorm2d) for m in discriminator.modules())
    assert sum(p.numel() for p in discriminator.parameters()) == 2_764_737  # the authors' 2.765 M


# ---------------------------------------------------------------------- torchrun

def two_rank_run(distributed: bool) -> dict:
    """Three iterations of global minibatches of 4 (2 rows per rank). Without normalisation: a convolution's bias
    before instance norm has a zero gradient up to rounding, which Adam turns into steps of +-lr that differ between
    one process and two."""
    from advlab.core.distributed import context

    dist = context("cpu") if distributed else None
    game = small_game(dist=dist, norm="none")
    records = []
    for a, b in batches(3):
        rows = dist.shard(len(a)) if dist else slice(None)
        records.append(game.train_iteration(a[rows], b[rows], record=True))
    tensors, _ = game.state()
    return {"tensors": {k: v for k, v in tensors.items() if not k.startswith("rng")}, "records": records}


@pytest.mark.slow  # two spawned processes: ~16 s on a busy 2-core machine
def test_two_ranks_take_the_one_process_steps_with_one_pool():
    alone = two_rank_run(False)
    first, second = run_ranks(two_rank_run, 2, True)
    for name, value in alone["tensors"].items():
        assert torch.equal(first["tensors"][name], second["tensors"][name]), name
        assert torch.allclose(first["tensors"][name], value.to(first["tensors"][name].dtype), atol=1e-5,
                              rtol=1e-4), name
    assert int(alone["tensors"]["extra.pool_a.count"]) == 3
    for mine, theirs in zip(first["records"], alone["records"]):
        for key in STATISTICS:
            assert mine[key] == pytest.approx(theirs[key], rel=1e-4, abs=1e-5), key


# ---------------------------------------------------------------------- learning (slow)

@pytest.mark.slow
def test_cyclegan_learns_digits_thick():
    """digits-thick at 32 px, generators of width 8 with 3 blocks, 2-layer PatchGANs of width 16, batch 4, 300
    iterations at the paper's lr 2e-4 with the linear decay (budget: 15-45 s on one busy thread). Measured at seeds
    0, 1, 2: held-out cycle error 0.62/0.35/0.49 -> 0.047/0.059/0.047; A -> B translations classified as B
    0.94/0.92/0.99 against 0.012 for the inputs; B -> A classified as A 1.0 against 0.036."""
    from advlab.data.unpaired_sets import load_unpaired
    from advlab.metrics.domain_score import domain_score, train_domain_classifier

    data = load_unpaired("digits-thick")
    classifier = train_domain_classifier(data)
    assert classifier.accuracy > 0.9
    torch.manual_seed(0)
    models = cyclegan_models(1, 1, 32, width=8, blocks=3, discriminator_width=16, discriminator_layers=2)
    game = CycleGAN(**models, steps=300, seed=0)
    held_a, held_b = data.held_out.a, data.held_out.b
    before = cycle_error(game, held_a, held_b)
    sampler = torch.Generator().manual_seed(0)
    for _ in range(300):
        game.train_iteration(*data.sample(4, sampler))
    after = cycle_error(game, held_a, held_b)
    assert after["a"] < 0.3 * before["a"] and after["b"] < 0.3 * before["b"]
    assert max(after.values()) < 0.1
    inputs, translated = domain_score(classifier, held_a, "B"), domain_score(classifier, game.translate(held_a), "B")
    assert inputs < 0.1 and translated > 0.7
    assert domain_score(classifier, game.translate(held_b, "BtoA"), "A") > 0.7
