"""Text-to-image metrics: does a generated image show what its caption asked for, and does it look real?

Three measures, each from a network advlab trains on the real captioned images (advlab.data.captioned_sets), so
nothing is downloaded:

* **Attribute accuracy** -- an *attribute classifier* (a small CNN with one softmax head per attribute: colour,
  shape, size, position, ... as the data set defines them) reads the attributes back from an image; the accuracy
  of generated images is the share whose read-back attribute equals the one their caption asked for, per
  attribute, over the images where the attribute applies (-1 = does not apply). This is the "how often the image
  shows what the caption says" check; :func:`chance_accuracy` gives the level of a generator that draws realistic
  images but ignores the text (sum_c p_c^2 over the training frequencies p_c of the attribute's classes), and the
  classifier's own held-out accuracy on real images is the ceiling.
* **R-precision** (Xu et al. 2018, "AttnGAN", sec. 5.1): for each image, its own caption and R - 1 = 99 random
  mismatched captions are ranked by the cosine similarity of their text embeddings phi(t) to the image's embedding
  theta(v) under advlab's joint embedding (advlab.text2image.embedding); R-precision at R = 1 relevant caption is
  the share of images whose own caption ranks first (ties count as misses). With ``classes`` given, the mismatched
  captions are drawn from images of *another* class only: on generated data sets many images share their
  attributes, and a "mismatched" caption saying the same thing is no mismatch. Chance is 1/R.
* **FID** (Heusel et al. 2017) in the attribute classifier's feature space: the Fréchet distance between Gaussians
  fitted to the classifier's hidden-layer features (128 numbers) of real and generated images
  (advlab.metrics.fid.fid), in place of Inception's.

The attribute classifier: 3x3 convolutions of width 32, 32 (stride 2), 64, 64 (stride 2), 128 (stride 2), each with
batch norm and ReLU, average-pooled to 4x4, a 128-unit hidden layer (the *features*) and one linear head per
attribute; trained with Adam under a one-cycle schedule (peak 3e-3, minibatch 128, ``CLASSIFIER_EPOCHS``) on the
real training images with random shifts of up to ``max(1, size // 32)`` pixels, the sum of the heads'
cross-entropies (rows where an attribute is -1 leave its head alone); always on the CPU, seeded, cached as the
feature networks are (advlab.metrics.features: ``<data>.attribute-classifier-<size>px-<hash12>`` in the feature
cache, the record holding each attribute's held-out accuracy).

Measured (``CLASSIFIER_EPOCHS`` 4, one thread at load ~4 on 2 shared cores): captioned-shapes at 32 px, 43-63 s,
held-out accuracy (1,000 images) at seeds 0 / 1 / 2: count 1.000 / 1.000 / 1.000, colour 0.999 / 0.999 / 0.996,
shape 0.990 / 0.997 / 0.983, size 0.999 / 0.996 / 0.997, position 1.000 (all), second_colour 1.000 (all),
second_shape 0.996 / 1.000 / 0.968, second_size 0.992 / 1.000 / 0.994 (chance 0.50, 0.14, 0.25, 0.50, 0.31, 0.14,
0.25, 0.50); captioned-digits, seed 0, 66 s: digit 0.956, colour 1.000, position 1.000 (chance 0.10, 0.14, 0.50).
A width-16 network (3x faster) fell to 0.94 / 0.90 on shape / second_shape.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from typing import TYPE_CHECKING, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from advlab.core.cache import Recipe, read_cached, write_cached
from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.metrics.features import random_shifts
from advlab.metrics.fid import fid

if TYPE_CHECKING:
    from advlab.data.captioned_sets import CaptionedImages

CLASSIFIER_ARCHITECTURE = "attribute-cnn/32-32s2-64-64s2-128s2-pool4-128/heads/v1"
CLASSIFIER_EPOCHS = 4
CLASSIFIER_BATCH = 128
CLASSIFIER_LR = 3e-3
HIDDEN = 128
CANDIDATES = 100


# ---------------------------------------------------------------------- the cache recipe


def data_slug(name: str) -> str:
    """A file-name-safe short form of a data set's name."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:40] or "data"


def cache_recipe(data: CaptionedImages, kind: str, architecture: str, seed: int, epochs: int, batch_size: int,
                 peak_lr: float, max_shift: int = 0) -> Recipe:
    """The feature-cache recipe of a network of `kind` trained on `data`: its name, image size, seed, schedule,
    held-out share, and an architecture string carrying the version and the data's fingerprint (so another data
    set, seed or version never reuses a cached network)."""
    held = 0 if data.held_out is None else len(data.held_out)
    return Recipe(data=f"{data_slug(data.name)}.{kind}", image_size=int(data.images.shape[-1]), seed=seed,
                  epochs=epochs, max_shift=max_shift, batch_size=batch_size, peak_lr=peak_lr,
                  held_out_fraction=round(held / (held + len(data)), 6),
                  architecture=f"{architecture};channels={data.image_shape[0]};words={len(data.vocabulary)};"
                               f"length={data.caption_length};data-sha256={data.fingerprint()[:16]}")


# ---------------------------------------------------------------------- the attribute classifier


class AttributeNet(nn.Module):
    """images (N, C, H, W) in [0, 1] -> (features (N, 128), {attribute: logits (N, classes)}).

    Args:
        channels: C.
        classes: attribute -> number of classes (one head each).
        width: the first convolutions' channels.
    """

    def __init__(self, channels: int, classes: dict[str, int], width: int = 32):
        super().__init__()
        plan = ((width, 1), (width, 2), (2 * width, 1), (2 * width, 2), (4 * width, 2))
        layers, previous = [], channels
        for out, stride in plan:
            layers += [nn.Conv2d(previous, out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(out),
                       nn.ReLU()]
            previous = out
        self.trunk = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(16 * previous, HIDDEN),
                                   nn.ReLU())
        self.heads = nn.ModuleDict({name: nn.Linear(HIDDEN, count) for name, count in classes.items()})

    def embed(self, images: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        features = self.trunk(images * 2 - 1)
        return features, {name: head(features) for name, head in self.heads.items()}

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        return self.embed(images)[1]


class AttributeClassifier:
    """A trained attribute classifier: frozen, eval mode; outputs are float32 / int64 on the CPU.

    Attributes:
        network: the :class:`AttributeNet`.
        attribute_classes: attribute -> class names (as the data set's).
        data_name: the data set it learned.
        image_shape: [C, H, W] it reads; other sizes are resized first.
        held_out_accuracy: attribute -> accuracy on the data set's held-out real images.
        train_seconds: training time; trained: whether this call trained it.
    """

    def __init__(self, network: AttributeNet, attribute_classes: dict[str, list[str]], data_name: str,
                 image_shape: list[int], held_out_accuracy: dict[str, float], train_seconds: float = math.nan,
                 trained: bool = False):
        self.network = network.requires_grad_(False).eval()
        self.attribute_classes, self.data_name, self.image_shape = attribute_classes, data_name, list(image_shape)
        self.held_out_accuracy, self.train_seconds, self.trained = held_out_accuracy, train_seconds, trained

    def __repr__(self) -> str:
        accuracies = ", ".join(f"{k} {v:.3f}" for k, v in self.held_out_accuracy.items())
        return f"AttributeClassifier(data={self.data_name!r}, held-out accuracy: {accuracies})"

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def to(self, device: torch.device | str) -> AttributeClassifier:
        """The network on `device` (in place); returns self."""
        self.network.to(device)
        return self

    def _check(self, images: Tensor) -> Tensor:
        if images.ndim != 4 or images.shape[1] != self.image_shape[0]:
            raise AdvlabError(f"the attribute classifier takes (N, {self.image_shape[0]}, H, W) images, got "
                              f"{tuple(images.shape)}")
        if tuple(images.shape[2:]) != tuple(self.image_shape[1:]):
            images = F.interpolate(images.float(), size=tuple(self.image_shape[1:]), mode="bilinear",
                                   align_corners=False, antialias=True).clamp(0, 1)
        return images

    @torch.no_grad()
    def embed(self, images: Tensor, batch_size: int = 500) -> tuple[Tensor, dict[str, Tensor]]:
        """(features (N, 128), {attribute: logits (N, classes)}), float32 on the CPU."""
        images = self._check(images)
        self.network.eval()
        features, logits = [], {name: [] for name in self.attribute_classes}
        for batch in images.split(batch_size):
            batch_features, batch_logits = self.network.embed(batch.to(self.device).float())
            features.append(batch_features.float().cpu())
            for name, value in batch_logits.items():
                logits[name].append(value.float().cpu())
        return torch.cat(features), {name: torch.cat(values) for name, values in logits.items()}

    def features(self, images: Tensor, batch_size: int = 500) -> Tensor:
        """The hidden layer's features (N, 128): what :func:`classifier_fid` compares."""
        return self.embed(images, batch_size)[0]

    def predict(self, images: Tensor, batch_size: int = 500) -> dict[str, Tensor]:
        """attribute -> predicted class (N,) int64."""
        return {name: logits.argmax(1) for name, logits in self.embed(images, batch_size)[1].items()}


def _attribute_targets(data: CaptionedImages) -> dict[str, Tensor]:
    if not data.attributes:
        raise AdvlabError(f"data set {data.name!r} has no attributes to learn (the user's captioned images carry "
                          "none); attribute metrics need a built-in captioned set")
    return {name: values.cpu() for name, values in data.attributes.items()}


def fit_attribute_net(network: AttributeNet, images: Tensor, targets: dict[str, Tensor], recipe: Recipe,
                      generator: torch.Generator, progress: bool) -> None:
    """Adam on the heads' summed cross-entropies (ignoring -1), one-cycle schedule, random shifts."""
    batches = math.ceil(len(images) / recipe.batch_size)
    optimizer = torch.optim.Adam(network.parameters(), lr=recipe.peak_lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe.peak_lr, total_steps=recipe.epochs * batches)
    bar = tqdm(total=recipe.epochs * batches, disable=not progress, unit="batch", file=sys.stderr,
               desc="attribute classifier", dynamic_ncols=True)
    network.train()
    for _ in range(recipe.epochs):
        order = torch.randperm(len(images), generator=generator)
        for first in range(0, len(order), recipe.batch_size):
            rows = order[first:first + recipe.batch_size]
            if len(rows) < 2:  # batch norm needs two
                continue
            logits = network(random_shifts(images[rows], recipe.max_shift, generator))
            losses = [F.cross_entropy(logits[name], values[rows], ignore_index=-1)
                      for name, values in targets.items() if bool((values[rows] >= 0).any())]
            loss = torch.stack(losses).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.update(1)
    bar.close()
    network.eval()


def make_classifier_recipe(data: CaptionedImages, seed: int = 0, epochs: int | None = None) -> Recipe:
    """The cache recipe of `data`'s attribute classifier."""
    epochs = CLASSIFIER_EPOCHS if epochs is None else check_int("epochs", epochs, 1)
    return cache_recipe(data, "attribute-classifier", CLASSIFIER_ARCHITECTURE, check_int("seed", seed, 0), epochs,
                        CLASSIFIER_BATCH, CLASSIFIER_LR, max_shift=max(1, int(data.images.shape[-1]) // 32))


def attribute_classifier(data: CaptionedImages, seed: int = 0, epochs: int | None = None, progress: bool = False,
                         force: bool = False) -> AttributeClassifier:
    """The attribute classifier of `data` (trained on its real training images), from the cache or trained first.

    Args:
        data: a built-in captioned set (:func:`advlab.data.captioned_sets.load_captioned`); its ``held_out``
            images give the held-out accuracy (the training images when it has none).
        seed: initialisation, minibatch order and shifts.
        epochs: passes over the training images (default ``CLASSIFIER_EPOCHS``).
        progress: a progress bar on stderr while training.
        force: retrain even if a valid cached one exists.

    Returns:
        an :class:`AttributeClassifier` on the CPU.
    """
    targets = _attribute_targets(data)
    recipe = make_classifier_recipe(data, seed, epochs)
    counts = {name: len(classes) for name, classes in data.attribute_classes.items() if name in targets}
    found = None if force else read_cached(recipe)
    if found is not None:
        cached, tensors = found
        record = json.loads(cached.record.read_text())
        accuracy, seconds, trained = record.get("attribute_accuracy", {}), cached.train_seconds, False
    else:
        tensors, accuracy, seconds = _train_classifier(data, targets, counts, recipe, progress)
        trained = True
    with torch.random.fork_rng(devices=[]):  # leaves the caller's global generator alone
        network = AttributeNet(data.image_shape[0], counts)
    try:
        network.load_state_dict(tensors)
    except RuntimeError:
        raise AdvlabError(f"cached attribute classifier {recipe.stem} does not fit its architecture; retrain it "
                          "with force=True") from None
    return AttributeClassifier(network, {k: list(data.attribute_classes[k]) for k in counts}, data.name,
                               data.image_shape, accuracy, seconds, trained)


def _train_classifier(data: CaptionedImages, targets: dict[str, Tensor], counts: dict[str, int], recipe: Recipe,
                      progress: bool) -> tuple[dict[str, Tensor], dict[str, float], float]:
    print(f"advlab: training the attribute classifier of {data.name} ({recipe.epochs} epochs, seed {recipe.seed}); "
          f"it will be cached as {recipe.stem}", file=sys.stderr)
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(recipe.seed)
    with torch.random.fork_rng(devices=[]):  # seeded initialisation that leaves the global RNG alone
        torch.manual_seed(recipe.seed)
        network = AttributeNet(data.image_shape[0], counts)
    fit_attribute_net(network, data.images.cpu().float(), targets, recipe, generator, progress)
    judged = data.held_out if data.held_out is not None else data
    classifier = AttributeClassifier(network, data.attribute_classes, data.name, data.image_shape, {})
    accuracy = attribute_accuracy(classifier, judged.images.cpu(), judged.attributes)
    seconds = time.perf_counter() - start
    mean = float(sum(accuracy.values()) / len(accuracy))
    write_cached(recipe, network, mean, len(judged), seconds, split="the data set's own held-out images",
                 extra={"held_out_accuracy_is": "mean over attributes", "attribute_accuracy": accuracy,
                        "data_name": data.name})
    return network.state_dict(), accuracy, seconds


# ---------------------------------------------------------------------- the measures


def attribute_accuracy(classifier: AttributeClassifier, images: Tensor, attributes: dict[str, Tensor]
                       ) -> dict[str, float]:
    """Per attribute, the share of `images` whose read-back class equals the asked one, over rows not -1.

    Args:
        classifier: an :class:`AttributeClassifier`.
        images: (N, C, H, W) in [0, 1] (generated, or real for the ceiling).
        attributes: attribute -> (N,) int64 asked class (-1: not asked); attributes the classifier does not know
            are an AdvlabError. An attribute asked of no row is left out of the result.
    """
    unknown = sorted(set(attributes) - set(classifier.attribute_classes))
    if unknown:
        raise AdvlabError(f"the attribute classifier knows {', '.join(classifier.attribute_classes)}; not "
                          f"{', '.join(unknown)}")
    for name, values in attributes.items():
        if values.shape != (len(images),):
            raise AdvlabError(f"attribute {name!r}: expected ({len(images)},) classes, got {tuple(values.shape)}")
    predicted = classifier.predict(images)
    result = {}
    for name, asked in attributes.items():
        asked = asked.cpu()
        applies = asked >= 0
        if bool(applies.any()):
            result[name] = float((predicted[name][applies] == asked[applies]).double().mean())
    return result


def chance_accuracy(data: CaptionedImages) -> dict[str, float]:
    """Per attribute, sum_c p_c^2 over its class frequencies p_c in `data` (rows not -1): the expected accuracy
    of a generator whose images follow the data's attributes but ignore the caption."""
    result = {}
    for name, values in _attribute_targets(data).items():
        values = values[values >= 0]
        if len(values):
            share = torch.bincount(values, minlength=len(data.attribute_classes[name])).double() / len(values)
            result[name] = float((share ** 2).sum())
    return result


class Embedder(Protocol):
    """What :func:`r_precision` needs of a joint embedding (advlab.text2image.embedding.JointEmbedding)."""

    def embed_images(self, images: Tensor) -> Tensor: ...

    def embed_text(self, tokens: Tensor) -> Tensor: ...


def mismatched_candidates(n: int, count: int, generator: torch.Generator, classes: Tensor | None = None) -> Tensor:
    """(n, count) rows drawn uniformly with replacement, each != its own row (and of another class when `classes`
    is given), by rejection."""
    if classes is not None and int(classes.max()) == int(classes.min()):
        raise AdvlabError("r_precision: every image has the same class; there is no mismatched caption")
    own = torch.arange(n)[:, None]
    others = torch.randint(n, (n, count), generator=generator)
    for _ in range(1000):
        bad = (others == own) if classes is None else (classes[others] == classes[own])
        if not bool(bad.any()):
            return others
        others = torch.where(bad, torch.randint(n, (n, count), generator=generator), others)
    raise AdvlabError("r_precision: too few images of other classes to draw mismatched captions from")


def r_precision(embedding: Embedder, images: Tensor, tokens: Tensor, candidates: int = CANDIDATES,
                generator: torch.Generator | None = None, classes: Tensor | None = None) -> float:
    """R-precision at R = 1 relevant caption among `candidates` (Xu et al. 2018, AttnGAN, sec. 5.1).

    Args:
        embedding: the joint embedding (``embed_images``, ``embed_text``).
        images: (N, C, H, W) in [0, 1]: generated from (or, for the ceiling, described by) row i of `tokens`.
        tokens: (N, L) the caption of each image; the mismatched candidates are the captions of other rows.
        candidates: R, the true caption plus R - 1 mismatched ones (default 100); min(R, N) when fewer rows.
        generator: draws the mismatched rows (CPU); default seed 0.
        classes: (N,) class of each row: mismatched captions come from rows of another class only.

    Returns:
        the share of images whose own caption has strictly the highest cosine similarity; chance 1/R.
    """
    n = len(images)
    if tokens.ndim != 2 or len(tokens) != n:
        raise AdvlabError(f"r_precision: expected (N, L) tokens for {n} images, got {tuple(tokens.shape)}")
    count = min(check_int("candidates", candidates, 2), n) - 1
    if count < 1:
        raise AdvlabError("r_precision needs at least 2 images")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    others = mismatched_candidates(n, count, generator, None if classes is None else classes.cpu())
    image_side = F.normalize(embedding.embed_images(images).float().cpu(), dim=1)
    text_side = F.normalize(embedding.embed_text(tokens).float().cpu(), dim=1)
    scores = image_side @ text_side.T
    own = scores.diagonal()
    rivals = scores.gather(1, others)
    return float((own > rivals.max(1).values).double().mean())


def classifier_fid(classifier: AttributeClassifier, real_images: Tensor, fake_images: Tensor) -> float:
    """FID between real and generated images in the attribute classifier's feature space (128 numbers)."""
    return fid(classifier.features(real_images), classifier.features(fake_images))


__all__ = ["AttributeClassifier", "AttributeNet", "attribute_accuracy", "attribute_classifier", "cache_recipe",
           "chance_accuracy", "classifier_fid", "r_precision"]
