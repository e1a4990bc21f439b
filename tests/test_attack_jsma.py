"""JSMA: the L0 budget, the box and the mask, targeted success, and torchattacks side by side."""

import math

import pytest
import torch

from advlab.attacks.jsma import JSMA
from advlab.core.errors import AdvlabError


def changed_features(adversarial, images):
    return (adversarial != images).flatten(1).sum(1)


@pytest.mark.parametrize("theta, gamma", [(1.0, 0.145), (-1.0, 0.1), (0.5, 0.2)])
def test_l0_stays_within_gamma_and_the_box(digits_cnn, theta, gamma):
    images, labels = digits_cnn.images[:40], digits_cnn.labels[:40]
    targets = (labels + 3) % 10
    adversarial = JSMA(digits_cnn.model, theta=theta, gamma=gamma, targeted=True)(images, targets)
    d = images[0].numel()
    assert int(changed_features(adversarial, images).max()) <= 2 * math.floor(gamma * d / 2) <= math.ceil(gamma * d)
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    moved = adversarial - images
    assert (moved >= 0).all() if theta > 0 else (moved <= 0).all()
    assert changed_features(adversarial, images).max() > 0


def test_mask_is_respected(digits_cnn):
    images, labels = digits_cnn.images[:30], digits_cnn.labels[:30]
    mask = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    mask[..., :, 4:] = True
    attack = JSMA(digits_cnn.model, gamma=0.3, targeted=True)
    attack.clean_logits = digits_cnn.model(images)
    adversarial = attack.perturb(images, (labels + 1) % 10, mask.expand_as(images))  # the attack's own output
    assert torch.equal(adversarial[..., :4], images[..., :4])
    assert (adversarial[..., 4:] != images[..., 4:]).any()


def test_targeted_success_means_the_target_class(digits_cnn):
    images, labels = digits_cnn.images[:60], digits_cnn.labels[:60]
    targets = (labels + 1) % 10
    result = JSMA(digits_cnn.model, targeted=True).run(images, labels, targets)[0]
    predicted = digits_cnn.model(result.adversarial).argmax(1)
    assert torch.equal(result.success, (predicted == targets) & (targets != labels))
    assert result.success.double().mean() > 0.3  # measured 0.42 at the paper's gamma (8 features of 64)


def test_untargeted_rules_and_seed(digits_cnn):
    images, labels = digits_cnn.images[:60], digits_cnn.labels[:60]
    robust = {}
    for rule in ("runner-up", "next", "random"):
        result = JSMA(digits_cnn.model, gamma=0.125, target_rule=rule, seed=0).run(images, labels)[0]
        robust[rule] = result.summary()["robust_accuracy"]
    # measured 0.23 / 0.33 / 0.45: the runner-up class is the cheapest to reach
    assert robust["runner-up"] < robust["next"] and robust["runner-up"] < robust["random"]
    first = JSMA(digits_cnn.model, target_rule="random", seed=3)(images, labels)
    assert torch.equal(first, JSMA(digits_cnn.model, target_rule="random", seed=3)(images, labels))


def test_equals_torchattacks_on_the_same_targets(digits_cnn):
    """The same pair map on the logits, step for step: torchattacks' JSMA (gamma * d / 2 = 4 iterations, a whole
    number, so its ceil and the paper's floor agree). Measured identical on 100 of 100 images."""
    torchattacks = pytest.importorskip("torchattacks")
    images, labels = digits_cnn.images[:40], digits_cnn.labels[:40]
    targets = (labels + 1) % 10
    ours = JSMA(digits_cnn.model, theta=1.0, gamma=0.125, targeted=True)(images, targets)
    peer = torchattacks.JSMA(digits_cnn.model, theta=1.0, gamma=0.125)
    peer.set_mode_targeted_by_function(lambda x, y: (y + 1) % 10, quiet=True)
    theirs = peer(images, labels)
    same = (ours == theirs).flatten(1).all(1)
    assert same.double().mean() >= 0.95


def test_art_ranks_single_features_by_the_target_gradient_alone(digits_cnn):
    """ART's SaliencyMapMethod is not the paper's pair map: its first step moves the two features with the largest
    dZ_t/dx_i (no beta term, no pairs). Measured on these 60 images: ART's step is that top-2 on 60 of 60, advlab's
    pair (alpha |beta|, alpha > 0, beta < 0) on 16 of 60. (On this victim ART's shortcut reaches more targets at 8
    features, 0.47 against the pair map's 0.42: the paper's algorithm, not a stronger one, is what advlab runs.)"""
    evasion = pytest.importorskip("art.attacks.evasion")
    from peers import art_attack_images, art_classifier

    images, labels = digits_cnn.images[:60], digits_cnn.labels[:60]
    targets = (labels + 1) % 10
    ours = JSMA(digits_cnn.model, gamma=2 / 64, targeted=True)(images, targets)  # one iteration
    art = evasion.SaliencyMapMethod(art_classifier(digits_cnn.model, (1, 8, 8), 10), theta=1.0, gamma=1 / 64,
                                    batch_size=60, verbose=False)  # checked after a step: one step too
    theirs = art_attack_images(art, images, targets)
    x = images.clone().requires_grad_(True)
    grad, = torch.autograd.grad(digits_cnn.model(x).gather(1, targets[:, None]).sum(), x)
    grad = grad.flatten(1).masked_fill(images.flatten(1) >= 1, -math.inf)
    top = torch.zeros_like(grad, dtype=torch.bool).scatter(1, grad.topk(2, dim=1).indices, True)
    assert ((theirs != images).flatten(1) == top).all(1).double().mean() == 1.0
    assert ((ours != images).flatten(1) == top).all(1).double().mean() < 0.5


@pytest.mark.parametrize("options, words", [
    ({"gamma": 0.0}, "gamma"), ({"gamma": 1.5}, "gamma"), ({"theta": 0.0}, "theta"), ({"theta": 2.0}, "theta"),
    ({"theta": -1.5}, "theta"), ({"target_rule": "last"}, "target_rule"),
])
def test_bad_options_raise_one_clear_error(digits_cnn, options, words):
    with pytest.raises(AdvlabError, match=words):
        JSMA(digits_cnn.model, **options)
