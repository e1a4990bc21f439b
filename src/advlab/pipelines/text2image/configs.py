"""The options of `advlab text2image train`, as a typed, validated config.

GAN-INT-CLS (Reed et al. 2016, advlab.text2image.gan_int_cls) with the loop's options (advlab.pipelines.game_loop.
LoopOptions: steps, minibatch, seed, device, precision, logging, checkpoints). The algorithm's settings are the
paper's (sec. 5): Adam lr 2e-4 and beta1 0.5, minibatch 64, z of 100 dimensions from N(0, 1), the text embedding
projected to 128, the wrong-text weight 0.5 and beta = 0.5 for the interpolations; the sizes are scaled for a CPU:
32 x 32 images (the paper's 64: ``--image-size 64``) and ngf = 64, ndf = 32 (the paper's 128 and 64, halved:
``--g-width 128 --d-width 64``). ``method`` is the paper's ablation: gan, gan-cls, gan-int or gan-int-cls.

The defaults on captioned-shapes (seed 0, one CPU thread at load ~3: text encoder and attribute classifier ~70 s,
then 3,000 iterations of 64 at 0.29 s): held-out captions' samples show the asked colour 0.734 (chance 0.143, real
images 1.0), position 0.996 (0.31), count 0.978 (0.5), size 0.786 (0.5), the second shape's colour 0.475;
R-precision 0.592 (real 0.938, chance 0.01); the form of a shape stays at chance (0.262 vs 0.25) in this budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from advlab.core.errors import AdvlabError
from advlab.models.dcgan import ladder
from advlab.pipelines.game_loop import LoopOptions


@dataclass
class Text2ImageTrainConfig(LoopOptions):
    """GAN-INT-CLS (Reed et al. 2016) on captioned images; Adam(2e-4, 0.5, 0.999), minibatch 64."""

    data: str = "captioned-shapes"
    captions: str | None = None
    image_size: int = 32
    held_out_fraction: float = 0.1
    method: Literal["gan-int-cls", "gan-cls", "gan-int", "gan"] = "gan-int-cls"
    cls_weight: float = 0.5
    int_weight: float = 1.0
    int_beta: float = 0.5
    z_dim: int = 100
    projected_dim: int = 128
    g_width: int = 64
    d_width: int = 32
    residual: bool = False
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    encoder_epochs: int | None = None
    eval_samples: int = 500
    batch_size: int = 64
    steps: int = 3000
    sample_every: int = 500

    def validate(self) -> Text2ImageTrainConfig:
        self.check_loop()
        ladder(self.image_size, "GAN-INT-CLS (--image-size)")
        if not 0 <= self.held_out_fraction <= 0.5:
            raise AdvlabError(f"--held-out-fraction must lie in [0, 0.5] (0: the figures on training images), got "
                              f"{self.held_out_fraction}")
        if not 0 <= self.cls_weight < 1:
            raise AdvlabError(f"--cls-weight must lie in [0, 1) (0.5 in the paper), got {self.cls_weight}")
        if self.int_weight < 0 or not 0 <= self.int_beta <= 1:
            raise AdvlabError(f"--int-weight must be >= 0 and --int-beta in [0, 1], got {self.int_weight} and "
                              f"{self.int_beta}")
        for name in ("z_dim", "projected_dim", "g_width", "d_width", "eval_samples"):
            if getattr(self, name) < 1:
                raise AdvlabError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.encoder_epochs is not None and self.encoder_epochs < 1:
            raise AdvlabError(f"--encoder-epochs must be at least 1, got {self.encoder_epochs}")
        if self.batch_size < 2:
            raise AdvlabError("--batch-size must be at least 2 (batch norm, and GAN-INT pairs rows)")
        return self

    @property
    def weights(self) -> tuple[float, float]:
        """(cls_weight, int_weight) that `method` switches on."""
        return (self.cls_weight if "cls" in self.method else 0.0,
                self.int_weight if "int" in self.method else 0.0)


__all__ = ["Text2ImageTrainConfig"]
