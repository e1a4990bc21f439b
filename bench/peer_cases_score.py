"""Peer cases of bench/attacks_vs_peers.py: the score family of issue 23 (see bench/peer_sides.py).

SimBA (ART SimBA), ZOO (ART ZooAttack) and SPSA (torchattacks SPSA), each at equal queries per image:

    SimBA(eps, basis, queries=Q)      ART SimBA(attack="px"/"dct", epsilon=eps, max_iter=(Q - 1) // 2,
                                          freq_dim=1, stride=1)   [ART queries both x - eps q and x + eps q
                                          for every direction (2 per iteration, after one clean pass), the paper
                                          only x + eps q when x - eps q did not help: at Q queries advlab tries
                                          more directions; ART needs a classifier that outputs probabilities
                                          (a softmax is put on the victim) and one-hot labels, and works one
                                          image at a time]
    ZOO(c, lr, coordinates=P,         ART ZooAttack(initial_const=c, learning_rate=lr, nb_parallel=P,
        queries=1 + I (2P + 1))           max_iter=I, binary_search_steps=1, use_resize=False,
                                          use_importance=False, abort_early=False, batch_size=1)
                                          [2P + 1 queries per iteration too; batch_size 1 because with
                                          use_resize=False ART sizes ADAM's state for one image and fails on a
                                          batch]
    SPSA(eps, delta, lr, samples=n,   torchattacks.SPSA(eps, delta, lr, nb_iter=T, nb_sample=n)
         queries=1 + T (2n + 1))          [2n queries per iteration, no clean pass, no early stop: advlab's T
                                          iterations cost one more query each (the check of the new iterate)]
"""

from __future__ import annotations

import random

from peer_sides import Case, Unavailable, absent, advlab_factory, torchattacks_factory

SIMBA_WHY = (
    "at equal queries per image advlab tries more directions: the paper (Algorithm 1) queries x + eps q only "
    "when x - eps q did not lower the probability, 1 or 2 queries per direction, while ART queries both sides of "
    "every direction (2 per iteration); ART also clips each accepted step onto [0, 1] where advlab (the authors' "
    "batch code) clips the sum of the steps")
ZOO_WHY = (
    "ART's ZooAttack departs from the paper in three places (read in art/attacks/evasion/zoo.py, ART 1.20.1): it "
    "clips the perturbation itself to the clip values [0, 1] (`current_noise[index] = np.clip(..., clip_min, "
    "clip_max)`), so no pixel can ever be darkened; it adds the accumulated noise to the previous iterate "
    "(`return x + self._current_noise` with x the current iterate), so each iteration re-applies every earlier "
    "step; and the distance term of its finite differences is measured from the current iterate, not the clean "
    "image. advlab follows Algorithm 2: x = clip(x0 + delta), the distance to x0")



def art_softmax_side(victim, name: str, notes: list[str], one_hot: bool, **options):
    """ART's `name` on the victim with a softmax on top (SimBA needs probabilities), one image at a time."""

    def make(seed: int):
        try:
            from art.attacks import evasion
        except ImportError as error:
            raise Unavailable(f"ART is not installed ({error})") from None
        import numpy as np
        import torch

        model = torch.nn.Sequential(victim.model, torch.nn.Softmax(dim=1)) if one_hot else victim.model
        classifier = victim.art_around(model)
        attack = getattr(evasion, name)(classifier, verbose=False, **options)

        def run(images, labels):
            np.random.seed(seed)
            random.seed(seed)
            y = labels.cpu().numpy()
            if one_hot:
                y = np.eye(victim.classes, dtype=np.float32)[y]
            adversarial = attack.generate(x=images.cpu().numpy(), y=y)
            return torch.from_numpy(adversarial).to(images.device, images.dtype)

        return run

    return make


def simba_case(victim, args, basis: str) -> Case:
    eps, queries, notes = 0.2, 41 if args.quick else 201, []
    return Case(f"L2 walk, eps={eps} per step, {basis} basis, {queries} queries per image (clean pass included)",
                "min-norm", None, None, True, {
                    "advlab": advlab_factory(victim, "advlab.attacks.simba", "SimBA", notes, seeded=True, eps=eps,
                                             basis=basis, freq_ratio=1 / 8, stride_ratio=1 / 32, queries=queries),
                    "ART": art_softmax_side(victim, "SimBA", notes, True, attack="px" if basis == "pixel" else "dct",
                                            epsilon=eps, max_iter=(queries - 1) // 2, freq_dim=1, stride=1),
                    "torchattacks": absent("torchattacks 3.5.1 has no SimBA"),
                }, notes, stronger_why=SIMBA_WHY, judged_by=("ART",), max_seeds=1)


def case_simba_pixel(victim, args) -> Case:
    return simba_case(victim, args, "pixel")


def case_simba_dct(victim, args) -> Case:
    return simba_case(victim, args, "dct")


def case_zoo(victim, args) -> Case:
    c, lr, coordinates, iterations, notes = 1.0, 0.1, 16, 4 if args.quick else 10, []
    queries = 1 + iterations * (2 * coordinates + 1)
    return Case(f"L2, c={c:g}, lr={lr:g}, {coordinates} coordinates x {iterations} iterations ({queries} queries "
                "per image), one c", "min-norm", None, None, True, {
                    "advlab": advlab_factory(victim, "advlab.attacks.zoo", "ZOO", notes, seeded=True, c=c, lr=lr,
                                             coordinates=coordinates, binary_steps=1, queries=queries),
                    "ART": art_softmax_side(victim, "ZooAttack", notes, False, initial_const=c, learning_rate=lr,
                                            nb_parallel=coordinates, max_iter=iterations, binary_search_steps=1,
                                            use_resize=False, use_importance=False, abort_early=False,
                                            batch_size=1, confidence=0.0),
                    "torchattacks": absent("torchattacks 3.5.1 has no ZOO"),
                }, notes, stronger_why=ZOO_WHY, judged_by=("ART",), max_seeds=1, max_images=120)


def case_spsa(victim, args) -> Case:
    eps, delta, lr, samples, iterations, notes = args.linf_eps, 0.01, 0.01, 16, 5 if args.quick else 20, []
    queries = 1 + iterations * (2 * samples + 1)
    return Case(f"Linf eps={eps}, delta={delta}, Adam lr={lr}, {samples} samples x {iterations} iterations "
                f"({queries} queries per image)", "robust", "linf", eps, True, {
                    "advlab": advlab_factory(victim, "advlab.attacks.spsa", "SPSA", notes, seeded=True, eps=eps,
                                             delta=delta, lr=lr, samples=samples, queries=queries),
                    "torchattacks": torchattacks_factory(victim, "SPSA", notes, eps=eps, delta=delta, lr=lr,
                                                         nb_iter=iterations, nb_sample=samples, max_batch_size=64),
                    "ART": absent("ART 1.20.1 has no SPSA evasion attack"),
                }, notes, judged_by=("torchattacks",))


CASES: dict = {"simba-pixel": case_simba_pixel, "simba-dct": case_simba_dct, "zoo": case_zoo, "spsa": case_spsa}
