"""PI-FGSM: the project kernel, one unamplified step is FGSM, torchattacks' PIFGSM exactly (on the digits
replicated to RGB: its kernel is hard-coded for three channels), and the invariants."""

import pytest
import torch
from helpers import perturb_masked
from peers import robust_accuracy
from torch import nn

from advlab.attacks.fgsm import FGSM
from advlab.attacks.pifgsm import PIFGSM, project_kernel, spread
from advlab.core.errors import AdvlabError

EPS = 0.1


class ChannelMean(nn.Module):
    """The grayscale model on RGB images (their channel mean): what torchattacks' PIFGSM can attack."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images):
        return self.model(images.mean(1, keepdim=True))


def test_the_project_kernel_moves_an_overflow_to_its_neighbours():
    kernel = project_kernel(3, 2, torch.zeros(1))
    assert kernel.shape == (2, 1, 3, 3) and float(kernel[0, 0, 1, 1]) == 0.0
    assert torch.allclose(kernel.sum((2, 3)), torch.ones(2, 1))
    cut = torch.zeros(1, 2, 5, 5)
    cut[0, 1, 2, 2] = 0.8
    spread_out = spread(cut, kernel)
    assert spread_out[0, 0].abs().sum() == 0  # channels stay apart
    assert float(spread_out[0, 1, 2, 2]) == 0.0  # not back onto the pixel itself
    assert torch.allclose(spread_out[0, 1, 1:4, 1:4].sum(), torch.tensor(0.8))


def test_one_step_without_amplification_is_fgsm(digits_cnn):
    model, images, labels = digits_cnn.model, digits_cnn.images, digits_cnn.labels
    assert torch.equal(PIFGSM(model, eps=EPS, steps=1, beta=1.0)(images, labels), FGSM(model, eps=EPS)(images, labels))


def test_pifgsm_is_torchattacks_pifgsm(digits_cnn):
    torchattacks = pytest.importorskip("torchattacks")
    model, images, labels = ChannelMean(digits_cnn.model).eval(), digits_cnn.images, digits_cnn.labels
    rgb = images.expand(-1, 3, -1, -1).contiguous()
    ours = PIFGSM(model, eps=EPS)(rgb, labels)
    theirs = torchattacks.PIFGSM(model, max_epsilon=EPS)(rgb, labels)
    assert float(((ours - theirs).abs() > 1e-6).double().mean()) < 0.002
    assert robust_accuracy(model, ours, labels) == robust_accuracy(model, theirs, labels)
    # advlab runs on the grayscale digits directly, to the same images
    gray = PIFGSM(digits_cnn.model, eps=EPS)(images, labels)
    assert float(((gray - ours[:, :1]).abs() > 1e-6).double().mean()) < 0.002


def test_torchattacks_takes_only_rgb_and_ignores_momentum_and_diversity(digits_cnn):
    """Its conv2d has groups=3 (grayscale fails), and prob / momentum never enter its loop."""
    torchattacks = pytest.importorskip("torchattacks")
    model, images, labels = digits_cnn.model, digits_cnn.images[:20], digits_cnn.labels[:20]
    with pytest.raises(RuntimeError):
        torchattacks.PIFGSM(model, max_epsilon=EPS)(images, labels)
    rgb_model, rgb = ChannelMean(model).eval(), images.expand(-1, 3, -1, -1).contiguous()
    plain = torchattacks.PIFGSM(rgb_model, max_epsilon=EPS, prob=0.0, momentum=0.0)(rgb, labels)
    assert torch.equal(plain, torchattacks.PIFGSM(rgb_model, max_epsilon=EPS, prob=1.0, momentum=1.0)(rgb, labels))


def test_pifgsm_beats_noise_matches_fgsm_and_the_projection_matters(digits_cnn):
    """White-box on the digits PI-FGSM is about FGSM's strength (measured 66.7 % against 69.2 %: each step moves
    the whole eps); its point in the paper is transfer. Random sign noise of the same size barely bites."""
    model, images, labels = digits_cnn.model, digits_cnn.images, digits_cnn.labels
    robust = robust_accuracy(model, PIFGSM(model, eps=EPS)(images, labels), labels)
    assert robust <= robust_accuracy(model, FGSM(model, eps=EPS)(images, labels), labels)
    noise = EPS * torch.randn(images.shape, generator=torch.Generator().manual_seed(0)).sign()
    assert robust < robust_accuracy(model, (images + noise).clamp(0, 1), labels) - 0.2
    without = PIFGSM(model, eps=EPS, gamma=0.0)(images, labels)
    assert not torch.equal(without, PIFGSM(model, eps=EPS)(images, labels))


def test_targeted_reaches_more_targets(digits_cnn):
    model, images, labels = digits_cnn.model, digits_cnn.images, digits_cnn.labels
    targets = (labels + 1) % 10
    adversarial = PIFGSM(model, eps=0.3, targeted=True)(images, targets)
    with torch.no_grad():
        assert float((model(adversarial).argmax(1) == targets).double().mean()) > 0.3


def test_ball_box_mask_and_eps_lists(digits_cnn):
    model, images, labels = digits_cnn.model, digits_cnn.images[:40], digits_cnn.labels[:40]
    mask = torch.zeros_like(images, dtype=torch.bool)
    mask[..., 2:6, 2:6] = True
    adversarial = perturb_masked(PIFGSM(model, eps=EPS), model, images, labels, mask)
    assert (adversarial - images)[mask].abs().max() > EPS / 2
    for eps, result in zip([0.05, 0.2], PIFGSM(model, eps=[0.05, 0.2])(images, labels)):
        assert float((result - images).abs().max()) <= eps + 1e-6
        assert result.min() >= 0 and result.max() <= 1


def test_bad_options_are_one_line_errors(digits_cnn):
    with pytest.raises(AdvlabError, match="pi-fgsm: kernel_size must be odd"):
        PIFGSM(digits_cnn.model, kernel_size=4)
    with pytest.raises(AdvlabError, match="pi-fgsm: beta must be a number > 0"):
        PIFGSM(digits_cnn.model, beta=0.0)
    with pytest.raises(AdvlabError, match="pi-fgsm: steps must be an integer >= 1"):
        PIFGSM(digits_cnn.model, steps=0)
    flat = nn.Linear(6, 3)
    with pytest.raises(AdvlabError, match=r"pi-fgsm: images must be \(N, C, H, W\)"):
        PIFGSM(flat, eps=EPS)(torch.rand(4, 6), torch.zeros(4, dtype=torch.int64))
