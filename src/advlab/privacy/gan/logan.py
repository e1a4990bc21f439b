"""LOGAN's white-box membership attack on a GAN: the discriminator's score (Hayes et al. 2019, sec. 4.1).

Hayes, Melis, Danezis & De Cristofaro, "LOGAN: Membership Inference Attacks Against Generative Models"
(PoPETs 2019). A discriminator that overfits gives its training images higher "real" scores than unseen ones,
so the white-box attacker, who holds the target's discriminator D, ranks the candidate images by D(x) and calls
the top ones members (sec. 4.1: "the attacker ... sorts by probability, and the top n are members"). Since the
sigmoid is monotone, ranking by the logit or by the probability gives the same ROC; this module returns the
raw output of D (a logit for the sigmoid losses, a critic value for WGAN), higher = more likely a member.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import check_images
from advlab.core.devices import module_device
from advlab.core.errors import AdvlabError

DEFAULT_BATCH = 256


def check_batch_size(batch_size) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise AdvlabError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    return batch_size


def discriminator_scores(discriminator: nn.Module, images: Tensor, batch_size: int = DEFAULT_BATCH) -> Tensor:
    """LOGAN's white-box membership scores: D(x) for each image, higher = more likely a member.

    D runs in eval mode (batch norm uses its running statistics, so a score does not depend on the other images
    of its batch) without gradients; its training mode is restored afterwards.

    Args:
        discriminator: nn.Module mapping images (n, C, H, W) in [0, 1] to n raw scores ((n,) or (n, 1)).
        images: (N, C, H, W) float images in [0, 1], on any device (moved to D's).
        batch_size: images per forward pass (default 256); the scores do not depend on it.

    Returns:
        (N,) float64 scores on the CPU, for :func:`advlab.privacy.membership.membership_roc`.
    """
    if not isinstance(discriminator, nn.Module):
        raise AdvlabError(f"LOGAN needs the discriminator as an nn.Module, got {type(discriminator).__name__}")
    images = check_images(images, "LOGAN images")
    batch_size = check_batch_size(batch_size)
    device, was_training = module_device(discriminator), discriminator.training
    discriminator.eval()
    scores = []
    try:
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                batch = images[start:start + batch_size].to(device)
                out = discriminator(batch)
                if not isinstance(out, Tensor) or out.numel() != len(batch):
                    shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                    raise AdvlabError(f"LOGAN: the discriminator must give one score per image, got {shape} for "
                                      f"{len(batch)} images")
                scores.append(out.reshape(-1).double().cpu())
    finally:
        discriminator.train(was_training)
    result = torch.cat(scores)
    if not torch.isfinite(result).all():
        raise AdvlabError("LOGAN: the discriminator gave NaN or infinite scores; check the checkpoint")
    return result


class LOGAN:
    """The white-box discriminator-score attack (Hayes et al. 2019, sec. 4.1) as a small object.

    Args:
        discriminator: the target GAN's discriminator, images in [0, 1] -> raw scores.
        batch_size: images per forward pass (default 256).
    """

    name = "LOGAN (white-box discriminator score)"

    def __init__(self, discriminator: nn.Module, batch_size: int = DEFAULT_BATCH):
        self.discriminator, self.batch_size = discriminator, check_batch_size(batch_size)

    def score(self, images: Tensor) -> Tensor:
        """(N,) float64 membership scores of `images`, higher = more likely a member."""
        return discriminator_scores(self.discriminator, images, self.batch_size)


__all__ = ["LOGAN", "discriminator_scores"]
