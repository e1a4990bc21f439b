"""Back-gradient poisoning of a learner trained by gradient descent.

Muñoz-González, Biggio, Demontis, Paudice, Wongrassamee, Lupu & Roli 2017, "Towards Poisoning of Deep
Learning Algorithms with Back-gradient Optimization", AISec. The attacker moves poisoning points x_c
(labels fixed) to maximise the learner's loss A on its own validation set, where the learner's
weights are the end of T steps of gradient descent on the poisoned training set,

    w_{t+1} = w_t - eta grad_w L(D_tr u D_c, w_t),   t = 0..T-1,   maximise A(D_val, w_T) over x_c.

Algorithm 1 (back-gradient descent) gets dA/dx_c without storing the trajectory: it starts from
dw = grad_w A(w_T) and walks the training back, recovering each earlier weight from the later one,

    w_{t-1} = w_t + eta grad_w L(w_{t-1})      (line 3; the paper evaluates the gradient at w_t),
    dx_c   -= eta dw^T d(grad_w L(w_{t-1}))/dx_c,     dw -= eta dw^T d(grad_w L(w_{t-1}))/dw,

both Hessian-vector products by double backpropagation. The paper's line 3 approximates the step back
with the gradient at w_t; ``reversal_iterations`` fixed-point passes w <- w_t + eta grad L(w) refine it
to the exact inverse of the forward step (it converges while eta times the largest curvature is below 1),
so that on a small problem the back-gradient equals autograd through the unrolled steps to float64
precision. Walking back cannot undo everything, though: gradient descent contracts the stiffest
directions by (1 - eta lambda) per step, and the walk back expands whatever error it carries there by
the inverse, so eta * T must stay modest. With the defaults on digits 1 vs 7 (100 training rows, 20 of
them flipped), the back-gradients of the 20 poisons have a cosine with the exact ones (autograd through
the unrolled steps) of 0.92 on average, 0.85 at worst, for logistic regression (eta 0.2, T 200: the
recovered w_0 is off, but the error sits in directions that the back-propagated dw (I - eta H) damps),
and 0.999 on average, 0.997 at worst, for the MLP (eta 0.05, T 100; its curvature grows as it trains,
and at eta 0.2, T 200 the average falls to 0.2 or below whatever the reversal). Only the direction
matters to the step below.

Algorithm 2 (the poisoning loop) moves the poisons one at a time: for each, train (T steps), take its
back-gradient, and step along it; here a step of length ``step`` along the normalised gradient,
projected into [0, 1], kept only when it raises the validation loss (a one-trial line search, so
the attack never loses ground), for ``rounds`` passes over the poisons.

Learners (binary, labels -> {0, 1}, the larger class 1; training loss the mean logistic loss plus
``weight_decay`` / 2 * ||w||^2; A the mean logistic loss on the validation set): ``"logistic"``
(logistic regression, weights start at 0) and ``"mlp"`` (one tanh hidden layer of ``hidden`` units,
weights drawn from the poison's seed). The poisons are written over randomly chosen training rows,
each starting as its own row with the label flipped (``rounds=0``: random label flips of the same
rows), so the returned set keeps its length. The attacker's validation set is given to ``poison``;
without one, a seeded ``validation_share`` of the training rows plays it (they stay in the training
set and are never poisoned), as for :class:`advlab.poisoning.svm.SVMPoison`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator
from advlab.poisoning.base import PoisonedData, Poisoning
from advlab.poisoning.svm import attack_setup, check_two_classes, check_validation_share, flipped

LEARNERS = ("logistic", "mlp")
# the default (eta, T) per learner, chosen on digits 1 vs 7: the MLP's curvature grows as it trains, and
# walking its training back stays faithful only for a shorter, slower run
TRAINING = {"logistic": (0.2, 200), "mlp": (0.05, 100)}


class BackGradient(Poisoning):
    """Back-gradient poisons (Muñoz-González et al. 2017) of a binary learner trained by T steps of gradient
    descent: ``BackGradient(poisons=20, learner="logistic").poison(images, labels)``.

    Args:
        rate: share of the training set to poison, in (0, 1] (give this or poisons).
        poisons: number of training rows to overwrite with poisons (give this or rate).
        learner: ``"logistic"`` (logistic regression) or ``"mlp"`` (one tanh hidden layer).
        hidden: hidden units of the MLP learner.
        learning_rate: the learner's gradient-descent step eta (None: 0.2 for logistic, 0.05 for the MLP).
        train_steps: the learner's gradient-descent steps T (None: 200 for logistic, 100 for the MLP).
        weight_decay: L2 penalty of the learner's training loss (weight_decay / 2 * ||w||^2).
        step: length (L2, in pixels of [0, 1]) of each move of a poison.
        rounds: passes over the poisons, each moving every poison once (0: random label flips).
        reversal_iterations: fixed-point passes that make each step back exact (0: the paper's line 3).
        validation_share: share of the training rows that becomes the attacker's validation set when
            poison() is given none; they stay in the training set and are never poisoned.
    """

    name = "back-gradient"

    def __init__(self, rate: float | None = None, poisons: int | None = None, learner: str = "logistic",
                 hidden: int = 16, learning_rate: float | None = None, train_steps: int | None = None,
                 weight_decay: float = 0.0, step: float = 2.0, rounds: int = 4, reversal_iterations: int = 3,
                 validation_share: float = 0.5):
        super().__init__(rate, poisons)
        if learner not in LEARNERS:
            raise AdvlabError(f"{self.name}: unknown learner {learner!r}; choose one of {', '.join(LEARNERS)}")
        self.learner = learner
        self.hidden = check_int(f"{self.name}: hidden", hidden, 1)
        rate_default, steps_default = TRAINING[learner]
        self.learning_rate = rate_default if learning_rate is None else \
            check_number(f"{self.name}: learning_rate", learning_rate, 0.0, strict=True)
        self.train_steps = steps_default if train_steps is None else \
            check_int(f"{self.name}: train_steps", train_steps, 1)
        self.weight_decay = check_number(f"{self.name}: weight_decay", weight_decay, 0.0)
        self.step = check_number(f"{self.name}: step", step, 0.0, strict=True)
        self.rounds = check_int(f"{self.name}: rounds", rounds, 0)
        self.reversal_iterations = check_int(f"{self.name}: reversal_iterations", reversal_iterations, 0)
        self.validation_share = check_validation_share(self.name, validation_share)

    # ------------------------------------------------------------------ Algorithm 2: the poisoning loop

    def poison(self, images: Tensor, labels: Tensor, seed: int = 0, validation=None) -> PoisonedData:
        """The training set (images (N, C, H, W) in [0, 1], labels (N,) of two classes) with poisons written
        over ``budget`` seeded random rows, and those rows.

        `validation` is the attacker's (images, labels); None: a ``validation_share`` of the training rows.
        """
        (val_images, val_labels), classes, rows = attack_setup(self, images, labels, seed, validation)
        classes, rows = classes.to(labels.device), rows.to(images.device)
        points = images.detach().flatten(1).double()
        targets = self.targets(labels, classes).to(images.device)
        targets[rows] = 1 - targets[rows]
        val_points = val_images.detach().flatten(1).double().to(images.device)
        val_targets = self.targets(val_labels, classes).to(images.device)
        start = self.initial_weights(points.shape[1], seed, images.device)
        weights = self.train(start, points, targets)
        loss = self.validation_loss(weights, val_points, val_targets)
        state = (points, weights, loss)
        for _ in range(self.rounds):
            for row in rows.tolist():
                state = self.move(row, *state, start, targets, val_points, val_targets)
        points = state[0]
        out_images, out_labels = images.clone(), labels.clone()
        out_images[rows] = points[rows].reshape(-1, *images.shape[1:]).to(images.dtype)
        label_rows = rows.to(labels.device)
        out_labels[label_rows] = flipped(labels[label_rows], classes)
        return PoisonedData(out_images, out_labels, label_rows)

    def move(self, row: int, points: Tensor, weights: Tensor, loss: float, start: Tensor, targets: Tensor,
             val_points: Tensor, val_targets: Tensor) -> tuple[Tensor, Tensor, float]:
        """One step of Algorithm 2 for the poison at `row` of points (n, D): along its normalised back-gradient,
        into [0, 1]; returns (points, w_T, validation loss) after the step, or the ones given when it does not
        raise the loss."""
        gradient = self.hypergradient(weights, points, targets, [row], val_points, val_targets)[0]
        norm = float(gradient.norm())
        if norm == 0 or not math.isfinite(norm):
            return points, weights, loss
        moved = points.clone()
        moved[row] = (points[row] + self.step * gradient / norm).clamp(0, 1)
        moved_weights = self.train(start, moved, targets)
        moved_loss = self.validation_loss(moved_weights, val_points, val_targets)
        if moved_loss > loss:
            return moved, moved_weights, moved_loss
        return points, weights, loss

    def learner_error(self, images: Tensor, labels: Tensor, test_images: Tensor, test_labels: Tensor,
                      seed: int = 0) -> float:
        """Test error of the learner this poison attacks (trained by its own gradient descent from the seeded start)
        on (images, labels) -- a poisoned or a clean training set of the two classes -- on the test set."""
        classes = check_two_classes(labels, self.name)
        points = images.detach().flatten(1).double()
        weights = self.train(self.initial_weights(points.shape[1], seed, points.device), points,
                             self.targets(labels, classes).to(points.device))
        with torch.no_grad():
            predicted = self.logits(weights, test_images.detach().flatten(1).double().to(points.device)) > 0
        return float((predicted.cpu() != (test_labels.cpu() == classes[1].cpu())).double().mean())

    @staticmethod
    def targets(labels: Tensor, classes: Tensor) -> Tensor:
        """1.0 for the larger of the two classes, 0.0 for the smaller (float64 (N,))."""
        return (labels == classes[1]).double()

    # ------------------------------------------------------------------ the learner

    def initial_weights(self, features: int, seed: int, device: torch.device | str = "cpu") -> Tensor:
        """w_0, flat float64: zeros for logistic regression (D + 1); for the MLP (H D + 2 H + 1) first-layer
        weights ~ N(0, 1 / D) and output weights ~ N(0, 1 / H) drawn with `seed`, biases 0."""
        if self.learner == "logistic":
            return torch.zeros(features + 1, dtype=torch.float64, device=device)
        generator = make_generator(seed, torch.device("cpu"))
        first = torch.randn(self.hidden * features, generator=generator, dtype=torch.float64) / math.sqrt(features)
        second = torch.randn(self.hidden, generator=generator, dtype=torch.float64) / math.sqrt(self.hidden)
        zeros = torch.zeros(self.hidden, dtype=torch.float64)
        return torch.cat([first, zeros, second, torch.zeros(1, dtype=torch.float64)]).to(device)

    def logits(self, weights: Tensor, points: Tensor) -> Tensor:
        """The learner's logits (n,) for points (n, D) under flat weights."""
        features = points.shape[1]
        if self.learner == "logistic":
            return points @ weights[:features] + weights[features]
        size = self.hidden * features
        first = weights[:size].view(self.hidden, features)
        bias, second, out_bias = weights[size:size + self.hidden], weights[size + self.hidden:-1], weights[-1]
        return torch.tanh(points @ first.T + bias) @ second + out_bias

    def training_loss(self, weights: Tensor, points: Tensor, targets: Tensor) -> Tensor:
        """Mean logistic loss of (points (n, D), targets (n,) in {0, 1}) plus weight_decay / 2 * ||w||^2."""
        loss = F.binary_cross_entropy_with_logits(self.logits(weights, points), targets)
        return loss + 0.5 * self.weight_decay * weights.square().sum()

    def validation_loss(self, weights: Tensor, val_points: Tensor, val_targets: Tensor) -> float:
        """A: the mean logistic loss on the attacker's validation set."""
        with torch.no_grad():
            return float(F.binary_cross_entropy_with_logits(self.logits(weights, val_points), val_targets))

    def weight_gradient(self, weights: Tensor, points: Tensor, targets: Tensor) -> Tensor:
        """grad_w of the training loss, without a graph."""
        weights = weights.detach().requires_grad_()
        with torch.enable_grad():
            return torch.autograd.grad(self.training_loss(weights, points, targets), weights)[0]

    def train(self, weights: Tensor, points: Tensor, targets: Tensor) -> Tensor:
        """w_T after train_steps of gradient descent from `weights` on (points, targets)."""
        for _ in range(self.train_steps):
            weights = weights - self.learning_rate * self.weight_gradient(weights, points, targets)
        return weights.detach()

    def unstep(self, weights: Tensor, points: Tensor, targets: Tensor) -> Tensor:
        """w_{t-1} from w_t: the paper's w_t + eta grad L(w_t), then ``reversal_iterations`` passes of
        w <- w_t + eta grad L(w), whose fixed point undoes the forward step exactly."""
        earlier = weights + self.learning_rate * self.weight_gradient(weights, points, targets)
        for _ in range(self.reversal_iterations):
            earlier = weights + self.learning_rate * self.weight_gradient(earlier, points, targets)
        return earlier

    # ------------------------------------------------------------------ Algorithm 1: back-gradient descent

    def hypergradient(self, weights: Tensor, points: Tensor, targets: Tensor, rows: list[int] | Tensor,
                      val_points: Tensor, val_targets: Tensor) -> Tensor:
        """dA(D_val, w_T)/d points[rows] (len(rows), D), where `weights` is w_T, the end of ``train`` on
        (points (n, D), targets (n,)) from w_0: Algorithm 1, walking the T steps back from w_T."""
        rows = torch.as_tensor(rows, dtype=torch.long, device=points.device)
        with torch.enable_grad():
            final = weights.detach().requires_grad_()
            loss = F.binary_cross_entropy_with_logits(self.logits(final, val_points), val_targets)
            d_weights = torch.autograd.grad(loss, final)[0]
        d_points = torch.zeros(len(rows), points.shape[1], dtype=points.dtype, device=points.device)
        current = weights.detach()
        for _ in range(self.train_steps):
            current = self.unstep(current, points, targets)
            d_step_weights, d_step_points = self.step_products(current, points, targets, rows, d_weights)
            d_points -= self.learning_rate * d_step_points
            d_weights = d_weights - self.learning_rate * d_step_weights
        return d_points

    def step_products(self, weights: Tensor, points: Tensor, targets: Tensor, rows: Tensor,
                      vector: Tensor) -> tuple[Tensor, Tensor]:
        """vector^T d(grad_w L)/dw (P,) and vector^T d(grad_w L)/d points[rows] (len(rows), D) at `weights`."""
        with torch.enable_grad():
            weights = weights.detach().requires_grad_()
            chosen = points[rows].detach().requires_grad_()
            poisoned = points.index_put((rows,), chosen)
            gradient = torch.autograd.grad(self.training_loss(weights, poisoned, targets), weights,
                                           create_graph=True)[0]
            return torch.autograd.grad(gradient, (weights, chosen), grad_outputs=vector)

    def options(self) -> dict:
        return {**super().options(), "learner": self.learner, "hidden": self.hidden,
                "learning_rate": self.learning_rate, "train_steps": self.train_steps,
                "weight_decay": self.weight_decay, "step": self.step, "rounds": self.rounds,
                "reversal_iterations": self.reversal_iterations, "validation_share": self.validation_share}
