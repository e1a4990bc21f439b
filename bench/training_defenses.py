"""Training defenses at one budget: standard, PGD-AT, TRADES, MART, each with and without AWP, and the baselines.

Every objective trains the same network on the same data and split for the same epochs and inner PGD steps
(``advlab classifier train --defense NAME``), seeds 0-2, and is judged on the held-out images by clean accuracy,
PGD-20 and the worst case per example of advlab's robustness report (its fast budget: FGSM, PGD, APGD-CE, APGD-T and
Square, advlab.pipelines.security.robustness.evaluate_robustness). The objectives:

    standard         cross-entropy
    pgd-at           Madry et al. 2018
    trades           Zhang et al. 2019 (beta 6)
    mart             Wang et al. 2020 (lambda 6)
    ...+awp          Wu et al. 2020, adversarial weight perturbation (gamma 5e-3) on top
    label-smoothing  Szegedy et al. 2016 (0.1)     } baselines, NOT adversarial defenses: they show how much of a
    mixup, cutmix    Zhang et al. 2018; Yun et al. 2019 } defense's gain a regulariser alone gives

The issue asks whether AWP and MART raise the worst case over PGD-AT at an equal budget, "or say by how little": the
page gives each one's difference from its base per seed and on average, and judges only what holds beyond the seeds'
spread (the checks below). Digits (default): 8x8, SmallCNN width 16, eps 0.1, PGD-5 inside, 10 epochs; MNIST
(``--data mnist``): 28x28, SmallCNN, eps 0.3, PGD-10 inside, the eps ramped over the first 2 of 6 epochs.

    python bench/training_defenses.py --check           # digits: about 10 min on one CPU thread
    python bench/training_defenses.py --data mnist      # MNIST at eps 0.3 (about an hour)
    python bench/training_defenses.py --quick           # a smoke run (3 objectives, 1 seed, 2 epochs)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (  # noqa: E402
    Check,
    add_run_flags,
    bench_command,
    checks_lines,
    module_versions,
    page_done,
    page_info,
    pinned_cpus,
    publish,
    split_list,
    verdict,
    work_folder,
)

ROOT = Path(__file__).resolve().parents[1]
SEEDS = "0,1,2"
ADVERSARIAL = {"pgd-at": {"defense": "pgd-at"}, "trades": {"defense": "trades"}, "mart": {"defense": "mart"}}
OBJECTIVES = {
    "standard": {},
    **ADVERSARIAL,
    **{f"{name}+awp": {**options, "awp_gamma": 5e-3} for name, options in ADVERSARIAL.items()},
    "label-smoothing": {"defense": "label-smoothing"},
    "mixup": {"defense": "mixup"},
    "cutmix": {"defense": "cutmix"},
}
BASELINES = ("label-smoothing", "mixup", "cutmix")
DATA = {  # the shared recipe per data set: the network, the budget and the threat model
    "digits": {"eps": 0.1, "config": {"data": "digits", "model": "cnn", "width": 16, "epochs": 10, "attack_steps": 5}},
    "mnist": {"eps": 0.3, "config": {"data": "mnist", "model": "cnn", "epochs": 6, "attack_steps": 10,
                                     "eps_warmup": 2}},
}
QUICK = {"objectives": "standard,pgd-at,mart", "seeds": "0", "epochs": 2}
PGD_STEPS = 20


# ---------------------------------------------------------------------------------- measuring


def measure(name: str, seed: int, args: argparse.Namespace) -> dict:
    """Train objective `name` at `seed` into the work folder; clean, PGD-20 and worst-case accuracy held out."""
    import torch

    from advlab.attacks.pgd import PGD
    from advlab.core.config import from_mapping
    from advlab.pipelines.classifier_config import ClassifierTrainConfig
    from advlab.pipelines.security.robustness import RobustnessConfig, evaluate_robustness
    from advlab.pipelines.train_classifier import held_out_split, load_classifier, train_classifier

    eps, options = DATA[args.data]["eps"], OBJECTIVES[name]
    values = {**DATA[args.data]["config"], **options, "seed": seed, "device": args.device, "threads": args.threads,
              "robust_eval_images": 0, "out": str(args.folder / f"{name}-{seed}")}
    if options.get("defense") in ADVERSARIAL:
        values["eps"] = eps
    else:
        values.pop("eps_warmup", None)  # the ramp is an adversarial defense's option
    if args.epochs is not None:
        values["epochs"] = args.epochs
    started = time.perf_counter()
    run = train_classifier(from_mapping(ClassifierTrainConfig, values), overwrite=True, progress=False,
                           report=False).root
    seconds = time.perf_counter() - started
    model, _ = load_classifier(run, args.device)
    images, labels = held_out_split(run)
    images, labels = images[:args.images], labels[:args.images]  # None: all
    with torch.no_grad():
        clean = float((model(images).argmax(1) == labels).double().mean())
        adversarial = PGD(model, eps=eps, steps=PGD_STEPS, seed=seed)(images, labels)
        pgd = float((model(adversarial).argmax(1) == labels).double().mean())
    record = evaluate_robustness(model, images, labels, RobustnessConfig(
        eps=(eps,), n=len(images), check_images=20, seed=seed, device=args.device, threads=args.threads,
        progress=False, report=False))
    worst = record["robust_accuracy"][f"{eps:g}"]
    print(f"{name} seed {seed}: clean {clean:.3f}, PGD-{PGD_STEPS} {pgd:.3f}, worst case {worst:.3f} "
          f"({seconds:.0f} s of training)", file=sys.stderr)
    return {"clean": clean, "pgd": pgd, "worst": worst, "seconds": seconds}


def spread(values: list[float]) -> float:
    """The seeds' standard deviation (0 for one seed)."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


# ---------------------------------------------------------------------------------- checks and the page


def differences(results: dict, name: str, base: str) -> list[float] | None:
    """Per seed: `name`'s worst case minus `base`'s (None when either was not run)."""
    if name not in results or base not in results:
        return None
    return [a["worst"] - b["worst"] for a, b in zip(results[name], results[base], strict=True)]


def checks(results: dict) -> list[Check]:
    """What holds beyond the seeds' spread; the AWP and MART gains are measured, and judged only as 'no loss'."""
    found = []
    worst = {name: [run["worst"] for run in runs] for name, runs in results.items()}
    if "standard" in worst:
        for name in (n for n in ADVERSARIAL if n in worst):
            gap = statistics.mean(worst[name]) - statistics.mean(worst["standard"])
            found.append(Check(f"{name} keeps at least 25 points more than standard training under the worst case",
                               f"{100 * gap:+.1f} points", verdict(gap >= 0.25)))
    if "pgd-at" in worst:
        for name in (n for n in BASELINES if n in worst):
            gap = statistics.mean(worst["pgd-at"]) - statistics.mean(worst[name])
            found.append(Check(f"{name} (a baseline, not a defense) stays at least 10 points below PGD-AT",
                               f"{100 * gap:.1f} points below", verdict(gap >= 0.10)))
    for name, base in (("pgd-at+awp", "pgd-at"), ("trades+awp", "trades"), ("mart", "pgd-at")):
        gaps = differences(results, name, base)
        if gaps is None:
            continue
        low = statistics.mean(gaps) - spread(gaps)
        found.append(Check(f"{name} loses nothing against {base} beyond the seeds' spread (mean - sd > -2 points)",
                           f"{100 * statistics.mean(gaps):+.1f} points (per seed "
                           + ", ".join(f"{100 * g:+.1f}" for g in gaps) + ")", verdict(low > -0.02)))
    return found


def table_lines(results: dict) -> list[str]:
    lines = [f"| objective | clean | PGD-{PGD_STEPS} | worst case | worst case per seed | training s |",
             "|---|---:|---:|---:|---|---:|"]
    for name, runs in results.items():
        mean = {key: statistics.mean(run[key] for run in runs) for key in ("clean", "pgd", "worst", "seconds")}
        each = ", ".join(f"{run['worst']:.3f}" for run in runs)
        lines.append(f"| {name} | {mean['clean']:.3f} | {mean['pgd']:.3f} | {mean['worst']:.3f} "
                     f"(sd {spread([run['worst'] for run in runs]):.3f}) | {each} | {mean['seconds']:.0f} |")
    return lines


def render(results: dict, found: list[Check], info: dict, args: argparse.Namespace, command: str) -> str:
    recipe = DATA[args.data]
    config = {**recipe["config"], **({"epochs": args.epochs} if args.epochs else {})}
    return "\n".join([
        f"# Training defenses at one budget ({args.data})", "",
        f"Made by `{command}` ({info['date']}; {info['seconds'] / 60:.1f} min; torch {info['versions']['torch']}; "
        f"{info['threads']} torch thread(s) on CPU(s) {info['cpus']}; load {info['load']} at the start, "
        f"{info['load_end']} at the end).", "",
        f"Every objective: `advlab classifier train` with {config}, Linf eps {recipe['eps']} for the adversarial ones "
        f"(inner PGD as `attack_steps`), seeds {', '.join(map(str, args.seed_list))}; judged on "
        f"{'all the' if args.images is None else f'the first {args.images}'} held-out images: clean accuracy, "
        f"PGD-{PGD_STEPS}, and the worst case per example of "
        "`advlab robustness`'s fast budget (FGSM, PGD, APGD-CE, APGD-T, Square). Label smoothing, mixup and CutMix "
        "are baselines, not adversarial defenses.", "",
        *table_lines(results), "", "## Checks", "", *checks_lines(found), "",
        "AWP's and MART's gains are measured above; judged is only that they lose nothing beyond the seeds' spread, "
        "since at this scale the gains themselves are within it (the issue: \"or say by how little\").", ""])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=sorted(DATA), default="digits", help="digits (default) or mnist")
    parser.add_argument("--objectives", default=None, help=f"comma-separated, out of {', '.join(OBJECTIVES)} "
                                                           f"(default all; --quick {QUICK['objectives']})")
    parser.add_argument("--seeds", default=None, help=f"comma-separated (default {SEEDS}; --quick {QUICK['seeds']})")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the data's recipe)")
    parser.add_argument("--images", type=int, default=None, help="held-out images judged (default: all)")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--check", action="store_true", help="exit 1 when a check FAILs")
    parser.add_argument("--work", type=Path, default=None, help="keep the trained runs here (default: a temp folder)")
    parser.add_argument("--out", type=Path, default=None,
                        help="the page (default docs/results/training_defenses.md; mnist: training_defenses_mnist.md)")
    add_run_flags(parser, 0)
    args = parser.parse_args(argv)
    if args.quick:
        args.objectives = args.objectives or QUICK["objectives"]
        args.seeds = args.seeds or QUICK["seeds"]
        args.epochs = args.epochs or QUICK["epochs"]
    args.objective_list = split_list(args.objectives or ",".join(OBJECTIVES), OBJECTIVES, parser, "objective(s)")
    try:
        args.seed_list = [int(seed) for seed in (args.seeds or SEEDS).split(",")]
    except ValueError:
        parser.error(f"--seeds takes comma-separated integers, got {args.seeds!r}")
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.images is not None and args.images < 1:
        parser.error("--images must be at least 1")
    name = "training_defenses.md" if args.data == "digits" else "training_defenses_mnist.md"
    args.out = args.out or ROOT / "docs" / "results" / name
    args.cpus = pinned_cpus(args.pin, args.threads, parser)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = page_info(args, module_versions(("torch",)))
    results: dict[str, list[dict]] = {}
    with work_folder(args, "advlab-training-defenses-"):
        for name in args.objective_list:
            results[name] = [measure(name, seed, args) for seed in args.seed_list]
    page_done(info)
    found = checks(results)
    text = render(results, found, info, args, bench_command("training_defenses.py", argv))
    return publish(text, args.out, "training_defenses", found, args.check)


if __name__ == "__main__":
    sys.exit(main())
