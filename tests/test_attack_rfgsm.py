"""R+FGSM: eq. (7) by hand, torchattacks' RFGSM exactly (the paper's single step at alpha = eps / 2 and the
iterative variant), targeted mode, and the invariants."""

import pytest
import torch
import torch.nn.functional as F
from helpers import perturb_masked
from peers import robust_accuracy
from torch import nn

from advlab.attacks.rfgsm import RFGSM
from advlab.core.errors import AdvlabError

EPS = 0.1


def test_equation_seven_by_hand():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 3)).double()
    images = 0.2 + 0.6 * torch.rand(8, 1, 2, 3, dtype=torch.float64)
    labels = torch.randint(3, (8,))
    eps, alpha = 0.1, 0.03
    start = images + alpha * torch.randn(images.shape, generator=torch.Generator().manual_seed(5),
                                         dtype=torch.float64).sign()
    start.requires_grad_(True)
    grad, = torch.autograd.grad(F.cross_entropy(model(start), labels, reduction="sum"), start)
    expected = (start + (eps - alpha) * grad.sign()).detach()
    assert torch.allclose(RFGSM(model, eps=eps, alpha=alpha, seed=5)(images, labels), expected, atol=1e-12)


def test_rfgsm_is_torchattacks_rfgsm(digits_cnn):
    """The Gaussian draw comes from generators seeded alike, so both variants agree image for image."""
    torchattacks = pytest.importorskip("torchattacks")
    model, images, labels = digits_cnn.model, digits_cnn.images, digits_cnn.labels
    for seed in (0, 1):  # equal image for image: two seeds show the draws line up
        ours = RFGSM(model, eps=EPS, seed=seed)(images, labels)
        torch.manual_seed(seed)
        theirs = torchattacks.RFGSM(model, eps=EPS, alpha=EPS / 2, steps=1)(images, labels)
        assert float(((ours - theirs).abs() > 1e-6).double().mean()) < 0.002
        ours = RFGSM(model, eps=EPS, alpha=0.02, steps=10, step_size=0.02, seed=seed)(images, labels)
        torch.manual_seed(seed)
        theirs = torchattacks.RFGSM(model, eps=EPS, alpha=0.02, steps=10)(images, labels)
        assert float(((ours - theirs).abs() > 1e-6).double().mean()) < 0.002


def test_the_gradient_step_beats_the_random_step_alone(digits_cnn):
    model, images, labels = digits_cnn.model, digits_cnn.images, digits_cnn.labels
    for seed in (0, 1):
        random_only = RFGSM(model, eps=EPS / 2, alpha=EPS / 2, seed=seed)(images, labels)  # eps - alpha = 0
        robust = robust_accuracy(model, RFGSM(model, eps=EPS, seed=seed)(images, labels), labels)
        assert robust < robust_accuracy(model, random_only, labels) - 0.05


def test_targeted_reaches_more_targets(digits_cnn):
    model, images, labels = digits_cnn.model, digits_cnn.images, digits_cnn.labels
    targets = (labels + 1) % 10
    adversarial = RFGSM(model, eps=0.3, steps=5, targeted=True, seed=0)(images, targets)
    with torch.no_grad():
        reached = float((model(adversarial).argmax(1) == targets).double().mean())
    assert reached > 0.3


def test_ball_box_mask_and_eps_lists(digits_cnn):
    model, images, labels = digits_cnn.model, digits_cnn.images[:40], digits_cnn.labels[:40]
    mask = torch.zeros_like(images, dtype=torch.bool)
    mask[..., :, :4] = True
    perturb_masked(RFGSM(model, eps=EPS, steps=3, seed=0), model, images, labels, mask)
    results = RFGSM(model, eps=[0.05, 0.2], seed=0)(images, labels)
    for eps, result in zip([0.05, 0.2], results):
        assert float((result - images).abs().max()) == pytest.approx(eps, abs=1e-6)  # alpha = eps / 2 per eps
        assert result.min() >= 0 and result.max() <= 1


def test_bad_options_are_one_line_errors(digits_cnn):
    with pytest.raises(AdvlabError, match=r"r-fgsm: alpha 0.2 is larger than eps 0.1; the random step alone"):
        RFGSM(digits_cnn.model, eps=[0.3, 0.1], alpha=0.2)
    with pytest.raises(AdvlabError, match="r-fgsm: steps must be an integer >= 1"):
        RFGSM(digits_cnn.model, steps=0)
    with pytest.raises(AdvlabError, match="r-fgsm: step_size must be a number >= 0"):
        RFGSM(digits_cnn.model, step_size=-1.0)
