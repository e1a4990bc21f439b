"""Mode counting on digits (10 modes) and stacked digits (1000 modes) with advlab's digit feature classifiers.

Metz et al. 2017, "Unrolled Generative Adversarial Networks" (sec. 3.3), and Srivastava et al.
2017, "VEEGAN" (sec. 5.2), measure mode collapse on stacked MNIST by classifying each of the three
channels of a generated image with a pre-trained digit classifier: the image's mode is the triple (a, b, c),
numbered ``100 a + 10 b + c``. They report

* the number of modes covered: modes that at least one sample falls into (out of 1000);
* KL(p || u): the KL divergence, in nats, from the histogram p of the samples' modes to the uniform
  distribution u of the data, ``sum_k p_k log(1000 p_k)``, 0 log 0 = 0.

Here the classifier is one of advlab's feature networks (:func:`advlab.metrics.features.load_feature_net`):
by default the MNIST network for 28x28 images (MNIST and stacked MNIST, as in the papers) and the 8x8 digits
network for any other size, or the one given; the counting is :func:`advlab.metrics.modes.label_modes`. On plain
digits the modes are the 10 classes.
A sample is counted whatever it looks like: a garbage image still lands in the mode the classifier picks,
so read these figures beside a quality measure (FID, precision).
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from advlab.core.errors import AdvlabError
from advlab.data.stacked_digits import STACKED_CHANNELS, STACKED_MODES, stack_labels
from advlab.metrics.features import NATIVE_SIZE, FeatureNet, as_images, load_feature_net
from advlab.metrics.modes import LabelModes, label_modes

DIGIT_CLASSES = 10


def default_spec(side: int) -> str:
    """The network that counts the modes of `side` x `side` images: the one trained at that native size (mnist
    at 28), else digits."""
    return next((data for data, size in NATIVE_SIZE.items() if size == side), "digits")


def digits_classifier(net: FeatureNet | str | None, images: Tensor) -> FeatureNet:
    """`net` (a FeatureNet, or a spec such as ``"mnist"``), or the default for the images' size if None;
    anything but a 10-class grayscale classifier is refused."""
    if net is None:
        net = default_spec(images.shape[-1])
    if isinstance(net, str):
        net = load_feature_net(net)
    if not isinstance(net, FeatureNet) or net.channels != 1 or net.classes != DIGIT_CLASSES:
        raise AdvlabError(f"mode counting needs a digit classifier (load_feature_net('mnist') or "
                          f"load_feature_net('digits')), got {getattr(net, 'spec', type(net).__name__)}")
    return net


def checked_channels(images: Tensor | np.ndarray, channels: int, what: str) -> Tensor:
    images = as_images(images)
    if images.shape[1] != channels:
        raise AdvlabError(f"images: {what} have {channels} channel{'s' * (channels > 1)}, "
                          f"found shape {tuple(images.shape)}")
    return images


def stacked_mode_coverage(images: Tensor | np.ndarray, net: FeatureNet | str | None = None,
                          batch_size: int = 500) -> LabelModes:
    """Modes covered (of 1000) and KL to uniform of stacked-digit images.

    Args:
        images: (N, 3, H, W) in [0, 1]; each channel one digit.
        net: the digit classifier, a FeatureNet or its spec (``"mnist"``, ``"digits"``); default: the MNIST
            network for 28x28 images (stacked MNIST), the digits network otherwise. Images of another size than
            the network's are resized to its size.
        batch_size: images per forward pass.

    Returns:
        LabelModes(modes, total_modes=1000, counts (1000 per-mode sample counts), kl in nats).
    """
    images = checked_channels(images, STACKED_CHANNELS, "stacked digits")
    net = digits_classifier(net, images)
    return label_modes(stack_labels(net.predict_labels(images, batch_size)), STACKED_MODES)


def digit_mode_coverage(images: Tensor | np.ndarray, net: FeatureNet | str | None = None,
                        batch_size: int = 500) -> LabelModes:
    """Modes covered (of 10) and KL to uniform of grayscale digit images (N, 1, H, W) in [0, 1], classified by
    `net` as in :func:`stacked_mode_coverage` (default: the MNIST network at 28x28, the digits network otherwise).

    Returns:
        LabelModes(modes, total_modes=10, counts per digit, kl in nats). scikit-learn's digits are close to,
        not exactly, uniform over the classes (174 to 183 images each), so real data score a KL of about 1e-4.
    """
    images = checked_channels(images, 1, "digits")
    net = digits_classifier(net, images)
    return label_modes(net.predict_labels(images, batch_size)[:, 0], DIGIT_CLASSES)


__all__ = ["digit_mode_coverage", "stacked_mode_coverage"]
