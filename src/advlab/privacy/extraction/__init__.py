"""Model extraction (issue 17, part 3): stealing a classifier through its answers.

One algorithm per file: equation solving for logistic and softmax regression (Tramer et al. 2016,
equation_solving.py), substitute training with Jacobian-based augmentation (Papernot et al. 2017,
jacobian_augmentation.py), Knockoff Nets with random and adaptive sampling (Orekondy et al. 2019, knockoff.py);
the output defenses a victim can put in front of its answers (advlab.privacy.output_defenses), the transfer sets the
Knockoff attacker queries (transfer_sets.py), the copy's training and figures (copies.py) and the transfer rate
of adversarial examples crafted on the copy (transfer_rate.py).
"""

from __future__ import annotations

from advlab.privacy.extraction.copies import agreement, train_copy, victim_targets
from advlab.privacy.extraction.equation_solving import EquationSolving, LinearExtraction, shift_to_class_zero
from advlab.privacy.extraction.jacobian_augmentation import JacobianAugmentation, JacobianExtraction, seed_set
from advlab.privacy.extraction.knockoff import SAMPLINGS, KnockoffNets
from advlab.privacy.extraction.transfer_rate import transfer_rate
from advlab.privacy.extraction.transfer_sets import TransferSet, transfer_set
from advlab.privacy.output_defenses import label_only, output_defense, rounded, top_k

__all__ = ["SAMPLINGS", "EquationSolving", "JacobianAugmentation", "JacobianExtraction", "KnockoffNets",
           "LinearExtraction", "TransferSet", "agreement", "label_only", "output_defense", "rounded", "seed_set",
           "shift_to_class_zero", "top_k", "train_copy", "transfer_rate", "transfer_set", "victim_targets"]
