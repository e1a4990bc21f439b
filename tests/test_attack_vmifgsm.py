"""VMI- and VNI-FGSM: torchattacks' robust accuracy over seeds, the variance's neighbourhood, seeds."""

import numpy as np
import pytest
import torch
from peers import robust_accuracy

from advlab.attacks.mifgsm import MIFGSM
from advlab.attacks.vmifgsm import VMIFGSM
from advlab.attacks.vnifgsm import VNIFGSM

EPS, STEPS, SAMPLES, IMAGES = 0.1, 5, 4, 180
SEEDS = (0, 1, 2)
AGREE = 0.02


@pytest.mark.parametrize("ours, theirs", [(VMIFGSM, "VMIFGSM"), (VNIFGSM, "VNIFGSM")])
def test_robust_accuracy_matches_torchattacks(digits_cnn, ours, theirs):
    """Measured over 9 seeds on these 180 images: the 3-seed means differ by 0.0-0.6 pp."""
    torchattacks = pytest.importorskip("torchattacks")
    images, labels, model = digits_cnn.images[:IMAGES], digits_cnn.labels[:IMAGES], digits_cnn.model

    def peer(seed):
        torch.manual_seed(seed)
        attack = getattr(torchattacks, theirs)(model, eps=EPS, alpha=EPS / STEPS, steps=STEPS, decay=1.0,
                                               N=SAMPLES, beta=1.5)
        return robust_accuracy(model, attack(images, labels), labels)

    mine = np.mean([robust_accuracy(model, ours(model, eps=EPS, steps=STEPS, samples=SAMPLES, seed=seed)(
        images, labels), labels) for seed in SEEDS])
    assert mine < robust_accuracy(model, images, labels) - 0.25
    assert abs(mine - np.mean([peer(seed) for seed in SEEDS])) <= AGREE


def test_the_neighbourhood_is_the_cube_of_half_width_beta_eps(digits_cnn):
    """The variance's neighbours x_t + r_i, r_i ~ U[-beta eps, beta eps], zero off the mask."""
    images, labels = digits_cnn.images[:20], digits_cnn.labels[:20]
    seen = []

    class Spy(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            seen.append(x.detach().clone())
            return self.inner(x)

    mask = torch.ones_like(images, dtype=torch.bool)
    mask[..., 0, :] = False
    attack = VMIFGSM(Spy(digits_cnn.model), eps=0.1, steps=1, samples=3, beta=1.5, seed=0)
    attack(images, labels, mask=mask)
    neighbours = [x - images for x in seen[-3:]]  # one step: the iterate's gradient, then 3 neighbours
    for offset in neighbours:
        assert float(offset.abs().max()) <= 0.15 + 1e-6
        assert float(offset.abs().max()) > 0.14  # they fill the cube (64 x 20 uniform draws)
        assert torch.equal(offset[..., 0, :], torch.zeros_like(offset[..., 0, :]))


def test_variance_changes_the_steps_and_seeds_repeat(digits_cnn):
    images, labels, model = digits_cnn.images[:40], digits_cnn.labels[:40], digits_cnn.model
    first = VMIFGSM(model, eps=EPS, samples=3, seed=4)(images, labels)
    assert torch.equal(first, VMIFGSM(model, eps=EPS, samples=3, seed=4)(images, labels))
    assert not torch.equal(first, VMIFGSM(model, eps=EPS, samples=3, seed=5)(images, labels))
    assert not torch.equal(first, MIFGSM(model, eps=EPS)(images, labels))


def test_paper_defaults():
    attack = VNIFGSM(torch.nn.Linear(2, 2))
    assert (attack.samples, attack.beta, attack.steps, attack.decay) == (20, 1.5, 10, 1.0)
    assert attack.step_size() == pytest.approx(16 / 255 / 10)
