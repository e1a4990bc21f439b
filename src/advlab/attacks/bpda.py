"""BPDA: Backward Pass Differentiable Approximation, with EOT for randomized defenses.

Athalye, Carlini & Wagner 2018, "Obfuscated Gradients Give a False Sense of Security:
Circumventing Defenses to Adversarial Examples" (ICML), sec. 4.1. An input-transformation defense
predicts f(t(x)) with a t that is non-differentiable (JPEG, bit-depth reduction) or whose gradient
is useless (an inner optimisation such as Defense-GAN's projection). Since t(x) ~ x, BPDA keeps the
forward pass and replaces t by the identity on the backward pass (sec. 4.1.1, "a special case"):

    forward: f(t(x))        backward: grad_x f(t(x)) ~ grad_f(t(x)),

or, where the transform defines a differentiable ``approximate(x)`` g ~ t (thermometer encoding, whose
output has C * l channels: Athalye et al.'s soft thermometer, sec. 5.2.1), by g: backward grad_x f(g(x)),

and runs PGD (Madry et al. 2018) with that gradient (``Preprocessed.bpda()``, the straight-through
twin of the defended model). For a randomized t (Defense-GAN's random starts) the gradient is
averaged over `samples` draws of t, Expectation over Transformation (sec. 4.3; their attack on
Defense-GAN, sec. 5.3, combines both): x is repeated `samples` times in one batch, each copy
draws its own t, and the step follows the mean gradient. A deterministic t needs one draw.

Everything else is PGD's: the Linf or L2 ball, the random start, restarts for images not yet
fooled (judged on the defended model's own forward pass), the last iterate as the result.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.losses import cross_entropy_objective
from advlab.attacks.pgd import PGD
from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError


class BPDA(PGD):
    """BPDA-PGD (Athalye et al. 2018) on a ``Preprocessed`` model: ``BPDA(model, eps=0.1, steps=40)(images, labels)``.

    Args:
        model: an ``advlab.defenses.Preprocessed`` (a classifier behind an input transformation, e.g.
            ``load_model`` of a defended run) mapping images in [0, 1] to logits.
        eps: radius of the ball (Linf or L2), or a list of radii.
        alpha: step size (default 2.5 * eps / steps).
        steps: gradient steps per restart.
        samples: draws of a randomized transformation averaged per gradient (EOT; a deterministic one uses one).
        norm: ``"linf"`` or ``"l2"``.
        random_start: start at a uniform random point of the ball (else at the image).
        restarts: independent random starts; later ones only for images not yet fooled.
        targeted: labels are target classes.
        seed: seed of the random starts (None: torch's global generator).
    """

    name = "bpda"
    paper = "Athalye, Carlini & Wagner 2018, Obfuscated Gradients Give a False Sense of Security"
    norms = ("linf", "l2")

    def __init__(self, model: nn.Module, eps=8 / 255, alpha: float | None = None, steps: int = 40, samples: int = 8,
                 norm: str = "linf", random_start: bool = True, restarts: int = 1, targeted: bool = False,
                 seed: int | None = None):
        from advlab.defenses.preprocessed import Preprocessed  # attacks sit below defenses: import at use

        if not isinstance(model, Preprocessed):
            raise AdvlabError(f"bpda: the model must be a classifier behind an input transformation "
                              f"(advlab.defenses.Preprocessed, e.g. a run made by advlab defend jpeg/bit-depth/median/"
                              f"tv-min/thermometer/defense-gan); got {type(model).__name__}: attack a plain "
                              "classifier with pgd")
        super().__init__(model, eps=eps, alpha=alpha, steps=steps, norm=norm, random_start=random_start,
                         restarts=restarts, targeted=targeted, seed=seed)
        self.samples = check_int(f"{self.name}: samples", samples, 1)

    def draws(self) -> int:
        """Draws of the transformation per gradient: `samples` for a randomized one, else one."""
        return self.samples if self.model.randomized else 1

    def gradient(self, adversarial: Tensor, labels: Tensor, generator: torch.Generator | None) -> Tensor:
        """grad_x of the mean cross-entropy objective over the draws, through the identity in place of t."""
        draws = self.draws()
        adversarial = adversarial.detach().requires_grad_(True)
        copies = adversarial.repeat_interleave(draws, 0) if draws > 1 else adversarial
        logits = self.model.bpda()(copies)
        objective = cross_entropy_objective(logits, labels.repeat_interleave(draws), self.targeted)
        grad, = torch.autograd.grad(objective.sum() / draws, adversarial)
        return grad
