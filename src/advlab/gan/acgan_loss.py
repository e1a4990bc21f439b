"""The AC-GAN objective (Odena et al. 2017, "Conditional image synthesis with auxiliary
classifier GANs", sec. 3), as quantities to *descend*.

    L_S = E[log P(S = real | X_real)] + E[log P(S = fake | X_fake)]
    L_C = E[log P(C = c | X_real)]    + E[log P(C = c | X_fake)]

D maximises L_S + L_C and G maximises L_C - L_S. advlab descends losses, so these functions
return the negatives:

    D descends  -L_S - L_C = source loss of D + weight * (CE(real) + CE(fake))
    G descends  L_S - L_C  = source loss of G + weight * CE(fake)

CE is the mean cross-entropy -E[log P(C = c | X)] of the class logits against the labels the
images carry (the data's labels for X_real, the requested class c for X_fake); -L_C's real term
does not depend on G and is left out of G's loss. The source terms come from any advlab
GANLoss applied to D's source scores: with "minimax" they are exactly -L_S for D and L_S for G
(Goodfellow et al. eq. 1); "nonsaturating" is the usual G variant; hinge, least-squares and
Wasserstein scores work the same way. `weight` scales the class term (1 in the paper).
Labels outside [0, classes) are an AdvlabError (one host-device synchronisation per class term).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from advlab.core.checks import check_number
from advlab.core.errors import AdvlabError
from advlab.gan.losses import GANLoss
from advlab.models.conditional import check_labels

Scores = tuple[torch.Tensor, torch.Tensor]


def check_logits(class_logits: torch.Tensor) -> None:
    """AdvlabError unless `class_logits` is (N, classes)."""
    if class_logits.ndim != 2:
        raise AdvlabError(f"class logits must have shape (N, classes), got {tuple(class_logits.shape)}")


def class_cross_entropy(class_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean -log P(C = label | X) of (N, classes) logits; bad shapes or labels are an AdvlabError."""
    check_logits(class_logits)
    return F.cross_entropy(class_logits, check_labels(labels, *class_logits.shape))


def acgan_discriminator_loss(loss: GANLoss, real_out: Scores, fake_out: Scores, real_labels: torch.Tensor,
                             fake_labels: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """What D descends: -(L_S + L_C) with `loss`'s source term.

    Args:
        loss: the GANLoss whose discriminator_loss scores the sources (minimax gives -L_S).
        real_out: D's (source (N,), class_logits (N, classes)) on real images.
        fake_out: the same on generated images.
        real_labels: (N,) int64 labels of the real images.
        fake_labels: (M,) int64 classes the generated images were drawn for.
        weight: factor of the class term (default 1.0, the paper).

    Returns:
        A 0-d tensor.
    """
    weight = check_number("weight", weight)
    source = loss.discriminator_loss(real_out[0], fake_out[0])
    classes = class_cross_entropy(real_out[1], real_labels) + class_cross_entropy(fake_out[1], fake_labels)
    return source + weight * classes


def acgan_generator_loss(loss: GANLoss, fake_out: Scores, fake_labels: torch.Tensor,
                         weight: float = 1.0) -> torch.Tensor:
    """What G descends: L_S - L_C with `loss`'s source term (L_C's real part is constant in G).

    Args:
        loss: the GANLoss whose generator_loss scores the sources (minimax gives G's part of L_S).
        fake_out: D's (source (M,), class_logits (M, classes)) on generated images.
        fake_labels: (M,) int64 classes the images were drawn for.
        weight: factor of the class term (default 1.0, the paper).

    Returns:
        A 0-d tensor.
    """
    weight = check_number("weight", weight)
    return loss.generator_loss(fake_out[0]) + weight * class_cross_entropy(fake_out[1], fake_labels)


def class_accuracy(class_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The fraction of rows whose largest logit is at the label: a 0-d float tensor, no sync.

    Args:
        class_logits: (N, classes) logits.
        labels: (N,) int64 labels.
    """
    check_logits(class_logits)
    if labels.shape != class_logits.shape[:1]:
        raise AdvlabError(f"expected {class_logits.shape[0]} labels as a 1-D tensor, one per sample; "
                          f"got shape {tuple(labels.shape)}")
    return (class_logits.argmax(dim=1) == labels).float().mean()
