"""Peer cases of bench/attacks_vs_peers.py: the geometric family of issue 23 (see bench/peer_sides.py).

Auto-Conjugate Gradient (ACG), the spatial attack (rotations and translations) and the Wasserstein attack, each
against ART (torchattacks 3.5.1 has none of them). The spatial and Wasserstein attacks have no eps-ball: their cases
are "robust" with norm linf and eps 1.0, a check of the box [0, 1] only. ART's Wasserstein is given the authors'
cost ||d||_2^p (its own default is the p-norm of the displacement) and runs on the first images only (it unfolds
the image in Python loops at every Sinkhorn iteration).
"""

from __future__ import annotations

import random

from peer_sides import Case, Unavailable, absent, advlab_factory, art_factory

ACG_WHY = (
    "ART's AutoConjugateGradient computes sign(s) for Linf but then steps along s itself (`perturbation = cgradk`), "
    "a move of eta * (gradient of the batch-mean loss), far below eps, and feeds sign(s) back as the previous "
    "gradient of beta. Measured on 200 of these images (eps 0.1, 20 steps, seeds 0-2): ART 0.955 / 0.965 / 0.975 "
    "robust, ART with `perturbation = np.sign(cgradk)` 0.605 / 0.600 / 0.585, advlab 0.585 / 0.595 / 0.590 "
    "(tests/test_attack_acg.py checks both)")

SPATIAL_WHY = (
    "the paper's grid attack takes the worst transformation per image; ART's SpatialTransformation applies one "
    "transformation to the whole batch (the grid point that fools most images), and for channels-first images it "
    "takes the vertical translation's range from x.shape[1], the channel count (round(1 x 12.5 %) = 0 rows), so it "
    "never shifts a 1-channel digit vertically")



def case_acg(victim, args) -> Case:
    eps, steps, notes = args.linf_eps, 20, []
    notes.append("both: eta(0) = 2 eps, CE loss, one run from a random point of the ball's surface (advlab's "
                 "start='random'; the authors start at the centre of the feasible box)")
    return Case(f"Linf eps={eps}, {steps} steps, CE loss, 1 run", "robust", "linf", eps, True, {
        "advlab": advlab_factory(victim, "advlab.attacks.acg", "ACG", notes, seeded=True, eps=eps, steps=steps,
                                 loss="ce", start="random"),
        "torchattacks": absent("torchattacks 3.5.1 has no ACG"),
        "ART": art_factory(victim, "AutoConjugateGradient", notes, norm=float("inf"), eps=eps, eps_step=2 * eps,
                           max_iter=steps, nb_random_init=1, loss_type="cross_entropy"),
    }, notes, stronger_why=ACG_WHY, judged_by=("ART",))


def case_spatial(victim, args) -> Case:
    rotations, notes = 11 if args.quick else 31, []
    notes.append(f"both: grid of 3 translations per direction over +-1 pixel (12.5 % of {victim.size}) and "
                 f"{rotations} rotations over +-30 degrees; advlab interpolates bilinearly, ART with scipy's cubic "
                 "splines; no eps-ball (eps 1.0 checks the box only)")
    return Case(f"+-30 deg x {rotations}, +-1 px x 3 per direction, grid", "robust", "linf", 1.0, False, {
        "advlab": advlab_factory(victim, "advlab.attacks.spatial", "Spatial", notes, max_rotation=30.0,
                                 max_translation=1 / 8, rotations=rotations, translations=3),
        "torchattacks": absent("torchattacks 3.5.1 has no spatial attack"),
        "ART": art_factory(victim, "SpatialTransformation", notes, max_translation=12.5, num_translations=3,
                           max_rotation=30.0, num_rotations=rotations),
    }, notes, stronger_why=SPATIAL_WHY, judged_by=("ART",))


def art_wasserstein_factory(victim, notes: list[str], **options):
    def make(seed: int):
        try:
            import numpy as np
            from art.attacks.evasion import Wasserstein
        except ImportError as error:
            raise Unavailable(f"ART is not installed ({error})") from None
        import torch

        from advlab.attacks.wasserstein import wasserstein_cost

        attack = Wasserstein(victim.art(), batch_size=len(victim.labels), verbose=False, **options)
        cost = wasserstein_cost(options["kernel_size"], options["p"]).numpy()

        def run(images, labels):
            np.random.seed(seed)
            random.seed(seed)
            adversarial = attack.generate(x=images.cpu().numpy(), y=labels.cpu().numpy(), cost_matrix=cost)
            return torch.from_numpy(adversarial).to(images.device, images.dtype)

        return run

    return make


WASSERSTEIN_IMAGES = 100


def case_wasserstein(victim, args) -> Case:
    steps, eps, factor, every = 10 if args.quick else 20, 0.1, 1.17, 5
    notes = [f"both: Linf steps of 0.1 projected onto the Wasserstein ball (5x5 neighbourhood, cost ||d||_2^2, "
             f"lambda 1000, 400 Sinkhorn iterations at most), radius {eps} grown by {factor} every {every} steps for "
             f"the images not yet fooled; the first {WASSERSTEIN_IMAGES} held-out images only (ART takes ~60 s on "
             "100); no eps-ball (eps 1.0 checks the box only)"]
    return Case(f"Wasserstein radius {eps} x {factor} every {every} steps, {steps} steps", "robust", "linf", 1.0,
                False, {
                    "advlab": advlab_factory(victim, "advlab.attacks.wasserstein", "Wasserstein", notes, eps=eps,
                                             steps=steps, alpha=0.1, step="linf", eps_factor=factor,
                                             eps_every=every, p=2.0, kernel_size=5, regularization=1000.0),
                    "torchattacks": absent("torchattacks 3.5.1 has no Wasserstein attack"),
                    "ART": art_wasserstein_factory(victim, notes, regularization=1000.0, p=2, kernel_size=5,
                                                   eps_step=0.1, norm="inf", ball="wasserstein", eps=eps,
                                                   eps_iter=every, eps_factor=factor, max_iter=steps),
                }, notes, judged_by=("ART",), max_images=WASSERSTEIN_IMAGES)


CASES: dict = {"acg": case_acg, "spatial": case_spatial, "wasserstein": case_wasserstein}
