"""Interval bound propagation (IBP): certified Linf robustness, and the verified training that makes it large.

Gowal, Dvijotham, Stanforth, Bunel, Qin, Uesato, Arandjelovic, Mann & Kohli 2019, "Scalable Verified Training for
Provably Robust Image Classification" (ICCV; arXiv 1810.12715, "On the Effectiveness of Interval Bound Propagation
for Training Verifiably Robust Models"), sec. 3.

Bounds (sec. 3.1). The input box is the Linf ball of radius eps around x, cut to the image range:
z_0 in [max(x - eps, 0), min(x + eps, 1)]. Layer by layer the box is propagated in centre/radius form,
mu = (upper + lower) / 2 and r = (upper - lower) / 2; an affine layer h(z) = W z + b gives (eq. 6)

    mu_k = W mu_{k-1} + b,        r_k = |W| r_{k-1},

(Linear, Conv2d, a per-channel Normalize, BatchNorm in eval mode, average pooling -- all affine), and a monotonic
elementwise map h gives lower_k = h(lower_{k-1}), upper_k = h(upper_{k-1}) (ReLU and the other monotonic
activations; max pooling is monotonic in each input, so the same rule holds for it). Flatten, Identity and
Dropout in eval mode pass the box on unchanged.

Specification and worst-case logits (sec. 3.2, eq. 7-8). The label y is robust when z_y - z_y' > 0 for every
y' != y and every input in the box. Rather than bound the logits and subtract (lower_y - upper_y', looser), the
last linear layer z = W h + b is folded into the specification ("elision of the last layer"): with
c_y' = e_y - e_y', c^T z = (W_y - W_y') h + (b_y - b_y'), and its lower bound over the box of h is

    m_y' = (W_y - W_y') mu + (b_y - b_y') - |W_y - W_y'| r,       m_y = 0.

The worst-case logits are z_hat_y' = -m_y' (eq. 8): the image is certified when every m_y' > 0, i.e. when the
argmax of z_hat is y with a margin. A model whose last layer is not linear gets m_y' = lower_y - upper_y'.

Loss (sec. 3.3, eq. 9-10): L = kappa CE(z(x), y) + (1 - kappa) CE(z_hat(eps), y). At eps 0 the box is the point
x and z_hat = z - z_y, whose cross-entropy is the clean one; kappa 1 is plain training.

Training procedure (sec. 4): a warm-up of nominal training (eps 0, kappa 1), then eps ramped linearly from 0 to
eps_train while kappa goes linearly from 1 to kappa_final (0.5), then both held. On MNIST the authors warm up for
2K of their 60K steps and ramp over the next 10K (their code: warmup_steps 2000, rampup_steps 10000), and train at
eps_train above the eps they verify; the 1.1 eps of their code (epsilon_train 0.33 for epsilon 0.3) is the
default ``train_eps_factor`` here. advlab's training runs ramp over ``eps_warmup`` epochs (a fifth of the run
when unset) after a warm-up a fifth as long, the paper's 2K:10K.

Soundness: the bounds hold for every input in the box in exact arithmetic; in float32 rounding can move them by
about 1e-6 relative, far below the margins a trained network certifies with. Certified accuracy is therefore a
lower bound of the accuracy under any Linf attack of radius eps: no attack can go below it on the same images.
ART's IBP classifier (art.estimators.certification.interval) propagates the same intervals (Conv2d, Linear and
ReLU only; its convolutions are unrolled to dense matrices) but certifies from the logit bounds, lower_y >
upper_y' for all y', without the elision above, which is looser.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.attacks.base import check_images, check_labels
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.defenses.robust_training import AdversarialObjective, TrainingStep
from advlab.models import LeNet5, MadryCNN, MLPClassifier, Normalize, SmallCNN

NAME = "IBP"
# classifiers whose forward applies their child modules in the order they were registered
SEQUENTIAL_MODELS = (nn.Sequential, SmallCNN, MadryCNN, LeNet5, MLPClassifier)
MONOTONIC = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Softplus,
             nn.MaxPool1d, nn.MaxPool2d, nn.AdaptiveMaxPool2d)
SHAPES = (nn.Flatten, nn.Unflatten, nn.Identity)
POOLS = (nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d)
SUPPORTED = ("Linear, Conv1d/Conv2d, ReLU and the monotonic activations, Max/AvgPool, BatchNorm (eval mode), "
             "Dropout (eval mode), Flatten, Normalize, Sequential")
EVAL_BATCH = 1024


# ---------------------------------------------------------------------- the layers


def layers_of(model: nn.Module) -> list[nn.Module]:
    """The model as the list of layers its forward applies in turn (Sequential and advlab's classifiers unrolled)."""
    if type(model) in SEQUENTIAL_MODELS or isinstance(model, nn.Sequential):
        return [layer for child in model.children() for layer in layers_of(child)]
    return [model]


def check_layer(layer: nn.Module) -> None:
    """Refuse a layer IBP has no rule for (or one whose rule needs eval mode) in one line naming it."""
    known = (nn.Linear, nn.Conv1d, nn.Conv2d, Normalize, *MONOTONIC, *SHAPES, *POOLS, *BATCH_NORMS, *DROPOUTS)
    if not isinstance(layer, known) or (isinstance(layer, nn.LeakyReLU) and layer.negative_slope < 0):
        raise AdvlabError(f"{NAME}: layer {type(layer).__name__} is not supported (supported: {SUPPORTED})")
    if isinstance(layer, DROPOUTS) and layer.training and layer.p > 0:
        raise AdvlabError(f"{NAME}: {type(layer).__name__} in training mode is random; put the model in eval mode")
    if isinstance(layer, BATCH_NORMS) and (layer.training or layer.running_mean is None):
        raise AdvlabError(f"{NAME}: {type(layer).__name__} must be in eval mode with running statistics (in training "
                          "mode it normalises by the batch's statistics, which the bounds cannot follow)")


def affine_parts(layer: nn.Module) -> tuple[Tensor, Tensor] | None:
    """(scale, shift) per channel of a Normalize or an eval-mode BatchNorm, shaped to broadcast; else None."""
    if isinstance(layer, Normalize):
        return 1 / layer.std, -layer.mean / layer.std
    if isinstance(layer, BATCH_NORMS):
        scale = (layer.running_var + layer.eps).rsqrt()
        scale = scale if layer.weight is None else scale * layer.weight
        shift = -layer.running_mean * scale + (0 if layer.bias is None else layer.bias)
        return scale, shift
    return None


def propagate(layer: nn.Module, lower: Tensor, upper: Tensor) -> tuple[Tensor, Tensor]:
    """The box (lower, upper) after `layer`: eq. (6) for the affine layers, elementwise for the monotonic ones."""
    check_layer(layer)
    if isinstance(layer, (*MONOTONIC, *SHAPES, *DROPOUTS)):
        return layer(lower), layer(upper)
    centre, radius = (upper + lower) / 2, (upper - lower) / 2
    if isinstance(layer, nn.Linear):
        centre, radius = layer(centre), F.linear(radius, layer.weight.abs())
    elif isinstance(layer, (nn.Conv1d, nn.Conv2d)):
        centre, radius = layer(centre), layer._conv_forward(radius, layer.weight.abs(), None)
    elif isinstance(layer, POOLS):  # a mean: an affine map with weights >= 0
        centre, radius = layer(centre), layer(radius)
    else:
        scale, shift = affine_parts(layer)
        view = (1, -1) + (1,) * (centre.ndim - 2)
        scale, shift = scale.view(view), shift.view(view)
        centre, radius = centre * scale + shift, radius * scale.abs()
    return centre - radius, centre + radius


# ---------------------------------------------------------------------- bounds


def check_eps(eps) -> float:
    """An Linf radius >= 0 (the box is cut to [0, 1] anyway)."""
    return check_number(f"{NAME}: eps", eps)


def input_box(images: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """The Linf ball of radius eps around the images, cut to [0, 1]."""
    return (images - eps).clamp(0.0, 1.0), (images + eps).clamp(0.0, 1.0)


def prepared(model: nn.Module, images, eps) -> tuple[list[nn.Module], Tensor, float]:
    """(the model's layers, checked, the images on its device, eps), or one AdvlabError line."""
    layers = layers_of(model)
    for layer in layers:
        check_layer(layer)
    eps = check_eps(eps)
    images = check_images(images, NAME)
    parameter = next(model.parameters(), None)
    return layers, images if parameter is None else images.to(parameter.device, parameter.dtype), eps


def box_through(layers: list[nn.Module], lower: Tensor, upper: Tensor) -> tuple[Tensor, Tensor]:
    for layer in layers:
        lower, upper = propagate(layer, lower, upper)
    return lower, upper


def interval_bounds(model: nn.Module, images: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """(lower, upper) of the logits, each (N, classes), over every input within Linf `eps` of `images` in [0, 1].

    The model runs in the mode it is in (an eval-mode model for certification); gradients flow unless the caller
    turns them off. At eps 0 both equal the logits.
    """
    layers, images, eps = prepared(model, images, eps)
    return box_through(layers, *input_box(images, eps))


def margin_bounds(model: nn.Module, images: Tensor, labels: Tensor, eps: float) -> Tensor:
    """(N, classes): m_y' <= z_y - z_y' for every input of the box (eq. 8, the last linear layer folded into the
    specification); the label's own column is 0. The image is certified when every other column is > 0."""
    layers, images, eps = prepared(model, images, eps)
    labels = check_labels(labels, len(images), NAME, "labels").to(images.device)
    last = layers[-1]
    if not isinstance(last, nn.Linear):  # no linear layer to fold: subtract the logit bounds
        lower, upper = box_through(layers, *input_box(images, eps))
        check_classes(labels, lower.shape[1])
        return (lower.gather(1, labels[:, None]) - upper).scatter(1, labels[:, None], 0.0)
    lower, upper = box_through(layers[:-1], *input_box(images, eps))
    check_classes(labels, last.out_features)
    centre, radius = (upper + lower) / 2, (upper - lower) / 2
    weight = last.weight[labels][:, None, :] - last.weight[None]  # (N, classes, hidden): W_y - W_y'
    bias = 0 if last.bias is None else last.bias[labels][:, None] - last.bias[None]
    spec_centre = torch.einsum("nkh,nh->nk", weight, centre) + bias
    return spec_centre - torch.einsum("nkh,nh->nk", weight.abs(), radius)


def check_classes(labels: Tensor, classes: int) -> None:
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise AdvlabError(f"{NAME}: labels must be class indices in [0, {classes}), got {int(labels.min())}.."
                          f"{int(labels.max())}")


def worst_case_logits(model: nn.Module, images: Tensor, labels: Tensor, eps: float) -> Tensor:
    """z_hat(eps) of eq. (8), (N, classes): -m_y' for y' != y, 0 for y."""
    return -margin_bounds(model, images, labels, eps)


def certified(model: nn.Module, images: Tensor, labels: Tensor, eps: float) -> Tensor:
    """(N,) bool on the CPU: every input within Linf `eps` of the image (in [0, 1]) is classified as its label, by
    IBP's bounds (the model in eval mode, no gradients, in batches)."""
    with torch.no_grad(), evaluating(model):
        _, images, eps = prepared(model, images, eps)
        labels = check_labels(labels, len(images), NAME, "labels").to(images.device)
        margins = torch.cat([margin_bounds(model, images[first:first + EVAL_BATCH], labels[first:first + EVAL_BATCH],
                                           eps) for first in range(0, len(images), EVAL_BATCH)])
    others = margins.scatter(1, labels[:, None], torch.inf)  # the label's own column never counts
    return (others > 0).all(1).cpu()


def certified_accuracy(model: nn.Module, images: Tensor, labels: Tensor, eps: float) -> float:
    """The share of the images IBP certifies at Linf `eps` (a lower bound of the robust accuracy at eps)."""
    flags = certified(model, images, labels, eps)
    return int(flags.sum()) / len(flags)


# ---------------------------------------------------------------------- training


def ibp_loss(model: nn.Module, images: Tensor, labels: Tensor, eps: float, kappa: float) -> tuple[Tensor, Tensor]:
    """(eq. 9-10's loss kappa CE(z, y) + (1 - kappa) CE(z_hat(eps), y), the clean logits z)."""
    logits = model(images)
    loss = F.cross_entropy(logits, labels)
    if kappa >= 1:
        return loss, logits
    worst = worst_case_logits(model, images, labels, eps)
    return kappa * loss + (1 - kappa) * F.cross_entropy(worst, labels), logits


class IBPTraining(AdversarialObjective):
    """Verified training with interval bound propagation (Gowal et al. 2019, eq. 10 and sec. 4's schedule).

    ``eps`` is the radius the run is judged at (the per-epoch PGD-10 and the certified accuracy); the bounds are
    trained at ``train_eps_factor`` times it (capped at 1). Minibatch b (counted from 0) trains at eps 0 and
    kappa 1 while b < ``warmup_batches``, then at t eps_train and kappa 1 - t (1 - kappa_final) with
    t = (b - warmup_batches + 1) / ramp_batches until t reaches 1, then at eps_train and kappa_final.

    Args:
        eps: Linf radius the model is to be certified at, in (0, 1].
        kappa: the final weight of the clean cross-entropy (the paper's kappa_final, 0.5); 1 - kappa weighs the
            worst-case one.
        train_eps_factor: eps_train / eps (the authors' 1.1: epsilon_train 0.33 for epsilon 0.3).
        warmup_batches: minibatches of nominal training first (eps 0, kappa 1).
        ramp_batches: minibatches over which eps and kappa then move linearly to their final values (0: none).
    """

    name = "ibp"

    def __init__(self, eps: float, kappa: float = 0.5, train_eps_factor: float = 1.1, warmup_batches: int = 0,
                 ramp_batches: int = 0):
        super().__init__(eps)
        self.kappa = check_number(f"{self.name}: kappa", kappa)
        if self.kappa > 1:
            raise AdvlabError(f"{self.name}: kappa must be a number in [0, 1], got {kappa!r}")
        self.train_eps_factor = check_number(f"{self.name}: train_eps_factor", train_eps_factor, strict=True)
        self.warmup_batches = check_int(f"{self.name}: warmup_batches", warmup_batches, 0)
        self.ramp_batches = check_int(f"{self.name}: ramp_batches", ramp_batches, 0)
        self.train_eps = min(1.0, self.eps * self.train_eps_factor)
        self.trained_batches = 0

    def schedule(self, batch: int) -> tuple[float, float]:
        """(eps, kappa) of minibatch `batch` (counted from 0)."""
        if batch < self.warmup_batches:
            return 0.0, 1.0
        ramped = batch - self.warmup_batches + 1
        progress = 1.0 if ramped >= self.ramp_batches else ramped / self.ramp_batches
        return progress * self.train_eps, 1 - progress * (1 - self.kappa)

    def loss(self, model: nn.Module, images: Tensor, labels: Tensor, generator: torch.Generator) -> TrainingStep:
        eps, kappa = self.schedule(self.trained_batches)
        self.trained_batches += 1
        loss, logits = ibp_loss(model, images, labels, eps, kappa)
        return TrainingStep(loss, logits, images)

    def certified_accuracy(self, model: nn.Module, images: Tensor, labels: Tensor) -> float:
        """The IBP-certified accuracy at the run's eps."""
        return certified_accuracy(model, images, labels, self.eps)

    def options(self) -> dict:
        return {"eps": self.eps, "kappa": self.kappa, "train_eps": self.train_eps,
                "warmup_batches": self.warmup_batches, "ramp_batches": self.ramp_batches}


__all__ = ["IBPTraining", "certified", "certified_accuracy", "ibp_loss", "interval_bounds", "layers_of",
           "margin_bounds", "worst_case_logits"]
