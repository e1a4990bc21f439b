"""The options of `advlab translate train` and `advlab superres train`, as typed, validated configs.

Both share the loop's options (advlab.pipelines.game_loop.LoopOptions: steps, minibatch, seed, device, precision,
logging, checkpoints).
Each game's defaults are its paper's settings; the widths and image sizes of the built-in data are scaled down
for a CPU (the papers train 256 px images with 64-channel networks for a day on a GPU), and every one of them is
an option.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from advlab.core.errors import AdvlabError
from advlab.pipelines.game_loop import LoopOptions

TRANSLATION_GAMES = ("pix2pix", "cyclegan")
SUPERRES_GAMES = ("srresnet", "srgan")


@dataclass
class TranslateTrainConfig(LoopOptions):
    """pix2pix (Isola et al. 2017) or CycleGAN (Zhu et al. 2017); Adam(2e-4, 0.5, 0.999) for both."""

    game: Literal["pix2pix", "cyclegan"] = "pix2pix"
    data: str | None = None
    data_a: str | None = None
    data_b: str | None = None
    direction: Literal["AtoB", "BtoA"] = "AtoB"
    image_size: int | None = None
    width: int = 32
    objective: Literal["l1+cgan", "l1", "cgan"] = "l1+cgan"
    l1_weight: float = 100.0
    cycle_weight: float = 10.0
    identity_weight: float = 0.5
    pool_size: int = 50
    blocks: int | None = None
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999

    def validate(self) -> TranslateTrainConfig:
        self.check_loop()
        if self.game == "pix2pix" and (self.data_a or self.data_b):
            raise AdvlabError("pix2pix learns from aligned pairs: pass --data (a built-in set, a folder of A|B "
                              "images or a folder with A/ and B/); --data-a/--data-b are CycleGAN's unpaired folders")
        if self.game == "cyclegan" and self.data is not None and (self.data_a or self.data_b):
            raise AdvlabError("pass either --data NAME (a built-in unpaired set) or --data-a and --data-b, not both")
        if self.game == "cyclegan" and bool(self.data_a) != bool(self.data_b):
            raise AdvlabError("CycleGAN needs both domains: pass --data-a DIR and --data-b DIR")
        if self.width < 1 or self.l1_weight < 0 or self.cycle_weight < 0 or self.identity_weight < 0:
            raise AdvlabError("--width must be positive and the loss weights non-negative")
        return self


@dataclass
class SuperresTrainConfig(LoopOptions):
    """SRResNet (MSE) or SRGAN (Ledig et al. 2017): 16 residual blocks, Adam(1e-4, 0.9), minibatch 16."""

    model: Literal["srresnet", "srgan"] = "srresnet"
    data: str = "photos"
    scale: int = 4
    patch: int | None = None
    blocks: int = 16
    width: int = 64
    init: str | None = None
    adversarial_weight: float = 1e-3
    lr: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.999
    batch_size: int = 16

    def validate(self) -> SuperresTrainConfig:
        self.check_loop()
        if self.scale not in (2, 4, 8):
            raise AdvlabError(f"--scale must be 2, 4 or 8 (sub-pixel stages of 2x), got {self.scale}")
        if self.blocks < 1 or self.width < 1:
            raise AdvlabError("--blocks and --width must be positive")
        if self.init is not None and self.model != "srgan":
            raise AdvlabError("--init starts SRGAN from a trained SRResNet run; pass --model srgan")
        return self
