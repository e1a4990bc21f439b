"""The options of `advlab gan train`, as one typed, validated config.

Options left at None are filled from the preset of the chosen model (`PRESETS`), so that
`--data ring8` and `--data digits` both work without further flags; the resolved values are
written to the run's config.yaml.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from advlab.core.errors import AdvlabError
from advlab.pipelines.evaluate_gan import parse_metrics

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
MODELS = ("auto", *PRESETS)


@dataclass(frozen=True)
class GANTrainConfig:
    """Every option of `advlab gan train`; see `advlab gan train --help`."""

    out: str | None = None
    data: str = "ring8"
    data_path: str | None = None
    image_size: int | None = None
    model: str = "auto"
    z_dim: int | None = None
    width: int | None = None
    depth: int | None = None
    loss: str = "nonsaturating"
    gp_weight: float = 10.0
    steps: int = 3000
    k: int = 1
    batch_size: int | None = None
    optimizer: Literal["adam", "sgd"] = "adam"
    lr_g: float | None = None
    lr_d: float | None = None
    beta1: float = 0.5
    beta2: float = 0.999
    momentum: float = 0.9
    noise: Literal["gaussian", "uniform"] = "gaussian"
    ema: float | None = None
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    tensorboard: bool = True
    eval_every: int | None = None
    metrics: tuple[str, ...] = ("fid", "modes")
    eval_samples: int = 2000
    features: str = "digits"

    def validate(self) -> None:
        """Range checks the types cannot express."""
        positive = ["steps", "k", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints",
                    "z_dim", "width", "batch_size", "image_size", "threads", "eval_every", "eval_samples"]
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
            if not 0 <= getattr(self, name) < 1:
                raise AdvlabError(f"option {name!r} must lie in [0, 1), got {getattr(self, name)}")
        if self.ema is not None and not 0 <= self.ema < 1:
            raise AdvlabError(f"option 'ema' must lie in [0, 1) (0 turns it off), got {self.ema}")
        if self.gp_weight < 0:
            raise AdvlabError(f"option 'gp_weight' must be zero or more, got {self.gp_weight}")
        if self.eval_every is not None:
            parse_metrics(self.metrics)
        if self.model not in MODELS:
            raise AdvlabError(f"unknown model {self.model!r}; valid models are: {', '.join(MODELS)}")

    def resolved(self, data_kind: str) -> GANTrainConfig:
        """This config with `model` chosen for the data and every None filled from its preset."""
        model = self.model
        if model == "auto":
            model = "mlp" if data_kind == "points" else "dcgan"
        if (model == "mlp") != (data_kind == "points"):
            raise AdvlabError(f"model {model!r} does not fit data {self.data!r} ({data_kind}); "
                              f"use {'mlp' if data_kind == 'points' else 'dcgan'} or auto")
        filled = {key: value for key, value in PRESETS[model].items() if getattr(self, key) is None}
        return dataclasses.replace(self, model=model, **filled)
