"""SparseFool: the linear solver against Algorithm 1's loop, sparsity on the digits CNN, and torchattacks."""

import pytest
import torch
from helpers import perturb_masked
from torch import nn

from advlab.attacks.sparsefool import PAST_PLANE, SparseFool, linear_solver
from advlab.core.errors import AdvlabError

SUBSET = 40


@pytest.fixture(scope="module")
def digits(digits_cnn):
    return digits_cnn.model, digits_cnn.images[:SUBSET], digits_cnn.labels[:SUBSET]


@pytest.fixture(scope="module")
def result(digits):
    model, images, labels = digits
    return SparseFool(model).run(images, labels)[0]


def changed(adversarial, images):
    return ((adversarial - images).abs() > 1e-6).flatten(1).sum(1)


def algorithm_one(x, normal, point):
    """Algorithm 1 as the authors' code loops: the largest remaining |w_d| moves until the plane is crossed."""
    w, flat, target = normal.flatten(), x.flatten().clone(), point.flatten()
    left = w.clone()
    side = torch.sign(w @ (flat - target))
    while torch.sign(w @ (flat - target)) == side and left.abs().max() > 0:
        d = int(left.abs().argmax())
        gap = abs(float(w @ (flat - target))) + PAST_PLANE
        flat[d] = (flat[d] - side * torch.sign(w[d]) * gap / abs(float(w[d]))).clamp(0.0, 1.0)
        left[d] = 0
    return flat.view_as(x)


def test_linear_solver_is_algorithm_one():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(30, 1, 8, 8, generator=generator, dtype=torch.float64)
    x[x < 0.4] = 0.0  # blank pixels, as in digits: a move below 0 saturates
    normal = torch.randn(30, 1, 8, 8, generator=generator, dtype=torch.float64)
    normal = normal / normal.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    distance = torch.linspace(0.05, 4.0, 30, dtype=torch.float64).view(-1, 1, 1, 1)
    point = x + distance * normal
    solved = linear_solver(x, normal, point)
    for i in range(len(x)):
        torch.testing.assert_close(solved[i], algorithm_one(x[i], normal[i], point[i]), rtol=0, atol=1e-9)
    crossed = ((solved - point).flatten(1) * normal.flatten(1)).sum(1) >= 0
    assert crossed[:10].all()  # near planes are always reached
    assert 0.0 <= float(solved.min()) and float(solved.max()) <= 1.0


def test_fools_every_digit_with_few_pixels(digits, result):
    """Measured (40 digits, lambda 3): 100 % success, median 5 of 64 pixels changed (torchattacks: 6)."""
    _, images, _ = digits
    assert result.summary()["success_rate"] == 1.0
    assert float(changed(result.adversarial, images).double().median()) <= 7
    assert 0.0 <= float(result.adversarial.min()) and float(result.adversarial.max()) <= 1.0


def test_smaller_lambda_is_sparser(digits, result):
    """lambda trades sparsity for success (sec. 3.2); measured median L0 3 at lambda 1, 5 at 3."""
    model, images, labels = digits
    sparse = SparseFool(model, lam=1.0)(images, labels)
    assert changed(sparse, images).double().mean() < changed(result.adversarial, images).double().mean()


def test_masked_pixels_only_and_misclassified_images_untouched(digits):
    model, images, labels = digits
    mask = torch.zeros_like(images, dtype=torch.bool)
    mask[..., 1:7, 1:7] = True
    attack = SparseFool(model, steps=5)
    adversarial = perturb_masked(attack, model, images, labels, mask)
    assert (model(adversarial).argmax(1) != labels).double().mean() > 0.5
    assert torch.equal(attack.perturb(images, (labels + 1) % 10, None), images)


def test_bad_options():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with pytest.raises(AdvlabError, match="sparsefool: SparseFool is untargeted"):
        SparseFool(model, targeted=True)
    with pytest.raises(AdvlabError, match="sparsefool: lam"):
        SparseFool(model, lam=0.5)
    with pytest.raises(AdvlabError, match="sparsefool: steps"):
        SparseFool(model, steps=-1)
    with pytest.raises(AdvlabError, match="sparsefool: deepfool_steps"):
        SparseFool(model, deepfool_steps=0)
    with pytest.raises(AdvlabError, match="sparsefool: classes"):
        SparseFool(model, classes=1)


def test_against_torchattacks_sparsefool(digits, result):
    """torchattacks SparseFool (lambda 3, 10 steps, one image at a time), 20 digits. Measured on 40: both 100 %
    success, median L0 5 (advlab) vs 6 (torchattacks), mean 5.8 vs 7.3; CPU time 0.1 s vs 7 s."""
    torchattacks = pytest.importorskip("torchattacks")
    model, images, labels = digits
    images, labels = images[:20], labels[:20]
    theirs = torchattacks.SparseFool(model, steps=10, lam=3)(images, labels)
    ours = result.adversarial[:20]
    with torch.no_grad():
        fooled = {"ours": model(ours).argmax(1) != labels, "theirs": model(theirs).argmax(1) != labels}
    assert fooled["ours"].double().mean() >= fooled["theirs"].double().mean() - 0.02
    assert changed(ours, images)[fooled["ours"]].double().median() <= \
        changed(theirs, images)[fooled["theirs"]].double().median()


def test_torchattacks_restarts_its_solver_from_the_clean_image(digits, monkeypatch):
    """Algorithm 2 runs LinearSolver from x^(i); torchattacks passes the clean image at every outer step, so a
    second step forgets the coordinates of the first."""
    torchattacks = pytest.importorskip("torchattacks")
    model, images, labels = digits
    starts = []
    original = torchattacks.SparseFool._linear_solver

    def recording(self, x_0, coord_vec, boundary_point):
        starts.append(x_0.clone())
        return original(self, x_0, coord_vec, boundary_point)

    monkeypatch.setattr(torchattacks.SparseFool, "_linear_solver", recording)
    image, label = images[:1], labels[:1]
    torchattacks.SparseFool(model, steps=3, lam=1.0, overshoot=-0.5)(image, label)  # too little to fool in one step
    assert len(starts) >= 2
    assert all(torch.equal(start, image) for start in starts)
