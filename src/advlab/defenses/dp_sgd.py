"""DP-SGD: differentially private training by clipped, noised per-example gradients.

Abadi, Chu, Goodfellow, McMahan, Mironov, Talwar & Zhang 2016, "Deep Learning with Differential
Privacy", Algorithm 1, one line at a time:

    take a lot L_t, each example with probability q = L / N    -> `poisson_lot` (sec. 3.1 "lots")
    g_t(x_i) = grad_theta loss(theta_t, x_i) for i in L_t       -> Opacus's GradSampleModule
    g_t(x_i) <- g_t(x_i) / max(1, ||g_t(x_i)||_2 / C)           -> Opacus's DPOptimizer
    g_t <- (1 / L) (sum_i g_t(x_i) + N(0, sigma^2 C^2 I))       -> DPOptimizer, expected lot size L
    theta_{t+1} <- theta_t - eta_t g_t                          -> the wrapped torch optimizer
    output theta_T and (epsilon, delta) by the moments accountant (sec. 3.2)

The lots are **Poisson-sampled** (every example joins each lot independently with probability
q, so lots vary in size around L): the accountants' analysis -- the sampled Gaussian mechanism
-- assumes exactly this sampling; shuffled fixed-size minibatches would not be covered by the
epsilon reported. The accountant is Opacus's: "rdp", the moments accountant in its Renyi-DP
form (Mironov 2017; Abadi et al.'s sec. 3.2 bound, tightened), or "prv" (Gopi, Lee & Wutschitz
2021, numerical composition of privacy random variables, tighter still). For a target
(epsilon, delta) and the planned number of steps, sigma is Opacus's `get_noise_multiplier`
(the smallest sigma, to 0.01 in epsilon, whose epsilon after those steps is <= the target);
the epsilon reported is the accountant's after the steps actually taken.

The descent step is SGD with momentum 0.9 (Opacus's examples; momentum and weight decay act on
the noised gradient only, post-processing that costs no privacy). The Gaussian noise is drawn
from the caller's generator, so a run is reproducible from its seed; Opacus's ``secure_mode``
(cryptographically safe noise, against floating-point attacks, Mironov 2012) is not used.

Per-example gradients exist only for layers that treat examples independently: BatchNorm mixes
them and is refused (`check_private_model`); every advlab classifier (SmallCNN, LeNet5,
MadryCNN, MLPClassifier, softmax regression) has none, so the DP model keeps the target's
architecture. Opacus is imported where it is used (it adds about a second to every CLI start).
"""

from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError

ACCOUNTANTS = ("rdp", "prv")
DEFAULT_DELTA = 1e-5  # Abadi et al.'s delta for MNIST (N = 60,000)
DEFAULT_MAX_GRAD_NORM = 1.0  # C; Opacus's examples
DEFAULT_LR = 0.02  # SGD, momentum 0.9; digits at epsilon 3 (L 64, C 1, 20 epochs): 0.01-0.05 train, 0.1 and up fail
MOMENTUM = 0.9
PRIVATE_MODELS = "cnn (SmallCNN), lenet (LeNet5), madry (MadryCNN), mlp (MLPClassifier), logreg"


# ---------------------------------------------------------------------- checks


def check_budget(epsilon, delta, max_grad_norm=DEFAULT_MAX_GRAD_NORM, accountant: str = "rdp") -> None:
    """The (epsilon, delta) target (epsilon None: no target, sigma given), the clipping norm C and the accountant's
    name; one AdvlabError line each."""
    if epsilon is not None:
        check_number("dp-sgd: epsilon", epsilon, 0.0, strict=True)
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not 0 < delta < 1:
        raise AdvlabError(f"dp-sgd: delta must lie strictly between 0 and 1 (e.g. --delta 1e-5), got {delta!r}")
    check_number("dp-sgd: max_grad_norm (the clipping norm C)", max_grad_norm, 0.0, strict=True)
    if accountant not in ACCOUNTANTS:
        raise AdvlabError(f"dp-sgd: unknown accountant {accountant!r}; valid ones are: {', '.join(ACCOUNTANTS)}")


def check_delta_for(delta: float, rows: int) -> None:
    """delta < 1/N: a larger delta lets a mechanism publish a whole training example outright (an error)."""
    if delta * rows >= 1:
        raise AdvlabError(f"dp-sgd: delta {delta:g} is not below 1/N = {1 / rows:.3g} for N = {rows} training "
                          f"examples; such a delta allows releasing an example outright: pass --delta below "
                          f"{1 / rows:.3g} (e.g. {10 ** math.floor(math.log10(0.1 / rows)):g})")


def check_lot_size(lot_size: int, rows: int) -> None:
    """1 <= L <= N, so that the sampling rate q = L / N is a probability."""
    if isinstance(lot_size, bool) or not isinstance(lot_size, int) or not 1 <= lot_size <= rows:
        raise AdvlabError(f"dp-sgd: the lot size must lie in [1, N = {rows}] (N: the training examples), "
                          f"got {lot_size!r}")


def check_private_model(model: nn.Module) -> None:
    """Refuse a model without per-example gradients (BatchNorm mixes the examples of a lot)."""
    from opacus.validators import ModuleValidator

    problems = ModuleValidator.validate(model, strict=False)
    if problems:
        raise AdvlabError(f"dp-sgd cannot train this model: {problems[0]}; models that work: {PRIVATE_MODELS}")


# ---------------------------------------------------------------------- accounting


def noise_multiplier_for(epsilon: float, delta: float, sampling_rate: float, steps: int,
                         accountant: str = "rdp") -> float:
    """sigma for which `steps` lots at rate q spend at most (epsilon, delta) (Opacus's get_noise_multiplier)."""
    from opacus.accountants.utils import get_noise_multiplier

    with warnings.catch_warnings():  # the search tries sigmas whose best Renyi order is the largest one tried
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        return float(get_noise_multiplier(target_epsilon=epsilon, target_delta=delta, sample_rate=sampling_rate,
                                          steps=steps, accountant=accountant))


def spent_epsilon(noise_multiplier: float, sampling_rate: float, steps: int, delta: float,
                  accountant: str = "rdp") -> float:
    """epsilon after `steps` lots of the sampled Gaussian mechanism (q, sigma), at `delta`, by Opacus's accountant."""
    from opacus.accountants import create_accountant

    if steps == 0:
        return 0.0
    ledger = create_accountant(accountant)
    for _ in range(steps):  # the accountant merges equal steps into one (sigma, q, count) entry
        ledger.step(noise_multiplier=noise_multiplier, sample_rate=sampling_rate)
    return float(ledger.get_epsilon(delta=delta))


# ---------------------------------------------------------------------- sampling


def poisson_lot(rows: Tensor, sampling_rate: float, generator: torch.Generator) -> Tensor:
    """The rows that join this lot: each independently with probability `sampling_rate` (Abadi et al. sec. 3.1)."""
    joins = torch.rand(len(rows), generator=generator, device=generator.device) < sampling_rate
    return rows[joins.to(rows.device)]


# ---------------------------------------------------------------------- training


@dataclass
class LotStep:
    """One DP-SGD step: the mean cross-entropy on the lot (before the step) and the lot's logits."""

    loss: Tensor
    logits: Tensor


class DPSGD:
    """DP-SGD (Abadi et al. 2016, Algorithm 1) on an nn.Module; see the module docstring.

    Trains `model` in place (its parameters are shared with the per-example-gradient wrapper);
    `close()` removes the wrapper's hooks. `for_budget` picks sigma for a target (epsilon, delta).

    Args:
        model: the classifier (no BatchNorm); its trainable parameters are trained.
        rows: N, the number of training examples the lots are drawn from.
        lot_size: L, the expected lot size; the sampling rate is q = L / N.
        noise_multiplier: sigma; the noise's standard deviation is sigma * C (0: no noise, no privacy).
        max_grad_norm: C, each example's gradient is clipped to this L2 norm.
        delta: the delta the spent epsilon is reported at.
        lr: SGD's learning rate (momentum 0.9).
        weight_decay: SGD's L2 weight decay, applied to the noised gradient.
        accountant: "rdp" (moments accountant, Renyi form) or "prv".
        generator: draws the Gaussian noise; on the model's device.
    """

    def __init__(self, model: nn.Module, rows: int, lot_size: int, noise_multiplier: float,
                 max_grad_norm: float = DEFAULT_MAX_GRAD_NORM, delta: float = DEFAULT_DELTA, lr: float = DEFAULT_LR,
                 weight_decay: float = 0.0, accountant: str = "rdp", generator: torch.Generator | None = None):
        from opacus import GradSampleModule
        from opacus.optimizers import DPOptimizer

        check_budget(None, delta, max_grad_norm, accountant)
        check_lot_size(lot_size, rows)
        if not 0 <= noise_multiplier < math.inf:
            raise AdvlabError(f"dp-sgd: the noise multiplier must be a finite number >= 0, got {noise_multiplier}")
        check_private_model(model)
        self.model, self.rows, self.lot_size = model, rows, lot_size
        self.sampling_rate = lot_size / rows
        self.noise_multiplier, self.max_grad_norm, self.delta = noise_multiplier, max_grad_norm, delta
        self.accountant, self.lr, self.steps = accountant, lr, 0
        self.target_epsilon: float | None = None  # for_budget's target
        self.module = GradSampleModule(model, loss_reduction="mean")
        trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
        descent = torch.optim.SGD(trainable, lr=lr, momentum=MOMENTUM, weight_decay=weight_decay)
        self.optimizer = DPOptimizer(descent, noise_multiplier=noise_multiplier, max_grad_norm=max_grad_norm,
                                     expected_batch_size=lot_size, loss_reduction="mean", generator=generator)

    @classmethod
    def for_budget(cls, model: nn.Module, rows: int, lot_size: int, epsilon: float, delta: float, epochs: int,
                   accountant: str = "rdp", **options) -> DPSGD:
        """DP-SGD whose sigma spends (epsilon, delta) over `epochs` epochs of ceil(N / L) lots each."""
        check_budget(epsilon, delta, options.get("max_grad_norm", DEFAULT_MAX_GRAD_NORM), accountant)
        check_delta_for(delta, rows)
        check_lot_size(lot_size, rows)
        check_int("dp-sgd: epochs", epochs, 1)
        sigma = noise_multiplier_for(epsilon, delta, lot_size / rows, epochs * lots_per_epoch(rows, lot_size),
                                     accountant)
        trainer = cls(model, rows, lot_size, sigma, delta=delta, accountant=accountant, **options)
        trainer.target_epsilon = float(epsilon)
        return trainer

    def step(self, images: Tensor, labels: Tensor) -> LotStep:
        """One step on the lot (images, labels): clipped per-example gradients, noise, descent."""
        self.optimizer.zero_grad(set_to_none=True)
        if len(labels) == 0:
            return self.noise_only_step(images)
        logits = self.module(images)
        loss = F.cross_entropy(logits, labels)
        if not torch.isfinite(loss):
            return LotStep(loss, logits.detach())
        with warnings.catch_warnings():  # Opacus's hooks on a first layer whose input needs no gradient
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            loss.backward()
        self.optimizer.step()
        self.steps += 1
        return LotStep(loss.detach(), logits.detach())

    def noise_only_step(self, images: Tensor) -> LotStep:
        """An empty lot still takes its step: zero gradient plus the noise (the accountant counts it)."""
        for parameter in self.optimizer.params:
            parameter.grad_sample = parameter.new_zeros((0, *parameter.shape))
        self.optimizer.step()
        self.steps += 1
        empty = images.new_zeros(())
        return LotStep(empty, images.new_zeros((0, 0)))

    def train_epoch(self, images: Tensor, labels: Tensor, rows: Tensor, generator: torch.Generator,
                    bar: tqdm | None = None) -> tuple[float, int, int] | None:
        """ceil(N / L) Poisson lots drawn from `rows`: (sum of the losses, correct predictions, examples seen),
        or None as soon as a loss is NaN or infinite (before that step is taken)."""
        loss_sum, correct, seen = 0.0, 0, 0
        self.module.train()
        for _ in range(lots_per_epoch(len(rows), self.lot_size)):
            lot = poisson_lot(rows, self.sampling_rate, generator)
            step = self.step(images[lot], labels[lot])
            if not torch.isfinite(step.loss):
                return None
            loss_sum += step.loss.item() * len(lot)
            correct += int((step.logits.argmax(1) == labels[lot]).sum()) if len(lot) else 0
            seen += len(lot)
            if bar is not None:
                bar.update(1)
        return loss_sum, correct, seen

    def epsilon(self) -> float:
        """The epsilon spent so far at `delta`, by the accountant."""
        return spent_epsilon(self.noise_multiplier, self.sampling_rate, self.steps, self.delta, self.accountant)

    def record(self) -> dict:
        """The run's "dp" record: the spent epsilon and what it was computed from."""
        record = {"epsilon": self.epsilon(), "delta": self.delta, "noise_multiplier": self.noise_multiplier,
                  "max_grad_norm": float(self.max_grad_norm), "sampling_rate": self.sampling_rate,
                  "steps": self.steps, "accountant": self.accountant}
        extra = {"lot_size": self.lot_size, "sampling": "poisson", "optimizer": f"sgd, momentum {MOMENTUM}",
                 "lr": self.lr}
        if self.target_epsilon is not None:
            extra["target_epsilon"] = self.target_epsilon
        return {**record, **extra}

    def close(self) -> None:
        """Remove the per-example-gradient hooks; `model` is an ordinary module again."""
        self.module.remove_hooks()
        for parameter in self.model.parameters():
            for name in ("grad_sample", "summed_grad"):
                if hasattr(parameter, name):
                    delattr(parameter, name)


def lots_per_epoch(rows: int, lot_size: int) -> int:
    """ceil(N / L): the lots of one epoch (each example is in about one of them on average)."""
    return math.ceil(rows / lot_size)


def train_dp_sgd(model: nn.Module, images: Tensor, labels: Tensor, epsilon: float, delta: float = DEFAULT_DELTA,
                 epochs: int = 20, lot_size: int = 64, seed: int = 0, progress: bool = True, **options) -> dict:
    """Train `model` in place with DP-SGD on (images (N, C, H, W), labels (N,)) to spend (epsilon, delta) over
    `epochs` epochs; the "dp" record (the spent epsilon, sigma, q, steps, ...). `options`: DPSGD's (max_grad_norm,
    lr, weight_decay, accountant). A NaN loss is an AdvlabError."""
    device = images.device
    lots = torch.Generator(device=device).manual_seed(seed)
    noise = torch.Generator(device=device).manual_seed(seed + 1)
    trainer = DPSGD.for_budget(model, len(labels), lot_size, epsilon, delta, epochs, generator=noise, **options)
    rows = torch.arange(len(labels), device=device)
    bar = tqdm(total=epochs * lots_per_epoch(len(labels), lot_size), disable=not progress, unit="lot",
               desc="dp-sgd", dynamic_ncols=True, file=sys.stderr)
    try:
        for epoch in range(1, epochs + 1):
            if trainer.train_epoch(images, labels, rows, lots, bar) is None:
                raise AdvlabError(f"dp-sgd: the loss became NaN or infinite in epoch {epoch}; try a lower lr")
    finally:
        bar.close()
        trainer.close()
    model.eval()
    return trainer.record()


__all__ = ["ACCOUNTANTS", "DPSGD", "check_budget", "check_delta_for", "check_private_model", "noise_multiplier_for",
           "poisson_lot", "spent_epsilon", "train_dp_sgd"]
