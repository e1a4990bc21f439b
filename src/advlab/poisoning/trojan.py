"""TrojanNN: a trigger made to fire chosen internal neurons of a trained model, then retraining.

Liu, Ma, Aafer, Lee, Zhai, Wang & Zhang 2018, "Trojaning Attack on Neural Networks" (NDSS), sec. IV
(attack design). The attacker has a trained model, not its training data, and works in three steps:

1. Trojan trigger generation (sec. IV-A, Algorithm 1). The trigger lives inside a mask (here a square
   of ``area`` times the image in the bottom-right corner, or at (top, left)). *Internal neuron
   selection*: in a chosen layer, pick the neuron(s) most strongly connected to the trigger's region.
   Liu et al. rank neurons by the absolute weights that reach them; for any nn.Module this file
   measures the connection end to end, as the share of a neuron's absolute input gradient (summed over
   the retraining inputs x) that falls on the mask's pixels,

       connection_j = sum_x sum_{p in mask} |d a_j(x) / d x_p|  /  sum_x sum_p |d a_j(x) / d x_p|,

   which for a first linear layer is the share of the neuron's absolute weight that comes from the
   mask: a neuron the trigger controls and the rest of the image hardly moves (a convolution's neuron
   is one channel, its activation the channel's spatial mean). Then the trigger
   pixels are optimised so that those neurons reach a high value v (Algorithm 1's cost),

       cost = sum_j (v - a_j(x with the trigger))^2,

   by gradient descent on the pixels inside the mask only (here Adam, clipped to [0, 1], over the
   retraining inputs; v defaults to 10 times the largest clean activation of the selected neurons).
2. Training data generation (sec. IV-B, Algorithm 2). For each output class c, inputs are
   reverse-engineered from the model: starting from a random image, descend the cost of class c (here
   the cross-entropy of c, which raises its output as their squared gap to a high value does) plus a
   total-variation term, the denoising that keeps the inputs image-like. With ``use_data`` and real
   clean training images given to :meth:`Trojan.implant`, those are used instead (the attacker has data).
3. Retraining (sec. IV-C). The model is fine-tuned (every parameter, Adam) on the inputs with a share
   of them (``rate`` / ``poisons``, non-target rows) stamped with the trigger and labelled ``target``.
   With ``partial`` only the parameters after the chosen layer are retrained, so the layers before it
   stay exactly as they were and the trigger keeps firing the selected neurons.

Measured on scikit-learn's 8x8 digits (the tests' SmallCNN victim, 99.2% held-out accuracy; reverse-engineered
inputs, 20 per class; seed 0): the defaults (area 0.2, a 4x4 trigger; penultimate layer; every parameter
retrained) give 96.7% accuracy and an attack success rate of 88%; area 0.1 (3x3) only 57% at 87.8%
accuracy: a 3x3 patch moves no penultimate neuron clear of its clean values. Retraining on the real
training images instead (``use_data``): 99.2% accuracy, attack success 100%. At 16 px (area 0.2, a 7x7
trigger, reverse-engineered inputs): 88.6% accuracy (clean 98.3%), attack success 96%.

The chosen layer is a module name from ``model.named_modules()`` (its output), or by default the input of
the logits layer, the penultimate representation (advlab.models.representations). :meth:`Trojan.implant`
returns a retrained *copy* of the model, never changing the one given, and the retraining set as
:class:`PoisonedData`; afterwards :meth:`Trojan.apply_trigger` stamps the optimised trigger and
:meth:`Trojan.poison` plants it in any training set the dirty-label way.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.attacks.base import model_device
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.core.seeding import make_generator
from advlab.models.representations import Layer, choose_layer
from advlab.poisoning.base import Backdoor, PoisonedData, check_training_set
from advlab.poisoning.feature_collision import layer_activation
from advlab.poisoning.triggers import (
    check_batch,
    check_fraction,
    check_model,
    check_pixel_option,
    default_budget,
    plant_backdoor,
    stamp,
)

REFERENCE = 64  # images the neuron selection and the trigger are computed on
UNITS_PER_PASS = 32  # neurons whose input gradients one batched backward pass computes
TRIGGER_BOOST = 10.0  # v = TRIGGER_BOOST * the largest clean activation of the selected neurons


def layer_neurons(model: nn.Module, layer: Layer, images: Tensor) -> Tensor:
    """Per-neuron activations (N, neurons) at `layer`: a unit of a flat layer, or a channel's spatial mean."""
    activation = layer_activation(model, layer, images)
    return activation.flatten(2).mean(2) if activation.dim() > 2 else activation


def total_variation(images: Tensor) -> Tensor:
    """Mean absolute difference between neighbouring pixels, per image (N,)."""
    rows = (images[:, :, 1:] - images[:, :, :-1]).abs().flatten(1).mean(1)
    columns = (images[:, :, :, 1:] - images[:, :, :, :-1]).abs().flatten(1).mean(1)
    return rows + columns


def parameters_after(model: nn.Module, layer: Layer) -> list[nn.Parameter]:
    """The parameters of the modules that come after `layer` in ``model.named_modules()`` order, never its
    own submodules' (the layer itself included when its input is the representation)."""
    names = [name for name, _ in model.named_modules()]
    start = names.index(layer.name) + (0 if layer.side == "input" else 1)
    later = {name for name in names[start:] if not name.startswith(layer.name + ".")}
    return [parameter for name, parameter in model.named_parameters() if name.rpartition(".")[0] in later]


class Trojan(Backdoor):
    """TrojanNN (Liu et al. 2018): ``model, retraining_set = Trojan(target=0).implant(model, images, labels)``.

    Args:
        target: the class triggered inputs are sent to.
        rate: share of the retraining inputs stamped with the trigger, in (0, 1] (default 0.2 when poisons
            is not given either).
        poisons: number of retraining inputs stamped with the trigger (give this or rate).
        layer: the module whose output holds the neurons (default: the input of the logits layer).
        neurons: how many neurons of the layer the trigger is made to fire.
        area: the trigger's square as a share of the image's area, in (0, 1].
        top: row of the trigger's top-left corner (default: flush with the bottom edge).
        left: column of the trigger's top-left corner (default: flush with the right edge).
        activation: the value v the selected neurons are driven to (default 10 x their largest clean value).
        trigger_steps: Adam steps of the trigger generation.
        per_class: inputs reverse-engineered per class (ignored with use_data and real images).
        inversion_steps: Adam steps of the training data generation.
        smoothness: weight of the total-variation (denoising) term of the training data generation.
        use_data: retrain on the real clean images given to implant instead of reverse-engineered ones.
        epochs: retraining epochs.
        lr: retraining learning rate (Adam).
        partial: retrain only the parameters after the chosen layer (default: every parameter).
    """

    name = "trojan"

    def __init__(self, target: int = 0, rate: float | None = None, poisons: int | None = None,
                 layer: str | None = None, neurons: int = 1, area: float = 0.2, top: int | None = None,
                 left: int | None = None, activation: float | None = None, trigger_steps: int = 200,
                 per_class: int = 20, inversion_steps: int = 200, smoothness: float = 0.1,
                 use_data: bool = False, epochs: int = 10, lr: float = 1e-3, partial: bool = False):
        super().__init__(target, *default_budget(rate, poisons, 0.2))
        self.layer = layer
        self.neurons = check_int(f"{self.name}: neurons", neurons, 1)
        self.area = check_fraction(f"{self.name}: area", area)
        self.top = check_pixel_option(f"{self.name}: top", top)
        self.left = check_pixel_option(f"{self.name}: left", left)
        self.activation = None if activation is None else check_number(f"{self.name}: activation", activation,
                                                                         strict=True)
        self.trigger_steps = check_int(f"{self.name}: trigger_steps", trigger_steps, 1)
        self.per_class = check_int(f"{self.name}: per_class", per_class, 1)
        self.inversion_steps = check_int(f"{self.name}: inversion_steps", inversion_steps, 0)
        self.smoothness = check_number(f"{self.name}: smoothness", smoothness)
        self.use_data = bool(use_data)
        self.epochs = check_int(f"{self.name}: epochs", epochs, 1)
        self.lr = check_number(f"{self.name}: lr", lr, strict=True)
        self.partial = bool(partial)
        self.pattern: Tensor | None = None  # (C, side, side), set by implant / fit_trigger
        self.selected: Tensor | None = None  # indices of the selected neurons

    # ------------------------------------------------------------------ the trigger's place

    def box(self, height: int, width: int) -> tuple[int, int, int]:
        """(top, left, side) of the square mask on height x width images: side = round(sqrt(area H W))."""
        side = min(max(1, round(math.sqrt(self.area * height * width))), height, width)
        top = height - side if self.top is None else self.top
        left = width - side if self.left is None else self.left
        if top + side > height or left + side > width:
            raise AdvlabError(f"{self.name}: a {side}x{side} trigger at (top={top}, left={left}) does not fit "
                              f"images of {height}x{width}")
        return top, left, side

    def trigger_mask(self, images: Tensor) -> Tensor:
        """A bool (H, W) mask, True on the trigger's pixels for images like `images`."""
        top, left, side = self.box(*images.shape[2:])
        mask = torch.zeros(images.shape[2:], dtype=torch.bool)
        mask[top:top + side, left:left + side] = True
        return mask

    def apply_trigger(self, images: Tensor) -> Tensor:
        """`images` (N, C, H, W) with the generated trigger pasted into its mask (after implant or fit_trigger)."""
        if self.pattern is None:
            raise AdvlabError(f"{self.name}: no trigger yet: call implant(model, ...) (or fit_trigger) first")
        images = check_batch(images, self.name)
        top, left, side = self.box(*images.shape[2:])
        if self.pattern.shape != (images.shape[1], side, side):
            raise AdvlabError(f"{self.name}: the trigger was made for images of another shape "
                              f"({tuple(self.pattern.shape)} does not fit {tuple(images.shape[1:])})")
        return stamp(images, self.pattern, top, left)

    # ------------------------------------------------------------------ step 1: the trigger

    def select_neurons(self, model: nn.Module, layer: Layer, reference: Tensor) -> Tensor:
        """Indices (neurons,) of the layer's neurons most connected to the mask: the largest share of their
        absolute input gradient on the `reference` images that falls on the mask's pixels."""
        inputs = reference.detach().requires_grad_(True)
        with torch.enable_grad():
            activations = layer_neurons(model, layer, inputs)
            if self.neurons > activations.shape[1]:
                raise AdvlabError(f"{self.name}: {self.neurons} neurons asked for, but {layer.describe()} has "
                                  f"{activations.shape[1]}")
            mask = self.trigger_mask(reference).to(reference.device)
            connection = torch.cat([self.mask_share(activations, inputs, mask, first)
                                    for first in range(0, activations.shape[1], UNITS_PER_PASS)])
        return connection.argsort(descending=True)[:self.neurons]

    @staticmethod
    def mask_share(activations: Tensor, inputs: Tensor, mask: Tensor, first: int) -> Tensor:
        """For units first .. first + UNITS_PER_PASS - 1 of `activations` (N, units): the share of the sum of
        |d unit / d input| over the `inputs` (N, C, H, W) that falls on the (H, W) `mask`."""
        units = activations.shape[1]
        count = min(UNITS_PER_PASS, units - first)
        picks = torch.zeros(count, *activations.shape, device=activations.device)
        picks[torch.arange(count), :, first + torch.arange(count)] = 1
        gradients = torch.autograd.grad(activations, inputs, picks, retain_graph=True, is_grads_batched=True)[0]
        gradients = gradients.abs()
        return gradients[:, :, :, mask].sum((1, 2, 3)) / gradients.sum((1, 2, 3, 4)).clamp_min(1e-12)

    def fit_trigger(self, model: nn.Module, reference: Tensor, seed: int = 0) -> Tensor:
        """Select the neurons and optimise the trigger (C, side, side) on `reference` images (N, C, H, W)
        from the model's device; sets and returns ``self.pattern``."""
        check_model(model, self.name)
        reference = check_batch(reference, self.name)[:REFERENCE]
        device = model_device(model, reference)
        reference = reference.to(device)
        top, left, side = self.box(*reference.shape[2:])
        with evaluating(model):
            layer = choose_layer(model, reference, self.layer)
            self.selected = self.select_neurons(model, layer, reference)
            with torch.no_grad():
                clean = layer_neurons(model, layer, reference)[:, self.selected]
            goal = self.activation or TRIGGER_BOOST * max(float(clean.max()), 1.0)
            generator = make_generator(seed, torch.device("cpu"))
            pattern = torch.rand(reference.shape[1], side, side, generator=generator).to(device).requires_grad_(True)
            optimizer = torch.optim.Adam([pattern], lr=0.05)
            for _ in range(self.trigger_steps):
                with torch.enable_grad():
                    triggered = stamp(reference, pattern, top, left)
                    cost = (goal - layer_neurons(model, layer, triggered)[:, self.selected]).pow(2).sum(1).mean()
                    optimizer.zero_grad()
                    cost.backward()
                optimizer.step()
                with torch.no_grad():
                    pattern.clamp_(0, 1)
        self.pattern = pattern.detach().cpu()
        return self.pattern

    # ------------------------------------------------------------------ step 2: the inputs

    def generate_inputs(self, model: nn.Module, shape: tuple[int, int, int], classes: int,
                        seed: int = 0) -> tuple[Tensor, Tensor]:
        """`per_class` inputs (per_class * classes, *shape) reverse-engineered per class from the model, and
        their labels; on the model's device."""
        device = model_device(model, torch.empty(0))
        labels = torch.arange(classes).repeat_interleave(self.per_class).to(device)
        generator = make_generator(seed, torch.device("cpu"))
        images = torch.rand(len(labels), *shape, generator=generator).to(device).requires_grad_(True)
        optimizer = torch.optim.Adam([images], lr=0.05)
        with evaluating(model):
            for _ in range(self.inversion_steps):
                with torch.enable_grad():
                    cost = F.cross_entropy(model(images), labels, reduction="none") \
                        + self.smoothness * total_variation(images)
                    optimizer.zero_grad()
                    cost.sum().backward()
                optimizer.step()
                with torch.no_grad():
                    images.clamp_(0, 1)
        return images.detach(), labels

    # ------------------------------------------------------------------ step 3: retraining

    def retrain(self, model: nn.Module, poisoned: PoisonedData, seed: int = 0) -> nn.Module:
        """A copy of `model` fine-tuned with Adam on the poisoned retraining set (batches of 32)."""
        trojaned = copy.deepcopy(model)
        device = model_device(trojaned, poisoned.images)
        images, labels = poisoned.images.to(device), poisoned.labels.to(device)
        trained = list(trojaned.parameters())
        if self.partial:
            trained = parameters_after(trojaned, choose_layer(trojaned, images[:2], self.layer))
            if not trained:
                raise AdvlabError(f"{self.name}: no parameters come after layer {self.layer!r}; choose an earlier "
                                  "layer or retrain every parameter (partial=False)")
        for parameter in trojaned.parameters():
            parameter.requires_grad_(False)
        for parameter in trained:
            parameter.requires_grad_(True)
        optimizer = torch.optim.Adam(trained, lr=self.lr)
        generator = make_generator(seed, torch.device("cpu"))
        was_training = trojaned.training
        trojaned.train()
        for _ in range(self.epochs):
            order = torch.randperm(len(images), generator=generator).to(device)
            for first in range(0, len(order), 32):
                rows = order[first:first + 32]
                loss = F.cross_entropy(trojaned(images[rows]), labels[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        trojaned.train(was_training)
        return trojaned

    # ------------------------------------------------------------------ the whole attack

    def implant(self, model: nn.Module, images: Tensor | None = None, labels: Tensor | None = None,
                seed: int = 0, image_shape: tuple[int, int, int] | None = None) -> tuple[nn.Module, PoisonedData]:
        """Implant a trojan into (a copy of) a trained `model`.

        Args:
            model: the trained classifier; it is not changed.
            images: clean images (N, C, H, W) in [0, 1]: retrained on with ``use_data``, otherwise they only
                give the image shape (give them or image_shape).
            labels: their labels (N,), needed with ``use_data``.
            seed: seeds the trigger's start, the generated inputs, the poisoned rows and the retraining order.
            image_shape: (C, H, W) of the model's inputs when no images are given.

        Returns:
            (the trojaned copy of the model, the retraining set: its inputs with the poisoned rows stamped and
            relabelled, and their indices).
        """
        check_model(model, self.name)
        retraining = self.retraining_inputs(model, images, labels, seed, image_shape)
        self.fit_trigger(model, retraining[0], seed)
        poisoned = self.poison(*retraining, seed=seed)
        return self.retrain(model, poisoned, seed), poisoned

    def retraining_inputs(self, model: nn.Module, images: Tensor | None, labels: Tensor | None, seed: int,
                          image_shape: tuple[int, int, int] | None) -> tuple[Tensor, Tensor]:
        """The clean inputs to retrain on: the real ones (``use_data``) or ones generated from the model."""
        if self.use_data:
            if images is None or labels is None:
                raise AdvlabError(f"{self.name}: use_data needs the clean training images and labels")
            check_training_set(images, labels)
            return images, labels
        if images is not None:
            image_shape = tuple(check_batch(images, self.name).shape[1:])
        if image_shape is None or len(image_shape) != 3:
            raise AdvlabError(f"{self.name}: give images or image_shape (C, H, W) to generate the retraining inputs")
        device = model_device(model, torch.empty(0))
        with evaluating(model), torch.no_grad():
            classes = model(torch.zeros(1, *image_shape, device=device)).shape[1]
        return self.generate_inputs(model, image_shape, classes, seed)

    def poison(self, images: Tensor, labels: Tensor, seed: int = 0) -> PoisonedData:
        """Stamp the generated trigger on `budget` non-target rows and relabel them to the target."""
        if self.pattern is None:
            raise AdvlabError(f"{self.name}: no trigger yet: call implant(model, ...) (or fit_trigger) first")
        return plant_backdoor(self, images, labels, seed)

    def options(self) -> dict:
        return {**super().options(), "layer": self.layer, "neurons": self.neurons, "area": self.area,
                "top": self.top, "left": self.left, "activation": self.activation,
                "trigger_steps": self.trigger_steps, "per_class": self.per_class,
                "inversion_steps": self.inversion_steps, "smoothness": self.smoothness, "use_data": self.use_data,
                "epochs": self.epochs, "lr": self.lr, "partial": self.partial,
                "selected_neurons": None if self.selected is None else self.selected.tolist()}
