"""Moved to advlab.privacy.output_defenses (the Victim wrappers) and advlab.defenses.outputs (the
post-processors, shared with score-based evasion); this path keeps working for its callers."""

from advlab.privacy.output_defenses import DEFENSES, defended, label_only, output_defense, rounded, top_k

__all__ = ["DEFENSES", "defended", "label_only", "output_defense", "rounded", "top_k"]
