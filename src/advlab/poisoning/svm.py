"""Poisoning a support vector machine by gradient ascent on its validation hinge loss.

Biggio, Nelson & Laskov 2012, "Poisoning Attacks against Support Vector Machines", ICML, sec. 3.
The attacker adds a point (x_c, y_c) to the training set D_tr and moves x_c to maximise the hinge
loss of the retrained SVM on its own validation set D_val (m points, labels y_k in {-1, +1}),

    L(x_c) = sum_k (1 - y_k f_{x_c}(x_k))_+ = sum_k (-g_k)_+,   g_k = sum_j Q_kj alpha_j + y_k b - 1,

with Q_ij = y_i y_j K(x_i, x_j). The gradient comes from the KKT conditions of the SVM (the
"adiabatic update", eqs. (8)-(9)): while x_c moves by a small step the margin support vectors S
(0 < alpha < C) stay on the margin (g_s = 0) and sum_j y_j alpha_j stays 0, so

    [ 0    y_s^T ] [ db/du       ]          [ 0        ]
    [ y_s  Q_ss  ] [ dalpha_s/du ] = -alpha_c [ dQ_sc/du ],

and the gradient of the loss (eq. (10)) sums over the validation points with g_k < 0:

    dL/du = -sum_k ( Q_ks dalpha_s/du + alpha_c dQ_kc/du + y_k db/du ).

The system is solved by least squares rather than by eq. (9)'s explicit inverse (with the linear
kernel Q_ss is singular as soon as there are more margin vectors than input dimensions plus one;
the decision function, all the loss depends on, is still determined). The attack point's own
alpha_c is held fixed, as in the paper: a point with alpha_c = 0 has no gradient, which is why each
poison starts as a point of one class relabelled as the other (it then sits inside the wrong class
and usually ends with alpha_c = C). Kernels: linear, dK(x_k, u)/du = x_k; RBF
K = exp(-gamma ||x_k - u||^2), dK/du = 2 gamma (x_k - u) K.

Here the loss is the paper's sum divided by m (the same direction). Each step moves the poison by
``step`` along the normalised gradient and projects it into [0, 1] (the paper's Algorithm 1 with a
box constraint); the SVM (scikit-learn's SVC) is refitted after every step, and a poison keeps the
iterate with the highest validation loss.

Several poisons (the paper's multi-point experiments) are written over ``budget`` randomly chosen training
rows, so the returned set keeps its length. Each starts as its own row with the label flipped -- a
point of one class relabelled as the other, as in the paper (so ``steps=0`` is a random label flip
of the same rows) -- and they are optimised greedily, one after another: the j-th moves against the
SVM trained on the whole current set, in which poisons 1..j-1 are already optimised and j+1..n are
still label flips (``rounds`` > 1 repeats the pass). The paper adds the poisons one by one to the
clean set instead; with the later poisons already present as flips, the same budget hurts more (on
digits 1 vs 7, 100 training rows, 20 poisons, mean test error over 4 seeds 19% against 13%).

The attacker's validation set is given to ``poison(..., validation=(images, labels))``; without one,
a seeded ``validation_share`` (default half) of the training rows plays it: those rows stay in the
training set unchanged (the learner sees them too) and are never poisoned. Binary problems only:
labels of more or fewer than two classes are an error that points to ``--classes A,B``.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.svm import SVC
from torch import Tensor

from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator
from advlab.poisoning.base import PoisonedData, Poisoning, check_training_set

KERNELS = ("linear", "rbf")
SOLVER_TOLERANCE = 1e-9  # libsvm's stopping tolerance: tight, so the KKT conditions behind the gradient hold
SUPPORT_MARGIN = 1e-6  # alpha within this share of C from 0 or C counts as at that bound


def check_two_classes(labels: Tensor, name: str) -> Tensor:
    """The two classes in `labels`, sorted (2,); any other number of classes is an AdvlabError."""
    classes = labels.unique().sort().values
    if len(classes) != 2:
        raise AdvlabError(f"{name} poisons a binary classifier, but the labels have {len(classes)} classes: "
                          "choose two with --classes A,B")
    return classes


def check_validation(validation, classes: Tensor, sample_shape: tuple[int, ...], name: str) -> tuple[Tensor, Tensor]:
    """The attacker's validation (images, labels): images like the training ones, labels of the same two classes."""
    if not isinstance(validation, (tuple, list)) or len(validation) != 2:
        raise AdvlabError(f"{name}: validation must be a pair (images, labels)")
    images, labels = validation
    check_training_set(images, labels)
    if len(images) == 0 or tuple(images.shape[1:]) != sample_shape:
        raise AdvlabError(f"{name}: validation images must be (M, {', '.join(map(str, sample_shape))}) with M >= 1, "
                          f"got {tuple(images.shape)}")
    if not bool(torch.isin(labels.cpu(), classes.cpu()).all()):
        raise AdvlabError(f"{name}: validation labels must be of the training classes {classes.tolist()}")
    return images, labels


def split_validation(count: int, share: float, seed: int) -> tuple[Tensor, Tensor]:
    """(validation rows, other rows) of `count` training rows: round(share * count) rows drawn with `seed`,
    at least one and leaving at least one, both sorted."""
    order = torch.randperm(count, generator=make_generator(seed, torch.device("cpu")))
    cut = min(max(1, round(share * count)), count - 1)
    return order[:cut].sort().values, order[cut:].sort().values


def attacker_sets(images: Tensor, labels: Tensor, validation, share: float, seed: int, name: str):
    """The attacker's validation (images, labels) and the training rows that may be poisoned.

    With `validation` None a seeded share of the training rows is the validation set: those rows stay
    in the training set (the learner sees them) but are never poisoned."""
    classes = check_two_classes(labels, name)
    if validation is not None:
        return check_validation(validation, classes, tuple(images.shape[1:]), name), torch.arange(len(labels))
    if len(labels) < 2:
        raise AdvlabError(f"{name}: needs at least 2 training rows to split off a validation set")
    held, rest = split_validation(len(labels), share, seed + 1)
    return (images[held.to(images.device)], labels[held.to(labels.device)]), rest


def check_validation_share(name: str, share) -> float:
    """The share of the training rows an availability poison splits off as its validation set, in (0, 1)."""
    share = check_number(f"{name}: validation_share", share, 0.0, strict=True)
    if share >= 1:
        raise AdvlabError(f"{name}: validation_share must be a share in (0, 1), got {share!r}")
    return share


def attack_setup(poison: Poisoning, images: Tensor, labels: Tensor, seed: int,
                 validation) -> tuple[tuple[Tensor, Tensor], Tensor, Tensor]:
    """What an availability poison of two classes starts from: the attacker's validation set (given, or a seeded
    ``validation_share`` of the rows), the two classes (CPU) and the rows to poison (CPU, sorted), drawn from
    the rows outside the validation set."""
    check_training_set(images, labels)
    validation, candidates = attacker_sets(images, labels, validation, poison.validation_share, seed, poison.name)
    classes = check_two_classes(labels, poison.name).cpu()
    return validation, classes, poison.choose_rows(candidates, len(labels), seed)


def flipped(labels: Tensor, classes: Tensor) -> Tensor:
    """Each label of the two `classes` replaced by the other one."""
    return torch.where(labels == classes[0], classes[1], classes[0])


class SVMPoison(Poisoning):
    """Biggio et al. 2012's gradient-ascent poisons of a binary SVM: ``SVMPoison(poisons=20).poison(x, y)``.

    Args:
        rate: share of the training set to poison, in (0, 1] (give this or poisons).
        poisons: number of training rows to overwrite with poisons (give this or rate).
        kernel: the SVM's kernel, ``"linear"`` or ``"rbf"``.
        C: the SVM's regularisation constant (the bound on each alpha).
        gamma: RBF width (None: scikit-learn's "scale", 1 / (D * variance) of the clean training images).
        step: length (L2, in pixels of [0, 1]) of each gradient step on a poison; the paper's t.
        steps: gradient steps per poison (0: the poisons are random label flips).
        rounds: passes over the poisons (each pass moves every poison once more, the others in place).
        validation_share: share of the training rows that becomes the attacker's validation set when
            poison() is given none; they stay in the training set and are never poisoned.
    """

    name = "svm"

    def __init__(self, rate: float | None = None, poisons: int | None = None, kernel: str = "linear",
                 C: float = 1.0, gamma: float | None = None, step: float = 0.5, steps: int = 50, rounds: int = 1,
                 validation_share: float = 0.5):
        super().__init__(rate, poisons)
        if kernel not in KERNELS:
            raise AdvlabError(f"{self.name}: unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
        self.kernel = kernel
        self.C = check_number(f"{self.name}: C", C, 0.0, strict=True)
        self.gamma = None if gamma is None else check_number(f"{self.name}: gamma", gamma, 0.0, strict=True)
        self.step = check_number(f"{self.name}: step", step, 0.0, strict=True)
        self.steps = check_int(f"{self.name}: steps", steps, 0)
        self.rounds = check_int(f"{self.name}: rounds", rounds, 1)
        self.validation_share = check_validation_share(self.name, validation_share)

    # ------------------------------------------------------------------ the poisoning loop

    def poison(self, images: Tensor, labels: Tensor, seed: int = 0, validation=None) -> PoisonedData:
        """The training set (images (N, C, H, W) in [0, 1], labels (N,) of two classes) with poisons written
        over ``budget`` seeded random rows, and those rows.

        `validation` is the attacker's (images, labels); None: a ``validation_share`` of the training rows.
        """
        (val_images, val_labels), classes, rows = attack_setup(self, images, labels, seed, validation)
        points = images.detach().flatten(1).cpu().double()
        signs = self.signs(labels.cpu(), classes)
        signs[rows] = -signs[rows]
        gamma = self.width(points)
        val_points = val_images.detach().flatten(1).cpu().double()
        val_signs = self.signs(val_labels.cpu(), classes)
        for _ in range(self.rounds):
            for row in rows.tolist():
                others = torch.arange(len(points)) != row
                points[row] = self.ascend(points[others], signs[others], points[row], signs[row], val_points,
                                          val_signs, gamma)
        out_images, out_labels = images.clone(), labels.clone()
        poisons = points[rows].reshape(-1, *images.shape[1:]).to(device=images.device, dtype=images.dtype)
        out_images[rows.to(images.device)] = poisons
        out_labels[rows.to(labels.device)] = flipped(labels[rows.to(labels.device)], classes.to(labels.device))
        return PoisonedData(out_images, out_labels, rows.to(labels.device))

    def ascend(self, train_points: Tensor, train_signs: Tensor, start: Tensor, sign: Tensor,
               val_points: Tensor, val_signs: Tensor, gamma: float) -> Tensor:
        """One poison (D,) with label `sign` (+-1), moved from `start` by ``steps`` normalised gradient steps
        on the validation hinge loss of the SVM trained on train_points (n, D) plus the poison; the best
        iterate. `gamma` is the RBF width (ignored by the linear kernel)."""
        points = torch.cat([train_points, start[None].clone()])
        signs = torch.cat([train_signs, sign[None]])
        best, best_loss = start.clone(), -float("inf")
        for iteration in range(self.steps + 1):
            svm = self.fit(points, signs, gamma)
            loss = self.validation_loss(svm, val_points, val_signs)
            if loss > best_loss:
                best, best_loss = points[-1].clone(), loss
            if iteration == self.steps:
                break
            gradient = self.gradient(svm, points, signs, len(points) - 1, val_points, val_signs, gamma)
            norm = float(gradient.norm())
            if norm == 0:
                break
            points[-1] = (points[-1] + self.step * gradient / norm).clamp(0, 1)
        return best

    def learner_error(self, images: Tensor, labels: Tensor, test_images: Tensor, test_labels: Tensor) -> float:
        """Test error of the SVM this poison attacks (its kernel, C and gamma) trained on (images, labels) -- a
        poisoned or a clean training set of the two classes -- on (test_images, test_labels)."""
        classes = check_two_classes(labels, self.name).cpu()
        points = images.detach().flatten(1).cpu().double()
        svm = self.fit(points, self.signs(labels.cpu(), classes), self.width(points))
        predicted = self.decision(svm, test_images.detach().flatten(1).cpu().double()) > 0
        return float((predicted != (test_labels.cpu() == classes[1])).double().mean())

    # ------------------------------------------------------------------ the SVM and its gradient

    @staticmethod
    def signs(labels: Tensor, classes: Tensor) -> Tensor:
        """+1.0 for the larger of the two classes, -1.0 for the smaller (float64 (N,))."""
        return torch.where(labels == classes[1], 1.0, -1.0).double()

    def width(self, points: Tensor) -> float:
        """The RBF width gamma: the one given, else scikit-learn's "scale" of the clean points (n, D),
        1 / (D * variance), fixed for the whole attack."""
        if self.gamma is not None:
            return self.gamma
        variance = float(points.var())
        return 1.0 / (points.shape[1] * variance) if variance > 0 else 1.0

    def fit(self, points: Tensor, signs: Tensor, gamma: float = 1.0) -> SVC:
        """scikit-learn's SVC with this poison's kernel and C, fitted to points (n, D) float64 and signs (n,) +-1."""
        svm = SVC(C=self.C, kernel=self.kernel, gamma=gamma, tol=SOLVER_TOLERANCE)
        return svm.fit(points.numpy(), signs.numpy())

    def kernel_matrix(self, rows: Tensor, columns: Tensor, gamma: float) -> Tensor:
        """K(rows[i], columns[j]) (n, m) for points rows (n, D) and columns (m, D)."""
        if self.kernel == "linear":
            return rows @ columns.T
        return torch.exp(-gamma * torch.cdist(rows, columns).square())

    def kernel_gradient(self, points: Tensor, attack: Tensor, gamma: float) -> Tensor:
        """dK(points[k], u)/du at u = attack (D,), one row per point (n, D)."""
        if self.kernel == "linear":
            return points.clone()
        weights = self.kernel_matrix(points, attack[None], gamma)
        return 2 * gamma * (points - attack[None]) * weights

    @staticmethod
    def decision(svm: SVC, points: Tensor) -> Tensor:
        """f(x) (n,) of the fitted SVM at points (n, D); positive means sign +1."""
        return torch.from_numpy(svm.decision_function(points.numpy())).double()

    def validation_loss(self, svm: SVC, val_points: Tensor, val_signs: Tensor) -> float:
        """Mean hinge loss (1/m) sum_k (1 - y_k f(x_k))_+ over the validation points (m, D)."""
        return float((1 - val_signs * self.decision(svm, val_points)).clamp(min=0).mean())

    def gradient(self, svm: SVC, points: Tensor, signs: Tensor, index: int, val_points: Tensor,
                 val_signs: Tensor, gamma: float = 1.0) -> Tensor:
        """d validation_loss / d points[index] (D,) for the SVM fitted to (points (n, D), signs (n,)) with RBF
        width `gamma`, by eqs. (8)-(10): the margin support vectors stay on the margin while the point moves."""
        alpha = torch.zeros(len(points), dtype=torch.float64)
        alpha[torch.from_numpy(svm.support_).long()] = torch.from_numpy(np.abs(svm.dual_coef_[0])).double()
        alpha_c, sign_c, attack = float(alpha[index]), float(signs[index]), points[index]
        inside = (self.decision(svm, val_points) * val_signs) < 1  # the validation points with a hinge loss
        if alpha_c == 0 or not bool(inside.any()):
            return torch.zeros_like(attack)
        margin = (alpha > SUPPORT_MARGIN * self.C) & (alpha < (1 - SUPPORT_MARGIN) * self.C)
        margin[index] = False
        support, support_signs = points[margin], signs[margin]
        d_bias, d_alpha = self.support_derivatives(support, support_signs, attack, sign_c, alpha_c, gamma)
        violators, violator_signs = val_points[inside], val_signs[inside]
        # d g_k / du = Q_ks dalpha_s/du + alpha_c dQ_kc/du + y_k db/du, with Q_ks = y_k y_s K_ks
        k_vs = self.kernel_matrix(violators, support, gamma)
        d_margin = violator_signs[:, None] * (k_vs @ (support_signs[:, None] * d_alpha))
        d_margin += alpha_c * sign_c * violator_signs[:, None] * self.kernel_gradient(violators, attack, gamma)
        d_margin += violator_signs[:, None] * d_bias[None]
        return -d_margin.sum(0) / len(val_points)

    def support_derivatives(self, support: Tensor, support_signs: Tensor, attack: Tensor, sign_c: float,
                            alpha_c: float, gamma: float) -> tuple[Tensor, Tensor]:
        """(db/du (D,), dalpha_s/du (s, D)) from the bordered KKT system of eq. (8), by least squares."""
        size = len(support)
        q_ss = support_signs[:, None] * support_signs[None] * self.kernel_matrix(support, support, gamma)
        system = torch.zeros(size + 1, size + 1, dtype=torch.float64)
        system[0, 1:], system[1:, 0], system[1:, 1:] = support_signs, support_signs, q_ss
        d_q_sc = (support_signs * sign_c)[:, None] * self.kernel_gradient(support, attack, gamma)
        right = torch.cat([torch.zeros(1, len(attack), dtype=torch.float64), -alpha_c * d_q_sc])
        solution = torch.linalg.lstsq(system, right, driver="gelsd").solution
        return solution[0], solution[1:]

    def options(self) -> dict:
        return {**super().options(), "kernel": self.kernel, "C": self.C, "gamma": self.gamma, "step": self.step,
                "steps": self.steps, "rounds": self.rounds, "validation_share": self.validation_share}
