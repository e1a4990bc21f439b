"""Victim classifiers: two small CNNs and an MLP for images in [0, 1] (NCHW) -> logits.

SmallCNN is the usual small network of the adversarial-examples literature's MNIST experiments
(two 3x3 convolution blocks with max pooling, then a hidden fully connected layer, as in
Carlini & Wagner 2017's MNIST model, scaled down): it works for any image size >= 4 and any
channel count. MadryCNN is the MNIST network of Madry, Makelov, Schmidt, Tsipras & Vladu 2018
("Towards deep learning models resistant to adversarial attacks", Section 5 and their
mnist_challenge code): two 5x5 convolutions (32 and 64 maps, 'same' padding) each followed by 2x2
max pooling, a 1024-unit layer and the logits; ``width`` scales it (32 is theirs). The MLP flattens
the image first. All take images as the attacks do, in [0, 1]; put an ``advlab.models.Normalize``
in front of a network trained on standardised inputs. LeNet-5 lives in advlab/models/lenet.py.
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


class MadryCNN(nn.Module):
    """images (N, channels, size, size) -> logits (N, classes): Madry et al. 2018's MNIST network.

    conv5x5(width, padding 2) ReLU maxpool2, conv5x5(2 width, padding 2) ReLU maxpool2, flatten,
    linear(32 width) ReLU, linear(classes). ``width`` 32 gives the paper's 32, 64 and 1024 units
    (3.3 million parameters at 28x28); smaller widths scale every layer down alike.
    """

    def __init__(self, channels: int = 1, classes: int = 10, image_size: int = 28, width: int = 32):
        super().__init__()
        if image_size < 4:
            raise AdvlabError(f"MadryCNN needs images of at least 4x4 pixels, got {image_size}")
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2))
        side = image_size // 4
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * width * side * side, 32 * width), nn.ReLU(),
                                  nn.Linear(32 * width, classes))

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
