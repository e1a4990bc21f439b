"""Peer cases of bench/attacks_vs_peers.py: the iterative family of issue 23 (see bench/peer_sides.py).

PI-FGSM, R+FGSM (the paper's single step and torchattacks' iterative variant), TPGD and Jitter against
torchattacks 3.5.1; ART implements none of them. Parameter mapping (advlab's names on the left)::

    PIFGSM(eps, steps, beta)          torchattacks.PIFGSM(max_epsilon=eps, num_iter_set=steps, amplification=beta)
                                          [its kernel is conv2d(groups=3): it attacks the digits replicated to RGB,
                                          the victim seeing their channel mean; its prob and momentum are unused]
    RFGSM(eps, alpha=eps/2, steps=1)  torchattacks.RFGSM(eps, alpha=eps/2, steps=1)   [the paper's eq. 7]
    RFGSM(eps, alpha=a, steps=s,      torchattacks.RFGSM(eps, alpha=a, steps=s)      [its iterative variant]
          step_size=a)
    TPGD(eps, alpha, steps)           torchattacks.TPGD(eps, alpha, steps)
    Jitter(eps, alpha, steps, scale,  torchattacks.Jitter(eps, alpha, steps, scale, std, random_start=True)
           std, random_start=True)
"""

from __future__ import annotations

from peer_sides import Case, Victim, absent, advlab_factory, on_three_channels, torchattacks_factory

STEPS = 10





def case_pifgsm(victim: Victim, args) -> Case:
    eps, beta, notes = args.linf_eps, 10.0, [
        "torchattacks' PIFGSM hard-codes three channels (conv2d groups=3): it runs on the digits replicated to "
        "RGB with the victim seeing their channel mean (the same function); advlab runs on the grayscale digits"]
    return Case(f"Linf eps={eps}, {STEPS} steps, beta={beta:g}, gamma=beta eps/T, kernel 3", "robust", "linf", eps,
                False, {
                    "advlab": advlab_factory(victim, "advlab.attacks.pifgsm", "PIFGSM", notes, eps=eps, steps=STEPS,
                                             beta=beta),
                    "torchattacks": on_three_channels(victim, lambda rgb: torchattacks_factory(
                        rgb, "PIFGSM", notes, max_epsilon=eps, num_iter_set=STEPS, amplification=beta)),
                    "ART": absent("ART has no PI-FGSM"),
                }, notes)


def case_rfgsm(victim: Victim, args) -> Case:
    eps, notes = args.linf_eps, []
    return Case(f"Linf eps={eps}, alpha=eps/2, one gradient step (eq. 7)", "robust", "linf", eps, True, {
        "advlab": advlab_factory(victim, "advlab.attacks.rfgsm", "RFGSM", notes, seeded=True, eps=eps,
                                 alpha=eps / 2, steps=1),
        "torchattacks": torchattacks_factory(victim, "RFGSM", notes, eps=eps, alpha=eps / 2, steps=1),
        "ART": absent("ART has no R+FGSM"),
    }, notes)


def case_rfgsm_iterative(victim: Victim, args) -> Case:
    eps, notes = args.linf_eps, []
    alpha = eps / 4  # torchattacks' default ratio (2/255 at 8/255)
    return Case(f"Linf eps={eps}, alpha={alpha:g} (random and gradient steps), {STEPS} steps", "robust", "linf",
                eps, True, {
                    "advlab": advlab_factory(victim, "advlab.attacks.rfgsm", "RFGSM", notes, seeded=True, eps=eps,
                                             alpha=alpha, steps=STEPS, step_size=alpha),
                    "torchattacks": torchattacks_factory(victim, "RFGSM", notes, eps=eps, alpha=alpha, steps=STEPS),
                    "ART": absent("ART has no R+FGSM"),
                }, notes)


def case_tpgd(victim: Victim, args) -> Case:
    eps, notes = args.linf_eps, []
    alpha = 2.5 * eps / STEPS
    return Case(f"Linf eps={eps}, alpha={alpha:g}, {STEPS} steps, KL from x + 0.001 N(0, I)", "robust", "linf", eps,
                True, {
                    "advlab": advlab_factory(victim, "advlab.attacks.tpgd", "TPGD", notes, seeded=True, eps=eps,
                                             alpha=alpha, steps=STEPS),
                    "torchattacks": torchattacks_factory(victim, "TPGD", notes, eps=eps, alpha=alpha, steps=STEPS),
                    "ART": absent("ART has no TPGD"),
                }, notes)


JITTER_NOTES = (
    "torchattacks departs from the paper (the authors' code) in three places: the squared error instead of the "
    "distance, the division of a fooled image's loss by the Linf norm of its perturbation instead of the L2 norm, "
    "and the last iterate instead of each image's latest misclassified one; advlab follows the paper. Robust "
    "accuracy is unaffected here (images fooled stay fooled at this step size); the successful perturbations are "
    "smaller with advlab (mean L2 0.41 against 0.63 on this victim, tests/test_attack_jitter.py), and with larger "
    "steps (eps 0.2, alpha 0.1) torchattacks returns 16 of 360 images unfooled that one of its iterates had fooled. "
    "On this confident, undefended victim the noise on the saturated softmax dominates the gradient, so Jitter is "
    "weaker than PGD; the paper designs it for robust, low-confidence models")


def case_jitter(victim: Victim, args) -> Case:
    eps, scale, std, notes = args.linf_eps, 10.0, 0.1, [JITTER_NOTES]
    alpha = 2.5 * eps / STEPS
    return Case(f"Linf eps={eps}, alpha={alpha:g}, {STEPS} steps, scale={scale:g}, std={std:g}, random start",
                "robust", "linf", eps, True, {
                    "advlab": advlab_factory(victim, "advlab.attacks.jitter", "Jitter", notes, seeded=True, eps=eps,
                                             alpha=alpha, steps=STEPS, scale=scale, std=std, random_start=True),
                    "torchattacks": torchattacks_factory(victim, "Jitter", notes, eps=eps, alpha=alpha, steps=STEPS,
                                                         scale=scale, std=std, random_start=True),
                    "ART": absent("ART has no Jitter"),
                }, notes)


def case_ffgsm(victim: Victim, args) -> Case:
    eps, notes = args.linf_eps, []
    return Case(f"Linf eps={eps}, alpha=1.25 eps from a uniform start (Wong et al. 2020)", "robust", "linf", eps, True,
                {"advlab": advlab_factory(victim, "advlab.attacks.ffgsm", "FFGSM", notes, seeded=True, eps=eps,
                                          alpha=1.25 * eps),
                 "torchattacks": torchattacks_factory(victim, "FFGSM", notes, eps=eps, alpha=1.25 * eps),
                 "ART": absent("ART's FastGradientMethod with num_random_init=1 starts uniformly but steps from the "
                               "image's own budget; not the same attack")}, notes)


CASES: dict = {"ffgsm": case_ffgsm, "pi-fgsm": case_pifgsm, "r-fgsm": case_rfgsm,
               "r-fgsm-iterative": case_rfgsm_iterative, "tpgd": case_tpgd, "jitter": case_jitter}
