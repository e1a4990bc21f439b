"""Metzen et al.'s adversarial-example detectors: a small network on the input or on one layer of a classifier.

Metzen, Genewein, Fischer & Bischoff 2017, "On Detecting Adversarial Perturbations" (ICLR).

* Sec. 3 and Fig. 1: a detector subnetwork D reads the classifier's activations at one layer, AD(i) (IBM ART's
  ``BinaryActivationDetector``), or the input itself, AD(0) (ART's ``BinaryInputDetector``), and outputs

      p_adv(x) = sigmoid(Z_D(x)),

  the probability that x is adversarial (the paper's two-unit softmax is the same function of the two units'
  difference; one logit Z_D is what Carlini & Wagner's attack reads). The paper's D for its CIFAR-10 ResNet
  (16-64 feature maps) is conv3x3(96), max-pool 2, conv3x3(192), max-pool 2, conv3x3(192), conv1x1(2), global
  average pooling, ReLUs between, the pooling skipped on small maps (at AD(3) the second, at AD(4) both). Scaled
  here to the classifier (``width``, default 32: SmallCNN's widths on digits): conv3x3(width), conv3x3(2 width),
  conv3x3(2 width), conv1x1(1), global average pooling, each of the first two convolutions followed by a 2x2
  max-pool only while the map is at least 4 pixels wide (8x8 digits: 8 -> 4 -> 2, as 32 -> 16 -> 8 in the paper).
  A flat layer (N, F), e.g. a Linear layer's output, gets an MLP F -> 2 width -> 2 width -> 1.
* Sec. 3.1, training: the classifier is trained first and stays frozen; an adversarial example is made for every
  training image, and D learns to tell the N clean images (label 0) from the N adversarial ones (label 1), a
  balanced set of 2N, by cross-entropy; Adam with learning rate 1e-4, beta1 = 0.99, beta2 = 0.999, 20 epochs
  (sec. 4.1). The static adversaries here are FGSM, BIM (the paper's "iterative" method, its main one) and PGD.
  The learning rate here is 1e-3: the paper's 20 epochs of CIFAR-10's 2 x 45,000 images are thousands of Adam
  steps, 20 epochs of digits' 2 x 1,437 are 460, and at 1e-4 the detector stays near chance (measured on the
  digits CNN, eps 0.1: loss 0.49 after 20 epochs, 55% of PGD examples detected; at 1e-3: loss 0.01, all of them).
* Sec. 3.2, the dynamic adversary: an attacker who also knows D takes BIM steps on both losses,

      x_0 = x,  x_{n+1} = Clip_x^eps{ x_n + alpha [ (1 - sigma) sign(grad_x J_cls(x_n, y))
                                                   + sigma sign(grad_x J_det(x_n, 1)) ] },

  J_det(x, 1) = -log p_adv(x) the detector's loss on the label "adversarial" (ascending it makes D say clean);
  sigma = 0 is the static BIM. Dynamic adversary training makes the training examples on the fly: for each
  mini-batch, each image is replaced with probability 0.5 by the dynamic adversary's example, sigma drawn
  uniformly from [0, 1] (here per image, from [0, ``dynamic``], 1 the paper's).
* Decision: the paper reads D at p_adv > 0.5 (so does ART's ``detect``: the argmax of the two units); that is
  the threshold 0 on Z_D here until ``calibrate`` sets it on held-out clean images to a target false-positive
  rate, as advlab's feature-squeezing detector does (Xu et al. 2018, sec. 4).

Carlini & Wagner 2017 ("Adversarial Examples Are Not Easily Detected", sec. 4.1) bypass D with a white-box
attack on the classifier and D together: ``advlab.attacks.detector_aware.DetectorAwarePGD``.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save as safetensors_to_bytes
from torch import Tensor, nn
from tqdm import tqdm

from advlab.attacks.base import check_images, check_labels
from advlab.attacks.bim import BIM, kurakin_steps
from advlab.attacks.fgsm import FGSM
from advlab.attacks.losses import input_gradient
from advlab.attacks.lp import batch_view, linf_bounds
from advlab.attacks.pgd import PGD
from advlab.core.checkpoints import atomic_write_bytes, parse_safetensors, read_described, restore_module
from advlab.core.checks import check_int, check_number
from advlab.core.devices import module_device
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.defenses.feature_squeezing import ThresholdDetector
from advlab.models.representations import named_layer

INPUT = "input"  # the layer name of the binary input detector, AD(0)
STATIC_ATTACKS = ("fgsm", "bim", "pgd")
FORMAT = "advlab-adversarial-detector/1"
POOL_FROM = 4  # a detector convolution is followed by 2x2 max-pooling only on maps at least this wide
ATTACK_BATCH = 256  # training images attacked at a time (the static adversary)
PAPER_BETAS = (0.99, 0.999)  # Adam's betas in sec. 4.1


def detector_network(shape: Sequence[int], width: int) -> nn.Sequential:
    """D for activations of one image's `shape`: convolutions on (C, H, W) maps, an MLP on (F,) vectors; -> (N, 1)."""
    if len(shape) == 1:
        return nn.Sequential(nn.Linear(shape[0], 2 * width), nn.ReLU(), nn.Linear(2 * width, 2 * width), nn.ReLU(),
                             nn.Linear(2 * width, 1))
    if len(shape) != 3:
        raise AdvlabError(f"detector: the layer's activations have shape {tuple(shape)} per image; the detector takes "
                          "maps (C, H, W) or vectors (F,)")
    channels, side = shape[0], min(shape[1:])
    layers: list[nn.Module] = []
    for made in (width, 2 * width):
        layers += [nn.Conv2d(channels, made, 3, padding=1), nn.ReLU()]
        if side >= POOL_FROM:
            layers.append(nn.MaxPool2d(2))
            side //= 2
        channels = made
    layers += [nn.Conv2d(channels, 2 * width, 3, padding=1), nn.ReLU(), nn.Conv2d(2 * width, 1, 1),
               nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


class AdversarialDetector(ThresholdDetector):
    """Metzen et al.'s detector: ``forward(images)`` is Z_D(x) (N,), the logit of p_adv; ``detect`` flags Z_D(x) >
    ``threshold`` (0, i.e. p_adv > 0.5, until ``calibrate``). Train it with ``train_detector``.

    Args:
        classifier: maps images in [0, 1] to logits (N, classes); read, never changed.
        sample_shape: one image's shape (C, H, W).
        layer: ``"input"`` (the binary input detector, AD(0)) or a module name from
            ``classifier.named_modules()`` whose output the detector reads (the activation detector).
        width: the detector's first convolution's maps (then 2 width); an MLP's hidden units are 2 width.
    """

    def __init__(self, classifier: nn.Module, sample_shape: Sequence[int], layer: str = INPUT, width: int = 32):
        super().__init__()
        if not isinstance(classifier, nn.Module):
            raise AdvlabError(f"detector: classifier must be a torch.nn.Module, got {type(classifier).__name__}")
        self.classifier = classifier
        self.width = check_int("detector: width", width, 1)
        self.sample_shape = check_sample_shape(sample_shape)
        self.layer = INPUT if layer == INPUT else tapped_name(classifier, layer)
        self.threshold = 0.0
        self.detector_name = "detector"
        self.net = detector_network(self.activation_shape(), self.width)

    def activation_shape(self) -> tuple[int, ...]:
        """The shape of one image's activations at the layer, from one probing pass on a blank image."""
        probe = torch.zeros((1, *self.sample_shape), device=module_device(self.classifier))
        with torch.no_grad(), evaluating(self.classifier):
            return tuple(self.activations(probe).shape[1:])

    def activations(self, images: Tensor) -> Tensor:
        """The classifier's activations at the layer (the images themselves for "input"), with their gradient."""
        if self.layer == INPUT:
            return images
        captured: list[Tensor] = []
        module = dict(self.classifier.named_modules())[self.layer]
        handle = module.register_forward_hook(lambda _module, _inputs, output: captured.append(output))
        try:
            self.classifier(images)
        finally:
            handle.remove()
        if not captured or not isinstance(captured[-1], Tensor):
            raise AdvlabError(f"detector: layer {self.layer} gave no tensor in the classifier's forward pass; "
                              "choose another layer")
        return captured[-1]

    def forward(self, images: Tensor) -> Tensor:
        """Z_D(x) (N,): the detection logit, p_adv = sigmoid(Z_D)."""
        return self.net(self.activations(images))[:, 0]

    def save(self, path: str | Path) -> Path:
        """Write D's weights and threshold to `path` (safetensors; the layer, width and shape in its header)."""
        description = {"format": FORMAT, "layer": self.layer, "width": str(self.width),
                       "sample_shape": json.dumps(list(self.sample_shape)), "threshold": repr(self.threshold)}
        tensors = {f"net.{key}": value.detach().cpu().contiguous() for key, value in self.net.state_dict().items()}
        atomic_write_bytes(path, safetensors_to_bytes(tensors, metadata=description))
        return Path(path)

    def extra_repr(self) -> str:
        return f"layer={self.layer!r}, width={self.width}, threshold={self.threshold:.4g}"


def load_detector(path: str | Path, classifier: nn.Module) -> AdversarialDetector:
    """The detector ``AdversarialDetector.save`` wrote to `path`, on `classifier` (which must fit its layer)."""
    path = Path(path)
    payload, metadata = read_described(path, FORMAT, "detector", "detector", "an adversarial-example detector")
    try:
        shape, width = json.loads(metadata["sample_shape"]), int(metadata["width"])
        layer, threshold = metadata["layer"], float(metadata["threshold"])
    except (KeyError, ValueError) as error:
        raise AdvlabError(f"detector: the description in {path} is incomplete ({error})") from None
    detector = AdversarialDetector(classifier, shape, layer, width)
    restore_module(detector.net, "net", parse_safetensors(payload, path))
    detector.threshold = threshold
    return detector.to(module_device(classifier))


# ---------------------------------------------------------------------- training (sec. 3.1, 3.2)


def dynamic_adversary(classifier: nn.Module, detector: nn.Module, images: Tensor, labels: Tensor, eps: float,
                      sigma: float | Tensor, steps: int | None = None, alpha: float | None = None) -> Tensor:
    """Sec. 3.2: BIM steps on (1 - sigma) sign(grad J_cls) + sigma sign(grad J_det(x, 1)) inside the eps-ball, from
    the image; `sigma` one number or one per image (N,). Steps and alpha default to BIM's (Kurakin et al.'s rule
    at eps, 1/255 each). The caller sets the modes (eval for a fixed classifier and detector)."""
    steps = kurakin_steps(eps) if steps is None else steps
    alpha = (kurakin_steps(eps) / 255 / steps) if alpha is None else alpha
    sigma = torch.as_tensor(sigma, dtype=images.dtype, device=images.device)
    sigma = batch_view(sigma.expand(len(images)), images)
    bounds = linf_bounds(images, eps, None)
    adversarial = images.detach()
    for _ in range(steps):
        toward_class = input_gradient(classifier, adversarial, labels)[0].sign()
        toward_clean = detector_loss_gradient(detector, adversarial).sign()
        step = (1 - sigma) * toward_class + sigma * toward_clean
        adversarial = torch.clamp(adversarial + alpha * step, *bounds)
    return adversarial.detach()


def detector_loss_gradient(detector: nn.Module, images: Tensor) -> Tensor:
    """grad_x J_det(x, 1) = grad_x -log p_adv(x) = grad_x softplus(-Z_D(x)), summed over the batch."""
    images = images.detach().requires_grad_(True)
    grad, = torch.autograd.grad(F.softplus(-detector(images)).sum(), images)
    return grad


def static_examples(classifier: nn.Module, images: Tensor, labels: Tensor, attack: str, eps: float,
                    steps: int | None, seed: int) -> Tensor:
    """Sec. 3.1: one adversarial example per training image, made once against the classifier alone."""
    if attack == "fgsm":
        adversary = FGSM(classifier, eps=eps)
    elif attack == "bim":
        adversary = BIM(classifier, eps=eps, steps=steps)
    else:
        adversary = PGD(classifier, eps=eps, steps=kurakin_steps(eps) if steps is None else steps, seed=seed)
    return torch.cat([adversary(images[first:first + ATTACK_BATCH], labels[first:first + ATTACK_BATCH])
                      for first in range(0, len(images), ATTACK_BATCH)])


def check_training(detector, images, labels, options: dict) -> tuple[Tensor, Tensor]:
    """The detector, the training data and the options (``check_training_options``), each refused with one line;
    returns (images, labels) checked."""
    if not isinstance(detector, AdversarialDetector):
        raise AdvlabError(f"detector: train an AdversarialDetector, got {type(detector).__name__}")
    images = check_images(images, "detector")
    if tuple(images.shape[1:]) != detector.sample_shape:
        raise AdvlabError(f"detector: images of shape {tuple(images.shape[1:])}, but the detector was built for "
                          f"{detector.sample_shape}")
    labels = check_labels(labels, len(images), "detector", "labels")
    check_training_options(**options)
    return images, labels


def check_training_options(eps, attack, attack_steps, dynamic, epochs, lr, batch) -> None:
    """``train_detector``'s options, each refused with one line."""
    check_number("detector: eps", eps, strict=True)
    if attack not in STATIC_ATTACKS:
        raise AdvlabError(f"detector: unknown attack {attack!r}; valid attacks are: {', '.join(STATIC_ATTACKS)}")
    if attack_steps is not None:
        check_int("detector: attack_steps", attack_steps, 1)
    if dynamic is not None and (isinstance(dynamic, bool) or not isinstance(dynamic, (int, float))
                                or not 0 < dynamic <= 1):
        raise AdvlabError(f"detector: dynamic (the largest sigma of the dynamic adversary) must lie in (0, 1], "
                          f"got {dynamic!r}")
    check_int("detector: epochs", epochs, 1)
    check_number("detector: lr", lr, strict=True)
    check_int("detector: batch", batch, 1)


def train_detector(detector: AdversarialDetector, images: Tensor, labels: Tensor, eps: float = 0.1,
                   attack: str = "bim", attack_steps: int | None = None, dynamic: float | None = None,
                   epochs: int = 20, lr: float = 1e-3, batch: int = 128, seed: int = 0,
                   progress: bool = False) -> list[float]:
    """Train D on clean training images and adversarial ones, the classifier frozen; returns the mean loss per epoch.

    Args:
        detector: the AdversarialDetector to train (its classifier is never updated).
        images: the classifier's training images (N, C, H, W) in [0, 1].
        labels: their classes (N,).
        eps: the adversary's Linf budget.
        attack: the static adversary, ``fgsm``, ``bim`` (the paper's main one) or ``pgd`` (sec. 3.1).
        attack_steps: the adversary's steps (default BIM's rule at eps, Kurakin et al.).
        dynamic: None: the static adversary, examples made once; a number s in (0, 1]: dynamic adversary
            training (sec. 3.2), each image of a mini-batch replaced with probability 0.5 by the dynamic
            adversary's example at a sigma drawn uniformly from [0, s] (1: the paper's).
        epochs: passes over the training set (paper: 20).
        lr: Adam's learning rate (paper: 1e-4, with beta1 0.99 and beta2 0.999; see the module's note for 1e-3).
        batch: images per mini-batch.
        seed: seeds the shuffling, the static PGD's starts and the dynamic adversary's draws.
        progress: a progress bar over the mini-batches.
    """
    options = {"eps": eps, "attack": attack, "attack_steps": attack_steps, "dynamic": dynamic, "epochs": epochs,
               "lr": lr, "batch": batch}
    images, labels = check_training(detector, images, labels, options)
    device = module_device(detector.classifier)
    images, labels = images.to(device), labels.to(device)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    optimizer = torch.optim.Adam(detector.net.parameters(), lr=lr, betas=PAPER_BETAS)
    with evaluating(detector.classifier):
        if dynamic is None:
            with evaluating(detector):
                adversarial = static_examples(detector.classifier, images, labels, attack, eps, attack_steps, seed)
            inputs = torch.cat([images, adversarial])
            targets = torch.cat([torch.zeros(len(images)), torch.ones(len(images))]).to(device)
        else:
            inputs, targets = images, labels
        losses = []
        bar = tqdm(total=epochs * math.ceil(len(inputs) / batch), disable=not progress, unit="batch",
                   desc="detector", dynamic_ncols=True, file=sys.stderr)
        for _ in range(epochs):
            total = 0.0
            for rows in torch.randperm(len(inputs), generator=generator).to(device).split(batch):
                x, y = inputs[rows], targets[rows]
                if dynamic is not None:
                    x, y = dynamic_batch(detector, x, y, eps, dynamic, attack_steps, generator)
                with torch.no_grad():  # the classifier is frozen: no gradient reaches its weights
                    features = detector.activations(x)
                detector.net.train()
                loss = F.binary_cross_entropy_with_logits(detector.net(features)[:, 0], y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(rows)
                bar.update()
            losses.append(total / len(inputs))
        bar.close()
    detector.net.eval()
    return losses


def dynamic_batch(detector: AdversarialDetector, images: Tensor, labels: Tensor, eps: float, largest_sigma: float,
                  steps: int | None, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Sec. 3.2: each image replaced with probability 0.5 by the dynamic adversary's example, sigma ~ U[0, s];
    (images, targets: 1 where replaced)."""
    chosen = (torch.rand(len(images), generator=generator) < 0.5).to(images.device)
    sigma = (largest_sigma * torch.rand(len(images), generator=generator)).to(images.device)
    mixed = images.clone()
    if chosen.any():
        with evaluating(detector):
            mixed[chosen] = dynamic_adversary(detector.classifier, detector, images[chosen], labels[chosen], eps,
                                              sigma[chosen], steps)
    return mixed, chosen.to(images.dtype)


# ---------------------------------------------------------------------- small checks


def tapped_name(classifier: nn.Module, layer) -> str:
    """`layer` if it names a module of the classifier; else one line listing the valid names."""
    try:
        return named_layer(classifier, layer).name
    except AdvlabError as error:
        raise AdvlabError(f"detector: layer {layer!r} is neither 'input' nor a layer of the classifier; "
                          f"{str(error).split('; ', 1)[-1]}") from None


def check_sample_shape(shape) -> tuple[int, ...]:
    try:
        shape = tuple(int(side) for side in shape)
    except (TypeError, ValueError):
        raise AdvlabError(f"detector: sample_shape must be one image's shape (C, H, W), got {shape!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise AdvlabError(f"detector: sample_shape must be one image's shape (C, H, W), got {shape}")
    return shape

