"""Fine-pruning: prune the channels clean data leaves dormant in the last convolution, then fine-tune.

Liu, Dolan-Gavitt & Garg 2018, "Fine-pruning: defending against backdooring attacks on deep neural networks"
(RAID), sec. 3 (the pruning defense) and sec. 4 (fine-pruning): a backdoor tends to live in neurons that clean
inputs barely activate, so the defender, who holds clean validation data, ranks the channels of the last
convolutional layer by their mean activation on that data and prunes them in increasing order until clean
accuracy drops by more than a bound (4% in the paper); then fine-tunes the pruned network on the clean data,
which removes what pruning alone leaves of the backdoor.

Here the last convolutional layer is the last ``nn.Conv*`` module called in a forward pass (or one named), a
channel's activation is its output through a ReLU (the non-linearity that normally follows; a dormant channel
averages ~0), averaged over images and positions. Pruning keeps the largest prefix of that order whose clean
accuracy stays within ``max_accuracy_drop`` of the unpruned model's, measured channel by channel. A channel is
pruned by zeroing its filter and bias, and the scale and shift of a BatchNorm that directly follows it, so its
output is 0 everywhere; zeros live in the state_dict, so a pruned model saved and loaded into the same
architecture stays pruned. Fine-tuning (Adam, cross-entropy on the clean data) zeroes those entries' gradients
and re-zeroes the entries after every step, so they stay pruned. The given model is never modified: a copy is
pruned and returned with a record of what was done. :func:`fine_tune` and :func:`clean_accuracy` serve the
Neural Cleanse unlearning repair too.

Measured on the tests' 16 px digits victim (SmallCNN width 16, BadNets at 5%: clean accuracy 98.9%, attack
success 98.8%; 270 clean images): 14 of the last convolution's 32 channels go within the 4% bound, which alone
leaves the attack success at 99%; 10 epochs of fine-tuning at Adam's 1e-2 (the default; 1e-3 left 40-75%) bring
it to 0.4-1.2% at 95.2-96.3% test accuracy (seeds 0-2). On so small a network plain fine-tuning at that rate
does as well: pruning earns its place on larger ones, whose backdoor survives fine-tuning (the paper's sec. 4).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.batching import images_per_pass
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.core.seeding import make_generator
from advlab.models.representations import named_layer, recording_calls
from advlab.poisoning.detection.result import check_inputs, check_share

MAX_ACCURACY_DROP = 0.04  # the paper's stopping bound for pruning
EPOCHS = 10
LR = 1e-2
BATCH = 64
CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def clean_accuracy(model: nn.Module, images: Tensor, labels: Tensor, batch: int | None = None) -> float:
    """Share of `images` (N, C, H, W) that `model` classifies as `labels`, in eval mode, without grad."""
    correct, batch = 0, batch or images_per_pass(images)
    with evaluating(model), torch.no_grad():
        for first in range(0, len(images), batch):
            correct += int((model(images[first:first + batch]).argmax(1) == labels[first:first + batch]).sum())
    return correct / len(images)


def fine_tune(model: nn.Module, images: Tensor, labels: Tensor, epochs: int = EPOCHS, lr: float = LR,
              batch: int = BATCH, seed: int = 0, after_step: Callable[[], None] | None = None,
              before_step: Callable[[], None] | None = None) -> None:
    """Train `model` in place on (images, labels) with Adam and cross-entropy for `epochs` shuffled passes in
    minibatches of `batch`; `before_step` / `after_step` run around every optimiser step. Leaves the model in
    the train/eval mode it had."""
    generator = make_generator(seed, torch.device("cpu"))
    parameters = list(model.parameters())
    for parameter in parameters:
        parameter.requires_grad_(True)
    optimizer = torch.optim.Adam(parameters, lr=lr)
    modes = [(module, module.training) for module in model.modules()]
    model.train()
    try:
        for _ in range(epochs):
            order = torch.randperm(len(images), generator=generator).to(images.device)
            for first in range(0, len(order), batch):
                rows = order[first:first + batch]
                loss = F.cross_entropy(model(images[rows]), labels[rows])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if before_step is not None:
                    before_step()
                optimizer.step()
                if after_step is not None:
                    after_step()
    finally:
        for module, training in modes:
            module.training = training
        optimizer.zero_grad(set_to_none=True)


def last_convolution(model: nn.Module, probe: Tensor,
                     layer: str | None = None) -> tuple[str, nn.Module, nn.Module | None]:
    """(name, module, the BatchNorm called right after it or None): the convolution named `layer`, or by default
    the last convolution called in a forward pass on `probe`; an AdvlabError if there is none."""
    with evaluating(model), torch.no_grad(), recording_calls(model) as calls:
        model(probe[:1])
    modules = dict(model.named_modules())
    names = [name for name, _ in calls]
    if layer is not None:
        chosen = named_layer(model, layer)
        if not isinstance(chosen.module, CONVOLUTIONS):
            raise AdvlabError(f"fine-pruning prunes a convolution's channels; layer {layer} is a "
                              f"{type(chosen.module).__name__}")
        name = layer
    else:
        convolutions = [name for name in names if isinstance(modules[name], CONVOLUTIONS)]
        if not convolutions:
            raise AdvlabError("fine-pruning needs a convolutional layer, and the model calls none")
        name = convolutions[-1]
    following = names[names.index(name) + 1] if name in names and names.index(name) + 1 < len(names) else None
    norm = modules[following] if following is not None and isinstance(modules[following], NORMS) else None
    if norm is not None and norm.num_features != modules[name].out_channels:
        norm = None
    return name, modules[name], norm


def mean_activations(model: nn.Module, convolution: nn.Module, images: Tensor, batch: int | None = None) -> Tensor:
    """(channels,) mean over images and positions of ReLU(the convolution's output), on the CPU."""
    sums: list[Tensor] = []
    counts: list[int] = []

    def capture(_module, _inputs, output):
        per_channel = output.detach().relu().transpose(0, 1).flatten(1)
        sums.append(per_channel.sum(1).double().cpu())
        counts.append(per_channel.shape[1])

    handle, batch = convolution.register_forward_hook(capture), batch or images_per_pass(images)
    try:
        with evaluating(model), torch.no_grad():
            for first in range(0, len(images), batch):
                model(images[first:first + batch])
    finally:
        handle.remove()
    return (torch.stack(sums).sum(0) / sum(counts)).float()


def channel_parameters(convolution: nn.Module, norm: nn.Module | None) -> list[Tensor]:
    """The tensors whose first axis is the convolution's output channel: its weight and bias, and the
    following BatchNorm's weight and bias."""
    tensors = [convolution.weight, convolution.bias]
    if norm is not None:
        tensors += [norm.weight, norm.bias]
    return [tensor for tensor in tensors if tensor is not None]


def zero_channels(tensors: list[Tensor], channels: Tensor) -> None:
    """Zero the rows `channels` of every tensor in `tensors`, in place."""
    with torch.no_grad():
        for tensor in tensors:
            tensor[channels.to(tensor.device)] = 0


def prune_by_activation(model: nn.Module, tensors: list[Tensor], order: Tensor, images: Tensor, labels: Tensor,
                        max_accuracy_drop: float) -> tuple[Tensor, list[float]]:
    """Prune the channels of `order` one by one (in place) while clean accuracy stays within `max_accuracy_drop`
    of the unpruned model's; the channel that breaks the bound is restored. Returns the pruned channels and the
    accuracy after each prune tried."""
    baseline = clean_accuracy(model, images, labels)
    curve = []
    pruned: list[int] = []
    for channel in order.tolist():
        saved = [tensor[channel].detach().clone() for tensor in tensors]
        zero_channels(tensors, torch.tensor([channel]))
        accuracy = clean_accuracy(model, images, labels)
        curve.append(accuracy)
        if baseline - accuracy > max_accuracy_drop:
            with torch.no_grad():
                for tensor, values in zip(tensors, saved):
                    tensor[channel] = values
            break
        pruned.append(channel)
    return torch.tensor(pruned, dtype=torch.int64), curve


def fine_pruning(model: nn.Module, images: Tensor, labels: Tensor, max_accuracy_drop: float = MAX_ACCURACY_DROP,
                 epochs: int = EPOCHS, lr: float = LR, batch: int = BATCH, layer: str | None = None,
                 seed: int = 0) -> tuple[nn.Module, dict]:
    """A pruned and fine-tuned copy of `model`, and what was done.

    Args:
        model: the (possibly backdoored) classifier; never modified.
        images: the defender's clean images (N, C, H, W) in [0, 1] on the model's device, used to rank the
            channels, to bound the accuracy drop and to fine-tune.
        labels: their true labels (N,) int64.
        max_accuracy_drop: prune while clean accuracy stays within this of the unpruned model's (default 0.04).
        epochs: fine-tuning passes over the clean images (default 10; 0 prunes only).
        lr: Adam's learning rate for fine-tuning (default 1e-2).
        batch: images per fine-tuning step (default 64).
        layer: name of the convolution to prune (default: the last one called in the forward pass).
        seed: seeds the fine-tuning order (default 0).

    Returns:
        (the repaired copy, in the original's train/eval mode, every parameter trainable, and a dict with
        ``layer``, ``channels``, ``pruned`` (the channel indices), ``pruned_share``, ``mean_activation`` (per
        channel), ``accuracy_before``, ``accuracy_pruned``, ``accuracy_after`` (on the given clean images),
        ``accuracy_curve`` (after each prune tried), ``epochs``).
    """
    check_inputs(model, images, labels)
    max_accuracy_drop = check_share("max_accuracy_drop", max_accuracy_drop)
    check_int("epochs", epochs, 0)
    check_number("lr", lr, 0.0, strict=True)
    check_int("batch", batch, 1)
    repaired = copy.deepcopy(model)
    name, convolution, norm = last_convolution(repaired, images, layer)
    tensors = channel_parameters(convolution, norm)
    activations = mean_activations(repaired, convolution, images)
    order = activations.argsort(stable=True)
    before = clean_accuracy(repaired, images, labels)
    pruned, curve = prune_by_activation(repaired, tensors, order, images, labels, max_accuracy_drop)
    pruned_accuracy = clean_accuracy(repaired, images, labels)

    def mask_gradients():
        for tensor in tensors:
            if tensor.grad is not None:
                tensor.grad[pruned.to(tensor.device)] = 0

    fine_tune(repaired, images, labels, epochs, lr, batch, seed, after_step=lambda: zero_channels(tensors, pruned),
              before_step=mask_gradients)
    return repaired, {"layer": name, "channels": int(convolution.out_channels), "pruned": pruned.tolist(),
                      "pruned_share": len(pruned) / convolution.out_channels, "mean_activation": activations.tolist(),
                      "accuracy_before": before, "accuracy_pruned": pruned_accuracy,
                      "accuracy_after": clean_accuracy(repaired, images, labels), "accuracy_curve": curve,
                      "epochs": epochs}


__all__ = ["clean_accuracy", "fine_pruning", "fine_tune", "last_convolution", "mean_activations"]
