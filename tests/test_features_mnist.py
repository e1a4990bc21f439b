"""The MNIST feature network: its recipe and cache name, its stratified split, specs, 'auto' by data set, stacked
MNIST's 1000 modes counted with it, `advlab features train --data mnist`, and (slow) the default recipe's accuracy.

The quick tests run the same code path with one epoch (MNIST_EPOCHS patched), trained once into a module cache."""

import json
import re

import pytest
import torch
from helpers import assert_one_line_error, run_cli

import advlab.metrics.features as features_module
import advlab.metrics.stacked_modes as stacked_modes
from advlab.core.errors import AdvlabError
from advlab.data import load_digits_images, load_mnist, load_stacked_digits, load_stacked_mnist, stratified_split
from advlab.data.stacked_digits import stack_labels
from advlab.metrics import digit_mode_coverage, stacked_mode_coverage
from advlab.metrics.features import (
    MNIST_EPOCHS,
    feature_spec_for,
    held_out_data,
    load_feature_net,
    make_recipe,
    resolve_spec,
    train_feature_net,
)
from advlab.pipelines.gan.evaluate_gan import Evaluator

QUICK_EPOCHS = 1


@pytest.fixture(scope="module")
def quick_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("mnist-features")


@pytest.fixture
def quick(quick_cache, monkeypatch):
    """The MNIST network with one epoch as its default recipe, in the module's cache (trained by the first test)."""
    monkeypatch.setenv("ADVLAB_CACHE", str(quick_cache))
    monkeypatch.setattr(features_module, "MNIST_EPOCHS", QUICK_EPOCHS)
    return train_feature_net("mnist", progress=False)


# ---------------------------------------------------------------------- the recipe and the cache


def test_the_mnist_recipe_is_native_28px_and_named_by_its_hash():
    recipe = make_recipe("mnist")
    assert (recipe.data, recipe.image_size, recipe.epochs, recipe.max_shift) == ("mnist", 28, MNIST_EPOCHS, 3)
    assert recipe.held_out_fraction == 0.2 and recipe.seed == 0
    assert re.fullmatch(r"mnist-28px-[0-9a-f]{12}", recipe.stem) and recipe.stem.endswith(recipe.digest()[:12])
    assert make_recipe("mnist", image_size=32).stem.startswith("mnist-32px-")
    assert make_recipe("digits").stem.startswith("digits-8px-") and make_recipe("digits").epochs == 20
    with pytest.raises(AdvlabError, match="expected one of: digits, mnist"):
        make_recipe("cifar")


def test_training_caches_weights_and_a_record_named_by_the_hash(quick, quick_cache):
    recipe = make_recipe("mnist", epochs=QUICK_EPOCHS)
    assert quick.weights == quick_cache / "features" / f"mnist-28px-{recipe.digest()[:12]}.safetensors"
    record = json.loads(quick.record.read_text())
    assert record["recipe"] == {**record["recipe"], "data": "mnist", "image_size": 28, "epochs": QUICK_EPOCHS}
    assert record["recipe_sha256"] == recipe.digest() and record["split"] == "stratified"
    assert record["held_out_images"] == 1000  # 20% of each class's 500
    assert 0.5 < record["held_out_accuracy"] <= 1.0  # one epoch already learns a lot
    assert not train_feature_net("mnist", progress=False).trained  # the cache answers now


def test_the_held_out_digits_are_the_stratified_split():
    held = held_out_data(make_recipe("mnist", seed=3))
    data = load_mnist()
    _, rows = stratified_split(data.labels, 0.2, 3)
    assert torch.equal(held.labels, data.labels[rows]) and torch.equal(held.data, data.data[rows])
    assert torch.bincount(held.labels).tolist() == [100] * 10 and held.data.shape[1:] == (1, 28, 28)
    assert len(held_out_data(make_recipe("digits"))) == 359  # digits keep their permutation split


# ---------------------------------------------------------------------- specs and 'auto'


def test_load_feature_net_accepts_mnist(quick):
    net = load_feature_net("mnist", progress=False)
    assert (net.spec, net.image_size, net.dim, net.classes, net.channels) == ("mnist", 28, 128, 10, 1)
    features, logits = net.embed(load_mnist().data[:4])
    assert features.shape == (4, 128) and logits.shape == (4, 10)
    features, logits = net.embed(load_stacked_mnist(count=4).data)  # channel by channel
    assert features.shape == (4, 3 * 128) and logits.shape == (4, 3, 10)


@pytest.mark.parametrize("spec", ["MNIST", "mnist:", "stacked-mnist", "auto"])
def test_other_specs_are_refused_naming_the_valid_ones(spec):
    with pytest.raises(AdvlabError) as error:
        load_feature_net(spec)
    assert "'digits', 'mnist' or 'inception:PATH'" in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("data, spec", [
    ("mnist", "mnist"), ("stacked-mnist", "mnist"), ("digits", "digits"), ("stacked-digits", "digits"),
    ("npy", "digits"), ("folder", "digits"),
])
def test_auto_picks_the_network_of_the_data(data, spec):
    assert feature_spec_for(data) == spec and resolve_spec("auto", data) == spec
    assert resolve_spec("digits", data) == "digits" and resolve_spec("inception:/x.pth", data) == "inception:/x.pth"


def test_the_evaluator_judges_mnist_and_stacked_mnist_with_the_mnist_network(quick):
    assert Evaluator(load_mnist(), ("modes",), n=100).feature_spec == "mnist"
    stacked = Evaluator(load_stacked_mnist(count=300), ("fid", "modes"), n=100)
    assert stacked.feature_spec == "mnist" and stacked.net.image_size == 28
    figures = stacked.evaluate(lambda n, seed: stacked.real[:n]).figures
    assert figures["total_modes"] == 1000 and figures["modes"] == figures["real_modes"]
    assert Evaluator(load_digits_images(), ("modes",), n=100).feature_spec == "digits"
    assert Evaluator(load_stacked_mnist(count=300), ("modes",), n=100, features="digits").feature_spec == "digits"


def test_gan_evaluate_defaults_to_the_mnist_network_on_a_stacked_mnist_run(quick, tmp_path, capsys):
    out = tmp_path / "stacked-mnist"
    status, _, err = run_cli(["gan", "train", "--data", "stacked-mnist", "--steps", "2", "--width", "8", "--out",
                              str(out), "--no-progress", "--tensorboard", "false"], capsys)
    assert status == 0, err
    status, text, err = run_cli(["gan", "evaluate", str(out), "--n", "100", "--metrics", "modes", "--no-progress"],
                                capsys)
    assert status == 0, err
    content = json.loads((out / "eval" / "eval.json").read_text())
    assert content["features"] == "mnist" and "features mnist" in text
    assert content["figures"]["total_modes"] == 1000 and len(content["mode_counts"]) == 1000


# ---------------------------------------------------------------------- mode counting


def test_stacked_mnist_modes_are_counted_with_the_mnist_network(quick, monkeypatch):
    asked = []
    load = stacked_modes.load_feature_net
    monkeypatch.setattr(stacked_modes, "load_feature_net",
                        lambda spec: asked.append(spec) or load(spec, progress=False))
    images = load_stacked_mnist(count=300).data
    coverage = stacked_mode_coverage(images)
    assert asked == ["mnist"] and coverage.total_modes == 1000
    net = load("mnist", progress=False)
    assert coverage.counts == stacked_mode_coverage(images, net).counts == stacked_mode_coverage(images, "mnist").counts
    assert digit_mode_coverage(load_mnist().data[:50]).total_modes == 10 and asked[-1] == "mnist"
    stacked_mode_coverage(load_stacked_digits(count=20).data)  # 8x8 images: the digits network
    assert asked[-1] == "digits"


# ---------------------------------------------------------------------- the CLI


def test_cli_trains_and_lists_the_mnist_network(quick, capsys):
    status, out, err = run_cli(["features", "train", "--data", "mnist", "--epochs", str(QUICK_EPOCHS),
                                "--no-progress"], capsys)
    assert status == 0, err
    assert "already cached" in out and str(quick.weights) in out
    status, out, err = run_cli(["features", "list"], capsys)
    assert status == 0 and f"mnist 28px seed 0 epochs {QUICK_EPOCHS}" in out and "[ok]" in out
    status, _, err = run_cli(["features", "train", "--data", "fashion"], capsys)
    assert_one_line_error(status, err, "invalid choice", "mnist")


# ---------------------------------------------------------------------- the default recipe (slow)


@pytest.mark.slow
def test_the_default_mnist_network_passes_98_percent_held_out(tmp_path, monkeypatch):
    """The shipped recipe (MNIST_EPOCHS epochs, about 45 s on one core): >= 98% on its 1,000 held-out digits, and
    stacked MNIST's triples read right almost as often (each digit right, three times)."""
    monkeypatch.setenv("ADVLAB_CACHE", str(tmp_path))
    cached = train_feature_net("mnist", progress=False)
    assert cached.trained and cached.recipe.epochs == MNIST_EPOCHS
    assert cached.held_out_accuracy >= 0.98
    net = load_feature_net("mnist", progress=False)
    held = held_out_data(cached.recipe)
    assert (net.predict_labels(held.data)[:, 0] == held.labels).double().mean() == cached.held_out_accuracy
    stacked = load_stacked_mnist(count=2000)
    assert (stack_labels(net.predict_labels(stacked.data)) == stacked.labels).double().mean() >= 0.96
