"""GAN privacy in `advlab audit` (issue 22, part 2): does a generator leak or copy its training images?

A GAN run trained with ``--train-images N`` learned from N images of its data set and never saw the rest
(advlab.pipelines.gan.gan_setup.load_split); the audit compares the two. Its two cells (test data x privacy):

* **membership** -- can an attacker tell the run's training images (members) from held-out ones (non-members)?
  On a balanced, seeded set of each: LOGAN's white-box discriminator score (Hayes et al. 2019, sec. 4.1) and
  GAN-Leaks' reconstruction distance (Chen et al. 2020, sec. 5: full black-box from ``leaks_candidates`` samples,
  white-box with ``white_box_steps`` L-BFGS steps from there, and calibrated, eq. 8, by the reconstruction
  distance of a reference: real held-out images the members and non-members are not drawn from). The figure is
  the highest AUC among the attacks (advlab.privacy.membership.membership_roc); the generator passes when it is at
  most MEMBERSHIP_BOUND. Evidence: RUN/audit/gan/membership.json and roc.png.
* **memorisation** -- are the generator's samples copies of its training images? The nearest training image of
  each sample against the nearest held-out image (advlab.privacy.gan.memorisation, copy = ratio below 1/3); the
  figure is the share of copies, passing at most COPY_BOUND, with the birthday-paradox support estimate (Arora &
  Zhang 2017) beside it. Evidence: RUN/audit/gan/memorisation.json and copies.png (the flagged pairs).

A run trained on every image has nothing to compare its members with: both cells are "not measured" and say why
(so are they with ``--model-only``: both need the images). The run is only read (its latest checkpoint, as advlab
gan sample loads it); everything goes to RUN/audit/gan/.

Measured on advlab gan train's DCGAN on 8x8 digits, seed 0, 15,000 steps (quick budget, ~3 s for both cells on one
thread): trained on 64 images, LOGAN AUC 0.98 and GAN-Leaks black-box 0.81 (fail), copy share 0.00; on 1,000,
0.55 and 0.52 (pass), copy share 0.00. The DCGAN leaks membership without copying; an MLP GAN trained long on 64
digits copies (tests/test_privacy_gan_slow.py). Calibration by real reference images lowered the GAN-Leaks AUC of
the 64-image DCGAN (0.83 -> 0.75 at 15,000 steps), as did a reference DCGAN (Chen et al.'s form): only the
thorough budget adds it.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from advlab.core.checkpoints import atomic_write_bytes, list_checkpoints
from advlab.core.config import from_mapping, load_yaml
from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator
from advlab.data import GENERATED_POINT_DATASETS, TensorData
from advlab.gan.trainer import GANTrainer
from advlab.metrics.birthday import BirthdaySupport, birthday_support, calibrate_threshold
from advlab.pipelines.gan.gan_config import GANTrainConfig
from advlab.pipelines.gan.gan_setup import load_split
from advlab.pipelines.gan.gan_snapshots import draw
from advlab.pipelines.gan.sample_gan import load_trained
from advlab.pipelines.gan.train_gan import resume_config
from advlab.pipelines.security.audit_cells import (
    PRIVACY,
    TEST_DATA,
    AuditContext,
    Cell,
    at_most,
    not_measured,
    relative,
)
from advlab.privacy.gan import GANLeaks, discriminator_scores, memorisation
from advlab.privacy.gan.memorisation import nearest_in
from advlab.privacy.membership.roc import MembershipROC, membership_roc
from advlab.reports.grids import save_pair_grid
from advlab.reports.membership_plots import save_roc_figure

GAN_FOLDER = "gan"
MEMBERSHIP_BOUND = 0.60  # the highest attack AUC a generator may show
COPY_BOUND = 0.05  # the share of its samples that may be copies of training images
MEMBERSHIP_FIGURE = "highest membership AUC (LOGAN, GAN-Leaks)"
MEMBERSHIP_THRESHOLD = (f"pass when the highest AUC among the attacks is at most {MEMBERSHIP_BOUND:.2f} "
                        f"({MEMBERSHIP_BOUND:.0%}; chance is 50%)")
COPY_FIGURE = "share of generated samples that copy a training image"
COPY_THRESHOLD = (f"pass when at most {COPY_BOUND:.0%} of the samples are copies (nearest training image closer "
                  "than 1/3 of the distance to the nearest held-out image)")
GAN_SETTINGS: dict[str, dict[str, int]] = {
    # samples: generated images for memorisation; members: training images compared with as many held-out ones;
    # leaks_candidates: GAN-Leaks' k latent codes; white_box_steps: L-BFGS steps from the best of them (0: off);
    # reference: held-out images for the calibrated attack (0: off; on 8x8 digits it lowered the AUC, module
    # docstring); birthday_*: the support estimate's trials per batch size and its largest batch
    "quick": {"samples": 2000, "members": 500, "leaks_candidates": 20000, "white_box_steps": 0, "reference": 0,
              "birthday_trials": 10, "birthday_max_batch": 2048},
    "standard": {"samples": 5000, "members": 1000, "leaks_candidates": 50000, "white_box_steps": 100,
                 "reference": 0, "birthday_trials": 20, "birthday_max_batch": 4096},
    "thorough": {"samples": 10000, "members": 2000, "leaks_candidates": 100000, "white_box_steps": 300,
                 "reference": 1000, "birthday_trials": 20, "birthday_max_batch": 8192},
}
WHITE_BOX_LR = 0.015  # the GAN-Leaks reference code's L-BFGS step (advlab.privacy.gan.gan_leaks)


def is_gan_run(run: Path) -> bool:
    """Whether `run` is an advlab gan train run: its config.yaml reads as a GAN training config and it holds a
    checkpoint."""
    config = Path(run) / "config.yaml"
    if not config.is_file() or not list_checkpoints(Path(run) / "checkpoints"):
        return False
    try:
        values = load_yaml(config)
        if not isinstance(values, dict) or "epochs" in values:
            return False
        from_mapping(GANTrainConfig, values, source=str(config))
    except (AdvlabError, OSError, ValueError):
        return False
    return True


@dataclass
class GANSubject:
    """What both cells measure: the run's trainer (restored from its latest checkpoint, at its last stage), its
    training images and its held-out images, on the trainer's device."""

    trainer: GANTrainer
    training: TensorData
    held_out: TensorData


def no_held_out_reason(ctx: AuditContext) -> str | None:
    """Why the run's privacy cannot be measured (None when it can): --model-only, no held-out images, or no images
    at all."""
    if ctx.model_only:
        return ("--model-only: the GAN privacy cells compare the run's training images with its held-out images, "
                "so they need the data")
    config = resume_config(ctx.run)
    if config.data in GENERATED_POINT_DATASETS:
        return f"the GAN run draws 2-D points ({config.data}), not images: the GAN privacy cells compare images"
    if config.train_images is None:
        return (f"trained on every image of {config.data}: no held-out images to compare with; retrain with "
                "--train-images N")
    return None


def load_subject(ctx: AuditContext) -> GANSubject:
    """The run's trainer and its training and held-out images (the rows it trained on, by load_split)."""
    run_dir, trainer = load_trained(ctx.run, ctx.device)
    trainer.apply_stage()  # a progressive run at its last stage
    device = trainer.sampler.device
    _, training, held_out = load_split(resume_config(run_dir), device, note=lambda _: None)
    if training.kind != "images":
        raise AdvlabError(f"{ctx.run}: the GAN privacy cells compare images; this run holds 2-D points")
    return GANSubject(trainer, training, held_out)


def gan_folder(ctx: AuditContext) -> Path:
    folder = Path(ctx.audit_dir) / GAN_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_json(path: Path, record: dict) -> Path:
    atomic_write_bytes(path, (json.dumps(record, indent=1) + "\n").encode())
    return path


# ---------------------------------------------------------------------------------------------- membership


class ScorePerImage(nn.Module):
    """The run's discriminator as LOGAN wants it: images (n, C, H, W) -> n raw scores. A PacGAN discriminator
    judges each image packed with copies of itself; a conditional one judges it under `label`; ACGAN's source
    score is its first output."""

    def __init__(self, trainer: GANTrainer, label: int | None = None):
        super().__init__()
        self.discriminator, self.pack, self.conditioning = trainer.discriminator, trainer.pack, trainer.conditioning
        self.label = label

    def forward(self, images: Tensor) -> Tensor:
        packed = images.repeat_interleave(self.pack, 0) if self.pack > 1 else images
        if self.conditioning == "input":
            return self.discriminator(packed, torch.full((len(images),), self.label, device=images.device))
        out = self.discriminator(packed)
        return out[0] if self.conditioning == "acgan" else out


class GenerateLabel(nn.Module):
    """A conditional generator as GAN-Leaks wants it: z -> G(z, label); an unconditional one passes through."""

    def __init__(self, generator: nn.Module, z_dim: int, label: int | None = None):
        super().__init__()
        self.generator, self.z_dim, self.label = generator, z_dim, label

    def forward(self, z: Tensor) -> Tensor:
        if self.label is None:
            return self.generator(z)
        return self.generator(z, torch.full((len(z),), self.label, device=z.device))


def label_groups(trainer: GANTrainer, labels: Tensor | None, count: int) -> list[tuple[int | None, Tensor]]:
    """(label, positions) groups the attacks score apart: one group of everything for an unconditional run, one
    per class for a conditional run (the attacker knows a query's label and asks G and D about that class)."""
    if not trainer.conditional:
        return [(None, torch.arange(count))]
    labels = labels.cpu()
    return [(int(label), torch.nonzero(labels == label).squeeze(1)) for label in labels.unique()]


def logan_scores(trainer: GANTrainer, images: Tensor, labels: Tensor | None) -> Tensor:
    scores = torch.zeros(len(images), dtype=torch.float64)
    for label, positions in label_groups(trainer, labels, len(images)):
        scores[positions] = discriminator_scores(ScorePerImage(trainer, label), images[positions])
    return scores


def leaks_distances(trainer: GANTrainer, attack: GANLeaks, images: Tensor, labels: Tensor | None) -> Tensor:
    """GAN-Leaks' reconstruction distance ||x - R(x|G)||^2 (N,) float64 of each image."""
    model = trainer.sampling_model()
    distances = torch.zeros(len(images), dtype=torch.float64)
    for label, positions in label_groups(trainer, labels, len(images)):
        generator = GenerateLabel(model, trainer.z_dim, label)
        distances[positions] = attack.reconstruct(generator, images[positions]).distances
    return distances


def reference_distances(images: Tensor, reference: Tensor) -> Tensor:
    """The squared distance of each image to its nearest reference image: what a reference 'generator' that draws
    the real reference images reconstructs it to, for GAN-Leaks' calibration (eq. 8)."""
    distances, _ = nearest_in(images.flatten(1).float().cpu(), reference.flatten(1).float().cpu())
    return distances.pow(2)


def choose(count: int, total: int, generator: torch.Generator) -> Tensor:
    """`count` of `total` positions, sorted, seeded."""
    return torch.randperm(total, generator=generator)[:count].sort().values


def membership_queries(subject: GANSubject, settings: dict, seed: int) -> dict[str, Tensor]:
    """A balanced set: n training images (members) and n held-out ones (non-members), n = min(members, sizes); with
    a calibration, up to `reference` other held-out images (n then takes at most half of the held-out images, so
    that some are left for it). Positions index the training and held-out sets; the record's training_positions
    and held_out_positions are these, and gan_setup.split_rows says which data-set rows they are."""
    draws = make_generator(seed, torch.device("cpu"))
    available = len(subject.held_out) // 2 if settings["reference"] else len(subject.held_out)
    count = min(settings["members"], len(subject.training), available)
    members = choose(count, len(subject.training), draws)
    shuffled = torch.randperm(len(subject.held_out), generator=draws)
    non_members = shuffled[:count].sort().values
    reference = shuffled[count:count + settings["reference"]].sort().values
    return {"members": members, "non_members": non_members, "reference": reference}


def joined(first: TensorData, first_positions: Tensor, second: TensorData,
           second_positions: Tensor) -> tuple[Tensor, Tensor | None]:
    """(images, labels or None): `first`'s rows at `first_positions`, then `second`'s at `second_positions`."""
    parts = [(data.data[positions.to(data.data.device)],
              None if data.labels is None else data.labels[positions.to(data.labels.device)])
             for data, positions in ((first, first_positions), (second, second_positions))]
    labels = None if parts[0][1] is None else torch.cat([parts[0][1], parts[1][1]])
    return torch.cat([parts[0][0], parts[1][0]]), labels


def attack_scores(subject: GANSubject, queries: dict[str, Tensor], settings: dict, seed: int) -> dict[str, Tensor]:
    """Each attack's membership scores (N,) of the members then the non-members, higher = member."""
    trainer = subject.trainer
    images, labels = joined(subject.training, queries["members"], subject.held_out, queries["non_members"])
    noise = "uniform" if trainer.noise == "uniform" else "normal"
    scores = {"LOGAN": logan_scores(trainer, images, labels)}
    black = leaks_distances(trainer, GANLeaks(samples=settings["leaks_candidates"], noise=noise, seed=seed), images,
                            labels)
    scores["GAN-Leaks black-box"] = -black
    best = black
    if settings["white_box_steps"]:
        white = GANLeaks(samples=settings["leaks_candidates"], steps=settings["white_box_steps"], lr=WHITE_BOX_LR,
                         noise=noise, seed=seed)
        best = leaks_distances(trainer, white, images, labels)
        scores["GAN-Leaks white-box"] = -best
    if len(queries["reference"]):
        reference = subject.held_out.data[queries["reference"].to(subject.held_out.data.device)]
        scores["GAN-Leaks calibrated"] = reference_distances(images, reference) - best
    return scores


def gan_membership_cell(ctx: AuditContext) -> Cell:
    """LOGAN and GAN-Leaks on the run's training images against its held-out ones (module docstring)."""
    start = time.perf_counter()
    reason = no_held_out_reason(ctx)
    if reason is not None:
        return not_measured(MEMBERSHIP_FIGURE, MEMBERSHIP_THRESHOLD, reason, TEST_DATA, PRIVACY)
    settings = GAN_SETTINGS[ctx.budget]
    subject = load_subject(ctx)
    queries = membership_queries(subject, settings, ctx.seed)
    count = len(queries["members"])
    is_member = torch.arange(2 * count) < count
    scores = attack_scores(subject, queries, settings, ctx.seed)
    rocs: dict[str, MembershipROC] = {name: membership_roc(values, is_member) for name, values in scores.items()}
    folder = gan_folder(ctx)
    roc_path = save_roc_figure(rocs, folder / "roc.png", f"GAN membership inference on {Path(ctx.run).name}")
    attacks = {name: roc.summary() for name, roc in rocs.items()}
    strongest = max(attacks, key=lambda name: attacks[name]["auc"])
    value = attacks[strongest]["auc"]
    record = {"members": count, "non_members": count, "reference_images": len(queries["reference"]),
              "attacks": attacks, "strongest": strongest, "settings": settings, "seed": ctx.seed,
              "training_positions": queries["members"].tolist(), "held_out_positions": queries["non_members"].tolist(),
              "scores": {name: values.tolist() for name, values in scores.items()}}
    evidence = write_json(folder / "membership.json", record)
    details = {"attacks": attacks, "strongest": strongest, "members": count, "non_members": count,
               "reference_images": len(queries["reference"]),
               "pictures": [["ROC of each membership attack (log-log)", relative(roc_path, ctx.audit_dir)]]}
    return Cell(figure=MEMBERSHIP_FIGURE, value=value, verdict=at_most(value, MEMBERSHIP_BOUND),
                threshold=MEMBERSHIP_THRESHOLD, evidence=relative(evidence, ctx.audit_dir),
                seconds=time.perf_counter() - start, details=details, row=TEST_DATA, column=PRIVACY)


# ---------------------------------------------------------------------------------------------- memorisation


def generated(trainer: GANTrainer, count: int, seed: int) -> Tensor:
    """`count` samples of the run's sampling generator, on the CPU."""
    return draw(trainer, count, seed).detach().cpu().clamp(0, 1)


def birthday_figures(birthday: BirthdaySupport) -> dict:
    """The support estimate and its 95% interval; when no batch held a duplicate the estimate is unbounded (None
    in JSON) and the note says what the low end means."""
    figures = {"birthday_support": birthday.support, "birthday_low": birthday.low, "birthday_high": birthday.high,
               "birthday_largest_batch": max(birthday.batch_sizes)}
    if not math.isfinite(birthday.support):
        figures["birthday_note"] = (f"no two samples closer than the duplicate threshold in any batch of up to "
                                    f"{max(birthday.batch_sizes)}: the support is above birthday_low")
    return figures


def finite(figures: dict) -> dict:
    """`figures` with infinite or NaN numbers as None (JSON has no Infinity)."""
    return {key: None if isinstance(value, float) and not math.isfinite(value) else value
            for key, value in figures.items()}


def gan_memorisation_cell(ctx: AuditContext) -> Cell:
    """The copy share of the run's samples against its training and held-out images, with the birthday support
    estimate (module docstring)."""
    start = time.perf_counter()
    reason = no_held_out_reason(ctx)
    if reason is not None:
        return not_measured(COPY_FIGURE, COPY_THRESHOLD, reason, TEST_DATA, PRIVACY)
    settings = GAN_SETTINGS[ctx.budget]
    subject = load_subject(ctx)
    training, held_out = subject.training.data.cpu(), subject.held_out.data.cpu()
    seeds = itertools.count(ctx.seed + 1000)  # fresh noise for every batch of the birthday ladder

    def sampler(size: int) -> Tensor:
        return generated(subject.trainer, size, next(seeds))

    found = memorisation(generated(subject.trainer, settings["samples"], ctx.seed), training, held_out,
                         seed=ctx.seed)
    real = torch.cat([training, held_out])  # the duplicate scale of the data set (metrics.birthday's docstring)
    birthday = birthday_support(sampler, threshold=calibrate_threshold(real), trials=settings["birthday_trials"],
                                max_batch_size=settings["birthday_max_batch"])
    folder = gan_folder(ctx)
    summary = finite({**found.summary(), **birthday_figures(birthday)})
    pictures = []
    if len(found.pairs[0]):
        copies = save_pair_grid(*found.pairs, folder / "copies.png", scale=max(1, 64 // training.shape[-1]))
        pictures.append(["flagged copies: each generated sample (left) beside its nearest training image",
                         relative(copies, ctx.audit_dir)])
    record = {**summary, "settings": settings, "seed": ctx.seed, "training_images": len(training),
              "held_out_images": len(held_out), "pair_ratios": found.pair_ratios.tolist()}
    evidence = write_json(folder / "memorisation.json", record)
    value = summary["copy_share"]
    return Cell(figure=COPY_FIGURE, value=value, verdict=at_most(value, COPY_BOUND), threshold=COPY_THRESHOLD,
                evidence=relative(evidence, ctx.audit_dir), seconds=time.perf_counter() - start,
                details={**summary, "pictures": pictures}, row=TEST_DATA, column=PRIVACY)


GAN_CELLS = {"membership": gan_membership_cell, "memorisation": gan_memorisation_cell}

__all__ = ["COPY_BOUND", "GAN_CELLS", "GAN_SETTINGS", "MEMBERSHIP_BOUND", "gan_membership_cell",
           "gan_memorisation_cell", "is_gan_run"]
