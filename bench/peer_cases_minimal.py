"""Peer cases of bench/attacks_vs_peers.py: the minimal family of issue 23 (see bench/peer_sides.py).

NewtonFool and the virtual adversarial perturbation against ART; SparseFool against torchattacks. ART's NewtonFool
runs on the victim as the other cases give it (logits); its VirtualAdversarialMethod refuses logits, so it gets the
victim followed by a softmax.
"""

from __future__ import annotations

import random

from peer_sides import Case, Unavailable, Victim, absent, advlab_factory, art_factory, torchattacks_factory

NEWTONFOOL_ART = (
    "ART's NewtonFool descends whatever its classifier predicts -- here the logit z_l, not the paper's softmax "
    "probability -- and runs every step on every image, past the boundary; advlab follows the paper (softmax) and "
    "stops an image once it is misclassified. On the softmax ART fools 35 % of 100 digits "
    "(tests/test_attack_newtonfool.py)")
NEWTONFOOL_WHY = "advlab stops each image once misclassified; ART keeps stepping (notes)"
VAT_ART = (
    "ART probes the KL at x + d with ||d|| = 1 (not xi d) and estimates its gradient by coordinate finite "
    "differences of 1e-6 on float32 probabilities; advlab takes the exact Hessian-vector product (the paper's "
    "xi -> 0). Gaussian noise of the same L2 size leaves 98-99 % robust at eps 0.5-1 (tests/test_attack_vat.py)")
VAT_WHY = "ART's finite-difference power iteration finds a much weaker direction (notes)"
SPARSEFOOL_NOTES = (
    "min-norm table shows L2; SparseFool minimises L0: the median number of changed pixels of the successes is in "
    "tests/test_attack_sparsefool.py (advlab 5, torchattacks 6 of 64 on 40 digits). torchattacks restarts its linear "
    "solver from the clean image at every outer step (Algorithm 2 starts it at x^(i))")



def art_softmax_factory(victim: Victim, name: str, notes: list[str], **options):
    """ART's `name` on the victim followed by nn.Softmax (for ART attacks that require probabilities)."""

    def make(seed: int):
        try:
            from art.attacks import evasion
        except ImportError as error:
            raise Unavailable(f"ART is not installed ({error})") from None
        import numpy as np
        import torch

        model = torch.nn.Sequential(victim.model, torch.nn.Softmax(1))
        classifier = victim.art_around(model)
        attack = getattr(evasion, name)(classifier, batch_size=len(victim.labels), verbose=False, **options)

        def run(images, labels):
            np.random.seed(seed)
            random.seed(seed)
            adversarial = attack.generate(x=images.cpu().numpy())
            return torch.from_numpy(adversarial).to(images.device, images.dtype)

        return run

    return make


def case_newtonfool(victim: Victim, args) -> Case:
    steps, eta, notes = 20 if args.quick else 100, 0.01, [NEWTONFOOL_ART]
    return Case(f"eta {eta}, {steps} steps", "min-norm", None, None, False, {
        "advlab": advlab_factory(victim, "advlab.attacks.newtonfool", "NewtonFool", notes, steps=steps, eta=eta),
        "torchattacks": absent("torchattacks has no NewtonFool"),
        "ART": art_factory(victim, "NewtonFool", notes, max_iter=steps, eta=eta),
    }, notes, stronger_why=NEWTONFOOL_WHY, judged_by=("ART",))


def case_vat(victim: Victim, args) -> Case:
    eps, notes = args.l2_eps, [VAT_ART]
    budget = f"L2 eps={eps}, one power iteration (advlab: exact Hessian product; ART: finite_diff 1e-6)"
    return Case(budget, "robust", "l2", eps, True, {
        "advlab": advlab_factory(victim, "advlab.attacks.vat", "VirtualAdversarial", notes, seeded=True, eps=eps),
        "torchattacks": absent("torchattacks has no virtual adversarial perturbation"),
        "ART": art_softmax_factory(victim, "VirtualAdversarialMethod", notes, eps=eps, max_iter=1,
                                   finite_diff=1e-6),
    }, notes, stronger_why=VAT_WHY, judged_by=("ART",))


def case_sparsefool(victim: Victim, args) -> Case:
    steps, lam, notes = 10, 3.0, [SPARSEFOOL_NOTES]
    return Case(f"L0, lambda {lam:g}, {steps} steps, overshoot 0.02", "min-norm", None, None, False, {
        "advlab": advlab_factory(victim, "advlab.attacks.sparsefool", "SparseFool", notes, steps=steps, lam=lam),
        "torchattacks": torchattacks_factory(victim, "SparseFool", notes, steps=steps, lam=lam, overshoot=0.02),
        "ART": absent("ART has no SparseFool"),
    }, notes, judged_by=("torchattacks",), size="l0")


CASES: dict = {"newtonfool": case_newtonfool, "vat": case_vat, "sparsefool": case_sparsefool}
