"""advlab's evasion attacks against torchattacks', ART's and foolbox's catalogues, algorithm by algorithm.

Writes docs/results/catalogue.md: one row per algorithm (a paper), with advlab's registry name (``advlab attack
NAME``; "—" where advlab does not have it yet), the classes each peer offers for it, and the agreement cases of
bench/attacks_vs_peers.py that check advlab's side against a peer's. The rows are curated here (``ROWS``); what
can be checked is checked, so the page cannot drift from the code:

* every attack registered in ``advlab.attacks.ATTACKS`` (and the audio attacks) sits in exactly one row, and every
  advlab name a row gives is registered (``--check`` fails otherwise; the page marks a missing one "(not yet)");
* for the peers installed here (torchattacks, ART: the ``bench`` extra) every public attack class appears in some
  row, and every class a row names exists -- a peer's new attack shows up as a FAIL instead of silently missing;
* every agreement case named in a row is a case of bench/attacks_vs_peers.py.

foolbox is not installed (it needs eagerpy and imports torchvision); its classes are listed from
foolbox/attacks/__init__.py of foolbox 3.3.4 (``FOOLBOX_VERSION``) and not checked.

The page's picture (docs/results/catalogue.png, ``--picture``) shows what the families do to one held-out digit:
a SmallCNN is trained here (bench/peer_sides.py's victim: real MNIST at 28x28, 3 epochs, or ``--data digits``),
and one attack of each kind -- white-box in a ball, transfer-oriented, minimum-norm, sparse, score-based and
decision-based black-box -- attacks the first held-out digit it classifies correctly, each at its own defaults but
the budgets in ``PICTURE_ATTACKS``; under each adversarial image its amplified perturbation and the new label.

    python bench/catalogue.py            # writes docs/results/catalogue.md and catalogue.png (a minute)
    python bench/catalogue.py --check    # exit 1 when the page and the code disagree
    python bench/catalogue.py --no-picture   # the page alone (a second)
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import Check, attack_peer_versions, bench_command, checks_lines, publish, verdict  # noqa: E402

from advlab.core.parameters import class_parameters  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FOOLBOX_VERSION = "3.3.4"
PEER_COLUMNS = ("torchattacks", "ART", "foolbox")
# the picture: attack -> its options (MNIST eps 0.3 for the Linf ones; black-box budgets that take seconds)
PICTURE_ATTACKS = {
    "pgd": {"eps": 0.3, "steps": 40}, "mi-fgsm": {"eps": 0.3}, "ti-fgsm": {"eps": 0.3},
    "cw": {"c": 1.0, "steps": 200, "lr": 0.1},  # lr 0.01 (the paper's) leaves MNIST's saturated pixels unmoved
    "deepfool": {}, "jsma": {"gamma": 0.05}, "one-pixel": {"pixels": 5, "population": 100, "iterations": 30},
    "pixle": {}, "square": {"eps": 0.3, "queries": 1000}, "simba": {"queries": 1000},
    "boundary": {"queries": 2000}, "sign-opt": {"queries": 2000},
}
PICTURE_EPOCHS = 3
# public classes of torchattacks that are not attacks of their own
TORCHATTACKS_WRAPPERS = {"Attack", "MultiAttack", "VANILA"}


@dataclass(frozen=True)
class Row:
    """One algorithm: its paper, advlab's registry name (None: not in advlab yet), each peer's classes, and the
    agreement cases of bench/attacks_vs_peers.py that compare advlab's side with a peer's."""

    algorithm: str
    paper: str
    advlab: str | None = None
    torchattacks: tuple[str, ...] = ()
    art: tuple[str, ...] = ()
    foolbox: tuple[str, ...] = ()
    cases: tuple[str, ...] = ()
    family: str = "white-box"
    also: tuple[str, ...] = field(default=())  # further advlab names of the same algorithm
    command: str = ""  # where advlab has the algorithm as a command rather than an attack class


def lp(name: str, norms=("L1", "L2", "Linf")) -> tuple[str, ...]:
    """foolbox's per-norm class names: L1Name, L2Name, LinfName."""
    return tuple(f"{norm}{name}" for norm in norms)


ROWS: tuple[Row, ...] = (
    # -------------------------------------------------------------- gradient, fixed budget
    Row("FGSM / FGM", "Goodfellow et al. 2015", "fgsm", ("FGSM",), ("FastGradientMethod",),
        lp("FastGradientAttack"), ("fgsm",)),
    Row("BIM / I-FGSM", "Kurakin et al. 2016", "bim", ("BIM",), ("BasicIterativeMethod",),
        lp("BasicIterativeAttack") + lp("AdamBasicIterativeAttack"), ("bim",)),
    Row("PGD", "Madry et al. 2018", "pgd", ("PGD", "PGDL2", "UPGD"),
        ("ProjectedGradientDescent", "ProjectedGradientDescentNumpy", "ProjectedGradientDescentPyTorch",
         "ProjectedGradientDescentTensorFlowV2"),
        lp("ProjectedGradientDescentAttack") + lp("AdamProjectedGradientDescentAttack"), ("pgd-linf", "pgd-l2")),
    Row("FGSM with a random start (fast adversarial training's attack)", "Wong et al. 2020", "ffgsm", ("FFGSM",),
        cases=("ffgsm",)),
    Row("R+FGSM", "Tramèr et al. 2018", "r-fgsm", ("RFGSM",), cases=("r-fgsm", "r-fgsm-iterative")),
    Row("APGD (CE, DLR, targeted DLR)", "Croce & Hein 2020", "apgd", ("APGD", "APGDT"),
        ("AutoProjectedGradientDescent",), cases=("apgd",)),
    Row("Auto-Conjugate Gradient", "Yamamura et al. 2022", "acg", (),
        ("AutoConjugateGradient", "RescalingAutoConjugateGradient"), cases=("acg",)),
    Row("AutoAttack (ensemble)", "Croce & Hein 2020", None, ("AutoAttack",), ("AutoAttack",), family="evaluation",
        command="advlab robustness RUN"),
    Row("EOT-PGD", "Athalye et al. 2018", "eot-pgd", ("EOTPGD",)),
    Row("BPDA", "Athalye, Carlini & Wagner 2018", "bpda"),
    Row("TRADES' PGD (TPGD)", "Zhang et al. 2019", "tpgd", ("TPGD",), cases=("tpgd",)),
    Row("Jitter", "Schwinn et al. 2021", "jitter", ("Jitter",), cases=("jitter",)),
    Row("PGD on a smoothed classifier (SmoothAdv)", "Salman et al. 2019", None, ("PGDRS", "PGDRSL2")),
    Row("Virtual adversarial perturbation", "Miyato et al. 2018", "vat", (), ("VirtualAdversarialMethod",),
        ("VirtualAdversarialAttack",), ("vat",)),
    Row("Spatial transformation", "Engstrom et al. 2019", "spatial", (), ("SpatialTransformation",),
        ("SpatialAttack",), ("spatial",)),
    Row("Wasserstein", "Wong et al. 2019", "wasserstein", (), ("Wasserstein",), cases=("wasserstein",)),
    Row("Sparse L1 descent", "Tramèr & Boneh 2019", None, foolbox=("SparseL1DescentAttack",)),
    # -------------------------------------------------------------- transfer-oriented
    Row("MI-FGSM", "Dong et al. 2018", "mi-fgsm", ("MIFGSM",), ("MomentumIterativeMethod",),
        lp("MomentumIterativeFastGradientMethod"), ("mi-fgsm",), "transfer-oriented"),
    Row("NI-FGSM", "Lin et al. 2020", "ni-fgsm", ("NIFGSM",), cases=("ni-fgsm",), family="transfer-oriented"),
    Row("SI-NI-FGSM", "Lin et al. 2020", "si-ni-fgsm", ("SINIFGSM",), cases=("si-ni-fgsm",),
        family="transfer-oriented"),
    Row("VMI-FGSM", "Wang & He 2021", "vmi-fgsm", ("VMIFGSM",), cases=("vmi-fgsm",), family="transfer-oriented"),
    Row("VNI-FGSM", "Wang & He 2021", "vni-fgsm", ("VNIFGSM",), cases=("vni-fgsm",), family="transfer-oriented"),
    Row("DI-FGSM (input diversity)", "Xie et al. 2019", "di-fgsm", ("DIFGSM",), cases=("di-fgsm",),
        family="transfer-oriented"),
    Row("TI-FGSM (translation invariance)", "Dong et al. 2019", "ti-fgsm", ("TIFGSM",), cases=("ti-fgsm",),
        family="transfer-oriented"),
    Row("PI-FGSM (patch-wise)", "Gao et al. 2020", "pi-fgsm", ("PIFGSM",), cases=("pi-fgsm",),
        family="transfer-oriented"),
    Row("PI-FGSM++", "Gao et al. 2020 (targeted)", None, ("PIFGSMPP",), family="transfer-oriented"),
    Row("Transfer from a surrogate (or an ensemble of them)", "Papernot et al. 2016; Liu et al. 2017", "transfer",
        family="transfer-oriented"),
    Row("LGV surrogate", "Gubri et al. 2022", None, ("LGV",), family="transfer-oriented"),
    # -------------------------------------------------------------- minimum norm
    Row("C&W L2", "Carlini & Wagner 2017", "cw", ("CW",), ("CarliniL2Method",), ("L2CarliniWagnerAttack",),
        ("cw",), "minimum norm"),
    Row("C&W L0", "Carlini & Wagner 2017", "cw-l0", (), ("CarliniL0Method",), cases=("cw-l0",),
        family="minimum norm"),
    Row("C&W Linf", "Carlini & Wagner 2017", "cw-linf", (), ("CarliniLInfMethod",), cases=("cw-linf",),
        family="minimum norm"),
    Row("EAD (elastic net; EN and L1 rules)", "Chen et al. 2018", "ead", ("EADL1", "EADEN"), ("ElasticNet",),
        ("EADAttack",), ("ead-en", "ead-l1"), "minimum norm"),
    Row("DeepFool", "Moosavi-Dezfooli et al. 2016", "deepfool", ("DeepFool",), ("DeepFool",),
        ("L2DeepFoolAttack", "LinfDeepFoolAttack"), ("deepfool",), "minimum norm"),
    Row("FAB", "Croce & Hein 2020", "fab", ("FAB",), family="minimum norm"),
    Row("Fast minimum-norm (FMN)", "Pintor et al. 2021", None,
        foolbox=("L0FMNAttack", "L1FMNAttack", "L2FMNAttack", "LInfFMNAttack"), family="minimum norm"),
    Row("Decoupled direction and norm (DDN)", "Rony et al. 2019", None, foolbox=("DDNAttack",),
        family="minimum norm"),
    Row("Brendel & Bethge", "Brendel et al. 2019", None, (), ("BrendelBethgeAttack",),
        ("L0BrendelBethgeAttack", "L1BrendelBethgeAttack", "L2BrendelBethgeAttack", "LinfinityBrendelBethgeAttack"),
        family="minimum norm"),
    Row("NewtonFool", "Jang et al. 2017", "newtonfool", (), ("NewtonFool",), ("NewtonFoolAttack",), ("newtonfool",),
        "minimum norm"),
    # -------------------------------------------------------------- sparse
    Row("JSMA", "Papernot et al. 2016", "jsma", ("JSMA",), ("SaliencyMapMethod",), cases=("jsma",),
        family="sparse (L0)"),
    Row("One-Pixel", "Su et al. 2019", "one-pixel", ("OnePixel",), ("PixelAttack",), cases=("one-pixel",),
        family="sparse (L0)"),
    Row("Threshold attack", "Kotyan & Vargas 2019", None, (), ("ThresholdAttack",), family="sparse (L0)"),
    Row("Pixle", "Pomponi et al. 2022", "pixle", ("Pixle",), cases=("pixle",), family="sparse (L0)"),
    Row("SparseFool", "Modas et al. 2019", "sparsefool", ("SparseFool",), cases=("sparsefool",), family="sparse (L0)"),
    Row("Pointwise", "Schott et al. 2019", None, foolbox=("PointwiseAttack",), family="sparse (L0)"),
    # -------------------------------------------------------------- black-box, scores
    Row("Square", "Andriushchenko et al. 2020", "square", ("Square",), ("SquareAttack",), cases=("square",),
        family="black-box (scores)"),
    Row("NES", "Ilyas et al. 2018", "nes", family="black-box (scores)"),
    Row("SPSA", "Uesato et al. 2018", "spsa", ("SPSA",), cases=("spsa",), family="black-box (scores)"),
    Row("ZOO", "Chen et al. 2017", "zoo", (), ("ZooAttack",), cases=("zoo",), family="black-box (scores)"),
    Row("SimBA (pixel, DCT)", "Guo et al. 2019", "simba", (), ("SimBA",), cases=("simba-pixel", "simba-dct"),
        family="black-box (scores)"),
    Row("GenAttack", "Alzantot et al. 2019", None, foolbox=("GenAttack",), family="black-box (scores)"),
    # -------------------------------------------------------------- black-box, decisions
    Row("Boundary attack", "Brendel et al. 2018", "boundary", (), ("BoundaryAttack",), ("BoundaryAttack",),
        ("boundary",), "black-box (decisions)"),
    Row("HopSkipJump", "Chen et al. 2020", "hopskipjump", (), ("HopSkipJump",), ("HopSkipJumpAttack",),
        family="black-box (decisions)"),
    Row("GeoDA", "Rahmati et al. 2020", "geoda", (), ("GeoDA",), cases=("geoda",), family="black-box (decisions)"),
    Row("Sign-OPT", "Cheng et al. 2020", "sign-opt", (), ("SignOPTAttack",), cases=("sign-opt",),
        family="black-box (decisions)"),
    # -------------------------------------------------------------- universal, physical, generative
    Row("Universal perturbation (untargeted, targeted)", "Moosavi-Dezfooli et al. 2017; Hirano & Takemoto 2020",
        "uap", (), ("UniversalPerturbation", "TargetedUniversalPerturbation"), cases=("uap",), family="universal"),
    Row("Adversarial patch", "Brown et al. 2017", "patch", (),
        ("AdversarialPatch", "AdversarialPatchNumpy", "AdversarialPatchPyTorch", "AdversarialPatchTensorFlowV2"),
        family="physical"),
    Row("AdvGAN", "Xiao et al. 2018", "advgan", family="generative"),
    # -------------------------------------------------------------- noise and corruption baselines (foolbox)
    Row("Additive noise baselines", "—", None, ("GN",), (),
        lp("AdditiveGaussianNoiseAttack", ("L2",)) + lp("AdditiveUniformNoiseAttack", ("L2", "Linf"))
        + lp("ClippingAwareAdditiveGaussianNoiseAttack", ("L2",))
        + lp("ClippingAwareAdditiveUniformNoiseAttack", ("L2",))
        + lp("RepeatedAdditiveGaussianNoiseAttack", ("L2",)) + lp("RepeatedAdditiveUniformNoiseAttack", ("L2", "Linf"))
        + lp("ClippingAwareRepeatedAdditiveGaussianNoiseAttack", ("L2",))
        + lp("ClippingAwareRepeatedAdditiveUniformNoiseAttack", ("L2",)), family="baselines"),
    Row("Corruption baselines (salt and pepper, blur, contrast, blended noise, inversion, binarization, data set)",
        "—", None, foolbox=("SaltAndPepperNoiseAttack", "GaussianBlurAttack", "L2ContrastReductionAttack",
                            "BinarySearchContrastReductionAttack", "LinearSearchContrastReductionAttack",
                            "LinearSearchBlendedUniformNoiseAttack", "InversionAttack",
                            "BinarizationRefinementAttack", "DatasetAttack"), family="baselines"),
    # -------------------------------------------------------------- audio
    Row("C&W audio (targeted phrase, dB bound)", "Carlini & Wagner 2018", "audio-cw", (), ("CarliniWagnerASR",),
        family="audio"),
    Row("PGD on audio (dB bound)", "Madry et al. 2018", "audio-pgd", family="audio"),
    Row("Imperceptible audio (psychoacoustic masking)", "Qin et al. 2019", None, (),
        ("ImperceptibleASR", "ImperceptibleASRPyTorch"), family="audio"),
    Row("Over-the-air flickering (video)", "Pony et al. 2021", None, (), ("OverTheAirFlickeringPyTorch",),
        family="other modalities"),
    Row("Frame saliency (video)", "Inkawhich et al. 2018", None, (), ("FrameSaliencyAttack",),
        family="other modalities"),
    Row("Adversarial texture (video tracking)", "Wiyatno & Xu 2019", None, (), ("AdversarialTexturePyTorch",),
        family="other modalities"),
    Row("Object-detector attacks (DPatch, RobustDPatch, Overload, SNAL, GRAPHITE, laser, shadow)", "various", None,
        (), ("DPatch", "RobustDPatch", "OverloadPyTorch", "SNAL", "GRAPHITEBlackbox", "GRAPHITEWhiteboxPyTorch",
             "LaserAttack", "ShadowAttack"), family="other modalities"),
    Row("Tabular and tree attacks (LowProFool, decision tree)", "Ballet et al. 2019; Papernot et al. 2016", None,
        (), ("LowProFool", "DecisionTreeAttack"), family="other modalities"),
    Row("Feature adversaries", "Sabour et al. 2016", None, (),
        ("FeatureAdversariesNumpy", "FeatureAdversariesPyTorch", "FeatureAdversariesTensorFlowV2"),
        family="white-box"),
    Row("High confidence low uncertainty (Gaussian-process models)", "Grosse et al. 2018", None, (),
        ("HighConfidenceLowUncertainty",), family="white-box"),
    Row("Composite (semantic) attack", "Hsiung et al. 2023", None, (), ("CompositeAdversarialAttackPyTorch",),
        family="white-box"),
    Row("Malware (gradient on byte embeddings)", "Kolosnjaji et al. 2018", None, (), ("MalwareGDTensorFlow",),
        family="other modalities"),
)


# ---------------------------------------------------------------------------------- what is installed


def advlab_attacks() -> dict[str, type]:
    from advlab.attacks import ATTACKS
    from advlab.pipelines.audio.attack_audio import AUDIO_ATTACKS

    return {**ATTACKS, **AUDIO_ATTACKS}


def torchattacks_classes() -> set[str] | None:
    """The public attack classes of the installed torchattacks (None: not installed)."""
    try:
        torchattacks = importlib.import_module("torchattacks")
    except ImportError:
        return None
    return {name for name, value in vars(torchattacks).items()
            if inspect.isclass(value) and not name.startswith("_")} - TORCHATTACKS_WRAPPERS


def art_classes() -> set[str] | None:
    """The public evasion attack classes of the installed ART (None: not installed)."""
    try:
        evasion = importlib.import_module("art.attacks.evasion")
    except ImportError:
        return None
    return {name for name, value in vars(evasion).items() if inspect.isclass(value) and not name.startswith("_")}


def agreement_cases() -> set[str]:
    return set(importlib.import_module("attacks_vs_peers").CASES)


# ---------------------------------------------------------------------------------- checks


def registry_check(rows, registered: dict[str, type]) -> Check:
    named = [name for row in rows for name in (row.advlab, *row.also) if name]
    missing_rows = sorted(set(registered) - set(named))
    twice = sorted({name for name in named if named.count(name) > 1})
    unregistered = sorted(set(named) - set(registered))
    measured = (f"{len(registered)} registered; without a row: {', '.join(missing_rows) or 'none'}; "
                f"in two rows: {', '.join(twice) or 'none'}; named but not registered: "
                f"{', '.join(unregistered) or 'none'}")
    return Check("every registered attack has exactly one row, and every advlab name a row gives is registered",
                 measured, verdict(not missing_rows and not twice and not unregistered))


def peer_check(rows, column: str, installed: set[str] | None, version: str) -> Check:
    what = f"every {column} {version} attack class has a row, and every class named exists"
    if installed is None:
        return Check(what, f"{column} not installed", "SKIP")
    listed = {name for row in rows for name in getattr(row, column.lower())}
    unlisted, unknown = sorted(installed - listed), sorted(listed - installed)
    measured = (f"{len(installed)} classes; without a row: {', '.join(unlisted) or 'none'}; "
                f"named but absent: {', '.join(unknown) or 'none'}")
    return Check(what, measured, verdict(not unlisted and not unknown))


def cases_check(rows, cases: set[str]) -> Check:
    named = {case for row in rows for case in row.cases}
    unknown = sorted(named - cases)
    return Check("every agreement case a row names is a case of bench/attacks_vs_peers.py",
                 f"{len(named)} named; unknown: {', '.join(unknown) or 'none'}", verdict(not unknown))


# ---------------------------------------------------------------------------------- the page


def advlab_cell(row: Row, registered: dict[str, type]) -> str:
    if row.advlab is None:
        return f"`{row.command}`" if row.command else "—"
    names = [row.advlab, *row.also]
    return ", ".join(f"`{name}`" if name in registered else f"`{name}` (not yet)" for name in names)


def peer_cell(names: tuple[str, ...], installed: set[str] | None) -> str:
    if not names:
        return "—"
    return ", ".join(name if installed is None or name in installed else f"{name} (absent)" for name in names)


def coverage_lines(rows, registered: dict[str, type]) -> list[str]:
    """How many of each peer's algorithms (rows) advlab has."""
    lines = ["| catalogue | algorithms (rows) | advlab has | advlab lacks |", "|---|---:|---:|---|"]
    for column in PEER_COLUMNS:
        theirs = [row for row in rows if getattr(row, column.lower())]
        have = [row for row in theirs if row.advlab in registered or row.command]
        lacking = ", ".join(row.algorithm.split(" (")[0] for row in theirs if row not in have)
        lines.append(f"| {column} | {len(theirs)} | {len(have)} | {lacking or '—'} |")
    own = [row for row in rows if row.advlab in registered or row.command]
    lines.append(f"| advlab | {len(own)} | {len(own)} | — |")
    return lines


def table_lines(rows, registered, installed: dict[str, set[str] | None]) -> list[str]:
    lines = ["| family | algorithm | paper | advlab | torchattacks | ART | foolbox | checked against a peer |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        checked = ", ".join(f"`{case}`" for case in row.cases) or "—"
        lines.append(f"| {row.family} | {row.algorithm} | {row.paper} | {advlab_cell(row, registered)} | "
                     f"{peer_cell(row.torchattacks, installed['torchattacks'])} | "
                     f"{peer_cell(row.art, installed['ART'])} | {peer_cell(row.foolbox, None)} | {checked} |")
    return lines


def render(rows, registered, installed, versions: dict[str, str], checks, command: str,
           picture: list[str]) -> str:
    from advlab.attacks.catalogue import catalogue, catalogue_markdown

    lines = ["# advlab's attack catalogue beside torchattacks', ART's and foolbox's", "",
             f"Made by `{command}`. Peers: torchattacks {versions.get('torchattacks', 'n/a')}, ART "
             f"{versions.get('art', 'n/a')} (both installed, their classes read live), foolbox {FOOLBOX_VERSION} "
             "(listed from its foolbox/attacks/__init__.py, not installed). One row per algorithm; a peer's "
             "per-norm or per-framework variants share a row. \"checked against a peer\" names the agreement "
             "cases of bench/attacks_vs_peers.py (docs/results/attacks_vs_peers.md for the core attacks, "
             "attacks_vs_peers_catalogue.md for the rest): same model, images and budget, advlab's robust accuracy at "
             "most 2 points above the peer's (minimum-norm attacks: success rate and the median of their norm).", "",
             "## Coverage", "", *coverage_lines(rows, registered), "", *picture, *([""] if picture else []),
             "## Algorithm by algorithm", "", *table_lines(rows, registered, installed), "",
             "## advlab's attacks (`advlab attack --list`)", "", catalogue_markdown(catalogue(registered)).rstrip(),
             "", "## Checks", "", *checks_lines(checks), ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- the picture


def picture_attacks(data: str, out: Path) -> list[str]:
    """Attack one held-out digit with each of PICTURE_ATTACKS (those registered) and draw the results into `out`;
    the page's lines about it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from peer_sides import train_victim

    registered = advlab_attacks()
    torch.manual_seed(0)
    victim = train_victim(data, 28 if data == "mnist" else 8, PICTURE_EPOCHS, torch.device("cpu"))
    with torch.no_grad():
        right = (victim.model(victim.images).argmax(1) == victim.labels).nonzero().flatten()
    image, label = victim.images[right[:1]], victim.labels[right[:1]]
    names = [name for name in PICTURE_ATTACKS if name in registered]
    figure, axes = plt.subplots(2, len(names) + 1, figsize=(1.3 * (len(names) + 1), 3.0))
    show(axes[0, 0], image[0], f"clean: {int(label)}")
    axes[1, 0].axis("off")
    lines = []
    for column, name in enumerate(names, start=1):
        options = dict(PICTURE_ATTACKS[name])
        if "seed" in {p.name for p in class_parameters(registered[name])}:
            options["seed"] = 0
        adversarial = registered[name](victim.model, **options)(image, label)
        with torch.no_grad():
            predicted = int(victim.model(adversarial).argmax(1))
        delta = (adversarial - image)[0]
        largest = float(delta.abs().max())
        show(axes[0, column], adversarial[0], f"{name}: {predicted}", "tab:red" if predicted != int(label) else "k")
        show(axes[1, column], 0.5 + delta * (0.5 / largest if largest > 0 else 0.0),
             f"L2 {float(delta.norm()):.2f}\nL0 {int((delta.abs() > 1e-6).any(0).sum())}")
        lines.append(f"{name} -> {predicted}")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return [f"![one held-out digit under each family]({out.name})", "",
            f"One held-out {victim.source} digit (label {int(label)}), SmallCNN trained {PICTURE_EPOCHS} epochs; top: "
            "each attack's adversarial image and the label it gets (red: changed), bottom: the perturbation "
            "amplified to fill [0, 1], with its L2 norm and the pixels it changed. Options: "
            + "; ".join(f"{name} {PICTURE_ATTACKS[name] or 'defaults'}" for name in names) + "."]


def show(axis, image, title: str, colour: str = "k") -> None:
    pixels = image.detach().cpu().permute(1, 2, 0).squeeze(-1).clamp(0, 1).numpy()
    axis.imshow(pixels, cmap="gray", vmin=0, vmax=1)
    axis.set_title(title, fontsize=7, color=colour)
    axis.axis("off")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "catalogue.md",
                        help="where to write the page (default docs/results/catalogue.md)")
    parser.add_argument("--no-picture", dest="picture", action="store_false",
                        help="leave out the picture (catalogue.png beside the page)")
    parser.add_argument("--data", choices=("mnist", "digits"), default="mnist",
                        help="the picture's digits: real MNIST at 28x28 (default) or scikit-learn's 8x8 digits")
    parser.add_argument("--check", action="store_true", help="exit 1 when a check FAILs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    registered = advlab_attacks()
    installed = {"torchattacks": torchattacks_classes(), "ART": art_classes()}
    versions = attack_peer_versions()
    checks = [registry_check(ROWS, registered),
              peer_check(ROWS, "torchattacks", installed["torchattacks"], versions.get("torchattacks", "")),
              peer_check(ROWS, "ART", installed["ART"], versions.get("art", "")),
              cases_check(ROWS, agreement_cases())]
    picture = picture_attacks(args.data, args.out.with_suffix(".png")) if args.picture else []
    text = render(ROWS, registered, installed, versions, checks, bench_command("catalogue.py", argv), picture)
    return publish(text, args.out, "catalogue", checks, args.check)


if __name__ == "__main__":
    sys.exit(main())
