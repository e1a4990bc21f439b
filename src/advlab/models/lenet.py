"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to document
recognition", Section II.B and Fig. 2), adapted as the usual modern MNIST victim.

The paper's layers, in its names: C1 5x5 convolution to 6 maps, S2 2x2 subsampling, C3 5x5
convolution to 16 maps, S4 2x2 subsampling, C5 120 units, F6 84 units, and 10 outputs. The
adaptations every modern re-implementation makes: ReLU instead of the scaled tanh, max pooling
instead of the trainable subsampling, C3 connected to all of S2's maps (not the paper's Table I),
C5 as a fully connected layer, and plain logits instead of the Euclidean RBF outputs. The paper
fed 28x28 digits padded to 32x32; here C1 pads by 2 pixels instead, so 28x28 images give C1
28x28 maps, S2 14x14, C3 10x10 and S4 5x5, as in Fig. 2.
"""

from __future__ import annotations

from torch import Tensor, nn

from advlab.core.errors import AdvlabError

KERNEL = 5
MIN_SIZE = 12  # C1 keeps the size, S2 halves it, C3 takes 4 pixels off, S4 halves: 12 -> 1


class LeNet5(nn.Module):
    """images (N, channels, size, size) in [0, 1] -> logits (N, classes).

    conv5x5(6, padding 2) ReLU maxpool2, conv5x5(16) ReLU maxpool2, flatten, linear(120) ReLU,
    linear(84) ReLU, linear(classes). About 62,000 parameters at 28x28; images of at least 12x12.
    """

    def __init__(self, channels: int = 1, classes: int = 10, image_size: int = 28):
        super().__init__()
        if image_size < MIN_SIZE:
            raise AdvlabError(f"LeNet5 needs images of at least {MIN_SIZE}x{MIN_SIZE} pixels, got {image_size}x"
                              f"{image_size}; pass --image-size 28")
        self.features = nn.Sequential(
            nn.Conv2d(channels, 6, KERNEL, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, KERNEL), nn.ReLU(), nn.MaxPool2d(2))
        side = (image_size // 2 - (KERNEL - 1)) // 2
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * side * side, 120), nn.ReLU(),
                                  nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, classes))

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.features(images))


__all__ = ["LeNet5"]
