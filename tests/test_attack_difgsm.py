"""DI- and TI-FGSM: the random resize-and-pad, the Gaussian kernel, torchattacks' images and robust accuracy."""

import math

import numpy as np
import pytest
import torch
from peers import robust_accuracy

from advlab.attacks.difgsm import DIFGSM, diverse_inputs, resize_pad_index
from advlab.attacks.mifgsm import MIFGSM
from advlab.attacks.tifgsm import TIFGSM, default_radius, gaussian_kernel
from advlab.core.errors import AdvlabError

EPS, STEPS = 0.1, 10
SEEDS = (0, 1, 2)


class ChannelMean(torch.nn.Module):
    """The grey-level victim on three-channel images (torchattacks' TIFGSM convolves with groups=3)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, images):
        return self.inner(images.mean(1, keepdim=True))


def test_resize_range_keeps_the_papers_ratio():
    """299 -> [299, 330) padded to 330, shrunk instead: s in [round(r H), H - 1], r = 299/330."""
    draws = torch.linspace(0, 0.999, 200)
    for side, sizes in ((8, {7}), (28, {25, 26, 27}), (299, set(range(271, 299)))):
        rows = resize_pad_index(side, 299 / 330, draws, torch.zeros(200))
        assert set((rows >= 0).sum(1).tolist()) == sizes
    rows = resize_pad_index(8, 299 / 330, torch.zeros(3), torch.tensor([0.0, 0.49, 0.99]))
    assert rows[:, 0].tolist() == [0, 0, -1] and rows[:, 7].tolist() == [-1, -1, 6]  # top and bottom placements
    assert rows[0, :7].tolist() == [0, 1, 2, 3, 4, 5, 6]  # nearest: floor(i * 8 / 7)


def test_diversity_moves_each_image_on_its_own():
    images = torch.rand(400, 1, 8, 8)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(diverse_inputs(images, 0.0, 299 / 330, generator), images)
    out = diverse_inputs(images, 1.0, 299 / 330, generator)
    zero_rows, zero_cols = (out == 0).all(3)[:, 0], (out == 0).all(2)[:, 0]
    assert (zero_rows.sum(1) == 1).all() and (zero_cols.sum(1) == 1).all()  # one row and one column of padding
    corners = set(zip(zero_rows[:, 0].tolist(), zero_cols[:, 0].tolist()))
    assert len(corners) == 4  # the 7x7 image sits in every corner, not only top-left
    half = diverse_inputs(images, 0.5, 299 / 330, generator)
    unchanged = (half == images).flatten(1).all(1).double().mean()
    assert 0.4 < unchanged < 0.6  # each image tosses its own coin
    grad, = torch.autograd.grad(diverse_inputs(images.requires_grad_(), 1.0, 299 / 330, generator).sum(), images)
    assert grad.sum() == 400 * 49  # differentiable: 49 source pixels land in each output


def test_gaussian_kernel_and_default_size():
    kernel = gaussian_kernel(7, 7 / math.sqrt(3), torch.zeros(1))
    assert kernel.shape == (15, 15) and torch.isclose(kernel.sum(), torch.tensor(1.0))
    assert torch.isclose(kernel[7, 8] / kernel[7, 7], torch.tensor(math.exp(-1.5 / 49)))  # sigma = k / sqrt(3)
    assert [default_radius(side) for side in (8, 28, 32, 224, 299)] == [1, 1, 1, 5, 7]


def test_ti_mi_fgsm_gives_torchattacks_images(digits_cnn):
    """Without diversity TI is deterministic: torchattacks' TIFGSM (groups=3) on the digits replicated to RGB."""
    torchattacks = pytest.importorskip("torchattacks")
    images, labels, model = digits_cnn.images[:120], digits_cnn.labels[:120], digits_cnn.model
    for sigma, nsig in ((None, math.sqrt(3)), (1 / 3, 3.0)):  # the paper's k / sqrt(3); the authors' code's k / 3
        ours = TIFGSM(model, eps=EPS, sigma=sigma)(images, labels)
        peer = torchattacks.TIFGSM(ChannelMean(model), eps=EPS, alpha=EPS / STEPS, steps=STEPS, decay=1.0,
                                   len_kernel=3, nsig=nsig, diversity_prob=0.0)
        theirs = peer(images.expand(-1, 3, -1, -1).contiguous(), labels)
        assert torch.allclose(theirs[:, :1], theirs[:, 2:])  # the three channels stay equal
        assert float(((ours - theirs[:, :1]).abs() > 1e-5).double().mean()) < 0.002  # measured 0
    assert not torch.equal(ours, MIFGSM(model, eps=EPS)(images, labels))


def accuracies(model, images, labels, make) -> list[float]:
    return [robust_accuracy(model, make(seed), labels) for seed in SEEDS]


@pytest.mark.parametrize("ours, theirs", [(DIFGSM, "DIFGSM"), (TIFGSM, "TIFGSM")])
def test_robust_accuracy_matches_torchattacks(digits_cnn, ours, theirs):
    """Mean of 3 seeds on 360 digits (measured: DI 77.6 / 76.1 %, TI-DIM 77.6 / 77.5 %). torchattacks draws one
    transformation and one coin for the whole batch, so its seeds spread widely (DI 70.3-79.7 %); advlab draws one
    per image and its seeds agree within a few images."""
    torchattacks = pytest.importorskip("torchattacks")
    images, labels, model = digits_cnn.images, digits_cnn.labels, digits_cnn.model
    ti = ours is TIFGSM
    options = {"diversity_prob": 0.5, "kernel_size": 3} if ti else {"diversity_prob": 0.5}

    def peer(seed):
        torch.manual_seed(seed)
        extra = {"len_kernel": 3, "nsig": math.sqrt(3)} if ti else {}
        attack = getattr(torchattacks, theirs)(ChannelMean(model) if ti else model, eps=EPS, alpha=EPS / STEPS,
                                               steps=STEPS, decay=1.0, diversity_prob=0.5, resize_rate=0.9, **extra)
        return attack(images.expand(-1, 3, -1, -1).contiguous(), labels)[:, :1] if ti else attack(images, labels)

    mine = accuracies(model, images, labels, lambda seed: ours(model, eps=EPS, seed=seed, **options)(images, labels))
    them = accuracies(model, images, labels, peer)
    assert abs(np.mean(mine) - np.mean(them)) <= 0.02
    assert max(mine) - min(mine) < 0.03  # measured 0.9 pp (DI), 1.4 pp (TI)
    assert max(them) - min(them) > 0.05  # measured 9.4 pp (DI), 9.1 pp (TI): the batch-wide coin


def test_diversity_is_seeded_and_needs_images(digits_cnn):
    images, labels, model = digits_cnn.images[:30], digits_cnn.labels[:30], digits_cnn.model
    first = DIFGSM(model, eps=EPS, seed=1)(images, labels)
    assert torch.equal(first, DIFGSM(model, eps=EPS, seed=1)(images, labels))
    assert not torch.equal(first, DIFGSM(model, eps=EPS, seed=2)(images, labels))
    flat = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    with pytest.raises(AdvlabError, match="di-fgsm: input diversity resizes images"):
        DIFGSM(flat, eps=EPS)(images.flatten(1), labels)
    with pytest.raises(AdvlabError, match="ti-fgsm: the kernel smooths images"):
        TIFGSM(flat, eps=EPS, diversity_prob=0.0)(images.flatten(1), labels)
