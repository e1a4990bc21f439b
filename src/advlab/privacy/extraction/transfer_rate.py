"""The extraction -> evasion chain: adversarial examples crafted on the copy, judged on the victim.

Papernot et al. 2017 ("Practical Black-Box Attacks against Machine Learning", sec. 4.2 and 5) craft
adversarial examples on the substitute they extracted and report the *transferability*: the share the
oracle misclassifies. Here the craft is PGD (Madry et al. 2018, advlab.attacks.PGD) at eps in Linf on the
copy, white-box, on held-out images that the victim classifies correctly; the transfer rate is the share of
them the victim then puts in another class. The victim answers one query per image (its label only).
"""

from __future__ import annotations

from torch import Tensor, nn

from advlab.attacks import PGD
from advlab.privacy.victim import Victim

PGD_STEPS = 20


def transfer_rate(copy: nn.Module, victim: Victim, images: Tensor, labels: Tensor, eps: float, seed: int = 0,
                  victim_labels: Tensor | None = None) -> float | None:
    """Share of the `images` that the victim classifies correctly (`victim_labels`: its classes for them, if
    already known) whose PGD-Linf adversarial example at `eps`, crafted on `copy`, the victim misclassifies;
    None when the victim classifies none correctly."""
    victim_labels = victim.labels(images) if victim_labels is None else victim_labels
    correct = (victim_labels.cpu() == labels.cpu()).nonzero().flatten()
    if len(correct) == 0:
        return None
    adversarial = PGD(copy, eps=eps, steps=PGD_STEPS, seed=seed)(images[correct], labels[correct])
    return float((victim.labels(adversarial).cpu() != labels[correct].cpu()).double().mean())


__all__ = ["transfer_rate"]
