"""The text encoder advlab trains: a structured joint embedding of captions and images.

GAN-INT-CLS (Reed, Akata, Yan, Logeswaran, Schiele & Lee 2016, sec. 3.1) conditions its players on a text embedding
phi(t) that was trained beforehand, and kept fixed, with the *deep symmetric structured joint embedding* of Reed,
Akata, Lee & Schiele 2016 ("Learning deep representations of fine-grained visual descriptions", CVPR, sec. 3).
That paper learns an image encoder theta(v) and a text encoder phi(t) whose compatibility

    F(v, t) = theta(v)^T phi(t)                                              (eq. 3)

classifies in both directions, f_v(v) = argmax_y E_{t~T(y)} F(v, t) and f_t(t) = argmax_y E_{v~V(y)} F(v, t)
(eq. 2), by minimising the symmetric empirical risk

    1/N sum_n  Delta(y_n, f_v(v_n)) + Delta(y_n, f_t(t_n))                   (eq. 1)

through a convex surrogate of the 0-1 loss Delta. Their code uses a hinge (structured SVM) surrogate over a
minibatch holding one image and one caption per class. advlab minimises the *softmax cross-entropy* surrogate by
default (``form="softmax"``; ``"hinge"`` is the paper's): over a minibatch of B (image, caption) pairs, each image
classifies the B captions and each caption the B images, cosine compatibilities divided by a temperature 0.1,

    L = 1/(2B) sum_i [ -log softmax_j F(v_i, t_j)[i]  -log softmax_j F(v_j, t_i)[i] ],

and a pair (i, j != i) whose images share a class (the same attributes, or the same captions on the user's files)
is left out of both softmaxes: its caption describes image i as well, so it is no misclassification (the class
structure of eq. 2, where the paper's minibatches simply hold one image per class).

The networks (sized for a CPU; the paper's are GoogLeNet and a character-level CNN-RNN):

* text: a word embedding (``word_dim`` 64) read by a bidirectional GRU (``hidden`` 128 each way; padding skipped);
  the two final states, concatenated, go through a linear layer to ``embedding_dim`` (128) and are scaled to unit
  length -- phi(t), what ``TextEncoder`` returns and GAN-INT-CLS takes;
* image: four 3x3 convolutions (width 32, 64, 128, 128; stride 2 but the last) with batch norm and ReLU,
  average-pooled to 4x4 (so position survives), a 256-unit hidden layer and a linear layer to ``embedding_dim``,
  unit length -- theta(v).

Both are trained together with Adam under a one-cycle learning-rate schedule (peak 2e-3, minibatch 128,
``EPOCHS`` passes over the training images, each image with one of its K captions drawn anew every pass), always on
the CPU, seeded, so the cached weights do not depend on the device. The result is cached as the feature networks
are (advlab.metrics.features: ``cache_dir()/features/<data>.joint-embedding-<size>px-<hash12>.safetensors`` plus
its JSON record); the recipe's hash covers the data's fingerprint (images, captions, attributes, vocabulary), the
seed, the schedule and ``ARCHITECTURE``, so another data set, seed or version trains a new one. The record's
``held_out_accuracy`` is the held-out R-precision (advlab.metrics.text_image.r_precision, 100 candidates).

Measured (``EPOCHS`` 4, one thread, at load ~4 on 2 shared cores; about half that on an idle core): on
captioned-shapes (32 px, 9,000 training images) 30-37 s of training, held-out R-precision 0.947 / 0.964 / 0.959 at
seeds 1 / 0 / 2 with the first caption of each of the 1,000 held-out images (0.96 with a random one of its 10;
0.90 when the 99 rivals may come from images of the same attributes, AttnGAN's plain draw); on captioned-digits 36 s,
0.915 (0.68 with rivals of any row: many digits share digit, colour and position). Chance is 0.01.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from safetensors.torch import save as safetensors_to_bytes
from torch import Tensor, nn
from tqdm import tqdm

from advlab.core.cache import Recipe, read_cached, write_cached
from advlab.core.checkpoints import atomic_write_bytes, parse_safetensors, read_bytes, safetensors_metadata
from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.data.vocabulary import Vocabulary
from advlab.metrics.text_image import cache_recipe, r_precision

if TYPE_CHECKING:
    from advlab.data.captioned_sets import CaptionedImages

FORMAT = "advlab-joint-embedding/1"
ARCHITECTURE = "joint-embedding/word64-bigru128/cnn32s2-64s2-128s2-128-pool4-256/softmax-t0.1/v1"
EMBEDDING_DIM, WORD_DIM, HIDDEN, WIDTH = 128, 64, 128, 32
TEMPERATURE = 0.1
EPOCHS = 4
BATCH = 128
PEAK_LR = 2e-3
CANDIDATES = 100
FORMS = ("softmax", "hinge")


# ---------------------------------------------------------------------- the networks


class TextEncoder(nn.Module):
    """tokens (N, L) int64, padded with 0 at the end -> phi(t) (N, embedding_dim), unit length.

    Args:
        vocabulary_size: words known, padding included.
        embedding_dim: D, the width of phi(t).
        word_dim: width of the word embedding.
        hidden: GRU units per direction.
    """

    def __init__(self, vocabulary_size: int, embedding_dim: int = EMBEDDING_DIM, word_dim: int = WORD_DIM,
                 hidden: int = HIDDEN):
        super().__init__()
        self.words = nn.Embedding(vocabulary_size, word_dim, padding_idx=0)
        self.gru = nn.GRU(word_dim, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, embedding_dim)

    @property
    def embedding_dim(self) -> int:
        return self.out.out_features

    def forward(self, tokens: Tensor) -> Tensor:
        if tokens.ndim != 2 or tokens.dtype != torch.int64:
            raise AdvlabError(f"the text encoder takes (N, L) int64 tokens, got {tuple(tokens.shape)} {tokens.dtype}")
        lengths = (tokens != 0).sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.words(tokens), lengths, batch_first=True,
                                                   enforce_sorted=False)
        _, final = self.gru(packed)  # (2, N, hidden): the forward and the backward direction's last state
        return F.normalize(self.out(torch.cat([final[0], final[1]], 1)).float(), dim=1)


class ImageEncoder(nn.Module):
    """images (N, C, H, W) in [0, 1] -> theta(v) (N, embedding_dim), unit length.

    Args:
        channels: C.
        embedding_dim: D.
        width: channels of the first convolution (then 2x, 4x, 4x).
    """

    def __init__(self, channels: int = 3, embedding_dim: int = EMBEDDING_DIM, width: int = WIDTH):
        super().__init__()
        plan = ((width, 2), (2 * width, 2), (4 * width, 2), (4 * width, 1))
        layers, previous = [], channels
        for out, stride in plan:
            layers += [nn.Conv2d(previous, out, 3, stride=stride, padding=1, bias=False),
                       nn.BatchNorm2d(out), nn.ReLU()]
            previous = out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(16 * previous, 256), nn.ReLU(), nn.Linear(256, embedding_dim))

    def forward(self, images: Tensor) -> Tensor:
        return F.normalize(self.head(self.features(images * 2 - 1)).float(), dim=1)


# ---------------------------------------------------------------------- the loss (eq. 1)


def joint_embedding_loss(image_embeddings: Tensor, text_embeddings: Tensor, classes: Tensor | None = None,
                         form: str = "softmax", temperature: float = TEMPERATURE, margin: float = 1.0) -> Tensor:
    """The symmetric structured joint embedding loss (Reed, Akata, Lee & Schiele 2016, eq. 1) on a minibatch.

    F[i, j] = theta(v_i) . phi(t_j) (eq. 3). Pairs (i, j != i) of the same class are left out (they are not
    misclassifications).

    * ``"softmax"``: 1/(2B) sum_i [CE(F[i, :] / temperature, i) + CE(F[:, i] / temperature, i)];
    * ``"hinge"`` (the structured SVM surrogate of the paper's code): sum over i and j of another class of
      [max(0, margin + F[i, j] - F[i, i]) + max(0, margin + F[j, i] - F[i, i])], divided by B (B - 1).

    Args:
        image_embeddings, text_embeddings: (B, D); row i of each is a matching pair.
        classes: (B,) class of each pair, or None (every pair its own class).
        form: ``"softmax"`` or ``"hinge"``.
        temperature: the softmax form's divisor.
        margin: the hinge form's margin.
    """
    if form not in FORMS:
        raise AdvlabError(f"joint embedding loss form must be one of {', '.join(FORMS)}, got {form!r}")
    scores = image_embeddings @ text_embeddings.T
    batch = len(scores)
    eye = torch.eye(batch, dtype=torch.bool, device=scores.device)
    same = eye if classes is None else (classes[:, None] == classes[None, :])
    excluded = same & ~eye
    if form == "softmax":
        logits = (scores / temperature).masked_fill(excluded, float("-inf"))
        targets = torch.arange(batch, device=scores.device)
        return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
    diagonal = scores.diagonal()
    image_side = (margin + scores - diagonal[:, None]).clamp(min=0)  # image i against caption j
    text_side = (margin + scores.T - diagonal[:, None]).clamp(min=0)  # caption i against image j
    total = ((image_side + text_side) * (~same)).sum()
    return total / max(1, batch * (batch - 1))


# ---------------------------------------------------------------------- the pair of encoders


class JointEmbedding:
    """A trained text encoder and image encoder, with the vocabulary they read.

    Both modules stay in eval mode with gradients off (GAN-INT-CLS keeps phi fixed); ``text`` is what a GAN calls
    on token batches inside its own forward pass (on its device, under its autocast).

    Attributes:
        text: the :class:`TextEncoder` (tokens (N, L) -> (N, D)).
        image: the :class:`ImageEncoder` (images (N, C, H, W) in [0, 1] -> (N, D)).
        vocabulary: the words it knows.
        data_name: the data set it was trained on.
        caption_length: L, the words per encoded caption.
        image_shape: [C, H, W] of the images it was trained on.
        held_out_r_precision: R-precision of the held-out images with their own captions (NaN if unknown).
        train_seconds: training time (NaN if unknown); trained: whether this call trained it.
    """

    def __init__(self, text: TextEncoder, image: ImageEncoder, vocabulary: Vocabulary, data_name: str,
                 caption_length: int, image_shape: list[int], held_out_r_precision: float = math.nan,
                 train_seconds: float = math.nan, trained: bool = False):
        self.text, self.image = text, image
        self.vocabulary, self.data_name = vocabulary, data_name
        self.caption_length, self.image_shape = caption_length, list(image_shape)
        self.held_out_r_precision, self.train_seconds, self.trained = held_out_r_precision, train_seconds, trained
        for module in (text, image):
            module.requires_grad_(False)
            module.eval()

    def __repr__(self) -> str:
        return (f"JointEmbedding(data={self.data_name!r}, dim={self.dim}, words={len(self.vocabulary)}, "
                f"held-out R-precision={self.held_out_r_precision:.3f})")

    @property
    def dim(self) -> int:
        """D, the width of both embeddings."""
        return self.text.embedding_dim

    @property
    def device(self) -> torch.device:
        return next(self.text.parameters()).device

    def to(self, device: torch.device | str) -> JointEmbedding:
        """Both encoders on `device` (in place); returns self."""
        self.text.to(device)
        self.image.to(device)
        return self

    def encode(self, captions: list[str]) -> Tensor:
        """(M, L) tokens of `captions`; AdvlabError naming a word the encoder never saw."""
        return self.vocabulary.encode_all(captions, self.caption_length)

    @torch.no_grad()
    def embed_text(self, tokens: Tensor, batch_size: int = 1000) -> Tensor:
        """phi(t) of (N, L) tokens: (N, D) float32 on the CPU."""
        self.text.eval()
        return torch.cat([self.text(batch.to(self.device)).cpu() for batch in tokens.split(batch_size)])

    @torch.no_grad()
    def embed_images(self, images: Tensor, batch_size: int = 500) -> Tensor:
        """theta(v) of (N, C, H, W) images in [0, 1]: (N, D) float32 on the CPU."""
        if images.ndim != 4 or list(images.shape[1:2]) != self.image_shape[:1]:
            raise AdvlabError(f"the image encoder takes (N, {self.image_shape[0]}, H, W) images, got "
                              f"{tuple(images.shape)}")
        self.image.eval()
        return torch.cat([self.image(batch.to(self.device)).cpu() for batch in images.split(batch_size)])

    def text_embeddings(self, captions: list[str]) -> Tensor:
        """phi(t) of caption texts: (M, D) float32 on the CPU."""
        return self.embed_text(self.encode(captions))

    def meta(self) -> dict:
        """What rebuilds the networks besides their tensors (JSON)."""
        return {"format": FORMAT, "architecture": ARCHITECTURE, "vocabulary": self.vocabulary.to_json(),
                "data_name": self.data_name, "caption_length": self.caption_length, "image_shape": self.image_shape,
                "embedding_dim": self.dim, "word_dim": self.text.words.embedding_dim,
                "hidden": self.text.gru.hidden_size, "width": self.image.features[0].out_channels,
                "held_out_r_precision": self.held_out_r_precision}

    def state(self) -> tuple[dict[str, Tensor], dict]:
        """(tensors ``text.*`` and ``image.*`` on the CPU, meta): store both in a run's checkpoint or files and
        rebuild with :func:`load_joint_embedding`."""
        tensors = {f"text.{k}": v.detach().cpu() for k, v in self.text.state_dict().items()}
        tensors.update({f"image.{k}": v.detach().cpu() for k, v in self.image.state_dict().items()})
        return tensors, self.meta()


def build_encoders(vocabulary_size: int, channels: int, embedding_dim: int = EMBEDDING_DIM, word_dim: int = WORD_DIM,
                   hidden: int = HIDDEN, width: int = WIDTH, seed: int = 0) -> tuple[TextEncoder, ImageEncoder]:
    """Fresh encoders, initialised from `seed` (default 0) without touching torch's global generator."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return (TextEncoder(vocabulary_size, embedding_dim, word_dim, hidden),
                ImageEncoder(channels, embedding_dim, width))


def load_joint_embedding(source: str | Path | dict[str, Tensor], meta: dict | None = None) -> JointEmbedding:
    """A joint embedding from a file written by :func:`save_joint_embedding`, or from ``state()``'s tensors and meta.

    Args:
        source: the ``.safetensors`` path, or the tensors (keys ``text.*``, ``image.*``; other keys are ignored,
            so a whole checkpoint's tensors may be passed with the prefix already stripped).
        meta: ``state()``'s meta when `source` is tensors.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        payload = read_bytes(path)
        tensors = parse_safetensors(payload, path)
        try:
            meta = json.loads(safetensors_metadata(payload, str(path)).get("joint_embedding", ""))
        except ValueError:
            raise AdvlabError(f"{path} is no advlab joint embedding (no description in its header)") from None
    else:
        tensors = source
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise AdvlabError("not an advlab joint embedding record (format advlab-joint-embedding/1)")
    vocabulary = Vocabulary.from_json(meta["vocabulary"])
    text, image = build_encoders(len(vocabulary), meta["image_shape"][0], meta["embedding_dim"], meta["word_dim"],
                                 meta["hidden"], meta["width"])
    for prefix, module in (("text", text), ("image", image)):
        wanted = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        try:
            module.load_state_dict(wanted)
        except RuntimeError:
            raise AdvlabError(f"the stored {prefix} encoder does not fit its description") from None
    return JointEmbedding(text, image, vocabulary, meta["data_name"], meta["caption_length"], meta["image_shape"],
                          float(meta.get("held_out_r_precision", math.nan)))


def save_joint_embedding(embedding: JointEmbedding, path: str | Path) -> Path:
    """Write `embedding` to one ``.safetensors`` file (its meta in the header), atomically."""
    tensors, meta = embedding.state()
    payload = safetensors_to_bytes({k: v.contiguous() for k, v in tensors.items()},
                                   metadata={"joint_embedding": json.dumps(meta)})
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, payload)
    except OSError as error:
        raise AdvlabError(f"cannot write {path}: {error.strerror or error}") from None
    return path


# ---------------------------------------------------------------------- training and the cache


def fit_joint_embedding(text: TextEncoder, image: ImageEncoder, data: CaptionedImages, recipe: Recipe,
                        generator: torch.Generator, progress: bool = False, form: str = "softmax") -> None:
    """Train both encoders on `data` (CPU): Adam, one-cycle schedule, `recipe.epochs` passes of minibatches."""
    params = [*text.parameters(), *image.parameters()]
    batches = math.ceil(len(data) / recipe.batch_size)
    optimizer = torch.optim.Adam(params, lr=recipe.peak_lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe.peak_lr, total_steps=recipe.epochs * batches)
    bar = tqdm(total=recipe.epochs * batches, disable=not progress, unit="batch", file=sys.stderr,
               desc=f"text encoder {data.name}", dynamic_ncols=True)
    text.train()
    image.train()
    images, tokens, classes = data.images.cpu(), data.tokens.cpu(), data.classes.cpu()
    for _ in range(recipe.epochs):
        order = torch.randperm(len(data), generator=generator)
        which = torch.randint(data.captions_per_image, (len(data),), generator=generator)
        for first in range(0, len(order), recipe.batch_size):
            rows = order[first:first + recipe.batch_size]
            if len(rows) < 2:
                continue
            loss = joint_embedding_loss(image(images[rows]), text(tokens[rows, which[rows]]), classes[rows], form)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.update(1)
    bar.close()
    text.eval()
    image.eval()


def train_joint_embedding(data: CaptionedImages, recipe: Recipe, progress: bool) -> tuple[dict[str, Tensor], float,
                                                                                            float]:
    """Train on the CPU, measure the held-out R-precision, cache; (state dict of both, R-precision, seconds)."""
    print(f"advlab: training the text encoder on {data.name} ({recipe.epochs} epochs, seed {recipe.seed}); it will "
          f"be cached as {recipe.stem}", file=sys.stderr)
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(recipe.seed)
    text, image = build_encoders(len(data.vocabulary), data.image_shape[0], seed=recipe.seed)
    cpu = data.to("cpu")
    fit_joint_embedding(text, image, cpu, recipe, generator, progress)
    judged = cpu.held_out if cpu.held_out is not None else cpu
    embedding = JointEmbedding(text, image, data.vocabulary, data.name, data.caption_length, data.image_shape)
    first = torch.zeros(len(judged), dtype=torch.int64)
    score = r_precision(embedding, judged.images, judged.tokens[torch.arange(len(judged)), first],
                        generator=torch.Generator().manual_seed(recipe.seed), classes=judged.classes)
    seconds = time.perf_counter() - start
    pair = _Pair(text, image)
    write_cached(recipe, pair, score, len(judged), seconds, split="the data set's own held-out images",
                 extra={"held_out_accuracy_is": f"R-precision at {CANDIDATES} candidates (advlab.metrics."
                                                "text_image.r_precision), the first caption of each held-out image",
                        "data_name": data.name})
    return pair.state_dict(), score, seconds


class _Pair(nn.Module):
    """Both encoders under one state dict (``text.*``, ``image.*``), as cached."""

    def __init__(self, text: TextEncoder, image: ImageEncoder):
        super().__init__()
        self.text, self.image = text, image


def make_recipe(data: CaptionedImages, seed: int = 0, epochs: int | None = None) -> Recipe:
    """The cache recipe of `data`'s joint embedding (advlab.metrics.text_image.cache_recipe)."""
    epochs = EPOCHS if epochs is None else check_int("epochs", epochs, 1)
    return cache_recipe(data, "joint-embedding", ARCHITECTURE, check_int("seed", seed, 0), epochs, BATCH, PEAK_LR)


def joint_embedding(data: CaptionedImages, seed: int = 0, epochs: int | None = None, progress: bool = False,
                    force: bool = False) -> JointEmbedding:
    """The joint embedding of `data`'s training images and captions: from the cache, trained first when missing.

    Args:
        data: a :class:`advlab.data.captioned_sets.CaptionedImages` (its ``held_out`` part is only judged).
        seed: initialisation, minibatch order and caption draws.
        epochs: passes over the training images (default ``EPOCHS``).
        progress: a progress bar on stderr while training.
        force: retrain even if a valid cached one exists.

    Returns:
        a :class:`JointEmbedding` on the CPU, eval mode, gradients off.
    """
    recipe = make_recipe(data, seed, epochs)
    found = None if force else read_cached(recipe)
    if found is not None:
        cached, tensors = found
        score, seconds, trained = cached.held_out_accuracy, cached.train_seconds, False
    else:
        tensors, score, seconds = train_joint_embedding(data, recipe, progress)
        trained = True
    text, image = build_encoders(len(data.vocabulary), data.image_shape[0])
    pair = _Pair(text, image)
    try:
        pair.load_state_dict(tensors)
    except RuntimeError:
        raise AdvlabError(f"cached text encoder {recipe.stem} does not fit its architecture; retrain it with "
                          "force=True") from None
    return JointEmbedding(text, image, data.vocabulary, data.name, data.caption_length, data.image_shape, score,
                          seconds, trained)


__all__ = ["ImageEncoder", "JointEmbedding", "TextEncoder", "joint_embedding", "joint_embedding_loss",
           "load_joint_embedding", "save_joint_embedding"]
