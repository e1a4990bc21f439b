"""Training-data poisoning: backdoors, trojans and availability poisons, with detection and repair beside them.

One poison per file, each citing its paper and equation; every poison is a
:class:`advlab.poisoning.base.Poisoning` whose ``poison(images, labels, seed)`` returns a
:class:`advlab.poisoning.base.PoisonedData`.
"""

from __future__ import annotations

from advlab.poisoning.base import Backdoor, PoisonedData, Poisoning, attack_success_rate

__all__ = ["Backdoor", "PoisonedData", "Poisoning", "attack_success_rate"]
