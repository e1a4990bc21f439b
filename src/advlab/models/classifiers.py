"""Victim classifiers: a small CNN and an MLP for images in [0, 1] (NCHW) -> logits.

The CNN is the usual small network of the adversarial-examples literature's MNIST experiments
(two 3x3 convolution blocks with max pooling, then a hidden fully connected layer, as in
Carlini & Wagner 2017's MNIST model, scaled down): it works for any image size >= 4 and any
channel count. The MLP flattens the image first. Both take images as the attacks do, in [0, 1];
put an ``advlab.models.Normalize`` in front of a network trained on standardised inputs.
"""

from __future__ import annotations

from torch import Tensor, nn

from advlab.core.errors import AdvlabError


class SmallCNN(nn.Module):
    """images (N, channels, size, size) -> logits (N, classes).

    conv3x3(width) ReLU conv3x3(width) ReLU maxpool2 conv3x3(2 width) ReLU conv3x3(2 width) ReLU
    maxpool2, flatten, linear(hidden) ReLU, linear(classes).
    """

    def __init__(self, channels: int = 1, classes: int = 10, image_size: int = 8, width: int = 32,
                 hidden: int = 128):
        super().__init__()
        if image_size < 4:
            raise AdvlabError(f"SmallCNN needs images of at least 4x4 pixels, got {image_size}")
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        side = image_size // 4
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * width * side * side, hidden), nn.ReLU(),
                                  nn.Linear(hidden, classes))

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.features(images))


class MLPClassifier(nn.Module):
    """images (N, C, H, W) -> logits (N, classes) through `depth` ReLU layers of `width` units."""

    def __init__(self, in_features: int = 64, classes: int = 10, width: int = 256, depth: int = 2):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        features = in_features
        for _ in range(depth):
            layers += [nn.Linear(features, width), nn.ReLU()]
            features = width
        layers.append(nn.Linear(features, classes))
        self.net = nn.Sequential(*layers)

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images)
