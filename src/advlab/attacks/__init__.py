"""Evasion attacks: adversarial examples against any nn.Module classifier of [0, 1] images.

One attack per file, each citing its paper. ``ATTACKS`` maps the names the CLI and configs use
to the classes; ``make_attack(name, model, **options)`` builds one.
"""

from __future__ import annotations

from advlab.attacks.acg import ACG
from advlab.attacks.advgan import AdvGAN
from advlab.attacks.apgd import APGD
from advlab.attacks.base import Attack
from advlab.attacks.bim import BIM
from advlab.attacks.boundary import Boundary
from advlab.attacks.bpda import BPDA
from advlab.attacks.cw import CW
from advlab.attacks.cw_l0 import CWL0
from advlab.attacks.cw_linf import CWLinf
from advlab.attacks.deepfool import DeepFool
from advlab.attacks.detector_aware import DetectorAwarePGD
from advlab.attacks.difgsm import DIFGSM
from advlab.attacks.ead import EAD
from advlab.attacks.ensemble import Ensemble
from advlab.attacks.eot import EOT, expected_success
from advlab.attacks.fab import FAB, target_by_rank
from advlab.attacks.ffgsm import FFGSM
from advlab.attacks.fgsm import FGSM
from advlab.attacks.geoda import GeoDA
from advlab.attacks.hopskipjump import HopSkipJump
from advlab.attacks.jitter import Jitter
from advlab.attacks.jsma import JSMA
from advlab.attacks.masks import eyeglass_mask, random_blocks_mask, rectangle_mask, stickers_mask
from advlab.attacks.mifgsm import MIFGSM
from advlab.attacks.nes import NES
from advlab.attacks.newtonfool import NewtonFool
from advlab.attacks.nifgsm import NIFGSM
from advlab.attacks.onepixel import OnePixel
from advlab.attacks.patch import Patch
from advlab.attacks.pgd import PGD
from advlab.attacks.pifgsm import PIFGSM
from advlab.attacks.pixle import Pixle
from advlab.attacks.print_photo import destruction_rate, destruction_table, simulate_print_photo
from advlab.attacks.queries import QueryCounter
from advlab.attacks.results import AttackResult
from advlab.attacks.rfgsm import RFGSM
from advlab.attacks.signopt import SignOPT
from advlab.attacks.simba import SimBA
from advlab.attacks.sinifgsm import SINIFGSM
from advlab.attacks.sparsefool import SparseFool
from advlab.attacks.spatial import Spatial
from advlab.attacks.spsa import SPSA
from advlab.attacks.square import Square
from advlab.attacks.tifgsm import TIFGSM
from advlab.attacks.tpgd import TPGD
from advlab.attacks.transfer import Transfer
from advlab.attacks.transforms import TransformDistribution
from advlab.attacks.uap import UAP
from advlab.attacks.vat import VirtualAdversarial
from advlab.attacks.vmifgsm import VMIFGSM
from advlab.attacks.vnifgsm import VNIFGSM
from advlab.attacks.wasserstein import Wasserstein
from advlab.attacks.zoo import ZOO
from advlab.core.errors import AdvlabError
from advlab.models.normalize import Normalize

ATTACKS: dict[str, type[Attack]] = {
    "fgsm": FGSM,
    "ffgsm": FFGSM,
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
    # transfer-oriented iterative attacks (issue 23)
    "mi-fgsm": MIFGSM,
    "ni-fgsm": NIFGSM,
    "si-ni-fgsm": SINIFGSM,
    "vmi-fgsm": VMIFGSM,
    "vni-fgsm": VNIFGSM,
    "di-fgsm": DIFGSM,
    "ti-fgsm": TIFGSM,
    "pi-fgsm": PIFGSM,
    "r-fgsm": RFGSM,
    "tpgd": TPGD,
    "jitter": Jitter,
    # sparse (L0) attacks
    "jsma": JSMA,
    "one-pixel": OnePixel,
    "pixle": Pixle,
    # universal perturbations
    "uap": UAP,
    # score-based black-box
    "simba": SimBA,
    "zoo": ZOO,
    "spsa": SPSA,
    # decision-based black-box
    "boundary": Boundary,
    "geoda": GeoDA,
    "sign-opt": SignOPT,
    # minimum-norm and other white-box
    "sparsefool": SparseFool,
    "newtonfool": NewtonFool,
    "vat": VirtualAdversarial,
    # white-box: conjugate gradient, rotations and translations, the Wasserstein ball
    "acg": ACG,
    "spatial": Spatial,
    "wasserstein": Wasserstein,
    # elastic-net and Carlini & Wagner's L0 and Linf
    "ead": EAD,
    "cw-l0": CWL0,
    "cw-linf": CWLinf,
}


def make_attack(name: str, model, **options) -> Attack:
    """The attack registered under `name`, on `model`, with `options`."""
    if name not in ATTACKS:
        raise AdvlabError(f"unknown attack {name!r}; valid attacks are: {', '.join(ATTACKS)}")
    return ATTACKS[name](model, **options)


__all__ = [
    "ACG", "APGD", "ATTACKS", "AdvGAN", "Attack", "AttackResult", "BIM", "BPDA", "Boundary", "CW", "CWL0",
    "CWLinf", "DIFGSM", "DeepFool", "DetectorAwarePGD", "EAD", "EOT", "Ensemble", "FAB", "FFGSM", "FGSM", "GeoDA",
    "HopSkipJump",
    "JSMA", "Jitter", "MIFGSM", "NES", "NIFGSM", "NewtonFool", "Normalize", "OnePixel", "PGD", "PIFGSM", "Patch",
    "Pixle", "QueryCounter", "RFGSM", "SINIFGSM", "SPSA", "SignOPT", "SimBA", "SparseFool", "Spatial", "Square",
    "TIFGSM", "TPGD", "Transfer", "TransformDistribution", "UAP", "VMIFGSM", "VNIFGSM", "VirtualAdversarial",
    "Wasserstein", "ZOO", "destruction_rate", "destruction_table", "expected_success", "eyeglass_mask",
    "make_attack", "random_blocks_mask", "rectangle_mask", "simulate_print_photo", "stickers_mask",
    "target_by_rank",
]
