"""The options of `advlab classifier train`, as one typed, validated config.

The victim of the evasion attacks: a small CNN (``advlab.models.SmallCNN``) or an MLP
(``advlab.models.MLPClassifier``) trained with Adam on labelled images, with a seeded held-out
split on which the attacks are later measured. Every field is a flag (``--epochs 20``) and a
YAML key (``epochs: 20``); `from_mapping` refuses unknown keys and wrong types, `validate`
the ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from advlab.core.errors import AdvlabError

LABELLED_DATA = ("digits", "idx", "folder")
UNLABELLED_DATA = {
    "npy": "npy files carry no labels; use --data idx with --labels-path, or --data folder with "
           "one sub-folder per class",
    "ring8": "ring8 holds 2-D points, not labelled images",
    "grid25": "grid25 holds 2-D points, not labelled images",
}
DEFAULT_WIDTH = {"cnn": 32, "mlp": 256}  # the models' own defaults


@dataclass(frozen=True)
class ClassifierTrainConfig:
    """Every option of `advlab classifier train`; see `advlab classifier train --help`."""

    out: str | None = None
    data: str = "digits"
    data_path: str | None = None
    labels_path: str | None = None
    image_size: int | None = None
    model: Literal["cnn", "mlp"] = "cnn"
    width: int | None = None
    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.0
    test_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    tensorboard: bool = False

    def validate(self) -> None:
        """Range checks the types cannot express."""
        if self.data in UNLABELLED_DATA:
            raise AdvlabError(f"cannot train a classifier on data {self.data!r}: {UNLABELLED_DATA[self.data]}")
        if self.data not in LABELLED_DATA:
            raise AdvlabError(f"unknown dataset {self.data!r} for a classifier; valid datasets are: "
                              f"{', '.join(LABELLED_DATA)}")
        for name in ("epochs", "batch_size", "width", "image_size", "threads"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise AdvlabError(f"option {name!r} must be positive, got {value}")
        if not self.lr > 0:
            raise AdvlabError(f"option 'lr' must be positive, got {self.lr}")
        if self.weight_decay < 0:
            raise AdvlabError(f"option 'weight_decay' must be zero or more, got {self.weight_decay}")
        if not 0 < self.test_fraction < 1:
            raise AdvlabError(f"option 'test_fraction' must lie strictly between 0 and 1, got {self.test_fraction}")
        if self.seed < 0:
            raise AdvlabError(f"option 'seed' must be zero or more, got {self.seed}")
        if self.labels_path is not None and self.data != "idx":
            raise AdvlabError(f"labels_path applies only to data 'idx', not {self.data!r}")
        if self.data == "idx" and self.labels_path is None:
            raise AdvlabError("data 'idx' needs labels for a classifier: pass --labels-path FILE "
                              "(e.g. train-labels-idx1-ubyte.gz)")

    @property
    def model_width(self) -> int:
        return DEFAULT_WIDTH[self.model] if self.width is None else self.width
