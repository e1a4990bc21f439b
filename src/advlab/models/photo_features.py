"""The content network of SRGAN: advlab trains its own, no VGG download.

SRGAN's content loss (Ledig et al. 2017, eq. 5) compares feature maps of a fixed network -- in the paper VGG19
(Simonyan & Zisserman 2015) trained on ImageNet, a 548 MB download. advlab instead trains a small VGG-style network
on the photographs scikit-image ships, on the CPU, in about 15 s of one core, and caches it beside its other feature
networks (advlab.core.cache: the same cache directory, recipe hashing, record, atomic writes and integrity
check).

* Task: which photograph is this patch from? Each of the 14 training photographs (``TRAIN_PHOTOS`` of
  advlab.data.superres_sets: grass, gravel, brick, text, a page, the moon, cells, galaxies, a retina, a rocket, a
  motorcycle, ...) is a class, and every patch is shown under a random flip or quarter turn -- the surrogate classes
  of Exemplar-CNN (Dosovitskiy et al. 2014), one per photograph. Most of them are gray, so colour alone cannot
  name them: the network must tell grass from gravel, text from bricks, by their textures and edges, the cues that
  make VGG's conv features a perceptual measure. Two other choices were measured and dropped: rotation prediction
  (RotNet, Gidaris et al. 2018) stayed at chance (24.7% after 300 steps: grass, gravel, bricks, moon, cells,
  galaxies and fundus have no "up"); and jittering colour and exposure as well (gray at random, contrast and
  brightness) made the features blind to colour, so SRGAN's colours drifted: 20.1 dB on the held-out photos
  against 25.2 dB with this network (x4, 4 blocks of width 32, SRResNet 1500 steps then SRGAN 600 steps).
* Data: ``PATCHES`` random 32x32 patches of the top three quarters of each training photograph (the held-out
  photographs of super-resolution, ``TEST_PHOTOS``, are never used); the bottom quarter (at least 32 rows) gives
  ``HELD_OUT_PATCHES`` patches on which the accuracy is measured (``held_out_accuracy``; chance 1/14; 80.3%,
  80.5%, 74.6% at seeds 0, 1, 2).
* Network (:class:`PhotoVGG`): three VGG stages of two 3x3 convolutions (``WIDTHS`` = 16, 32, 64 channels, each
  with batch norm and ReLU), 2x2 max pooling after the first two; the classifier is a global average pooling and a
  linear layer. The *features* are the last convolution's output after its ReLU (64 channels at 1/4 of the
  resolution): the paper's "phi_{i,j}: the j-th convolution (after activation) before the i-th max pooling" with
  i = 3, j = 2 -- the deepest map of this network, as VGG54 is VGG19's.
* Training: Adam under a one-cycle schedule (Smith & Topin 2017) peaking at ``PEAK_LR``, ``STEPS`` steps of
  ``BATCH`` patches. It runs on the CPU whatever the device, so the cached weights do not depend on it; the global
  RNG is left alone.
* Content scale: the paper multiplies VGG54's maps by 1/12.75 "to obtain VGG losses of a scale that is comparable
  to the MSE loss". advlab calibrates its network the same way: after training, ``content_scale`` s is set so that
  the content loss mean((s phi(bicubic x4) - s phi(HR))^2) over ``CALIBRATION_PATCHES`` 48 px patches of the
  training photographs equals their MSE on [-1, 1] (the paper's MSE loss, SRResNet's objective); s = 0.147 at
  seed 0 (the paper's 1/12.75 = 0.078 for VGG54). It is stored with the weights (a buffer) and SRGAN uses it by default.

Cache: ``advlab.core.cache.features_dir()/photos-texture-32px-<hash12>.safetensors`` and its JSON record
(``advlab features`` lists it); the hash covers the recipe (seed, steps, batch, learning rate, architecture,
photographs). A missing, corrupt or mismatched file is retrained (with a warning on stderr when a file was there),
never silently used.
"""

from __future__ import annotations

import sys
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.cache import CachedNet, Recipe, features_dir, read_cached, write_cached
from advlab.core.checks import check_int
from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError
from advlab.data.superres_sets import TRAIN_PHOTOS, bicubic_upscale, builtin_photo, load_superres

DATA = "photos-texture"
SPLIT = "the bottom quarter of each training photograph (at least 32 rows)"
PATCH = 32
PATCHES = 4096
HELD_OUT_PATCHES = 512
CALIBRATION_PATCHES = 256
CALIBRATION_SCALE = 4
WIDTHS = (16, 32, 64)
STEPS = 300
BATCH = 64
PEAK_LR = 4e-3
ARCHITECTURE = (f"PhotoVGG(widths={','.join(map(str, WIDTHS))},bn)/features=conv3_2.relu/which-photograph/"
                f"patches={PATCHES}x{PATCH}px,top-3/4,flips+turns/photos={','.join(TRAIN_PHOTOS)}/v1")


class PhotoVGG(nn.Module):
    """A VGG-style network: (N, 3, H, W) in [0, 1] -> logits over the training photographs (N, 14); ``features`` ->
    (N, 64, H/4, W/4).

    Args:
        widths: channels of the three stages.
    """

    def __init__(self, widths: tuple[int, int, int] = WIDTHS):
        super().__init__()
        layers: list[nn.Module] = []
        previous = 3
        for stage, width in enumerate(widths):
            if stage:
                layers.append(nn.MaxPool2d(2))
            for _ in range(2):
                layers += [nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
                previous = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(previous, len(TRAIN_PHOTOS)))
        self.register_buffer("content_scale", torch.tensor(1.0))
        self.dim = previous

    def features(self, images: Tensor) -> Tensor:
        """The last convolution's map after its ReLU; gray images (1 channel) are repeated to RGB."""
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        return self.body(images * 2 - 1)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.features(images))


class PhotoFeatures(nn.Module):
    """A frozen feature map phi: (N, 1 or 3, H, W) in [0, 1] -> (N, 64, H/4, W/4), for SRGAN's content loss.

    Always in eval mode (``train()`` cannot leave it) with its parameters frozen; gradients flow to the images (the
    generator's step needs them). ``content_scale`` is the calibrated s of eq. 5 (module docstring).
    """

    def __init__(self, network: PhotoVGG, held_out_accuracy: float = float("nan")):
        super().__init__()
        self.network = network
        self.held_out_accuracy = held_out_accuracy
        self.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> PhotoFeatures:
        """Stays in eval mode whatever `mode` says: a content network is never trained here."""
        return super().train(False)

    @property
    def content_scale(self) -> float:
        return float(self.network.content_scale)

    @property
    def dim(self) -> int:
        return self.network.dim

    def forward(self, images: Tensor) -> Tensor:
        return self.network.features(images)


# ---------------------------------------------------------------------- training


def make_recipe(seed: int = 0, steps: int | None = None) -> Recipe:
    """The recipe of the photo network as an advlab.metrics.features.Recipe (so that its cache, records and
    ``list_cached`` serve it): ``epochs`` holds the steps, ``image_size`` the patch side, ``held_out_fraction`` 0
    (the held-out patches are the bottom quarter of each photograph, not a fraction of rows)."""
    return Recipe(data=DATA, image_size=PATCH, seed=check_int("seed", seed, 0),
                  epochs=STEPS if steps is None else check_int("steps", steps, 1), max_shift=0, batch_size=BATCH,
                  peak_lr=PEAK_LR, held_out_fraction=0.0, architecture=ARCHITECTURE)


def split_photos(photos: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
    """Each photograph cut into its top part (training) and its bottom ``max(PATCH, H // 4)`` rows (held out)."""
    cuts = [photo.shape[-2] - max(PATCH, photo.shape[-2] // 4) for photo in photos]
    return [p[:, :cut] for p, cut in zip(photos, cuts)], [p[:, cut:] for p, cut in zip(photos, cuts)]


def random_patches(photos: list[Tensor], count: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """`count` PATCH x PATCH crops and the index of their photograph: a photograph uniformly, a position
    uniformly."""
    labels = torch.randint(len(photos), (count,), generator=generator)
    uniforms = torch.rand(count, 2, generator=generator, dtype=torch.float64)
    patches = torch.empty(count, 3, PATCH, PATCH)
    for k in range(count):
        photo = photos[int(labels[k])]
        y = int(uniforms[k, 0] * (photo.shape[-2] - PATCH + 1))
        x = int(uniforms[k, 1] * (photo.shape[-1] - PATCH + 1))
        patches[k] = photo[:, y:y + PATCH, x:x + PATCH]
    return patches, labels


def jitter(patches: Tensor, generator: torch.Generator) -> Tensor:
    """One of the 8 flips and quarter turns of each (N, 3, h, w) patch (Exemplar-CNN's geometric invariances,
    Dosovitskiy et al. 2014), so that orientation names no photograph. Colour and exposure are left alone: a content
    loss must see them (module docstring)."""
    codes = torch.randint(8, (len(patches),), generator=generator)
    out = torch.empty_like(patches)
    for code in range(8):
        rows = codes == code
        turned = torch.rot90(patches[rows], code % 4, dims=(-2, -1))
        out[rows] = turned.flip(-1) if code >= 4 else turned
    return out


def fit(model: PhotoVGG, patches: Tensor, labels: Tensor, recipe: Recipe, generator: torch.Generator) -> None:
    """`recipe.epochs` Adam steps of `recipe.batch_size` jittered patches on the photograph's index."""
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.peak_lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.peak_lr, total_steps=recipe.epochs)
    model.train()
    for _ in range(recipe.epochs):
        rows = torch.randint(len(patches), (recipe.batch_size,), generator=generator)
        loss = F.cross_entropy(model(jitter(patches[rows], generator)), labels[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    model.eval()


@torch.no_grad()
def accuracy(model: PhotoVGG, patches: Tensor, labels: Tensor, generator: torch.Generator) -> float:
    """Share of jittered held-out patches whose photograph `model` names."""
    return float((model(jitter(patches, generator)).argmax(1) == labels).double().mean())


@torch.no_grad()
def calibrate(model: PhotoVGG, seed: int) -> float:
    """s such that mean((s phi(bicubic x4) - s phi(HR))^2) = the MSE of those images on [-1, 1], over
    ``CALIBRATION_PATCHES`` 48 px patches of the training photographs (module docstring)."""
    data = load_superres("photos", scale=CALIBRATION_SCALE, count=CALIBRATION_PATCHES, seed=seed)
    upscaled = bicubic_upscale(data.a, CALIBRATION_SCALE)
    pixel_mse = 4 * F.mse_loss(upscaled, data.b)
    feature_mse = F.mse_loss(model.features(upscaled), model.features(data.b))
    return float(torch.sqrt(pixel_mse / feature_mse))


def train_recipe(recipe: Recipe, progress: bool) -> tuple[CachedNet, dict[str, Tensor]]:
    """Train the photo network of `recipe` on the CPU, calibrate its content scale, cache it, return it."""
    if progress:
        print(f"advlab: training the photo feature network (textures of scikit-image's photographs, seed "
              f"{recipe.seed}, {recipe.epochs} steps); it will be cached in {features_dir()}", file=sys.stderr)
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(recipe.seed)
    train_parts, held_parts = split_photos([builtin_photo(name) for name in TRAIN_PHOTOS])
    patches, labels = random_patches(train_parts, PATCHES, generator)
    held_patches, held_labels = random_patches(held_parts, HELD_OUT_PATCHES, generator)
    with torch.random.fork_rng(devices=[]):  # seeded initialisation that leaves the global RNG alone
        torch.manual_seed(recipe.seed)
        model = PhotoVGG()
    fit(model, patches, labels, recipe, generator)
    held_out = accuracy(model, held_patches, held_labels, generator)
    model.content_scale.fill_(calibrate(model, recipe.seed))
    cached = write_cached(recipe, model, held_out, len(held_patches), time.perf_counter() - start, split=SPLIT,
                          extra={"content_scale": float(model.content_scale)})
    return cached, model.state_dict()


def train_photo_features(seed: int = 0, steps: int | None = None, force: bool = False,
                         progress: bool = True) -> CachedNet:
    """Train (or find in the cache) the photo feature network.

    Args:
        seed: seeds the patches, the initialisation and the minibatches.
        steps: Adam steps (default ``STEPS``).
        force: retrain even if a valid cached network exists.
        progress: a line on stderr when training starts.
    """
    return _cached_or_trained(make_recipe(seed, steps), progress, force)[0]


def _cached_or_trained(recipe: Recipe, progress: bool, force: bool = False) -> tuple[CachedNet, dict[str, Tensor]]:
    found = None if force else read_cached(recipe)
    if found is not None:
        return found
    with torch.random.fork_rng(devices=[]):  # training leaves the caller's global RNG as it was: a warm or a cold
        return train_recipe(recipe, progress)  # cache gives a run the same draws


def photo_features(device: str | torch.device = "cpu", seed: int = 0, steps: int | None = None,
                   progress: bool = True) -> PhotoFeatures:
    """advlab's content network for SRGAN, frozen and in eval mode on `device` (trained first if not cached).

    Args:
        device: ``cpu``, ``cuda``, ``cuda:N``, ``auto`` or a ``torch.device``.
        seed, steps: the recipe (see :func:`train_photo_features`).
        progress: a line on stderr when it has to be trained.

    Returns:
        a :class:`PhotoFeatures`: [0, 1] images (N, 1 or 3, H, W) -> feature maps (N, 64, H/4, W/4).
    """
    target = device if isinstance(device, torch.device) else resolve_device(device)
    recipe = make_recipe(seed, steps)
    cached, tensors = _cached_or_trained(recipe, progress)
    network = PhotoVGG()
    try:
        network.load_state_dict(tensors)
    except RuntimeError:
        raise AdvlabError(f"cached photo feature network {recipe.stem} does not fit its architecture; delete "
                          f"{cached.weights} to retrain it") from None
    return PhotoFeatures(network, cached.held_out_accuracy).to(target)


@torch.no_grad()
def feature_distance(x: Tensor, y: Tensor, network: nn.Module | None = None) -> Tensor:
    """Per-image content loss between `x` and `y`: mean((s phi(x) - s phi(y))^2) over channels and positions, (N,).

    The evaluation's "closer in feature space" (SRGAN's outputs should be closer to the originals than SRResNet's,
    Ledig et al. 2017, sec. 4). `network` defaults to :func:`photo_features` on `x`'s device; s is its
    ``content_scale`` (1 if it has none).

    Args:
        x, y: (N, C, H, W) in [0, 1], the same shape.
    """
    if x.shape != y.shape or x.ndim != 4:
        raise AdvlabError(f"images to compare must share one (N, C, H, W) shape, found {tuple(x.shape)} and "
                          f"{tuple(y.shape)}")
    network = photo_features(x.device, progress=False) if network is None else network
    scale = float(getattr(network, "content_scale", 1.0))
    device = next(network.parameters()).device
    difference = scale * (network(x.to(device).float()) - network(y.to(device).float()))
    return difference.pow(2).flatten(1).mean(1).cpu()


__all__ = ["PhotoFeatures", "PhotoVGG", "feature_distance", "make_recipe", "photo_features", "train_photo_features"]
