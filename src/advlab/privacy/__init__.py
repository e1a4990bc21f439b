"""Privacy attacks and defenses: membership inference, model inversion, model extraction, DP-SGD.

One algorithm per file, each citing its paper and equation. Every attack sees the victim through
:class:`advlab.privacy.victim.Victim` (an nn.Module, or a black-box callable returning logits,
probabilities or labels only).
"""

from __future__ import annotations

from advlab.privacy.victim import Victim, as_victim, module_victim, true_class_logit

__all__ = ["Victim", "as_victim", "module_victim", "true_class_logit"]
