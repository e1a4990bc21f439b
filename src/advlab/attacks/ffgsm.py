"""FGSM from a random start: the attack inside fast adversarial training.

Wong, Rice & Kolter 2020, "Fast is better than free: Revisiting adversarial training", Algorithm 3, lines 3-5:

    delta = Uniform(-eps, eps);   delta = delta + alpha * sign(grad_delta CE(f(x + delta), y));
    delta = max(min(delta, eps), -eps),

with alpha = 1.25 eps (sec. 4: larger steps make FGSM training overfit sooner) and x + delta kept in [0, 1], as in
the authors' code. It is PGD with one step of size alpha from a uniform random start, so it is written as that
(``advlab.defenses.fast_at`` trains against the same step); torchattacks calls it FFGSM.
"""

from __future__ import annotations

from torch import nn

from advlab.attacks.pgd import PGD

STEP_FACTOR = 1.25  # alpha = 1.25 eps (sec. 4, Algorithm 3)


class FFGSM(PGD):
    """FGSM from a random start (Wong et al. 2020): ``FFGSM(model, eps=0.3)(images, labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: Linf radius, or a list of radii.
        alpha: the FGSM step (default 1.25 eps, the paper's).
        targeted: labels are target classes.
        seed: seed of the random start (None: torch's global generator).
    """

    name = "ffgsm"
    paper = "Wong, Rice & Kolter 2020, Fast is better than free: Revisiting adversarial training"
    norms = ("linf",)

    def __init__(self, model: nn.Module, eps=8 / 255, alpha: float | None = None, targeted: bool = False,
                 seed: int | None = None):
        super().__init__(model, eps=eps, alpha=alpha, steps=1, norm="linf", random_start=True, restarts=1,
                         targeted=targeted, seed=seed)

    def step_size(self) -> float:
        return STEP_FACTOR * self.eps if self.alpha is None else self.alpha
