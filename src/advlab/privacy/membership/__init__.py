"""Membership inference: was this example in the model's training set?

One attack per module, each citing its paper: the loss threshold and the correctness (gap) attack (Yeom et
al. 2018), the shadow-model attack (Shokri et al. 2017), LiRA (Carlini et al. 2022) and RMIA (Zarifzadeh et
al. 2024); :func:`membership_roc` judges them by their TPR at a low FPR (Carlini et al. 2022, sec. III-B).
Every attack follows :class:`advlab.privacy.membership.base.MembershipAttack`'s contract: ``fit`` (or
``fit_shadows``) then ``score``, higher = more likely a member.
"""

from __future__ import annotations

from advlab.privacy.membership.base import MembershipAttack
from advlab.privacy.membership.correctness import CorrectnessAttack
from advlab.privacy.membership.lira import LiRA
from advlab.privacy.membership.loss_threshold import LossAttack
from advlab.privacy.membership.rmia import RMIA
from advlab.privacy.membership.roc import MembershipROC, membership_roc
from advlab.privacy.membership.shadow_attack import ShadowAttack
from advlab.privacy.membership.shadows import ShadowSet, TrainFn, balanced_membership, paired_membership, train_shadows

ATTACKS: dict[str, type[MembershipAttack]] = {"loss": LossAttack, "correctness": CorrectnessAttack,
                                              "shadow": ShadowAttack, "lira": LiRA, "rmia": RMIA}

__all__ = ["ATTACKS", "RMIA", "CorrectnessAttack", "LiRA", "LossAttack", "MembershipAttack", "MembershipROC",
           "ShadowAttack", "ShadowSet", "TrainFn", "balanced_membership", "membership_roc", "paired_membership",
           "train_shadows"]
