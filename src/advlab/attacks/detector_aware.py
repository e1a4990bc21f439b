"""PGD against a classifier and an adversarial-example detector at once: Carlini & Wagner's combined model.

Carlini & Wagner 2017, "Adversarial Examples Are Not Easily Detected: Bypassing Ten Detection Methods"
(AISec), sec. 4.1 (attacking Metzen et al.'s detector). Given the classifier's logits Z_F(x) (N classes) and
the detector's logit Z_D(x) (> 0: "adversarial"), the combined classifier G has N + 1 classes,

    G(x)_i     = Z_F(x)_i                          for i <= N,
    G(x)_{N+1} = (Z_D(x) + 1) * max_j Z_F(x)_j,

so that G says "adversarial" (class N + 1) exactly when the detector does, as long as max_j Z_F(x)_j > 0
(the authors' assumption; a trained classifier's top logit is positive on images like its data). An input
that G assigns to some class other than its true class y and other than N + 1 fools the classifier AND passes
the detector. C&W attack G with their L2 attack; here G is attacked with Linf PGD (Madry et al. 2018,
eq. 2) on C&W's margin for the untargeted goal (their f_6, sec. 5.1 of "Towards Evaluating the Robustness
of Neural Networks", with both y and N + 1 counted as failures):

    maximise  max_{j <= N, j != y} G(x)_j - max(G(x)_y, G(x)_{N+1}).

G's class N + 1 multiplies by max_j Z_F(x), so lowering it also lowers the wrong class that the attack raises
once the classifier is fooled; under PGD's sign steps that conflict stalls many images. ``objective="margins"``
is the equivalent goal written as two clipped margins (C&W's f_6 with kappa = 0, one per model),

    maximise  min(max_{j != y} Z_F(x)_j - Z_F(x)_y, 0) + min(-Z_D(x), 0),

whose terms stop pulling once their goal is met. The default, ``"both"``, runs the margins first and the combined
model on the images they did not carry through (an attacker keeps whichever works). Measured on digits (SmallCNN,
binary input detector, eps 0.2, 40 steps, 2 seeds): fooled and undetected 0.46 / 0.49 with G alone, 0.72 / 0.77
with the margins.

A detector with a threshold t on its logit (flagging Z_D(x) > t, e.g. one calibrated to a false-positive
rate) enters as Z_D(x) - t, which moves G's class N + 1 to the same decision. The attack keeps, per image,
the last iterate that fooled the classifier without being flagged (checked on the real decisions, not on G),
else the last iterate; restarts attack only the images not yet successful.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.losses import best_other, margin
from advlab.attacks.lp import linf_bounds, linf_step, random_linf
from advlab.attacks.pgd import PGD
from advlab.core.checks import check_number
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating

OBJECTIVES = ("combined", "margins", "both")


def combined_logits(class_logits: Tensor, detection_logits: Tensor) -> Tensor:
    """C&W's G (N, classes + 1): the classifier's logits and (Z_D + 1) * max_j Z_F_j as the "adversarial" class."""
    top = class_logits.max(1).values
    return torch.cat([class_logits, ((detection_logits + 1) * top)[:, None]], 1)


def evasion_margin(class_logits: Tensor, detection_logits: Tensor, labels: Tensor) -> Tensor:
    """(N,) max_{j != y, j <= N} G_j - max(G_y, G_{N+1}): positive when G says neither y nor "adversarial"."""
    combined = combined_logits(class_logits, detection_logits)
    own = combined.gather(1, labels[:, None])[:, 0]
    return best_other(class_logits, labels) - torch.maximum(own, combined[:, -1])


def detector_margins(class_logits: Tensor, detection_logits: Tensor, labels: Tensor) -> Tensor:
    """(N,) min(margin of the classifier, 0) + min(-Z_D, 0): zero exactly when it is fooled and not flagged."""
    zero = class_logits.new_zeros(())
    return torch.minimum(margin(class_logits, labels), zero) + torch.minimum(-detection_logits, zero)


OBJECTIVE_FUNCTIONS = {"combined": evasion_margin, "margins": detector_margins}


class DetectorAwarePGD(PGD):
    """PGD on Carlini & Wagner's combined model: ``DetectorAwarePGD(classifier, detector, eps=0.1)(images, labels)``.

    Args:
        model: the classifier: maps images in [0, 1] to logits (N, classes).
        detector: maps the same images to detection logits (N,) (> threshold: flagged as adversarial), e.g.
            ``advlab.defenses.AdversarialDetector``.
        eps: Linf budget, or a list of budgets.
        alpha: step size (default 2.5 * eps / steps).
        steps: gradient steps per restart.
        restarts: random starts; later ones only for images not yet fooled-and-undetected.
        objective: ``"combined"`` (C&W's G), ``"margins"`` (the two clipped margins) or ``"both"`` (the margins, then G
            on the images the margins did not carry through).
        threshold: the detector flags logits above it (default: the detector's ``threshold`` attribute once it is
            calibrated, else 0, i.e. p_adv > 0.5).
        random_start: start at a uniform random point of the ball (else at the image).
        seed: seed of the random starts (None: torch's global generator).
    """

    name = "detector-aware-pgd"
    paper = ("Carlini & Wagner 2017, Adversarial Examples Are Not Easily Detected: Bypassing Ten Detection Methods "
             "(sec. 4.1)")
    norms = ("linf",)

    def __init__(self, model: nn.Module, detector: nn.Module, eps=0.1, alpha: float | None = None, steps: int = 40,
                 restarts: int = 1, objective: str = "both", threshold: float | None = None, random_start: bool = True,
                 seed: int | None = None):
        super().__init__(model, eps=eps, alpha=alpha, steps=steps, norm="linf", random_start=random_start,
                         restarts=restarts, seed=seed)
        if not isinstance(detector, nn.Module):
            raise AdvlabError(f"{self.name}: detector must be a torch.nn.Module mapping images to detection logits "
                              f"(N,), got {type(detector).__name__}")
        self.detector = detector
        if objective not in OBJECTIVES:
            raise AdvlabError(f"{self.name}: unknown objective {objective!r}; valid objectives are: "
                              f"{', '.join(OBJECTIVES)}")
        self.objective = objective
        self.current = "margins" if objective == "both" else objective  # the objective being ascended
        if threshold is None:
            threshold = getattr(detector, "threshold", None)
        self.threshold = 0.0 if threshold is None else check_number(f"{self.name}: threshold", threshold,
                                                                    least=float("-inf"))

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        with evaluating(self.detector):  # the base class puts only the classifier in eval mode
            if self.objective != "both":
                return super().perturb(images, labels, mask)
            self.current = "margins"
            best = super().perturb(images, labels, mask).clone()
            left = (~self.reached(best, labels)).nonzero().flatten()
            if len(left):
                self.current = "combined"
                best[left] = super().perturb(images[left], labels[left], None if mask is None else mask[left])
            return best

    def detection_logits(self, images: Tensor) -> Tensor:
        """Z_D(x) - threshold, (N,): > 0 exactly where the detector flags the image."""
        logits = self.detector(images)
        if not isinstance(logits, Tensor) or logits.shape != (len(images),):
            shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            raise AdvlabError(f"{self.name}: the detector must return one logit per image, shape ({len(images)},); "
                              f"it returned {shape}")
        return logits - self.threshold

    def gradient(self, adversarial: Tensor, labels: Tensor, generator: torch.Generator | None) -> Tensor:
        adversarial = adversarial.detach().requires_grad_(True)
        ascended = OBJECTIVE_FUNCTIONS[self.current]
        objective = ascended(self.model(adversarial), self.detection_logits(adversarial), labels)
        grad, = torch.autograd.grad(objective.sum(), adversarial)
        return grad

    @torch.no_grad()
    def reached(self, adversarial: Tensor, labels: Tensor) -> Tensor:
        """Per image: the classifier is fooled and the detector does not flag it."""
        fooled = self.model(adversarial).argmax(1) != labels
        return fooled & (self.detection_logits(adversarial) <= 0)

    def ascend(self, images: Tensor, labels: Tensor, mask: Tensor | None,
               generator: torch.Generator | None) -> Tensor:
        """One run of PGD from a (random) start: per image the last successful iterate, else the last one."""
        alpha, eps = self.step_size(), self.eps
        bounds = linf_bounds(images, eps, mask)
        adversarial = random_linf(images, eps, bounds, generator) if self.random_start else images
        best, succeeded = adversarial.clone(), self.reached(adversarial, labels)
        for _ in range(self.iterations()):
            adversarial = linf_step(adversarial, self.gradient(adversarial, labels, generator), alpha, bounds)
            now = self.reached(adversarial, labels)
            keep = now | ~succeeded  # successful now, or never yet: follow the iterates
            best[keep] = adversarial[keep]
            succeeded |= now
        return best

    def __repr__(self) -> str:
        shown = {k: v for k, v in vars(self).items() if k not in ("model", "detector", "clean_logits", "queries")}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"
