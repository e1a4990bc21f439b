"""Clean-label (label-consistent) backdoor: hard-to-learn target-class images carrying the trigger.

Turner, Tsipras & Madry 2019, "Label-Consistent Backdoor Attacks" (arXiv:1912.02771). Only images
of the target class are poisoned and their labels are kept, so every poison looks correctly
labelled. To make the model lean on the trigger instead of the image, each poison is first made
hard to classify by an adversarial perturbation within an L-inf ball of radius eps:

    x_adv = argmax_{||x' - x||_inf <= eps} L(x', y, theta)                   (their sec. 4.2)

found by projected gradient descent on a model theta (they use an adversarially trained model so
that the perturbation transfers; here ``model``, e.g. the pipeline's surrogate). Then the trigger is
stamped on, in the improved form of their experiments (sec. 5): a small black-and-white pattern in
all four corners, mirrored so that it survives horizontal and vertical flips (their data augmentation),
or in the bottom-right corner only. The reduced-amplitude variant adds the pattern instead of painting it:

    x'_p = clip(x_p + amplitude * s_p, 0, 1)   on the trigger pixels p, s_p = +1 (white) or -1 (black),

so ``amplitude`` = 1 paints pure white and black (their original trigger) and a smaller amplitude
makes a fainter one; ``test_amplitude`` is the trigger stamped at test time (default 1: the attacker
need not hide the trigger at inference). Here the pattern is a checkerboard of +1 and -1 (white
corners) of side max(3, round(min(H, W) / 8)) (advlab.poisoning.triggers), mirrored into each corner.

The default eps, 64/255 (0.25), suits 8x8 to 28x28 digits, where the usual L-inf threat model is 0.3.
Measured on scikit-learn's digits with a SmallCNN surrogate trained on the clean rows and a SmallCNN
victim trained 10 epochs on the poisoned set (target 0, seeds 0 and 1): at 8 px with 100 of the 150
zeros poisoned the attack success rate is 0.43-0.48 at eps 64/255, 0.48-0.70 at 0.3 and 0.04-0.26 with
the trigger alone (eps 0); at 16 px with 72 poisons, 0.89 at 64/255, 0.33 at 32/255 and 0.01 at 16/255.
Turner et al. use 8/255 to 32/255 on CIFAR-10 with an adversarially trained surrogate.

The PGD is the house's (advlab.attacks.PGD, Madry et al. 2018: random start, step 2.5 eps / steps,
the last iterate): every poison differs from its image by at most eps outside the trigger pixels.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.pgd import PGD
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.poisoning.base import Backdoor, PoisonedData, check_target, check_training_set
from advlab.poisoning.triggers import (
    check_batch,
    check_fraction,
    check_model,
    checkerboard,
    class_count,
    corner_side,
    default_budget,
)

CORNERS = ("all", "bottom-right")
DEFAULT_RATE = 0.05  # of the whole training set: half of one class of ten balanced ones
BATCH = 256  # images per PGD call


class CleanLabel(Backdoor):
    """Label-consistent backdoor (Turner et al. 2019): ``CleanLabel(model, target=0).poison(images, labels)``.

    Args:
        model: the classifier the adversarial perturbations are computed on (ideally adversarially trained).
        target: the class whose images are poisoned and that triggered inputs are sent to.
        rate: share of the whole training set to poison, in (0, 1]; only target-class rows are eligible
            (default 0.05 when poisons is not given either).
        poisons: number of target-class training images to poison (give this or rate).
        eps: L-inf radius of the adversarial perturbation, in [0, 1] (0: the trigger alone).
        steps: PGD steps.
        amplitude: strength of the trigger on the training poisons, in (0, 1]; 1 paints pure white and black.
        test_amplitude: strength of the trigger stamped at test time, in (0, 1].
        corners: where the trigger goes: "all" four corners (mirrored) or "bottom-right".
        size: side of the trigger pattern in pixels (default max(3, round(min(H, W) / 8))).
    """

    name = "clean-label"

    def __init__(self, model: nn.Module, target: int = 0, rate: float | None = None, poisons: int | None = None,
                 eps: float = 64 / 255, steps: int = 10, amplitude: float = 1.0, test_amplitude: float = 1.0,
                 corners: str = "all", size: int | None = None):
        super().__init__(target, *default_budget(rate, poisons, DEFAULT_RATE))
        self.model = check_model(model, self.name)
        self.eps = check_number(f"{self.name}: eps", eps)
        if self.eps > 1:
            raise AdvlabError(f"{self.name}: eps must lie in [0, 1] (images are in [0, 1]), got {eps!r}")
        self.steps = check_int(f"{self.name}: steps", steps, 1)
        self.amplitude = check_fraction(f"{self.name}: amplitude", amplitude)
        self.test_amplitude = check_fraction(f"{self.name}: test_amplitude", test_amplitude)
        if corners not in CORNERS:
            raise AdvlabError(f"{self.name}: unknown corners {corners!r}; valid values are: {', '.join(CORNERS)}")
        self.corners = corners
        self.size = None if size is None else check_int(f"{self.name}: size", size, 1)

    def signs(self, height: int, width: int) -> Tensor:
        """The trigger as a (height, width) map: +1 white, -1 black, 0 untouched pixels."""
        side = self.size or corner_side(height, width)
        if 2 * side > min(height, width) and self.corners == "all":
            raise AdvlabError(f"{self.name}: four {side}x{side} corner triggers overlap on {height}x{width} images; "
                              "use a smaller size or corners='bottom-right'")
        if side > min(height, width):
            raise AdvlabError(f"{self.name}: a {side}x{side} trigger does not fit {height}x{width} images")
        corner = 2 * checkerboard(side)[0] - 1
        signs = torch.zeros(height, width)
        signs[-side:, -side:] = corner
        if self.corners == "all":
            signs[:side, :side] = corner.flip(0, 1)
            signs[:side, -side:] = corner.flip(0)
            signs[-side:, :side] = corner.flip(1)
        return signs

    def trigger_mask(self, images: Tensor) -> Tensor:
        """A bool (H, W) mask, True on the trigger's pixels for images like `images`."""
        return self.signs(*images.shape[2:]) != 0

    def stamp(self, images: Tensor, amplitude: float) -> Tensor:
        """`images` (N, C, H, W) with amplitude * signs added on the trigger pixels, clipped to [0, 1]."""
        images = check_batch(images, self.name)
        signs = self.signs(*images.shape[2:]).to(images)
        inside = signs != 0
        return torch.where(inside, (images + amplitude * signs).clamp(0, 1), images)

    def apply_trigger(self, images: Tensor) -> Tensor:
        """The test-time trigger at `test_amplitude` on `images` (N, C, H, W) in [0, 1]."""
        return self.stamp(images, self.test_amplitude)

    def perturb(self, images: Tensor, labels: Tensor, seed: int) -> Tensor:
        """PGD (L-inf eps, `steps`) that maximises the loss of the true `labels`, in batches of 256."""
        if self.eps == 0:
            return images.clone()
        attack = PGD(self.model, eps=self.eps, steps=self.steps, seed=seed)
        return torch.cat([attack(images[first:first + BATCH], labels[first:first + BATCH])
                          for first in range(0, len(images), BATCH)])

    def poison(self, images: Tensor, labels: Tensor, seed: int = 0) -> PoisonedData:
        """`budget` target-class rows perturbed by PGD, then triggered at `amplitude`; labels unchanged.
        images (N, C, H, W) in [0, 1], labels (N,) int64."""
        check_training_set(images, labels)
        check_target(self.target, class_count(labels))
        candidates = (labels.cpu() == self.target).nonzero().flatten()
        rows = self.choose_rows(candidates, len(labels), seed).to(labels.device)
        poisoned = images.clone()
        if len(rows):
            hard = self.perturb(images[rows], labels[rows], seed)
            poisoned[rows] = self.stamp(hard, self.amplitude)
        return PoisonedData(poisoned, labels.clone(), rows)

    def options(self) -> dict:
        return {**super().options(), "eps": self.eps, "steps": self.steps, "amplitude": self.amplitude,
                "test_amplitude": self.test_amplitude, "corners": self.corners, "size": self.size}
