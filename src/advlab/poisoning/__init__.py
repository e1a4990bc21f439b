"""Training-data poisoning: backdoors, trojans and availability poisons, with detection and repair beside them.

One poison per file, each citing its paper and equation; every poison is a
:class:`advlab.poisoning.base.Poisoning` whose ``poison(images, labels, seed)`` returns a
:class:`advlab.poisoning.base.PoisonedData`. ``POISONS`` maps the CLI's names to the classes and
``make_poison(name, **options)`` builds one by name.
"""

from __future__ import annotations

from advlab.core.errors import AdvlabError
from advlab.core.parameters import check_options, class_parameters
from advlab.poisoning.back_gradient import BackGradient
from advlab.poisoning.badnets import BadNets
from advlab.poisoning.base import Backdoor, PoisonedData, Poisoning, attack_success_rate
from advlab.poisoning.blended import Blended
from advlab.poisoning.clean_label import CleanLabel
from advlab.poisoning.feature_collision import FeatureCollision
from advlab.poisoning.label_flip import LabelFlip
from advlab.poisoning.svm import SVMPoison
from advlab.poisoning.trojan import Trojan

POISONS: dict[str, type[Poisoning]] = {
    "badnets": BadNets,
    "blended": Blended,
    "clean-label": CleanLabel,
    "label-flip": LabelFlip,
    "feature-collision": FeatureCollision,
    "trojan": Trojan,
    "svm": SVMPoison,
    "back-gradient": BackGradient,
}


def make_poison(name: str, **options) -> Poisoning:
    """The poison registered under `name`, built with `options`; an AdvlabError names the valid names."""
    if name not in POISONS:
        raise AdvlabError(f"unknown poison {name!r}; valid poisons are: {', '.join(POISONS)}")
    check_options(name, options, [parameter.name for parameter in class_parameters(POISONS[name])])
    return POISONS[name](**options)


__all__ = ["POISONS", "BackGradient", "Backdoor", "BadNets", "Blended", "CleanLabel", "FeatureCollision", "LabelFlip",
           "PoisonedData", "Poisoning", "SVMPoison", "Trojan", "attack_success_rate", "make_poison"]
