"""SVMPoison (Biggio et al. 2012): its KKT gradient against finite differences, its bookkeeping, its
bad input, and its poisons against random label flips and ART's PoisoningAttackSVM on digits 1 vs 7."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.svm import SVC
from victims import ones_and_sevens_split

from advlab.core.errors import AdvlabError
from advlab.data import load_digits_images
from advlab.poisoning.svm import SUPPORT_MARGIN, SVMPoison

POISONS = 20


@pytest.fixture(scope="module")
def ones_and_sevens():
    return ones_and_sevens_split()


def svm_test_error(images, labels, test, kernel="linear") -> float:
    """Test error of scikit-learn's SVC (C = 1) trained on (images, labels)."""
    svm = SVC(C=1.0, kernel=kernel).fit(images.flatten(1).numpy(), labels.numpy())
    return 1 - svm.score(test[0].flatten(1).numpy(), test[1].numpy())


def poisoned_error(attack: SVMPoison, split: dict, seed: int, kernel: str = "linear") -> float:
    """Test error of the SVM trained on the training split after `attack` (validation: the validation split)."""
    out = attack.poison(*split["train"], seed=seed, validation=split["validation"])
    return svm_test_error(out.images, out.labels, split["test"], kernel)


def as_points(images, labels, positive=7):
    return images.flatten(1).double(), torch.where(labels == positive, 1.0, -1.0).double()


def exact_svm(attack: SVMPoison, points, signs, gamma):
    """libsvm's support sets with alpha and b solved again from the KKT equations in float64 (libsvm keeps its
    kernel in float32, so its margins are only good to ~1e-6): the margin vectors S on the margin,
    Q_SS alpha_S + y_S b = 1 - C Q_SE 1 over the vectors E at the bound C, and sum_j y_j alpha_j = 0.
    Returns (alpha (n,), b, the indices of S, the indices of E)."""
    svm = attack.fit(points, signs, gamma)
    alpha = torch.zeros(len(points), dtype=torch.float64)
    alpha[torch.from_numpy(svm.support_).long()] = torch.from_numpy(np.abs(svm.dual_coef_[0]))
    margin = ((alpha > SUPPORT_MARGIN * attack.C) & (alpha < (1 - SUPPORT_MARGIN) * attack.C)).nonzero().flatten()
    bound = (alpha >= (1 - SUPPORT_MARGIN) * attack.C).nonzero().flatten()
    q = signs[:, None] * signs[None] * attack.kernel_matrix(points, points, gamma)
    system = torch.zeros(len(margin) + 1, len(margin) + 1, dtype=torch.float64)
    system[0, 1:], system[1:, 0], system[1:, 1:] = signs[margin], signs[margin], q[margin][:, margin]
    right = torch.cat([-attack.C * signs[bound].sum()[None], 1 - attack.C * q[margin][:, bound].sum(1)])
    solution = torch.linalg.solve(system, right)
    exact = torch.zeros_like(alpha)
    exact[bound], exact[margin] = attack.C, solution[1:]
    assert bool((exact[margin] > 0).all() and (exact[margin] < attack.C).all())
    return exact, float(solution[0]), margin.tolist(), bound.tolist()


def exact_loss_and_sets(attack: SVMPoison, points, signs, val_points, val_signs, gamma):
    """The mean validation hinge loss of the exact SVM, and the sets the KKT gradient assumes fixed."""
    alpha, bias, margin, bound = exact_svm(attack, points, signs, gamma)
    decision = attack.kernel_matrix(val_points, points, gamma) @ (alpha * signs) + bias
    margins = val_signs * decision
    return float((1 - margins).clamp(min=0).mean()), (margin, bound, (margins < 1).nonzero().flatten().tolist())


def check_against_finite_differences(attack, points, signs, val_points, val_signs, gamma, h=1e-4):
    """The analytic gradient at the last point against central differences of the exact SVM's validation loss,
    along three random unit directions, where the support sets stay the same at both ends."""
    svm = attack.fit(points, signs, gamma)
    gradient = attack.gradient(svm, points, signs, len(points) - 1, val_points, val_signs, gamma)
    assert float(gradient.norm()) > 1e-3  # a point where the loss really moves
    _, sets = exact_loss_and_sets(attack, points, signs, val_points, val_signs, gamma)
    assert len(points) - 1 in sets[1]  # the attack point is at the bound: alpha_c = C stays fixed
    generator = torch.Generator().manual_seed(1)
    for _ in range(3):
        direction = torch.randn(points.shape[1], generator=generator, dtype=torch.float64)
        direction /= direction.norm()
        losses = []
        for sign in (1, -1):
            moved = points.clone()
            moved[-1] += sign * h * direction
            loss, moved_sets = exact_loss_and_sets(attack, moved, signs, val_points, val_signs, gamma)
            assert moved_sets == sets
            losses.append(loss)
        finite = (losses[0] - losses[1]) / (2 * h)
        assert float(gradient @ direction) == pytest.approx(finite, rel=1e-5)


def test_gradient_matches_finite_differences_linear_kernel_on_digits(ones_and_sevens):
    images, labels = ones_and_sevens["train"]
    points, signs = as_points(images[:40], labels[:40])
    one = int((labels == 1).nonzero()[-1])
    attack_point = images[one].flatten().double()  # a 1 labelled as a 7, as the poisons start
    points, signs = torch.cat([points, attack_point[None]]), torch.cat([signs, torch.ones(1, dtype=torch.float64)])
    val_points, val_signs = as_points(*ones_and_sevens["validation"])
    check_against_finite_differences(SVMPoison(poisons=1), points, signs, val_points, val_signs, gamma=1.0)


def test_gradient_matches_finite_differences_rbf_kernel_on_two_gaussians():
    """The paper's fig. 1 setting: two 2-D Gaussian classes, RBF gamma 0.5, C 1."""
    generator = torch.Generator().manual_seed(0)

    def blobs(count):
        centres = torch.tensor([[-1.5, 0.0], [1.5, 0.0]], dtype=torch.float64).repeat_interleave(count, 0)
        points = centres + 0.6 * torch.randn(2 * count, 2, generator=generator, dtype=torch.float64)
        return points, torch.tensor([-1.0, 1.0], dtype=torch.float64).repeat_interleave(count)

    points, signs = blobs(20)
    val_points, val_signs = blobs(50)
    attack_point = torch.tensor([[1.0, 0.5]], dtype=torch.float64)  # inside the +1 class, labelled -1
    points, signs = torch.cat([points, attack_point]), torch.cat([signs, -torch.ones(1, dtype=torch.float64)])
    check_against_finite_differences(SVMPoison(poisons=1, kernel="rbf"), points, signs, val_points, val_signs,
                                     gamma=0.5)


def test_hinge_loss_and_kernel_gradients_by_hand():
    attack = SVMPoison(poisons=1, C=100.0)
    points = torch.tensor([[-1.0], [1.0]], dtype=torch.float64)
    svm = attack.fit(points, torch.tensor([-1.0, 1.0], dtype=torch.float64))
    # the hard-margin SVM through (-1, -1) and (1, 1) is f(x) = x: hinge losses 1 - 0.5 = 0.5 and 0
    val_points = torch.tensor([[0.5], [-2.0]], dtype=torch.float64)
    assert attack.validation_loss(svm, val_points, torch.tensor([1.0, -1.0], dtype=torch.float64)) == \
        pytest.approx(0.25, abs=1e-6)
    rows = torch.rand(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for kernel in ("linear", "rbf"):
        attack = SVMPoison(poisons=1, kernel=kernel)
        point = torch.rand(4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).requires_grad_()
        values = attack.kernel_matrix(rows, point[None], 0.7)[:, 0]
        autograd = torch.stack([torch.autograd.grad(value, point, retain_graph=True)[0] for value in values])
        assert torch.allclose(attack.kernel_gradient(rows, point.detach(), 0.7), autograd, atol=1e-12)


def test_poisons_overwrite_chosen_rows_with_flipped_labels(ones_and_sevens):
    images, labels = ones_and_sevens["train"]
    attack = SVMPoison(poisons=5, steps=3)
    out = attack.poison(images, labels, seed=3, validation=ones_and_sevens["validation"])
    assert out.images.shape == images.shape and out.labels.shape == labels.shape
    assert out.images.dtype == images.dtype and out.labels.dtype == labels.dtype
    assert len(out.indices) == 5 and torch.equal(out.indices, out.indices.sort().values)
    untouched = ~out.mask()
    assert torch.equal(out.images[untouched], images[untouched])
    assert torch.equal(out.labels[untouched], labels[untouched])
    assert torch.equal(out.labels[out.indices], torch.where(labels[out.indices] == 1, 7, 1))
    assert float(out.images.min()) >= 0 and float(out.images.max()) <= 1
    assert not torch.equal(out.images[out.indices], images[out.indices])  # the poisons moved
    again = attack.poison(images, labels, seed=3, validation=ones_and_sevens["validation"])
    assert torch.equal(again.images, out.images) and torch.equal(again.indices, out.indices)
    flips = SVMPoison(poisons=5, steps=0).poison(images, labels, seed=3, validation=ones_and_sevens["validation"])
    assert torch.equal(flips.indices, out.indices) and torch.equal(flips.images, images)
    assert torch.equal(flips.labels, out.labels)


def test_without_validation_a_share_of_the_rows_is_never_poisoned(ones_and_sevens):
    images, labels = ones_and_sevens["train"]
    attack = SVMPoison(rate=0.5, steps=0, validation_share=0.5)
    # half the rows are the validation set, so the other 50 may all be poisoned but not one more
    chosen = set(attack.poison(images, labels, seed=0).indices.tolist())
    assert len(chosen) == 50
    assert chosen == set(SVMPoison(rate=0.5, steps=0).poison(images, labels, seed=0).indices.tolist())
    with pytest.raises(AdvlabError, match="51 poisons asked for, but only 50"):
        SVMPoison(poisons=51, steps=0).poison(images, labels)
    assert attack.options()["validation_share"] == 0.5


def test_bad_input():
    digits = load_digits_images()
    images, labels = digits.data[:60], digits.labels[:60]
    with pytest.raises(AdvlabError, match="--classes A,B"):
        SVMPoison(poisons=2).poison(images, labels)
    pair = (labels == 0) | (labels == 1)
    with pytest.raises(AdvlabError, match="poisons asked for"):
        SVMPoison(poisons=int(pair.sum()) + 1).poison(images[pair], labels[pair], validation=(images[pair],
                                                                                               labels[pair]))
    with pytest.raises(AdvlabError, match="training classes"):
        SVMPoison(poisons=1).poison(images[pair], labels[pair], validation=(images[:5], torch.full((5,), 3)))
    with pytest.raises(AdvlabError, match="unknown kernel 'poly'"):
        SVMPoison(poisons=1, kernel="poly")
    with pytest.raises(AdvlabError, match="rate"):
        SVMPoison(rate=1.5)
    with pytest.raises(AdvlabError, match="step"):
        SVMPoison(poisons=1, step=0.0)
    with pytest.raises(AdvlabError, match="validation_share"):
        SVMPoison(poisons=1, validation_share=1.0)


def test_svm_poisons_beat_random_label_flips_on_ones_and_sevens(ones_and_sevens):
    """20 poisons in 100 training rows (linear SVM, C 1): flips of 20 random rows, seeds 0-9, leave
    4.2% test error on average (clean 0%); the SVM poisons from the same rows, seeds 0-2, 17.2%."""
    assert svm_test_error(*ones_and_sevens["train"], ones_and_sevens["test"]) == 0
    flips = [poisoned_error(SVMPoison(poisons=POISONS, steps=0), ones_and_sevens, seed) for seed in range(10)]
    poisons = [poisoned_error(SVMPoison(poisons=POISONS), ones_and_sevens, seed) for seed in range(3)]
    assert np.mean(poisons) > np.mean(flips) + 0.08
    assert min(poisons) > np.mean(flips) + 0.05


@pytest.mark.slow
def test_rbf_svm_poisons_beat_random_label_flips(ones_and_sevens):
    """The same budget against an RBF SVM (gamma "scale", C 1): random flips, seeds 0-9, 0.3% test error on
    average; the poisons, seeds 0-3, 6.2% (clean 0%)."""
    flips = [poisoned_error(SVMPoison(poisons=POISONS, kernel="rbf", steps=0), ones_and_sevens, seed, "rbf")
             for seed in range(10)]
    poisons = [poisoned_error(SVMPoison(poisons=POISONS, kernel="rbf"), ones_and_sevens, seed, "rbf")
               for seed in range(4)]
    assert np.mean(poisons) > np.mean(flips) + 0.03


@pytest.mark.slow
def test_at_least_as_strong_as_art(ones_and_sevens, monkeypatch):
    """ART's PoisoningAttackSVM on the same rows, starting points, labels, step (0.5) and iterations (50): mean test
    error over seeds 0-1, advlab 18.6%, ART 4.0% (ART optimises each poison against the clean rows alone), a margin
    far beyond one seed's spread, so the test runs seed 0 alone (17.4% against 2.5%; about 30 s, nearly all ART's)."""
    art_svm = pytest.importorskip("art.attacks.poisoning.poisoning_attack_svm")
    from art.estimators.classification.scikitlearn import ScikitlearnSVC

    # ART logs a success rate through SVC.probability, which scikit-learn 1.9 deprecated to a truthy string
    monkeypatch.setattr(art_svm, "compute_success", lambda *args, **kwargs: 0.0)
    images, labels = ones_and_sevens["train"]
    val_images, val_labels = ones_and_sevens["validation"]

    def one_hot(values):
        return np.eye(2)[(values == 7).long().numpy()]

    ours, theirs = [], []
    for seed in range(1):
        poisoned = SVMPoison(poisons=POISONS).poison(images, labels, seed=seed, validation=(val_images, val_labels))
        ours.append(svm_test_error(poisoned.images, poisoned.labels, ones_and_sevens["test"]))
        clean = ~poisoned.mask()
        x_clean = images[clean].flatten(1).double().numpy()
        classifier = ScikitlearnSVC(model=SVC(C=1.0, kernel="linear"), clip_values=(0.0, 1.0))
        classifier.fit(x_clean, one_hot(labels[clean]))
        attack = art_svm.PoisoningAttackSVM(classifier, step=0.5, eps=1.0, x_train=x_clean,
                                            y_train=one_hot(labels[clean]),
                                            x_val=val_images.flatten(1).double().numpy(),
                                            y_val=one_hot(val_labels), max_iter=50, verbose=False)
        starts = images[poisoned.indices].flatten(1).double().numpy().copy()
        x_poison, _ = attack.poison(starts, y=one_hot(poisoned.labels[poisoned.indices]))
        art_images = torch.cat([images[clean], torch.from_numpy(x_poison).float().reshape(-1, *images.shape[1:])])
        art_labels = torch.cat([labels[clean], poisoned.labels[poisoned.indices]])
        theirs.append(svm_test_error(art_images, art_labels, ones_and_sevens["test"]))
    print(f"\nSVM test error with advlab's poisons {ours}, with ART's {theirs}")
    assert np.mean(ours) >= np.mean(theirs) + 0.05
