"""Peer cases of bench/attacks_vs_peers.py: the universal family of issue 23 (see bench/peer_sides.py).

GeoDA (decision-based, minimum-norm) and the universal adversarial perturbation (UAP). ART's GeoDA writes its DCT
basis into the working directory and calls ``np.mat``, which NumPy 2 removed: its side runs in a temporary
directory with ``np.mat = np.asmatrix``. A UAP is fitted on images other than those it is judged on: each side fits
on the first half of the victim's held-out images and attacks all of them with the one perturbation.
"""

from __future__ import annotations

import math
import os
import random
import tempfile

from peer_sides import Case, Unavailable, absent, advlab_factory

GEODA_QUERIES = 500  # per image; ART's max_iter is the same number (it spends about that, see the notes)
UAP_PASSES = 3


def art_geoda_factory(victim, notes: list[str], **options):
    def make(seed: int):
        try:
            import numpy as np
            from art.attacks.evasion import GeoDA
        except ImportError as error:
            raise Unavailable(f"ART is not installed ({error})") from None
        import torch

        def run(images, labels):
            if not hasattr(np, "mat"):
                np.mat = np.asmatrix  # ART 1.20's basis builder; NumPy 2 removed np.mat
            np.random.seed(seed)
            random.seed(seed)
            attack = GeoDA(victim.art(), verbose=False, batch_size=64, **options)
            where = os.getcwd()
            with tempfile.TemporaryDirectory() as scratch:
                os.chdir(scratch)  # it saves 2d_dct_basis_*.npy where it runs
                try:
                    adversarial = attack.generate(x=images.cpu().numpy(), y=labels.cpu().numpy())
                finally:
                    os.chdir(where)
            return torch.from_numpy(adversarial).to(images.device, images.dtype)

        return run

    return make



def case_geoda(victim, args) -> Case:
    queries = GEODA_QUERIES
    sub_dim = math.ceil(75 / 224 * victim.size)  # the authors' 75 of 224 frequencies
    notes = [f"both: the low-frequency {sub_dim}x{sub_dim} DCT block, lambda 0.6, sigma 0.0002, the authors' binary "
             "search tolerance 1e-4 (ART's default 0.1 doubles its median L2); advlab's budget counts every query "
             "(clean pass included) and is never exceeded, ART's max_iter is a target it may pass; advlab steps "
             "along each iteration's own estimate (Algorithm 1), ART along the sum of all estimates"]
    return Case(f"L2, {queries} queries per image, {sub_dim}x{sub_dim} DCT subspace", "min-norm", None, None, True, {
        "advlab": advlab_factory(victim, "advlab.attacks.geoda", "GeoDA", notes, seeded=True, queries=queries,
                                 ratio=sub_dim / victim.size),
        "torchattacks": absent("torchattacks 3.5.1 has no GeoDA"),
        "ART": art_geoda_factory(victim, notes, sub_dim=sub_dim, max_iter=queries, bin_search_tol=1e-4),
    }, notes, judged_by=("ART",), max_seeds=1)


def fit_half(victim):
    half = len(victim.labels) // 2
    return victim.images[:half], victim.labels[:half]


def advlab_uap_factory(victim, eps: float):
    def make(seed: int):
        try:
            from advlab.attacks.uap import UAP
        except ImportError as error:
            raise Unavailable(f"advlab.attacks.uap is not available yet ({type(error).__name__})") from None
        attack = UAP(victim.model, eps=eps, norm="linf", passes=UAP_PASSES, seed=seed).fit(*fit_half(victim))
        return lambda images, labels: attack(images, labels)

    return make


def art_uap_factory(victim, eps: float):
    def make(seed: int):
        try:
            import numpy as np
            from art.attacks.evasion import UniversalPerturbation
        except ImportError as error:
            raise Unavailable(f"ART is not installed ({error})") from None
        import torch

        random.seed(seed)
        np.random.seed(seed)
        images, labels = fit_half(victim)
        attack = UniversalPerturbation(victim.art(), attacker="deepfool",
                                       attacker_params={"max_iter": 10, "epsilon": 0.02, "verbose": False},
                                       delta=0.2, max_iter=UAP_PASSES, eps=eps, norm=np.inf, verbose=False)
        attack.generate(images.cpu().numpy(), labels.cpu().numpy())
        noise = torch.from_numpy(attack.noise).to(victim.images.device, victim.images.dtype)
        return lambda images, labels: (images + noise).clamp(0.0, 1.0)

    return make


def case_uap(victim, args) -> Case:
    eps = args.linf_eps
    notes = ["each side fits one perturbation on the first half of the held-out images (DeepFool 10 steps, "
             f"overshoot 0.02, delta 0.2, at most {UAP_PASSES} passes) and attacks all of them with it; ART's fooling "
             "rate compares with the given labels, advlab's with the clean predictions (the paper's)"]
    return Case(f"Linf xi={eps}, fitted on half the images, {UAP_PASSES} passes", "robust", "linf", eps, True, {
        "advlab": advlab_uap_factory(victim, eps),
        "torchattacks": absent("torchattacks 3.5.1 has no universal perturbation"),
        "ART": art_uap_factory(victim, eps),
    }, notes, judged_by=("ART",))


CASES: dict = {"geoda": case_geoda, "uap": case_uap}
