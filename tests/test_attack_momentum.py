"""MI, NI and SI-NI-FGSM: the peers' images, the family's reductions, the feasible set, options."""

import numpy as np
import pytest
import torch
from helpers import perturb_masked
from peers import art_attack_images, art_classifier, robust_accuracy

import advlab.attacks.momentum as momentum
from advlab.attacks.bim import BIM
from advlab.attacks.difgsm import DIFGSM
from advlab.attacks.fgsm import FGSM
from advlab.attacks.mifgsm import MIFGSM
from advlab.attacks.momentum import normalize_mean_abs
from advlab.attacks.nifgsm import NIFGSM
from advlab.attacks.sinifgsm import SINIFGSM
from advlab.attacks.tifgsm import TIFGSM
from advlab.attacks.vmifgsm import VMIFGSM
from advlab.attacks.vnifgsm import VNIFGSM
from advlab.core.errors import AdvlabError

EPS, STEPS = 0.1, 10
IMAGES = 120  # held-out digits the peer comparisons use
FAMILY = (MIFGSM, NIFGSM, SINIFGSM, VMIFGSM, VNIFGSM, DIFGSM, TIFGSM)
LIGHT = {VMIFGSM: {"samples": 2, "seed": 0}, VNIFGSM: {"samples": 2, "seed": 0}, DIFGSM: {"seed": 0},
         TIFGSM: {"diversity_prob": 0.5, "seed": 0}, SINIFGSM: {"scales": 2}}


def share_differing(a, b) -> float:
    return float(((a - b).abs() > 1e-5).double().mean())


def test_mi_fgsm_gives_the_peers_images(digits_cnn):
    """torchattacks divides by the mean |grad|, ART by the L1 norm: a constant factor, the same images."""
    torchattacks = pytest.importorskip("torchattacks")
    evasion = pytest.importorskip("art.attacks.evasion")
    images, labels, model = digits_cnn.images[:IMAGES], digits_cnn.labels[:IMAGES], digits_cnn.model
    ours = MIFGSM(model, eps=EPS, steps=STEPS)(images, labels)
    theirs = torchattacks.MIFGSM(model, eps=EPS, alpha=EPS / STEPS, steps=STEPS, decay=1.0)(images, labels)
    art = art_classifier(model, tuple(images.shape[1:]), 10)
    arts = art_attack_images(evasion.MomentumIterativeMethod(art, eps=EPS, eps_step=EPS / STEPS, max_iter=STEPS,
                                                             decay=1.0, batch_size=IMAGES, verbose=False),
                             images, labels)
    robust = robust_accuracy(model, ours, labels)
    assert robust < robust_accuracy(model, images, labels) - 0.2
    for other in (theirs, arts):
        assert share_differing(ours, other) < 0.002  # measured 0: the same arithmetic
        assert robust_accuracy(model, other, labels) == robust


@pytest.mark.parametrize("ours, theirs", [(NIFGSM, "NIFGSM"), (SINIFGSM, "SINIFGSM")])
def test_ni_and_si_ni_give_torchattacks_images(digits_cnn, ours, theirs):
    torchattacks = pytest.importorskip("torchattacks")
    images, labels, model = digits_cnn.images[:IMAGES], digits_cnn.labels[:IMAGES], digits_cnn.model
    mine = ours(model, eps=EPS, steps=STEPS)(images, labels)
    peer = getattr(torchattacks, theirs)(model, eps=EPS, alpha=EPS / STEPS, steps=STEPS, decay=1.0)(images, labels)
    assert share_differing(mine, peer) < 0.002  # measured 0 on 360 images
    assert robust_accuracy(model, mine, labels) == robust_accuracy(model, peer, labels)


def l1_normalised(grad, mask):
    """The papers' written normalisation, grad / ||grad||_1 (instead of the authors' mean |grad|)."""
    return grad / grad.abs().flatten(1).sum(1).clamp(min=1e-12).view(-1, *[1] * (grad.ndim - 1))


def test_the_look_ahead_needs_the_authors_normalisation(digits_cnn, monkeypatch):
    """With the L1 norm the papers write, NI's look-ahead x + alpha mu g is ~alpha t / d and NI collapses onto MI;
    with the authors' mean |grad| (advlab, torchattacks) it moves pixels by ~alpha and NI is its own attack."""
    images, labels, model = digits_cnn.images, digits_cnn.labels, digits_cnn.model
    mi = MIFGSM(model, eps=EPS)(images, labels)
    ni = NIFGSM(model, eps=EPS)(images, labels)
    accuracy = robust_accuracy(model, ni, labels)
    assert share_differing(ni, mi) > 0.1  # measured 0.19
    assert accuracy < robust_accuracy(model, mi, labels) - 0.01  # measured 66.1 % against 67.8 %
    monkeypatch.setattr(momentum, "normalize_mean_abs", l1_normalised)
    assert torch.equal(MIFGSM(model, eps=EPS)(images, labels), mi)  # MI does not care about the factor
    ni_l1 = NIFGSM(model, eps=EPS)(images, labels)
    assert share_differing(ni_l1, mi) < 0.06  # measured 0.03
    assert robust_accuracy(model, ni_l1, labels) == robust_accuracy(model, mi, labels)


def test_normalisation_is_the_mean_over_free_pixels():
    grad = torch.randn(3, 1, 4, 4)
    mask = torch.zeros(3, 1, 4, 4, dtype=torch.bool)
    mask[:, :, :2] = True
    assert torch.allclose(normalize_mean_abs(grad, None).abs().mean((1, 2, 3)), torch.ones(3))
    free = normalize_mean_abs(grad * mask, mask)
    assert torch.allclose(free.abs().sum((1, 2, 3)) / 8, torch.ones(3))
    assert torch.equal(normalize_mean_abs(torch.zeros(2, 1, 3, 3), None), torch.zeros(2, 1, 3, 3))


def test_the_family_reduces_to_its_parents(digits_cnn):
    """Each member with its addition switched off is its parent, image for image."""
    images, labels, model = digits_cnn.images[:60], digits_cnn.labels[:60], digits_cnn.model
    mi = MIFGSM(model, eps=EPS)(images, labels)
    assert torch.equal(MIFGSM(model, eps=EPS, decay=0.0)(images, labels),
                       BIM(model, eps=EPS, alpha=EPS / STEPS, steps=STEPS)(images, labels))
    assert torch.equal(SINIFGSM(model, eps=EPS, scales=1)(images, labels), NIFGSM(model, eps=EPS)(images, labels))
    assert torch.equal(VMIFGSM(model, eps=EPS, beta=0.0, samples=1)(images, labels), mi)  # no variance
    assert torch.equal(DIFGSM(model, eps=EPS, diversity_prob=0.0)(images, labels), mi)
    assert torch.equal(TIFGSM(model, eps=EPS, kernel_size=1)(images, labels), mi)  # a 1x1 kernel, no smoothing
    # VNI's variance subtracts the look-ahead's gradient from the iterate's neighbourhood (the authors' code), so
    # beta = 0 leaves v = grad J(x_t) - grad J(x_t + alpha mu g_t): VNI is NI only without the look-ahead
    assert torch.equal(VNIFGSM(model, eps=EPS, decay=0.0, beta=0.0, samples=1)(images, labels),
                       MIFGSM(model, eps=EPS, decay=0.0)(images, labels))


@pytest.mark.parametrize("attack_class", FAMILY)
def test_results_stay_in_the_ball_the_box_and_the_mask(digits_cnn, attack_class):
    images, labels, model = digits_cnn.images[:30], digits_cnn.labels[:30], digits_cnn.model
    mask = torch.zeros_like(images, dtype=torch.bool)
    mask[..., 1:7, 2:6] = True
    attack = attack_class(model, eps=0.2, steps=4, **LIGHT.get(attack_class, {}))
    attack.eps = 0.2
    adversarial = perturb_masked(attack, model, images, labels, mask)  # perturb itself keeps the masked pixels
    assert float((adversarial - images).abs().max()) <= 0.2 + 1e-6
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert robust_accuracy(model, adversarial, labels) < robust_accuracy(model, images, labels)


@pytest.mark.parametrize("attack_class", FAMILY)
def test_targeted_attacks_reach_their_targets(digits_cnn, attack_class):
    images, labels, model = digits_cnn.images[:40], digits_cnn.labels[:40], digits_cnn.model
    targets = (labels + 3) % 10
    attack = attack_class(model, eps=0.3, targeted=True, **LIGHT.get(attack_class, {}))
    result = attack.run(images, labels, targets)[0]
    with torch.no_grad():
        predicted = model(result.adversarial).argmax(1)
    assert torch.equal(result.success, predicted == targets)
    assert result.success.double().mean() > 0.6  # measured 0.9-1.0 at eps 0.3


def test_a_list_of_eps_gives_one_result_each(digits_cnn):
    images, labels, model = digits_cnn.images[:30], digits_cnn.labels[:30], digits_cnn.model
    both = NIFGSM(model, eps=[0.05, 0.1])(images, labels)
    assert torch.equal(both[0], NIFGSM(model, eps=0.05)(images, labels))
    assert torch.equal(both[1], NIFGSM(model, eps=0.1)(images, labels))


def test_momentum_beats_fgsm_and_noise(digits_cnn):
    """White-box robust accuracy on 360 digits, measured (PGD-10: random start, alpha 2.5 eps / 10, mean of 3 seeds):

    eps   sign noise  FGSM   MI    NI    PGD-10
    0.1   98.6        69.2   67.8  66.1  63.4
    0.2   95.8        19.2   10.0   6.1   0.5

    These attacks aim at transfer to other models; they need not beat PGD on the model they attack."""
    images, labels, model, eps = digits_cnn.images, digits_cnn.labels, digits_cnn.model, 0.2
    fgsm = robust_accuracy(model, FGSM(model, eps=eps)(images, labels), labels)
    signs = 2 * torch.randint(0, 2, images.shape, generator=torch.Generator().manual_seed(0)) - 1
    noise = robust_accuracy(model, (images + eps * signs).clamp(0, 1), labels)
    assert fgsm < noise - 0.5
    for attack_class in (MIFGSM, NIFGSM):
        assert robust_accuracy(model, attack_class(model, eps=eps)(images, labels), labels) < fgsm - 0.05


@pytest.mark.parametrize("attack_class, options, words", [
    (MIFGSM, {"steps": 0}, "steps"), (MIFGSM, {"alpha": 0.0}, "alpha"), (MIFGSM, {"decay": -1.0}, "decay"),
    (MIFGSM, {"eps": -0.1}, "eps"), (NIFGSM, {"steps": 2.5}, "steps"), (SINIFGSM, {"scales": 0}, "scales"),
    (VMIFGSM, {"samples": 0}, "samples"), (VNIFGSM, {"beta": -1.0}, "beta"),
    (DIFGSM, {"diversity_prob": 1.5}, "diversity_prob"), (DIFGSM, {"resize_ratio": 1.0}, "resize_ratio"),
    (TIFGSM, {"kernel_size": 4}, "odd"), (TIFGSM, {"sigma": 0.0}, "sigma"),
])
def test_bad_options_raise_one_clear_error(digits_cnn, attack_class, options, words):
    with pytest.raises(AdvlabError, match=words) as caught:
        attack_class(digits_cnn.model, **options)
    assert "\n" not in str(caught.value) and attack_class.name in str(caught.value)


def test_names_and_papers():
    names = [attack_class.name for attack_class in FAMILY]
    assert names == ["mi-fgsm", "ni-fgsm", "si-ni-fgsm", "vmi-fgsm", "vni-fgsm", "di-fgsm", "ti-fgsm"]
    assert all(attack_class.paper and attack_class.norm == "linf" for attack_class in FAMILY)
    assert np.isclose(MIFGSM.__init__.__defaults__[0], 16 / 255)  # the papers' budget
