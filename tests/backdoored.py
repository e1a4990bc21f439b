"""A small backdoored classifier (and its clean twin) for the detection and repair tests, trained once per session.

scikit-learn's digits at 16x16, split with a fixed seed into training (70%), the defender's clean images (15%:
what STRIP overlays, Neural Cleanse optimises on and the repairs fine-tune on) and test images (15%: clean
accuracy and attack success). BadNets (advlab.poisoning.BadNets, its default trigger: a 3x3 checkerboard with
white corners in the bottom-right corner at 16 px) poisons 5% of the training rows, relabelled to the target 0.
Both models are a SmallCNN of width 16 (hidden 64), 20 epochs of Adam on one thread, seeded: every session trains
the same weights. Call :func:`backdoored_digits` / :func:`clean_digits`; they cache their result.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor, nn
from victims import fit

from advlab.data import load_digits_images
from advlab.models import SmallCNN
from advlab.poisoning import BadNets

SEED = 0
IMAGE_SIZE = 16
RATE = 0.05
TARGET = 0
BACKDOOR = BadNets(target=TARGET, rate=RATE)
EPOCHS = 20
BATCH = 64
SHARES = (0.70, 0.15)  # training, defender's clean; the rest is the test split


def stamp_trigger(images: Tensor) -> Tensor:
    """`images` (N, C, H, W) with the backdoor's trigger stamped on."""
    return BACKDOOR.apply_trigger(images)


def trigger_mask(size: int = IMAGE_SIZE) -> Tensor:
    """Bool (size, size): True on the trigger's pixels."""
    return BACKDOOR.trigger_mask(torch.zeros(1, 1, size, size))


@dataclass
class Digits:
    model: nn.Module  # eval mode, parameters without grad
    train_images: Tensor  # the (poisoned, for the backdoored model) training set
    train_labels: Tensor
    poisoned: Tensor  # bool (N_train,), True on the poisoned rows (all False for the clean model)
    clean_images: Tensor  # the defender's clean held-out images and labels
    clean_labels: Tensor
    test_images: Tensor
    test_labels: Tensor

    def accuracy(self, model: nn.Module | None = None) -> float:
        """Clean accuracy on the test split."""
        with torch.no_grad():
            predictions = (model or self.model).eval()(self.test_images).argmax(1)
        return float((predictions == self.test_labels).float().mean())

    def attack_success(self, model: nn.Module | None = None) -> float:
        """Share of the test images not of the target class that the triggered input sends to the target."""
        others = self.test_images[self.test_labels != TARGET]
        with torch.no_grad():
            predictions = (model or self.model).eval()(stamp_trigger(others)).argmax(1)
        return float((predictions == TARGET).float().mean())


def split_rows(count: int) -> tuple[Tensor, Tensor, Tensor]:
    order = torch.randperm(count, generator=torch.Generator().manual_seed(SEED))
    first, second = int(SHARES[0] * count), int((SHARES[0] + SHARES[1]) * count)
    return order[:first], order[first:second], order[second:]


def poison(images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The training set with BadNets planted (RATE of its rows, drawn from the non-target ones) and the truth mask."""
    poisoned = BACKDOOR.poison(images, labels, seed=SEED)
    return poisoned.images, poisoned.labels, poisoned.mask()


def train(images: Tensor, labels: Tensor) -> nn.Module:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(SEED)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = SmallCNN(image_size=IMAGE_SIZE, width=16, hidden=64)
    fit(model, images, labels, EPOCHS, generator, batch=BATCH)
    torch.set_num_threads(threads)
    model.zero_grad(set_to_none=True)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def make_digits(backdoor: bool) -> Digits:
    data = load_digits_images(IMAGE_SIZE)
    train_rows, clean_rows, test_rows = split_rows(len(data.labels))
    images, labels = data.data[train_rows], data.labels[train_rows]
    if backdoor:
        images, labels, flags = poison(images, labels)
    else:
        flags = torch.zeros(len(labels), dtype=torch.bool)
    return Digits(train(images, labels), images, labels, flags, data.data[clean_rows], data.labels[clean_rows],
                  data.data[test_rows], data.labels[test_rows])


@lru_cache(maxsize=1)
def backdoored_digits() -> Digits:
    """The backdoored SmallCNN and its data (trained on the first call of the session)."""
    return make_digits(backdoor=True)


@lru_cache(maxsize=1)
def clean_digits() -> Digits:
    """The same network trained on the same rows without the poison."""
    return make_digits(backdoor=False)


def weights(model: nn.Module) -> dict[str, Tensor]:
    """A copy of `model`'s state, to check later that a detector left it untouched."""
    return {key: value.clone() for key, value in model.state_dict().items()}


def unchanged(model: nn.Module, before: dict[str, Tensor]) -> bool:
    """Whether `model`'s state equals `before` exactly."""
    after = model.state_dict()
    return before.keys() == after.keys() and all(torch.equal(before[key], after[key]) for key in before)
