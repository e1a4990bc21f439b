"""Conditional GAN players (Mirza & Osindero 2014) and the projection discriminator (Miyato & Koyama 2018)."""

import pytest
import torch
from helpers import raises_one_line

from advlab.core.modes import evaluating
from advlab.core.seeding import make_generator
from advlab.data import ring8
from advlab.data.tensor_data import TensorData
from advlab.gan.losses import make_loss
from advlab.models.conditional import (
    ConditionalDCGANDiscriminator,
    ConditionalDCGANGenerator,
    ConditionalMLPDiscriminator,
    ConditionalMLPGenerator,
    ProjectionDiscriminator,
)

CLASSES = 10
N = 6


def inputs(kind: str) -> torch.Tensor:
    """A fixed batch for each kind of model: noise, 2-D points or 16x16 RGB images in [0, 1]."""
    rng = make_generator(1, torch.device("cpu"))
    if kind == "noise":
        return torch.randn(N, 8, generator=rng)
    if kind == "points":
        return torch.randn(N, 2, generator=rng)
    return torch.rand(N, 3, 16, 16, generator=rng)


# name -> (builder, input kind, output shape)
MODELS = {
    "mlp-g": (lambda: ConditionalMLPGenerator(8, CLASSES, 2, 16, 2), "noise", (N, 2)),
    "mlp-d": (lambda: ConditionalMLPDiscriminator(2, CLASSES, 16, 2), "points", (N,)),
    "dcgan-g": (lambda: ConditionalDCGANGenerator(8, CLASSES, 16, 3, 8), "noise", (N, 3, 16, 16)),
    "dcgan-g-embed4": (lambda: ConditionalDCGANGenerator(8, CLASSES, 16, 3, 8, embed_dim=4), "noise", (N, 3, 16, 16)),
    "dcgan-d": (lambda: ConditionalDCGANDiscriminator(16, CLASSES, 3, 8), "images", (N,)),
    "dcgan-d-layer-embed4": (lambda: ConditionalDCGANDiscriminator(16, CLASSES, 3, 8, "layer", embed_dim=4),
                             "images", (N,)),
    "projection": (lambda: ProjectionDiscriminator(16, CLASSES, 3, 8), "images", (N,)),
    "projection-plain": (lambda: ProjectionDiscriminator(16, CLASSES, 3, 8, spectral=False), "images", (N,)),
}


def build(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    builder, kind, _ = MODELS[name]
    return builder(), inputs(kind)


LABELS = torch.tensor([0, 3, 9, 1, 1, 5])


@pytest.mark.parametrize("name", MODELS)
def test_output_shape(name):
    model, x = build(name)
    out = model(x, LABELS)
    assert out.shape == MODELS[name][2]
    assert torch.isfinite(out).all()


def test_image_generator_output_is_in_unit_interval():
    model, z = build("dcgan-g")
    images = model(z * 10, LABELS)
    assert images.min() >= 0 and images.max() <= 1


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("bad, words", [
    (torch.tensor([0, 1, 2, 3, 4, CLASSES]), ("[0, 10)", "0 to 10")),
    (torch.tensor([-1, 1, 2, 3, 4, 5]), ("[0, 10)", "-1 to 5")),
    (torch.tensor([0, 1, 2]), ("expected 6 labels", "(3,)")),
    (torch.zeros(N, 1, dtype=torch.int64), ("expected 6 labels", "(6, 1)")),
    (torch.zeros(N), ("integer", "float32")),
])
def test_bad_labels_are_one_line_errors(name, bad, words):
    model, x = build(name)
    raises_one_line(lambda: model(x, bad), *words)


@pytest.mark.parametrize("name", MODELS)
def test_each_output_depends_on_its_own_label_only(name):
    # same z or x, one row's label changed: exactly that row's output changes (eval mode: no batch statistics)
    model, x = build(name)
    other = LABELS.clone()
    other[2] = 4
    with torch.no_grad(), evaluating(model):
        before, after = model(x, LABELS), model(x, other)
    changed = (before - after).flatten(1).abs().amax(dim=1) if before.ndim > 1 else (before - after).abs()
    assert changed[2] > 1e-6
    assert torch.equal(torch.cat([changed[:2], changed[3:]]), torch.zeros(N - 1))


@pytest.mark.parametrize("spectral", [True, False])
def test_projection_term_is_embedding_dot_features(spectral):
    model, x = build("projection" if spectral else "projection-plain")
    captured = []
    model.phi.register_forward_hook(lambda module, args, out: captured.append(out))
    with torch.no_grad(), evaluating(model):
        out = model(x, LABELS)
        features = captured[0]
        weight_v, weight_psi, bias_psi = (w.detach() for w in (model.embed.weight, model.psi.weight, model.psi.bias))
    assert features.shape == (N, 16)  # width 8 doubled once: 16 channels, summed over 4x4 pixels
    by_hand = [float(weight_psi[0] @ features[i] + bias_psi[0] + weight_v[LABELS[i]] @ features[i]) for i in range(N)]
    assert out.tolist() == pytest.approx(by_hand, rel=1e-5, abs=1e-5)
    # the projection term is not negligible: it moves the scores
    unconditional = [float(weight_psi[0] @ features[i] + bias_psi[0]) for i in range(N)]
    assert max(abs(a - b) for a, b in zip(by_hand, unconditional)) > 1e-3


def test_projection_features_are_summed_over_pixels():
    model, x = build("projection-plain")
    with torch.no_grad():
        maps = model.phi[:-1](x * 2 - 1)
        assert torch.allclose(model.phi(x * 2 - 1), maps.sum(dim=(2, 3)))


def test_spectral_norm_makes_largest_singular_values_one():
    model, x = build("projection")
    with torch.no_grad():
        for _ in range(100):  # one power iteration per training-mode forward
            model(x, LABELS)
    with torch.no_grad(), evaluating(model):
        layers = (model.psi.weight, model.embed.weight, model.phi[0].weight.flatten(1), model.phi[2].weight.flatten(1))
        for weight in layers:
            assert torch.linalg.matrix_norm(weight, ord=2).item() == pytest.approx(1.0, abs=3e-3)
    plain, _ = build("projection-plain")
    assert torch.linalg.matrix_norm(plain.embed.weight.detach(), ord=2).item() != pytest.approx(1.0, abs=0.05)


def test_bad_sizes_are_one_line_errors():
    raises_one_line(lambda: ConditionalMLPGenerator(2, 0), "classes", ">= 1")
    raises_one_line(lambda: ConditionalDCGANGenerator(8, 10, 30), "power of two", "30")
    raises_one_line(lambda: ProjectionDiscriminator(16, -3), "classes")
    raises_one_line(lambda: ConditionalDCGANDiscriminator(16, 10, embed_dim=0), "embed_dim")


def labelled_ring8(count: int, rng: torch.Generator) -> TensorData:
    """Points of ring8 with the index of their mode as the label."""
    means = ring8().means
    labels = torch.randint(len(means), (count,), generator=rng)
    return TensorData(means[labels] + 0.01 * torch.randn(count, 2, generator=rng), labels, "ring8-labelled")


def train_conditional_mlp_gan(steps: int, seed: int, batch: int = 64) -> ConditionalMLPGenerator:
    """Algorithm 1 (k = 1) with labels: D sees (x, y) pairs, G draws for uniformly random classes."""
    torch.manual_seed(seed)
    rng = make_generator(seed, torch.device("cpu"))
    data = labelled_ring8(4000, rng)
    generator, discriminator = ConditionalMLPGenerator(2, 8, 2, 64, 2), ConditionalMLPDiscriminator(2, 8, 64, 2)
    optimizer_g = torch.optim.Adam(generator.parameters(), 1e-3, betas=(0.5, 0.999))
    optimizer_d = torch.optim.Adam(discriminator.parameters(), 1e-3, betas=(0.5, 0.999))
    loss = make_loss("nonsaturating")
    for _ in range(steps):
        rows = torch.randint(len(data), (batch,), generator=rng)
        fake_labels = torch.randint(8, (batch,), generator=rng)
        with torch.no_grad():
            fake = generator(torch.randn(batch, 2, generator=rng), fake_labels)
        d_loss = loss.discriminator_loss(discriminator(data.data[rows], data.labels[rows]),
                                         discriminator(fake, fake_labels))
        optimizer_d.zero_grad()
        d_loss.backward()
        optimizer_d.step()
        fake_labels = torch.randint(8, (batch,), generator=rng)
        g_loss = loss.generator_loss(discriminator(generator(torch.randn(batch, 2, generator=rng), fake_labels),
                                                   fake_labels))
        optimizer_g.zero_grad()
        g_loss.backward()
        optimizer_g.step()
    return generator


def test_conditional_mlp_gan_puts_class_y_at_mode_y():
    generator = train_conditional_mlp_gan(steps=500, seed=0)
    means = ring8().means
    requested = torch.arange(8).repeat(125)
    with torch.no_grad():
        points = generator(torch.randn(1000, 2, generator=make_generator(7, torch.device("cpu"))), requested)
    nearest_mode = torch.cdist(points, means).argmin(dim=1)
    assert (nearest_mode == requested).float().mean().item() >= 0.8  # measured 1.0 for seeds 0-3
    # and close to it: adjacent ring8 modes are 0.77 apart
    assert (points - means[requested]).norm(dim=1).median().item() < 0.1  # measured 0.015-0.017
