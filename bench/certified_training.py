"""Certified training with interval bound propagation (IBP) against PGD-AT: certified and worst-case accuracy.

Three trainings of the same network on the same data, split and epochs (``advlab classifier train``, seeds 0-2):

    plain    cross-entropy
    pgd-at   Madry et al. 2018, PGD-10 inside, trained per eps
    ibp      Gowal et al. 2019, kappa CE(z) + (1 - kappa) CE(z_hat), z_hat the worst-case logits of the eps-box,
             trained per eps (advlab.defenses.ibp: eps and kappa ramped over ``eps_warmup`` epochs after a nominal
             warm-up a fifth as long, kappa to 0.5, the training eps 1.1 eps)

Each trained model is judged on the held-out images by clean accuracy, PGD-20 at the table's eps, the worst case per
example of `advlab robustness`'s fast budget (FGSM, PGD, APGD-CE, APGD-T, Square; evaluate_robustness) and its
IBP-certified accuracy (the same record: the share of images no input of the Linf eps-ball can change), over an eps
grid from 0.025 to 0.15. Randomised smoothing's certificate is an L2 radius, not comparable with these Linf boxes,
and is not shown.

Peer: ART's PyTorchIBPClassifier (art.estimators.certification.interval) on a copy of the same trained weights and
the same images and eps. ART propagates the same intervals but certifies from the logit bounds (lower_y > upper_y'
for every y'), without folding the last layer into the specification, so every image it certifies advlab certifies
too (a check). ART converts only Conv2d, Linear and ReLU: the SmallCNN's max pooling has no ART rule (n/a).

Networks: the 8x8 digits MLP (width 64, 20 epochs; eps 0.05 and 0.1) and SmallCNN (width 16, eps 0.1) at a longer
schedule -- 40 epochs, the eps/kappa ramp over 20 of them, Adam lr 4e-3 -- for all three trainings. At the digits'
short schedule IBP does not train SmallCNN (it collapses to one class); the schedule table on the page retrains IBP
on SmallCNN at seed 0 under the schedules that show why (ramp length, epochs, Adam lr).

    python bench/certified_training.py --check      # about 10-12 min on one CPU thread
    python bench/certified_training.py --quick      # a smoke run (the MLP, one seed, 2 epochs, 40 images)
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (  # noqa: E402
    Check,
    Phases,
    add_run_flags,
    add_verdict_flags,
    bench_command,
    checks_lines,
    module_versions,
    page_done,
    page_info,
    phase_lines,
    pinned_cpus,
    publish,
    split_list,
    verdict,
    work_folder,
)

ROOT = Path(__file__).resolve().parents[1]
SEEDS = "0,1,2"
TRAININGS = {"plain": {}, "pgd-at": {"defense": "pgd-at"}, "ibp": {"defense": "ibp"}}
NETWORKS = {  # the shared recipe per network: its config and the eps its defenses are trained (and judged) at
    "mlp": {"label": "MLP (width 64)", "eps": (0.05, 0.1),
            "config": {"data": "digits", "model": "mlp", "width": 64, "epochs": 20}},
    "cnn": {"label": "SmallCNN (width 16, longer schedule)", "eps": (0.1,),
            "config": {"data": "digits", "model": "cnn", "width": 16, "epochs": 40, "eps_warmup": 20, "lr": 4e-3}},
}
SCHEDULE_EPS = 0.1
SCHEDULES = {  # IBP on SmallCNN at eps 0.1, seed 0: {name: (config changes, what it tries)}
    "digits-short": ({"width": 16, "epochs": 10}, "the digits recipe of training_defenses.py (ramp 2 epochs)"),
    "short-lr-4e-3": ({"width": 16, "epochs": 10, "lr": 4e-3}, "the same with Adam lr 4e-3"),
    "width-8": ({"width": 8, "epochs": 20, "eps_warmup": 8}, "width 8, ramp 8 of 20 epochs (the first fix found)"),
    "long": ({"width": 16, "epochs": 40, "eps_warmup": 20}, "40 epochs, ramp 20 (lr 2e-3)"),
    "long-lr-5e-4": ({"width": 16, "epochs": 40, "eps_warmup": 20, "lr": 5e-4}, "40 epochs, ramp 20, lr 5e-4"),
    "long-ramp-10": ({"width": 16, "epochs": 40, "eps_warmup": 10, "lr": 4e-3}, "40 epochs, ramp 10, lr 4e-3"),
    "recipe": ({"width": 16, "epochs": 40, "eps_warmup": 20, "lr": 4e-3}, "40 epochs, ramp 20, lr 4e-3 (the table's)"),
    "longer": ({"width": 16, "epochs": 60, "eps_warmup": 30, "lr": 4e-3}, "60 epochs, ramp 30, lr 4e-3"),
}
GRID = "0.025,0.05,0.075,0.1,0.125,0.15"
QUICK = {"networks": "mlp", "seeds": "0", "epochs": 2, "images": 40, "grid": "0.05,0.1", "schedules": "digits-short"}
PGD_STEPS = 20
CERTIFIED_GAP = 0.30  # IBP certifies at least this much more than PGD-AT and plain, at every seed
WORST_GAP = 0.08  # IBP's worst case at most this far below PGD-AT's (mean + sd of the per-seed differences)
WORST_JUDGED = ("mlp",)  # the networks that gap is judged on (SmallCNN's is measured: see NOT_JUDGED)
NOT_JUDGED = "not judged"
CNN_TRAINS = {"clean": 0.85, "certified": 0.50}  # IBP on SmallCNN "trains": at least these at every seed
COLOURS = {"plain": "tab:gray", "pgd-at": "tab:blue", "ibp": "tab:red"}


# ---------------------------------------------------------------------------------- training and measuring


def train(network: str, training: str, eps: float | None, seed: int, args: argparse.Namespace,
          changes: dict | None = None, name: str | None = None) -> tuple[Path, float, dict]:
    """`advlab classifier train` (the pipeline function) of `training` on `network`'s recipe (plus `changes`) at
    `seed`, into the work folder: (the run, its training seconds, the options it was given)."""
    from advlab.core.config import from_mapping
    from advlab.pipelines.classifier_config import ClassifierTrainConfig
    from advlab.pipelines.train_classifier import train_classifier

    name = name or f"{network}-{training}" + ("" if eps is None else f"-{eps:g}") + f"-{seed}"
    values = {**NETWORKS[network]["config"], **(changes or {}), **TRAININGS[training], "seed": seed,
              "device": args.device, "threads": args.threads, "robust_eval_images": 0, "out": str(args.folder / name)}
    if eps is None:
        values.pop("eps_warmup", None)  # the ramp is an adversarial defense's option
    else:
        values["eps"] = eps
    if args.epochs is not None:
        values["epochs"] = args.epochs
    if values.get("eps_warmup") is not None:
        values["eps_warmup"] = min(values["eps_warmup"], values["epochs"])
    started = time.perf_counter()
    run = train_classifier(from_mapping(ClassifierTrainConfig, values), overwrite=True, progress=False,
                           report=False).root
    return Path(run), time.perf_counter() - started, values


def judged_images(run: Path, args: argparse.Namespace):
    """(the trained model, the first --images held-out images, their labels)."""
    from advlab.pipelines.train_classifier import held_out_split, load_classifier

    model, _ = load_classifier(run, args.device)
    images, labels = held_out_split(run)
    return model, images[:args.images], labels[:args.images]  # None: all


def measure(network: str, training: str, eps: float | None, seed: int, args: argparse.Namespace) -> dict:
    """Train, then judge on the held-out images: clean accuracy, PGD-20 at each table eps the model stands in, and
    over the grid the worst case and IBP-certified accuracy (one robustness record), ART's certificate at the table
    eps."""
    import torch

    from advlab.attacks.pgd import PGD
    from advlab.pipelines.security.robustness import RobustnessConfig, evaluate_robustness
    from advlab.pipelines.security.robustness_checks import CERTIFIED_CHECK

    run, seconds, _ = train(network, training, eps, seed, args)
    model, images, labels = judged_images(run, args)
    table_eps = args.eps_of[network] if eps is None else (eps,)
    pgd = {}
    for each in table_eps:
        adversarial = PGD(model, eps=each, steps=PGD_STEPS, seed=seed)(images, labels)
        with torch.no_grad():
            pgd[f"{each:g}"] = float((model(adversarial).argmax(1) == labels).double().mean())
    record = evaluate_robustness(model, images, labels, RobustnessConfig(
        eps=tuple(args.grid), n=len(images), check_images=20, seed=seed, device=args.device, threads=args.threads,
        progress=False, report=False))
    if not record["certified"]["supported"]:
        raise RuntimeError(f"{network} {training}: IBP does not apply: {record['certified']['reason']}")
    sound = next(check for check in record["checks"] if check["name"] == CERTIFIED_CHECK)
    result = {"clean": record["clean_accuracy"], "pgd": pgd, "worst": record["robust_accuracy"],
              "certified": record["certified"]["accuracy"], "sound": sound["passed"], "evidence": sound["evidence"],
              "seconds": seconds, "art": {}}
    if "art" in args.peer_list:
        for each in table_eps:
            key = f"{each:g}"
            result["art"][key] = art_certified(model, images, labels, each, set(record["certified"]["rows"][key]),
                                               args)
    shown = ", ".join(f"eps {key}: worst {result['worst'][key]:.3f}, certified {result['certified'][key]:.3f}"
                      for key in map("{:g}".format, table_eps))
    print(f"{network} {training}{'' if eps is None else f' at {eps:g}'} seed {seed}: clean {result['clean']:.3f}, "
          f"{shown} ({seconds:.0f} s of training)", file=sys.stderr)
    return result


def art_peer(model):
    """(what ART needs to convert the model, "") or (None, why not): a Sequential of the model's Linear/ReLU layers
    after its Flatten, fed flattened images (ART hooks every child in order and infers the reshapes itself)."""
    from torch import nn

    from advlab.defenses.ibp import layers_of

    layers = layers_of(copy.deepcopy(model).cpu())  # a copy: ART leaves forward hooks on what it converts
    if layers and isinstance(layers[0], nn.Flatten):
        layers = layers[1:]
    unsupported = sorted({type(layer).__name__ for layer in layers if not isinstance(layer, (nn.Linear, nn.ReLU))})
    if unsupported:
        return None, f"ART converts Conv2d, Linear and ReLU only (this model has {', '.join(unsupported)})"
    return nn.Sequential(*layers).eval(), ""


def art_certified(model, images, labels, eps: float, ours: set[int], args: argparse.Namespace) -> dict:
    """ART's certified share at `eps` on the same weights and images; whether every image it certifies is one of
    advlab's (`ours`: advlab's certified rows); the largest difference of the two libraries' logit bounds."""
    import numpy as np
    import torch
    from torch import nn

    from advlab.defenses.ibp import interval_bounds

    try:
        from art.estimators.certification.interval import PyTorchIBPClassifier
    except ImportError as error:
        return {"reason": f"ART is not installed ({error})"}
    peer, reason = art_peer(model)
    if peer is None:
        return {"reason": reason}
    flat = images.detach().cpu().flatten(1)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():  # ART prints and warns about
            warnings.simplefilter("ignore", UserWarning)  # its conversion (dense before convolutional layers)
            classifier = PyTorchIBPClassifier(model=peer, loss=nn.CrossEntropyLoss(), input_shape=(flat.shape[1],),
                                              nb_classes=int(peer[-1].out_features), clip_values=(0.0, 1.0),
                                              device_type="cpu")
            bounds = classifier.predict_intervals(flat.numpy(), bounds=float(eps), limits=[0.0, 1.0])
    except Exception as error:  # a peer's failure is reported on the page, not a crash of the bench
        if args.verbose:
            raise
        return {"reason": f"ART failed: {type(error).__name__}: {error}"}
    flags = classifier.certify(bounds, labels.cpu().numpy())
    rows = set(np.flatnonzero(flags).tolist())
    with torch.no_grad():
        lower, upper = interval_bounds(model, images, eps)
    theirs = torch.from_numpy(bounds)
    difference = max(float((lower.cpu() - theirs[:, 0]).abs().max()), float((upper.cpu() - theirs[:, 1]).abs().max()))
    return {"accuracy": len(rows) / len(flags), "within": rows <= ours, "extra": len(rows - ours),
            "difference": difference}


def schedule_row(name: str, args: argparse.Namespace) -> dict:
    """IBP on SmallCNN at eps 0.1, seed 0, under schedule `name`: clean and certified held-out accuracy."""
    import torch

    from advlab.defenses.ibp import certified_accuracy

    changes, _ = SCHEDULES[name]
    run, seconds, values = train("cnn", "ibp", SCHEDULE_EPS, 0, args, {"eps_warmup": None, "lr": 2e-3, **changes},
                                 name=f"schedule-{name}")
    model, images, labels = judged_images(run, args)
    with torch.no_grad():
        clean = float((model(images).argmax(1) == labels).double().mean())
    certified = certified_accuracy(model, images, labels, SCHEDULE_EPS)
    print(f"schedule {name}: clean {clean:.3f}, certified {certified:.3f} ({seconds:.0f} s)", file=sys.stderr)
    return {"clean": clean, "certified": certified, "seconds": seconds, "epochs": values["epochs"],
            "width": values["width"], "lr": values["lr"], "ramp": values["eps_warmup"]}


# ---------------------------------------------------------------------------------- checks


def spread(values: list[float]) -> float:
    """The seeds' standard deviation (0 for one seed)."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def runs_at(results: dict, network: str, training: str, eps: float) -> list[dict] | None:
    """The per-seed results of `training` as it stands at table eps `eps` (plain: the one plain model)."""
    return results[network].get((training, None if training == "plain" else eps))


def checks(results: dict, eps_of: dict) -> list[Check]:
    found = []
    models = [(network, training, eps, runs) for network, trained in results.items()
              for (training, eps), runs in trained.items()]
    evaluations = [run for *_, runs in models for run in runs]
    unsound = [f"{network} {training} {eps} seed {seed}" for network, training, eps, runs in models
               for seed, run in enumerate(runs) if not run["sound"]]
    above = max((run["certified"][key] - run["worst"][key] for run in evaluations for key in run["worst"]),
                default=0.0)
    grid = len(evaluations[0]["worst"]) if evaluations else 0
    found.append(Check("certified <= worst case for every model, seed and eps (no attack broke an image IBP "
                       "certified: the bound is sound)",
                       f"{len(evaluations) - len(unsound)} of {len(evaluations)} models x {grid} eps; the largest "
                       f"certified - worst case is {100 * above:+.1f} points" + (f"; broken: {unsound}" if unsound
                                                                               else ""),
                       verdict(not unsound and above <= 0)))
    for network in results:
        label = NETWORKS[network]["label"]
        for eps in eps_of[network]:
            key = f"{eps:g}"
            ibp, pgd, plain = (runs_at(results, network, name, eps) for name in ("ibp", "pgd-at", "plain"))
            if ibp and pgd and plain:
                gaps = [i["certified"][key] - max(p["certified"][key], q["certified"][key])
                        for i, p, q in zip(ibp, pgd, plain, strict=True)]
                found.append(Check(f"{label}, eps {key}: IBP's certified accuracy at least "
                                   f"{100 * CERTIFIED_GAP:.0f} points above PGD-AT's and plain's at every seed",
                                   f"IBP {mean_of(ibp, 'certified', key)}, PGD-AT {mean_of(pgd, 'certified', key)}, "
                                   f"plain {mean_of(plain, 'certified', key)}; smallest gap "
                                   f"{100 * min(gaps):.1f} points", verdict(min(gaps) >= CERTIFIED_GAP)))
            if ibp and pgd:
                gaps = [p["worst"][key] - i["worst"][key] for i, p in zip(ibp, pgd, strict=True)]
                high = statistics.mean(gaps) + spread(gaps)
                measured = (f"{100 * statistics.mean(gaps):+.1f} points (per seed "
                            + ", ".join(f"{100 * g:+.1f}" for g in gaps) + f"); mean + sd {100 * high:.1f}")
                if network in WORST_JUDGED:
                    found.append(Check(f"{label}, eps {key}: IBP's worst case at most {100 * WORST_GAP:.0f} points "
                                       "below PGD-AT's beyond the seeds' spread (mean + sd of PGD-AT - IBP per seed)",
                                       measured, verdict(high <= WORST_GAP)))
                else:
                    found.append(Check(f"{label}, eps {key}: how far IBP's worst case is below PGD-AT's (measured, "
                                       "not judged: see below)", measured, NOT_JUDGED))
    pairs = [(f"{network} {training} eps {key} seed {seed}", run["certified"][key], art)
             for network, training, _, runs in models for seed, run in enumerate(runs)
             for key, art in run["art"].items() if "accuracy" in art]
    if pairs:
        outside = [where for where, _, art in pairs if not art["within"]]
        ibp = [(certified, art["accuracy"]) for where, certified, art in pairs if " ibp " in where]
        means = (f"; on the IBP-trained models ART {100 * statistics.mean(a for _, a in ibp):.1f} %, advlab "
                 f"{100 * statistics.mean(c for c, _ in ibp):.1f} % (mean)" if ibp else "")
        difference = max(art["difference"] for *_, art in pairs)
        found.append(Check("ART's certified accuracy at most advlab's: every image ART certifies, advlab certifies "
                           "(ART bounds the logits; advlab folds the last layer into the specification)",
                           f"{len(pairs) - len(outside)} of {len(pairs)} model-eps pairs{means}; the two libraries' "
                           "logit bounds differ by at most "
                           + ("0 (bit for bit)" if difference == 0 else f"{difference:.1e}")
                           + (f"; not: {outside}" if outside else ""), verdict(not outside)))
    if "cnn" in results and runs_at(results, "cnn", "ibp", eps_of["cnn"][0]):
        key = f"{eps_of['cnn'][0]:g}"
        runs = runs_at(results, "cnn", "ibp", eps_of["cnn"][0])
        low = {name: min(run[name] if name == "clean" else run[name][key] for run in runs) for name in CNN_TRAINS}
        found.append(Check(f"IBP trains SmallCNN at the longer schedule: clean >= {100 * CNN_TRAINS['clean']:.0f} % "
                           f"and certified >= {100 * CNN_TRAINS['certified']:.0f} % at eps {key}, every seed",
                           f"lowest clean {100 * low['clean']:.1f} %, lowest certified {100 * low['certified']:.1f} %",
                           verdict(all(low[name] >= CNN_TRAINS[name] for name in CNN_TRAINS))))
    return found


def mean_of(runs: list[dict], quantity: str, key: str) -> str:
    return f"{100 * statistics.mean(run[quantity][key] for run in runs):.1f} %"


# ---------------------------------------------------------------------------------- the page


def art_cell(runs: list[dict], key: str) -> str:
    found = [run["art"].get(key, {}) for run in runs]
    if found and all("accuracy" in art for art in found):
        return f"{statistics.mean(art['accuracy'] for art in found):.3f}"
    return "n/a"


def table_lines(results: dict, network: str, eps_of: dict) -> list[str]:
    lines = [f"| training | eps | clean | PGD-{PGD_STEPS} | worst case | IBP-certified | certified per seed "
             "| ART-certified | training s |", "|---|---:|---:|---:|---:|---:|---|---:|---:|"]
    for eps in eps_of[network]:
        key = f"{eps:g}"
        for training in TRAININGS:
            runs = runs_at(results, network, training, eps)
            if not runs:
                continue
            worst, certified = ([run[name][key] for run in runs] for name in ("worst", "certified"))
            lines.append(
                f"| {training} | {key} | {statistics.mean(run['clean'] for run in runs):.3f} "
                f"| {statistics.mean(run['pgd'][key] for run in runs):.3f} "
                f"| {statistics.mean(worst):.3f} (sd {spread(worst):.3f}) "
                f"| {statistics.mean(certified):.3f} (sd {spread(certified):.3f}) "
                f"| {', '.join(f'{value:.3f}' for value in certified)} | {art_cell(runs, key)} "
                f"| {statistics.mean(run['seconds'] for run in runs):.0f} |")
    return lines


def schedule_lines(schedules: dict) -> list[str]:
    lines = ["| schedule | width | epochs | ramp epochs | Adam lr | clean | IBP-certified | training s "
             "| what it tries |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, row in schedules.items():
        lines.append(f"| {name} | {row['width']} | {row['epochs']} | {row['ramp'] if row['ramp'] is not None else ''}"
                     f" | {row['lr']:g} | {row['clean']:.3f} | {row['certified']:.3f} | {row['seconds']:.0f} "
                     f"| {SCHEDULES[name][1]} |")
    return lines


FOUND = [  # what the full schedule table above showed (deterministic on CPU), and what was tried outside it
    "Found: the digits' 10-epoch schedule ramps eps over 2 epochs (46 minibatches) and the network collapses to one "
    "class (clean = certified = one class's share, 7.8 %); Adam lr 4e-3 alone does not save it. What trains it is "
    "time: 40 epochs (920 minibatches) with a ramp of 10 or 20 of them. Then the learning rate: lr 4e-3 beats 2e-3 "
    "by 9 points certified, and 5e-4 is far worse (slower, not steadier); 60 epochs add nothing. Width 8 at 20 "
    "epochs (the first fix found) stays at 69 % clean. The paper's other knobs were tried once at seed 0 outside "
    "the pipeline (advlab's config has no kappa or warm-up option; the IBP objective was swapped in a scratch "
    "script, 40 epochs, ramp 20, lr 4e-3): kappa_final 0 gave 90.8 % clean / 76.4 % certified and 0.75 gave 94.4 % "
    "/ 68.9 %, against 0.5's 93.3 % / 75.0 %; a nominal warm-up half as long as the ramp (not a fifth) gave "
    "92.2 % / 70.0 %. The paper's kappa 0.5 and warm-up are kept.", ""]
CNN_GAP_NOTE = (
    "SmallCNN's worst-case gap is measured, not judged: there PGD-AT is much stronger than on the MLP and IBP's worst "
    "case sits further below it (one seed by 12 points), more than the MLP's 8-point threshold allows. That "
    "threshold was set for the MLP (3.5 points measured when the IBP module was written, plus the seeds' spread) "
    "before SmallCNN trained "
    "at all; the bench states SmallCNN's gap rather than pick a threshold after seeing it.")


def recipe_words(network: str, args: argparse.Namespace) -> str:
    config = {**NETWORKS[network]["config"], **({"epochs": args.epochs} if args.epochs else {})}
    if "eps_warmup" in config:
        config["eps_warmup"] = min(config["eps_warmup"], config["epochs"])
    return ", ".join(f"{name} {value}" for name, value in config.items())


def render(results: dict, schedules: dict, found: list[Check], info: dict, phases: Phases,
           args: argparse.Namespace, command: str, picture: Path | None) -> str:
    images = "all the" if args.images is None else f"the first {args.images}"
    lines = [
        "# Certified training (IBP) against PGD-AT", "",
        f"Made by `{command}` ({info['date']}; {info['seconds'] / 60:.1f} min; torch {info['versions']['torch']}, "
        f"ART {info['versions']['art']}; {info['threads']} torch thread(s) on CPU(s) {info['cpus']}; load "
        f"{info['load']} at the start, {info['load_end']} at the end).", "",
        "Every model: `advlab classifier train` (the pipeline function) on scikit-learn's 8x8 digits, its seeded "
        f"held-out split, seeds {', '.join(map(str, args.seed_list))}; plain cross-entropy, PGD-AT (Madry et al. "
        "2018, PGD-10 inside) or IBP (Gowal et al. 2019: kappa CE(z) + (1 - kappa) CE(z_hat), eps and kappa ramped "
        "over `eps_warmup` epochs after a nominal warm-up a fifth as long, kappa to 0.5, training eps 1.1 eps), the "
        "defenses trained at each table eps. Judged on "
        f"{images} held-out images: clean accuracy, PGD-{PGD_STEPS}, and one `advlab robustness` record "
        "(evaluate_robustness, fast budget) over the eps grid "
        f"{', '.join(f'{eps:g}' for eps in args.grid)}: the worst case per example over FGSM, PGD, APGD-CE, "
        "APGD-T and Square, and the IBP-certified accuracy. Randomised smoothing's certified L2 radius is not "
        "comparable with these Linf boxes and is not shown.", "",
        "Columns: **clean** accuracy (the plain model's rows are one model judged at two eps); **PGD-20** at the "
        "row's eps (random start, seeded); **worst case**: the share of images no attack of the robustness record "
        "broke (mean over seeds, sd between them); **IBP-certified**: the share whose whole Linf eps-box IBP "
        "proves correctly classified (advlab.defenses.ibp, last layer folded in), a lower bound of any attack's "
        "accuracy; **ART-certified**: ART's PyTorchIBPClassifier on the same weights, images and eps (logit "
        "bounds, no folding); **training s**: wall seconds of one training (reported, not judged).", ""]
    for network in results:
        lines += [f"## {NETWORKS[network]['label']}", "", f"Recipe: {recipe_words(network, args)}"
                  + (" (eps_warmup for the defenses only)." if "eps_warmup" in NETWORKS[network]["config"] else "."),
                  "", *table_lines(results, network, args.eps_of), ""]
        if network == "cnn":
            lines += ["ART: n/a -- ART's interval classifier converts Conv2d, Linear and ReLU only; SmallCNN's "
                      "max pooling has no ART rule (advlab's: max pooling is monotonic in each input).", ""]
    if schedules:
        lines += ["## What makes IBP train on SmallCNN", "",
                  f"IBP on SmallCNN at eps {SCHEDULE_EPS:g}, seed 0, all else as above; judged by clean and "
                  "IBP-certified held-out accuracy. Ramp epochs: `eps_warmup` (blank: unset, a fifth of the epochs); "
                  "the nominal warm-up before the ramp is a fifth of it.", "", *schedule_lines(schedules), "",
                  *(FOUND if list(schedules) == list(SCHEDULES) and args.epochs is None else [])]
    lines += ["## Checks", "", *checks_lines(found), "",
              f"Thresholds: IBP's certified accuracy at least {100 * CERTIFIED_GAP:.0f} points above the others' at "
              "every seed (they certify ~0 at these radii: a plainly or PGD-trained network's interval bounds are far "
              f"too loose); IBP's worst case at most {100 * WORST_GAP:.0f} points below PGD-AT's (mean + sd of the "
              "per-seed differences; IBP trades some clean and attacked accuracy for its certificate: on this MLP "
              "at eps 0.1 advlab's IBP module measured 3.5 points when it was written). IBP-certified <= worst case "
              "is judged image by image "
              "by the robustness record (`certified_below_worst_case`) at every eps of the grid.", ""]
    if "cnn" in results and "cnn" not in WORST_JUDGED:
        lines += [CNN_GAP_NOTE, ""]
    if picture is not None:
        lines += [f"![certified and worst-case accuracy against eps]({picture.name})", "",
                  "The picture: mean over seeds (band: the seeds' range) of the worst case (solid) and the "
                  "IBP-certified accuracy (dashed) against eps for the three trainings; eps 0 is clean accuracy; "
                  "the dotted line marks the eps the defenses were trained at.", ""]
    lines += ["## Timings", "", *phase_lines(phases), ""]
    return "\n".join(lines)


def plot(results: dict, args: argparse.Namespace, path: Path) -> Path:
    """One panel per (network, training eps): worst case (solid) and certified (dashed) against eps per training."""
    from matplotlib.figure import Figure

    panels = [(network, eps) for network in results for eps in args.eps_of[network]]
    figure = Figure(figsize=(5 * len(panels), 4.5), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    xs = [0.0, *args.grid]
    for axis, (network, eps) in zip(axes, panels, strict=True):
        for training in TRAININGS:
            runs = runs_at(results, network, training, eps)
            if not runs:
                continue
            for quantity, style in (("worst", "-"), ("certified", "--")):
                curves = [[run["clean"], *(run[quantity][f"{x:g}"] for x in args.grid)] for run in runs]
                mean = [100 * statistics.mean(column) for column in zip(*curves, strict=True)]
                words = "worst case" if quantity == "worst" else "IBP-certified"
                axis.plot(xs, mean, style, marker="o" if quantity == "worst" else "s", markersize=3,
                          color=COLOURS[training], label=f"{training}: {words}")
                if len(runs) > 1:
                    axis.fill_between(xs, [100 * min(c) for c in zip(*curves, strict=True)],
                                      [100 * max(c) for c in zip(*curves, strict=True)], color=COLOURS[training],
                                      alpha=0.12, linewidth=0)
        axis.axvline(eps, color="black", linestyle=":", linewidth=0.8)
        axis.set(xlim=(0, max(xs)), ylim=(-2, 102), xlabel="Linf eps", ylabel="held-out accuracy %",
                 title=f"{NETWORKS[network]['label']}, defenses trained at eps {eps:g}")
        axis.title.set_fontsize(9)
        axis.grid(alpha=0.3)
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=6, fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90, format="png")
    return path


# ---------------------------------------------------------------------------------- command line


def parse_eps(text: str, parser: argparse.ArgumentParser, flag: str) -> tuple[float, ...]:
    try:
        values = tuple(sorted({float(item) for item in text.split(",") if item.strip()}))
    except ValueError:
        parser.error(f"{flag} takes comma-separated numbers in (0, 1], got {text!r}")
    if not values or not all(0 < value <= 1 for value in values):
        parser.error(f"{flag} takes comma-separated numbers in (0, 1], got {text!r}")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--networks", default=None, help=f"comma-separated, out of {', '.join(NETWORKS)} "
                                                         f"(default all; --quick {QUICK['networks']})")
    parser.add_argument("--eps", default=None, help="the eps the defenses are trained and judged at, comma-separated "
                                                    "(default: mlp 0.05,0.1; cnn 0.1)")
    parser.add_argument("--grid", default=None, help=f"the eps of the curves (default {GRID}; --quick "
                                                     f"{QUICK['grid']}); the training eps are added")
    parser.add_argument("--seeds", default=None, help=f"comma-separated (default {SEEDS}; --quick {QUICK['seeds']})")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"training epochs of every model (default: the network's recipe; --quick "
                             f"{QUICK['epochs']}); eps_warmup is cut to it")
    parser.add_argument("--images", type=int, default=None,
                        help=f"held-out images judged (default: all, 360; --quick {QUICK['images']})")
    parser.add_argument("--schedules", default=None,
                        help=f"IBP-on-SmallCNN schedules to retrain, out of {', '.join(SCHEDULES)}, or none "
                             f"(default all; --quick {QUICK['schedules']})")
    parser.add_argument("--peers", default="art", help="art or none (default art)")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--work", type=Path, default=None, help="keep the trained runs here (default: a temp folder)")
    parser.add_argument("--out", type=Path, default=None,
                        help="the page (default docs/results/certified_training.md); the picture beside it (.png)")
    parser.add_argument("--no-picture", dest="picture", action="store_false", help="no picture")
    add_run_flags(parser, 0)
    add_verdict_flags(parser)
    args = parser.parse_args(argv)
    if args.quick:
        for name in ("networks", "seeds", "epochs", "images", "grid", "schedules"):
            if getattr(args, name) is None:
                setattr(args, name, QUICK[name])
    args.network_list = split_list(args.networks or ",".join(NETWORKS), NETWORKS, parser, "network(s)")
    args.schedule_list = split_list(args.schedules or ",".join(SCHEDULES), SCHEDULES, parser, "schedule(s)")
    args.peer_list = split_list(args.peers, ("art",), parser, "peer(s)")
    try:
        args.seed_list = [int(seed) for seed in (args.seeds or SEEDS).split(",")]
    except ValueError:
        parser.error(f"--seeds takes comma-separated integers, got {args.seeds!r}")
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.images is not None and args.images < 1:
        parser.error("--images must be at least 1")
    trained = parse_eps(args.eps, parser, "--eps") if args.eps else None
    args.eps_of = {network: trained or NETWORKS[network]["eps"] for network in NETWORKS}
    grid = set(parse_eps(args.grid or GRID, parser, "--grid"))
    args.grid = sorted(grid | {eps for network in args.network_list for eps in args.eps_of[network]})
    args.out = args.out or ROOT / "docs" / "results" / "certified_training.md"
    args.cpus = pinned_cpus(args.pin, args.threads, parser)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = page_info(args, module_versions(("torch", "art")))
    phases = Phases()
    results: dict[str, dict] = {}
    schedules: dict[str, dict] = {}

    def network_runs(network: str) -> dict:
        trained = {("plain", None): [measure(network, "plain", None, seed, args) for seed in args.seed_list]}
        for training in ("pgd-at", "ibp"):
            for eps in args.eps_of[network]:
                trained[(training, eps)] = [measure(network, training, eps, seed, args) for seed in args.seed_list]
        return trained

    with work_folder(args, "advlab-certified-training-"):
        for network in args.network_list:
            results[network] = phases.run(network, network_runs, network)
        if args.schedule_list:
            schedules = phases.run("schedules", lambda: {name: schedule_row(name, args)
                                                          for name in args.schedule_list})
    page_done(info)
    found = checks(results, args.eps_of)
    picture = plot(results, args, args.out.with_suffix(".png")) if args.picture else None
    text = render(results, schedules, found, info, phases, args, bench_command("certified_training.py", argv),
                  picture)
    return publish(text, args.out, "certified_training", found, args.check)


if __name__ == "__main__":
    sys.exit(main())
