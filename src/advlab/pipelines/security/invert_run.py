"""`advlab privacy invert RUN`: model inversion of a classifier run, judged by a classifier the attack never saw.

For each class asked about, the attack (advlab.privacy.inversion: MI-Face, Fredrikson et al. 2015; GMI, Zhang et
al. 2020) makes `images` pictures the target should take for that class, and two figures say how much of the
private training data they reveal (Zhang et al. 2020, sec. 4.1):

* attack accuracy -- the share of the inverted images that an independent *evaluation classifier* labels as
  the class. The evaluator has another architecture than the target (EVALUATOR_MODELS: MadryCNN for a SmallCNN
  target, else LeNet-5, else an MLP) and is trained by advlab with the target's recipe on the target's training
  rows, so that images which merely fool the target (adversarial noise) do not count;
* the nearest private distance -- the mean over the class's inverted images of the L2 distance to the closest
  private training image (a member) of that class.

MI-Face starts its first image of each class from the paper's x_0 = 0 and the others from uniform noise
(seeded), since from zeros every image would be the same. GMI needs a GAN prior trained on public data of the
target's image size and channels: ``prior`` is an advlab GAN run (unconditional, unpacked), or ``auto``
(the default for GMI): a DCGAN trained by advlab on the target's held-out rows only -- images the target never
trained on (the issue's disjoint split), written as an .npy file and trained with ``--data npy``.

Everything goes under RUN/privacy/ and nothing else in RUN changes::

    RUN/privacy/evaluator/                the evaluation classifier (a classifier run; reused when present)
    RUN/privacy/prior/public.npy          the held-out images the automatic prior is trained on
    RUN/privacy/prior/gan/                the automatic GAN prior (a GAN run; reused when present)
    RUN/privacy/inversion/METHOD/inversion.json   per class and overall (mean over the classes): attack_accuracy,
                                          nearest_private_distance; and how they were made
    RUN/privacy/inversion/METHOD/inverted.png     a row per class: the inverted images, then the nearest
                                          private image to each
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from advlab.core.checkpoints import list_checkpoints
from advlab.core.checks import check_int
from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError
from advlab.core.parameters import check_options, class_parameters
from advlab.core.seeding import make_generator, seed_everything
from advlab.gan.pacgan import Packed
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.gan.gan_config import GANTrainConfig
from advlab.pipelines.gan.sample_gan import load_trained
from advlab.pipelines.gan.train_gan import train_gan
from advlab.pipelines.train_classifier import (
    classifier_config,
    classifier_record,
    image_shape,
    load_classifier,
    run_split,
    train_classifier,
)
from advlab.privacy.inversion import GMI, Inversion, MIFace
from advlab.reports.grids import save_image_grid

METHODS = {"mi-face": MIFace, "gmi": GMI}
HANDLED = {"generator", "discriminator", "z_dim", "noise", "aux"}  # what the run supplies, not the user
AUTO = "auto"
PRIOR_STEPS = 3000  # the automatic DCGAN prior: 33 s on one CPU thread for 8x8 digits
EVALUATOR_MODELS = ("madry", "lenet", "mlp")  # the first that differs from the target's and fits its images
LENET_MIN_SIZE = 12
PICTURE_SCALE = 4


@dataclass(frozen=True)
class InvertRunConfig:
    """The options of `advlab privacy invert`; see that command's --help.

    `options` are the attack's own (its class's parameters but HANDLED); `prior_steps` and `evaluator_epochs`
    size the automatic prior and the evaluator (None: PRIOR_STEPS, the target's epochs).
    """

    run: str
    method: str = "mi-face"
    classes: tuple[int, ...] | None = None
    images: int = 8
    prior: str | None = None
    options: dict = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    progress: bool = True
    prior_steps: int | None = None
    evaluator_epochs: int | None = None


def own_parameters(method: str):
    """The attack's options that get a flag: its class's parameters but those the run supplies."""
    return [parameter for parameter in class_parameters(attack_class(method)) if parameter.name not in HANDLED]


def attack_class(method: str) -> type:
    if method not in METHODS:
        raise AdvlabError(f"unknown inversion method {method!r}; valid methods are: {', '.join(METHODS)}")
    return METHODS[method]


def invert_run(config: InvertRunConfig) -> Path:
    """Invert the classes of `config.run` with `config.method`; returns the folder of inversion.json."""
    check_config(config)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    device = resolve_device(config.device)
    run = Path(config.run)
    target, target_config = load_classifier(run, device)
    _, meta = classifier_record(run)
    classes = chosen_classes(config.classes, int(meta["classes"]))
    shape = image_shape(meta)
    setup_start = time.perf_counter()
    evaluator = evaluation_classifier(run, target_config, config, device)
    attack = make_attack(config, run, target_config, shape, device)
    setup_seconds = time.perf_counter() - setup_start
    labels = torch.tensor(classes).repeat_interleave(config.images)
    start = time.perf_counter()
    inversion = run_attack(attack, target, labels, shape, config)
    seconds = time.perf_counter() - start
    data, (train_rows, _) = run_split(run)
    private = (data.data[train_rows], data.labels[train_rows])
    figures = inversion_figures(inversion, evaluator, target, private, classes)
    out = run / "privacy" / "inversion" / config.method
    out.mkdir(parents=True, exist_ok=True)
    save_inverted_picture(inversion, private, classes, out / "inverted.png")
    record = {"method": config.method, **figures, "seconds": round(seconds, 3),
              "setup_seconds": round(setup_seconds, 3), "images_per_class": config.images,
              "options": {key: value for key, value in vars(attack).items() if is_plain(value)},
              "evaluator": evaluator_record(run), "prior": prior_path(config, run), "seed": config.seed}
    (out / "inversion.json").write_text(json.dumps(record, indent=1))
    return out


def check_config(config: InvertRunConfig) -> None:
    """The options that must agree before anything is trained."""
    attack_class(config.method)
    check_int("images", config.images, 1)
    check_options(f"invert {config.method}", config.options, {p.name for p in own_parameters(config.method)})
    if config.prior is not None and config.method != "gmi":
        raise AdvlabError(f"--prior applies to gmi only (a GAN prior); {config.method} searches the pixels")
    for name in ("prior_steps", "evaluator_epochs"):
        if getattr(config, name) is not None:
            check_int(name, getattr(config, name), 1)


def chosen_classes(classes: tuple[int, ...] | None, count: int) -> list[int]:
    """The classes to invert: all of them (None), or the given ones, each in range and named once."""
    if classes is None:
        return list(range(count))
    outside = [k for k in classes if not 0 <= k < count]
    if outside:
        raise AdvlabError(f"class {outside[0]} is outside the run's classes 0..{count - 1}; check --class")
    if not classes or len(set(classes)) != len(classes):
        raise AdvlabError(f"name each class to invert once, got {list(classes)}")
    return list(classes)


def is_plain(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


# ---------------------------------------------------------------------- the evaluation classifier


def evaluator_model(target_model: str, image_size: int) -> str:
    """The evaluator's architecture: the first of EVALUATOR_MODELS that is not the target's and fits the images."""
    fitting = [model for model in EVALUATOR_MODELS if model != "lenet" or image_size >= LENET_MIN_SIZE]
    return next(model for model in fitting if model != target_model)


def evaluation_classifier(run: Path, target_config: ClassifierTrainConfig, config: InvertRunConfig,
                          device: torch.device) -> nn.Module:
    """The evaluation classifier of `run`: reused from RUN/privacy/evaluator/, else trained there with the target's
    recipe (plain cross-entropy) and another architecture on the target's training rows (held-out rows as its
    test set)."""
    out = run / "privacy" / "evaluator"
    if not (out / "summary.json").exists():
        _, (train_rows, test_rows) = run_split(run)
        side = image_shape(classifier_record(run)[1])[-1]
        evaluator_config = dataclasses.replace(
            target_config.undefended(), out=str(out), model=evaluator_model(target_config.model, side), width=None,
            seed=target_config.seed + 1, device=config.device, threads=config.threads, tensorboard=False,
            epochs=config.evaluator_epochs or target_config.epochs)
        train_classifier(evaluator_config, overwrite=True, progress=config.progress, report=False,
                         rows=(train_rows, test_rows))
    return load_classifier(out, device)[0]


def evaluator_record(run: Path) -> dict:
    """The evaluator's architecture and held-out accuracy, for the record."""
    out = run / "privacy" / "evaluator"
    summary = json.loads((out / "summary.json").read_text())
    return {"run": str(out), "model": classifier_config(out).model, "test_accuracy": summary.get("test_accuracy")}


# ---------------------------------------------------------------------- the attack and its GAN prior


def make_attack(config: InvertRunConfig, run: Path, target_config: ClassifierTrainConfig, shape: tuple[int, ...],
                device: torch.device):
    """The configured attack; GMI with its public prior's G and D."""
    if config.method == "mi-face":
        return MIFace(**config.options)
    generator, discriminator, z_dim, noise = public_prior(config, run, target_config, shape, device)
    return GMI(generator, discriminator, z_dim=z_dim, noise=noise, **config.options)


def prior_path(config: InvertRunConfig, run: Path) -> str | None:
    """The GAN run GMI's prior comes from (None for MI-Face)."""
    if config.method != "gmi":
        return None
    return str(run / "privacy" / "prior" / "gan") if config.prior in (None, AUTO) else config.prior


def public_prior(config: InvertRunConfig, run: Path, target_config: ClassifierTrainConfig, shape: tuple[int, ...],
                 device: torch.device) -> tuple[nn.Module, nn.Module, int, str]:
    """(G, D, z_dim, noise kind) of the prior: the given GAN run, or the automatic one (trained if absent)."""
    path = Path(prior_path(config, run))
    if config.prior in (None, AUTO) and not list_checkpoints(path / "checkpoints"):  # none yet, or cut short
        train_auto_prior(run, target_config, config, path)
    elif not path.exists():
        raise AdvlabError(f"--prior {path}: no such GAN run; train one with advlab gan train, or pass --prior auto")
    _, trainer = load_trained(path, str(device))
    check_prior(trainer, path, shape)
    trainer.apply_stage()
    return trainer.sampling_model(), trainer.discriminator, trainer.z_dim, trainer.noise


def check_prior(trainer, path: Path, shape: tuple[int, ...]) -> None:
    """A prior GMI can use: unconditional, unpacked, making images of the target's shape (C, H, W)."""
    made = tuple(trainer.data.sample_shape)
    if trainer.data.kind != "images":
        raise AdvlabError(f"--prior {path}: the GAN run generates 2-D points, not images")
    if made != shape:
        raise AdvlabError(f"--prior {path}: the GAN makes {describe(made)} images but the target takes "
                          f"{describe(shape)}; train the prior on images of the target's size and channels "
                          "(advlab gan train --image-size), or pass --prior auto")
    if trainer.conditional:
        raise AdvlabError(f"--prior {path}: the GAN run is conditional; GMI needs an unconditional generator")
    if isinstance(trainer.discriminator, Packed):
        raise AdvlabError(f"--prior {path}: the GAN run's discriminator is packed (PacGAN); GMI's prior term "
                          "-D(G(z)) needs one image per score: train the prior without --pack")


def describe(shape: tuple[int, ...]) -> str:
    channels = {1: "1-channel", 3: "3-channel"}.get(shape[0], f"{shape[0]}-channel")
    return f"{channels} {shape[1]}x{shape[2]}"


def train_auto_prior(run: Path, target_config: ClassifierTrainConfig, config: InvertRunConfig, out: Path) -> None:
    """A DCGAN trained on the target's held-out rows only (public data disjoint from the private training set),
    written as RUN/privacy/prior/public.npy and trained with --data npy into `out`."""
    data, (_, test_rows) = run_split(run)
    images = out.parent / "public.npy"
    images.parent.mkdir(parents=True, exist_ok=True)
    np.save(images, data.data[test_rows].numpy())
    steps = config.prior_steps or PRIOR_STEPS
    gan_config = GANTrainConfig(out=str(out), data="npy", data_path=str(images), model="dcgan", steps=steps,
                                seed=target_config.seed, device=config.device, threads=config.threads,
                                tensorboard=False, sample_every=steps, checkpoint_every=steps, keep_checkpoints=1)
    train_gan(gan_config, overwrite=True, progress=config.progress, report=False)


# ---------------------------------------------------------------------- running and judging


def run_attack(attack, target: nn.Module, labels: Tensor, shape: tuple[int, ...], config: InvertRunConfig) -> Inversion:
    """`config.images` inversions per class: MI-Face from x_0 = 0 and uniform-noise starts, GMI from seeded z."""
    random = make_generator(config.seed, torch.device("cpu"))
    if isinstance(attack, MIFace):
        starts = torch.rand(len(labels), *shape, generator=random)
        starts[::config.images] = 0  # the paper's x_0 = 0 for the first image of each class
        return attack.invert(target, labels, starts, progress=config.progress)
    return attack.invert(target, labels, random, progress=config.progress)


@torch.no_grad()
def inversion_figures(inversion: Inversion, evaluator: nn.Module, target: nn.Module,
                      private: tuple[Tensor, Tensor], classes: list[int]) -> dict:
    """Per class and overall (mean over classes): attack accuracy (evaluator), nearest private distance, and the
    target's own accuracy and confidence on the inverted images."""
    device = next(evaluator.parameters()).device
    images = inversion.images.to(device)
    judged = evaluator(images).argmax(1).cpu() == inversion.labels
    target_probabilities = target(images.to(next(target.parameters()).device)).softmax(1).cpu()
    confidence = target_probabilities.gather(1, inversion.labels.view(-1, 1)).squeeze(1)
    nearest = nearest_private(inversion, private)[0]
    per_class = {}
    for k in classes:
        rows = inversion.labels == k
        per_class[str(k)] = {"attack_accuracy": float(judged[rows].float().mean()),
                             "nearest_private_distance": float(nearest[rows].mean()),
                             "target_confidence": float(confidence[rows].mean())}
    overall = {key: float(np.mean([figures[key] for figures in per_class.values()]))
               for key in ("attack_accuracy", "nearest_private_distance", "target_confidence")}
    return {"classes": per_class, **overall}


def nearest_private(inversion: Inversion, private: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """(L2 distance, the image) of the closest private training image of its own class to each inverted image."""
    images, labels = private
    distances = torch.empty(len(inversion))
    closest = torch.empty_like(inversion.images)
    for k in inversion.labels.unique().tolist():
        rows = (inversion.labels == k).nonzero().squeeze(1)
        own = images[labels == k]
        if not len(own):
            raise AdvlabError(f"class {k} has no private training image to compare the inverted images with")
        found = torch.cdist(inversion.images[rows].flatten(1), own.flatten(1)).min(1)
        distances[rows], closest[rows] = found.values, own[found.indices]
    return distances, closest


def save_inverted_picture(inversion: Inversion, private: tuple[Tensor, Tensor], classes: list[int],
                          path: Path) -> Path:
    """One row per class: its inverted images, a blank, then the nearest private image to each, in order."""
    _, closest = nearest_private(inversion, private)
    per_class = len(inversion) // len(classes)
    blank = torch.ones(1, *inversion.images.shape[1:])
    rows = []
    for k in classes:
        mine = inversion.labels == k
        rows.append(torch.cat([inversion.images[mine], blank, closest[mine]]))
    return save_image_grid(torch.cat(rows), path, nrow=2 * per_class + 1, scale=PICTURE_SCALE)


__all__ = ["InvertRunConfig", "invert_run", "own_parameters"]
