"""Peer cases of bench/attacks_vs_peers.py: the momentum family of issue 23 (see bench/peer_sides.py).

MI, NI, SI-NI, VMI, VNI, DI and TI-FGSM against torchattacks 3.5.1, and MI-FGSM against ART 1.20.1's
MomentumIterativeMethod (ART implements no other member). Every case uses the papers' schedule, T = 10 steps
of alpha = eps / T with mu = 1.0 (torchattacks' default alpha is 2/255, given explicitly here). Parameter
mapping (advlab's names on the left)::

    MIFGSM(eps, steps, decay)            torchattacks.MIFGSM(eps, alpha=eps/steps, steps, decay)
                                         ART MomentumIterativeMethod(eps, eps_step=eps/steps, max_iter, decay)
    NIFGSM / SINIFGSM(..., scales=m)     torchattacks.NIFGSM / SINIFGSM(..., m=m)
    VMIFGSM / VNIFGSM(..., samples, beta) torchattacks.VMIFGSM / VNIFGSM(..., N=samples, beta)
    DIFGSM(..., diversity_prob)          torchattacks.DIFGSM(..., diversity_prob, resize_rate=0.9)
    TIFGSM(..., kernel_size=3, sigma,    torchattacks.TIFGSM(..., len_kernel=3, nsig=1/sigma, diversity_prob)
           diversity_prob)               [conv2d(groups=3): run on the digits replicated to RGB, the victim
                                         seeing their channel mean; the channels stay equal, the first is kept]

MI, NI and SI-NI are deterministic and must give the same images (the same arithmetic: advlab and
torchattacks divide by the mean absolute gradient, ART by the L1 norm, a constant factor). VMI, VNI, DI
and TI-DIM draw random neighbours or transformations and are compared by robust accuracy over seeds.
"""

from __future__ import annotations

from peer_sides import (
    Case,
    Victim,
    absent,
    advlab_factory,
    art_factory,
    on_three_channels,
    torchattacks_factory,
)

STEPS = 10
DECAY = 1.0
VT_SAMPLES = 5  # torchattacks' default N; the paper's 20 costs four times as long (21 gradients per step)
TI_KERNEL = 3  # advlab's default on 8x8 and 28x28 images (15 at 299 px, in proportion)

DI_NOTES = (
    "advlab draws T(x; p) for every image (size, place, coin) and resizes nearest-neighbour as the authors' "
    "code; torchattacks draws one T for the whole batch, resizes bilinearly, and takes the top and left padding "
    "from 0..H-s-1 -- on 8x8 digits (s = 7) the image always sits top-left, where advlab places it in any of "
    "the 4 corners")
TI_NOTES = (
    "torchattacks' TIFGSM convolves with conv2d(groups=3), so it runs on the digits replicated to three "
    "channels with the victim seeing their mean (the channels stay equal; the first is kept). The kernel "
    "is 3x3 with the TI paper's sigma = k / sqrt(3) (torchattacks nsig = sqrt(3)); the authors' code and "
    "torchattacks' default use sigma = k / 3")




def schedule(args) -> dict:
    eps = args.linf_eps
    return {"eps": eps, "steps": STEPS, "decay": DECAY, "alpha": eps / STEPS}


def budget_words(args, extra: str = "") -> str:
    eps = args.linf_eps
    return f"Linf eps={eps}, {STEPS} steps of eps/{STEPS}, mu={DECAY:g}" + (f", {extra}" if extra else "")


def case_mi_fgsm(victim: Victim, args) -> Case:
    options, notes = schedule(args), []
    eps, alpha = options["eps"], options["alpha"]
    return Case(budget_words(args), "robust", "linf", eps, False, {
        "advlab": advlab_factory(victim, "advlab.attacks.mifgsm", "MIFGSM", notes, eps=eps, steps=STEPS,
                                 decay=DECAY),
        "torchattacks": torchattacks_factory(victim, "MIFGSM", notes, eps=eps, alpha=alpha, steps=STEPS,
                                             decay=DECAY),
        "ART": art_factory(victim, "MomentumIterativeMethod", notes, norm=float("inf"), eps=eps, eps_step=alpha,
                           max_iter=STEPS, decay=DECAY),
    }, notes)



NO_ART = "ART has no such attack"


def case_ni_fgsm(victim: Victim, args) -> Case:
    options, notes = schedule(args), []
    eps, alpha = options["eps"], options["alpha"]
    return Case(budget_words(args, "Nesterov look-ahead"), "robust", "linf", eps, False, {
        "advlab": advlab_factory(victim, "advlab.attacks.nifgsm", "NIFGSM", notes, eps=eps, steps=STEPS,
                                 decay=DECAY),
        "torchattacks": torchattacks_factory(victim, "NIFGSM", notes, eps=eps, alpha=alpha, steps=STEPS,
                                             decay=DECAY),
        "ART": absent(NO_ART),
    }, notes, judged_by=("torchattacks",))


def case_si_ni_fgsm(victim: Victim, args) -> Case:
    options, notes, scales = schedule(args), [], 5
    eps, alpha = options["eps"], options["alpha"]
    return Case(budget_words(args, f"m={scales} scale copies"), "robust", "linf", eps, False, {
        "advlab": advlab_factory(victim, "advlab.attacks.sinifgsm", "SINIFGSM", notes, eps=eps, steps=STEPS,
                                 decay=DECAY, scales=scales),
        "torchattacks": torchattacks_factory(victim, "SINIFGSM", notes, eps=eps, alpha=alpha, steps=STEPS,
                                             decay=DECAY, m=scales),
        "ART": absent(NO_ART),
    }, notes, judged_by=("torchattacks",))


def variance_case(victim: Victim, args, module: str, name: str) -> Case:
    options, beta = schedule(args), 1.5
    eps, alpha = options["eps"], options["alpha"]
    notes = [f"N = {VT_SAMPLES} neighbours per step (torchattacks' default; advlab's default is the paper's 20)"]
    return Case(budget_words(args, f"N={VT_SAMPLES}, beta={beta:g}"), "robust", "linf", eps, True, {
        "advlab": advlab_factory(victim, f"advlab.attacks.{module}", name, notes, seeded=True, eps=eps,
                                 steps=STEPS, decay=DECAY, samples=VT_SAMPLES, beta=beta),
        "torchattacks": torchattacks_factory(victim, name, notes, eps=eps, alpha=alpha, steps=STEPS, decay=DECAY,
                                             N=VT_SAMPLES, beta=beta),
        "ART": absent(NO_ART),
    }, notes, judged_by=("torchattacks",))


def case_vmi_fgsm(victim: Victim, args) -> Case:
    return variance_case(victim, args, "vmifgsm", "VMIFGSM")


def case_vni_fgsm(victim: Victim, args) -> Case:
    return variance_case(victim, args, "vnifgsm", "VNIFGSM")


def case_di_fgsm(victim: Victim, args) -> Case:
    options, notes, p = schedule(args), [DI_NOTES], 0.5
    eps, alpha = options["eps"], options["alpha"]
    return Case(budget_words(args, f"diversity p={p:g} (M-DI2-FGSM)"), "robust", "linf", eps, True, {
        "advlab": advlab_factory(victim, "advlab.attacks.difgsm", "DIFGSM", notes, seeded=True, eps=eps,
                                 steps=STEPS, decay=DECAY, diversity_prob=p),
        "torchattacks": torchattacks_factory(victim, "DIFGSM", notes, eps=eps, alpha=alpha, steps=STEPS,
                                             decay=DECAY, diversity_prob=p, resize_rate=0.9),
        "ART": absent(NO_ART),
    }, notes, judged_by=("torchattacks",))


def case_ti_fgsm(victim: Victim, args) -> Case:
    options, notes, p = schedule(args), [TI_NOTES], 0.5
    eps, alpha = options["eps"], options["alpha"]
    sigma = (TI_KERNEL // 2) / 3 ** 0.5

    def peer(side: Victim):
        return torchattacks_factory(side, "TIFGSM", notes, eps=eps, alpha=alpha, steps=STEPS, decay=DECAY,
                                    kernel_name="gaussian", len_kernel=TI_KERNEL, nsig=(TI_KERNEL // 2) / sigma,
                                    diversity_prob=p, resize_rate=0.9)

    return Case(budget_words(args, f"{TI_KERNEL}x{TI_KERNEL} Gaussian, diversity p={p:g} (TI-DIM)"), "robust",
                "linf", eps, True, {
                    "advlab": advlab_factory(victim, "advlab.attacks.tifgsm", "TIFGSM", notes, seeded=True,
                                             eps=eps, steps=STEPS, decay=DECAY, kernel_size=TI_KERNEL,
                                             sigma=sigma, diversity_prob=p),
                    "torchattacks": on_three_channels(victim, peer),
                    "ART": absent(NO_ART),
                }, notes, judged_by=("torchattacks",))


CASES: dict = {
    "mi-fgsm": case_mi_fgsm, "ni-fgsm": case_ni_fgsm, "si-ni-fgsm": case_si_ni_fgsm, "vmi-fgsm": case_vmi_fgsm,
    "vni-fgsm": case_vni_fgsm, "di-fgsm": case_di_fgsm, "ti-fgsm": case_ti_fgsm,
}
