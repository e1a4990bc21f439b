"""A history of generated images for the discriminator (Shrivastava et al. 2017, "Learning from simulated and
unsupervised images through adversarial training", sec. 2.3), as CycleGAN uses it (Zhu et al. 2017, sec. 4:
"we update the discriminators using a history of generated images rather than the ones produced by the latest
generators. We keep an image buffer that stores the 50 previously created images").

`query(images)` takes each image of a minibatch in turn:

* while the pool holds fewer than ``size`` images, the image is stored and returned;
* once it is full, with probability 1/2 a uniformly chosen stored image is returned and the new image takes its
  place; otherwise the new image is returned and the pool is left as it is.

So once full, each returned image is an old one with probability 1/2 and the discriminator sees generators of
the last few hundred steps rather than only the latest. ``size`` 0 turns the pool off (`query` returns its input).
The coin flips and choices come from the pool's own seeded CPU ``torch.Generator``, so a run is reproducible, and
`state`/`restore` carry the stored images, their count and the generator's state as tensors for a checkpoint.
"""

from __future__ import annotations

import torch
from torch import Tensor

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError

RETURN_OLD_PROBABILITY = 0.5


class ImagePool:
    """A buffer of up to ``size`` generated images.

    Args:
        size: images kept (CycleGAN's 50); 0 turns the pool off.
        generator: a CPU ``torch.Generator`` for the coin flips and choices; a fresh one seeded with 0 if None.
    """

    def __init__(self, size: int = 50, generator: torch.Generator | None = None) -> None:
        self.size = check_int("size", size, 0)
        if generator is not None and generator.device.type != "cpu":
            raise AdvlabError("ImagePool draws from a CPU torch.Generator; pass torch.Generator().manual_seed(seed)")
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.images: list[Tensor] = []

    def __len__(self) -> int:
        return len(self.images)

    def query(self, images: Tensor) -> Tensor:
        """(N, C, H, W) new images -> (N, C, H, W) images for the discriminator, detached, row i from new image i
        or from the pool (see the module docstring)."""
        if self.size == 0:
            return images.detach()
        returned = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                returned.append(image)
                continue
            if torch.rand((), generator=self.generator) < RETURN_OLD_PROBABILITY:
                index = int(torch.randint(self.size, (), generator=self.generator))
                returned.append(self.images[index])
                self.images[index] = image.clone()
            else:
                returned.append(image)
        return torch.stack(returned)

    def state(self) -> dict[str, Tensor]:
        """The stored images (count, C, H, W) (an empty (0,) tensor while none is stored), their count and the
        generator's state, as tensors for safetensors."""
        stored = torch.stack(self.images) if self.images else torch.zeros(0)
        return {"images": stored.cpu().contiguous(), "count": torch.tensor(len(self.images)),
                "generator": self.generator.get_state()}

    def restore(self, tensors: dict[str, Tensor], device: torch.device | str = "cpu") -> None:
        """Inverse of `state`; the images go to ``device``."""
        count = int(tensors["count"])
        if count > self.size or len(tensors["images"]) != count:
            raise AdvlabError(f"the checkpoint's image pool holds {count} images, but this pool keeps {self.size}; "
                              "resume with the pool size the run was started with")
        self.images = [image.to(device) for image in tensors["images"][:count]] if count else []
        self.generator.set_state(tensors["generator"])


__all__ = ["ImagePool"]
