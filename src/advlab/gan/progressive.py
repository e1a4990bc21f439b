"""The progressive-growing schedule (Karras et al. 2018, sec. 3 and appendix A.1), counted in steps.

The paper trains the first resolution (4x4) for 800k real images, then for every doubling
fades the new layers in over 800k images (alpha rising linearly from 0 to 1, fig. 2) and
stabilises them for another 800k. Here the unit is a training step (one G update of the
trainer), scaled down to `steps_per_stage`:

    phase 0                     start resolution, alpha 1           (steps_per_stage steps)
    phase 2i - 1 (i = 1..n)     resolution start * 2^i, fading in   alpha = s / steps_per_stage, s = 0 .. spp-1
    phase 2i                    resolution start * 2^i, stable      alpha 1

so total_steps = steps_per_stage * (1 + 2n), n the number of doublings from the start to
max_resolution. A step at or past total_steps stays at the final stage (max_resolution, 1),
so training may run longer than the schedule. The first fade-in step uses alpha 0, where the
grown network computes exactly what the previous one did.

`ProgressiveData` hands out real images at the current stage (average-pooled and, during a
fade-in, mixed between the two resolutions like G's output; fig. 2 caption).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.models.progan import downsample_to, stage_resolutions


class Stage(NamedTuple):
    """Where the schedule is: the current output `resolution` and the fade-in weight `alpha`."""

    resolution: int
    alpha: float


class ProgressiveSchedule:
    """Global step -> Stage(resolution, alpha).

    Args:
        max_resolution: final resolution, a power of two >= 8.
        steps_per_stage: steps of every fade-in and every stabilisation phase (>= 1).
        start_resolution: first resolution, a power of two in [4, max_resolution]; default 4.
    """

    def __init__(self, max_resolution: int, steps_per_stage: int, start_resolution: int = 4):
        all_resolutions = stage_resolutions(max_resolution)
        if type(start_resolution) is not int or start_resolution not in all_resolutions:
            raise AdvlabError(f"start_resolution must be one of {', '.join(map(str, all_resolutions))}, "
                              f"got {start_resolution!r}")
        self.max_resolution = max_resolution
        self.steps_per_stage = check_int("steps_per_stage", steps_per_stage, 1)
        self.start_resolution = start_resolution
        self.resolutions = [r for r in all_resolutions if r >= start_resolution]

    @property
    def total_steps(self) -> int:
        """Steps until the final resolution has faded in and stabilised."""
        return self.steps_per_stage * (2 * len(self.resolutions) - 1)

    def stage_at(self, step: int) -> Stage:
        """The stage of global `step` (>= 0); steps past `total_steps` stay at the final stage."""
        check_int("step", step, 0)
        if step >= self.total_steps:
            return Stage(self.max_resolution, 1.0)
        phase, within = divmod(step, self.steps_per_stage)
        resolution = self.resolutions[(phase + 1) // 2]
        fading = phase % 2 == 1
        return Stage(resolution, within / self.steps_per_stage if fading else 1.0)

    def apply(self, step: int, *parts) -> Stage:
        """Set the stage of `step` on every part (G, D, the EMA copy, ProgressiveData) and return it."""
        stage = self.stage_at(step)
        for part in parts:
            part.set_stage(*stage)
        return stage

    def __repr__(self) -> str:
        return (f"ProgressiveSchedule(max_resolution={self.max_resolution}, steps_per_stage={self.steps_per_stage}, "
                f"start_resolution={self.start_resolution}, total_steps={self.total_steps})")


class ProgressiveData:
    """Wraps a data set of (N, C, S, S) images (`data.sample`); hands them out at the current stage.

    Starts at the full resolution S with alpha 1. The wrapped set stays reachable as `.data`
    (move that one to a device; this wrapper holds no tensors).
    """

    def __init__(self, data):
        self.data = data
        self.resolution, self.alpha = data.sample_shape[-1], 1.0

    def set_stage(self, resolution: int, alpha: float) -> None:
        self.resolution, self.alpha = resolution, alpha

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n real images (n, C, r, r) at the current stage, drawn as `data.sample` draws them."""
        return downsample_to(self.data.sample(n, generator), self.resolution, self.alpha)

    def sample_labelled(self, n: int, generator: torch.Generator, pack: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """n real images at the current stage and their labels, drawn as `data.sample_labelled` draws them."""
        images, labels = self.data.sample_labelled(n, generator, pack)
        return downsample_to(images, self.resolution, self.alpha), labels
