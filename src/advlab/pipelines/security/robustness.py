"""`advlab robustness RUN`: robust accuracy against a worst-case ensemble of attacks, and the sanity checks.

Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks" (AutoAttack), sec. 4: robust accuracy is measured per example against an
ensemble -- an example counts as broken if ANY attack breaks it -- run in order on the examples
still unbroken: APGD-CE, APGD-T (the targeted DLR loss, eq. 6 and sec. 4, against the few classes
with the highest clean logits; DLR needs >= 4 classes for targets, so 3 classes fall back to the
untargeted DLR and 2 classes skip it), and the black-box Square attack (Andriushchenko et al.
2020, with AutoAttack's p_init = 0.8). The additions are switched on by what the model shows,
as Athalye, Carlini & Wagner 2018 ("Obfuscated gradients give a false sense of security") teach:

* a randomised model (repeated predictions differ): the APGD members average the loss and its gradient
  over ``eot_draws`` forward passes at every iterate, Expectation over Transformation (sec. 4.3; AutoAttack's
  rand version), and FGSM, PGD and the transfer attack see the logits averaged over as many passes;
* a ``Preprocessed`` model (an input transformation in front of a classifier): an extra APGD-CE on
  ``model.bpda()``, the straight-through twin (BPDA, sec. 4.1), whose results are judged on the real
  model (the forward passes are identical).

With ``advgan`` (Linf only) the report also runs AdvGAN (advlab.attacks.advgan, Xiao et al. 2018): one generator
per eps, fitted on the run's training rows (never the evaluated held-out rows) before the evaluation, for
``advgan_steps`` iterations (None: AdvGAN's own 60 epochs); it is a member of its own kind ("generative"), outside
AutoAttack's chain, counted in the worst case and drawn with the other curves; ``record["advgan"]`` says how each
generator was trained. It is off by default: a generator per eps costs seconds to minutes of training.

The attacks' budgets come from ``--budget``: ``fast`` (the default: 25 steps, 3 APGD-T targets, no FAB-T,
Square 500 queries, EOT over 8 draws; on digits as strong as torchattacks' AutoAttack in under half its time,
bench/autoattack.py) or ``standard``, AutoAttack's standard version (sec. 4 and their
``set_version('standard')``: APGD-CE 100 steps, APGD-T 100 steps on 9 targets, FAB-T (Croce & Hein 2020,
"Minimally distorted adversarial examples with a fast adaptive boundary attack") on 9 targets, Square 5,000
queries; EOT over 20 draws as their rand version). ``--steps``, ``--queries``, ``--targets`` ... change one
setting of the chosen budget. The record's ``budget`` says what every member ran with. APGD-T and FAB-T count
an image as broken when it leaves its true class, whichever class it lands in, as AutoAttack's do.

Every attack also covers every example at every eps, for the per-attack curves: FGSM, PGD, APGD-CE,
APGD-T, Square, a transfer attack (PGD on a surrogate: ``--surrogate RUN``, or by default an MLP
trained for a few seconds on the run's own training split) and the BPDA member. An ensemble member
first attacks the images still unbroken, then, for its own curve, the images an earlier member
broke; the attacks treat images independently, so that is one run over all images and no work is
done twice. The worst-case robust accuracy counts an example as broken if any attack broke it, at
that eps or a smaller one (an adversarial example inside a smaller ball lies inside every larger
one), so it never exceeds any per-attack curve and never rises with eps; the raw curves are kept
for the checks (``advlab.pipelines.security.robustness_checks``, Carlini et al. 2019), which add two small
runs on the first ``check_images`` examples: APGD at a budget that allows any answer (Linf 0.5:
every pixel can reach mid-grey, so every image can become the same image; L2 0.5 sqrt(d), the ball
holding that Linf ball) and every member of the ensemble with more effort (twice the steps, two more
restarts and targets, twice the queries), run on the images the report's worst case left unbroken (APGD-CE
on all of them too, to see whether more effort helps the model). Images the model gets wrong count as broken
and are not attacked.

Under torchrun the images are cut into chunks of ``chunk_size`` (default: all of them, one chunk), each chunk
attacked by the whole ensemble on one rank with its own seeds (``advlab.pipelines.chunks``: chunk 0 with the seed
itself), and the flags gathered in order before anything is counted; the check runs on the first
``check_images`` are chunked the same way. N processes thus give one process's record for the same chunk size
(exactly, on the CPU), and rank 0 alone writes.

Beside the attacks, a lower bound: for an Linf evaluation of a deterministic model whose layers interval bound
propagation knows (advlab.defenses.ibp, Gowal et al. 2019: every classifier ``advlab classifier train`` builds), the
share of images IBP certifies at each eps -- no input of the eps-ball around them changes their class. It holds
for any model, but only an IBP-trained one certifies much: a plainly (or PGD-) trained network's interval bounds
are far too loose at real radii and certify ~0. The check "certified <= worst case" asks that no attack broke an
image IBP certified (which also makes the certified accuracy at most the worst-case robust accuracy); a failure
means an unsound bound or a wrong attack verdict, never a strong model.

The run writes RUN/robustness.json (the stable interface for scripts: ``clean_accuracy``,
``robust_accuracy`` {eps: accuracy}, ``unbroken`` {eps: the rows of the images no attack broke},
``per_attack`` {attack: {eps: accuracy}}, ``certified`` {supported, method, accuracy {eps: share}, rows {eps: the
rows IBP certified}} or {supported: false, reason}, ``checks`` [{name,
passed, evidence}], ``warning``, ``budget``, and the options, n, seeds, timings and measurements) and the
report under RUN/robustness/ (reports/robustness_report.py).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from advlab.attacks import APGD, ATTACKS, FAB, FGSM, PGD, AdvGAN, Attack, Square, Transfer, target_by_rank
from advlab.attacks.base import NORMS, attack_norms, minimises_norm, model_device
from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.checks import check_int
from advlab.core.distributed import Distributed, context
from advlab.core.errors import AdvlabError
from advlab.core.parameters import required_parameters, taken_options
from advlab.core.seeding import make_generator, seed_everything
from advlab.defenses.ibp import certified as ibp_certified
from advlab.defenses.preprocessed import Preprocessed, load_model
from advlab.models import MLPClassifier
from advlab.pipelines.chunks import chunk_count, chunk_seed, map_seeded_chunks, note_idle_ranks
from advlab.pipelines.security import robustness_checks as checks
from advlab.pipelines.train_classifier import classifier_record, held_out_split, load_classifier, run_split
from advlab.reports.render import write_report
from advlab.reports.robustness_report import write_robustness_report

RESULT_FILE = "robustness.json"
REPORT_DIR = "robustness"
FORMAT = "advlab-robustness/1"
SQUARE_P_INIT = 0.8  # AutoAttack's Square (their autoattack.py sets p_init = .8)
LARGE_LINF = 0.5
MORE_STEPS, MORE_RESTARTS, MORE_TARGETS, MORE_QUERIES = 2, 2, 2, 2  # more effort: x 2, + 2, + 2, x 2
SURROGATE_SECONDS, SURROGATE_EPOCHS, SURROGATE_WIDTH = 5.0, 10, 256
WHITE_BOX = ("fgsm", "pgd", "apgd-ce", "apgd-t", "apgd-dlr")  # the naive gradient attacks
TITLES = {"fgsm": "FGSM", "pgd": "PGD", "apgd-ce": "APGD-CE", "apgd-t": "APGD-T", "apgd-dlr": "APGD-DLR",
          "fab-t": "FAB-T", "square": "Square", "transfer": "transfer", "bpda-apgd-ce": "BPDA+APGD-CE",
          "advgan": "AdvGAN"}
CERTIFIED_CHECK = checks.CERTIFIED_CHECK
CHAIN = ("apgd-ce", "bpda-apgd-ce", "apgd-t", "apgd-dlr", "fab-t", "square")  # AutoAttack's order


@dataclass(frozen=True)
class Budget:
    """The ensemble's attack budgets (see the module docstring); ``fab_targets`` 0 leaves FAB-T out."""

    steps: int
    restarts: int
    targets: int
    fab_targets: int
    queries: int
    eot_draws: int


BUDGETS = {
    # a quarter of AutoAttack's steps, a third of its targets, a tenth of its queries; the more-effort check
    # reruns every member at twice this and says when that would change the answer
    "fast": Budget(steps=25, restarts=1, targets=3, fab_targets=0, queries=500, eot_draws=8),
    "standard": Budget(steps=100, restarts=1, targets=9, fab_targets=9, queries=5000, eot_draws=20),
}


# ---------------------------------------------------------------------- options


@dataclass(frozen=True)
class RobustnessConfig:
    """The options of a robustness evaluation (``advlab robustness --help``).

    Args:
        run: the classifier run (plain or defended) to evaluate; only ``robustness_run`` reads it.
        eps: the budgets, in the norm's units (a tuple of numbers > 0; Linf at most 1).
        norm: ``"linf"`` or ``"l2"``.
        n: evaluate the first n held-out images (fewer if the split holds fewer).
        budget: ``"fast"`` or ``"standard"`` (AutoAttack's): the settings below that are left None.
        steps: iterations of PGD, each APGD run and FAB-T.
        restarts: random restarts of PGD and APGD-CE.
        queries: Square's query budget per image.
        targets: target classes of APGD-T (the highest clean logits but the true class).
        fab_targets: target classes of FAB-T (0: no FAB-T).
        eot_draws: forward passes averaged per gradient for a randomised model (EOT).
        check_images: images of the check runs (large eps, more effort, loss landscape, randomness).
        chunk_size: images attacked together, one chunk per rank at a time under torchrun, each chunk with its
            own seeds (None: all n images in one chunk; the figures depend on it, not on the processes).
        surrogate: a classifier run for the transfer attack (None: a quick MLP on the training split).
        advgan: also attack with AdvGAN, one generator per eps fitted on the run's training rows (Linf only).
        advgan_steps: AdvGAN's training iterations per eps (None: its default 60 epochs).
        extra_attacks: further registered attacks (``advlab attack --list``) with a budget in ``norm``, each run on
            every example at every eps with ``steps``, ``queries`` and ``seed`` where it takes them, and counted in
            the worst case (outside AutoAttack's chain, like FGSM and PGD).
        seed: seeds torch and every attack.
        device: auto, cpu, cuda or cuda:N.
        threads: torch CPU threads (None: torch's default).
        progress: a progress bar on stderr.
        report: also rewrite the run's report.html/md (it links to the robustness report).
    """

    run: str | None = None
    eps: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3)
    norm: str = "linf"
    n: int = 500
    budget: str = "fast"
    steps: int | None = None
    restarts: int | None = None
    queries: int | None = None
    targets: int | None = None
    fab_targets: int | None = None
    eot_draws: int | None = None
    check_images: int = 100
    chunk_size: int | None = None
    surrogate: str | None = None
    advgan: bool = False
    advgan_steps: int | None = None
    extra_attacks: tuple[str, ...] = ()
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    progress: bool = True
    report: bool = True

    def resolved(self) -> RobustnessConfig:
        """This config with every attack setting left None taken from its budget."""
        if self.budget not in BUDGETS:
            raise AdvlabError(f"unknown --budget {self.budget!r}; valid budgets are: {', '.join(BUDGETS)}")
        preset = asdict(BUDGETS[self.budget])
        return replace(self, **{name: value for name, value in preset.items() if getattr(self, name) is None})

    def validate(self) -> None:
        if self.norm not in NORMS:
            raise AdvlabError(f"unknown --norm {self.norm!r}; valid norms are: {', '.join(NORMS)}")
        check_eps_list(self.eps, self.norm)
        resolved = self.resolved()
        for name, least in (("n", 1), ("steps", 1), ("restarts", 1), ("queries", 2), ("targets", 1),
                            ("fab_targets", 0), ("eot_draws", 1), ("check_images", 1), ("seed", 0)):
            check_int(f"--{name.replace('_', '-')}", getattr(resolved, name), least)
        if self.threads is not None:
            check_int("--threads", self.threads, 1)
        if self.chunk_size is not None:
            check_int("--chunk-size", self.chunk_size, 1)
        if self.advgan_steps is not None:
            check_int("--advgan-steps", self.advgan_steps, 1)
        if self.advgan and self.norm != "linf":
            raise AdvlabError("AdvGAN is an Linf attack: drop --advgan or use --norm linf")
        for name in self.extra_attacks:
            check_extra_attack(name, self.norm)


def check_extra_attack(name: str, norm: str) -> None:
    """An attack --extra-attacks may add: registered, not a member already, with a budget in `norm`, and built
    from the victim alone (no surrogate to load, nothing to fit)."""
    if name not in ATTACKS:
        raise AdvlabError(f"--extra-attacks: unknown attack {name!r}; valid attacks are: {', '.join(ATTACKS)}")
    cls = ATTACKS[name]
    if name in TITLES or name in ("apgd", "fab", "transfer", "advgan"):
        raise AdvlabError(f"--extra-attacks: {name} is a member of the report already (or has its own flag)")
    if minimises_norm(cls):
        raise AdvlabError(f"--extra-attacks: {name} minimises the norm and has no budget; the report measures "
                          "robust accuracy at each eps, so it needs an attack with a budget")
    if norm not in attack_norms(cls):
        raise AdvlabError(f"--extra-attacks: {name} does not attack in the {norm} norm")
    needs = required_parameters(cls)
    if needs or callable(getattr(cls, "fit", None)):
        what = f"needs {', '.join(needs)}" if needs else "must be fitted first"
        raise AdvlabError(f"--extra-attacks: {name} {what}; the report builds its attacks from the model alone")


def check_eps_list(eps: Sequence[float], norm: str = "linf") -> tuple[float, ...]:
    """A non-empty list of finite budgets > 0 (Linf: at most 1), sorted, without repeats."""
    if isinstance(eps, (int, float)):
        eps = (eps,)
    if not eps:
        raise AdvlabError("--eps is empty; give at least one budget, e.g. --eps 0.05,0.1,0.2")
    for value in eps:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or value <= 0 or (norm == "linf" and value > 1):
            limit = " and at most 1 (images lie in [0, 1])" if norm == "linf" else ""
            raise AdvlabError(f"--eps values must be numbers > 0{limit}; got {value!r}")
    return tuple(sorted(set(float(value) for value in eps)))


def parse_eps(text: str, norm: str = "linf") -> tuple[float, ...]:
    """``"0.05,0.1,0.2"`` -> (0.05, 0.1, 0.2); anything else is one AdvlabError line."""
    parts = [part.strip() for part in str(text).split(",")]
    if not any(parts):
        raise AdvlabError("--eps is empty; give at least one budget, e.g. --eps 0.05,0.1,0.2")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise AdvlabError(f"--eps must be comma-separated numbers > 0, e.g. 0.05,0.1,0.2; got {text!r}") from None
    return check_eps_list(values, norm)


def eps_key(eps: float) -> str:
    """How an eps is written as a JSON key: ``0.1`` -> ``"0.1"``."""
    return f"{eps:g}"


# ---------------------------------------------------------------------- the attacks


class ExpectedLogits(nn.Module):
    """EOT for a randomised model (Athalye et al. 2018, sec. 4.3): logits averaged over `draws` passes."""

    def __init__(self, model: nn.Module, draws: int):
        super().__init__()
        self.model, self.draws = model, draws

    def forward(self, images: Tensor) -> Tensor:
        return torch.stack([self.model(images) for _ in range(self.draws)]).mean(0)


@dataclass
class Member:
    """One attack of the report: ``run(images, labels, clean_logits, eps)`` -> fooled (bool per image),
    judged on the real model."""

    name: str
    kind: str  # "white-box", "black-box" or "adaptive"
    run: Callable[[Tensor, Tensor, Tensor, float], Tensor]


class Verdict:
    """The real model's predicted classes: one forward pass, or for a randomised model the class it gives
    most often over `draws` passes (so that a verdict does not hang on one draw of its randomness)."""

    def __init__(self, model: nn.Module, draws: int = 1):
        self.model, self.draws = model, draws

    def __call__(self, images: Tensor) -> Tensor:
        votes = torch.stack([checks.predict(self.model, images).argmax(1) for _ in range(self.draws)])
        return votes[0] if self.draws == 1 else votes.mode(0).values


def plan_attacks(model: nn.Module, verdict: Verdict, classes: int, config: RobustnessConfig, randomized: bool,
                 surrogate: nn.Module | None, generative: dict[float, Attack] | None = None,
                 ) -> tuple[dict[str, Member], list[str], list[str]]:
    """(attacks by name, the ensemble's members in order, notes) for this model and a resolved config;
    `generative`: fitted AdvGAN attacks by eps (a member outside the chain)."""
    notes: list[str] = []
    gradient_model = ExpectedLogits(model, config.eot_draws) if randomized else model
    norm, seed, draws = config.norm, config.seed, config.eot_draws if randomized else 1

    def judged(build: Callable[[float], Callable[[Tensor, Tensor], Tensor]]) -> Callable:
        return lambda images, labels, _logits, eps: verdict(build(eps)(images, labels)) != labels

    def apgd_ce(target: nn.Module) -> Callable:
        return judged(lambda eps: APGD(target, eps=eps, steps=config.steps, norm=norm, loss="ce",
                                       restarts=config.restarts, eot_draws=draws, seed=seed))

    attacks = {
        "fgsm": Member("fgsm", "white-box", judged(lambda eps: FGSM(gradient_model, eps=eps, norm=norm))),
        "pgd": Member("pgd", "white-box", judged(lambda eps: PGD(gradient_model, eps=eps, steps=config.steps,
                                                                 norm=norm, restarts=config.restarts, seed=seed))),
        "apgd-ce": Member("apgd-ce", "white-box", apgd_ce(model)),
    }
    if classes >= 4:
        attacks["apgd-t"] = Member("apgd-t", "white-box", targeted_dlr(verdict, model, config,
                                                                       min(config.targets, classes - 1), draws))
    elif classes == 3:
        attacks["apgd-dlr"] = Member("apgd-dlr", "white-box", judged(
            lambda eps: APGD(model, eps=eps, steps=config.steps, norm=norm, loss="dlr", eot_draws=draws, seed=seed)))
        notes.append("3 classes: the targeted DLR loss needs 4, so the ensemble uses APGD with the untargeted DLR")
    else:
        notes.append(f"{classes} classes: the DLR loss needs at least 3, so APGD-T is left out of the ensemble")
    if config.fab_targets:
        attacks["fab-t"] = Member("fab-t", "white-box", targeted_fab(verdict, gradient_model, config,
                                                                     min(config.fab_targets, classes - 1)))
    attacks["square"] = Member("square", "black-box", judged(
        lambda eps: Square(model, eps=eps, queries=config.queries, p_init=SQUARE_P_INIT, norm=norm, seed=seed)))
    if surrogate is not None:
        attacks["transfer"] = Member("transfer", "black-box", judged(
            lambda eps: Transfer(model, surrogate, attack="pgd", eps=eps, steps=config.steps, norm=norm, seed=seed)))
    else:
        notes.append("no surrogate model: the transfer attack was left out")
    if generative:
        attacks["advgan"] = Member("advgan", "generative", judged(lambda eps: generative[eps]))
    for name in config.extra_attacks:
        attacks[name] = extra_member(name, model if ATTACKS[name].black_box else gradient_model, config, judged)
    if isinstance(model, Preprocessed):
        twin = model.bpda()
        attacks["bpda-apgd-ce"] = Member("bpda-apgd-ce", "adaptive", apgd_ce(twin))
        notes.append(f"the model is an input transformation ({type(model.transform).__name__}) in front of a "
                     "classifier: the ensemble adds APGD-CE through its BPDA twin (identity backward pass, or the "
                     "transform's differentiable approximation where it has one)")
    if randomized:
        notes.append(f"the model is randomised: the APGD members averaged the loss and its gradient over "
                     f"{config.eot_draws} forward passes at every step (EOT), FGSM, PGD and the transfer attack its "
                     f"logits, and every prediction (clean or adversarial) is the class it gives most often over "
                     f"{config.eot_draws} passes")
    chain = [name for name in CHAIN if name in attacks]
    return attacks, chain, notes


def extra_member(name: str, model: nn.Module, config: RobustnessConfig, judged: Callable) -> Member:
    """An --extra-attacks member: the registered attack at each eps, with the report's norm, steps, queries and
    seed where its signature takes them."""
    cls = ATTACKS[name]
    options = taken_options(cls, {"norm": config.norm, "steps": config.steps, "queries": config.queries,
                                  "seed": config.seed})
    kind = "black-box" if cls.black_box else "white-box"
    return Member(name, kind, judged(lambda eps: cls(model, eps=eps, **options)))


def target_by_target(verdict: Verdict, targets: int,
                     attack: Callable[[Tensor, Tensor, float], Tensor]) -> Callable:
    """A targeted member as AutoAttack runs it: `attack(images, target classes, eps)` -> adversarial images, against
    the highest clean logits one target after another on the images still unbroken; an image is broken when it
    leaves its true class, whichever class it lands in."""

    def run(images: Tensor, labels: Tensor, clean_logits: Tensor, eps: float) -> Tensor:
        fooled = torch.zeros(len(images), dtype=torch.bool)
        for rank in range(1, targets + 1):
            left = (~fooled).nonzero().flatten()
            if len(left) == 0:
                break
            adversarial = attack(images[left], target_by_rank(clean_logits[left], labels[left], rank), eps)
            fooled[left] = verdict(adversarial) != labels[left]
        return fooled

    return run


def targeted_dlr(verdict: Verdict, model: nn.Module, config: RobustnessConfig, targets: int, draws: int) -> Callable:
    """APGD-T: APGD on the targeted DLR loss, keeping any iterate that leaves the true class (``misclassify``)."""
    return target_by_target(verdict, targets, lambda images, goal, eps: APGD(
        model, eps=eps, steps=config.steps, norm=config.norm, loss="dlr", targeted=True, misclassify=True,
        eot_draws=draws, seed=config.seed)(images, goal))


def targeted_fab(verdict: Verdict, gradient_model: nn.Module, config: RobustnessConfig, targets: int) -> Callable:
    """FAB-T: the targeted fast adaptive boundary attack within eps (any misclassified point counts, as in
    AutoAttack's FAB-T)."""
    return target_by_target(verdict, targets, lambda images, goal, eps: FAB(
        gradient_model, eps=eps, steps=config.steps, norm=config.norm, targeted=True, seed=config.seed)(images, goal))


def budget_record(config: RobustnessConfig, attacks: dict[str, Member], classes: int, randomized: bool) -> dict:
    """What every member of the ensemble ran with (the report's Budgets table reads it)."""
    settings = {"apgd-ce": {"steps": config.steps, "restarts": config.restarts},
                "bpda-apgd-ce": {"steps": config.steps, "restarts": config.restarts},
                "apgd-t": {"steps": config.steps, "targets": min(config.targets, classes - 1)},
                "apgd-dlr": {"steps": config.steps, "restarts": 1},
                "fab-t": {"steps": config.steps, "targets": min(config.fab_targets, classes - 1)},
                "square": {"queries": config.queries}}
    preset = asdict(BUDGETS[config.budget])
    changed = [name for name, value in preset.items() if getattr(config, name) != value]
    return {"name": config.budget, "changed": changed,
            "members": {name: values for name, values in settings.items() if name in attacks},
            "eot": {"draws": config.eot_draws, "average": "gradients"} if randomized else None}


# ---------------------------------------------------------------------- the evaluation


@dataclass
class Setup:
    """What every chunk of one evaluation shares: the model and its verdicts, all the images with their clean
    logits and correctness, the resolved config, and the progress bar (rank 0's; the others' are silent)."""

    model: nn.Module
    verdict: Verdict
    images: Tensor
    labels: Tensor
    clean_logits: Tensor
    correct: Tensor
    config: RobustnessConfig
    randomized: bool
    surrogate: nn.Module | None
    bar: tqdm
    generative: dict[float, Attack] | None = None

    def attacks(self, index: int, stronger: bool = False) -> dict[str, Member]:
        """The attacks of chunk `index`, seeded with chunk_seed(seed, index) (chunk 0: the seed itself);
        `stronger`: at the more-effort budget."""
        config = replace(self.config, seed=chunk_seed(self.config.seed, index))
        config = more_effort(config) if stronger else config
        return plan_attacks(self.model, self.verdict, self.clean_logits.shape[1], config, self.randomized,
                            self.surrogate, self.generative)[0]

    def runner(self, attacks: dict[str, Member], rows: slice) -> Runner:
        """A runner of `attacks` on the images of `rows`."""
        return Runner(attacks, self.images[rows], self.labels[rows], self.clean_logits[rows], self.bar)


def evaluate_robustness(model: nn.Module, images: Tensor, labels: Tensor, config: RobustnessConfig,
                        surrogate: nn.Module | None = None, ctx: Distributed | None = None,
                        generative: dict[float, Attack] | None = None) -> dict:
    """The robustness record (see the module docstring) of `model` on `images` (N, C, H, W) in [0, 1];
    `generative`: AdvGAN attacks already fitted, one per eps of the config (``fit_advgan``).

    Under torchrun every rank calls it with the same arguments; the chunks are shared out by `ctx` (default: the
    process's context) and every rank returns the same record."""
    config.validate()
    config = config.resolved()
    ctx = context() if ctx is None else ctx
    seed_everything(config.seed)
    start = time.perf_counter()
    images, labels = images.detach().cpu(), labels.detach().cpu().long()
    eps_list = check_eps_list(config.eps, config.norm)
    keys = [eps_key(eps) for eps in eps_list]
    n, subset = len(images), min(len(images), config.check_images)
    size = config.chunk_size or max(n, 1)
    clean_logits = checks.predict(model, images)
    probes = {"randomness": checks.probe_randomness(model, images[:subset]),
              "outputs": checks.probe_outputs(clean_logits)}
    randomized = probes["randomness"]["randomized"]
    verdict = Verdict(model, config.eot_draws if randomized else 1)
    correct = verdict(images) == labels
    if generative is not None and set(generative) != set(eps_list):
        raise AdvlabError(f"the fitted AdvGAN attacks are for eps {sorted(generative)}, the evaluation for "
                          f"{list(eps_list)}")
    attacks, chain, notes = plan_attacks(model, verdict, clean_logits.shape[1], config, randomized, surrogate,
                                         generative)
    runs = len(eps_list) * len(attacks) * len(ctx.chunks(n, size)) + 2 * len(ctx.chunks(subset, size))
    bar = tqdm(total=runs, disable=not (config.progress and ctx.is_main), unit="run", desc="robustness",
               dynamic_ncols=True, file=sys.stderr)
    setup = Setup(model, verdict, images, labels, clean_logits, correct, config, randomized, surrogate, bar,
                  generative)
    note_idle_ranks(ctx, n, size, "--chunk-size")
    broken, survivors, attack_seconds = attack_chunks(setup, ctx, chain, eps_list, size)
    unbroken = worst_case_flags(correct, broken, keys)
    robust_accuracy = {key: share(flags) for key, flags in unbroken.items()}
    after = {name: {key: share(flags) for key, flags in per_eps.items()} for name, per_eps in survivors.items()}
    per_attack = {name: {key: share(~broken[name][key]) for key in keys} for name in attacks}
    white = [name for name in attacks if name in WHITE_BOX]
    white_box = {key: share(~torch.stack([broken[name][key] for name in white]).any(0)) for key in keys}
    began = time.perf_counter()
    probes.update(measure(setup, ctx, chain, broken, robust_accuracy, eps_list, size))
    bar.close()
    seconds = {**attack_seconds, "checks": time.perf_counter() - began, "total": time.perf_counter() - start}
    check_list = run_checks(per_attack, white_box, after, chain, probes, n, config)
    certified = certified_record(model, images, labels, eps_list, config.norm, randomized)
    if certified["supported"]:
        check_list.append(check_certified(certified, unbroken, robust_accuracy))
    return {
        "format": FORMAT,
        "model": {"class": type(model).__name__, "randomized": randomized,
                  "preprocessed": isinstance(model, Preprocessed),
                  "transform": type(model.transform).__name__ if isinstance(model, Preprocessed) else None,
                  "classes": int(clean_logits.shape[1])},
        "options": {**{k: v for k, v in asdict(config).items() if k not in ("progress", "report")},
                    "eps": list(eps_list), "extra_attacks": list(config.extra_attacks)},
        "n": n, "eps": keys, "norm": config.norm,
        "clean_accuracy": share(correct), "robust_accuracy": robust_accuracy, "per_attack": per_attack,
        "certified": certified,
        "unbroken": {key: flags.nonzero().flatten().tolist() for key, flags in unbroken.items()},
        "white_box_accuracy": white_box,
        "ensemble": {"members": chain, "accuracy_after": after, "accuracy": after[chain[-1]]},
        "budget": budget_record(config, attacks, int(clean_logits.shape[1]), randomized),
        "attacks": {name: {"kind": member.kind, "title": TITLES.get(name, name)} for name, member in attacks.items()},
        "adaptive": {"eot": randomized, "eot_draws": config.eot_draws if randomized else None,
                     "bpda": "bpda-apgd-ce" in attacks},
        "checks": check_list, "warning": checks.masking_warning(check_list),
        "probes": probes, "notes": notes,
        "seeds": {"torch": config.seed, "attacks": config.seed, "more_effort": config.seed + 1},
        "chunks": {"size": size, "count": chunk_count(n, size),
                   "seeds": "chunk 0: the seeds above; chunk c > 0: advlab.pipelines.chunks.chunk_seed(seed, c)"},
        "processes": ctx.world_size,
        "seconds": {name: round(value, 3) for name, value in seconds.items()},
    }


class Runner:
    """Runs the report's attacks on rows of the images: times each attack and counts it on the progress bar."""

    def __init__(self, attacks: dict[str, Member], images: Tensor, labels: Tensor, clean_logits: Tensor,
                 bar: tqdm | None = None):
        self.attacks, self.images, self.labels, self.clean_logits = attacks, images, labels, clean_logits
        self.seconds = {name: 0.0 for name in attacks}
        self.bar = tqdm(disable=True) if bar is None else bar

    def __call__(self, name: str, rows: Tensor, eps: float) -> Tensor:
        """Attack `name` on the images of `rows` at eps: fooled per row."""
        if len(rows) == 0:
            return torch.zeros(0, dtype=torch.bool)
        self.bar.set_postfix_str(f"{name} eps {eps:g}")
        began = time.perf_counter()
        fooled = self.attacks[name].run(self.images[rows], self.labels[rows], self.clean_logits[rows], eps)
        self.seconds[name] += time.perf_counter() - began
        return fooled


Flags = dict[str, dict[str, Tensor]]  # attack -> eps key -> a bool per image


def attack_chunks(setup: Setup, ctx: Distributed, chain: list[str], eps_list: Sequence[float],
                  size: int) -> tuple[Flags, Flags, dict[str, float]]:
    """attack_runs on every chunk of the images (each chunk on one rank, with its own seeds): the broken and the
    ensemble's survivor flags joined in image order, and each attack's seconds summed over the chunks."""

    def attack_chunk(rows: slice, index: int) -> tuple[Flags, Flags, dict[str, float]]:
        runner = setup.runner(setup.attacks(index), rows)
        return *attack_runs(runner, chain, setup.correct[rows], eps_list), runner.seconds

    parts = map_seeded_chunks(ctx, attack_chunk, len(setup.images), size, setup.config.seed,
                              model_device(setup.model, setup.images))
    return joined([part[0] for part in parts]), joined([part[1] for part in parts]), summed([p[2] for p in parts])


def joined(parts: list[Flags]) -> Flags:
    """The flags of consecutive chunks as the flags of all their images."""
    if not parts:
        return {}
    return {name: {key: torch.cat([part[name][key] for part in parts]) for key in per_eps}
            for name, per_eps in parts[0].items()}


def summed(parts: list[dict[str, float]]) -> dict[str, float]:
    """Seconds per attack added up over chunks."""
    total: dict[str, float] = {}
    for part in parts:
        for name, value in part.items():
            total[name] = total.get(name, 0.0) + value
    return total


def attack_runs(runner: Runner, chain: list[str], correct: Tensor, eps_list: Sequence[float]) -> tuple[Flags, Flags]:
    """Every attack at every eps: (broken per attack per eps, the ensemble's survivors after each member per eps).

    The ensemble runs in AutoAttack's order, each member on the images still unbroken; for its own curve the
    member then also attacks the images an earlier member broke, so every attack covers every image once
    (the attacks treat images independently). Images the model gets wrong count as broken unattacked."""
    broken: Flags = {name: {} for name in runner.attacks}
    after: Flags = {name: {} for name in chain}
    for eps in eps_list:
        key, survivors = eps_key(eps), correct.clone()
        for name in [*chain, *(name for name in runner.attacks if name not in chain)]:
            fooled = torch.zeros(len(correct), dtype=torch.bool)
            first = survivors.nonzero().flatten() if name in chain else correct.nonzero().flatten()
            fooled[first] = runner(name, first, eps)
            if name in chain:
                rest = (correct & ~survivors).nonzero().flatten()
                fooled[rest] = runner(name, rest, eps)
                survivors &= ~fooled
                after[name][key] = survivors.clone()
            broken[name][key] = ~correct | fooled
            runner.bar.update(1)
    return broken, after


def worst_case(correct: Tensor, broken: Flags, keys: list[str]) -> dict[str, float]:
    """Robust accuracy per eps: unbroken by every attack, at this eps and every smaller one."""
    return {key: share(flags) for key, flags in worst_case_flags(correct, broken, keys).items()}


def worst_case_flags(correct: Tensor, broken: Flags, keys: list[str]) -> dict[str, Tensor]:
    """Per eps key (in `keys`' order, smallest first), which images no attack broke at that eps or a smaller one."""
    robust, flags = correct.clone(), {}
    for key in keys:
        for attack_flags in broken.values():
            robust &= ~attack_flags[key]
        flags[key] = robust.clone()
    return flags


def measure(setup: Setup, ctx: Distributed, chain: list[str], broken: Flags, robust_accuracy: dict,
            eps_list: Sequence[float], size: int) -> dict:
    """The probes behind the checks: gradient norms and the loss landscape (every rank computes them), then the
    large-eps and the more-effort runs on the first ``check_images`` images, chunked as the attacks are."""
    images, labels, correct, config = setup.images, setup.labels, setup.correct, setup.config
    subset = min(len(images), config.check_images)
    focus = correct.nonzero().flatten() if correct.any() else torch.arange(len(images))
    near = focus[focus < subset] if (focus < subset).any() else focus[:subset]
    probes = {"gradients": checks.probe_gradients(setup.model, images[focus], labels[focus]),
              "landscape": checks.probe_landscape(setup.model, images[near], labels[near], eps_list[-1], config.norm,
                                                  config.seed)}
    effort = MoreEffort.plan(config, correct[:subset], broken, robust_accuracy, eps_list)
    gradient_members = [name for name in LARGE_EPS_MEMBERS if name in chain]
    large_eps, _ = large_budget(config, images.shape[1:], config.eps)

    def probe_chunk(rows: slice, index: int) -> tuple[Tensor, dict]:
        setup.bar.set_postfix_str("large eps")
        attacks = setup.attacks(index)
        runner = setup.runner({name: attacks[name] for name in gradient_members}, rows)
        large = large_eps_survivors(runner, correct[rows], large_eps)
        setup.bar.update(1)
        setup.bar.set_postfix_str("more effort")
        stronger = setup.attacks(index, stronger=True)
        more = effort.run(setup.runner({name: stronger[name] for name in chain}, rows), rows, correct[rows], chain)
        setup.bar.update(1)
        return large, more

    parts = map_seeded_chunks(ctx, probe_chunk, subset, size, config.seed, model_device(setup.model, images))
    probes["large_eps"] = large_eps_record(config, images.shape[1:], torch.cat([large for large, _ in parts]),
                                           gradient_members)
    probes["more_effort"] = effort.record([more for _, more in parts], chain)
    return probes


def run_checks(per_attack: dict, white_box: dict, after: dict, chain: list[str], probes: dict, n: int,
               config: RobustnessConfig) -> list[dict]:
    """Every check of robustness_checks, in the report's order."""
    return [
        checks.check_iterative_beats_single_step(per_attack, n),
        checks.check_white_box_beats_black_box(white_box, per_attack, n),
        checks.check_square(after, chain, n),
        checks.check_reaches_zero(probes["large_eps"]),
        checks.check_more_effort(probes["more_effort"]),
        checks.check_falls_with_eps({**per_attack, "ensemble": after[chain[-1]]}, n),
        checks.check_gradients(probes["gradients"]),
        checks.check_landscape(probes["landscape"]),
        checks.check_deterministic(probes["randomness"], config.eot_draws),
        checks.check_logits(probes["outputs"]),
    ]


def certified_record(model: nn.Module, images: Tensor, labels: Tensor, eps_list: Sequence[float], norm: str,
                     randomized: bool) -> dict:
    """IBP's certified share of the images per eps (advlab.defenses.ibp), or why it does not apply to this model."""
    if norm != "linf":
        return {"supported": False, "reason": "IBP certifies Linf boxes; this evaluation is L2"}
    if randomized:
        return {"supported": False, "reason": "the model is randomised; interval bounds need a deterministic one"}
    try:
        flags = {eps_key(eps): ibp_certified(model, images, labels, eps) for eps in eps_list}
    except AdvlabError as error:  # a layer IBP has no rule for (an input transformation, a custom module)
        return {"supported": False, "reason": str(error)}
    return {"supported": True, "method": "IBP (Gowal et al. 2019): interval bounds, last layer folded in",
            "accuracy": {key: share(value) for key, value in flags.items()},
            "rows": {key: value.nonzero().flatten().tolist() for key, value in flags.items()}}


def check_certified(certified: dict, unbroken: dict[str, Tensor], robust_accuracy: dict[str, float]) -> dict:
    """certified <= worst case, image by image: no attack broke an image IBP certified at that eps."""
    broken = {key: [row for row in rows if not bool(unbroken[key][row])] for key, rows in certified["rows"].items()}
    worst = [key for key, rows in broken.items() if rows]
    figures = ", ".join(f"eps {key}: {checks.percent(certified['accuracy'][key])} <= "
                        f"{checks.percent(robust_accuracy[key])}" for key in certified["accuracy"])
    if worst:
        key = worst[0]
        return checks.result(CERTIFIED_CHECK, False,
                             f"at eps {key} the attacks broke {len(broken[key])} image(s) IBP certified (rows "
                             f"{broken[key][:5]}): an unsound bound or a wrong verdict; IBP-certified vs worst case: "
                             f"{figures}")
    return checks.result(CERTIFIED_CHECK, True,
                         f"no attack broke an image IBP certified; IBP-certified vs worst case: {figures}")


def share(flags: Tensor) -> float:
    """The share of True in a bool tensor (0 for an empty one)."""
    return int(flags.sum()) / len(flags) if len(flags) else 0.0


def large_budget(config: RobustnessConfig, sample_shape: Sequence[int], eps_list: Sequence[float]) -> tuple[float, str]:
    """(eps, why) of the check run at a budget that allows any answer."""
    if config.norm == "linf":
        return max(LARGE_LINF, max(eps_list)), "every pixel can reach mid-grey, so every image can become the same one"
    dimension = math.prod(sample_shape)
    eps = max(0.5 * math.sqrt(dimension), max(eps_list))
    return eps, f"0.5 sqrt(d) for d = {dimension}: the L2 ball holding the Linf ball of 0.5"


LARGE_EPS_MEMBERS = ("apgd-ce", "apgd-t", "apgd-dlr")  # the gradient members of the ensemble


def large_eps_survivors(runner: Runner, correct: Tensor, eps: float) -> Tensor:
    """Which images of `runner` its attacks (the gradient members: APGD-CE, then APGD-T or APGD-DLR), each on
    what the ones before left, leave correct at a budget `eps` that allows any answer."""
    survivors = correct.clone()
    for name in runner.attacks:
        rows = survivors.nonzero().flatten()
        survivors[rows[runner(name, rows, eps)]] = False
    return survivors


def large_eps_record(config: RobustnessConfig, sample_shape: Sequence[int], survivors: Tensor,
                     names: list[str]) -> dict:
    """The large-eps probe: the share of the check images that the gradient members `names` left correct."""
    eps, why = large_budget(config, sample_shape, config.eps)
    return {"eps": eps, "norm": config.norm, "why": why, "n": len(survivors), "accuracy": share(survivors),
            "attacks": " then ".join(TITLES[name] for name in names)}


def more_effort(config: RobustnessConfig) -> RobustnessConfig:
    """The budget of the more-effort runs: twice the steps and queries, two more restarts and targets."""
    return replace(config, steps=config.steps * MORE_STEPS, restarts=config.restarts + MORE_RESTARTS,
                   targets=config.targets + MORE_TARGETS, queries=config.queries * MORE_QUERIES,
                   fab_targets=config.fab_targets + MORE_TARGETS if config.fab_targets else 0, seed=config.seed + 1)


@dataclass
class MoreEffort:
    """The more-effort probe: every ensemble member with more effort at the eps whose robust accuracy is nearest
    50%, beside the report's worst case on the same images (with and without the stronger runs). The stronger
    APGD-CE attacks every image (its accuracy against APGD-CE at the report's budget tells whether more effort
    helped the model); the other stronger members, in the ensemble's order, attack only what the worst case and
    the runs before them left. :meth:`run` does one chunk of the check images, :meth:`record` joins them."""

    config: RobustnessConfig
    eps: float
    base: Tensor  # the check images APGD-CE left correct at the report's budget
    reported: Tensor  # the check images the report's worst case left correct

    @classmethod
    def plan(cls, config: RobustnessConfig, correct: Tensor, broken: Flags, robust_accuracy: dict,
             eps_list: Sequence[float]) -> MoreEffort:
        """The eps and the report's own verdicts on the check images (the first len(correct) images)."""
        eps = min(eps_list, key=lambda e: (abs(robust_accuracy[eps_key(e)] - 0.5), e))
        subset = len(correct)
        keys = [eps_key(e) for e in sorted(eps_list) if e <= eps]
        reported = worst_case_flags(correct, {name: {key: flags[key][:subset] for key in keys}
                                              for name, flags in broken.items()}, keys)[eps_key(eps)]
        return cls(config, eps, ~broken["apgd-ce"][eps_key(eps)][:subset], reported)

    def run(self, runner: Runner, rows: slice, correct: Tensor, chain: list[str]) -> dict:
        """The stronger members (`runner`'s attacks) on the check images of `rows`."""
        survivors = correct & ~runner("apgd-ce", torch.arange(len(correct)), self.eps)
        left, broke = self.reported[rows] & survivors, {}
        for name in chain[1:]:
            todo = left.nonzero().flatten()
            fooled = runner(name, todo, self.eps)
            left[todo[fooled]] = False
            broke[name] = int(fooled.sum())
        return {"survivors": survivors, "left": left, "broke": broke, "seconds": runner.seconds}

    def record(self, parts: list[dict], chain: list[str]) -> dict:
        """The probe's figures from the chunks' runs, in image order."""
        survivors, left = (torch.cat([part[name] for part in parts]) for name in ("survivors", "left"))
        members = {"apgd-ce": int((self.reported & ~survivors).sum())}
        members.update({name: sum(part["broke"][name] for part in parts) for name in chain[1:]})
        config, stronger = self.config, more_effort(self.config)
        return {"eps": self.eps, "n": len(survivors), "base_steps": config.steps, "base_restarts": config.restarts,
                "more_steps": stronger.steps, "more_restarts": stronger.restarts, "more_targets": stronger.targets,
                "more_queries": stronger.queries, "base_accuracy": share(self.base), "more_accuracy": share(survivors),
                "worst_case_accuracy": share(self.reported), "with_more_accuracy": share(left),
                "members": [TITLES[name] for name in chain], "broke_more": members,
                "seconds": {name: round(value, 3) for name, value in summed([p["seconds"] for p in parts]).items()}}


# ---------------------------------------------------------------------- a run directory


def quick_surrogate(run: str | Path, device: torch.device, seed: int) -> tuple[nn.Module, dict]:
    """An MLP trained for a few seconds (at most SURROGATE_EPOCHS epochs) on the run's training split."""
    data, (train_rows, _) = run_split(run)
    classes = int(classifier_record(run)[1]["classes"])
    torch.manual_seed(seed)
    model = MLPClassifier(math.prod(data.sample_shape), classes, SURROGATE_WIDTH).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    shuffler, start, epochs = make_generator(seed, torch.device("cpu")), time.perf_counter(), 0
    images, labels = data.data[train_rows].to(device), data.labels[train_rows].to(device)
    while epochs < SURROGATE_EPOCHS and time.perf_counter() - start < SURROGATE_SECONDS:
        order = torch.randperm(len(images), generator=shuffler).to(device)
        for first in range(0, len(order), 64):
            rows = order[first:first + 64]
            loss = F.cross_entropy(model(images[rows]), labels[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        epochs += 1
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    train_accuracy = share(checks.predict(model, images).argmax(1) == labels.cpu())
    return model, {"kind": "quick MLP", "epochs": epochs, "seconds": round(time.perf_counter() - start, 2),
                   "train_accuracy": train_accuracy}


def shared_surrogate(ctx: Distributed, run: str | Path, device: torch.device, seed: int) -> tuple[nn.Module, dict]:
    """quick_surrogate, trained by rank 0 alone and sent to every rank: its training stops on the clock, so
    surrogates trained by each rank could differ."""
    if not ctx.active:
        return quick_surrogate(run, device, seed)
    made = quick_surrogate(run, device, seed) if ctx.is_main else None
    model, about = ctx.broadcast_object(None if made is None else (made[0].cpu(), made[1]))
    return model.to(device), about


def fit_advgan(model: nn.Module, run: str | Path, config: RobustnessConfig) -> tuple[dict[float, Attack], dict]:
    """One AdvGAN per eps of the config, fitted on the run's training rows (under torchrun every rank fits its share
    of each minibatch): (attacks by eps, how each was trained, by eps key)."""
    data, (train_rows, _) = run_split(run)
    images, labels = data.data[train_rows], data.labels[train_rows]
    attacks, trained = {}, {}
    for eps in check_eps_list(config.eps, config.norm):
        attack = AdvGAN(model, eps=eps, steps=config.advgan_steps, seed=config.seed)
        attack.fit(images, labels, progress=config.progress and context().is_main)
        attacks[eps] = attack
        trained[eps_key(eps)] = {key: value for key, value in attack.training.items() if key != "history"}
    return attacks, {"rows": "training split", "n": len(train_rows), "generators": trained}


def robustness_run(config: RobustnessConfig) -> tuple[Path, dict]:
    """Evaluate the run ``config.run``; write RUN/robustness.json and RUN/robustness/. Returns (json path, record).

    Under torchrun every rank evaluates its chunks and returns the same record; rank 0 alone writes, and every
    rank returns once it has."""
    if config.run is None:
        raise AdvlabError("no run directory: give the classifier run to evaluate")
    config.validate()
    config = config.resolved()
    ctx = context(config.device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = ctx.device(config.device)
    run = Path(config.run)
    model = load_model(run, device)
    images, labels = held_out_split(run)
    n = min(config.n, len(images))
    if config.surrogate is not None:
        surrogate, about = load_classifier(config.surrogate, device)[0], {"kind": "run",
                                                                         "run": str(Path(config.surrogate).resolve())}
    else:
        surrogate, about = shared_surrogate(ctx, run, device, config.seed)
    generative, trained = fit_advgan(model, run, config) if config.advgan else (None, None)
    record = evaluate_robustness(model, images[:n], labels[:n], config, surrogate, ctx, generative)
    if trained is not None:
        record["advgan"] = trained
    if n < config.n:
        record["notes"].insert(0, f"--n {config.n} asked for more images than the {len(images)} of the held-out "
                                  f"split; all {n} were used")
    record["model"]["run"] = str(run.resolve())
    record["surrogate"] = about
    record["options"]["device"] = str(device)
    path = run / RESULT_FILE
    if ctx.is_main:
        record["files"] = {name: str(file.relative_to(run))
                           for name, file in write_robustness_report(run, record).items()}
        atomic_write_bytes(path, (json.dumps(record, indent=1) + "\n").encode())
        if config.report and (run / "metrics.jsonl").is_file():
            write_report(run)
    ctx.barrier()
    return path, record


__all__ = ["BUDGETS", "Budget", "ExpectedLogits", "RobustnessConfig", "evaluate_robustness", "parse_eps",
           "robustness_run"]
