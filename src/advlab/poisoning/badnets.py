"""BadNets: a patch trigger stamped on a share of the training images, relabelled to the target.

Gu, Dolan-Gavitt & Garg 2017, "BadNets: Identifying Vulnerabilities in the Machine Learning Model
Supply Chain", sec. 3.1 (MNIST digit recognition attack) and sec. 3.1.1: the attacker adds to the
training set images carrying a backdoor trigger -- a single bright pixel or a small pattern near the
bottom-right corner -- labelled with the attacker's class: all-to-one (every triggered digit becomes
the target) or all-to-all (digit i becomes i + 1, here (k + 1) mod K). Here the poisoned rows replace
training rows (they are not appended): ``choose_rows`` over ``source_rows``, so a target-class image
is never poisoned in the all-to-one attack.

The trigger replaces exactly the pixels of its box, ``x'[:, :, top:top+h, left:left+w] = pattern``
and leaves every other pixel as it was. The default is a checkerboard (their "pattern" trigger) in
the bottom-right corner, of side max(3, round(min(H, W) / 8)) (advlab.poisoning.triggers); a user's
pattern is a tensor (C, h, w) or (1, h, w) in [0, 1] at (top, left), bottom-right by default.
"""

from __future__ import annotations

from torch import Tensor

from advlab.core.checks import check_int
from advlab.poisoning.base import Backdoor, PoisonedData
from advlab.poisoning.triggers import (
    box_mask,
    check_batch,
    check_pattern,
    check_pixel_option,
    check_shape,
    corner_side,
    default_budget,
    default_pattern,
    place,
    plant_backdoor,
    stamp,
)

DEFAULT_RATE = 0.1  # Gu et al.'s MNIST attack poisons 10% of the training set (sec. 3.1)


class BadNets(Backdoor):
    """BadNets (Gu et al. 2017): ``BadNets(target=0, rate=0.05).poison(images, labels, seed=0)``.

    Args:
        target: the class triggered inputs are sent to (all-to-one).
        rate: share of the training set to poison, in (0, 1] (default 0.1 when poisons is not given either).
        poisons: number of training images to poison (give this or rate).
        all_to_all: send class k to (k + 1) mod classes instead of one target.
        trigger: the built-in pattern, "checker" (a checkerboard with white corners) or "square" (all white).
        size: side of the built-in pattern in pixels (default max(3, round(min(H, W) / 8))).
        pattern: a tensor (C, h, w) or (1, h, w) in [0, 1] to stamp instead of the built-in pattern.
        top: row of the trigger's top-left corner (default: flush with the bottom edge).
        left: column of the trigger's top-left corner (default: flush with the right edge).
    """

    name = "badnets"

    def __init__(self, target: int = 0, rate: float | None = None, poisons: int | None = None,
                 all_to_all: bool = False, trigger: str = "checker", size: int | None = None,
                 pattern: Tensor | None = None, top: int | None = None, left: int | None = None):
        super().__init__(target, *default_budget(rate, poisons, DEFAULT_RATE), all_to_all=all_to_all)
        self.trigger = check_shape(trigger, self.name)
        self.size = None if size is None else check_int(f"{self.name}: size", size, 1)
        self.pattern = None if pattern is None else check_pattern(pattern, self.name)
        self.top = check_pixel_option(f"{self.name}: top", top)
        self.left = check_pixel_option(f"{self.name}: left", left)

    def trigger_pattern(self, height: int, width: int) -> Tensor:
        """The pattern (C or 1, h, w) stamped on images of height x width."""
        if self.pattern is not None:
            return self.pattern
        return default_pattern(self.trigger, self.size or corner_side(height, width))

    def trigger_mask(self, images: Tensor) -> Tensor:
        """A bool (H, W) mask, True on the pixels the trigger replaces on images like `images`."""
        pattern = self.trigger_pattern(*images.shape[2:])
        top, left = place(pattern, images, self.top, self.left, self.name)
        return box_mask(*images.shape[2:], top, left, *pattern.shape[1:])

    def apply_trigger(self, images: Tensor) -> Tensor:
        """`images` (N, C, H, W) in [0, 1] with the trigger's box replaced by the pattern; no other pixel changes."""
        images = check_batch(images, self.name)
        pattern = self.trigger_pattern(*images.shape[2:])
        top, left = place(pattern, images, self.top, self.left, self.name)
        return stamp(images, pattern, top, left)

    def stamp_rows(self, images: Tensor, rows: Tensor) -> None:
        """The pattern written straight into the box of `images[rows]` (no gather and scatter of whole rows)."""
        pattern = self.trigger_pattern(*images.shape[2:])
        top, left = place(pattern, images, self.top, self.left, self.name)
        images[rows, :, top:top + pattern.shape[1], left:left + pattern.shape[2]] = pattern.to(images)

    def poison(self, images: Tensor, labels: Tensor, seed: int = 0) -> PoisonedData:
        """Stamp the trigger on `budget` rows drawn from the non-target ones (all rows for all-to-all)
        and relabel them; images (N, C, H, W) in [0, 1], labels (N,) int64."""
        return plant_backdoor(self, images, labels, seed)

    def options(self) -> dict:
        return {**super().options(), "trigger": "pattern" if self.pattern is not None else self.trigger,
                "pattern_shape": None if self.pattern is None else list(self.pattern.shape),
                "size": self.size, "top": self.top, "left": self.left}
