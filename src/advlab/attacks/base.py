"""What every evasion attack shares: checked inputs, eval mode, masks, eps sweeps, results.

An attack is a small class (torchattacks' style): ``__init__`` takes any ``nn.Module`` that maps
images in [0, 1] to logits (N, classes), plus the attack's hyper-parameters; ``perturb`` holds
the algorithm and sees checked tensors on the model's device and one scalar ``eps``. The base
class does the rest, the same way for every attack:

* checks the inputs where they come in — images a float tensor (N, ...) in [0, 1] (values off
  by float rounding, up to ``RANGE_TOLERANCE``, are clamped, not refused), labels N class
  indices, a mask that broadcasts to the images, eps >= 0 — and raises one ``AdvlabError``
  line naming the problem;
* puts the model in eval mode for the attack and gives every submodule its own mode back after;
* moves the whole batch to the model's device, attacks it at once, and returns the result on
  the caller's device;
* runs one clean forward pass: it checks that the output is (N, classes) and that the labels
  are in range, and leaves the logits in ``self.clean_logits`` for attacks that use them (a
  black-box attack counts that pass as each image's first query); an attack that never reads
  them (``uses_clean_logits = False``) is checked on one image when only the adversarial
  images are asked for;
* with a list of eps (``eps=[0.05, 0.1, 0.2]``) gives one result per eps, sharing that pass;
* guarantees the result: pixels outside the mask (1 = may change) are exactly the clean ones
  and every pixel lies in [0, 1].

``attack(images, labels)`` returns the adversarial batch (a list of them for a list of eps);
``attack.run(images, labels)`` returns :class:`~advlab.attacks.results.AttackResult` objects with
predictions, norms, queries and time. For a targeted attack (``targeted=True``) the labels given
to ``attack(...)`` are the target classes; ``run`` takes the true labels and the targets apart.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from advlab.attacks.results import AttackResult
from advlab.core.checks import check_number
from advlab.core.devices import module_device
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.core.seeding import make_generator

RANGE_TOLERANCE = 1e-5  # how far outside [0, 1] float rounding may put a pixel
NORMS = ("linf", "l2")


class Attack:
    """Base class of the evasion attacks; subclasses implement :meth:`perturb`.

    Args:
        model: any ``nn.Module`` mapping images in [0, 1] to logits (N, classes).
        eps: the perturbation budget in the attack's norm, or a list of budgets (one result
            each); ``None`` for attacks without a budget (CW, DeepFool).
        targeted: labels are the classes to reach instead of the classes to leave.
        seed: seeds the attack's own random generator; ``None`` uses torch's global one.
    """

    name = "attack"
    paper = ""  # where the algorithm comes from, "Authors YEAR, Title" (advlab attack --list shows it)
    norm: str | None = "linf"  # the threat model's norm; None: the attack minimises the norm itself
    black_box = False  # True: the attack only queries the model's outputs, and counts queries
    # False: perturb never reads self.clean_logits, so ``attack(images, labels)`` checks the model on
    # one image instead of a full clean pass (PGD-40 then costs 40 forward+backward passes, not 40
    # and a forward); ``run`` always makes the full pass, it needs the clean predictions.
    uses_clean_logits = True

    def __init__(self, model: nn.Module, eps: float | Sequence[float] | None = None,
                 targeted: bool = False, seed: int | None = None):
        if not isinstance(model, nn.Module):
            raise AdvlabError(f"{self.name}: model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.eps = check_eps(eps, self.name)
        self.targeted = bool(targeted)
        self.seed = seed
        self.clean_logits: Tensor | None = None
        self.queries: Tensor | None = None

    # ------------------------------------------------------------------ what subclasses write

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        """The algorithm: adversarial images for checked `images` (on the model's device).

        `labels` are the true classes (the targets when targeted), `mask` is None or a bool
        tensor of the images' shape, and ``self.eps`` is one number. Black-box attacks set
        ``self.queries`` (N,) to the model calls each image cost, the clean pass included.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ public entry points

    def __call__(self, images: Tensor, labels: Tensor, mask: Tensor | None = None) -> Tensor | list[Tensor]:
        """Adversarial images, or a list of them (one per eps) when eps is a list."""
        truth = None if self.targeted else labels
        results = self.execute(images, labels, truth, mask, measure=False)
        adversarial = [result.adversarial for result in results]
        return adversarial if isinstance(self.eps, list) else adversarial[0]

    def run(self, images: Tensor, labels: Tensor, targets: Tensor | None = None,
            mask: Tensor | None = None) -> list[AttackResult]:
        """Attack and measure: one AttackResult per eps, with predictions, norms and time.

        `labels` are the true classes; a targeted attack also needs `targets`.
        """
        if self.targeted and targets is None:
            raise AdvlabError(f"{self.name}: a targeted attack needs target labels")
        if not self.targeted and targets is not None:
            raise AdvlabError(f"{self.name}: targets were given to an untargeted attack; pass targeted=True")
        goal = targets if self.targeted else labels
        return self.execute(images, goal, labels, mask, measure=True)

    def eps_values(self) -> list[float | None]:
        return list(self.eps) if isinstance(self.eps, list) else [self.eps]

    def __repr__(self) -> str:
        shown = {k: v for k, v in vars(self).items() if k not in ("model", "clean_logits", "queries")}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    # ------------------------------------------------------------------ the shared machinery

    def execute(self, images, goal, truth, mask, measure: bool) -> list[AttackResult]:
        """Check, attack once per eps, and (with `measure`) predict on the results.

        `goal`: the labels the attack works with (true classes, or targets when targeted);
        `truth`: the true classes where known (None for a targeted ``__call__``).
        """
        device, caller = model_device(self.model, images), getattr(images, "device", None)
        x = check_images(images, self.name).to(device)
        what = "targets" if self.targeted and measure else "labels"
        goal = check_labels(goal, len(x), self.name, what).to(device)
        truth = None if truth is None else check_labels(truth, len(x), self.name, "labels").to(device)
        keep = None if mask is None else check_mask(mask, x, self.name).to(device)
        results = []
        with evaluating(self.model):
            full = measure or self.uses_clean_logits
            clean_logits = self.clean_pass(x if full else x[:1], goal, truth, what)
            for eps in self.eps_values():
                attack = copy.copy(self)
                attack.eps, attack.clean_logits, attack.queries = eps, clean_logits if full else None, None
                start = time.perf_counter()
                with torch.enable_grad():  # white-box attacks need gradients even under no_grad
                    adversarial = finish(attack.perturb(x, goal, keep).detach(), x, keep)
                sync(device)
                seconds = time.perf_counter() - start
                adv_logits = self.predict(adversarial) if measure else None
                results.append(AttackResult(
                    attack=self.name, eps=eps, norm=self.norm, targeted=self.targeted,
                    clean=x.to(caller), adversarial=adversarial.to(caller),
                    labels=None if truth is None else truth.to(caller),
                    targets=goal.to(caller) if self.targeted and measure else None,
                    clean_pred=clean_logits.argmax(1).to(caller) if full else None,
                    adv_pred=None if adv_logits is None else adv_logits.argmax(1).to(caller),
                    queries=None if attack.queries is None else attack.queries.to(caller),
                    seconds=seconds))
        return results

    @torch.no_grad()
    def predict(self, images: Tensor) -> Tensor:
        return self.model(images)

    def clean_pass(self, images: Tensor, goal: Tensor, truth: Tensor | None, what: str) -> Tensor:
        """Logits on the clean images; checks the model's output and the labels' range."""
        try:
            logits = self.predict(images)
        except RuntimeError as error:
            detail = str(error).strip().splitlines()[0]
            raise AdvlabError(f"{self.name}: the model failed on images of shape {tuple(images.shape)}: "
                              f"{detail}") from None
        if not isinstance(logits, Tensor) or logits.ndim != 2 or len(logits) != len(images) or logits.shape[1] < 2:
            shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            raise AdvlabError(f"{self.name}: the model must return logits of shape (N, classes) with N = "
                              f"{len(images)} and at least 2 classes; it returned {shape}")
        classes = logits.shape[1]
        for name, tensor in (("labels", truth), (what, goal)):
            if tensor is not None and (tensor.min() < 0 or tensor.max() >= classes):
                raise AdvlabError(f"{self.name}: {name} must lie in [0, {classes - 1}] for a model with "
                                  f"{classes} classes; found {int(tensor.min())}..{int(tensor.max())}")
        return logits

    def reached(self, adversarial: Tensor, labels: Tensor) -> Tensor:
        """Per image: is it classified as the target (targeted) / not as its label (untargeted)?"""
        return self.goal(self.predict(adversarial), labels)

    def goal(self, logits: Tensor, labels: Tensor) -> Tensor:
        """`reached` for logits the attack already has (no model call)."""
        predicted = logits.argmax(1)
        return predicted == labels if self.targeted else predicted != labels

    def generator(self, device: torch.device) -> torch.Generator | None:
        """The attack's own random generator on `device` (None: torch's global one)."""
        return None if self.seed is None else make_generator(self.seed, device)


# ---------------------------------------------------------------------- what an attack class is


def minimises_norm(cls: type) -> bool:
    """Does the attack class find its own smallest perturbation (``norm = None`` or ``minimum_norm``), rather than
    work inside a budget eps?"""
    return getattr(cls, "norm", None) is None or getattr(cls, "minimum_norm", False)


def attack_norms(cls: type) -> tuple[str, ...]:
    """The norms the attack class takes: its ``norms``, else its ``norm`` (none for an attack without one)."""
    return getattr(cls, "norms", None) or ((cls.norm,) if getattr(cls, "norm", None) else ())


# ---------------------------------------------------------------------- boundary checks


def check_eps(eps, name: str) -> float | list[float] | None:
    """None, a number >= 0, or a non-empty list of them."""
    if eps is None:
        return None
    if isinstance(eps, (list, tuple)):
        if not eps:
            raise AdvlabError(f"{name}: eps is an empty list; give at least one budget")
        return [check_number(f"{name}: eps", value) for value in eps]
    return check_number(f"{name}: eps", eps)


def model_device(model: nn.Module, images) -> torch.device:
    """Where the model lives (its first parameter or buffer), else where the images are."""
    return module_device(model, images.device if isinstance(images, Tensor) else None)


def check_images(images, name: str) -> Tensor:
    """A float tensor (N, ...) with N >= 1 and values in [0, 1] up to float rounding."""
    if not isinstance(images, Tensor):
        raise AdvlabError(f"{name}: images must be a torch.Tensor, got {type(images).__name__}")
    if not images.is_floating_point():
        raise AdvlabError(f"{name}: images must be a float tensor in [0, 1], got dtype {images.dtype}")
    if images.ndim < 2 or images.shape[0] == 0:
        raise AdvlabError(f"{name}: images must be a batch (N, C, H, W) with N >= 1, got shape "
                          f"{tuple(images.shape)}")
    if not torch.isfinite(images).all():
        raise AdvlabError(f"{name}: images contain NaN or infinite values")
    low, high = float(images.min()), float(images.max())
    if low < -RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
        raise AdvlabError(f"{name}: images must lie in [0, 1], found values in [{low:.4g}, {high:.4g}]; "
                          "scale them to [0, 1] and put any normalisation inside the model "
                          "(advlab.models.Normalize)")
    return images.detach().clamp(0.0, 1.0)


def check_labels(labels, n: int, name: str, what: str) -> Tensor:
    """N integer class indices (range is checked against the model's output later)."""
    if not isinstance(labels, Tensor):
        try:
            labels = torch.as_tensor(labels)
        except (TypeError, ValueError, RuntimeError):
            raise AdvlabError(f"{name}: {what} must be a tensor of class indices, got "
                              f"{type(labels).__name__}") from None
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise AdvlabError(f"{name}: {what} must be integer class indices, got dtype {labels.dtype}")
    if labels.shape != (n,):
        raise AdvlabError(f"{name}: {what} must have shape ({n},), one per image; got {tuple(labels.shape)}")
    return labels.to(torch.int64)


def check_mask(mask, images: Tensor, name: str) -> Tensor:
    """A 0/1 mask that broadcasts to the images (e.g. (H, W), (1, H, W), (N, 1, H, W)); as bool, full shape."""
    if not isinstance(mask, Tensor):
        raise AdvlabError(f"{name}: mask must be a torch.Tensor, got {type(mask).__name__}")
    try:
        full = torch.broadcast_shapes(tuple(mask.shape), tuple(images.shape))
    except RuntimeError:
        full = None
    if full != tuple(images.shape):
        raise AdvlabError(f"{name}: mask of shape {tuple(mask.shape)} does not fit images of shape "
                          f"{tuple(images.shape)}; give (H, W), (C, H, W), (1 or N, 1 or C, H, W)")
    if mask.dtype != torch.bool and not ((mask == 0) | (mask == 1)).all():
        raise AdvlabError(f"{name}: mask must hold only 0 (keep) and 1 (may change)")
    return mask.to(images.device).bool().expand(images.shape)


# ---------------------------------------------------------------------- the result guarantee


def finish(adversarial: Tensor, images: Tensor, mask: Tensor | None) -> Tensor:
    """Pixels in [0, 1], and the clean ones wherever the mask says keep."""
    adversarial = adversarial.clamp(0.0, 1.0)
    return adversarial if mask is None else torch.where(mask, adversarial, images)


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so that timings mean something."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
