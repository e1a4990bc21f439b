"""`advlab privacy membership RUN`: how well membership inference attacks tell RUN's training rows from its
held-out rows.

The members are the run's training rows and the non-members its held-out rows, as the run recorded them
(advlab.pipelines.train_classifier.run_split); the larger side is subsampled, seeded, to the size of the
smaller, so that an ROC point's FPR and TPR weigh the same number of examples (Carlini et al. 2022, sec. III-B,
evaluate on balanced members and non-members). A run trained on all its data has no non-members and is
refused: an attack cannot be judged without examples the model never saw.

Each attack (advlab.privacy.membership.ATTACKS) scores every example (higher = more likely a member); the
ROC, its AUC and the TPR at 0.1% and 1% FPR are the figures (advlab.privacy.membership.roc). Attacks that
learn from shadow models share one set, trained with the run's own recipe on halves of the run's data and
kept as classifier runs under RUN/privacy/shadows/ (advlab.pipelines.security.shadow_models), reused by later calls.
The victim answers as a black box with logits, probabilities or only labels (``output``), optionally behind an
output defense (``output_defense``, advlab.defenses.outputs: top1, round:D, topK, cutoff:C, reverse-sigmoid,
noise); in the label-only case (``output`` labels, or the top1 defense) the attacks that need scores are skipped
and the record says which attacks apply. The attacker knows the defense (Kerckhoffs): the shadow models answer
through the same post-processor (advlab.defenses.outputs.DefendedScores), so that the attacks calibrate on what
the defended victim shows.

Everything is written under RUN/privacy/membership/ (and the shadows under RUN/privacy/shadows/)::

    membership.json   {"members", "non_members", "shadows", "attacks": {NAME: {"auc", "tpr_at_0.1%_fpr",
                      "tpr_at_1%_fpr", "seconds", "options"}}, "output", "subsampled", "skipped", ...}
    roc.png           every attack's ROC on log-log axes (advlab.reports.membership_plots)
    scores.npz        NAME -> the scores (float64), "is_member" (bool), "rows" (the examples' data rows)
"""

from __future__ import annotations

import dataclasses
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.distributed import context
from advlab.core.errors import AdvlabError
from advlab.core.parameters import Parameter, check_options, class_parameters
from advlab.core.seeding import make_generator, seed_everything
from advlab.data import TensorData
from advlab.defenses.outputs import DefendedScores, parse_output_defense
from advlab.pipelines.security.attack_run import jsonable
from advlab.pipelines.security.shadow_models import ShadowModels, shadow_models
from advlab.pipelines.train_classifier import classifier_config, load_classifier, run_split
from advlab.privacy.membership import ATTACKS
from advlab.privacy.membership.base import DEFAULT_SHADOWS, MembershipAttack
from advlab.privacy.membership.roc import MembershipROC, membership_roc
from advlab.privacy.membership.shadows import ShadowSet, paired_membership
from advlab.privacy.output_defenses import defended
from advlab.privacy.victim import OUTPUTS, module_victim
from advlab.reports.membership_plots import save_roc_figure
from advlab.reports.reading import read_json_object

MEMBERSHIP_FOLDER = Path("privacy") / "membership"
RECORD, ROC_PICTURE, SCORES = "membership.json", "roc.png", "scores.npz"
DEFAULT_ATTACKS = ("loss", "shadow", "lira", "rmia")
SUPPLIED = ("shadows", "seed")  # attack options the pipeline sets itself (--shadows, --seed)
# an attack's check of a shadow membership matrix (S, N): LiRA's IN/OUT counts, RMIA's OUT references
SHADOW_CHECKS = ("check_counts", "check_references")


@dataclass(frozen=True)
class MembershipRunConfig:
    """Membership inference against a classifier run.

    Args:
        run: the victim classifier run (trained with held-out rows: the non-members).
        attacks: names in advlab.privacy.membership.ATTACKS, run in this order.
        shadows: shadow models shared by the attacks that learn from them.
        workers: processes training shadows in parallel (one torch thread each).
        output: what the victim shows: "logits", "probabilities" or "labels" (label-only access).
        output_defense: the post-processor in front of the victim and the shadows ("none", "top1", "round:D",
            "topK", "cutoff:C", "reverse-sigmoid:beta=B,gamma=G", "noise:SIGMA"; the noise seeded by `seed`).
        options: {attack: {option: value}}, each attack's own options.
        seed: seeds the shadows' halves and training, the subsampling of the larger side, and the attacks.
        device: auto, cpu, cuda or cuda:N.
        threads: torch CPU threads (None: torch's default).
        progress: progress bar over the shadows' training.
    """

    run: str
    attacks: tuple[str, ...] = DEFAULT_ATTACKS
    shadows: int = DEFAULT_SHADOWS
    workers: int = 1
    output: str = "logits"
    output_defense: str = "none"
    options: dict = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    progress: bool = True


# ---------------------------------------------------------------------- the attacks and their options


def attack_class(name: str) -> type[MembershipAttack]:
    """The attack registered under `name`; an unknown name is an AdvlabError listing the valid ones."""
    if name not in ATTACKS:
        raise AdvlabError(f"unknown membership attack {name!r}; valid attacks are: {', '.join(ATTACKS)}")
    return ATTACKS[name]


def own_parameters(name: str) -> list[Parameter]:
    """The attack's options that get a flag: its parameters but those the pipeline sets (SUPPLIED)."""
    return [parameter for parameter in class_parameters(attack_class(name)) if parameter.name not in SUPPLIED]


def make_attack(name: str, options: dict, shadows: int, seed: int) -> MembershipAttack:
    """The attack `name` with its own `options`, and the run's shadow count and seed where it takes them."""
    cls = attack_class(name)
    check_options(f"membership attack {name}", options, [parameter.name for parameter in own_parameters(name)])
    taken = {parameter.name for parameter in class_parameters(cls)}
    supplied = {key: value for key, value in (("shadows", shadows), ("seed", seed)) if key in taken}
    return cls(**options, **supplied)


def make_attacks(config: MembershipRunConfig) -> dict[str, MembershipAttack]:
    """Every asked-for attack, built (so bad options fail before any shadow trains)."""
    if not config.attacks:
        raise AdvlabError(f"no membership attack asked for; valid attacks are: {', '.join(ATTACKS)}")
    unknown = sorted(set(config.options) - set(config.attacks))
    if unknown:
        raise AdvlabError(f"options given for {', '.join(unknown)}, which is not among the attacks asked for "
                          f"({', '.join(config.attacks)})")
    return {name: make_attack(name, config.options.get(name, {}), config.shadows, config.seed)
            for name in dict.fromkeys(config.attacks)}


def applicable(attacks: dict[str, MembershipAttack], output: str) -> tuple[dict[str, MembershipAttack], dict]:
    """(the attacks that apply to a victim showing `output`, {skipped attack: why}); none applying is an
    AdvlabError that names the label-only attacks."""
    if output not in OUTPUTS:
        raise AdvlabError(f"unknown victim output {output!r}; valid outputs are: {', '.join(OUTPUTS)}")
    if output != "labels":
        return attacks, {}
    kept = {name: attack for name, attack in attacks.items() if not attack.needs_scores}
    skipped = {name: "needs the victim's scores; a label-only victim shows only its predicted labels"
               for name in attacks if name not in kept}
    if not kept:
        raise AdvlabError(f"the attacks asked for ({', '.join(attacks)}) need the victim's scores, but the victim "
                          "shows only labels (label-only access: --output labels or --output-defense top1); "
                          f"attacks that apply to labels alone: {', '.join(label_only_attacks()) or 'none'}")
    return kept, skipped


def check_enough_shadows(attacks: dict[str, MembershipAttack], shadows: int, pool: int, seed: int) -> None:
    """Refuse, before any shadow trains, a shadow count that leaves an attack too few IN or OUT shadows for some
    example (online LiRA: 2 of each; offline RMIA: 1 OUT), by the attack's own check of the membership matrix."""
    members = paired_membership(shadows, pool, seed).numpy()
    for attack in attacks.values():
        for check in SHADOW_CHECKS:
            if attack.needs_shadows and hasattr(attack, check):
                getattr(attack, check)(members)


def label_only_attacks() -> list[str]:
    return [name for name, cls in ATTACKS.items() if not cls.needs_scores]


# ---------------------------------------------------------------------- members and non-members


def target_split(run: str | Path) -> tuple[TensorData, tuple[Tensor, Tensor]]:
    """run_split(run), refused with the reason when the run has no held-out rows or its data changed."""
    classifier_config(run)  # a directory that is no classifier run says so first
    try:
        data, (train_rows, held_out_rows) = run_split(run)
    except AdvlabError as error:
        raise AdvlabError(f"membership inference needs the run's members and non-members (its training and "
                          f"held-out rows) as they were: {error}") from None
    if not len(held_out_rows):
        raise AdvlabError(f"{run} was trained on all its data: membership inference needs non-members (held-out "
                          "rows the model never saw) to be judged against; train with --test-fraction 0.5")
    return data, (train_rows, held_out_rows)


def balanced_examples(train_rows: Tensor, held_out_rows: Tensor, seed: int) -> tuple[Tensor, Tensor, dict | None]:
    """(data rows, is_member) of as many members as non-members, the larger side subsampled seeded; and
    what was subsampled ({"side", "from", "to"}) or None."""
    count = min(len(train_rows), len(held_out_rows))
    generator = make_generator(seed, torch.device("cpu"))
    members = train_rows[torch.randperm(len(train_rows), generator=generator)[:count].sort().values]
    non_members = held_out_rows[torch.randperm(len(held_out_rows), generator=generator)[:count].sort().values]
    larger = max((len(train_rows), "members"), (len(held_out_rows), "non_members"))
    subsampled = None if len(train_rows) == len(held_out_rows) else {"side": larger[1], "from": larger[0],
                                                                      "to": count}
    rows = torch.cat([members, non_members])
    is_member = torch.cat([torch.ones(count, dtype=torch.bool), torch.zeros(count, dtype=torch.bool)])
    return rows, is_member, subsampled


# ---------------------------------------------------------------------- the run


def membership_run(config: MembershipRunConfig) -> Path:
    """Run the attacks on `config.run`; the folder RUN/privacy/membership holding membership.json, roc.png and
    scores.npz. Under torchrun the ranks share the shadows' training (pipelines/security/shadow_models.py); then rank 0
    alone attacks and writes, and the other ranks return at once."""
    defense = parse_output_defense(config.output_defense, config.seed)
    attacks, skipped = applicable(make_attacks(config), shown_output(config.output, defense))
    ctx = context(config.device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    data, (train_rows, held_out_rows) = target_split(config.run)
    rows, is_member, subsampled = balanced_examples(train_rows, held_out_rows, config.seed)
    check_enough_shadows(attacks, config.shadows, len(train_rows) + len(held_out_rows), config.seed)
    device = ctx.device(config.device)
    model, _ = load_classifier(config.run, device)
    victim = defended(module_victim(model, output=config.output), defense)
    shadows = None
    if any(attack.needs_shadows for attack in attacks.values()):
        shadows = shadow_models(config.run, config.shadows, config.seed, config.workers, config.device,
                                config.threads, config.progress, split=(data, (train_rows, held_out_rows)), ctx=ctx)
        shadows = defended_shadows(shadows, defense)
    folder = Path(config.run) / MEMBERSHIP_FOLDER
    if not ctx.is_main:
        return folder
    scores, seconds = {}, {}
    for name, attack in attacks.items():
        start = time.perf_counter()
        scores[name] = attack_scores(attack, victim, data, rows, shadows)
        seconds[name] = time.perf_counter() - start
    rocs = {name: membership_roc(values, is_member) for name, values in scores.items()}
    folder.mkdir(parents=True, exist_ok=True)
    kept_scores, kept_figures = earlier_results(folder, rows, config.seed, exclude=scores)
    every_roc = {**{name: membership_roc(values, is_member) for name, values in kept_scores.items()}, **rocs}
    save_roc_figure(every_roc, folder / ROC_PICTURE, f"membership inference on {Path(config.run).name}")
    write_scores(folder / SCORES, {**kept_scores, **scores}, is_member, rows)
    record = membership_record(config, rocs, seconds, is_member, subsampled, skipped, shadows,
                               len(train_rows) + len(held_out_rows))
    record["attacks"] = {**kept_figures, **record["attacks"]}
    atomic_write_bytes(folder / RECORD, json.dumps(record, indent=1).encode())
    return folder


def shown_output(output: str, defense) -> str:
    """What the attacker sees of a victim showing `output` behind `defense`: its labels only when either says so."""
    if output not in OUTPUTS:
        raise AdvlabError(f"unknown victim output {output!r}; valid outputs are: {', '.join(OUTPUTS)}")
    if defense is None or output == "labels":
        return output
    return defense.output


def defended_shadows(shadows: ShadowModels, defense) -> ShadowModels:
    """The shadows answering through `defense` as the victim does (the attacker knows the defense); unchanged
    without one."""
    if defense is None:
        return shadows
    models = [DefendedScores(model, defense) for model in shadows.shadow_set.models]
    return dataclasses.replace(shadows, shadow_set=ShadowSet(models, shadows.shadow_set.members))


def earlier_results(folder: Path, rows: Tensor, seed: int, exclude) -> tuple[dict[str, Tensor], dict[str, dict]]:
    """(scores, figures) of the attacks an earlier call ran on the same examples (same seed and rows) and this one
    did not: they stay in membership.json, scores.npz and roc.png beside this call's (a label-only call after a
    scores one keeps both; each attack's figures name the output it saw)."""
    record = read_json_object(folder / RECORD)
    if record is None or record.get("seed") != seed or not (folder / SCORES).is_file():
        return {}, {}
    try:
        with np.load(folder / SCORES, allow_pickle=False) as saved:
            if not np.array_equal(saved["rows"], rows.numpy()):
                return {}, {}
            names = [name for name in record.get("attacks", {}) if name in saved.files and name not in exclude]
            return ({name: torch.from_numpy(saved[name]) for name in names},
                    {name: record["attacks"][name] for name in names})
    except (OSError, ValueError, KeyError):
        return {}, {}


def attack_scores(attack: MembershipAttack, victim, data: TensorData, rows: Tensor,
                  shadows: ShadowModels | None) -> Tensor:
    """The attack's scores of the examples at data `rows`, after it learned from the shadows (if it does)."""
    pool_rows = None
    if attack.needs_shadows:
        pool = shadows.pool
        attack.fit_shadows(shadows.shadow_set, data.data[pool], data.labels[pool])
        pool_rows = torch.searchsorted(pool, rows)
    return attack.score(victim, data.data[rows], data.labels[rows], pool_rows=pool_rows).double().cpu()


def write_scores(path: Path, scores: dict[str, Tensor], is_member: Tensor, rows: Tensor) -> None:
    """scores.npz: each attack's scores, the truth and the examples' data rows."""
    buffer = io.BytesIO()
    np.savez(buffer, is_member=is_member.numpy(), rows=rows.numpy(),
             **{name: values.numpy() for name, values in scores.items()})
    atomic_write_bytes(path, buffer.getvalue())


def membership_record(config: MembershipRunConfig, rocs: dict[str, MembershipROC], seconds: dict[str, float],
                      is_member: Tensor, subsampled: dict | None, skipped: dict, shadows: ShadowModels | None,
                      rows: int) -> dict:
    """membership.json (stable keys: members, non_members, shadows, attacks.NAME.{auc, tpr_at_0.1%_fpr,
    tpr_at_1%_fpr, seconds}); `rows` the pool's size (the target's training and held-out rows). For a label-only
    victim, `label_only_attacks` names every attack that applies to labels alone."""
    figures = {name: {**roc.summary(), "seconds": round(seconds[name], 3), "output": config.output,
                      "output_defense": config.output_defense,
                      "options": {key: jsonable(value) for key, value in config.options.get(name, {}).items()}}
               for name, roc in rocs.items()}
    members = int(is_member.sum())
    label_only = shown_output(config.output, parse_output_defense(config.output_defense)) == "labels"
    return {"members": members, "non_members": len(is_member) - members,
            "shadows": 0 if shadows is None else len(shadows.shadow_set), "attacks": figures,
            "run": str(config.run), "output": config.output, "output_defense": config.output_defense,
            "seed": config.seed, "pool": rows,
            "subsampled": subsampled, "skipped": skipped,
            "label_only_attacks": label_only_attacks() if label_only else None,
            "shadow_training": None if shadows is None else shadows.record()}


__all__ = ["DEFAULT_ATTACKS", "MEMBERSHIP_FOLDER", "MembershipRunConfig", "membership_run", "own_parameters"]
