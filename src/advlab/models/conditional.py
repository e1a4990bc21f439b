"""Conditional generators and discriminators: both players are told the class y.

* Mirza & Osindero 2014, "Conditional generative adversarial nets", sec. 3 (eq. 2) and sec. 4:
  min_G max_D E[log D(x|y)] + E[log(1 - D(G(z|y)|y))]; y is joined to the prior noise z in G and
  to the input x in D. Here y joins as a one-hot vector concatenated to z or x (the MLPs), as a
  learned embedding concatenated to z (the DCGAN generator), and as constant label maps stacked
  onto the image channels (the DCGAN discriminator: one-hot maps, or a learned embedding
  broadcast over the pixels).
* Miyato & Koyama 2018, "cGANs with projection discriminator", eq. 3:
  D(x, y) = psi(phi(x)) + <V_y, phi(x)>, phi a convolutional feature map followed by global sum
  pooling, psi a linear map to a scalar and V a learned class embedding (one row per class).
  The paper spectrally normalises every layer, V included (Miyato et al. 2018, "Spectral
  normalization for GANs"); so does `ProjectionDiscriminator(spectral=True)`.

Every module takes int64 labels (N,) in [0, classes) beside its input; a label outside that
range, of the wrong shape or dtype is an AdvlabError (one host-device synchronisation per call,
for the range). Images are NCHW in [0, 1] at the boundary; the DCGAN stacks come from
advlab.models.dcgan, the MLPs from advlab.models.mlp.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from advlab.models.mlp import mlp
from advlab.models.spectral_norm import apply_spectral_norm, spectral_norm


def check_labels(labels: torch.Tensor, count: int, classes: int) -> torch.Tensor:
    """`labels` as int64 if they are `count` class indices in [0, classes); AdvlabError otherwise.

    Args:
        labels: (count,) integer tensor, one class index per sample.
        count: the batch size the labels must match.
        classes: the number of classes.

    Returns:
        The labels as an int64 tensor on their own device.
    """
    if not isinstance(labels, torch.Tensor) or labels.dtype.is_floating_point or labels.dtype == torch.bool:
        kind = labels.dtype if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise AdvlabError(f"labels must be an integer tensor of class indices, got {kind}")
    if labels.shape != (count,):
        raise AdvlabError(f"expected {count} labels as a 1-D tensor, one per sample; got shape {tuple(labels.shape)}")
    if count and not bool(((labels >= 0) & (labels < classes)).all()):
        raise AdvlabError(f"labels must be class indices in [0, {classes}); got values from "
                          f"{int(labels.min())} to {int(labels.max())}")
    return labels.long()


def one_hot(labels: torch.Tensor, classes: int, like: torch.Tensor) -> torch.Tensor:
    """(N, classes) one-hot rows of `labels`, in `like`'s dtype."""
    return F.one_hot(labels, classes).to(like.dtype)


def label_maps(vectors: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """(N, K) label vectors broadcast to (N, K, H, W) constant maps the size of `images`."""
    return vectors[:, :, None, None].expand(-1, -1, images.shape[2], images.shape[3])


class ConditionalMLPGenerator(nn.Module):
    """(z (N, z_dim), labels (N,)) -> points (N, out_features); one-hot y concatenated to z."""

    def __init__(self, z_dim: int = 2, classes: int = 8, out_features: int = 2, width: int = 128, depth: int = 3):
        super().__init__()
        self.z_dim, self.classes = check_int("z_dim", z_dim, 1), check_int("classes", classes, 1)
        self.net = mlp(z_dim + classes, out_features, width, depth, nn.ReLU())

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = check_labels(labels, z.shape[0], self.classes)
        return self.net(torch.cat([z, one_hot(labels, self.classes, z)], dim=1))


class ConditionalMLPDiscriminator(nn.Module):
    """(points (N, in_features), labels (N,)) -> raw scores (N,); one-hot y concatenated to x."""

    def __init__(self, in_features: int = 2, classes: int = 8, width: int = 128, depth: int = 3):
        super().__init__()
        self.classes = check_int("classes", classes, 1)
        self.net = mlp(in_features + classes, 1, width, depth, nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = check_labels(labels, x.shape[0], self.classes)
        return self.net(torch.cat([x, one_hot(labels, self.classes, x)], dim=1)).squeeze(1)


class ConditionalDCGANGenerator(nn.Module):
    """(z (N, z_dim), labels (N,)) -> images (N, channels, resolution, resolution) in [0, 1].

    A learned embedding of y (`embed_dim` numbers, default `z_dim`, initialised N(0, 1) like z)
    is concatenated to z and the result fed to a DCGANGenerator of `z_dim + embed_dim` inputs.
    """

    def __init__(self, z_dim: int = 64, classes: int = 10, resolution: int = 32, channels: int = 1,
                 width: int = 64, embed_dim: int | None = None):
        super().__init__()
        self.z_dim, self.classes = check_int("z_dim", z_dim, 1), check_int("classes", classes, 1)
        embed_dim = z_dim if embed_dim is None else check_int("embed_dim", embed_dim, 1)
        self.embed = nn.Embedding(classes, embed_dim)
        self.body = DCGANGenerator(z_dim + embed_dim, resolution, channels, width)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = check_labels(labels, z.shape[0], self.classes)
        return self.body(torch.cat([z, self.embed(labels)], dim=1))


class ConditionalDCGANDiscriminator(nn.Module):
    """(images (N, channels, resolution, resolution) in [0, 1], labels (N,)) -> raw scores (N,).

    y enters as extra constant input channels: `classes` one-hot maps by default, or, with
    `embed_dim`, a learned embedding of that many numbers broadcast as maps (for many classes).
    Image and maps go together through a DCGANDiscriminator of `channels + maps` input channels,
    whose [0, 1] -> [-1, 1] input map turns the one-hot maps into -1 / +1 planes.
    """

    def __init__(self, resolution: int = 32, classes: int = 10, channels: int = 1, width: int = 64,
                 norm: str = "batch", embed_dim: int | None = None):
        super().__init__()
        self.classes = check_int("classes", classes, 1)
        self.embed = None if embed_dim is None else nn.Embedding(classes, check_int("embed_dim", embed_dim, 1))
        maps = classes if embed_dim is None else embed_dim
        self.body = DCGANDiscriminator(resolution, channels + maps, width, norm)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = check_labels(labels, x.shape[0], self.classes)
        vectors = one_hot(labels, self.classes, x) if self.embed is None else self.embed(labels)
        return self.body(torch.cat([x, label_maps(vectors, x)], dim=1))


class GlobalSumPool(nn.Module):
    """(N, C, H, W) -> (N, C): the sum over pixels (Miyato & Koyama's phi ends this way)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=(2, 3))


class ProjectionDiscriminator(nn.Module):
    """(images (N, channels, resolution, resolution) in [0, 1], labels (N,)) -> raw scores (N,).

    D(x, y) = psi(phi(x)) + <V_y, phi(x)> (Miyato & Koyama 2018, eq. 3). phi is the DCGAN
    discriminator's convolutional stack without its last layer (down to 4x4, or 7x7 at 28, LeakyReLU(0.2))
    followed by global sum pooling; psi is linear; V (`embed`) has one row per class.
    `spectral` spectrally normalises every layer including V; `norm` is the trunk's
    normalisation ("none" by default, as the paper; "batch" or "layer" also work).
    """

    def __init__(self, resolution: int = 32, classes: int = 10, channels: int = 1, width: int = 64,
                 spectral: bool = True, norm: str = "none"):
        super().__init__()
        self.classes = check_int("classes", classes, 1)
        trunk = DCGANDiscriminator(resolution, channels, width, norm).net
        features = trunk[-1].in_channels
        self.phi = nn.Sequential(*trunk[:-1], GlobalSumPool())
        self.psi = nn.Linear(features, 1)
        self.embed = nn.Embedding(classes, features)
        nn.init.xavier_uniform_(self.embed.weight)
        if spectral:  # every conv and linear layer (advlab.models.spectral_norm), and V
            apply_spectral_norm(self)
            spectral_norm(self.embed)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = check_labels(labels, x.shape[0], self.classes)
        features = self.phi(x * 2 - 1)
        projection = (self.embed(labels) * features).sum(dim=1)
        return self.psi(features).squeeze(1) + projection
