"""Peer cases of bench/attacks_vs_peers.py: the elastic family of issue 23 (see bench/peer_sides.py).

EAD (elastic net, both decision rules) against torchattacks' EADEN/EADL1 and ART's ElasticNet, C&W L0 against ART's
CarliniL0Method, C&W Linf against ART's CarliniLInfMethod on the first images (ART attacks one image at a time).
All are minimum-norm attacks compared by success rate and the median over the successes of the size each
minimises (``SIZES``): L2 for EAD's EN rule (L2^2 + beta L1 is dominated by L2^2 at beta = 1e-3), L1 for its L1
rule, L0 for C&W L0, Linf for C&W Linf.
"""

from __future__ import annotations

from peer_sides import Case, Victim, absent, advlab_factory, art_factory, torchattacks_factory

EAD_TORCHATTACKS = (
    "torchattacks keeps the last iterate from one binary step to the next (the paper restarts every c from x0), "
    "starts the momentum at 1/4 instead of 0; abort_early=False here, as the paper runs every iteration. At 20 "
    "steps per c its carried iterate amounts to 100 consecutive steps, and its median L1 comes out ~8 % below "
    "advlab's; at 100 steps per c advlab's is the smaller (L1 rule, 40 digits: 2.06 against 2.19)")
EAD_ART = (
    "ART zeroes the whole gradient, its L2 part too, on an iterate whose margin already exceeds kappa, so an "
    "adversarial iterate is moved by the shrinkage alone; the paper's gradient keeps 2 (x - x0). advlab with that "
    "one change gives ART's images (tests/test_attack_ead.py); under the L1 rule it finds smaller L1 (median 1.84 "
    "against 2.06 on 40 held-out digits; 1.67 against 1.92 on the bench's 120 images), under the EN rule larger. So "
    "the L1 rule's verdict is against torchattacks, which keeps the paper's gradient, as advlab does")
L0_ART = (
    "ART's CarliniL0Method runs its elimination loop x.shape[1] + 1 times -- the channel count plus one, 2 rounds on "
    "these 1-channel digits, fixing at most 2 features (tests/test_attack_cw_l0.py counts them) -- and its L2 stage "
    "is a line search, not Adam; so it is close to an L2 attack: a smaller L2 and a much larger L0 (median 27 "
    "changed pixels of 64 against advlab's 3 here). The judged size is L0, not L2")
LINF_ART = (
    "ART's CarliniLInfMethod is a simplified variant: one image at a time, and at every tau every c from "
    "initial_const to largest_const from the clean image (no warm start), keeping the smallest Linf; it stops after "
    "a tau that brought no improvement. At its default 10 Adam steps it fooled none of 10 digits; here both sides "
    "take 20 steps per c at lr 0.05 from c = 0.01, on the first 20 images (ART ~2 s per image)")
LINF_WHY = (
    "ART restarts every c from the clean image with a fresh Adam, so an image that needs more travel than 20 steps "
    "give at one c is never fooled (3 of these 20); advlab, as the authors' code, keeps Adam going while c doubles "
    "and warm-starts every tau from the last solution")
# the size each case should be judged by; the bench measures L2 and L0 medians today (see the module docstring)
SIZES = {"ead-en": "l2", "ead-l1": "l1", "cw-l0": "l0", "cw-linf": "linf"}


def case_ead(rule: str):
    """The EAD case with decision rule `rule` ("en" or "l1")."""

    def case(victim: Victim, args) -> Case:
        # 100 FISTA steps per c: torchattacks carries its iterate from one c to the next, so at few steps per c its
        # 5 x 20 act like 100 in a row (measured at 20: advlab's median L1 8.6 % above its; at 100 advlab's is lower)
        steps, binary_steps, beta, c, lr = 10 if args.quick else 100, 5, 1e-3, 1e-3, 1e-2
        notes = [EAD_TORCHATTACKS, EAD_ART]
        peer_class = {"en": "EADEN", "l1": "EADL1"}[rule]
        return Case(f"elastic net, beta={beta:g}, {binary_steps} binary steps x {steps} FISTA steps, "
                    f"{rule.upper()} rule", "min-norm", None, None, False, {
                        "advlab": advlab_factory(victim, "advlab.attacks.ead", "EAD", notes, beta=beta, c=c,
                                                 steps=steps, binary_steps=binary_steps, lr=lr, decision_rule=rule),
                        "torchattacks": torchattacks_factory(victim, peer_class, notes, beta=beta, initial_const=c,
                                                             max_iterations=steps, binary_search_steps=binary_steps,
                                                             lr=lr, abort_early=False),
                        "ART": art_factory(victim, "ElasticNet", notes, beta=beta, initial_const=c, max_iter=steps,
                                           binary_search_steps=binary_steps, learning_rate=lr,
                                           decision_rule=rule.upper()),
                    }, notes, size=SIZES[f"ead-{rule}"], max_images=120,
                    # ART's L1 rule runs another algorithm (EAD_ART): shown, judged by the paper's, torchattacks'
                    judged_by=("torchattacks",) if rule == "l1" else ("torchattacks", "ART"))

    return case


def case_cw_l0(victim: Victim, args) -> Case:
    steps, lr, c, largest_c = 20 if args.quick else 40, 0.05, 0.1, 1e3
    notes = [L0_ART]
    return Case(f"L0: {steps} Adam steps per c (lr {lr:g}), c from {c:g} doubling to {largest_c:g}; ART "
                "5 binary steps x 10 line-search steps", "min-norm", None, None, False, {
                    "advlab": advlab_factory(victim, "advlab.attacks.cw_l0", "CWL0", notes, steps=steps, lr=lr, c=c,
                                             largest_c=largest_c),
                    "torchattacks": absent("torchattacks has no C&W L0"),
                    "ART": art_factory(victim, "CarliniL0Method", notes, initial_const=c, max_iter=10,
                                       binary_search_steps=5),
                }, notes, size=SIZES["cw-l0"])


def case_cw_linf(victim: Victim, args) -> Case:
    steps, lr, c, images = 10 if args.quick else 20, 0.05, 1e-2, 20
    notes = [LINF_ART]
    return Case(f"Linf: {steps} Adam steps per c (lr {lr:g}), c from {c:g} doubling to 20, tau x 0.9", "min-norm",
                None, None, False, {
                    "advlab": advlab_factory(victim, "advlab.attacks.cw_linf", "CWLinf", notes, steps=steps, lr=lr,
                                             c=c),
                    "torchattacks": absent("torchattacks has no C&W Linf"),
                    "ART": art_factory(victim, "CarliniLInfMethod", notes, max_iter=steps, learning_rate=lr,
                                       initial_const=c),
                }, notes, max_images=images, size=SIZES["cw-linf"], stronger_why=LINF_WHY)


CASES: dict = {"ead-en": case_ead("en"), "ead-l1": case_ead("l1"), "cw-l0": case_cw_l0, "cw-linf": case_cw_linf}
