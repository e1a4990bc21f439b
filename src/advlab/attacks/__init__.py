"""Evasion attacks: adversarial examples against any nn.Module classifier of [0, 1] images.

One attack per file, each citing its paper. ``ATTACKS`` maps the names the CLI and configs use
to the classes; ``make_attack(name, model, **options)`` builds one.
"""

from __future__ import annotations

from advlab.attacks.advgan import AdvGAN
from advlab.attacks.apgd import APGD
from advlab.attacks.base import Attack
from advlab.attacks.bim import BIM
from advlab.attacks.bpda import BPDA
from advlab.attacks.cw import CW
from advlab.attacks.deepfool import DeepFool
from advlab.attacks.eot import EOT, expected_success
from advlab.attacks.fab import FAB, target_by_rank
from advlab.attacks.fgsm import FGSM
from advlab.attacks.hopskipjump import HopSkipJump
from advlab.attacks.masks import eyeglass_mask, random_blocks_mask, rectangle_mask, stickers_mask
from advlab.attacks.nes import NES
from advlab.attacks.patch import Patch
from advlab.attacks.pgd import PGD
from advlab.attacks.print_photo import destruction_rate, destruction_table, simulate_print_photo
from advlab.attacks.queries import QueryCounter
from advlab.attacks.results import AttackResult
from advlab.attacks.square import Square
from advlab.attacks.transfer import Transfer
from advlab.attacks.transforms import TransformDistribution
from advlab.core.errors import AdvlabError
from advlab.models.normalize import Normalize

ATTACKS: dict[str, type[Attack]] = {
    "fgsm": FGSM,
    "bim": BIM,
    "pgd": PGD,
    "cw": CW,
    "deepfool": DeepFool,
    "apgd": APGD,
    "fab": FAB,
    "square": Square,
    "nes": NES,
    "hopskipjump": HopSkipJump,
    "transfer": Transfer,
    "eot-pgd": EOT,
    "patch": Patch,
    "bpda": BPDA,
    "advgan": AdvGAN,
}


def make_attack(name: str, model, **options) -> Attack:
    """The attack registered under `name`, on `model`, with `options`."""
    if name not in ATTACKS:
        raise AdvlabError(f"unknown attack {name!r}; valid attacks are: {', '.join(ATTACKS)}")
    return ATTACKS[name](model, **options)


__all__ = [
    "APGD", "ATTACKS", "BIM", "BPDA", "CW", "EOT", "FAB", "FGSM", "NES", "PGD", "AdvGAN", "Attack", "AttackResult",
    "DeepFool",
    "HopSkipJump", "Normalize", "Patch", "QueryCounter", "Square", "Transfer", "TransformDistribution",
    "destruction_rate", "destruction_table", "expected_success", "eyeglass_mask", "make_attack",
    "random_blocks_mask", "rectangle_mask", "simulate_print_photo", "stickers_mask", "target_by_rank",
]
