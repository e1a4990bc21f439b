"""Input-transformation defenses against their adaptive attacks (Athalye, Carlini & Wagner 2018), with ART beside them.

Every transform sits in front of the same digits SmallCNN (8x8, width 16, 10 epochs: ``advlab classifier train``),
made by advlab's own pipelines as a user would (``advlab defend NAME``):

    undefended         the SmallCNN alone (the first row: what every transform is compared with)
    jpeg               JPEG, quality 75 (Guo et al. 2018)                          } make_defended_run
    bit-depth          3 bits (Xu, Evans & Qi 2018, sec. 3.1)                      } (preprocess_defense.py):
    median             median filter, 2x2 (Xu et al., sec. 3.2)                   } the classifier copied,
    spatial-smoothing  median filter, 3x3 (ART's SpatialSmoothing defaults)        } the transform in front
    tv-min             TV minimisation from half the pixels, redrawn per call (Guo et al. 2018; randomised)
    thermometer        16 levels, a classifier trained on the codes (Buckman et al. 2018; make_thermometer_run)
    thermometer+at     the same, trained adversarially (PGD-AT at eps 0.1 through the soft thermometer, --at-eps)
    pixel-defend       PixelDefend purification (Song et al. 2018) under advlab's PixelCNN trained on the training
                       rows (make_pixel_defended_run; 10 epochs, width 32, 5 layers), eps_defend 16/255

Seeds 0-2: at seed s the SmallCNN, the thermometer classifiers and the PixelCNN are trained at s, and every attack
is seeded with s. On the first ``--images`` held-out images of seed s's split, Linf eps 0.1:

    clean       accuracy of the defended model (tv-min: the class most often given over 8 draws)
    naive PGD   PGD-20 on the defended model as it is: its gradient stops at a non-differentiable transform
    BPDA        BPDA-20 (Athalye et al., sec. 4.1: the transform's differentiable approximation, or the identity,
                on the backward pass), with EOT over 8 draws for tv-min (sec. 4.3): the defended run's "first
                warning" (advlab defend's summary.json)
    worst case  advlab robustness's worst case per example at its fast budget (FGSM, PGD, APGD-CE, BPDA+APGD-CE,
                APGD-T, Square 500; EOT over 8 draws for a randomised model; evaluate_robustness on load_model)

The worst case is what one CPU core can afford: every row at every seed, but tv-min (each forward pass is a
300-step primal-dual solve, times 8 EOT draws) at the first seed only, and pixel-defend (each forward pass is 64
PixelCNN passes) at none -- where it did not run, BPDA's number stands in for it, an upper bound on it (the worst
case includes a BPDA member); ``--full-worst-case`` runs it everywhere (hours).

ART's column puts ART's own preprocessor in front of the same classifier (channels last, as ART's TotalVarMin
needs): JpegCompression(quality 75), FeatureSqueezing(bit_depth 3), SpatialSmoothing(window 2 and 3),
TotalVarMin(prob 0.5, lamb 0.03, its L-BFGS-B solver, 10 iterations), ThermometerEncoding(num_space 16); and attacks
it with ART's ProjectedGradientDescent (20 steps, step 2.5 eps / 20, a random start), which goes through a NumPy
preprocessor by its ``estimate_gradient`` -- the identity, or the soft thermometer: ART's BPDA. ART has no EOT over a
preprocessor's randomness and no PixelDefend that purifies these digits (advlab.defenses.pixel_defend says why).

Checks (the paper's lesson): every transform with obfuscated gradients falls well below naive PGD under BPDA / the
worst case; no transform's worst case is above the undefended model's by more than the seeds' spread, but for
thermometer encoding with adversarial training, which is expected to hold.

    python bench/input_transforms.py --check     # about 15 min on one CPU thread
    python bench/input_transforms.py --quick     # a smoke run (one seed, tiny sizes)
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
    Phases,
    Unavailable,
    add_run_flags,
    add_verdict_flags,
    bench_command,
    checks_lines,
    module_versions,
    need_art,
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
EPS = 0.1
STEPS = 20  # naive PGD, BPDA and ART's PGD
EOT = 8  # draws per BPDA gradient for a randomised transform (the fast budget's EOT)
SEEDS = "0,1,2"
BASE = {"data": "digits", "model": "cnn", "width": 16, "epochs": 10, "attack_steps": 5}
ROWS = {  # row: (advlab transform, its options, ART's preprocessor and its options)
    "undefended": (None, {}, None),
    "jpeg": ("jpeg", {"quality": 75}, ("JpegCompression", {"quality": 75})),
    "bit-depth": ("bit-depth", {"bits": 3}, ("FeatureSqueezing", {"bit_depth": 3})),
    "median": ("median", {"size": 2}, ("SpatialSmoothing", {"window_size": 2})),
    "spatial-smoothing": ("spatial-smoothing", {"window_size": 3}, ("SpatialSmoothing", {"window_size": 3})),
    "tv-min": ("tv-min", {}, ("TotalVarMin", {"prob": 0.5, "lamb": 0.03, "norm": 2})),
    "thermometer": ("thermometer", {"levels": 16}, ("ThermometerEncoding", {"num_space": 16})),
    "thermometer+at": ("thermometer", {"levels": 16, "at_eps": EPS}, ("ThermometerEncoding", {"num_space": 16})),
    "pixel-defend": ("pixel-defend", {}, None),
}
OBFUSCATED = {  # why a naive gradient learns nothing through the transform (median filters pass gradients on)
    "jpeg": "quantised DCT: zero gradient", "bit-depth": "rounding: zero gradient",
    "tv-min": "an inner solve, redrawn mask: zero gradient", "thermometer": "step function: zero gradient",
    "thermometer+at": "step function: zero gradient", "pixel-defend": "an inner argmax search: zero gradient",
}
HOLDS = "thermometer+at"  # the one row expected to hold (adversarial training, not the transform)
WORST_CASE_SEEDS = {"tv-min": 1, "pixel-defend": 0}  # the first k seeds get the worst case (cost); others all
WELL_BELOW = 0.20  # "well below naive PGD": at least this many points, beyond the seeds' spread
FULL = {"images": 60, "epochs": None, "pixelcnn_epochs": 10, "check_images": 10}
QUICK = {"rows": "undefended,bit-depth,tv-min,thermometer+at", "seeds": "0", "images": 12,
         "epochs": 2, "pixelcnn_epochs": 1, "check_images": 2}


# ---------------------------------------------------------------------------------- measuring


def base_run(seed: int, args: argparse.Namespace) -> Path:
    """`advlab classifier train` of the shared SmallCNN at `seed` into the work folder (reused when finished)."""
    from advlab.core.config import from_mapping
    from advlab.pipelines.classifier_config import ClassifierTrainConfig
    from advlab.pipelines.train_classifier import train_classifier

    out = args.folder / f"smallcnn-{seed}"
    values = {**BASE, "seed": seed, "device": args.device, "threads": args.threads, "robust_eval_images": 0,
              "out": str(out)}
    if args.epochs is not None:
        values["epochs"] = args.epochs
    return train_classifier(from_mapping(ClassifierTrainConfig, values), overwrite=True, progress=False,
                            report=False).root


def defend(row: str, base: Path, seed: int, args: argparse.Namespace) -> tuple[Path, dict]:
    """`advlab defend` of `row` on the classifier run `base` into the work folder: (its run, its summary)."""
    from advlab.pipelines.security.pixel_defend_run import PixelCNNTraining, make_pixel_defended_run
    from advlab.pipelines.security.preprocess_defense import make_defended_run
    from advlab.pipelines.security.thermometer_run import make_thermometer_run

    transform, options, _ = ROWS[row]
    out = args.folder / f"{row}-{seed}"
    first_warning = {"eps": EPS, "n": args.images, "attack_steps": STEPS, "eot_samples": EOT, "seed": seed,
                     "device": args.device, "progress": False, "report": False, "overwrite": True}
    if transform == "thermometer":
        summary = make_thermometer_run(base, out, levels=options["levels"], at_eps=options.get("at_eps"),
                                       **first_warning)
    elif transform == "pixel-defend":
        summary = make_pixel_defended_run(base, out, training=PixelCNNTraining(epochs=args.pixelcnn_epochs),
                                          **first_warning)
    else:
        summary = make_defended_run(base, transform, options, out, **first_warning)
    return out, summary



def measure(row: str, base: Path, seed: int, args: argparse.Namespace) -> dict:
    """Clean, naive PGD, BPDA and (where it runs) worst-case accuracy of `row` at `seed` on the first --images
    held-out images, and ART's peer on the same images."""
    import torch

    from advlab.attacks.pgd import PGD
    from advlab.defenses import load_model
    from advlab.pipelines.train_classifier import held_out_split

    started = time.perf_counter()
    if ROWS[row][0] is None:
        run, bpda = base, None
        model = load_model(run, args.device)
        images, labels = (tensor[:args.images] for tensor in held_out_split(run))
        adversarial = PGD(model, eps=EPS, steps=STEPS, seed=seed)(images, labels)
        pgd = float((predict(model, adversarial) == labels).double().mean())
    else:
        run, summary = defend(row, base, seed, args)
        pgd, bpda = summary["first_warning"]["pgd_accuracy"], summary["first_warning"]["bpda_accuracy"]
        model = load_model(run, args.device)
        images, labels = (tensor[:args.images] for tensor in held_out_split(run))
    torch.manual_seed(seed)
    clean = float((predict(model, images) == labels).double().mean())
    result = {"clean": clean, "pgd": pgd, "bpda": bpda, **worst_case(row, model, images, labels, seed, args)}
    result["art"] = art_peer(row, model, images, labels, seed, args)
    result["seconds"] = time.perf_counter() - started
    shown = {key: result[key] for key in ("clean", "pgd", "bpda", "worst") if result[key] is not None}
    print(f"{row} seed {seed}: " + ", ".join(f"{key} {value:.3f}" for key, value in shown.items())
          + (f", ART {result['art']['clean']:.3f} / {result['art']['bpda']:.3f}" if result["art"] else "")
          + f" ({result['seconds']:.0f} s)", file=sys.stderr)
    return result


def predict(model, images):
    """The model's classes (a randomised one: the class it gives most often over EOT draws, as the report's)."""
    import torch

    with torch.no_grad():
        if not getattr(model, "randomized", False):
            return model(images).argmax(1)
        return torch.stack([model(images).argmax(1) for _ in range(EOT)]).mode(0).values


def runs_worst_case(row: str, seed_index: int, args: argparse.Namespace) -> bool:
    """Whether the worst case runs for `row` at the seed_index-th seed (WORST_CASE_SEEDS; --full-worst-case)."""
    return args.full_worst_case or seed_index < args.worst_case_seeds.get(row, len(args.seed_list))


def worst_case(row: str, model, images, labels, seed: int, args: argparse.Namespace) -> dict:
    """advlab robustness's worst case (fast budget) and whether its probe found zero gradients, where it runs."""
    from advlab.pipelines.security.robustness import RobustnessConfig, evaluate_robustness

    if not runs_worst_case(row, args.seed_list.index(seed), args):
        return {"worst": None, "gradient_zero": None}
    record = evaluate_robustness(model, images, labels, RobustnessConfig(
        eps=(EPS,), n=len(images), check_images=args.check_images, seed=seed, device=args.device,
        threads=args.threads, progress=False, report=False))
    probe = next((check for check in record["checks"] if check["name"] == "gradients_not_zero"), None)
    return {"worst": record["robust_accuracy"][f"{EPS:g}"], "gradient_zero": None if probe is None else
            not probe["passed"]}


def judged(result: dict) -> float:
    """The worst case, or where it did not run BPDA's accuracy (the worst case has a BPDA member: an upper bound)."""
    return result["worst"] if result["worst"] is not None else result["bpda"]


# ---------------------------------------------------------------------------------- ART's preprocessor


def art_peer(row: str, model, images, labels, seed: int, args: argparse.Namespace) -> dict | None:
    """ART's preprocessor of `row` in front of the same classifier: clean accuracy and ART's PGD-20 (BPDA through
    the preprocessor's estimate_gradient) on the same images; None where ART has no peer or is not installed."""
    peer = ROWS[row][2]
    if peer is None or not args.art:
        return None
    try:
        need_art()
    except Unavailable as error:
        print(f"{row}: {error}", file=sys.stderr)
        return None
    import importlib

    import numpy as np
    import torch
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    class ChannelsLast(torch.nn.Module):
        """images (N, H, W, C) -> the classifier of them as (N, C, H, W): ART's TotalVarMin wants channels last."""

        def __init__(self, classifier: torch.nn.Module):
            super().__init__()
            self.classifier = classifier

        def forward(self, images):
            return self.classifier(images.permute(0, 3, 1, 2).float())  # some preprocessors give float64

    name, options = peer
    layout = {} if name in ("FeatureSqueezing", "TotalVarMin") else {"channels_first": False}
    preprocessor = getattr(importlib.import_module("art.defences.preprocessor"), name)(
        **options, **layout, clip_values=(0.0, 1.0))
    classifier = getattr(model, "classifier", model)  # the network behind advlab's transform
    classes = int(model(images[:1]).shape[1])
    estimator = PyTorchClassifier(ChannelsLast(classifier), loss=torch.nn.CrossEntropyLoss(),
                                  input_shape=(*images.shape[2:], images.shape[1]), nb_classes=classes,
                                  clip_values=(0.0, 1.0), preprocessing_defences=[preprocessor], preprocessing=None,
                                  device_type="cpu")
    x, y = images.permute(0, 2, 3, 1).numpy().astype(np.float32), labels.numpy()
    np.random.seed(seed)
    torch.manual_seed(seed)
    clean = float((estimator.predict(x, batch_size=len(x)).argmax(1) == y).mean())
    attack = ProjectedGradientDescent(estimator, norm=np.inf, eps=EPS, eps_step=2.5 * EPS / STEPS, max_iter=STEPS,
                                      num_random_init=1, batch_size=len(x), verbose=False)
    adversarial = attack.generate(x, y)
    robust = float((estimator.predict(adversarial, batch_size=len(x)).argmax(1) == y).mean())
    return {"class": name, "clean": clean, "bpda": robust}


# ---------------------------------------------------------------------------------- the picture


def picture(args: argparse.Namespace, path: Path) -> Path:
    """One held-out digit of the first seed (the first that PGD turns on the undefended model), clean and under BPDA
    (PGD for the undefended model), through every row's transform, with the defended model's predicted labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from advlab.attacks.bpda import BPDA
    from advlab.attacks.pgd import PGD
    from advlab.defenses import load_model
    from advlab.pipelines.train_classifier import held_out_split

    seed = args.seed_list[0]
    base = args.folder / f"smallcnn-{seed}"
    images, labels = (tensor[:args.images] for tensor in held_out_split(base))
    undefended = load_model(base, args.device)
    broken = (predict(undefended, images) == labels) & (
        predict(undefended, PGD(undefended, eps=EPS, steps=STEPS, seed=seed)(images, labels)) != labels)
    index = int(broken.nonzero()[0]) if broken.any() else 0  # a digit the attack can move at all
    x, y = images[index:index + 1], labels[index:index + 1]
    figure, axes = plt.subplots(4, len(args.row_list), figsize=(1.45 * len(args.row_list), 6.6), squeeze=False)
    kinds = ("clean x", "t(x): prediction", f"BPDA x' (eps {EPS:g})", "t(x'): prediction")
    for column, row in enumerate(args.row_list):
        model = undefended if ROWS[row][0] is None else load_model(args.folder / f"{row}-{seed}", args.device)
        if ROWS[row][0] is None:
            adversarial = PGD(model, eps=EPS, steps=STEPS, seed=seed)(x, y)
        else:
            adversarial = BPDA(model, eps=EPS, steps=STEPS, samples=EOT, seed=seed)(x, y)
        torch.manual_seed(seed)
        for k, image in enumerate((x, adversarial)):
            with torch.no_grad():
                seen = image if ROWS[row][0] is None else model.transform(image)
            if seen.shape[1] != image.shape[1]:  # a thermometer code: the share of lit bits per pixel
                seen = seen.view(1, image.shape[1], -1, *image.shape[2:]).mean(2)
            label = int(predict(model, image)[0])
            for r, shown in ((2 * k, image), (2 * k + 1, seen)):
                axis = axes[r][column]
                axis.imshow(shown[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
                axis.set_xticks([])
                axis.set_yticks([])
                if r % 2:
                    axis.set_title(f"-> {label}", fontsize=9, color="black" if label == int(y) else "crimson")
            axes[0][column].set_title(row, fontsize=8)
    for r, kind in enumerate(kinds):
        axes[r][0].set_ylabel(kind, fontsize=8)
    figure.suptitle(f"held-out digit {int(y)} (seed {seed}): each defended model's input after its transform, "
                    "and its prediction (red: wrong)", fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


# ---------------------------------------------------------------------------------- checks and the page


def spread(values: list[float]) -> float:
    """The seeds' standard deviation (0 for one seed)."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def points(values: list[float]) -> str:
    each = ", ".join(f"{100 * value:+.1f}" for value in values)
    return f"{100 * statistics.mean(values):+.1f} points (per seed {each})"


def checks(results: dict) -> list[Check]:
    """Athalye et al.'s lesson, judged beyond the seeds' spread."""
    found = []
    for row in (name for name in results if name in OBFUSCATED and name != HOLDS):  # the AT row: its own check
        gaps = [run["pgd"] - judged(run) for run in results[row]]
        found.append(Check(f"{row}: BPDA / the worst case at least {100 * WELL_BELOW:.0f} points below naive PGD "
                           "(obfuscated gradients; mean - sd)", points(gaps),
                           verdict(statistics.mean(gaps) - spread(gaps) >= WELL_BELOW)))
    if "undefended" in results:
        plain = [run["worst"] for run in results["undefended"]]
        for row in (name for name in results if name != "undefended"):
            gaps = [judged(run) - base for run, base in zip(results[row], plain, strict=True)]
            margin = max(spread(gaps), spread(plain))
            if row == HOLDS:
                found.append(Check(f"{row} holds: its worst case above the undefended model's by more than the "
                                   f"seeds' spread ({100 * margin:.1f} points)", points(gaps),
                                   verdict(statistics.mean(gaps) > margin)))
            elif all(run["worst"] is None for run in results[row]):  # BPDA alone is an upper bound: no verdict
                found.append(Check(f"{row}: worst case not above the undefended model's by more than the seeds' "
                                   f"spread ({100 * margin:.1f} points)", points(gaps) + " (BPDA-20 alone: the worst "
                                   "case did not run; --full-worst-case)", "NOT JUDGED"))
            else:
                found.append(Check(f"{row}: worst case not above the undefended model's by more than the seeds' "
                                   f"spread ({100 * margin:.1f} points)", points(gaps),
                                   verdict(statistics.mean(gaps) <= margin)))
    probed = {row: [run["gradient_zero"] for run in runs if run["gradient_zero"] is not None]
              for row, runs in results.items()}
    wrong = [row for row, flags in probed.items() if any(flag != (row in OBFUSCATED) for flag in flags)]
    if any(probed.values()):
        found.append(Check("the robustness report's gradient probe finds zero gradients on exactly the rows marked "
                           "obfuscated", "disagrees on " + ", ".join(wrong) if wrong else
                           f"agrees on {sum(map(bool, probed.values()))} rows", verdict(not wrong)))
    return found


def cell(values: list[float | None]) -> str:
    present = [value for value in values if value is not None]
    return f"{statistics.mean(present):.3f}" if present else "n/a"


def table_lines(results: dict, args: argparse.Namespace) -> list[str]:
    lines = [f"| defense | obfuscated gradients | clean | naive PGD-{STEPS} | BPDA-{STEPS} (+EOT) | worst case "
             "| worst case per seed | ART preprocessor | ART clean | ART BPDA-PGD | s per seed |",
             "|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|"]
    for row, runs in results.items():
        values = [judged(run) for run in runs]
        stand_in = any(run["worst"] is None for run in runs)
        each = ", ".join(f"{judged(run):.3f}" + ("b" if run["worst"] is None else "") for run in runs)
        arts = [run["art"] for run in runs if run["art"] is not None]
        art_name = arts[0]["class"] if arts else ("n/a" if ROWS[row][2] is None or not args.art else "not run")
        lines.append(
            f"| {row} | {OBFUSCATED.get(row, 'no')} | {cell([r['clean'] for r in runs])} "
            f"| {cell([r['pgd'] for r in runs])} | {cell([r['bpda'] for r in runs]) if ROWS[row][0] else '(= PGD)'} "
            f"| {statistics.mean(values):.3f}{'*' if stand_in else ''} (sd {spread(values):.3f}) | {each} "
            f"| {art_name} | {cell([a['clean'] for a in arts])} | {cell([a['bpda'] for a in arts])} "
            f"| {statistics.mean(r['seconds'] for r in runs):.0f} |")
    return lines


def render(results: dict, found: list[Check], info: dict, phases: Phases, args: argparse.Namespace, command: str,
           figure: Path | None) -> str:
    versions = ", ".join(f"{name} {version}" for name, version in info["versions"].items())
    base = {**BASE, **({"epochs": args.epochs} if args.epochs else {})}
    worst_rows = {row: (len(args.seed_list) if args.full_worst_case else
                        min(args.worst_case_seeds.get(row, len(args.seed_list)), len(args.seed_list)))
                  for row in results}
    limited = [f"{row} at {'none of the seeds' if k == 0 else f'the first {k} seed(s)'}"
               for row, k in worst_rows.items() if k < len(args.seed_list)]
    return "\n".join([
        "# Input transformations against their adaptive attacks (digits, Linf eps 0.1)", "",
        f"Made by `{command}` ({info['date']}; {info['seconds'] / 60:.1f} min; {versions}; {info['threads']} torch "
        f"thread(s) on CPU(s) {info['cpus']}; load {info['load']} at the start, {info['load_end']} at the end).", "",
        f"Every row puts a transform in front of the same SmallCNN (`advlab classifier train` with {base}; the "
        "thermometer rows train it anew on the codes, `advlab defend thermometer [--at-eps 0.1]`), made by `advlab "
        f"defend NAME` (options in the module docstring), seeds {', '.join(map(str, args.seed_list))} (the SmallCNN, "
        f"the thermometer classifiers and PixelDefend's PixelCNN, {args.pixelcnn_epochs} epoch(s), trained at each; "
        f"every attack seeded with it), judged on the first {args.images} held-out images of each seed's split.", "",
        f"* **clean**: accuracy (tv-min: the class given most often over {EOT} draws); **naive PGD-{STEPS}**: PGD on "
        f"the defended model as it is; **BPDA-{STEPS} (+EOT)**: the straight-through attack (the transform's "
        f"differentiable approximation, or the identity, on the backward pass; tv-min: gradients averaged over {EOT} "
        "draws) -- both from the defended run's first warning (`advlab defend`'s summary.json).",
        "* **worst case**: `advlab robustness`'s worst case per example at its fast budget (FGSM, PGD, APGD-CE, "
        f"BPDA+APGD-CE, APGD-T, Square 500; EOT over {EOT} draws for the randomised tv-min), mean (sd) over the "
        "seeds. Where it did not run (cost: "
        + ("; ".join(limited) if limited else "none") + ") BPDA's accuracy stands in for it, marked `b` per seed "
        "and `*` on the mean: an upper bound on the worst case, whose ensemble has a BPDA member.",
        "* **obfuscated gradients**: why a naive gradient learns nothing through the transform (the median filters "
        "pass gradients to the pixels they pick: no obfuscation, naive PGD already works).",
        f"* **ART**: ART's preprocessor in front of the same classifier, its clean accuracy and ART's "
        f"ProjectedGradientDescent ({STEPS} steps, a random start), which goes through a NumPy preprocessor by its "
        "`estimate_gradient` -- the identity or the soft thermometer: ART's BPDA, without EOT. pixel-defend: n/a "
        "(ART's PixelDefend cannot purify these digits: advlab.defenses.pixel_defend).", "",
        *table_lines(results, args), "", "## Checks", "", *checks_lines(found), "",
        f"Spread: the standard deviation over the seeds of the per-seed difference, at least the undefended model's "
        f"own; \"well below\": {100 * WELL_BELOW:.0f} points after subtracting the spread.", "",
        *([f"![one digit through every transform]({figure.name})", ""] if figure else []),
        "## Time", "", *phase_lines(phases), ""])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default=None, help=f"comma-separated, out of {', '.join(ROWS)} "
                                                     f"(default all; --quick {QUICK['rows']})")
    parser.add_argument("--seeds", default=None, help=f"comma-separated (default {SEEDS}; --quick {QUICK['seeds']})")
    parser.add_argument("--images", type=int, default=None,
                        help=f"held-out images judged (default {FULL['images']}; --quick {QUICK['images']})")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"classifier epochs (default {BASE['epochs']}; --quick {QUICK['epochs']})")
    parser.add_argument("--pixelcnn-epochs", type=int, default=None,
                        help=f"PixelCNN epochs (default {FULL['pixelcnn_epochs']}; --quick {QUICK['pixelcnn_epochs']})")
    parser.add_argument("--check-images", type=int, default=None,
                        help=f"images of the robustness report's check runs (default {FULL['check_images']}; "
                             f"--quick {QUICK['check_images']})")
    parser.add_argument("--full-worst-case", action="store_true",
                        help="run the worst case for every row at every seed (tv-min and pixel-defend: hours)")
    parser.add_argument("--no-art", dest="art", action="store_false", help="leave ART's column out")
    parser.add_argument("--no-figure", dest="figure", action="store_false", help="no picture")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--work", type=Path, default=None, help="keep the runs here (default: a temp folder)")
    parser.add_argument("--out", type=Path, default=None,
                        help="the page (default docs/results/input_transforms.md; the picture beside it, .png)")
    add_verdict_flags(parser)
    add_run_flags(parser, 0)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    args.rows = args.rows or (QUICK["rows"] if args.quick else ",".join(ROWS))
    args.row_list = split_list(args.rows, ROWS, parser, "row(s)")
    try:
        args.seed_list = [int(seed) for seed in (args.seeds or (QUICK["seeds"] if args.quick else SEEDS)).split(",")]
    except ValueError:
        parser.error(f"--seeds takes comma-separated integers, got {args.seeds!r}")
    if len(set(args.seed_list)) != len(args.seed_list) or min(args.seed_list) < 0:
        parser.error(f"--seeds takes distinct integers >= 0, got {args.seeds!r}")
    for name in ("images", "epochs", "pixelcnn_epochs", "check_images"):
        value = getattr(args, name)
        if value is None:
            setattr(args, name, sizes[name])
        elif value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    args.worst_case_seeds = {**WORST_CASE_SEEDS, **({"tv-min": 0} if args.quick else {})}
    args.out = args.out or ROOT / "docs" / "results" / "input_transforms.md"
    args.cpus = pinned_cpus(args.pin, args.threads, parser)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = page_info(args, module_versions(("torch", "art")))
    results: dict[str, list[dict]] = {row: [] for row in args.row_list}
    phases, figure = Phases(), None
    with work_folder(args, "advlab-input-transforms-"):
        for seed in args.seed_list:
            base = phases.run(f"SmallCNN, seed {seed}", base_run, seed, args)
            for row in args.row_list:
                results[row].append(phases.run(f"{row}, seed {seed}", measure, row, base, seed, args))
        if args.figure:
            figure = phases.run("picture", picture, args, args.out.with_suffix(".png"))
    page_done(info)
    found = checks(results)
    text = render(results, found, info, phases, args, bench_command("input_transforms.py", argv), figure)
    return publish(text, args.out, "input_transforms", found, args.check)


if __name__ == "__main__":
    sys.exit(main())
