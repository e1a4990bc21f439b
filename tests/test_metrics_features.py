"""The feature networks: cache, eval mode, shapes, resizing, channel handling, errors, the CLI."""

import hashlib
import json
import re

import pytest
import torch
from torch import nn

import advlab.metrics.features as features_module
from advlab.cli import features as features_cli
from advlab.cli.common import Parser
from advlab.core.errors import AdvlabError
from advlab.data import load_digits_images, resize_images
from advlab.metrics.features import (
    FeatureNet,
    as_images,
    cache_dir,
    held_out_split,
    list_cached,
    load_feature_net,
    make_recipe,
    random_shifts,
    train_feature_net,
)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache directory for one test (never the user's home)."""
    monkeypatch.setenv("ADVLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def shipped_net(tmp_path_factory):
    """The default digits network (8 px, 20 epochs), in a cache shared by this session's test files."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADVLAB_CACHE", str(tmp_path_factory.getbasetemp() / "advlab-cache"))
        return load_feature_net("digits", progress=False), train_feature_net(progress=False)


@pytest.fixture(scope="module")
def quick_net(tmp_path_factory):
    """A digits network trained for 2 epochs: enough for shapes and invariants."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADVLAB_CACHE", str(tmp_path_factory.mktemp("quick-cache")))
        return load_feature_net("digits", progress=False, epochs=2)


@pytest.fixture(scope="module")
def digits():
    return load_digits_images()


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------- the cache


def test_cache_dir_follows_advlab_cache_then_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVLAB_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("ADVLAB_CACHE")
    assert cache_dir() == tmp_path / "xdg" / "advlab"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "advlab"


def test_second_load_uses_the_cache_without_retraining(cache, capsys):
    first = train_feature_net(progress=False, epochs=1)
    assert first.trained and "training the digits feature network" in capsys.readouterr().err
    assert re.fullmatch(r"digits-8px-[0-9a-f]{12}\.safetensors", first.weights.name)
    assert first.weights.parent == cache / "features"
    stamps = (first.weights.stat().st_mtime_ns, first.record.stat().st_mtime_ns)
    second = train_feature_net(progress=False, epochs=1)
    net = load_feature_net(progress=False, epochs=1)
    assert capsys.readouterr().err == ""  # no training notice, no warning
    assert not second.trained and second.weights == first.weights
    assert (second.weights.stat().st_mtime_ns, second.record.stat().st_mtime_ns) == stamps
    assert second.held_out_accuracy == first.held_out_accuracy
    assert isinstance(net, FeatureNet) and net.spec == "digits"
    assert load_feature_net(progress=False, epochs=1, device=torch.device("cpu")).device.type == "cpu"
    with pytest.raises(AdvlabError, match="unknown device"):
        load_feature_net(progress=False, epochs=1, device="tpu")


def test_the_record_names_recipe_hash_and_accuracy(cache):
    cached = train_feature_net(progress=False, epochs=1)
    record = json.loads(cached.record.read_text())
    recipe = make_recipe("digits", 8, 0, 1)
    assert record["recipe"]["epochs"] == 1 and record["recipe"]["image_size"] == 8
    assert record["recipe_sha256"] == recipe.digest()
    assert cached.weights.name.endswith(f"-{recipe.digest()[:12]}.safetensors")
    assert record["sha256"] == sha256(cached.weights)
    assert 0.0 <= record["held_out_accuracy"] <= 1.0 and record["held_out_images"] == 359  # round(0.2 * 1797)


def test_a_changed_recipe_gives_another_file(cache):
    base = train_feature_net(progress=False, epochs=1).weights
    others = {train_feature_net(progress=False, epochs=1, seed=1).weights,
              train_feature_net(progress=False, epochs=2).weights,
              train_feature_net(progress=False, epochs=1, image_size=12).weights}
    assert base not in others and len(others) == 3
    assert any(path.name.startswith("digits-12px-") for path in others)


def test_a_corrupt_weights_file_is_retrained_with_a_warning(cache, capsys):
    cached = train_feature_net(progress=False, epochs=1)
    original = sha256(cached.weights)
    payload = bytearray(cached.weights.read_bytes())
    payload[-1] ^= 0xFF  # flip the bits of one weight
    cached.weights.write_bytes(bytes(payload))
    capsys.readouterr()
    net = load_feature_net(progress=False, epochs=1)
    err = capsys.readouterr().err
    assert "warning" in err and "does not match the hash" in err and "retraining" in err
    assert sha256(cached.weights) == json.loads(cached.record.read_text())["sha256"]
    assert sha256(cached.weights) == original  # training is seeded: the same weights again
    assert net.features(torch.rand(2, 1, 8, 8)).shape == (2, 128)


def test_a_broken_record_or_missing_weights_are_retrained(cache, capsys):
    cached = train_feature_net(progress=False, epochs=1)
    cached.record.write_text("{not json")
    capsys.readouterr()
    assert train_feature_net(progress=False, epochs=1).trained
    assert "unreadable" in capsys.readouterr().err
    cached.weights.unlink()
    assert train_feature_net(progress=False, epochs=1).trained
    assert "warning" in capsys.readouterr().err


def test_force_retrains_and_training_leaves_the_global_rng_alone(cache):
    train_feature_net(progress=False, epochs=1)
    state = torch.get_rng_state()
    assert train_feature_net(progress=False, epochs=1, force=True).trained
    assert torch.equal(torch.get_rng_state(), state)


def test_list_cached_reports_each_network_and_its_health(cache):
    good = train_feature_net(progress=False, epochs=1)
    bad = train_feature_net(progress=False, epochs=1, seed=3)
    bad.weights.write_bytes(b"garbage")
    found = {entry["file"]: entry for entry in list_cached()}
    assert found[good.weights.stem]["status"] == "ok"
    assert found[bad.weights.stem]["status"].startswith("unusable")
    assert found[good.weights.stem]["held_out_accuracy"] == good.held_out_accuracy


# ---------------------------------------------------------------------- accuracy of the shipped recipe


def test_held_out_accuracy_of_the_default_network(shipped_net, digits):
    net, cached = shipped_net
    assert cached.recipe.image_size == 8 and cached.recipe.epochs == 20
    assert cached.held_out_accuracy >= 0.97
    # recompute it: the split is the first use of the seeded generator
    _, test_rows = held_out_split(len(digits), 0.2, torch.Generator().manual_seed(0))
    predicted = net.predict_labels(digits.data[test_rows])[:, 0]
    assert (predicted == digits.labels[test_rows]).double().mean().item() == pytest.approx(cached.held_out_accuracy)
    # trained with shifts, it still reads digits moved by a pixel
    shifted = random_shifts(digits.data[test_rows], 1, torch.Generator().manual_seed(5))
    assert (net.predict_labels(shifted)[:, 0] == digits.labels[test_rows]).double().mean() >= 0.95


# ---------------------------------------------------------------------- the FeatureNet


class NoisyInTrainMode(nn.Module):
    """A network whose output changes in train mode (batch norm with batch statistics, dropout)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.Dropout(0.5), nn.ReLU())
        self.head = nn.Linear(16, 10)
        with torch.no_grad():
            self.body[2].running_mean.fill_(0.3)

    def embed(self, images):
        hidden = self.body(images)
        return hidden, self.head(hidden)


def test_a_feature_net_never_leaves_eval_mode():
    torch.manual_seed(0)
    net = FeatureNet(NoisyInTrainMode(), "test", dim=16, classes=10, image_size=8, channels=1)
    images = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    before = net.features(images)
    assert net.train() is net
    assert not any(module.training for module in net.modules())
    net.network.train()  # even the inner module switched to train mode behind its back
    assert torch.equal(net.features(images), before)
    assert not any(module.training for module in net.modules())
    assert not any(parameter.requires_grad for parameter in net.parameters())


def test_the_digits_net_is_frozen(quick_net):
    quick_net.train()
    assert not quick_net.training and not quick_net.network.training
    images = torch.rand(3, 1, 8, 8, requires_grad=True)
    assert not quick_net.features(images).requires_grad


def test_shapes_dtypes_and_determinism(quick_net, digits):
    images = digits.data[:37]
    features, logits = quick_net.embed(images)
    assert features.shape == (37, 128) and logits.shape == (37, 10)
    assert features.dtype == torch.float32 and features.device.type == "cpu"
    assert (features >= 0).all()  # the hidden layer after its ReLU
    assert torch.equal(quick_net.features(images), features)
    assert torch.equal(quick_net.logits(images), logits)
    assert torch.allclose(quick_net.features(images, batch_size=5), features, atol=1e-6)
    assert torch.allclose(quick_net.probabilities(images).sum(1), torch.ones(37))
    assert torch.equal(quick_net.predict_labels(images), logits.argmax(1, keepdim=True))
    assert torch.equal(quick_net(images), features)
    assert quick_net.dim == 128 and quick_net.classes == 10 and quick_net.image_size == 8
    assert torch.equal(quick_net.features(images.double().numpy()), features)


def test_images_of_another_size_are_resized_first(quick_net, digits):
    big = resize_images(digits.data[:20], 16)
    assert torch.equal(quick_net.features(big), quick_net.features(resize_images(big, 8)))


def test_stacked_images_embed_channel_by_channel(quick_net, digits):
    channels = [digits.data[k * 10:(k + 1) * 10] for k in range(3)]
    stacked = torch.cat(channels, dim=1)
    features, logits = quick_net.embed(stacked)
    assert features.shape == (10, 384) and quick_net.feature_width(3) == 384
    assert torch.allclose(features, torch.cat([quick_net.features(c) for c in channels], dim=1), atol=1e-6)
    assert logits.shape == (10, 3, 10)
    assert torch.allclose(logits[:, 1], quick_net.logits(channels[1]), atol=1e-6)
    labels = quick_net.predict_labels(stacked)
    assert labels.shape == (10, 3)
    for k in range(3):
        assert torch.equal(labels[:, k], quick_net.predict_labels(channels[k])[:, 0])
    assert torch.allclose(quick_net.probabilities(stacked).sum(-1), torch.ones(10, 3))


def test_a_three_channel_net_sees_grayscale_repeated():
    torch.manual_seed(0)
    inner = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())

    class Colour(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def embed(self, images):
            hidden = self.inner(images)
            return hidden, hidden[:, :2]

    net = FeatureNet(Colour(), "colour", dim=4, classes=2, image_size=None, channels=3)
    gray = torch.rand(5, 1, 11, 9)
    assert torch.equal(net.features(gray), net.features(gray.repeat(1, 3, 1, 1)))
    with pytest.raises(AdvlabError, match="takes 1 or 3 channels, found 2"):
        net.features(torch.rand(5, 2, 8, 8))


def test_values_a_rounding_error_outside_the_unit_interval_are_clamped(quick_net):
    images = torch.rand(4, 1, 8, 8)
    nudged = images.clone()
    nudged[0, 0, 0, 0], nudged[1, 0, 0, 0] = 1 + 5e-6, -5e-6
    clean = nudged.clamp(0, 1)
    assert torch.equal(as_images(nudged), clean)
    assert torch.equal(quick_net.features(nudged), quick_net.features(clean))


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize("images, words", [
    (torch.rand(8, 8), "(N, C, H, W)"),
    (torch.rand(0, 1, 8, 8), "non-empty"),
    (torch.randint(0, 2, (2, 1, 8, 8)), "floating-point"),
    (torch.full((2, 1, 8, 8), float("nan")), "NaN"),
    (torch.full((2, 1, 8, 8), 255.0), "[0, 1]"),
    (torch.full((2, 1, 8, 8), -0.5), "[0, 1]"),
    ([[0.5]], "tensor or NumPy array"),
])
def test_bad_images_are_refused_in_one_line(quick_net, images, words):
    with pytest.raises(AdvlabError) as error:
        quick_net.features(images)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_non_square_images_and_bad_batch_sizes_are_refused(quick_net):
    with pytest.raises(AdvlabError, match="square"):
        quick_net.features(torch.rand(2, 1, 8, 6))
    with pytest.raises(AdvlabError, match="batch_size"):
        quick_net.features(torch.rand(2, 1, 8, 8), batch_size=0)


@pytest.mark.parametrize("spec", ["cifar", "Digits", "", "inception", "auto", 3])
def test_an_unknown_spec_names_the_valid_ones(cache, spec):
    with pytest.raises(AdvlabError) as error:
        load_feature_net(spec)
    assert "'digits', 'mnist'" in str(error.value) and "inception:PATH" in str(error.value)


def test_a_missing_inception_file_is_a_clear_error(cache, tmp_path):
    missing = tmp_path / "nowhere" / "pt_inception.pth"
    with pytest.raises(AdvlabError, match="does not exist") as error:
        load_feature_net(f"inception:{missing}")
    assert str(missing) in str(error.value)
    with pytest.raises(AdvlabError, match="needs the weights file"):
        load_feature_net("inception:")
    with pytest.raises(AdvlabError, match="does not exist"):
        load_feature_net(f"inception:{missing}", image_size=16)  # the size is Inception's own business


def test_a_file_that_is_not_inception_weights_is_refused(cache, tmp_path):
    garbage = tmp_path / "pt_inception.pth"
    garbage.write_bytes(b"not a weights file")
    with pytest.raises(AdvlabError, match="not a weights file"):
        load_feature_net(f"inception:{garbage}")


def test_inception_weights_load_and_embed_any_images(tmp_path):
    """The spec reaches advlab.models.inception_fid; random weights in a safetensors file stand in for the real ones."""
    from safetensors.torch import save_file

    from advlab.models.inception_fid import FIDInceptionV3

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        state = FIDInceptionV3().state_dict()
    path = tmp_path / "inception.safetensors"
    save_file({name: tensor.contiguous() for name, tensor in state.items()}, str(path))
    net = load_feature_net(f"inception:{path}", image_size=8)
    assert (net.dim, net.classes, net.channels, net.image_size) == (2048, 1008, 3, None)
    gray = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    features, logits = net.embed(gray)
    assert features.shape == (2, 2048) and logits.shape == (2, 1008) and features.dtype == torch.float32
    net.train()
    assert not any(module.training for module in net.modules())


@pytest.mark.parametrize("options, words", [
    ({"image_size": 2}, "image_size"), ({"seed": -1}, "seed"), ({"epochs": 0}, "epochs"),
    ({"data": "cifar"}, "digits"),
])
def test_bad_recipes_are_refused(cache, options, words):
    with pytest.raises(AdvlabError, match=words):
        train_feature_net(progress=False, **options)


def test_an_unwritable_cache_is_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("ADVLAB_CACHE", str(blocker))
    with pytest.raises(AdvlabError, match="ADVLAB_CACHE"):
        train_feature_net(progress=False, epochs=1)


# ---------------------------------------------------------------------- the CLI


def run_features_cli(argv, capsys):
    """(status, stdout, stderr) of `advlab features ...`, handled as advlab.cli.main does."""
    parser = Parser(prog="advlab")
    features_cli.add_parser(parser.add_subparsers(dest="command", required=True, parser_class=Parser))
    try:
        args = parser.parse_args(argv)
        status = args.handler(args)
    except SystemExit as stop:
        status = stop.code
    except AdvlabError as error:
        print(f"advlab: error: {error}", file=__import__("sys").stderr)
        status = 2
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_train_then_list(cache, capsys, monkeypatch):
    monkeypatch.setattr(features_module, "default_epochs", lambda size, data="digits": 1)
    status, out, err = run_features_cli(["features", "list"], capsys)
    assert status == 0 and "no feature networks cached" in out
    status, out, err = run_features_cli(["features", "train", "--data", "digits", "--no-progress"], capsys)
    assert status == 0 and "trained in" in out and "held-out accuracy:" in out
    weights = re.search(r"feature network: (\S+\.safetensors)", out).group(1)
    assert weights.startswith(str(cache / "features"))
    status, out, _ = run_features_cli(["features", "train", "--no-progress"], capsys)
    assert status == 0 and "already cached" in out and weights in out
    status, out, _ = run_features_cli(["features", "train", "--no-progress", "--force", "--seed", "2"], capsys)
    assert status == 0 and "trained in" in out
    status, out, _ = run_features_cli(["features", "list"], capsys)
    assert status == 0 and out.count("[ok]") == 2 and "digits 8px seed 2 epochs 1" in out


@pytest.mark.parametrize("argv, words", [
    (["features", "train", "--data", "cifar"], ["invalid choice", "cifar"]),
    (["features", "train", "--image-size", "2", "--no-progress"], ["image_size", ">= 4"]),
    (["features"], ["required"]),
])
def test_cli_errors_are_one_line(cache, capsys, argv, words):
    status, _, err = run_features_cli(argv, capsys)
    assert status == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err
    assert all(word in lines[0] for word in words), lines[0]
