"""`advlab privacy extract RUN`: steal a classifier run through its answers, and measure the copy.

The victim is RUN's model behind an optional output defense (advlab.defenses.outputs: ``none``, ``top1``,
``round:D``, ``topK``, ``cutoff:C``, ``reverse-sigmoid:beta=B,gamma=G``, ``noise:SIGMA``; put in front of the
victim by advlab.privacy.output_defenses). The method (advlab.privacy.extraction):

* ``knockoff``  -- Knockoff Nets (Orekondy et al. 2019) on a transfer set of another distribution
  (transfer_sets: MNIST for a digits victim, ...), random or adaptive sampling; for each budget B a fresh copy
  is trained on the first B queries of one query sequence;
* ``jacobian``  -- Papernot et al. 2017's Algorithm 1 from a seed set of ``seed_per_class`` held-out images per
  class (left out of the evaluation); one run of the rounds, the substitute kept when the set reaches each
  budget (incremental);
* ``equation-solving`` -- Tramer et al. 2016 sec. 4.1, for a softmax-regression run (``--model logreg``): each
  budget (default d + 1) solved on its own; the copy of the largest budget is written as a classifier run
  under ``copy/``.

The copy's architecture is ``copy_model`` (default the victim's own, from RUN's config). Per budget the record
holds ``fidelity`` (agreement with the undefended victim's labels on the held-out images), ``accuracy`` (the
copy's held-out accuracy), ``transfer_rate`` (PGD-Linf at ``eps`` crafted on the copy, on held-out images the
victim gets right: the share the victim then misclassifies; null for eps 0) and ``queries``. Everything is
written under ``RUN/privacy/extraction/METHOD/`` (extraction.json, fidelity.png, and copy/ for equation
solving), nothing else in RUN; an existing folder is refused unless ``overwrite``.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.checks import check_int, check_number
from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError
from advlab.core.seeding import seed_everything
from advlab.defenses.outputs import parse_output_defense
from advlab.pipelines.security.derived_run import write_derived_run
from advlab.pipelines.train_classifier import build_classifier, classifier_record, load_classifier, run_split
from advlab.privacy.extraction.copies import agreement, copy_labels
from advlab.privacy.extraction.equation_solving import EquationSolving, shift_to_class_zero
from advlab.privacy.extraction.jacobian_augmentation import JacobianAugmentation, seed_set
from advlab.privacy.extraction.knockoff import KnockoffNets
from advlab.privacy.extraction.transfer_rate import transfer_rate
from advlab.privacy.extraction.transfer_sets import transfer_set
from advlab.privacy.output_defenses import output_defense
from advlab.privacy.victim import Victim, module_victim
from advlab.reports.extraction_plots import save_fidelity_plot

METHODS = ("knockoff", "jacobian", "equation-solving")
DEFAULT_QUERIES = (500, 1000, 2000, 5000)
RECORD, PICTURE = "extraction.json", "fidelity.png"
TRAINING = {"knockoff": "a fresh copy per budget, trained on the first B queries of one query sequence",
            "jacobian": "incremental: one run of Algorithm 1, the substitute kept when the set reaches each budget",
            "equation-solving": "solved on its own for each budget"}


@dataclass(frozen=True)
class ExtractRunConfig:
    """A model extraction from a classifier run.

    Args:
        run: the victim classifier run (only RUN/privacy/extraction/METHOD/ is written).
        method: "knockoff", "jacobian" or "equation-solving".
        queries: the query budgets (default 500, 1000, 2000, 5000; equation solving: d + 1).
        output_defense: what the victim returns: "none", "top1", "round:D", "topK", "cutoff:C",
            "reverse-sigmoid:beta=B,gamma=G" or "noise:SIGMA" (advlab.defenses.outputs; the noise seeded by `seed`).
        eps: Linf radius of the PGD examples crafted on the copy for the transfer rate (0: not measured).
        sampling: knockoff's "random" or "adaptive" sampling.
        copy_model: the copy's architecture ("cnn", "lenet", "madry", "mlp", "logreg"; default the victim's).
        seed_per_class: jacobian's seed set, held-out images per class.
        seed: seeds the queries, the copy's initial weights and its training.
        device: auto, cpu, cuda or cuda:N.
        threads: torch CPU threads (None: torch's).
        overwrite: replace an existing RUN/privacy/extraction/METHOD/.
        progress: show progress bars.
    """

    run: str
    method: str = "knockoff"
    queries: tuple[int, ...] | None = None
    output_defense: str = "none"
    eps: float = 0.1
    sampling: str = "random"
    copy_model: str | None = None
    seed_per_class: int = 10
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    overwrite: bool = False
    progress: bool = True


@dataclass
class Target:
    """What the pipeline knows of the victim run: its model and config, the held-out images and labels, the
    undefended model's classes for them, and the victim as the attacker sees it."""

    model: nn.Module
    config: object
    sample_shape: tuple[int, ...]
    classes: int
    images: Tensor
    labels: Tensor
    reference: Tensor
    victim: Victim


def extract_run(config: ExtractRunConfig) -> dict:
    """Run the extraction `config` describes; returns the extraction.json record (see the module docstring)."""
    check_config(config)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    folder = extraction_folder(Path(config.run), config.method, config.overwrite)
    target = load_target(config, device)
    seed_everything(config.seed)
    start = time.perf_counter()
    copies, evaluation, extra = METHOD_RUNNERS[config.method](config, target, device)
    if folder.exists():
        shutil.rmtree(folder)  # only now, when the new extraction has succeeded
    if config.method == "equation-solving":
        copy_run = write_derived_run(config.run, copies[max(copies)], folder / "copy",
                                     {"extraction": {"method": config.method, "queries": max(copies)}})
        extra["copy_run"] = str(copy_run.root)
    budgets = {str(budget): budget_figures(copy, target, evaluation, budget, config) for budget, copy in
               sorted(copies.items())}
    record = {"method": config.method, "budgets": budgets, "output_defense": config.output_defense,
              "seconds": round(time.perf_counter() - start, 2), "eps": config.eps,
              "victim_accuracy": float((target.reference == target.labels).double().mean()),
              "victim_queries": target.victim.queries, "evaluation_images": int(len(evaluation)),
              "training": TRAINING[config.method], "seed": config.seed, **extra}
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(folder / RECORD, (json.dumps(record, indent=1) + "\n").encode())
    save_fidelity_plot(record, folder / PICTURE)
    return record


def check_config(config: ExtractRunConfig) -> None:
    if config.method not in METHODS:
        raise AdvlabError(f"unknown extraction method {config.method!r}; valid methods are: {', '.join(METHODS)}")
    check_number("--eps", config.eps, 0.0)
    check_int("--seed-per-class", config.seed_per_class, 1)
    parse_output_defense(config.output_defense, config.seed)  # a bad spec fails before anything loads
    for budget in config.queries or ():
        check_int("--queries: each budget", budget, 1)


def extraction_folder(run: Path, method: str, overwrite: bool) -> Path:
    """RUN/privacy/extraction/METHOD/; one that holds an extraction is refused unless `overwrite` (it is replaced
    only once the new extraction has succeeded)."""
    folder = run / "privacy" / "extraction" / method
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise AdvlabError(f"{folder} already holds an extraction; pass --overwrite to replace it")
    return folder


def load_target(config: ExtractRunConfig, device: torch.device) -> Target:
    model, run_config = load_classifier(config.run, device)
    data, (_, test_rows) = run_split(config.run)
    classes = int(classifier_record(config.run)[1]["classes"])
    images, labels = data.data[test_rows], data.labels[test_rows]
    victim = output_defense(module_victim(model), config.output_defense, config.seed)
    return Target(model, run_config, tuple(data.sample_shape), classes, images, labels, copy_labels(model, images),
                  victim)


def new_copy(config: ExtractRunConfig, target: Target, device: torch.device) -> nn.Module:
    """The copy's architecture (copy_model, default the victim's own) with fresh weights seeded by `seed`."""
    torch.manual_seed(config.seed)
    architecture = config.copy_model or target.config.model
    return build_classifier(architecture, target.sample_shape, target.classes, target.config.model_width).to(device)


def budget_figures(copy: nn.Module, target: Target, evaluation: Tensor, budget: int,
                   config: ExtractRunConfig) -> dict:
    """fidelity, accuracy, transfer_rate and queries of one budget's copy, on the `evaluation` held-out rows."""
    images, labels, reference = target.images[evaluation], target.labels[evaluation], target.reference[evaluation]
    rate = None
    if config.eps > 0:
        rate = transfer_rate(copy, module_victim(target.model), images, labels, config.eps, config.seed,
                             victim_labels=reference)
    return {"fidelity": agreement(copy, images, reference), "accuracy": agreement(copy, images, labels),
            "transfer_rate": rate, "queries": int(budget)}


def every_row(target: Target) -> Tensor:
    return torch.arange(len(target.images))


# ---------------------------------------------------------------------- the methods


def run_knockoff(config: ExtractRunConfig, target: Target, device: torch.device):
    budgets = list(config.queries or DEFAULT_QUERIES)
    transfer = transfer_set(target.config.data, target.sample_shape, max(budgets), config.seed)
    attack = KnockoffNets(config.sampling, seed=config.seed, progress=config.progress)
    copies = attack.extract(target.victim, new_copy(config, target, device), transfer.images, budgets,
                            transfer.arms)
    return copies, every_row(target), {"sampling": config.sampling, "transfer_set": transfer.source,
                                       "copy_model": config.copy_model or target.config.model}


def run_jacobian(config: ExtractRunConfig, target: Target, device: torch.device):
    budgets = list(config.queries or DEFAULT_QUERIES)
    seeds, seed_rows = seed_set(target.images, target.labels, config.seed_per_class, config.seed)
    attack = JacobianAugmentation(seed=config.seed, progress=config.progress)
    found = attack.extract(target.victim, new_copy(config, target, device), seeds, budgets)
    evaluation = every_row(target)[~torch.isin(every_row(target), seed_rows)]
    return found.copies, evaluation, {"set_sizes": found.sizes, "seed_images": len(seeds), "step": attack.step,
                                      "tau": attack.tau, "copy_model": config.copy_model or target.config.model}


def run_equation_solving(config: ExtractRunConfig, target: Target, device: torch.device):
    if target.config.model != "logreg":
        raise AdvlabError(f"equation solving extracts softmax regression (a run trained with --model logreg); "
                          f"{config.run} holds a {target.config.model}: use --method knockoff or jacobian")
    dimension = int(torch.tensor(target.sample_shape).prod())
    budgets = sorted(set(config.queries or (dimension + 1,)))
    extractions = {budget: EquationSolving(budget, config.seed).extract(target.victim, target.sample_shape)
                   for budget in budgets}
    copies = {budget: found.as_module().to(device) for budget, found in extractions.items()}
    linear = target.model.net[-1]
    truth = shift_to_class_zero(linear.weight.double().cpu(), linear.bias.double().cpu())
    solved = {str(budget): solved_figures(found, truth, target) for budget, found in extractions.items()}
    return copies, every_row(target), {"solved": solved, "recovered": "W - w_0 and b - b_0 (softmax's shift fixed "
                                                                      "by class 0's row = 0)"}


def solved_figures(found, truth: tuple[Tensor, Tensor], target: Target) -> dict:
    """Condition number, residual, the weights' relative error against the victim's own (shifted; a white-box
    check the attacker could not make) and the largest probability difference on the held-out images."""
    weights, bias = truth
    error = float(torch.cat([found.weights - weights, (found.bias - bias)[:, None]], 1).norm()
                  / torch.cat([weights, bias[:, None]], 1).norm().clamp_min(1e-300))
    victim_p = module_victim(target.model).probabilities(target.images)
    copy_p = torch.softmax(found.logits(target.images), 1)
    return {"condition_number": found.condition_number, "residual": found.residual,
            "relative_weight_error": error, "max_probability_difference": float((copy_p - victim_p).abs().max())}


METHOD_RUNNERS = {"knockoff": run_knockoff, "jacobian": run_jacobian, "equation-solving": run_equation_solving}


__all__ = ["METHODS", "ExtractRunConfig", "extract_run"]
