"""The options of `advlab gan train`, as one typed, validated config.

Options left at None are filled from the preset of the chosen model (`PRESETS`), so that
`--data ring8` and `--data digits` both work without further flags; the resolved values are
written to the run's config.yaml.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

from advlab.core.errors import AdvlabError
from advlab.core.precision import PRECISIONS
from advlab.gan.diffaugment import parse_policy
from advlab.pipelines.gan.evaluate_gan import parse_metrics

PRESETS: dict[str, dict[str, object]] = {
    # 2-D mixtures: small MLPs, large batches (VEEGAN/PacGAN use MLPs of a few hundred units)
    "mlp": {"z_dim": 2, "width": 128, "depth": 3, "batch_size": 256, "lr_g": 1e-3, "lr_d": 1e-3,
            "ema": 0.99},
    # DCGAN: Radford et al. 2016, sec. 4 (minibatch 128, Adam lr 2e-4, beta1 0.5), with two
    # changes tuned on 16x16 digits (tests/test_dcgan_digits_slow.py): D slower than G
    # (separate learning rates, as in TTUR) and an EMA of G. With 2e-4 for both, D wins early,
    # backgrounds stay grey and 51% of samples are confident digits (p >= 0.9 by a CNN); with
    # these, 56-57% over seeds 0-2 (real digits 93%, uniform noise 0%).
    "dcgan": {"z_dim": 64, "width": 32, "depth": 0, "batch_size": 64, "lr_g": 4e-4, "lr_d": 5e-5,
              "ema": 0.99},
}
# The GAN family (issue #5): each preset is its paper's setting, scaled to small images where the paper's
# networks are larger; options it leaves out come from the dcgan preset. Conditional models read labels.
IMAGE_BASE = PRESETS["dcgan"]
PRESETS.update({
    # Mirza & Osindero 2014: the DCGAN game with the label joined to z and to D's input, with Radford et al.'s
    # Adam(2e-4, 0.5) for both players: the dcgan preset's slower D (5e-5) lets the conditional G collapse
    # within each class (per-pixel std over z within a class 0.015 after 750 steps on 16x16 digits, real
    # 0.129); with 2e-4 for both, 0.098
    "cgan": {**IMAGE_BASE, "lr_g": 2e-4, "lr_d": 2e-4},
    # Miyato & Koyama 2018, sec. 5: projection discriminator with spectral norm, hinge loss, Adam(2e-4, 0, 0.9)
    # and n_dis 5 (five D updates per G update). Their n_dis 5 needs many G steps: on 16x16 digits (pack 2, seed 0)
    # the label agreement of tests/test_gan_family_slow.py is 0.19 after 600 steps and 0.67 after 1,500, where
    # k=1 reaches 0.86 in 600
    "projection": {**IMAGE_BASE, "loss": "hinge", "k": 5, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.0,
                   "beta2": 0.9},
    # Odena et al. 2017: Adam(2e-4, 0.5, 0.999), the log loss for the source term
    "acgan": {**IMAGE_BASE, "lr_g": 2e-4, "lr_d": 2e-4},
    # Miyato et al. 2018, setting C of Table 1 (alpha 2e-4, beta1 0.5, beta2 0.999, n_dis 1), hinge loss
    "sngan": {**IMAGE_BASE, "loss": "hinge", "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999},
    # Zhang et al. 2018: spectral norm in G and D, hinge loss, TTUR 1e-4 (G) / 4e-4 (D), Adam(0, 0.9)
    "sagan": {**IMAGE_BASE, "loss": "hinge", "lr_g": 1e-4, "lr_d": 4e-4, "beta1": 0.0, "beta2": 0.9},
    # Karras et al. 2018: WGAN-GP loss with the drift term (eps_drift 0.001), Adam(1e-3, 0, 0.99), equalised lr
    "progan": {**IMAGE_BASE, "loss": "wgan-gp", "drift": 1e-3, "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.0,
               "beta2": 0.99},
    # Gulrajani et al. 2017, Algorithm 1: lambda 10, n_critic 5, Adam(1e-4, 0, 0.9), no batch norm in the critic
    "wgan-gp": {**IMAGE_BASE, "loss": "wgan-gp", "k": 5, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9},
    # Metz et al. 2017's stacked-MNIST DCGAN with D at 1/4 of G, as Lin et al. 2018 (PacGAN, Table 3) train it in
    # their code: z 256, minibatches of 128 packs, Adam G 1e-4 / D 2e-4 (0.5, 0.99), no EMA (models/metz_dcgan.py).
    # Their pack-m D sees 128 packs of m samples a step; here --batch-size counts samples, so PacGAN's setting
    # with --pack m is --batch-size 128m
    "metz-dcgan": {"z_dim": 256, "width": 8, "d_width": 2, "depth": 0, "batch_size": 128, "lr_g": 1e-4,
                   "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.99, "ema": 0.0},
})
CONDITIONAL_MODELS = frozenset({"cgan", "projection", "acgan"})
MODELS = ("auto", *PRESETS)
# Options a preset may set when the user left them out, with the value used when no preset sets them
PRESET_DEFAULTS = {"loss": "nonsaturating", "k": 1, "beta1": 0.5, "beta2": 0.999, "gp_weight": 10.0, "drift": 0.0}
# The WGAN-GP game's own settings, for a model whose preset plays another loss but is given --loss wgan-gp.
# Images: Gulrajani et al. 2017, Algorithm 1 (n_critic 5, Adam(1e-4, 0, 0.9)). 2-D points: the authors' toy
# script (gan_toy.py of their improved_wgan_training code: n_critic 5, Adam(1e-4, 0.5, 0.9), lambda 0.1,
# "smaller lambda makes things faster for toy tasks"). With the mlp preset's Adam(1e-3, 0.5, 0.999) instead,
# WGAN-GP finds 0 of ring8's 8 modes in 1500 steps; with these, 8/8 and 55% high-quality points by 2500.
WGAN_GP_SETTINGS = {
    "images": {"k": 5, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9},
    "points": {"k": 5, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.5, "beta2": 0.9, "gp_weight": 0.1},
}


def default_stage_steps(steps: int, resolution: int) -> int:
    """Progressive growing's phase length when none is given: the run's steps spread evenly over the fade-in
    and stabilisation phases from 4x4 up to `resolution` (2 log2(resolution / 4) + 1 phases)."""
    phases = 2 * max(0, round(math.log2(max(resolution, 4) / 4))) + 1
    return max(1, steps // phases)


@dataclass(frozen=True)
class GANTrainConfig:
    """Every option of `advlab gan train`; see `advlab gan train --help`."""

    out: str | None = None
    data: str = "ring8"
    data_path: str | None = None
    image_size: int | None = None
    train_images: int | None = None
    model: str = "auto"
    conditional: bool = False
    pack: int = 1
    diffaugment: str | None = None
    acgan_weight: float = 1.0
    stage_steps: int | None = None
    z_dim: int | None = None
    width: int | None = None
    d_width: int | None = None
    depth: int | None = None
    loss: str | None = None
    gp_weight: float | None = None
    drift: float | None = None
    steps: int = 3000
    k: int | None = None
    batch_size: int | None = None
    optimizer: Literal["adam", "sgd"] = "adam"
    lr_g: float | None = None
    lr_d: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    momentum: float = 0.9
    noise: Literal["gaussian", "uniform"] = "gaussian"
    ema: float | None = None
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    threads: int | None = None
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    tensorboard: bool = True
    eval_every: int | None = None
    metrics: tuple[str, ...] = ("fid", "modes")
    eval_samples: int = 2000
    features: str = "auto"

    def validate(self) -> None:
        """Range checks the types cannot express."""
        positive = ["steps", "k", "pack", "stage_steps", "log_every", "sample_every", "checkpoint_every",
                    "keep_checkpoints", "z_dim", "width", "d_width", "batch_size", "image_size", "threads",
                    "eval_every", "eval_samples", "train_images"]
        for name in positive:
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise AdvlabError(f"option {name!r} must be positive, got {value}")
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise AdvlabError(f"option {name!r} must be positive, got {value}")
        if self.depth is not None and self.depth < 0:
            raise AdvlabError(f"option 'depth' must be zero or more, got {self.depth}")
        for name in ("beta1", "beta2", "momentum"):
            if getattr(self, name) is not None and not 0 <= getattr(self, name) < 1:
                raise AdvlabError(f"option {name!r} must lie in [0, 1), got {getattr(self, name)}")
        if self.ema is not None and not 0 <= self.ema < 1:
            raise AdvlabError(f"option 'ema' must lie in [0, 1) (0 turns it off), got {self.ema}")
        if self.acgan_weight < 0:
            raise AdvlabError(f"option 'acgan_weight' must be zero or more, got {self.acgan_weight}")
        if self.drift is not None and self.drift < 0:
            raise AdvlabError(f"option 'drift' must be zero or more, got {self.drift}")
        if self.gp_weight is not None and self.gp_weight < 0:
            raise AdvlabError(f"option 'gp_weight' must be zero or more, got {self.gp_weight}")
        if self.eval_every is not None:
            parse_metrics(self.metrics)
        if self.diffaugment:
            parse_policy(self.diffaugment)
        if self.precision not in PRECISIONS:
            raise AdvlabError(f"unknown precision {self.precision!r}; valid precisions are: {', '.join(PRECISIONS)}")
        if self.model not in MODELS:
            raise AdvlabError(f"unknown model {self.model!r}; valid models are: {', '.join(MODELS)}")

    def resolved(self, data_kind: str, resolution: int | None = None) -> GANTrainConfig:
        """This config with `model` chosen for the data and every None filled from its preset (and, for progressive
        growing on images of `resolution`, the stage length, so that a resumed run keeps its schedule)."""
        model = self.model
        if model == "auto":
            model = "mlp" if data_kind == "points" else "dcgan"
        if model == "dcgan" and self.conditional:
            model = "cgan"  # --conditional turns the DCGAN into Mirza & Osindero's conditional GAN
        if (model == "mlp") != (data_kind == "points"):
            raise AdvlabError(f"model {model!r} does not fit data {self.data!r} ({data_kind}); "
                              f"use {'mlp' if data_kind == 'points' else 'an image model'} or auto")
        conditional = self.conditional or model in CONDITIONAL_MODELS
        if model not in CONDITIONAL_MODELS and model != "mlp" and conditional:
            raise AdvlabError(f"model {model!r} has no conditional form; use cgan, projection or acgan "
                              "(or mlp for 2-D points)")
        preset = {**PRESET_DEFAULTS, **PRESETS[model]}
        loss = self.loss or preset["loss"]
        if loss == "wgan-gp" and preset["loss"] != "wgan-gp":
            preset.update(WGAN_GP_SETTINGS["points" if model == "mlp" else "images"])
        if loss != "wgan-gp":
            preset["drift"] = 0.0  # progan given another loss: the drift term belongs to the critic's loss
        filled = {key: value for key, value in preset.items() if getattr(self, key) is None}
        if model == "progan" and self.stage_steps is None and resolution is not None:
            filled["stage_steps"] = default_stage_steps(self.steps, resolution)
        resolved = dataclasses.replace(self, model=model, conditional=conditional, **filled)
        if resolved.d_width is None:  # one width for both players unless the preset or --d-width says otherwise
            resolved = dataclasses.replace(resolved, d_width=resolved.width)
        resolved.check_pairs()
        return resolved

    def check_pairs(self) -> None:
        """Refuse model/loss/option pairs that make no sense (after the preset filled the gaps)."""
        if self.model == "acgan" and self.loss in ("wgan-gp", "hinge"):
            raise AdvlabError(f"acgan's source term is a log loss (Odena et al. 2017); loss {self.loss!r} does not "
                              "pair with its classifier head: use nonsaturating, minimax or least-squares")
        if self.model == "wgan-gp" and self.loss != "wgan-gp":
            raise AdvlabError(f"model 'wgan-gp' is the WGAN-GP critic; it trains with loss wgan-gp, not {self.loss!r}")
        if self.drift and self.loss != "wgan-gp":
            raise AdvlabError(f"option 'drift' is a term of the WGAN-GP critic's loss (Karras et al. 2018); loss "
                              f"{self.loss!r} has none")
        if self.stage_steps is not None and self.model != "progan":
            raise AdvlabError(f"option 'stage_steps' applies to progressive growing (--model progan), not {self.model}")
        if self.batch_size % self.pack:
            raise AdvlabError(f"batch_size {self.batch_size} is not divisible by pack {self.pack}: PacGAN packs "
                              "each minibatch into groups of pack samples")
