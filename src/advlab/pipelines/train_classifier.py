"""`advlab classifier train`: labelled images -> a victim classifier in a run directory.

The data are split once into training rows and held-out rows (``test_fraction`` of them): for
MNIST a seeded stratified split (advlab.data.stratified_split: the same share of every class held
out), whose held-out rows are then dealt class by class (0, 1, ..., 9, 0, 1, ...) so that the first
n of them, the images an attack takes, hold every class alike; for the other data a seeded
permutation. The model (SmallCNN, LeNet5, MadryCNN or MLPClassifier) is trained with Adam on the
training rows, and evaluated on the held-out rows after every epoch. The objective is the
cross-entropy, or with ``defense`` a robust one (advlab.defenses.robust_training: PGD-AT, TRADES,
fast FGSM-RS training, Gaussian noise), or DP-SGD (advlab.defenses.dp_sgd, whose
(epsilon, delta) and the rest of its accounting the summary's "dp" record holds); a run
defended against evasion also measures, every epoch, the accuracy
on up to ``robust_eval_images`` held-out images under PGD-10 at the training eps (under the noise,
for ``noise``). The run directory (DESIGN.md) then holds::

    RUN/config.yaml                 the resolved config
    RUN/metrics.jsonl               one "train" record per epoch: train_loss, train_accuracy (on the images
                                    trained on: adversarial ones for pgd-at), test_accuracy, and for a
                                    defended run test_robust_accuracy (test_noisy_accuracy for noise); an
                                    ibp run adds test_certified_accuracy (IBP-certified at its eps, on the
                                    same robust_eval_images held-out images; also in the summary)
    RUN/checkpoints/step-E.*        the weights (safetensors) + a JSON record of the config, the number
                                    of classes, the image shape and the split (kind, seed, test_fraction,
                                    rows, the held-out rows); written every epoch, so a
                                    run whose loss turns NaN stops with an error and keeps the last good one
    RUN/summary.json                test accuracy and the rest of the final figures, and the split (kind,
                                    seed, test_fraction, rows)
    RUN/report.html, report.md      training curves, summary, and the attacks run on it since
    RUN/attacks/NAME/               written later by `advlab attack NAME RUN`

Under ``torchrun`` (advlab.core.distributed) N processes train ONE model: every rank builds the same data,
split and model (seeded alike) and walks the same epoch order; each minibatch's rows are split into
contiguous shards (one per rank), each rank's shard loss is weighted by shard length * N / minibatch length,
and the gradients are averaged over ranks before the step, so the step is the global minibatch's mean
gradient and the parameters stay identical on every rank (checked before each checkpoint). A plain
cross-entropy run therefore gives, to float tolerance, what one process gives with the same batch size;
runs that draw random numbers (pgd-at, trades, fast-at, noise) draw them per rank (seed + 2 + 1000 * rank)
and so depend on the number of processes. A model with batch-norm would see batch statistics per shard
(its running statistics are rank 0's, broadcast after every step, as DDP does). Held-out accuracy and the
robust figures are computed on chunks dealt to the ranks and gathered: exactly the one-process figures.
Rank 0 alone writes the run directory; the checkpoint and summary record the number of "processes".
DP-SGD (Poisson lots, one accountant) runs in one process only.

``precision`` (advlab.core.precision) runs each training minibatch's forward passes -- the inner attack of an
adversarial defense included -- under autocast (bf16, or fp16 with a gradient scaler); evaluation is fp32.

`load_classifier(run)` rebuilds the trained model and `held_out_split(run)` the same held-out
images and labels (the split is a function of its kind, the seed and the labels alone), which is
what the attack, robustness and defense commands use.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm import tqdm

from advlab.core.checkpoints import load_latest, module_state, read_checkpoint, restore_module, save_checkpoint
from advlab.core.config import dump_yaml, from_mapping, load_yaml
from advlab.core.devices import resolve_device
from advlab.core.distributed import Distributed, context, current
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.core.precision import Precision
from advlab.core.runs import MetricsLog, RunDir
from advlab.core.seeding import make_generator, seed_everything
from advlab.data import IMAGE_EXTENSIONS, TensorData, classes_in_turn, load_dataset, stratified_split
from advlab.defenses.dp_sgd import DPSGD, check_delta_for
from advlab.defenses.eps_warmup import EpsWarmup
from advlab.defenses.ibp import IBPTraining
from advlab.defenses.robust_training import TrainingObjective, make_objective
from advlab.models import LeNet5, MadryCNN, MLPClassifier, SmallCNN
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.reports.render import write_report

EVAL_BATCH = 1024  # images per forward pass when measuring accuracy
RECORD_KIND = "classifier"  # the checkpoint record's "kind"
STRATIFIED_DATA = frozenset({"mnist"})  # data whose held-out split keeps each class's share
SPLIT_KINDS = ("random", "stratified")  # a split record without a kind (older runs) is "random"
GIVEN_SPLIT = "given"  # the split kind of a run trained on rows its caller chose (shadow models); both are recorded
RANK_SEED_STRIDE = 1000  # rank r's defense randomness is seeded seed + 2 + RANK_SEED_STRIDE * r
IBP_WARMUP_SHARE = 5  # IBP's nominal warm-up lasts a fifth of its ramp (the authors' 2K and 10K steps on MNIST)
CERTIFIED_KEY = "test_certified_accuracy"  # an IBP run's certified held-out accuracy at its eps


# ---------------------------------------------------------------------- data and split


def load_labelled_data(config: ClassifierTrainConfig) -> TensorData:
    """The config's images with their labels; data without labels is an AdvlabError."""
    data = load_dataset(config.data, config.data_path, config.image_size, config.labels_path)
    if data.kind != "images":
        raise AdvlabError(f"data {config.data!r} holds points, not images; a classifier needs labelled images")
    if data.labels is None:
        raise AdvlabError(f"data {config.data!r} at {config.data_path} has no labels: put the images of each "
                          "class in their own sub-folder (DIR/CLASS/*.png)")
    if len(data) < 2:
        raise AdvlabError(f"data {config.data!r} has {len(data)} image; a train/held-out split needs at least 2")
    if int(data.labels.min()) < 0:
        raise AdvlabError(f"labels of data {config.data!r} must be class indices >= 0, found {int(data.labels.min())}")
    return data if config.classes is None else only_classes(data, config.classes)


def only_classes(data: TensorData, classes: tuple[int, ...]) -> TensorData:
    """The rows of `classes` only, relabelled 0, 1, ... in the order of `classes`; a class with no image is an
    AdvlabError."""
    missing = [k for k in classes if not bool((data.labels == k).any())]
    if missing:
        raise AdvlabError(f"data {data.name!r} has no image of class {missing[0]} (its classes are "
                          f"0..{int(data.labels.max())}); check --classes")
    relabel = torch.full((int(data.labels.max()) + 1,), -1, dtype=torch.long)
    relabel[torch.tensor(classes)] = torch.arange(len(classes))
    keep = relabel[data.labels] >= 0
    return TensorData(data.data[keep], relabel[data.labels[keep]], data.name)


def split_rows(n: int, test_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """(training rows, held-out rows): a permutation seeded by `seed` alone, cut at (1 - test_fraction) n."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    cut = int((1 - test_fraction) * n)
    check_cut(cut, n, test_fraction)
    return order[:cut], order[cut:]


def check_cut(train: int, n: int, test_fraction: float) -> None:
    """Refuse a split that leaves no training or no held-out images."""
    if train < 1 or train >= n:
        raise AdvlabError(f"test_fraction {test_fraction} leaves {'no training' if train < 1 else 'no held-out'} "
                          f"images out of {n}")


def given_rows(rows: tuple[Tensor, Tensor], n: int, training: bool = False) -> tuple[Tensor, Tensor]:
    """(training rows, held-out rows) as given, checked: int64 row numbers in [0, n), disjoint, training non-empty;
    for `training` the held-out rows too (a run measures its accuracy on them; a record read back may hold none)."""
    train_rows, test_rows = (torch.as_tensor(part, dtype=torch.long).flatten().cpu() for part in rows)
    every = torch.cat([train_rows, test_rows])
    if not len(train_rows) or (training and not len(test_rows)) or int(every.min()) < 0 or int(every.max()) >= n:
        raise AdvlabError(f"the given training and held-out rows must be non-empty sets of row numbers in [0, {n}) "
                          "(a run measures its accuracy on its held-out rows)")
    if len(every.unique()) != len(every):
        raise AdvlabError("the given training and held-out rows must be distinct and disjoint")
    return train_rows, test_rows


def split_kind(config: ClassifierTrainConfig) -> str:
    """The held-out split a new run of `config` uses: "stratified" for MNIST, "random" (split_rows) otherwise."""
    return "stratified" if config.data in STRATIFIED_DATA else "random"


def data_split(labels: Tensor, test_fraction: float, seed: int, kind: str) -> tuple[Tensor, Tensor]:
    """(training rows, held-out rows) of a split of `kind` (SPLIT_KINDS) over rows with these labels.

    "random" is split_rows; "stratified" is advlab.data.stratified_split, its held-out rows dealt class
    by class (advlab.data.classes_in_turn), so the first n of them -- what an attack takes -- hold every class
    alike.
    """
    if kind not in SPLIT_KINDS:
        raise AdvlabError(f"unknown split kind {kind!r}; valid kinds are: {', '.join(SPLIT_KINDS)}")
    if kind == "random":
        return split_rows(len(labels), test_fraction, seed)
    train_rows, test_rows = stratified_split(labels.cpu(), test_fraction, seed)
    check_cut(len(train_rows), len(labels), test_fraction)
    return train_rows, test_rows[classes_in_turn(labels.cpu()[test_rows])]


def class_names(config: ClassifierTrainConfig, classes: int) -> list[str]:
    """A display name per class: the sub-folder names for folder data, else the indices (the original ones of
    `config.classes`, when it keeps only some classes)."""
    if config.classes is not None:
        names = class_names(dataclasses.replace(config, classes=None), max(config.classes) + 1)
        return [names[k] for k in config.classes]
    if config.data_kind == "folder":
        root = Path(config.data_path or config.data)
        found = sorted({path.relative_to(root).parts[0] for path in root.rglob("*")
                        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS})
        if len(found) == classes:
            return found
    return [str(k) for k in range(classes)]


# ---------------------------------------------------------------------- the model


def build_classifier(model: str, sample_shape: tuple[int, ...], classes: int, width: int) -> nn.Module:
    """SmallCNN ("cnn"), LeNet5 ("lenet", `width` unused), MadryCNN ("madry") -- all for square images --,
    MLPClassifier ("mlp") or softmax regression ("logreg": an MLPClassifier of depth 0, one linear layer on the
    pixels, `width` unused) for images of `sample_shape` (C, H, W)."""
    channels, height, width_px = sample_shape
    if model == "mlp":
        return MLPClassifier(channels * height * width_px, classes, width)
    if model == "logreg":
        return MLPClassifier(channels * height * width_px, classes, depth=0)
    if height != width_px:
        raise AdvlabError(f"the {model} needs square images, got {height}x{width_px}; pass --image-size N to resize")
    if model == "lenet":
        return LeNet5(channels, classes, height)
    if model == "madry":
        return MadryCNN(channels, classes, height, width)
    return SmallCNN(channels, classes, height, width)


@torch.no_grad()
def accuracy(model: nn.Module, images: Tensor, labels: Tensor, ctx: Distributed | None = None) -> float:
    """Share of `images` that `model` classifies as `labels`, in batches of EVAL_BATCH (dealt to the ranks of
    `ctx` and gathered: the same figure on every rank; unset: this process alone)."""
    ctx = Distributed() if ctx is None else ctx

    def correct_in(chunk: slice) -> int:
        return int((model(images[chunk]).argmax(1) == labels[chunk]).sum())

    with evaluating(model):
        correct = sum(ctx.map_chunks(correct_in, len(images), EVAL_BATCH))
    return correct / len(images)


# ---------------------------------------------------------------------- training


def train_classifier(config: ClassifierTrainConfig, overwrite: bool = False, progress: bool = True,
                     report: bool = True, training_set: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]] | None = None,
                     start: Callable[[nn.Module], None] | None = None,
                     rows: tuple[Tensor, Tensor] | None = None, local: bool = False) -> RunDir:
    """Train the classifier that `config` describes into ``config.out``; returns its run directory.

    `training_set`, when given, maps the training rows' (images, labels) to the (images, labels) to train on
    instead -- a poisoned training set of the same length (advlab.pipelines.security.poison_run); the held-out rows
    stay as loaded. `start`, when given, prepares the freshly built model before training (loads pretrained
    weights, freezes layers: a victim that fine-tunes a model it was given). `rows`, when given, is the
    (training rows, held-out rows) of the data to use instead of the config's split -- a shadow model
    trained on a chosen half of the data (advlab.pipelines.security.shadow_models); the run records both.

    Under torchrun every rank calls this and they train one model together (see the module docstring); rank 0
    writes the run, the others return once it is written. `local=True` trains the run in this process alone
    even under torchrun (a world of 1 on this rank's device, no collective; it writes its own run directory
    whatever its rank): shadow models dealt one per rank.
    """
    if config.out is None:
        raise AdvlabError("no output directory: pass --out DIR (or 'out:' in the config)")
    run = RunDir(Path(config.out))
    job = current() if local else context(config.device)  # a local run sets up no process group
    ctx = Distributed() if local else job
    seed_everything(config.seed)
    device = job.device(config.device) if not local else local_device(config.device, job)
    precision = Precision(config.precision, device)
    check_world(config, ctx)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    data = load_labelled_data(config)
    split = split_kind(config) if rows is None else GIVEN_SPLIT
    train_rows, test_rows = (data_split(data.labels, config.test_fraction, config.seed, split) if rows is None
                             else given_rows(rows, len(data), training=True))
    if training_set is not None:
        data = replaced_rows(data, train_rows, *training_set(data.data[train_rows], data.labels[train_rows]))
    data = data.to(device)
    classes = max(int(data.labels.max()) + 1, 2)
    model = build_classifier(config.model, data.sample_shape, classes, config.model_width).to(device)
    if start is not None:
        start(model)
    objective = training_objective(config, math.ceil(len(train_rows) / config.batch_size))
    if config.defense == "dp-sgd":  # before the run directory is made
        check_delta_for(config.dp.delta, len(train_rows))
    prepare_run(run, config, overwrite, ctx)
    about_split = {"kind": split, "seed": config.seed, "test_fraction": config.test_fraction, "rows": len(data)}
    meta = {"kind": RECORD_KIND, "config": dataclasses.asdict(config), "classes": classes,
            "class_names": class_names(config, classes), "sample_shape": list(data.sample_shape),
            "split": {**about_split, "test_rows": test_rows.tolist(),
                      **({} if rows is None else {"train_rows": train_rows.tolist()})},
            "processes": ctx.world_size}

    def checkpoint(epoch: int) -> Path:
        ctx.check_consistency(model, "model")
        if not ctx.is_main:
            return checkpoint_record_path(run, epoch)
        return save_checkpoint(run.checkpoints, epoch, module_state(model, "model"), meta, keep=1)

    log = MetricsLog(run, tensorboard=config.tensorboard) if ctx.is_main else QuietLog()
    try:
        figures = fit(model, data, train_rows.to(device), test_rows.to(device), config, log, progress and ctx.is_main,
                      checkpoint, objective, ctx, precision)
    finally:
        log.close()
    if ctx.is_main:
        run.write_summary({**figures, "classes": classes, "train_size": len(train_rows),
                           "test_size": len(test_rows), "split": about_split, "processes": ctx.world_size,
                           "precision": config.precision})
        if report:
            write_report(run.root)
    ctx.barrier()  # the other ranks return once the run is written
    return run


def local_device(name: str, job: Distributed) -> torch.device:
    """The device of a run trained by one rank alone: its rank's GPU for ``cuda``/``auto`` in a CUDA job, else
    the device `name` says."""
    if job.active and job.backend_device_type == "cuda" and name in ("auto", "cuda"):
        return job.device(name)
    return resolve_device(name)


def check_world(config: ClassifierTrainConfig, ctx: Distributed) -> None:
    """Refuse what several processes cannot train: DP-SGD, and a minibatch with fewer rows than processes."""
    if not ctx.active:
        return
    if config.defense == "dp-sgd":
        raise AdvlabError("defense 'dp-sgd' trains in one process (its Poisson lots and privacy accountant are not "
                          "sharded); run it without torchrun")
    if config.batch_size < ctx.world_size:
        raise AdvlabError(f"the batch size {config.batch_size} is smaller than the {ctx.world_size} processes; "
                          f"use --batch-size {ctx.world_size} or more, or fewer processes")


def prepare_run(run: RunDir, config: ClassifierTrainConfig, overwrite: bool, ctx: Distributed) -> None:
    """Rank 0 creates the run directory and writes config.yaml; a refusal there is raised on every rank."""

    def prepare() -> None:
        run.prepare_new(overwrite, resumable=False, folders=("checkpoints",))
        dump_yaml(config, run.config)

    ctx.on_main(prepare)


def checkpoint_record_path(run: RunDir, epoch: int) -> Path:
    """The record of epoch `epoch`'s checkpoint as rank 0 writes it (advlab.core.checkpoints.save_checkpoint)."""
    return run.checkpoints / f"step-{epoch:06d}.json"


class QuietLog:
    """The metrics log of a rank other than 0: it writes nothing."""

    def write(self, kind: str, step: int, values: dict[str, float]) -> None:
        pass

    def close(self) -> None:
        pass


def replaced_rows(data: TensorData, rows: Tensor, images: Tensor, labels: Tensor) -> TensorData:
    """A copy of `data` whose `rows` hold `images` and `labels` instead."""
    if images.shape != data.data[rows].shape or labels.shape != (len(rows),):
        raise AdvlabError(f"the replacement training set has shape {tuple(images.shape)} with {len(labels)} labels; "
                          f"the training rows have shape {tuple(data.data[rows].shape)}")
    images_now, labels_now = data.data.clone(), data.labels.clone()
    images_now[rows], labels_now[rows] = images.to(images_now), labels.to(labels_now)
    return TensorData(images_now, labels_now, data.name)


def training_objective(config: ClassifierTrainConfig, batches_per_epoch: int = 0) -> TrainingObjective:
    """The config's training objective (advlab.defenses.robust_training): plain CE or a defense, its eps ramped
    over the first `eps_warmup` epochs of `batches_per_epoch` minibatches (advlab.defenses.eps_warmup), with
    adversarial weight perturbation (advlab.defenses.awp) from the end of that ramp when awp_gamma is set."""

    def at_eps(eps: float | None, awp_gamma: float | None = None) -> TrainingObjective:
        if config.defense == "dp-sgd":  # cross-entropy; the privacy is in the optimiser (fit, dp_trainer)
            return make_objective("none")
        return make_objective(config.defense, eps=eps, steps=config.attack_steps, alpha=config.attack_alpha,
                              beta=config.beta, sigma=config.sigma, awp_gamma=awp_gamma, smoothing=config.smoothing,
                              mixup_alpha=config.mixup_alpha, cutmix_alpha=config.cutmix_alpha)

    if config.defense == "ibp":
        return ibp_objective(config, batches_per_epoch)
    # AWP (advlab.defenses.awp) on the full-eps objective only: it starts when the eps warm-up ends
    objective = at_eps(config.eps, config.awp_gamma)
    if config.warmup_epochs and batches_per_epoch:
        return EpsWarmup(objective, at_eps, config.warmup_epochs * batches_per_epoch)
    return objective


def ibp_objective(config: ClassifierTrainConfig, batches_per_epoch: int) -> IBPTraining:
    """IBP (advlab.defenses.ibp) with the paper's schedule in minibatches: eps and kappa ramped over the `eps_warmup`
    epochs, after a nominal warm-up a fifth as long (the authors' 2K warm-up and 10K ramp steps on MNIST)."""
    ramp = config.warmup_epochs * batches_per_epoch
    return IBPTraining(eps=config.eps, warmup_batches=ramp // IBP_WARMUP_SHARE, ramp_batches=ramp)


def certified_figures(model: nn.Module, objective: TrainingObjective, images: Tensor, labels: Tensor,
                      config: ClassifierTrainConfig) -> dict[str, float]:
    """An IBP run's certified accuracy at its eps on the images robust_figures measures (every rank alike)."""
    count = min(config.robust_eval_images, len(images))
    if not isinstance(objective, IBPTraining) or count == 0:
        return {}
    return {CERTIFIED_KEY: objective.certified_accuracy(model, images[:count], labels[:count])}


def fit(model: nn.Module, data: TensorData, train_rows: Tensor, test_rows: Tensor, config: ClassifierTrainConfig,
        log: MetricsLog | QuietLog, progress: bool, checkpoint: Callable[[int], Path],
        objective: TrainingObjective | None = None, ctx: Distributed | None = None,
        precision: Precision | None = None) -> dict:
    """Adam on the training objective for `config.epochs` epochs; one metrics record and one checkpoint per
    epoch (`checkpoint(epoch)` writes it); the final figures. Defense dp-sgd trains with DP-SGD instead
    (advlab.defenses.dp_sgd: Poisson lots, clipped per-example gradients, noise), records the epsilon spent
    so far every epoch, and its figures hold the "dp" record (the epsilon spent, delta, sigma, C, q, steps).

    A NaN or infinite loss (or weights) stops training with an AdvlabError; the checkpoint of the last good
    epoch stays. An objective's epoch check (fast-at's guard) may stop training early, and then the weights
    of the last good epoch are restored from its checkpoint.

    `ctx` (unset: this process alone) shares each minibatch among its ranks (train_epoch) and the evaluations;
    `precision` (unset: fp32) is the training steps' autocast and loss scaling.
    """
    objective = training_objective(config) if objective is None else objective
    ctx = Distributed() if ctx is None else ctx
    precision = Precision("fp32", data.data.device) if precision is None else precision
    shuffler = make_generator(config.seed + 1, torch.device("cpu"))
    # random starts and noise of a defense: a stream per rank, so that the shards do not share their draws
    randomness = make_generator(config.seed + 2 + RANK_SEED_STRIDE * ctx.rank, data.data.device)
    private = dp_trainer(model, config, len(train_rows), randomness) if config.defense == "dp-sgd" else None
    if private is None:
        trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
        optimizer = torch.optim.Adam(trainable, lr=config.lr, weight_decay=config.weight_decay)
    test_images, test_labels = data.data[test_rows], data.labels[test_rows]
    guard_rows = train_rows[:config.batch_size]  # the training minibatch an epoch check attacks
    batches = math.ceil(len(train_rows) / config.batch_size)
    described = config.data if config.defense == "none" else f"{config.data}, {config.defense}"
    bar = tqdm(total=config.epochs * batches, disable=not progress, unit="batch", desc=f"classifier {described}",
               dynamic_ncols=True, file=sys.stderr)
    start = time.perf_counter()
    model.train()
    good = GoodEpoch()
    stopped = None
    for epoch in range(1, config.epochs + 1):
        if private is None:
            order = train_rows[torch.randperm(len(train_rows), generator=shuffler).to(train_rows.device)]
            sums = train_epoch(model, optimizer, objective, data, order, config.batch_size, randomness, bar, ctx,
                               precision)
        else:  # Poisson lots from all training rows (advlab.defenses.dp_sgd)
            sums = private.train_epoch(data.data, data.labels, train_rows, shuffler, bar)
        if sums is None or not all(torch.isfinite(parameter).all() for parameter in model.parameters()):
            raise diverged(epoch, good)
        loss_sum, correct, seen = sums
        record = {"train_loss": loss_sum / max(seen, 1), "train_accuracy": correct / max(seen, 1),
                  "test_accuracy": accuracy(model, test_images, test_labels, ctx)}
        if private is not None:
            record["epsilon"] = private.epsilon()
        record.update(robust_figures(model, objective, test_images, test_labels, config, ctx))
        record.update(certified_figures(model, objective, test_images, test_labels, config))
        check = objective.epoch_check(model, data.data[guard_rows], data.labels[guard_rows], config.seed)
        check = ctx.broadcast_object(check)  # every rank stops, or goes on, as rank 0 does
        record.update({} if check is None else check.figures)
        record["time"] = time.perf_counter() - start
        log.write("train", epoch, record)
        bar.set_postfix(loss=f"{record['train_loss']:.3f}", test=f"{record['test_accuracy']:.3f}", refresh=False)
        if check is not None and check.stop and good.checkpoint is not None:
            stopped = {"epoch": epoch, "reason": check.reason}
            restore_module(model, "model", ctx.broadcast_object(read_checkpoint(good.checkpoint).tensors
                                                                if ctx.is_main else None))
            if ctx.is_main:
                bar.write(f"epoch {epoch}: {check.reason}; stopped and restored the weights of epoch {good.epoch}",
                          file=sys.stderr)
            break
        good = GoodEpoch(epoch, record, checkpoint(epoch))
    bar.close()
    model.eval()
    figures = final_figures(model, data, train_rows, objective, config, good, stopped, time.perf_counter() - start,
                            ctx)
    if private is not None:
        private.close()
        figures["dp"] = private.record()
    return figures


def dp_trainer(model: nn.Module, config: ClassifierTrainConfig, rows: int, noise: torch.Generator) -> DPSGD:
    """DP-SGD (advlab.defenses.dp_sgd) for the config's budget over its epochs, lots of expected size batch_size."""
    options = config.dp
    return DPSGD.for_budget(model, rows, min(config.batch_size, rows), options.epsilon, options.delta, config.epochs,
                            accountant=options.accountant, max_grad_norm=options.max_grad_norm, lr=options.lr,
                            weight_decay=config.weight_decay, generator=noise)


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, objective: TrainingObjective,
                data: TensorData, order: Tensor, batch_size: int, randomness: torch.Generator,
                bar: tqdm, ctx: Distributed | None = None,
                precision: Precision | None = None) -> tuple[float, int, int] | None:
    """One pass over `order` in minibatches: (sum of the losses, correct predictions, images) on the trained-on
    images, or None as soon as a loss is NaN or infinite (before that step is taken).

    With several ranks in `ctx`, each minibatch's rows are shared (my_share) and every rank takes the step on
    the gradient averaged over ranks; the sums are over all ranks' shards. `precision` (unset: fp32) runs the
    objective -- forward passes and inner attack -- under its autocast (the inner attack's input gradients are not
    loss-scaled: under fp16 they may underflow, bf16 has fp32's range).
    """
    ctx = Distributed() if ctx is None else ctx
    precision = Precision("fp32", order.device) if precision is None else precision
    loss_sum, correct, seen = 0.0, 0, 0
    for first in range(0, len(order), batch_size):
        rows = order[first:first + batch_size]
        mine, taken, weight = my_share(rows, ctx)
        labels = data.labels[taken]
        with precision.autocast():
            step = objective.loss(model, data.data[taken], labels, randomness)
        if not ctx.all_true(bool(torch.isfinite(step.loss))):
            if step.restore is not None:
                step.restore()
            return None
        optimizer.zero_grad(set_to_none=True)
        precision.backward(step.loss if weight == 1 else step.loss * weight, optimizer)
        ctx.average_gradients(model)
        if step.restore is not None:  # AWP: back to w, which the step then moves by the gradient taken at w + v
            step.restore()
        precision.step(optimizer)
        ctx.broadcast_buffers(model)
        if len(mine):
            loss_sum += step.loss.item() * len(mine)
            correct += int((step.logits.argmax(1) == labels).sum())
            seen += len(mine)
        bar.update(1)
    return summed_over_ranks(ctx, loss_sum, correct, seen)


def my_share(rows: Tensor, ctx: Distributed) -> tuple[Tensor, Tensor, float]:
    """(this rank's rows of a minibatch, the rows it computes the loss on, the weight of that mean loss).

    The weight len(share) * world / len(rows) makes the mean over ranks of the weighted shard-mean gradients the
    minibatch's mean gradient, also for a short last minibatch whose shares differ by a row. A share left empty
    (a last minibatch with fewer rows than ranks) computes one row with weight 0, so that every rank still
    has gradients to average.
    """
    mine = rows[ctx.shard(len(rows))]
    weight = len(mine) * ctx.world_size / len(rows)
    return mine, (mine if len(mine) else rows[:1]), weight


def summed_over_ranks(ctx: Distributed, loss_sum: float, correct: int, seen: int) -> tuple[float, int, int]:
    """An epoch's (loss sum, correct, images) summed over the ranks of `ctx`: the global figures."""
    if not ctx.active:
        return loss_sum, correct, seen
    totals = ctx.all_reduce_sum(torch.tensor([loss_sum, correct, seen], dtype=torch.float64,
                                             device=ctx.collective_device))
    return float(totals[0]), round(float(totals[1])), round(float(totals[2]))


@dataclass(frozen=True)
class GoodEpoch:
    """The last epoch that ended with finite weights (and passed the objective's check): its metrics
    record and checkpoint; epoch 0 (no checkpoint) before the first."""

    epoch: int = 0
    record: dict = field(default_factory=dict)
    checkpoint: Path | None = None


def diverged(epoch: int, good: GoodEpoch) -> AdvlabError:
    """The one-line error of a diverged run, naming the epoch and the checkpoint that was kept."""
    kept = "nothing was saved" if good.checkpoint is None else \
        f"the last good checkpoint (epoch {good.epoch}) is kept in {good.checkpoint.parent}"
    return AdvlabError(f"the loss became NaN or infinite in epoch {epoch}; training stopped and {kept}. "
                       "Try a lower --lr (--dp-lr for dp-sgd).")


def robust_figures(model: nn.Module, objective: TrainingObjective, images: Tensor, labels: Tensor,
                   config: ClassifierTrainConfig, ctx: Distributed | None = None) -> dict[str, float]:
    """Accuracy on up to `robust_eval_images` held-out images under the objective's robustness measure (fp32), in
    chunks of EVAL_BATCH dealt to the ranks of `ctx` (each chunk's attack seeded alike: one process's figure)."""
    ctx = Distributed() if ctx is None else ctx
    count = min(config.robust_eval_images, len(images))
    if objective.evaluation_key is None or count == 0:
        return {}

    def correct_in(chunk: slice) -> int:
        perturbed = objective.evaluation_inputs(model, images[chunk], labels[chunk], config.seed)
        return round(accuracy(model, perturbed, labels[chunk]) * len(perturbed))

    return {objective.evaluation_key: sum(ctx.map_chunks(correct_in, count, EVAL_BATCH)) / count}


def final_figures(model: nn.Module, data: TensorData, train_rows: Tensor, objective: TrainingObjective,
                  config: ClassifierTrainConfig, good: GoodEpoch, stopped: dict | None, seconds: float,
                  ctx: Distributed | None = None) -> dict:
    """The summary of a finished run: the last good epoch's figures (+ the defense's, for a defended run)."""
    epoch, record = good.epoch, good.record
    figures = {"epochs": epoch, "test_accuracy": record["test_accuracy"],
               "train_accuracy": accuracy(model, data.data[train_rows], data.labels[train_rows], ctx),
               "final_train_loss": record["train_loss"], "seconds": round(seconds, 2)}
    if config.defense == "none":
        return figures
    figures.update({"defense": config.defense, "defense_options": objective.options()})
    if objective.evaluation_key in record:
        figures.update({objective.evaluation_key: record[objective.evaluation_key],
                        "robust_evaluation": objective.evaluation_label,
                        "robust_eval_images": min(config.robust_eval_images, len(data.data) - len(train_rows))})
    if CERTIFIED_KEY in record:
        figures.update({CERTIFIED_KEY: record[CERTIFIED_KEY],
                        "certified_evaluation": f"IBP (Gowal et al. 2019), Linf eps {objective.eps:g}"})
    if stopped is not None:
        figures["stopped_early"] = stopped
    return figures


# ---------------------------------------------------------------------- loading a trained run


def classifier_config(run_dir: str | Path) -> ClassifierTrainConfig:
    """The config stored in a classifier run directory."""
    run = RunDir(Path(run_dir))
    if not run.root.is_dir():
        raise AdvlabError(f"{run.root}: no such run directory")
    if not run.config.exists():
        raise AdvlabError(f"{run.root} has no config.yaml; is it a classifier run (advlab classifier train)?")
    values = load_yaml(run.config)
    if not isinstance(values, dict) or "epochs" not in values:
        raise AdvlabError(f"{run.root} is not a classifier run (its config.yaml has no 'epochs'); "
                          "train one with advlab classifier train")
    return from_mapping(ClassifierTrainConfig, values, source=str(run.config))


def classifier_record(run_dir: str | Path) -> tuple[dict[str, Tensor], dict]:
    """(tensors, JSON record) of the run's checkpoint; not a classifier checkpoint is an AdvlabError."""
    checkpoint = load_latest(Path(run_dir) / "checkpoints")
    if checkpoint.meta.get("kind") != RECORD_KIND:
        raise AdvlabError(f"{checkpoint.path} is not a classifier checkpoint")
    return checkpoint.tensors, checkpoint.meta


def image_shape(meta: dict) -> tuple[int, ...]:
    """The (C, H, W) of the images a classifier record's run takes: its ``input_shape`` where the classifier sees an
    encoding of them (a thermometer run: sample_shape is the encoded C * levels channels), else ``sample_shape``."""
    return tuple(int(size) for size in meta.get("input_shape", meta["sample_shape"]))


def load_classifier(run_dir: str | Path, device: str | torch.device = "auto",
                    encoded: bool = False) -> tuple[nn.Module, ClassifierTrainConfig]:
    """(model, config) of a trained classifier run: the model in eval mode on `device`, weights frozen.

    A run whose classifier takes an encoding of the images (a thermometer run) is refused unless `encoded`
    (``advlab.defenses.load_model`` asks for it and puts the encoding in front): its classifier cannot take images."""
    config = classifier_config(run_dir)
    tensors, meta = classifier_record(run_dir)
    if not encoded and image_shape(meta) != tuple(meta["sample_shape"]):
        raise AdvlabError(f"{run_dir}'s classifier takes an encoding of the images (shape "
                          f"{tuple(meta['sample_shape'])} for images of {image_shape(meta)}), not images: this command "
                          "needs a classifier on images; advlab attack, robustness and audit take this run through its "
                          "encoding")
    device = resolve_device(device) if isinstance(device, str) else device
    model = build_classifier(config.model, tuple(meta["sample_shape"]), int(meta["classes"]), config.model_width)
    restore_module(model, "model", tensors)
    model.to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model, config


def held_out_split(source: str | Path | ClassifierTrainConfig) -> tuple[Tensor, Tensor]:
    """(images, labels) of the held-out rows, on the CPU, in the split's order.

    `source` is a run directory (whose checkpoint record must agree with the data as they are
    now) or a config (the split is recomputed from its data, test_fraction and seed).
    """
    data, (_, test_rows) = run_split(source)
    return data.data[test_rows], data.labels[test_rows]


def run_split(source: str | Path | ClassifierTrainConfig) -> tuple[TensorData, tuple[Tensor, Tensor]]:
    """(the labelled data, (training rows, held-out rows)) of a run directory or a config, on the CPU.

    A run directory's split is the kind its checkpoint record names (older records: "random"), checked
    against the record's held-out rows; a config's is the kind a new run of it would use (split_kind).
    """
    config = source if isinstance(source, ClassifierTrainConfig) else classifier_config(source)
    data = load_labelled_data(config)
    if isinstance(source, ClassifierTrainConfig):
        return data, data_split(data.labels, config.test_fraction, config.seed, split_kind(config))
    split = classifier_record(source)[1].get("split", {})
    if split.get("kind") == GIVEN_SPLIT:
        rows = given_rows((split["train_rows"], split["test_rows"]), len(data))
    else:
        rows = data_split(data.labels, config.test_fraction, config.seed, split.get("kind", "random"))
    check_split(source, split, len(data), rows[1])
    return data, rows


def check_split(run_dir: str | Path, split: dict, rows: int, test_rows: Tensor) -> None:
    """Refuse data that changed since training (the held-out rows would not be the held-out images)."""
    if split.get("rows") != rows or split.get("test_rows") != test_rows.tolist():
        raise AdvlabError(f"the data of {run_dir} changed since training ({split.get('rows')} images then, {rows} "
                          "now): the held-out split cannot be rebuilt")
