"""`advlab attack NAME RUN`: one registered evasion attack against a trained classifier run.

The victim is the model of the classifier run RUN (``advlab.defenses.load_model``: the classifier, behind its
input transformation when RUN is a defended run) and the images are the
first ``n`` of its held-out split (``held_out_split``), the rows it never trained on. The attack
is ``advlab.attacks.ATTACKS[NAME]`` built with the given options; for an eps sweep
(``eps=[0.05, 0.1]``) it shares one clean pass and gives one result per eps. Targets, for a
targeted attack, come from the true labels (``next``: label + 1 mod classes, ``random``: a
seeded class other than the label, ``--target K``: class K) or from the model (``least-likely``:
the class with the lowest clean logit). The run writes into its own directory:

    results.json      the options, one summary row per eps (AttackResult.summary()), the victim run
    table.md          the robustness table (reports/attack_report.py)
    grid.png          clean / adversarial / amplified perturbation of up to 12 examples
                      (a sweep: grid-eps0.05.png, grid-eps0.1.png, ...)
    adversarial.npy   the adversarial images of the largest eps, float32 (N, C, H, W)

An attack that learns before it attacks (one with a ``fit`` method: AdvGAN, advlab.attacks.advgan) is first
fitted on the victim run's TRAINING rows -- never on the held-out rows it then attacks -- unless it was given a
trained generator (``--generator PATH``); it is then compared with PGD (``COMPARISON_PGD_STEPS`` steps, random
start, the same eps, images, targets and mask), and the run also writes

    generator.safetensors   the trained generator (``--generator`` reuses it)

and ``results.json`` gains ``training`` (rows, seconds, iterations, queries, the loss history; or the reused file),
``generator``, ``time_per_image_ms`` (generation only; training is counted apart) and ``comparison``
({attack: {success_rate, robust_accuracy, seconds, ms_per_image}} for the attack and PGD), shown under the table.

The directory is ``RUN/attacks/NAME`` by default; an existing one is never overwritten: the next
free ``NAME-2``, ``NAME-3``, ... is used instead (``overwrite`` replaces ``RUN/attacks/NAME``).
An explicit ``out`` that already holds files is refused unless ``overwrite`` (and it holds an
attack run). Afterwards the victim run's report is rewritten, with the new attack in it.

The options an attack takes are read from its ``__init__`` signature (``class_parameters``):
the CLI builds one flag per parameter from it, and the Python entry point checks option names
against it. A parameter annotated ``nn.Module`` (other than the victim ``model``, e.g. a
transfer attack's surrogate) takes the path of another classifier run; one annotated
``tuple[nn.Module, ...]`` (a transfer attack's ensemble of surrogates) a list of them.

A black-box attack may meet an output defense (``output_defense``, advlab.defenses.outputs: ``round:D``, ``topK``,
``cutoff:C``, ``top1``, ``reverse-sigmoid:beta=B,gamma=G``, ``noise:SIGMA``): the attack then queries
:class:`~advlab.defenses.outputs.DefendedScores` -- the log of the defended probabilities as its logits, the
scores a prediction API behind that defense shows -- while its success is judged on the real classifier's labels
(a noise draw that makes the attacker *believe* an image is misclassified does not count). results.json gains
``output_defense`` (the spec) and ``attacker_view`` (the summary rows as the defended answers made them look).
A white-box attack (gradients of the model itself) is refused with a defense: post-processing the output is no
defense against it.

Under torchrun the batches of ``batch_size`` images are dealt round robin to the ranks (each batch attacked as
one process attacks it: the attack's seed is the run's, torch's global generators as advlab.pipelines.chunks
says), the results gathered in batch order, and rank 0 alone writes: N processes give one process's results.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from advlab.attacks import ATTACKS, PGD, Attack, AttackResult
from advlab.attacks.base import check_mask
from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.checks import check_int
from advlab.core.devices import resolve_device
from advlab.core.distributed import Distributed, context
from advlab.core.errors import AdvlabError
from advlab.core.parameters import check_options, class_parameters
from advlab.core.seeding import make_generator, seed_everything
from advlab.defenses.outputs import DefendedScores, parse_output_defense
from advlab.defenses.preprocessed import load_model
from advlab.pipelines.chunks import map_seeded_chunks, note_idle_ranks
from advlab.pipelines.train_classifier import classifier_record, held_out_split, load_classifier, run_split
from advlab.reports.attack_report import grid_rows, markdown_attack_table, pick_examples, save_attack_grid

TARGET_RULES = ("next", "random", "least-likely")
HANDLED = ("model", "targeted", "seed")  # attack parameters the run sets itself
GRID_EXAMPLES = 12
PREDICT_BATCH = 1024
COMPARISON_PGD_STEPS = 40  # the PGD an attack that learns is compared with (Madry et al.'s MNIST setting)
GENERATOR_FILE = "generator.safetensors"


def attack_class(name: str) -> type[Attack]:
    if name not in ATTACKS:
        raise AdvlabError(f"unknown attack {name!r}; valid attacks are: {', '.join(ATTACKS)}")
    return ATTACKS[name]


# ---------------------------------------------------------------------- the config


@dataclass(frozen=True)
class AttackRunConfig:
    """An attack run: which attack with which options, on which run's held-out images.

    Args:
        attack: a key of ``advlab.attacks.ATTACKS``.
        run: the victim's classifier run directory.
        options: the attack's own options (its ``__init__`` parameters but model, targeted and
            seed), e.g. ``{"eps": [0.05, 0.1], "steps": 40}``; an nn.Module option takes a run path.
        n: attack the first n held-out images (None: all of them).
        batch_size: attack this many images at a time, one batch per rank under torchrun (None: all at once).
        targeted_by: ``next``, ``random`` or ``least-likely`` targets (a targeted attack).
        target: one target class for every image (a targeted attack).
        mask: a .npy file of 0/1 (1 = may change) that broadcasts to the images.
        output_defense: what a black-box attack sees of the model's answers (advlab.defenses.outputs: "none",
            "top1", "round:D", "topK", "cutoff:C", "reverse-sigmoid:beta=B,gamma=G", "noise:SIGMA"; the noise
            seeded by `seed`).
        seed: seeds torch, the attack's own generator and the random targets.
        device: auto, cpu, cuda or cuda:N.
        threads: torch CPU threads (None: torch's default).
        out: the attack's directory (None: RUN/attacks/NAME, or NAME-2, ... if that exists).
        overwrite: replace an existing attack directory.
        progress: show a progress bar over the batches.
        report: rewrite the victim run's report afterwards (when `out` is under RUN/attacks).
    """

    attack: str
    run: str
    options: dict[str, Any] = field(default_factory=dict)
    n: int | None = None
    batch_size: int | None = None
    targeted_by: str | None = None
    target: int | None = None
    mask: str | None = None
    output_defense: str = "none"
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    out: str | None = None
    overwrite: bool = False
    progress: bool = True
    report: bool = True

    def validate(self) -> None:
        attack_class(self.attack)
        for name in ("n", "batch_size", "threads"):
            if getattr(self, name) is not None:
                check_int(f"--{name.replace('_', '-')}", getattr(self, name), 1)
        check_int("--seed", self.seed, 0)
        if self.targeted_by is not None and self.targeted_by not in TARGET_RULES:
            raise AdvlabError(f"unknown --targeted-by {self.targeted_by!r}; valid rules are: {', '.join(TARGET_RULES)}")
        if self.targeted_by is not None and self.target is not None:
            raise AdvlabError("give either --targeted-by or --target, not both")
        if self.target is not None:
            check_int("--target", self.target, 0)
        own = {parameter.name for parameter in class_parameters(ATTACKS[self.attack])} - set(HANDLED)
        check_options(self.attack, self.options, own)
        if parse_output_defense(self.output_defense, self.seed) is not None and not ATTACKS[self.attack].black_box:
            raise AdvlabError(f"--output-defense {self.output_defense}: {self.attack} is a white-box attack (it reads "
                              "the model's gradients), which an output defense does not stand in front of; use a "
                              "black-box attack (square, nes, simba, zoo, spsa, ...)")

    @property
    def targeted(self) -> bool:
        return self.targeted_by is not None or self.target is not None


# ---------------------------------------------------------------------- the run


def attack_run(config: AttackRunConfig) -> Path:
    """Run the attack that `config` describes; returns the directory it wrote (under torchrun: rank 0 wrote it,
    and every rank returns once it has)."""
    config.validate()
    cls = attack_class(config.attack)
    ctx = context(config.device)
    device = ctx.device(config.device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    model = load_model(config.run, device)
    defense = parse_output_defense(config.output_defense, config.seed)
    queried = model if defense is None else DefendedScores(model, defense)
    images, labels = select(*held_out_split(config.run), config.n)
    mask = load_mask(config.mask, images, config.attack)
    out = output_dir(config)  # checked before the attack runs, created after
    options = resolved_options(cls, config)
    attack = cls(queried, **build_options(cls, options, config, device))
    targets = make_targets(config, queried, images, labels, device) if config.targeted else None
    training = fit_on_training_rows(attack, config, ctx, len(images)) if learns(attack) else None
    start = time.perf_counter()
    results = run_in_batches(attack, images, labels, targets, mask, config, ctx, device)
    seconds = time.perf_counter() - start
    extra = None
    if defense is not None:
        extra = {"output_defense": defense.spec, "attacker_view": [result.summary() for result in results]}
        results = judged_by(model, results, device)
    if training is not None:
        pgd = PGD(model, eps=attack.eps, steps=COMPARISON_PGD_STEPS, norm=attack.norm or "linf",
                  targeted=config.targeted, seed=config.seed)
        compared = run_in_batches(pgd, images, labels, targets, mask, dataclasses.replace(config, attack="pgd"), ctx,
                                  device)[0]
        extra = {**(extra or {}), **learned_record(training, results[0], compared, artefact(attack))}
    if ctx.is_main:
        make_output_dir(out, config)
        if training is not None:
            attack.save(out / artefact(attack)[1])
        write_outputs(out, config, attack, options, results, seconds, extra)
        if config.report and Path(config.run).resolve() / "attacks" in out.resolve().parents:
            from advlab.reports.render import write_report

            write_report(config.run)
    ctx.barrier()
    return out


def judged_by(model: nn.Module, results: list[AttackResult], device: torch.device) -> list[AttackResult]:
    """`results` with the clean and adversarial predictions of `model` (the real classifier behind an output
    defense) in place of those the attacked model gave."""
    clean = predict(model, results[0].clean, device).argmax(1).to(results[0].clean.device)
    return [dataclasses.replace(result, clean_pred=clean,
                                adv_pred=predict(model, result.adversarial, device).argmax(1).to(clean.device))
            for result in results]


def learns(attack: Attack) -> bool:
    """Does the attack learn before it attacks (AdvGAN's generator, UAP's perturbation)?"""
    return callable(getattr(attack, "fit", None)) and callable(getattr(attack, "save", None))


def artefact(attack: Attack) -> tuple[str, str]:
    """(word, file name) of what an attack that learns saves: its ``artefact_word`` and ``artefact_file`` class
    attributes, AdvGAN's ("generator", GENERATOR_FILE) by default; ``<word>_path`` holds a file it was given."""
    return getattr(attack, "artefact_word", "generator"), getattr(attack, "artefact_file", GENERATOR_FILE)


def fit_on_training_rows(attack: Attack, config: AttackRunConfig, ctx: Distributed, attacked: int) -> dict:
    """Fit `attack` on the victim run's training rows (every rank fits its share of each minibatch), unless it was
    given a trained generator; what happened, for results.json. ``--target K`` trains towards K alone (the paper's
    one generator per target); other targeted rules train on random targets."""
    given = getattr(attack, f"{artefact(attack)[0]}_path", None)
    if given is not None:
        return {"reused": str(Path(given).resolve()), "seconds": 0.0}
    data, (train_rows, test_rows) = run_split(config.run)
    images, labels = data.data[train_rows], data.labels[train_rows]
    targets = None if config.target is None else torch.full_like(labels, config.target)
    start = time.perf_counter()
    attack.fit(images, labels, progress=config.progress and ctx.is_main, targets=targets)
    seconds = time.perf_counter() - start
    about = {key: value for key, value in attack.training.items() if key != "seconds"}
    return {"rows": "training split", "n": len(train_rows), "held_out_rows": len(test_rows),
            "attacked_rows": attacked, "seconds": round(seconds, 3), **about}


def learned_record(training: dict, result: AttackResult, pgd: AttackResult,
                   saved: tuple[str, str] = ("generator", GENERATOR_FILE)) -> dict:
    """results.json's keys for an attack that learns: its training, its time per image, and PGD beside it."""
    n = len(result.labels)

    def row(item: AttackResult, **more) -> dict:
        summary = item.summary()
        return {"success_rate": summary["success_rate"], "robust_accuracy": summary["robust_accuracy"],
                "seconds": round(item.seconds, 4), "ms_per_image": 1000 * item.seconds / n, **more}

    word, file = saved
    return {"training": training, word: {"file": file}, "artefact": word,
            "time_per_image_ms": {"generation": 1000 * result.seconds / n,
                                  "training_per_attacked_image": 1000 * training["seconds"] / n},
            "comparison": {result.attack: row(result, training_seconds=training["seconds"]),
                           "pgd": row(pgd, steps=COMPARISON_PGD_STEPS)}}


def comparison_table(record: dict) -> str:
    """The attack beside PGD (time per image and success) and where its generator came from, as Markdown; empty
    for an attack that does not learn."""
    comparison, training = record.get("comparison"), record.get("training")
    if not comparison:
        return ""
    lines = ["| attack | success | robust acc | time per image (ms) | training (s) |", "|---|---:|---:|---:|---:|"]
    for name, row in comparison.items():
        label = f"pgd ({row['steps']} steps)" if name == "pgd" else name
        success = "—" if row["success_rate"] is None else f"{100 * row['success_rate']:.1f}%"
        trained = row.get("training_seconds")
        lines.append(f"| {label} | {success} | {100 * row['robust_accuracy']:.1f}% | {row['ms_per_image']:.3f} | "
                     f"{'—' if trained is None else f'{trained:.1f}'} |")
    word = record.get("artefact", "generator")
    if "reused" in training:
        source = f"{word} reused from {training['reused']} (no training)"
    else:
        source = (f"{word} trained on the run's {training['n']} training rows, not on the "
                  f"{training['attacked_rows']} held-out rows attacked here, in {training['seconds']:.1f} s "
                  f"({training['iterations']} iterations"
                  + (f", {training['queries']} queries of the model" if training.get("queries") else "") + ")")
    return "\n".join(lines) + f"\n\n{source}; saved as {record[word]['file']}\n"


def select(images: Tensor, labels: Tensor, n: int | None) -> tuple[Tensor, Tensor]:
    """The first n held-out images (all with n None); more than there are is an error."""
    if n is None:
        return images, labels
    if n > len(images):
        raise AdvlabError(f"--n {n} is more than the {len(images)} held-out images of the run")
    return images[:n], labels[:n]


def load_mask(path: str | None, images: Tensor, name: str) -> Tensor | None:
    """A 0/1 .npy array (never unpickled) that broadcasts to the images, as a bool tensor."""
    if path is None:
        return None
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise AdvlabError(f"mask file {path} not found") from None
    except (OSError, ValueError, EOFError) as error:
        raise AdvlabError(f"mask {path} is not a plain .npy array ({str(error).splitlines()[0]})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise AdvlabError(f"mask {path} must be a numeric .npy array of 0 and 1")
    mask = torch.from_numpy(np.ascontiguousarray(array))
    check_mask(mask, images, name)  # the shape and the values, with the attack's words
    return mask.bool()


def resolved_options(cls: type[Attack], config: AttackRunConfig) -> dict[str, Any]:
    """Every option of the attack (but model, targeted, seed): the given ones, else the defaults."""
    options = {}
    for parameter in class_parameters(cls):
        if parameter.name in HANDLED:
            continue
        if parameter.name in config.options:
            options[parameter.name] = config.options[parameter.name]
        elif parameter.required:
            raise AdvlabError(f"{config.attack} needs the option {parameter.name!r} "
                              f"(--{parameter.name.replace('_', '-')})")
        else:
            options[parameter.name] = parameter.default
    return options


def build_options(cls: type[Attack], options: dict[str, Any], config: AttackRunConfig,
                  device: torch.device) -> dict[str, Any]:
    """The keyword arguments of the attack: options with run paths loaded as models, plus
    targeted and seed where the attack takes them."""
    parameters = {p.name: p for p in class_parameters(cls)}
    kwargs = dict(options)
    for name, value in options.items():
        if parameters[name].is_model and isinstance(value, (str, Path)):
            kwargs[name] = load_classifier(value, device)[0]
        elif parameters[name].is_models and isinstance(value, (list, tuple)):  # an ensemble: several run paths
            kwargs[name] = tuple(load_classifier(path, device)[0] if isinstance(path, (str, Path)) else path
                                 for path in value)
    if config.targeted:
        if "targeted" not in parameters:
            raise AdvlabError(f"{config.attack} has no targeted mode; drop --targeted-by/--target")
        kwargs["targeted"] = True
    if "seed" in parameters:
        kwargs["seed"] = config.seed
    return kwargs


@torch.no_grad()
def predict(model: nn.Module, images: Tensor, device: torch.device) -> Tensor:
    """Logits of `images` (CPU), computed on `device` in batches."""
    return torch.cat([model(images[i:i + PREDICT_BATCH].to(device)).cpu()
                      for i in range(0, len(images), PREDICT_BATCH)])


def make_targets(config: AttackRunConfig, model: nn.Module, images: Tensor, labels: Tensor,
                 device: torch.device) -> Tensor:
    """Target classes per image by the config's rule (see the module docstring)."""
    logits = predict(model, images, device)
    classes = logits.shape[1]
    if config.target is not None:
        if config.target >= classes:
            raise AdvlabError(f"--target {config.target} is not a class of this model (classes 0..{classes - 1})")
        return torch.full_like(labels, config.target)
    if config.targeted_by == "next":
        return (labels + 1) % classes
    if config.targeted_by == "random":
        shift = torch.randint(1, classes, labels.shape, generator=make_generator(config.seed, torch.device("cpu")))
        return (labels + shift) % classes
    return logits.argmin(1)


def run_in_batches(attack: Attack, images: Tensor, labels: Tensor, targets: Tensor | None,
                   mask: Tensor | None, config: AttackRunConfig, ctx: Distributed | None = None,
                   device: torch.device | None = None) -> list[AttackResult]:
    """attack.run over batches of ``config.batch_size`` images, each batch on one rank of `ctx` (default: the
    process's context) and every batch's result on every rank; one merged result per eps."""
    ctx = context() if ctx is None else ctx
    size = config.batch_size or len(images)
    bar = tqdm(total=len(ctx.chunks(len(images), size)), disable=not (config.progress and ctx.is_main),
               unit="batch", desc=f"attack {config.attack}", dynamic_ncols=True, file=sys.stderr)
    note_idle_ranks(ctx, len(images), size, "--batch-size")

    def batch(part: slice, _index: int) -> list[AttackResult]:
        part_mask = mask
        if mask is not None and mask.ndim == images.ndim and mask.shape[0] == len(images) > 1:
            part_mask = mask[part]
        part_targets = None if targets is None else targets[part]
        result = attack.run(images[part], labels[part], targets=part_targets, mask=part_mask)
        bar.update(1)
        return result

    per_batch = map_seeded_chunks(ctx, batch, len(images), size, config.seed,
                                  device or torch.device("cpu"))
    bar.close()
    return [merge([batch[e] for batch in per_batch]) for e in range(len(per_batch[0]))]


def merge(parts: list[AttackResult]) -> AttackResult:
    """One AttackResult from the results of consecutive batches (times add up)."""
    if len(parts) == 1:
        return parts[0]

    def joined(name: str) -> Tensor | None:
        values = [getattr(part, name) for part in parts]
        return None if values[0] is None else torch.cat(values)

    tensors = ("clean", "adversarial", "labels", "targets", "clean_pred", "adv_pred", "queries")
    return dataclasses.replace(parts[0], **{name: joined(name) for name in tensors},
                               seconds=sum(part.seconds for part in parts))


# ---------------------------------------------------------------------- the attack's directory


def output_dir(config: AttackRunConfig) -> Path:
    """The directory the run will write (see the module docstring for the rules); checks only."""
    if config.out is not None:
        out = Path(config.out)
        if out.exists() and not out.is_dir():
            raise AdvlabError(f"--out {out} is a file, not a directory")
        if out.is_dir() and any(out.iterdir()):
            if not config.overwrite:
                raise AdvlabError(f"--out {out} already holds files; pass --overwrite to replace an attack run there, "
                                  "or choose another --out")
            if not (out / "results.json").is_file():
                raise AdvlabError(f"--out {out} is not empty and holds no attack run; refusing to overwrite it")
        return out
    parent = Path(config.run) / "attacks"
    out, number = parent / config.attack, 1
    while out.exists() and not config.overwrite:
        number += 1
        out = parent / f"{config.attack}-{number}"
    return out


def make_output_dir(out: Path, config: AttackRunConfig) -> None:
    """Create `out` empty; with `overwrite`, an attack run there is replaced."""
    if config.overwrite and out.is_dir():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=config.out is not None)


def jsonable(value: Any) -> Any:
    """Options as JSON: tuples as lists, models as their class name."""
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, nn.Module):
        return type(value).__name__
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def eps_label(eps: float | None) -> str:
    return "" if eps is None else f"{eps:g}"


def write_outputs(out: Path, config: AttackRunConfig, attack: Attack, options: dict, results: list[AttackResult],
                  seconds: float, extra: dict | None = None) -> None:
    """grid(s), adversarial.npy, table.md and, last, results.json (with `extra`'s keys: an attack that learns)."""
    sweep = len(results) > 1
    largest = max(range(len(results)), key=lambda i: -1.0 if results[i].eps is None else results[i].eps)
    indices = pick_examples(results[largest].success, GRID_EXAMPLES)
    names = victim_class_names(config.run)
    rows = [result.summary() for result in results]
    grids = []
    for result, row in zip(results, rows):
        name = f"grid-eps{eps_label(result.eps)}.png" if sweep else "grid.png"
        eps = "" if result.eps is None else f", eps {eps_label(result.eps)}"
        if config.targeted:
            eps += f", targeted ({config.targeted_by or f'class {config.target}'})"
        caption = (f"{config.attack}{eps}: robust accuracy {100 * row['robust_accuracy']:.1f}% "
                   f"(clean {100 * row['clean_accuracy']:.1f}%)")
        examples = grid_rows(result.clean, result.adversarial, result.clean_pred, result.adv_pred, indices, names,
                             result.targets, result.norm)
        save_attack_grid(examples, out / name, title=caption)
        grids.append({"eps": result.eps, "file": name, "caption": caption})
    np.save(out / "adversarial.npy", results[largest].adversarial.cpu().numpy().astype(np.float32))
    table = markdown_attack_table(rows)
    if extra and extra.get("comparison"):
        table += "\n" + comparison_table(extra)
    if extra and extra.get("output_defense"):
        table += "\n" + defense_note(extra)
    (out / "table.md").write_text(table, encoding="utf-8")
    record = {
        "attack": config.attack, "class": type(attack).__name__, "norm": attack.norm,
        "black_box": bool(attack.black_box), "options": {k: jsonable(v) for k, v in options.items()},
        "targeted": config.targeted, "targeted_by": config.targeted_by, "target": config.target,
        "seed": config.seed, "device": str(resolve_device(config.device)),
        "victim": victim_record(config.run),
        "images": {"source": "held-out split", "n": len(results[0].labels), "batch_size": config.batch_size,
                   "mask": config.mask},
        "rows": rows, "grids": grids, "adversarial": {"file": "adversarial.npy", "eps": results[largest].eps},
        "seconds": round(seconds, 3), **(extra or {}),
    }
    atomic_write_bytes(out / "results.json", json.dumps(record, indent=1).encode())


def defense_note(record: dict) -> str:
    """One line under the table: the output defense, and the success as the defended answers made it look."""
    seen = ", ".join("—" if row["success_rate"] is None else f"{100 * row['success_rate']:.1f}%"
                     for row in record["attacker_view"])
    return (f"Behind the output defense {record['output_defense']}: success judged on the real classifier's labels; "
            f"as the defended answers made it look to the attacker: {seen}.\n")


def victim_record(run: str) -> dict:
    """The victim run's path, model and held-out accuracy (from its summary.json)."""
    summary_path = Path(run) / "summary.json"
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError):
        summary = {}
    return {"run": str(Path(run).resolve()), "test_accuracy": summary.get("test_accuracy"),
            "test_size": summary.get("test_size")}


def victim_class_names(run: str) -> list[str] | None:
    names = classifier_record(run)[1].get("class_names")
    return names if isinstance(names, list) else None
