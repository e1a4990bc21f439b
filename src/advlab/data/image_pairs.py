"""Two sets of images for image-to-image work: inputs and targets, paired row by row or not.

pix2pix (Isola et al. 2017) learns from aligned pairs (x_i, y_i); CycleGAN (Zhu et al. 2017) from two unpaired
domains A and B; super-resolution (Ledig et al. 2017) from (low-resolution, high-resolution) pairs. One container
serves all three: ``a`` holds the inputs (domain A, low resolution), ``b`` the targets (domain B, high resolution).
Minibatches are drawn uniformly with replacement, as Algorithm 1 of Goodfellow et al. 2014 draws them: a paired
set draws the same rows of a and b, an unpaired one draws each side independently.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from advlab.core.errors import AdvlabError


@dataclass
class ImagePairs:
    """Images for translation, float NCHW in [0, 1].

    Args:
        a: (N, C, H, W) inputs: pix2pix's input images, CycleGAN's domain A, super-resolution's low-resolution images.
        b: (M, C', H', W') targets: pix2pix's outputs, CycleGAN's domain B, the high-resolution images.
        name: a short name for logs and reports.
        paired: row i of `a` goes with row i of `b` (then N == M).
        held_out: the evaluation rows (never drawn for training), or None.
        scale: super-resolution's factor (b's size over a's), 1 for translation.
    """

    a: Tensor
    b: Tensor
    name: str
    paired: bool = True
    held_out: ImagePairs | None = None
    scale: int = 1

    def __post_init__(self) -> None:
        for side, images in (("a", self.a), ("b", self.b)):
            if images.ndim != 4 or len(images) == 0:
                raise AdvlabError(f"data set {self.name!r}: side {side} must hold at least one image as "
                                  f"(N, C, H, W), found shape {tuple(images.shape)}")
        if self.paired and len(self.a) != len(self.b):
            raise AdvlabError(f"data set {self.name!r}: a paired set needs as many inputs as targets, found "
                              f"{len(self.a)} and {len(self.b)}")

    def __len__(self) -> int:
        return max(len(self.a), len(self.b))

    @property
    def a_shape(self) -> tuple[int, int, int]:
        return tuple(self.a.shape[1:])

    @property
    def b_shape(self) -> tuple[int, int, int]:
        return tuple(self.b.shape[1:])

    def checkpoint_meta(self) -> dict[str, list[int]]:
        """What a checkpoint records to rebuild the players for these images (advlab.pipelines.game_loop)."""
        return {"a_shape": list(self.a_shape), "b_shape": list(self.b_shape)}

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``n`` inputs and ``n`` targets on ``generator.device``: the same rows of both sides when paired, rows
        drawn independently for each side otherwise; uniform with replacement."""
        device = generator.device
        rows_a = torch.randint(len(self.a), (n,), generator=generator, device=device)
        rows_b = rows_a if self.paired else torch.randint(len(self.b), (n,), generator=generator, device=device)
        return self.a.to(device)[rows_a], self.b.to(device)[rows_b]

    def to(self, device: torch.device | str) -> ImagePairs:
        """The same set with its images (held-out rows included) on `device`."""
        held_out = None if self.held_out is None else self.held_out.to(device)
        return ImagePairs(self.a.to(device), self.b.to(device), self.name, self.paired, held_out, self.scale)
