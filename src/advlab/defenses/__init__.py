"""Defenses: adversarial training, certified smoothing, input transformations and purification.

One defense per file, each citing its paper. ``Preprocessed`` puts an input transformation in
front of a classifier (with BPDA's straight-through backward pass on request), and ``load_model``
rebuilds the model a classifier run stands for, defended or not.
"""

from __future__ import annotations

from advlab.defenses.preprocessed import Preprocessed, load_model, read_defense, write_defense

__all__ = ["Preprocessed", "load_model", "read_defense", "write_defense"]
