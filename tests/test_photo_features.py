"""advlab's content network for SRGAN (no VGG download): a frozen feature map, its cache, its training."""

import json

import pytest
import torch
import torch.nn.functional as F

from advlab.data.superres_sets import bicubic_upscale, load_superres
from advlab.metrics.features import features_dir, list_cached
from advlab.models.photo_features import (
    STEPS,
    PhotoFeatures,
    feature_distance,
    make_recipe,
    photo_features,
    train_photo_features,
)
from advlab.translation.srgan import content_loss

QUICK = 3  # steps: enough to exercise the cache without waiting for a real network


def test_cache_trains_once_then_loads(capsys):
    before = torch.get_rng_state()
    first = train_photo_features(seed=11, steps=QUICK, progress=True)
    assert torch.equal(torch.get_rng_state(), before)  # a cold cache draws nothing from the caller's RNG
    assert first.trained and "training the photo feature network" in capsys.readouterr().err
    again = train_photo_features(seed=11, steps=QUICK)
    assert not again.trained and again.weights == first.weights and capsys.readouterr().err == ""
    assert first.weights.parent == features_dir() and first.weights.name.startswith("photos-texture-32px-")
    record = json.loads(first.record.read_text())
    assert record["recipe"]["epochs"] == QUICK and record["content_scale"] > 0
    assert any(entry["file"] == first.weights.stem and entry["status"] == "ok" for entry in list_cached())


def test_a_corrupted_file_is_retrained_with_a_warning(capsys):
    cached = train_photo_features(seed=12, steps=QUICK)
    original = cached.weights.read_bytes()
    cached.weights.write_bytes(original[:-10] + b"0123456789")
    capsys.readouterr()
    network = photo_features(seed=12, steps=QUICK, progress=False)
    err = capsys.readouterr().err
    assert "warning" in err and "does not match the hash" in err
    assert cached.weights.read_bytes() == original  # seeded: retraining gives the same bytes
    assert isinstance(network, PhotoFeatures)


def test_recipe_names_the_seed_and_steps():
    assert make_recipe(0).stem != make_recipe(1).stem != make_recipe(0, QUICK).stem
    assert make_recipe().epochs == STEPS


def test_features_are_a_frozen_eval_map_with_gradients_to_the_images():
    network = photo_features(seed=11, steps=QUICK, progress=False)
    network.train()
    assert not network.training and not network.network.training
    assert not any(p.requires_grad for p in network.parameters())
    images = torch.rand(2, 3, 20, 24, requires_grad=True)
    features = network(images)
    assert features.shape == (2, network.dim, 5, 6) and network.dim == 64
    features.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    gray = torch.rand(2, 1, 16, 16)
    assert torch.equal(network(gray), network(gray.expand(2, 3, 16, 16)))
    assert network.content_scale == pytest.approx(float(network.network.content_scale))


def test_feature_distance_is_the_per_image_content_loss():
    network = photo_features(seed=11, steps=QUICK, progress=False)
    generator = torch.Generator().manual_seed(0)
    x, y = torch.rand(3, 3, 16, 16, generator=generator), torch.rand(3, 3, 16, 16, generator=generator)
    distances = feature_distance(x, y, network)
    assert distances.shape == (3,)
    for index in range(3):
        expected = content_loss(network, x[index:index + 1], y[index:index + 1], network.content_scale)
        assert float(distances[index]) == pytest.approx(float(expected), rel=1e-5)
    assert torch.allclose(feature_distance(y, x, network), distances)
    assert float(feature_distance(x, x.clone(), network).abs().max()) == 0.0


@pytest.mark.slow
def test_the_default_network_learns_its_task_and_is_calibrated():
    """Budget: the default recipe, STEPS steps of 64 patches (about 16 s of one quiet core)."""
    cached = train_photo_features(progress=False)
    assert cached.held_out_accuracy > 0.6  # 14 photographs: chance 0.07; measured 0.803, 0.805, 0.746 at seeds 0-2
    network = photo_features(progress=False)
    data = load_superres("photos", scale=4, count=64, seed=5)  # other patches than the calibration's
    upscaled = bicubic_upscale(data.a, 4)
    content = float(content_loss(network, upscaled, data.b, network.content_scale))
    assert content == pytest.approx(4 * float(F.mse_loss(upscaled, data.b)), rel=0.5)  # seeds 0-2: x1.13, x1.20, x1.14
