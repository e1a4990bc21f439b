"""Privacy attacks: membership inference, model inversion, model extraction (issue 17).

One algorithm per file, each citing its paper and equation. Every attack sees the victim through
:class:`advlab.privacy.victim.Victim` (an nn.Module, or a black-box callable returning logits,
probabilities or labels only). The defense, DP-SGD (Abadi et al. 2016), trains a classifier and so lives
with the other training defenses in :mod:`advlab.defenses.dp_sgd`.

    from advlab.privacy import LiRA, membership_roc
    scores = LiRA(shadows=16, online=True).fit(train_fn, images, labels).score(model, images, labels)
    roc = membership_roc(scores, is_member)      # .auc, .tpr_at(0.001), .tpr_at(0.01)
"""

from __future__ import annotations

from advlab.privacy.extraction import (
    EquationSolving,
    JacobianAugmentation,
    KnockoffNets,
    agreement,
    label_only,
    output_defense,
    rounded,
    shift_to_class_zero,
    top_k,
    transfer_rate,
    transfer_set,
)
from advlab.privacy.gan import LOGAN, GANLeaks, Memorisation, discriminator_scores, gan_leaks_scores, memorisation
from advlab.privacy.inversion import GMI, Inversion, MIFace
from advlab.privacy.membership import (
    ATTACKS,
    RMIA,
    CorrectnessAttack,
    LiRA,
    LossAttack,
    MembershipAttack,
    MembershipROC,
    ShadowAttack,
    ShadowSet,
    membership_roc,
    train_shadows,
)
from advlab.privacy.victim import Victim, as_victim, module_victim, true_class_logit


def loss_attack(victim, images, labels):
    """Yeom et al. 2018's loss-threshold scores (higher = member): ``LossAttack().score(victim, images, labels)``."""
    return LossAttack().score(victim, images, labels)


__all__ = ["ATTACKS", "GANLeaks", "GMI", "LOGAN", "Memorisation", "discriminator_scores", "gan_leaks_scores",
           "memorisation", "RMIA", "CorrectnessAttack", "EquationSolving", "Inversion", "JacobianAugmentation",
           "KnockoffNets", "LiRA", "LossAttack", "MIFace", "MembershipAttack", "MembershipROC", "ShadowAttack",
           "ShadowSet", "Victim", "agreement", "as_victim", "label_only", "loss_attack", "membership_roc",
           "module_victim", "output_defense", "rounded", "shift_to_class_zero", "top_k", "train_shadows",
           "transfer_rate", "transfer_set", "true_class_logit"]
