"""GAN-INT-CLS's text-conditioned generator and matching-aware discriminator (Reed, Akata, Yan, Logeswaran, Schiele
& Lee 2016, "Generative adversarial text to image synthesis", ICML, sec. 3.2 and fig. 2).

Both players take a text embedding phi(t) (N, E) -- the output of a frozen text encoder (advlab.text2image's
TextEncoder; Reed et al.'s char-CNN-RNN, E = 1024) -- beside the noise or the image, and each compresses it with its
own fully-connected layer to ``projected_dim`` numbers (128 in the paper) followed by leaky ReLU (0.2):

* G (sec. 3.2): z ~ N(0, 1) (``z_dim`` = 100) concatenated with the projected embedding, then a DCGAN stack of
  transposed convolutions with batch norm and ReLU from a ``start`` x ``start`` map (4 x 4 for 64 and 32 px, the
  stacks of advlab.models.dcgan.ladder) up to the image, tanh at the output (mapped to [0, 1] at the boundary).
  ``width`` is ngf, the channels of the layer next to the image (128 in the paper); each step towards the start
  doubles it (ngf * 8 at 4 x 4 for 64 px). ``residual=True`` adds the reference code's bottleneck residual blocks
  (1x1 -> 3x3 -> 3x3 convolutions with batch norm, channels / 4 inside) after the first two stages
  (reedscot/icml2016, main_cls_int.lua); the paper's text describes the plain stack, the default.
* D (sec. 3.2): "several layers of stride-2 convolution with spatial batch normalization followed by leaky ReLU";
  when the map is ``start`` x ``start`` (4 x 4), the embedding, projected by D's own layer (with batch norm, as in
  the reference code), is replicated spatially and depth-concatenated; then a 1 x 1 convolution (batch norm, leaky
  ReLU) and a ``start`` x ``start`` convolution give the score. ``width`` is ndf (64 in the paper), the first
  layer's channels, doubled by each stride-2 layer; no batch norm on the first layer (DCGAN). D returns the
  logit; sigma(logit) is the paper's D(x, h).

Weights as in DCGAN and the reference: convolutions N(0, 0.02) without biases (the reference zeroes them every
step), batch norm scale N(1, 0.02) and zero shift; the linear layers keep torch's default initialisation. Images
are NCHW in [0, 1] at the boundary (D maps its input to [-1, 1] inside).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.core.checks import check_int
from advlab.models.dcgan import init_dcgan_weights, ladder

MODEL = "GAN-INT-CLS"


class BottleneckResidual(nn.Module):
    """x + F(x), F = 1x1 conv (channels / 4) -> BN -> ReLU -> 3x3 -> BN -> ReLU -> 3x3 (back to channels) -> BN: the
    reference generator's residual block (the ReLU after the sum is the next layer's)."""

    def __init__(self, channels: int):
        super().__init__()
        inner = max(1, channels // 4)
        self.branch = nn.Sequential(
            nn.Conv2d(channels, inner, 1, bias=False), nn.BatchNorm2d(inner), nn.ReLU(True),
            nn.Conv2d(inner, inner, 3, padding=1, bias=False), nn.BatchNorm2d(inner), nn.ReLU(True),
            nn.Conv2d(inner, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.branch(x)


def text_projection(embedding_dim: int, projected_dim: int, batch_norm: bool) -> nn.Sequential:
    """phi(t) (N, E) -> (N, projected_dim): a fully-connected layer, batch norm (D's only), leaky ReLU 0.2."""
    layers: list[nn.Module] = [nn.Linear(embedding_dim, projected_dim)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(projected_dim))
    return nn.Sequential(*layers, nn.LeakyReLU(0.2, True))


class TextToImageGenerator(nn.Module):
    """G(z, phi(t)): noise (N, z_dim) and text embeddings (N, embedding_dim) -> images (N, channels, resolution,
    resolution) in [0, 1].

    Args:
        embedding_dim: E, the text encoder's output size.
        z_dim: noise dimensions (100 in the paper).
        projected_dim: the embedding's size after G's fully-connected layer (128 in the paper).
        resolution: image side: 4 to 7 times a power of two (64 in the paper, 32 on a CPU).
        channels: image channels (3).
        width: ngf, channels next to the image (128 in the paper).
        residual: the reference code's residual blocks after the first two stages (off: the paper's text).
    """

    def __init__(self, embedding_dim: int = 128, z_dim: int = 100, projected_dim: int = 128, resolution: int = 64,
                 channels: int = 3, width: int = 128, residual: bool = False):
        super().__init__()
        for name, value in (("embedding_dim", embedding_dim), ("z_dim", z_dim), ("projected_dim", projected_dim),
                            ("channels", channels), ("width", width)):
            check_int(name, value, 1)
        self.embedding_dim, self.z_dim, self.resolution, self.channels = embedding_dim, z_dim, resolution, channels
        start, steps = ladder(resolution, MODEL)
        self.project = text_projection(embedding_dim, projected_dim, batch_norm=False)
        features = width * 2 ** (steps - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim + projected_dim, features, start, 1, 0, bias=False),
                                   nn.BatchNorm2d(features)]
        for stage in range(steps - 1):
            if residual and stage < 2:
                layers.append(BottleneckResidual(features))
            layers += [nn.ReLU(True), nn.ConvTranspose2d(features, features // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(features // 2)]
            features //= 2
        if residual and steps - 1 < 2:
            layers.append(BottleneckResidual(features))
        layers += [nn.ReLU(True), nn.ConvTranspose2d(features, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, z: Tensor, embedding: Tensor) -> Tensor:
        joined = torch.cat([z, self.project(embedding)], dim=1)
        return (self.net(joined[:, :, None, None]) + 1) / 2


class MatchingAwareDiscriminator(nn.Module):
    """D(x, phi(t)): images (N, channels, resolution, resolution) in [0, 1] and text embeddings (N, embedding_dim)
    -> logits (N,) of "a real image that matches the text".

    Args:
        embedding_dim: E, the text encoder's output size.
        projected_dim: the embedding's size after D's fully-connected layer (128 in the paper).
        resolution: image side: 4 to 7 times a power of two (64 in the paper).
        channels: image channels (3).
        width: ndf, the first convolution's channels (64 in the paper).
    """

    def __init__(self, embedding_dim: int = 128, projected_dim: int = 128, resolution: int = 64, channels: int = 3,
                 width: int = 64):
        super().__init__()
        for name, value in (("embedding_dim", embedding_dim), ("projected_dim", projected_dim),
                            ("channels", channels), ("width", width)):
            check_int(name, value, 1)
        self.embedding_dim, self.resolution, self.channels = embedding_dim, resolution, channels
        self.start, steps = ladder(resolution, MODEL)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        features = width
        for _ in range(steps - 1):
            layers += [nn.Conv2d(features, features * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(features * 2),
                       nn.LeakyReLU(0.2, True)]
            features *= 2
        self.image = nn.Sequential(*layers)
        self.project = text_projection(embedding_dim, projected_dim, batch_norm=True)
        self.judge = nn.Sequential(
            nn.Conv2d(features + projected_dim, features, 1, bias=False), nn.BatchNorm2d(features),
            nn.LeakyReLU(0.2, True), nn.Conv2d(features, 1, self.start, 1, 0, bias=False))
        self.apply(init_dcgan_weights)

    def forward(self, images: Tensor, embedding: Tensor) -> Tensor:
        features = self.image(images * 2 - 1)
        text = self.project(embedding)[:, :, None, None].expand(-1, -1, self.start, self.start)
        return self.judge(torch.cat([features, text], dim=1)).flatten()


__all__ = ["MatchingAwareDiscriminator", "TextToImageGenerator"]
