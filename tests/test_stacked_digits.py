"""Stacked digits (three digits as three channels, 1000 modes) and mode counting with the digits classifier."""

import math

import pytest
import torch
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.data import load_digits_images, resize_images
from advlab.data.stacked_digits import load_stacked_digits, stack_labels
from advlab.metrics.features import FeatureNet, load_feature_net
from advlab.metrics.stacked_modes import digit_mode_coverage, stacked_mode_coverage


@pytest.fixture(scope="module")
def shipped_net(tmp_path_factory):
    """The default digits network, in a cache shared by this session's test files (trained once)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADVLAB_CACHE", str(tmp_path_factory.getbasetemp() / "advlab-cache"))
        return load_feature_net("digits", progress=False)


@pytest.fixture(scope="module")
def stacked():
    return load_stacked_digits(count=10000, seed=0)


# ---------------------------------------------------------------------- the data


def test_shapes_dtypes_and_range(stacked):
    assert stacked.name == "stacked-digits" and stacked.kind == "images"
    assert stacked.data.shape == (10000, 3, 8, 8) and stacked.data.dtype == torch.float32
    assert stacked.labels.shape == (10000,) and stacked.labels.dtype == torch.int64
    assert 0 <= stacked.data.min() and stacked.data.max() <= 1
    assert 0 <= stacked.labels.min() and stacked.labels.max() < 1000


def test_each_channel_is_a_digit_with_the_label_s_digit():
    stacked = load_stacked_digits(count=300, seed=4)
    digits = load_digits_images()
    channels = stacked.data.reshape(900, 64)
    distances = torch.cdist(channels.double(), digits.data.reshape(-1, 64).double())
    nearest = distances.argmin(1)
    assert torch.all(distances.min(1).values == 0)  # every channel is one of the 1797 digits, untouched
    found = digits.labels[nearest].reshape(300, 3)
    expected = torch.stack([stacked.labels // 100, stacked.labels // 10 % 10, stacked.labels % 10], dim=1)
    assert torch.equal(found, expected)


def test_stack_labels_numbers_triples_in_base_ten():
    assert stack_labels(torch.tensor([[0, 0, 0], [1, 2, 3], [9, 9, 9], [0, 5, 0]])).tolist() == [0, 123, 999, 50]


def test_digits_are_drawn_independently_and_about_uniformly(stacked):
    digits = torch.stack([stacked.labels // 100, stacked.labels // 10 % 10, stacked.labels % 10], dim=1)
    shares = torch.stack([torch.bincount(digits[:, k], minlength=10) for k in range(3)]).double() / 10000
    # each share is ~0.1 with standard deviation sqrt(0.1 * 0.9 / 10000) = 0.003; 0.085..0.115 is 5 of them
    assert torch.all((shares > 0.085) & (shares < 0.115))
    same = (digits[:, 0] == digits[:, 1]).double().mean()
    assert abs(same - 0.1) < 0.015  # independent channels agree 10% of the time


def test_a_seed_gives_the_same_images_and_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    first, again = load_stacked_digits(count=50, seed=7), load_stacked_digits(count=50, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first.data, again.data) and torch.equal(first.labels, again.labels)
    assert not torch.equal(first.labels, load_stacked_digits(count=50, seed=8).labels)


def test_image_size_resizes_every_channel():
    small, big = load_stacked_digits(count=20, seed=1), load_stacked_digits(image_size=16, count=20, seed=1)
    assert big.data.shape == (20, 3, 16, 16)
    assert torch.equal(big.data, resize_images(small.data, 16)) and torch.equal(big.labels, small.labels)


@pytest.mark.parametrize("options, words", [
    ({"count": 0}, "count"), ({"image_size": 0}, "image_size"), ({"seed": -1}, "seed"), ({"count": 2.5}, "count"),
])
def test_bad_options_are_refused(options, words):
    with pytest.raises(AdvlabError, match=words):
        load_stacked_digits(**options)


# ---------------------------------------------------------------------- mode counting


def test_real_stacked_digits_cover_all_modes(shipped_net, stacked):
    coverage = stacked_mode_coverage(stacked.data, shipped_net)
    assert coverage.total_modes == 1000 and sum(coverage.counts) == 10000
    # 10 samples per mode on average: a mode goes empty by sampling with probability e^-10, and the classifier
    # (>= 97% per digit on held-out digits, ~100% on the 80% it trained on) moves only a few percent of the
    # samples to neighbouring modes, so all but a handful of the 1000 modes are found
    assert coverage.modes >= 995
    # the KL of an empirical histogram of n samples over K equally likely cells is about (K - 1) / (2 n) = 0.05
    assert coverage.kl < 0.1
    truth = torch.bincount(stacked.labels, minlength=1000)
    assert (truth - torch.tensor(coverage.counts)).abs().sum() / 2 <= 0.05 * 10000  # <= 5% of samples moved


def test_a_collapsed_generator_covers_one_mode(shipped_net, stacked):
    collapsed = stacked.data[:1].repeat(200, 1, 1, 1)
    coverage = stacked_mode_coverage(collapsed, shipped_net)
    assert coverage.modes == 1 and max(coverage.counts) == 200
    assert coverage.kl == pytest.approx(math.log(1000))


def test_a_generator_that_drops_modes_is_caught(shipped_net, stacked):
    first_digit_small = stacked.data[stacked.labels < 500]  # only a in 0..4: at most 500 modes
    coverage = stacked_mode_coverage(first_digit_small, shipped_net)
    assert 450 <= coverage.modes <= 520
    assert coverage.kl == pytest.approx(math.log(2), abs=0.1)  # half the modes, evenly: KL = log 2


def test_digit_mode_coverage(shipped_net):
    digits = load_digits_images()
    real = digit_mode_coverage(digits.data, shipped_net)
    assert real.modes == 10 and real.total_modes == 10 and real.kl < 0.005
    collapsed = digit_mode_coverage(digits.data[:1].repeat(30, 1, 1, 1), shipped_net)
    assert collapsed.modes == 1 and collapsed.kl == pytest.approx(math.log(10))
    assert digit_mode_coverage(resize_images(digits.data, 16), shipped_net).modes == 10


def test_mode_counting_refuses_the_wrong_channels_and_networks(shipped_net, stacked):
    with pytest.raises(AdvlabError, match="3 channels"):
        stacked_mode_coverage(torch.rand(4, 1, 8, 8), shipped_net)
    with pytest.raises(AdvlabError, match="1 channel"):
        digit_mode_coverage(stacked.data[:4], shipped_net)

    class Wide(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(1, 1)

    not_digits = FeatureNet(Wide(), "inception:x.pth", dim=2048, classes=1008, image_size=None, channels=3)
    with pytest.raises(AdvlabError, match="digit classifier"):
        stacked_mode_coverage(stacked.data[:4], not_digits)
    with pytest.raises(AdvlabError, match="digit classifier"):
        digit_mode_coverage(torch.rand(4, 1, 8, 8), 3)


def test_a_spec_names_the_network(shipped_net, stacked, tmp_path_factory, monkeypatch):
    """A spec string loads that network (from the cache shipped_net was trained into)."""
    monkeypatch.setenv("ADVLAB_CACHE", str(tmp_path_factory.getbasetemp() / "advlab-cache"))
    assert stacked_mode_coverage(stacked.data[:50], "digits").counts == \
        stacked_mode_coverage(stacked.data[:50], shipped_net).counts
