"""Domain score: how often a domain classifier takes translated images for the target domain.

CycleGAN's paper judges its translations with AMT perceptual studies and, for labels <-> photos, the FCN score
(Zhu et al. 2017, sec. 5.1.1); on unpaired sets with no labels to score, the classifier counterpart of a
"real or fake?" study is a classifier of the two domains trained on real images: a good A -> B translation is
classified as B far more often than the A images it came from. (The same idea underlies the FCN score of Isola et
al. 2017, sec. 4.2: "if the generated images are realistic, classifiers trained on real images will be able to
classify the synthesized image correctly as well".)

The classifier is advlab.models.SmallCNN (width 8, hidden 32, two classes: 0 = A, 1 = B), trained on the CPU
(seconds) on the *training* images of both domains: Adam (lr 2e-3) for ``steps`` minibatches, each holding
``batch_size / 2`` images of each domain drawn uniformly with replacement (so unequal domain sizes do not bias it),
from a generator seeded with ``seed``; its initial weights are drawn under the same seed without touching torch's
global random state. Its accuracy on the held-out images (balanced: the mean of the per-domain accuracies) is kept
beside it, so a report can say how far the score can be trusted.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.data.image_pairs import ImagePairs
from advlab.models import SmallCNN

DOMAINS = ("A", "B")
EVAL_BATCH = 500


@dataclass
class DomainClassifier:
    """A trained A-vs-B classifier of (N, channels, image_size, image_size) [0, 1] images.

    Attributes:
        network: the SmallCNN (eval mode, CPU); logit 0 is domain A, logit 1 domain B.
        channels: the channels it reads (grey images are repeated to 3 when it reads colour).
        image_size: the side of the images it reads.
        accuracy: balanced accuracy on the held-out images, or None when there were none.
    """

    network: nn.Module
    channels: int
    image_size: int
    accuracy: float | None = None

    def predict(self, images: Tensor) -> Tensor:
        """(N,) int64 domain indices (0 = A, 1 = B) of (N, C, H, W) [0, 1] images, on the CPU."""
        images = _prepare(images, self.channels, self.image_size)
        with torch.no_grad():
            return torch.cat([self.network(chunk).argmax(1) for chunk in images.split(EVAL_BATCH)])


def _prepare(images: Tensor, channels: int, image_size: int) -> Tensor:
    """Images on the CPU as float32 with `channels` channels; a shape the classifier cannot read is an error."""
    if images.ndim != 4 or images.shape[1] not in (1, channels) or tuple(images.shape[-2:]) != (image_size,) * 2:
        raise AdvlabError(f"the domain classifier reads (N, {channels}, {image_size}, {image_size}) images, got "
                          f"shape {tuple(images.shape)}")
    return images.detach().float().cpu().expand(-1, channels, -1, -1)


def train_domain_classifier(data: ImagePairs, seed: int = 0, steps: int = 300, batch_size: int = 64,
                            lr: float = 2e-3) -> DomainClassifier:
    """A classifier of ``data.a`` (domain A) against ``data.b`` (domain B), scored on ``data.held_out``.

    Args:
        data: the unpaired training images (advlab.data.unpaired_sets.load_unpaired); both sides must share their
            height and width, which must be equal (square images).
        seed: seeds the initial weights and the minibatches.
        steps: Adam steps.
        batch_size: images per minibatch, half from each domain.
        lr: Adam's learning rate.
    """
    check_int("seed", seed, 0)
    check_int("steps", steps, 1)
    check_int("batch_size", batch_size, 2)
    check_number("lr", lr, 0.0, strict=True)
    size = data.a.shape[-1]
    if data.a.shape[-2:] != data.b.shape[-2:] or data.a.shape[-2] != size:
        raise AdvlabError(f"the domain classifier needs square images of one size on both sides, got "
                          f"{tuple(data.a.shape[-2:])} and {tuple(data.b.shape[-2:])}")
    channels = max(data.a.shape[1], data.b.shape[1])
    a, b = _prepare(data.a, channels, size), _prepare(data.b, channels, size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = SmallCNN(channels=channels, classes=2, image_size=size, width=8, hidden=32)
    _fit(network, a, b, torch.Generator().manual_seed(seed), steps, batch_size, lr)
    classifier = DomainClassifier(network.eval(), channels, size)
    if data.held_out is not None:
        classifier.accuracy = (domain_score(classifier, data.held_out.a, "A")
                               + domain_score(classifier, data.held_out.b, "B")) / 2
    return classifier


def _fit(network: nn.Module, a: Tensor, b: Tensor, generator: torch.Generator, steps: int, batch_size: int,
         lr: float) -> None:
    """Cross-entropy on balanced minibatches (batch_size // 2 of each domain), Adam."""
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    half = batch_size // 2
    labels = torch.cat([torch.zeros(half, dtype=torch.long), torch.ones(half, dtype=torch.long)])
    network.train()
    for _ in range(steps):
        rows_a = torch.randint(len(a), (half,), generator=generator)
        rows_b = torch.randint(len(b), (half,), generator=generator)
        loss = F.cross_entropy(network(torch.cat([a[rows_a], b[rows_b]])), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def domain_score(classifier: DomainClassifier, images: Tensor, domain: str) -> float:
    """The fraction of ``images`` (N, C, H, W) in [0, 1] that ``classifier`` assigns to ``domain`` ("A" or "B")."""
    if domain not in DOMAINS:
        raise AdvlabError(f"unknown domain {domain!r}; use A or B")
    if len(images) == 0:
        raise AdvlabError("domain_score needs at least one image")
    return float((classifier.predict(images) == DOMAINS.index(domain)).double().mean())


__all__ = ["DOMAINS", "DomainClassifier", "domain_score", "train_domain_classifier"]
