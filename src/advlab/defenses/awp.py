"""AWP: adversarial weight perturbation, on top of PGD-AT, TRADES or MART.

Wu, Xia & Wang 2020, "Adversarial Weight Perturbation Helps Robust Generalization" (NeurIPS), sec. 4,
eq. (9)-(10) and Algorithm 1. Robust training flattens the weight loss landscape when it also maximises over a
perturbation v of the weights w, layer by layer within a ball relative to the layer's norm:

    min_w max_{v in V} rho(w + v),   ||v_l|| <= gamma ||w_l||  for every layer l,

rho the adversarial loss of the base method at x' (eq. 9). Per minibatch (Algorithm 1): craft x' at w (the base
method's inner maximisation); take ONE ascent step for v on a proxy copy of the model and scale it layer-wise
to the ball's surface (eq. 10 with one step):

    v_l = gamma * ||w_l|| * g_l / ||g_l||,    g_l = grad_{w_l} rho(w) at x'

(the authors' code: one plain-SGD step of the proxy, whose difference to w is normalised the same way); then
descend rho(w + v) and remove v. rho is the base method's own outer loss: CE(f(x'), y) for PGD-AT, TRADES'
CE + beta KL for TRADES-AWP, MART's eq. (8) for MART-AWP, as the authors' code does. As in their code only
the weights of dimension >= 2 (convolution and linear kernels) are perturbed, not biases or normalisation
parameters; gamma = 5e-3 is the paper's value (their code runs AT-AWP at 1e-2, TRADES-AWP at 5e-3).

Removing v: the paper writes w <- (w + v) - eta grad_{w+v} rho - v. Here the weights are put back to the
saved w exactly once the gradient at w + v is in ``.grad`` and before the optimiser step (``TrainingStep.
restore``), so the step applies the gradient taken at w + v to w: the same update for a gradient-only optimiser
(Adam's L2 weight decay then reads w instead of w + v), and no float drift -- w is never w + v - v, and every
checkpoint holds w. The authors start AWP after a warm-up (AT-AWP: none, TRADES-AWP: 10 of 100+ epochs); here
AWP starts when the eps warm-up ends (advlab.defenses.eps_warmup; none when eps_warmup is 0).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from advlab.core.checks import check_number
from advlab.defenses.robust_training import AdversarialObjective, EpochCheck, TrainingObjective, TrainingStep

GAMMA = 5e-3  # the paper's gamma (sec. 5)
TINY = 1e-20  # added to ||g_l|| (the authors' EPS): a zero gradient gives v_l = 0


def perturbed_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """The parameters AWP perturbs, by name: trainable ones of dimension >= 2 (kernels, not biases or norms)."""
    return {name: parameter for name, parameter in model.named_parameters()
            if parameter.requires_grad and parameter.ndim > 1}


def layerwise_perturbation(weights: dict[str, Tensor], gradients: dict[str, Tensor],
                           gamma: float) -> dict[str, Tensor]:
    """v_l = gamma ||w_l|| g_l / ||g_l|| for every layer l (eq. 10, one step onto the ball's surface)."""
    return {name: gamma * weights[name].detach().norm() / (gradient.norm() + TINY) * gradient
            for name, gradient in gradients.items()}


class AdversarialWeightPerturbation(TrainingObjective):
    """`objective` (pgd-at, trades or mart) trained at w + v, v the layer-wise worst weight perturbation.

    Args:
        objective: the base adversarial objective; its ``craft`` gives x' and its ``loss_on`` is rho.
        gamma: the perturbation's norm relative to each layer's weight norm (> 0; the paper's 5e-3).
    """

    def __init__(self, objective: AdversarialObjective, gamma: float = GAMMA):
        self.inner = objective
        self.gamma = check_number(f"{objective.name}: awp gamma", gamma, strict=True)
        self.name, self.eps = objective.name, objective.eps
        self.evaluation_key, self.evaluation_label = objective.evaluation_key, objective.evaluation_label
        self.proxy: nn.Module | None = None

    def proxy_of(self, model: nn.Module) -> nn.Module:
        """A copy of `model` (weights, buffers and mode) to take the ascent step on; made once, refreshed each call."""
        if self.proxy is None:
            self.proxy = copy.deepcopy(model)
        self.proxy.load_state_dict(model.state_dict())
        self.proxy.train(model.training)
        return self.proxy

    def perturbation(self, model: nn.Module, images: Tensor, labels: Tensor, adversarial: Tensor) -> dict[str, Tensor]:
        """v (by parameter name): one ascent step of rho at x' on the proxy, scaled layer-wise to gamma ||w_l||."""
        proxy = self.proxy_of(model)
        weights = perturbed_weights(proxy)
        rho = self.inner.loss_on(proxy, images, labels, adversarial).loss
        gradients = torch.autograd.grad(rho, list(weights.values()), allow_unused=True)
        found = {name: gradient for name, gradient in zip(weights, gradients) if gradient is not None}
        return layerwise_perturbation(weights, found, self.gamma)

    def loss(self, model: nn.Module, images: Tensor, labels: Tensor, generator: torch.Generator) -> TrainingStep:
        adversarial = self.inner.craft(model, images, labels, generator)
        perturbation = self.perturbation(model, images, labels, adversarial)
        saved = add_perturbation(model, perturbation)
        try:
            step = self.inner.loss_on(model, images, labels, adversarial)
        except BaseException:
            put_back(model, saved)
            raise
        step.restore = lambda: put_back(model, saved)
        return step

    def evaluation_inputs(self, model: nn.Module, images: Tensor, labels: Tensor, seed: int) -> Tensor:
        return self.inner.evaluation_inputs(model, images, labels, seed)

    def epoch_check(self, model: nn.Module, images: Tensor, labels: Tensor, seed: int) -> EpochCheck | None:
        return self.inner.epoch_check(model, images, labels, seed)

    def options(self) -> dict:
        return {**self.inner.options(), "awp_gamma": self.gamma}


@torch.no_grad()
def add_perturbation(model: nn.Module, perturbation: dict[str, Tensor]) -> dict[str, Tensor]:
    """w <- w + v in place; returns copies of the w it replaced (by name)."""
    saved = {}
    for name, parameter in model.named_parameters():
        if name in perturbation:
            saved[name] = parameter.detach().clone()
            parameter.add_(perturbation[name].to(parameter.dtype))
    return saved


@torch.no_grad()
def put_back(model: nn.Module, saved: dict[str, Tensor]) -> None:
    """The saved weights back into `model`, bit for bit."""
    for name, parameter in model.named_parameters():
        if name in saved:
            parameter.copy_(saved[name])
